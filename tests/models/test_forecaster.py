"""Forecaster end to end on a 16×32 grid: shapes, units, gradients, config errors, ClimaX key names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from aqnet.errors import ConfigError
from aqnet.models.climax import (
    BackboneConfig,
    Forecaster,
    climax_base,
    count_forecaster_parameters,
    count_parameters,
)
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS

GRID = (16, 32)
SMALL = BackboneConfig(embed_dim=32, depth=2, decoder_depth=2, num_heads=4, drop_path=0.1, drop_rate=0.1)


def _stats() -> dict[str, dict[str, float]]:
    stats = {name: {"mean": 1.0 + i, "std": 2.0 + i} for i, name in enumerate(INPUT_VARIABLES)}
    for name in POLLUTANTS:
        stats[name].update(log1p_mean=3.0, log1p_std=1.0)
    return stats


def _model(**kwargs: object) -> Forecaster:
    args: dict[str, object] = dict(statistics=_stats(), transforms=dict.fromkeys(POLLUTANTS, "log1p"))
    args.update(kwargs)
    return Forecaster(INPUT_VARIABLES, POLLUTANTS, GRID, 2, SMALL, **args)


def _batch(b: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    inputs = 10 * torch.rand(b, len(INPUT_VARIABLES), *GRID, generator=g)
    lead = torch.tensor([12, 96][:b])
    hour = torch.tensor([0.0, 18.0][:b])
    day = torch.tensor([15.0, 200.0][:b])
    return inputs, lead, hour, day


def test_shapes_end_to_end() -> None:
    model = _model().eval()
    batch = _batch()
    out = model(*batch)
    assert out.shape == (2, len(POLLUTANTS), *GRID)
    assert torch.isfinite(out).all()
    physical = model.predict_physical(*batch)
    torch.testing.assert_close(model.normalise_targets(physical), out, atol=1e-4, rtol=1e-4)
    assert model.patch_means(batch[0], "elevation").shape == (2, (16 // 2) * (32 // 2))


def test_serial_and_parallel_models_agree() -> None:
    serial = _model(embed="serial").eval()
    parallel = _model(embed="parallel").eval()  # same seed: tokeniser weights keyed by variable name
    torch.testing.assert_close(parallel(*_batch()), serial(*_batch()), atol=1e-5, rtol=1e-5)


def test_lead_and_time_change_the_prediction() -> None:
    model = _model().eval()
    inputs, lead, hour, day = _batch()
    base = model(inputs, lead, hour, day)
    assert not torch.allclose(model(inputs, lead + 24, hour, day), base)
    assert not torch.allclose(model(inputs, lead, hour + 6, day), base)


def test_patch_means_read_physical_units() -> None:
    model = _model()
    inputs = torch.zeros(1, len(INPUT_VARIABLES), *GRID)
    elevation = torch.arange(GRID[0] * GRID[1], dtype=torch.float32).view(GRID)
    inputs[0, INPUT_VARIABLES.index("elevation")] = elevation
    means = model.patch_means(inputs, "elevation")
    # token 0 = top-left 2×2 patch, tokens row-major over the 8×16 token grid
    assert means[0, 0].item() == pytest.approx(elevation[:2, :2].mean().item())
    assert means[0, 1].item() == pytest.approx(elevation[:2, 2:4].mean().item())
    assert means[0, 16].item() == pytest.approx(elevation[2:4, :2].mean().item())
    with pytest.raises(KeyError, match="wind_speed"):
        model.patch_means(inputs, "wind_speed")


def test_gradient_reaches_every_parameter() -> None:
    model = _model().train()
    out = model(*_batch())
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_state_dict_keys_follow_climax() -> None:
    keys = set(_model(embed="serial").state_dict())
    expected = {
        "var_embed",
        "var_query",
        "pos_embed",
        "token_embeds.0.proj.weight",
        "token_embeds.14.proj.bias",
        "var_agg.in_proj_weight",
        "var_agg.in_proj_bias",
        "var_agg.out_proj.weight",
        "var_agg.out_proj.bias",
        "lead_time_embed.weight",
        "blocks.1.norm1.weight",
        "blocks.1.attn.qkv.weight",
        "blocks.1.attn.qkv.bias",
        "blocks.1.attn.proj.weight",
        "blocks.1.norm2.bias",
        "blocks.1.mlp.fc1.weight",
        "blocks.1.mlp.fc2.bias",
        "norm.weight",
        "head.0.weight",
        "head.2.weight",
        "head.4.weight",
        "head.4.bias",
        "normaliser.mean",
        "normaliser.std",
    }
    assert expected <= keys
    assert {"token_embeds.proj_weights", "token_embeds.proj_biases"} <= set(_model().state_dict())


def test_bad_configurations_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"backbone.patch_size=3 .*16x32"):
        Forecaster(INPUT_VARIABLES, POLLUTANTS, GRID, 3, SMALL)
    with pytest.raises(ValueError, match="'pm1'"):
        Forecaster(INPUT_VARIABLES, ("pm25", "pm1"), GRID, 2, SMALL)
    with pytest.raises(ConfigError, match="num_heads"):
        Forecaster(INPUT_VARIABLES, POLLUTANTS, GRID, 2, BackboneConfig(embed_dim=30, num_heads=4))
    with pytest.raises(ValueError, match="expected"):
        _model()(torch.zeros(1, 3, *GRID), *(t[:1] for t in _batch()[1:]))


def test_climax_base_parameter_count() -> None:
    n = count_forecaster_parameters(INPUT_VARIABLES, POLLUTANTS, (128, 256), 2, climax_base())
    assert 51e6 < n < 54e6  # TopoFlow reports ≈52 M
    assert count_parameters(_model()) == count_forecaster_parameters(INPUT_VARIABLES, POLLUTANTS, GRID, 2, SMALL)


def test_change_forecaster_adds_the_normalised_init_state() -> None:
    plain = _model(predict="field").eval()
    change = _model(predict="change").eval()
    change.load_state_dict(plain.state_dict())
    inputs, lead, hour, day = _batch()
    state = plain.normaliser.normalise(
        inputs[:, [plain.input_index(n) for n in plain.target_names]], plain.target_names
    )
    torch.testing.assert_close(change(inputs, lead, hour, day), plain(inputs, lead, hour, day) + state)


def test_anomaly_forecaster_adds_the_climatology_of_the_valid_hour() -> None:
    hours = [0.0, 6.0, 12.0, 18.0]
    values = torch.rand(len(hours), len(POLLUTANTS), *GRID, generator=torch.Generator().manual_seed(3)).numpy() * 50
    clim = SimpleNamespace(hours=hours, variables=POLLUTANTS, values=values)
    plain = _model(predict="field").eval()
    anomaly = _model(predict="anomaly", climatology=clim).eval()
    assert {"climatology.fields", "climatology.hours"} <= set(anomaly.state_dict())  # saved with the model
    anomaly.load_state_dict({**anomaly.state_dict(), **plain.state_dict()})
    inputs, lead, hour, day = _batch()  # init hours 0 and 18, leads 12 and 96 h -> valid hours 12 and 18
    expected = torch.stack([torch.as_tensor(values[2]), torch.as_tensor(values[3])])
    prior = anomaly.normaliser.normalise(expected, POLLUTANTS)
    torch.testing.assert_close(anomaly(inputs, lead, hour, day), plain(inputs, lead, hour, day) + prior)


def test_anomaly_forecaster_needs_a_climatology() -> None:
    with pytest.raises(ValueError, match="predict=anomaly needs"):
        _model(predict="anomaly")
