"""CAMS EAC4 (surface + model level), CAMS forecasts (2-D valid_time), CAQRA-style yearly zarr, merged with ERA5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aqnet.data.convert import convert
from aqnet.data.convert.cams import R_DRY
from aqnet.errors import DataError
from tests.data.sources import cams_eac4, cams_forecast, caqra_years, legacy_netcdf, open_converted

LAT, LON = 30.0 + 0.75 * np.arange(12), 100.0 + 0.75 * np.arange(16)  # EAC4's 0.75° grid
TIMES = pd.date_range("2019-01-01", periods=8, freq="3h").values


@pytest.fixture
def eac4(tmp_path: Path) -> tuple[Path, Path]:
    return cams_eac4(tmp_path, TIMES, LAT, LON)


def test_eac4_aerosols_scaled_and_gases_through_air_density(eac4: tuple[Path, Path], tmp_path: Path) -> None:
    result = convert(list(eac4), tmp_path / "cams.zarr", elevation="pvlib")
    ds = open_converted(result.path)
    assert set(ds.data_vars) >= {"pm25", "pm10", "o3", "no2", "so2", "co", "elevation"} and ds.sizes["time"] == 8
    surface = xr.open_dataset(eac4[0]).sortby("latitude")
    model = xr.open_dataset(eac4[1]).sortby("latitude").sel(model_level=60)
    np.testing.assert_allclose(ds["pm25"].values, surface["pm2p5"].values * 1e9, rtol=1e-6)
    rho = surface["sp"].values.astype(np.float64) / (R_DRY * model["t"].values.astype(np.float64))
    np.testing.assert_allclose(ds["o3"].values, model["go3"].values * rho * 1e9, rtol=1e-5)
    np.testing.assert_allclose(ds["co"].values, model["co"].values * rho * 1e9, rtol=1e-5)
    what = ds["o3"].attrs["aqnet_conversion"]
    assert "model level 60 (the lowest)" in what and "287.0597" in what and "* t)" in what
    assert np.allclose(ds["lon"], LON) and np.all(np.diff(ds["lat"]) > 0)  # 0-360 and north-to-south undone


def test_eac4_gases_without_surface_pressure_say_what_is_missing(eac4: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"go3 is a mass mixing ratio .* needs the surface pressure sp"):
        convert([eac4[1]], tmp_path / "cams.zarr")


def test_forecasts_flatten_to_the_shortest_lead(tmp_path: Path) -> None:
    source = cams_forecast(
        tmp_path / "fc.nc", ["2019-01-01T00", "2019-01-01T12"], list(range(0, 24, 3)), LAT[:4], LON[:4]
    )
    result = convert([source], tmp_path / "out.zarr", elevation="pvlib")
    ds = open_converted(result.path)
    valid = pd.DatetimeIndex(ds["time"].values)
    assert valid[0] == pd.Timestamp("2019-01-01T00") and valid[-1] == pd.Timestamp("2019-01-02T09")
    assert len(valid) == 12 and (np.diff(valid) == np.timedelta64(3, "h")).all()
    lead = ds["pm25"].isel(lat=0, lon=0).values - 1.0  # (lead + 1) µg m-3 by construction
    expected = [0, 3, 6, 9, 0, 3, 6, 9, 12, 15, 18, 21]  # the 12 UTC run takes over from its valid time on
    np.testing.assert_allclose(lead, expected, atol=1e-4)
    assert any("leads 0-21 h" in line for line in result.lines)


def test_caqra_years_combine_and_co_mg_becomes_ug(tmp_path: Path) -> None:
    (tmp_path / "caqra").mkdir()
    years = caqra_years(tmp_path / "caqra", (2015, 2016, 2017))
    result = convert([tmp_path / "caqra"], tmp_path / "out.zarr")
    ds = open_converted(result.path)
    blocks = pd.DatetimeIndex(ds["time"].values).year.value_counts().sort_index()
    assert blocks.to_dict() == {2015: 24, 2016: 24, 2017: 24}
    first = xr.open_zarr(years[0], consolidated=False)
    np.testing.assert_allclose(ds["co"].isel(time=slice(0, 24)).values, first["co"].values * 1000, rtol=1e-6)
    assert "mg/m3 -> µg m-3" in ds["co"].attrs["aqnet_conversion"]
    assert ds["elevation"].dims == ("lat", "lon") and "population" in ds and "lat2d" in ds
    np.testing.assert_allclose(ds["lat2d"].values[:, 0], first["lat2d"].values)


def test_hourly_era5_and_3_hourly_cams_meet_on_the_common_step(eac4: tuple[Path, Path], tmp_path: Path) -> None:
    hourly = pd.date_range("2018-12-31T20:00", periods=30, freq="h")
    lat, lon = 29.5 + 0.25 * np.arange(40), 99.5 + 0.25 * np.arange(52)
    legacy_netcdf(tmp_path / "era5.nc", hourly, era5t_from=10, lat=lat, lon=lon)
    box = (30.0, 38.0, 100.0, 111.0)
    result = convert([*eac4, tmp_path / "era5.nc"], tmp_path / "out.zarr", grid="1.0", box=box, elevation="pvlib")
    ds = open_converted(result.path)
    assert ds.sizes == {"time": 8, "lat": 8, "lon": 11}
    assert (np.diff(ds["time"].values) == np.timedelta64(3, "h")).all()
    assert "conservative" in ds["pm25"].attrs["aqnet_conversion"]
    assert "bilinear" in ds["temp"].attrs["aqnet_conversion"]
    six = convert([*eac4, tmp_path / "era5.nc"], tmp_path / "six.zarr", grid="1.0", box=box, step="6h")
    assert open_converted(six.path).sizes["time"] == 4
    with pytest.raises(DataError, match=r"--step 1h is finer than the step of CAMS \(3 h\)"):
        convert([*eac4, tmp_path / "era5.nc"], tmp_path / "one.zarr", grid="1.0", box=box, step="1h")
    with pytest.raises(DataError, match=r"does not cover the target grid"):
        convert([*eac4, tmp_path / "era5.nc"], tmp_path / "far.zarr", grid="1.0", box=(30.0, 40.0, 100.0, 125.0))


def test_periods_that_do_not_overlap(eac4: tuple[Path, Path], tmp_path: Path) -> None:
    later = pd.date_range("2020-06-01", periods=6, freq="h")
    legacy_netcdf(tmp_path / "era5.nc", later, era5t_from=6, lat=LAT, lon=LON)
    with pytest.raises(DataError, match=r"periods do not overlap .*CAMS 2019-01-01T00..2019-01-01T21.*2020-06-01"):
        convert([*eac4, tmp_path / "era5.nc"], tmp_path / "out.zarr")
