"""Persistence and hour-of-day climatology baselines on hand-made fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest
import torch

from aqnet.tasks.forecast.baselines import HourlyClimatology, nearest_hour_index, persistence, valid_hour_of_day


def _epoch(hour: int) -> int:
    return int(datetime(2024, 3, 1, hour, tzinfo=UTC).timestamp())


def test_persistence_reads_targets_from_inputs_by_name():
    inputs = torch.stack([torch.full((2, 3), float(v)) for v in (1, 2, 3)])[None]  # names u, pm25, o3
    pred, available = persistence(inputs, ("u", "pm25", "o3"), ("o3", "pm25", "so2"))
    assert available.tolist() == [True, True, False]
    assert pred[0, 0].unique().tolist() == [3.0] and pred[0, 1].unique().tolist() == [2.0]
    assert pred[0, 2].abs().sum() == 0


def test_valid_hour_wraps_around_midnight():
    init = torch.tensor([_epoch(18), _epoch(0), _epoch(6)])
    lead = torch.tensor([12.0, 96.0, 1.5])
    assert valid_hour_of_day(init, lead).tolist() == pytest.approx([6.0, 0.0, 7.5])


def test_nearest_hour_is_circular():
    hours = torch.tensor([0.0, 6.0, 12.0, 18.0])
    assert nearest_hour_index(torch.tensor([23.0, 4.0, 2.0, 13.0, 20.0]), hours).tolist() == [0, 1, 0, 2, 3]


def test_hourly_climatology_uses_valid_time_hour():
    h, w = 2, 3
    fields = {
        "pm25": np.stack([np.full((h, w), hr, np.float32) for hr in range(24)]),
        "o3": np.stack([np.full((h, w), 100 + hr, np.float32) for hr in range(24)]),
    }
    clim = HourlyClimatology(fields)
    init = torch.tensor([_epoch(18), _epoch(3)])
    pred, available = clim(("o3", "pm25", "no2"), init, torch.tensor([12.0, 24.0]))
    assert pred.shape == (2, 3, h, w)
    assert available.tolist() == [True, True, False]
    assert pred[0, 0].unique().tolist() == [106.0]  # 18h + 12h → 06 UTC
    assert pred[1, 1].unique().tolist() == [3.0]  # 03h + 24h → 03 UTC
    assert pred[:, 2].abs().sum() == 0


def test_climatology_with_fewer_hours_takes_the_nearest():
    fields = {"pm25": np.stack([np.full((1, 1), v, np.float32) for v in (10, 20, 30, 40)])}
    clim = HourlyClimatology(fields, hours=[0, 6, 12, 18])
    pred, _ = clim(("pm25",), torch.tensor([_epoch(22), _epoch(0)]), torch.tensor([1.0, 5.0]))
    assert pred.flatten().tolist() == [10.0, 20.0]  # 23h → 0h; 5h → 6h


def test_climatology_needs_hours_unless_24_slices():
    with pytest.raises(ValueError, match="list of hours"):
        HourlyClimatology({"pm25": np.zeros((4, 2, 2))})
    with pytest.raises(ValueError, match="n_hours, H, W"):
        HourlyClimatology({"pm25": np.zeros((24, 2, 2)), "o3": np.zeros((24, 3, 2))})


@dataclass
class _StoreClimatology:  # the data module's Climatology: values [n_hours, V, H, W], NaN = no data
    hours: np.ndarray
    variables: tuple[str, ...]
    values: np.ndarray


def test_climatology_from_the_data_modules_climatology():
    values = np.zeros((2, 2, 1, 2), np.float32)
    values[:, 0] = np.array([1.0, 2.0])[:, None, None]  # pm25: 1 at 00 UTC, 2 at 12 UTC
    values[:, 1] = np.array([5.0, 6.0])[:, None, None]
    values[1, 1, 0, 1] = np.nan
    clim = HourlyClimatology.from_climatology(_StoreClimatology(np.array([0, 12]), ("pm25", "o3"), values))
    pred, available = clim(("o3", "pm25"), torch.tensor([_epoch(0)]), torch.tensor([12.0]))
    assert available.tolist() == [True, True]
    assert pred[0, 1].flatten().tolist() == [2.0, 2.0]
    assert pred[0, 0, 0, 0].item() == 6.0 and torch.isnan(pred[0, 0, 0, 1])  # no data stays NaN
