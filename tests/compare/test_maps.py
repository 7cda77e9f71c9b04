"""aqnet.compare.maps: region differences against hand-computed values, and the choice of pairs to map."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from aqnet.compare import maps


def mse_field(values: np.ndarray) -> xr.DataArray:
    """[variable=1, lat=2, lon=3] on 0° and 60°N, so the rows weigh 1 and 0.5."""
    return xr.DataArray(
        values[None], dims=("variable", "lat", "lon"), coords={"variable": ["pm25"], "lat": [0.0, 60.0],
                                                               "lon": [100.0, 101.0, 102.0]}
    )  # fmt: skip


def test_region_rmse_is_area_weighted_over_valid_pixels_and_finds_the_largest_change() -> None:
    candidate = mse_field(np.array([[4.0, 4.0, np.nan], [16.0, 16.0, 100.0]]))
    baseline = mse_field(np.array([[4.0, 4.0, 9.0], [16.0, 16.0, 16.0]]))
    boxes = [("east", (-1.0, 61.0), (101.5, 103.0)), ("outside", (70.0, 80.0), (0.0, 1.0))]
    table = maps.region_table(candidate, baseline, boxes).set_index("region")
    # domain: weights 1, 1, 0.5, 0.5, 0.5 on the pixels valid in both groups (the candidate lacks one)
    assert table.loc["domain", "rmse"] == pytest.approx(np.sqrt((4 + 4 + 0.5 * (16 + 16 + 100)) / 3.5))
    assert table.loc["domain", "rmse_baseline"] == pytest.approx(np.sqrt((4 + 4 + 0.5 * 48) / 3.5))
    east = table.loc["east"]  # lon 102, where only the 60°N pixel is valid in both
    assert (east["rmse"], east["rmse_baseline"]) == pytest.approx((10.0, 4.0))
    assert east["diff"] == pytest.approx(east["rmse"] - east["rmse_baseline"])
    assert east["diff_pct"] == pytest.approx(100 * east["diff"] / east["rmse_baseline"])
    assert "outside" not in table.index  # a box off the grid is skipped
    largest = table.loc[maps.LARGEST]
    assert (largest["lat"], largest["lon"], largest["diff"]) == (60.0, 102.0, pytest.approx(6.0))


def test_slug_keeps_the_values() -> None:
    assert maps.slug("physics_bias=topoflow, physics_bias.direction=receptor_higher") == "topoflow_receptor_higher"
    assert maps.slug("a=n/a, b=None") == "n_a_None"


def test_default_boxes_are_the_eval_regions() -> None:
    names = [name for name, _, _ in maps.default_boxes()]
    assert names == ["sichuan_basin", "north_china_plain", "yangtze_river_delta", "pearl_river_delta", "fenwei_plain"]
