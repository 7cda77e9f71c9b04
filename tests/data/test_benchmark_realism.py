"""The tiny benchmark held to bands of observed 2013-2018 eastern-China statistics (docs/data.md gives the sources),
and its paired blocking variants to the contrast they must carry. One generation of each variant per module."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from aqnet.data.climate import RegionClimate, box_mean, region_climates
from aqnet.data.regions import EASTERN_CHINA
from aqnet.data.synthetic import generate_benchmark
from aqnet.data.variants import contrast, near_relief


@pytest.fixture(scope="module")
def tiny() -> xr.Dataset:
    return generate_benchmark("tiny", seed=0)


@pytest.fixture(scope="module")
def climates(tiny: xr.Dataset) -> dict[str, RegionClimate]:
    return {c.region.name: c for c in region_climates(tiny)}


def test_every_built_in_region_is_on_the_tiny_grid(climates: dict[str, RegionClimate]) -> None:
    assert set(climates) == {"north_china_plain", "yangtze_river_delta", "pearl_river_delta", "sichuan_basin",
                             "fenwei_plain"}  # fmt: skip


def test_winter_haze_persists_for_days_in_the_north_china_plain(climates: dict[str, RegionClimate]) -> None:
    ncp = climates["north_china_plain"]
    assert 0.6 <= ncp.winter_lag[0] <= 0.85
    assert ncp.winter_lag[1] < ncp.winter_lag[0]  # memory fades over days
    episodes = ncp.episodes_per_winter(threshold=75.0, min_days=3)
    assert len(episodes) == 6 and all(n >= 1 for n in episodes.values()), episodes
    assert ncp.days_above_150 > 0


def test_annual_mean_pm25_of_eastern_china(tiny: xr.Dataset) -> None:
    assert 30 <= box_mean(tiny, EASTERN_CHINA) <= 70


def test_summer_ozone_varies_from_day_to_day(climates: dict[str, RegionClimate]) -> None:
    for name, c in climates.items():
        assert c.summer_mda8_std >= 15, name
        assert 60 < c.summer_mda8_mean < 250, name


def test_blocking_on_and_strong_differ_from_off_near_relief(tiny: xr.Dataset) -> None:
    off = generate_benchmark("tiny", seed=0, blocking="off")
    assert near_relief(tiny).sum() > 100
    on = contrast(tiny, off)
    assert on.ratio >= 0.3, on.format()
    mid = len(tiny.time) // 2
    assert not np.array_equal(tiny.pm25.values[mid], off.pm25.values[mid])
