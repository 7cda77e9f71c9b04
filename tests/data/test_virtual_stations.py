"""Virtual stations of the benchmark (aqnet/data/synthetic/stations.py): a real station store, read back by the
station reader, whose values are the city cells' with a mean-preserving representativeness error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from aqnet.data.stations import open_station_store
from aqnet.data.synthetic.stations import write_virtual_stations
from aqnet.errors import DataError


def test_stations_read_their_city_cells(tiny_benchmark: Path, tmp_path: Path) -> None:
    exact = open_station_store(write_virtual_stations(tiny_benchmark, tmp_path / "exact.zarr", noise=0.0))
    assert {"Beijing", "Chengdu", "Shanghai"} <= set(exact.codes)
    assert len(set(zip(exact.lat, exact.lon, strict=True))) == len(exact.codes)  # one station per cell
    grid = xr.open_zarr(tiny_benchmark, consolidated=False)
    beijing = list(exact.codes).index("Beijing")
    cell = grid["pm25"].sel(lat=exact.lat[beijing], lon=exact.lon[beijing]).values
    np.testing.assert_allclose(exact.values["pm25"][:, beijing], cell, rtol=1e-6)
    assert abs(exact.lat[beijing] - 39.9) <= 0.5 and abs(exact.lon[beijing] - 116.4) <= 0.5
    elevation = grid["elevation"].sel(lat=exact.lat[beijing], lon=exact.lon[beijing]).values
    assert exact.elevation[beijing] == pytest.approx(float(elevation))
    land = grid["mask"].sel(lat=xr.DataArray(exact.lat), lon=xr.DataArray(exact.lon)).values
    assert land.all()
    assert set(exact.values) == {"pm25", "pm10", "so2", "no2", "co", "o3"}
    assert np.array_equal(exact.times, grid["time"].values)


def test_the_representativeness_error_is_mean_preserving_and_seeded(tiny_benchmark: Path, tmp_path: Path) -> None:
    exact = open_station_store(write_virtual_stations(tiny_benchmark, tmp_path / "exact.zarr", noise=0.0))
    noisy = open_station_store(write_virtual_stations(tiny_benchmark, tmp_path / "noisy.zarr", noise=0.2, seed=1))
    again = open_station_store(write_virtual_stations(tiny_benchmark, tmp_path / "again.zarr", noise=0.2, seed=1))
    ratio = noisy.values["pm25"] / exact.values["pm25"]
    assert abs(float(np.mean(ratio)) - 1.0) < 0.01 and abs(float(np.std(np.log(ratio))) - 0.2) < 0.01
    np.testing.assert_array_equal(noisy.values["pm25"], again.values["pm25"])


def test_bad_input_is_refused_and_an_existing_store_is_kept(tiny_benchmark: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not an aqnet benchmark store"):
        write_virtual_stations(tmp_path / "nothing.zarr", tmp_path / "s.zarr")
    with pytest.raises(DataError, match="must be >= 0"):
        write_virtual_stations(tiny_benchmark, tmp_path / "s.zarr", noise=-1.0)
    made = write_virtual_stations(tiny_benchmark, tmp_path / "s.zarr")
    with pytest.raises(DataError, match="pass --overwrite"):
        write_virtual_stations(tiny_benchmark, made)
    assert open_station_store(made).codes.size > 0
