"""ERA5 into an aqnet store: real ECMWF GRIB (cfgrib's sample files), the new-CDS zip written from it, legacy netCDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aqnet.data.convert import convert
from aqnet.data.convert.era5 import relative_humidity
from aqnet.data.store import open_store
from aqnet.errors import DataError
from tests.data.sources import legacy_netcdf, new_cds_zip, open_converted, real_t2m


def eccodes_values(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values [lat, lon], latitudes, longitudes) of the first message, decoded by ecCodes itself (not cfgrib)."""
    import eccodes

    with open(path, "rb") as handle:
        gid = eccodes.codes_grib_new_from_file(handle)
        try:
            ni, nj = eccodes.codes_get(gid, "Ni"), eccodes.codes_get(gid, "Nj")
            values = eccodes.codes_get_values(gid).reshape(nj, ni)
            lats = eccodes.codes_get_array(gid, "distinctLatitudes")
            lons = eccodes.codes_get_array(gid, "distinctLongitudes")
        finally:
            eccodes.codes_release(gid)
    return values, lats, lons


def test_grib_converts_to_temp_equal_to_ecmwf_decoding(ecmwf_samples: Path, tmp_path: Path) -> None:
    grib = ecmwf_samples / "era5-single-level-scalar-time.grib"
    result = convert([grib], tmp_path / "era5.zarr", elevation="pvlib")
    ds = open_converted(result.path)
    assert ds.sizes["time"] == 1 and ds.sizes["lat"] == 121 and ds.sizes["lon"] == 201
    values, lats, lons = eccodes_values(grib)
    expected = values[np.argsort(lats)]  # ecCodes: north to south; aqnet: ascending
    np.testing.assert_allclose(ds["temp"].isel(time=0).values, expected, rtol=0, atol=1e-4)
    assert np.allclose(ds["lat"], np.sort(lats)) and np.allclose(ds["lon"], lons)
    assert ds["temp"].attrs["units"] == "K" and "t2m -> temp" in ds["temp"].attrs["aqnet_conversion"]
    assert ds["temp"].attrs["aqnet_source"] == grib.name
    assert ds["elevation"].attrs["aqnet_source"] == "Altitude.h5"
    handle = open_store(result.path, ("temp", "elevation", "lat2d", "lon2d"), cache_dir=tmp_path / "cache")
    assert handle.layout.lat_order is None and handle.grid_shape == (121, 201)


def test_new_cds_zip_written_from_the_real_grib(ecmwf_samples: Path, tmp_path: Path) -> None:
    source = new_cds_zip(ecmwf_samples, tmp_path / "era5.zip")
    result = convert([source], tmp_path / "out.zarr", elevation="pvlib")
    ds = open_converted(result.path)
    assert {"u", "v", "temp", "rh", "psfc"} <= set(ds.data_vars) and "tp" not in ds
    truth = real_t2m(ecmwf_samples).sortby("latitude")
    np.testing.assert_allclose(ds["temp"].isel(time=0).values, truth.values, atol=1e-4)
    with xr.open_dataset(_member(source, tmp_path, "instant")) as raw:
        raw = raw.sortby("latitude").isel(valid_time=0)
        rh = relative_humidity(raw["t2m"].astype(np.float64), raw["d2m"].astype(np.float64))
        np.testing.assert_allclose(ds["rh"].isel(time=0).values, rh.values, rtol=1e-5)
        np.testing.assert_allclose(ds["u"].isel(time=0).values, raw["u10"].values)
    assert "Tetens" in ds["rh"].attrs["aqnet_conversion"]


def _member(archive: Path, tmp_path: Path, kind: str) -> Path:
    import zipfile

    with zipfile.ZipFile(archive) as handle:
        name = f"data_stream-oper_stepType-{kind}.nc"
        handle.extract(name, tmp_path / "unzipped")
    return tmp_path / "unzipped" / name


def test_relative_humidity_follows_tetens_with_ifs_constants() -> None:
    t, td = xr.DataArray([293.15, 273.16]), xr.DataArray([283.15, 273.16])
    by_hand = 100 * np.exp(17.502 * 9.99 / (283.15 - 32.19)) / np.exp(17.502 * 19.99 / (293.15 - 32.19))
    np.testing.assert_allclose(relative_humidity(t, td).values, [by_hand, 100.0], rtol=1e-12)
    assert 52 < by_hand < 53  # 10 °C dew point at 20 °C: about 52 %


def test_legacy_netcdf_packed_shorts_and_expver_dimension(tmp_path: Path) -> None:
    times = pd.date_range("2018-12-31T20:00", periods=8, freq="h")
    lat, lon = 30 + 0.25 * np.arange(9), 100 + 0.25 * np.arange(13)
    truth = legacy_netcdf(tmp_path / "legacy.nc", times, era5t_from=5, lat=lat, lon=lon)
    raw = xr.open_dataset(tmp_path / "legacy.nc", mask_and_scale=False, decode_times=False)
    assert raw["u10"].dtype == np.int16 and raw.sizes["expver"] == 2 and "1900" in raw["time"].attrs["units"]
    result = convert([tmp_path / "legacy.nc"], tmp_path / "out.zarr", elevation="pvlib")
    ds = open_converted(result.path)
    assert ds.sizes["time"] == 8 and np.isfinite(ds["u"].values).all()  # ERA5 and ERA5T combined, no gap
    for name, source in (("u", "u10"), ("v", "v10"), ("temp", "t2m"), ("psfc", "sp")):
        packing = float(raw[source].attrs["scale_factor"])
        np.testing.assert_allclose(ds[name].values, truth[source].values, atol=packing, rtol=1e-6)


def test_members_and_levels_map_to_nothing(ecmwf_samples: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no variable maps to an aqnet variable; it has t, z"):
        convert([ecmwf_samples / "era5-levels-members.grib"], tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists()


def test_corrupt_grib_is_an_error_not_a_silent_skip(ecmwf_samples: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot decode GRIB file .*era5-levels-corrupted.grib"):
        convert([ecmwf_samples / "era5-levels-corrupted.grib"], tmp_path / "out.zarr")
