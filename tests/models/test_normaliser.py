"""Normaliser: exact round trip, by-name selection, log1p, constant-field guard, statistics in the state_dict."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from aqnet.models.normaliser import Normaliser

NAMES = ("temp", "psfc", "pm25", "lat2d")
STATS = {
    "temp": {"mean": 285.0, "std": 10.0},
    "psfc": {"mean": 95000.0, "std": 4000.0},
    "pm25": {"mean": 50.0, "std": 40.0, "log1p_mean": 3.5, "log1p_std": 0.9},
    "lat2d": {"mean": 30.0, "std": 0.0},  # constant field: std guarded to 1
}


def _normaliser() -> Normaliser:
    return Normaliser(NAMES, STATS, {"pm25": "log1p"})


def _physical(batch: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, len(NAMES), 4, 8, generator=g, dtype=torch.float64)
    scale = torch.tensor([20.0, 8000.0, 300.0, 0.0], dtype=torch.float64).view(1, -1, 1, 1)
    offset = torch.tensor([275.0, 90000.0, 0.0, 30.0], dtype=torch.float64).view(1, -1, 1, 1)
    return x * scale + offset


def test_round_trip_is_exact() -> None:
    norm = _normaliser().double()
    x = _physical()
    z = norm.normalise(x, NAMES)
    assert torch.isfinite(z).all()
    torch.testing.assert_close(norm.denormalise(z, NAMES), x, rtol=1e-12, atol=1e-9)
    x32 = x.float()
    torch.testing.assert_close(norm.float().denormalise(norm.normalise(x32, NAMES), NAMES), x32)


def test_values_follow_the_statistics_and_transform() -> None:
    norm = _normaliser()
    x = _physical().float()
    z = norm.normalise(x, NAMES)
    torch.testing.assert_close(z[:, 0], (x[:, 0] - 285.0) / 10.0)
    torch.testing.assert_close(z[:, 2], (torch.log1p(x[:, 2]) - 3.5) / 0.9)
    torch.testing.assert_close(z[:, 3], torch.zeros_like(z[:, 3]))  # constant field, std guarded to 1


def test_selects_by_name_in_any_order() -> None:
    norm = _normaliser()
    x = _physical().float()
    z = norm.normalise(x, NAMES)
    order = ("pm25", "temp")
    z_sub = norm.normalise(x[:, [2, 0]], order)
    torch.testing.assert_close(z_sub, z[:, [2, 0]])
    with pytest.raises(KeyError, match="no2"):
        norm.normalise(x[:, :1], ["no2"])


def test_statistics_are_buffers_in_the_state_dict() -> None:
    norm = _normaliser()
    state = norm.state_dict()
    assert {"mean", "std", "log1p"} <= set(state)
    assert not list(norm.parameters())
    fresh = Normaliser(NAMES, None, {"pm25": "log1p"})  # identity until the checkpoint's numbers load
    fresh.load_state_dict(state)
    x = _physical().float()
    torch.testing.assert_close(fresh.normalise(x, NAMES), norm.normalise(x, NAMES))


def test_checkpoint_for_other_variables_is_refused() -> None:
    state = _normaliser().state_dict()
    other = Normaliser(("psfc", "temp", "pm25", "lat2d"), None, {"pm25": "log1p"})
    with pytest.raises(ValueError, match="normaliser in the checkpoint"):
        other.load_state_dict(state)


def test_missing_statistics_and_bad_transform_are_named() -> None:
    with pytest.raises(ValueError, match="log1p_mean"):
        Normaliser(["temp"], {"temp": {"mean": 1.0, "std": 1.0}}, {"temp": "log1p"})
    with pytest.raises(ValueError, match="'o3'"):
        Normaliser(["o3"], {"temp": {"mean": 1.0, "std": 1.0}})
    with pytest.raises(ValueError, match="sqrt"):
        Normaliser(["temp"], None, {"temp": "sqrt"})


def test_statistics_layouts_from_the_data_package_are_accepted() -> None:
    per_variable = {
        "temp": {"mean": 285.0, "std": 10.0},
        "pm25": {"mean": 50.0, "std": 40.0, "log_mean": 3.5, "log_std": 0.9},
    }
    columns = {
        "mean": {"temp": 285.0, "pm25": 50.0},
        "std": {"temp": 10.0, "pm25": 40.0},
        "log_mean": {"pm25": 3.5},
        "log_std": {"pm25": 0.9},
        "train_years": [2013],
    }
    # duck-typed like aqnet.data.stats.Statistics (dict attributes), without depending on the data package
    dataclass_form = SimpleNamespace(**{k: v for k, v in columns.items() if k != "train_years"})
    x = torch.rand(2, 2, 3, 3) * 100
    names, transforms = ("temp", "pm25"), {"pm25": "log1p"}
    reference = Normaliser(names, per_variable, transforms).normalise(x, names)
    for stats in (columns, dataclass_form):
        torch.testing.assert_close(Normaliser(names, stats, transforms).normalise(x, names), reference)
