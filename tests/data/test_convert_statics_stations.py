"""Regridding on known answers, GeoTIFF / netCDF DEMs, WorldPop population, station CSVs into a point store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aqnet.data.convert import convert
from aqnet.data.convert.regrid import Grid, cell_area_km2, regrid
from aqnet.data.convert.statics import elevation_field, population_field, read_geotiff
from aqnet.data.stations import open_station_store
from aqnet.errors import DataError
from tests.data.sources import STATION_TYPES, geotiff, station_csv, station_table, station_value


def field(lat: np.ndarray, lon: np.ndarray, values: np.ndarray, name: str = "pm25") -> xr.Dataset:
    return xr.Dataset({name: (("lat", "lon"), values)}, coords={"lat": lat, "lon": lon})


SOURCE_LAT, SOURCE_LON = 30.15 + 0.3 * np.arange(50), 100.15 + 0.3 * np.arange(60)  # edges 30..45, 100..118
TARGET = Grid(30.25 + 0.5 * np.arange(30), 100.25 + 0.5 * np.arange(36))  # same outer edges, interior not aligned


@pytest.mark.parametrize("name", ["pm25", "temp"])
def test_a_constant_stays_constant(name: str) -> None:
    done, methods = regrid(field(SOURCE_LAT, SOURCE_LON, np.full((50, 60), 7.25), name), TARGET, "test")
    np.testing.assert_allclose(done[name].values, 7.25, rtol=1e-12)
    assert methods[name].startswith("conservative" if name == "pm25" else "bilinear")


def test_conservative_preserves_the_area_integral() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 1, (50, 60))
    done, _ = regrid(field(SOURCE_LAT, SOURCE_LON, values), TARGET, "test")
    before = (values * cell_area_km2(SOURCE_LAT, SOURCE_LON)).sum()
    after = (done["pm25"].values * cell_area_km2(TARGET.lat, TARGET.lon)).sum()
    assert abs(after / before - 1) < 1e-6
    assert not np.allclose(done["pm25"].values, done["pm25"].values.mean())  # not a trivially flat answer


def test_a_grid_that_does_not_cover_the_target() -> None:
    with pytest.raises(DataError, match=r"test covers lat 30..45, lon 100..118, which does not cover"):
        regrid(field(SOURCE_LAT, SOURCE_LON, np.ones((50, 60))), Grid(TARGET.lat, TARGET.lon + 1.0), "test")


def test_geotiff_dem_and_worldpop_population(tmp_path: Path) -> None:
    res, north, west = 0.05, 40.0, 110.0
    rows, cols = 200, 300  # 30..40 N, 110..125 E
    lat = north - res * (np.arange(rows) + 0.5)
    dem = np.tile(np.linspace(0, 3000, cols), (rows, 1)) + lat[:, None]
    dem[:10, :10] = -9999  # no data: sea
    tif = geotiff(tmp_path / "dem.tif", dem, north, west, res, nodata=-9999)
    raw = read_geotiff(tif)
    assert raw.shape == (rows, cols) and np.isnan(raw.values[-10:, :10]).all()  # sorted south to north
    np.testing.assert_allclose(raw["lon"].values[:2], [110.025, 110.075])
    grid = Grid(31.0 + np.arange(8), 111.0 + np.arange(13))
    elevation = elevation_field(str(tif), grid)
    assert 0 < float(elevation.mean()) < 3100 and "conservative" in elevation.attrs["aqnet_conversion"]

    people = np.full((rows, cols), 250.0)  # persons per pixel
    ppp = geotiff(tmp_path / "chn_ppp_2020.tif", people, north, west, res, nodata=-99999)
    density = people / cell_area_km2(lat, west + res * (np.arange(cols) + 0.5))  # rows north to south, as the file
    pd_tif = geotiff(tmp_path / "chn_pd_2020.tif", density, north, west, res)
    from_count, from_density = population_field(ppp, grid), population_field(pd_tif, grid)
    np.testing.assert_allclose(from_count.values, from_density.values, rtol=1e-5)
    total = (from_count.values * cell_area_km2(grid.lat, grid.lon)).sum()
    inside = 250.0 * 20 * 20 * 8 * 13  # 20 x 20 pixels per 1° cell
    assert abs(total / inside - 1) < 1e-6
    with pytest.raises(DataError, match=r"--population-units"):
        population_field(geotiff(tmp_path / "pop.tif", people, north, west, res), grid)


def test_netcdf_dem(tmp_path: Path) -> None:
    lat, lon = 29.75 + 0.5 * np.arange(24), 109.75 + 0.5 * np.arange(32)
    ds = xr.Dataset({"z": (("latitude", "longitude"), np.full((24, 32), 1234.0), {"units": "m"})})
    ds.assign_coords(latitude=lat[::-1], longitude=lon).to_netcdf(tmp_path / "dem.nc")
    out = elevation_field(str(tmp_path / "dem.nc"), Grid(31.0 + np.arange(8), 111.0 + np.arange(13)))
    np.testing.assert_allclose(out.values, 1234.0)


CODES = ("1001A", "1002A", "1003A")


def test_station_csvs_into_a_point_store(tmp_path: Path) -> None:
    days = [station_csv(tmp_path / f"china_sites_2019010{d}.csv", f"2019010{d}", CODES) for d in (1, 2)]
    table = station_table(tmp_path / "sites.csv", CODES)
    result = convert(days, tmp_path / "obs.zarr", stations_table=table)
    store = open_station_store(result.path)
    assert list(store.codes) == list(CODES) and store.values["pm25"].shape == (48, 3)
    assert store.times[0] == np.datetime64("2018-12-31T16:00")  # hour 0 Beijing time = 16 UTC the day before
    pm25 = STATION_TYPES.index("PM2.5")
    assert store.values["pm25"][3, 1] == pytest.approx(station_value(1, pm25, 3))  # "PM2.5", not "PM2.5_24h"
    assert np.isnan(store.values["pm25"][5, 0])  # the empty cell
    assert store.values["co"][2, 2] == pytest.approx(1000 * station_value(2, STATION_TYPES.index("CO"), 2))
    np.testing.assert_allclose(store.lat, [39.5, 39.6, 39.7])
    np.testing.assert_allclose(store.elevation, [40, 50, 60])


def test_station_elevation_from_pvlib_without_a_table_column(tmp_path: Path) -> None:
    day = station_csv(tmp_path / "day.csv", "20190101", CODES)
    result = convert([day], tmp_path / "obs.zarr", stations_table=station_table(tmp_path / "t.csv", CODES, False))
    store = open_station_store(result.path)
    assert ((store.elevation > 0) & (store.elevation < 200)).all()  # the North China Plain near Beijing


def test_station_csv_defects(tmp_path: Path) -> None:
    table = station_table(tmp_path / "sites.csv", CODES)
    bad_type = station_csv(tmp_path / "bad.csv", "20190101", CODES, (*STATION_TYPES, "PM1"))
    with pytest.raises(DataError, match=r"bad.csv: unknown type\(s\) PM1"):
        convert([bad_type], tmp_path / "a.zarr", stations_table=table)
    twice = pd.read_csv(station_csv(tmp_path / "twice.csv", "20190101", CODES))
    pd.concat([twice, twice.iloc[[20]]]).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(DataError, match=r"twice.csv: hour 1 of 20190101 has type SO2 twice"):
        convert([tmp_path / "twice.csv"], tmp_path / "b.zarr", stations_table=table)
    same = [station_csv(tmp_path / n, "20190101", CODES) for n in ("x.csv", "y.csv")]
    with pytest.raises(DataError, match=r"station CSVs x.csv, y.csv both hold hour"):
        convert(same, tmp_path / "c.zarr", stations_table=table)
    with pytest.raises(DataError, match=r"lacks station\(s\) 1003A"):
        convert([same[0]], tmp_path / "d.zarr", stations_table=station_table(tmp_path / "s.csv", CODES[:2]))
    assert not any((tmp_path / n).exists() for n in ("a.zarr", "b.zarr", "c.zarr", "d.zarr"))
