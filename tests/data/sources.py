"""Source files in the layouts the data centres deliver, for the converter tests.

ERA5's new-CDS netCDF is written from a real ECMWF GRIB file (cfgrib's sample data, see conftest.ecmwf_samples);
the other layouts follow their documentation (dimension, variable and attribute names as delivered): the ECMWF
"GRIB to netCDF conversion on new CDS and ADS systems" page, the legacy CDS netCDF (packed shorts, hours since
1900, an ``expver`` dimension), the ADS's CAMS EAC4 / forecast netCDF, CAQRA-style yearly zarr stores, the China
national network's daily station CSVs, WorldPop / DEM GeoTIFFs. Values are smooth and physical, seeded.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

GRIB_ATTRS = {
    "GRIB_centre": "ecmf",
    "Conventions": "CF-1.7",
    "institution": "European Centre for Medium-Range Weather Forecasts",
}


def open_converted(path: Path) -> xr.Dataset:
    return xr.open_zarr(path, consolidated=False)


def smooth(shape: tuple[int, ...], seed: int, low: float, high: float) -> np.ndarray:
    """Smooth positive field in [low, high] over the last two axes (and varying along a leading time axis)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, np.pi, shape[-2])[:, None]
    x = np.linspace(0, 2 * np.pi, shape[-1])[None, :]
    base = 0.5 + 0.25 * np.sin(y + rng.uniform(0, 3)) * np.cos(x + rng.uniform(0, 3))
    if len(shape) == 3:
        base = base[None] * (1 + 0.2 * np.sin(np.arange(shape[0]) / 3.0))[:, None, None]
    return (low + (high - low) * np.clip(base, 0, 1)).astype(np.float32)


def real_t2m(samples: Path) -> xr.DataArray:
    """The real ERA5 2 m temperature field (0.25°, Europe, one time) of cfgrib's sample data, decoded by cfgrib."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(
            samples / "era5-single-level-scalar-time.grib",
            engine="cfgrib",
            backend_kwargs={"indexpath": "", "time_dims": ("valid_time",)},
        )
    return ds["t2m"].load()


def _var(values: np.ndarray, dims: tuple[str, ...], units: str, long_name: str, short: str) -> xr.Variable:
    attrs = {"units": units, "long_name": long_name, "GRIB_shortName": short, "standard_name": "unknown"}
    return xr.Variable(dims, values.astype(np.float32), attrs)


def new_cds_zip(samples: Path, out: Path) -> Path:
    """A new-CDS ERA5 zip: instant.nc (real t2m + u10, v10, d2m, sp) and accum.nc (tp), as the CDS writes them."""
    t2m = real_t2m(samples)
    lat, lon = t2m["latitude"].values, t2m["longitude"].values  # latitude descending, as delivered
    valid = np.atleast_1d(t2m["valid_time"].values).astype("datetime64[ns]")
    shape = (len(valid), len(lat), len(lon))
    dims = ("valid_time", "latitude", "longitude")
    t = t2m.values[None].astype(np.float32)
    coords = {
        "number": xr.Variable((), np.int64(0), {"long_name": "ensemble member numerical id", "units": "1"}),
        "valid_time": xr.Variable(("valid_time",), valid, {"long_name": "time", "standard_name": "time"}),
        "latitude": xr.Variable(("latitude",), lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": xr.Variable(("longitude",), lon, {"units": "degrees_east", "standard_name": "longitude"}),
        "expver": xr.Variable(("valid_time",), np.array(["0001"] * len(valid), dtype=object)),
    }
    instant = xr.Dataset(
        {
            "t2m": _var(t, dims, "K", "2 metre temperature", "2t"),
            "d2m": _var(t - smooth(shape, 1, 1.0, 8.0), dims, "K", "2 metre dewpoint temperature", "2d"),
            "u10": _var(smooth(shape, 2, -6.0, 8.0), dims, "m s**-1", "10 metre U wind component", "10u"),
            "v10": _var(smooth(shape, 3, -5.0, 5.0), dims, "m s**-1", "10 metre V wind component", "10v"),
            "sp": _var(smooth(shape, 4, 80_000.0, 102_000.0), dims, "Pa", "Surface pressure", "sp"),
        },
        coords=coords,
        attrs=GRIB_ATTRS,
    )
    accum = xr.Dataset({"tp": _var(smooth(shape, 5, 0, 0.01), dims, "m", "Total precipitation", "tp")}, coords=coords)
    encoding = {
        "valid_time": {"units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "int64"}
    }
    members = {}
    for name, ds in (("instant", instant), ("accum", accum)):
        path = out.parent / f"data_stream-oper_stepType-{name}.nc"
        enc = encoding | {v: {"zlib": True, "_FillValue": np.float32(np.nan)} for v in ds.data_vars}
        ds.to_netcdf(path, engine="netcdf4", encoding=enc)
        members[path.name] = path
    with zipfile.ZipFile(out, "w") as archive:
        for name, path in members.items():
            archive.write(path, name)
            path.unlink()
    return out


def legacy_netcdf(out: Path, times: pd.DatetimeIndex, era5t_from: int, lat: np.ndarray, lon: np.ndarray) -> xr.Dataset:
    """Legacy CDS netCDF: ``time`` in hours since 1900, packed int16 values, an ``expver`` dimension (1, 5): ERA5
    holds times before ``era5t_from``, ERA5T the rest (each time in one member only). Returns the unpacked truth."""
    shape = (len(times), len(lat), len(lon))
    truth = {
        "u10": ("m s**-1", smooth(shape, 11, -8, 8)),
        "v10": ("m s**-1", smooth(shape, 12, -6, 6)),
        "t2m": ("K", smooth(shape, 13, 260, 300)),
        "d2m": ("K", smooth(shape, 14, 250, 290)),
        "sp": ("Pa", smooth(shape, 15, 85_000, 102_000)),
    }
    data, encoding = {}, {}
    for name, (units, values) in truth.items():
        stacked = np.full((len(times), 2, *shape[1:]), np.nan, dtype=np.float32)
        stacked[:era5t_from, 0] = values[:era5t_from]
        stacked[era5t_from:, 1] = values[era5t_from:]
        data[name] = xr.Variable(("time", "expver", "latitude", "longitude"), stacked, {"units": units})
        low, high = float(values.min()), float(values.max())
        scale = (high - low) / (2**16 - 4)  # the extremes pack to ±32766: -32767 is the fill value
        encoding[name] = {"dtype": "int16", "scale_factor": scale, "add_offset": (high + low) / 2, "_FillValue": -32767}
    coords = {
        "time": times.values,
        "expver": np.array([1, 5], dtype=np.int32),
        "latitude": lat[::-1],  # descending, as delivered
        "longitude": lon,
    }
    ds = xr.Dataset(data, coords=coords)
    encoding["time"] = {"units": "hours since 1900-01-01 00:00:00.0", "calendar": "gregorian", "dtype": "int32"}
    ds.to_netcdf(out, engine="netcdf4", format="NETCDF3_64BIT", encoding=encoding)
    truth_ds = xr.Dataset({k: (("time", "latitude", "longitude"), v) for k, (_, v) in truth.items()}, coords=coords)
    return truth_ds.drop_vars("expver").rename(latitude="lat", longitude="lon").sortby("lat")


def _ads_coords(times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> dict[str, xr.Variable]:
    return {
        "valid_time": xr.Variable(("valid_time",), times, {"standard_name": "time"}),
        "latitude": xr.Variable(("latitude",), lat[::-1], {"units": "degrees_north"}),
        "longitude": xr.Variable(("longitude",), np.mod(lon, 360.0), {"units": "degrees_east"}),
    }


def cams_eac4(folder: Path, times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[Path, Path]:
    """EAC4 from the ADS: a surface file (pm2p5, pm10 kg m**-3, sp, t2m) and a model-level file (go3, no2, so2,
    co kg kg**-1, t) on model levels 59 and 60 (the lowest). Fields are stored north to south and on 0-360."""
    shape = (len(times), len(lat), len(lon))
    surface_dims = ("valid_time", "latitude", "longitude")
    surface = xr.Dataset(
        {
            "pm2p5": _var(smooth(shape, 21, 5e-9, 150e-9), surface_dims, "kg m**-3", "PM2.5", "pm2p5"),
            "pm10": _var(smooth(shape, 22, 10e-9, 250e-9), surface_dims, "kg m**-3", "PM10", "pm10"),
            "sp": _var(smooth(shape, 23, 80_000, 102_000), surface_dims, "Pa", "Surface pressure", "sp"),
            "t2m": _var(smooth(shape, 24, 265, 295), surface_dims, "K", "2 metre temperature", "2t"),
        },
        coords=_ads_coords(times, lat, lon),
    )
    levels = np.array([59, 60])
    level_dims = ("valid_time", "model_level", "latitude", "longitude")
    level_shape = (len(times), 2, len(lat), len(lon))

    def on_levels(seed: int, low: float, high: float) -> np.ndarray:
        return (
            smooth(level_shape[:1] + level_shape[2:], seed, low, high)[:, None]
            * np.array([1.1, 1.0])[None, :, None, None]
        )

    model = xr.Dataset(
        {
            "go3": _var(on_levels(31, 2e-8, 8e-8), level_dims, "kg kg**-1", "Ozone mass mixing ratio", "go3"),
            "no2": _var(
                on_levels(32, 1e-9, 6e-8), level_dims, "kg kg**-1", "Nitrogen dioxide mass mixing ratio", "no2"
            ),
            "so2": _var(
                on_levels(33, 5e-10, 3e-8), level_dims, "kg kg**-1", "Sulphur dioxide mass mixing ratio", "so2"
            ),
            "co": _var(on_levels(34, 8e-8, 9e-7), level_dims, "kg kg**-1", "Carbon monoxide mass mixing ratio", "co"),
            "t": _var(on_levels(35, 262, 292), level_dims, "K", "Temperature", "t"),
        },
        coords={**_ads_coords(times, lat, lon), "model_level": ("model_level", levels)},
    )
    paths = folder / "cams-eac4-surface.nc", folder / "cams-eac4-model-level.nc"
    for ds, path in zip((surface, model), paths, strict=True):
        ds.to_netcdf(path, engine="netcdf4")
    return paths


def cams_forecast(path: Path, inits: Sequence[str], leads_h: Sequence[int], lat: np.ndarray, lon: np.ndarray) -> Path:
    """A CAMS global forecast netCDF: forecast_reference_time x forecast_period with a 2-D valid_time. pm2p5 holds
    (lead in hours + 1) * 1e-9 kg m-3 everywhere, so a test can tell which lead each valid time came from."""
    init = pd.to_datetime(list(inits)).values
    lead = np.array(leads_h, dtype="timedelta64[h]").astype("timedelta64[ns]")
    valid = init[:, None] + lead[None, :]
    values = ((np.array(leads_h, dtype=np.float32) + 1.0) * 1e-9)[None, :, None, None]
    values = np.broadcast_to(values, (len(init), len(lead), len(lat), len(lon)))
    dims = ("forecast_reference_time", "forecast_period", "latitude", "longitude")
    ds = xr.Dataset(
        {"pm2p5": _var(values, dims, "kg m**-3", "PM2.5", "pm2p5")},
        coords={
            "forecast_reference_time": ("forecast_reference_time", init),
            "forecast_period": ("forecast_period", lead),
            "valid_time": (("forecast_reference_time", "forecast_period"), valid),
            "latitude": ("latitude", lat[::-1]),
            "longitude": ("longitude", lon),
        },
    )
    ds.to_netcdf(path, engine="netcdf4")
    return path


CAQRA_UNITS = {
    "u": "m/s", "v": "m/s", "temp": "K", "rh": "%", "psfc": "Pa", "pm25": "ug/m3", "pm10": "ug/m3",
    "so2": "ug/m3", "no2": "ug/m3", "co": "mg/m3", "o3": "ug/m3", "elevation": "m", "population": "persons km-2",
}  # fmt: skip


def caqra_years(
    folder: Path, years: Sequence[int], days: int = 6, step_h: int = 6, n_lat: int = 8, n_lon: int = 16
) -> list[Path]:
    """One CAQRA-style zarr per year, ``data_{year}_china.zarr``: dims (time, lat, lon), 1-D lat2d/lon2d
    coordinates, CO in mg/m3, elevation/population repeated along time (as some yearly stores hold them)."""
    lat = 30.0 + 2.0 * np.arange(n_lat)
    lon = 100.0 + 2.0 * np.arange(n_lon)
    paths = []
    for k, year in enumerate(years):
        times = pd.date_range(f"{year}-01-01", periods=days * 24 // step_h, freq=f"{step_h}h").values
        shape = (len(times), n_lat, n_lon)
        ranges = {
            "u": (-6, 8), "v": (-5, 5), "temp": (260, 300), "rh": (20, 95), "psfc": (85_000, 102_000),
            "pm25": (5, 300), "pm10": (10, 400), "so2": (1, 80), "no2": (5, 90), "co": (0.3, 3.0), "o3": (10, 160),
        }  # fmt: skip
        data = {n: (("time", "lat", "lon"), smooth(shape, 100 * k + i, *r)) for i, (n, r) in enumerate(ranges.items())}
        data["elevation"] = (("time", "lat", "lon"), np.broadcast_to(smooth(shape[1:], 7, 0, 3000), shape))
        data["population"] = (("time", "lat", "lon"), np.broadcast_to(smooth(shape[1:], 8, 1, 5000), shape))
        ds = xr.Dataset(data, coords={"time": times, "lat2d": ("lat", lat), "lon2d": ("lon", lon)})
        for name in ds.data_vars:
            ds[name].attrs["units"] = CAQRA_UNITS[str(name)]
        path = folder / f"data_{year}_china.zarr"
        ds.to_zarr(path, mode="w-", consolidated=False)
        paths.append(path)
    return paths


STATION_TYPES = (
    "AQI", "PM2.5", "PM2.5_24h", "PM10", "PM10_24h", "SO2", "SO2_24h", "NO2", "NO2_24h",
    "O3", "O3_24h", "O3_8h", "O3_8h_24h", "CO", "CO_24h",
)  # fmt: skip


def station_value(code_index: int, type_index: int, hour: int) -> float:
    """The value written for a (station, type, hour): each type distinct, so a wrong match shows."""
    return 10.0 * (type_index + 1) + hour + 0.5 * code_index


def station_csv(path: Path, date: str, codes: Sequence[str], types: Sequence[str] = STATION_TYPES) -> Path:
    """One day of the national network: date, hour, type, then one column per station (15 types per hour)."""
    rows = []
    for hour in range(24):
        for t, name in enumerate(types):
            values = [station_value(c, t, hour) for c in range(len(codes))]
            if name == "PM2.5" and hour == 5:
                values[0] = np.nan  # a missing observation: an empty cell
            rows.append([date, hour, name, *values])
    pd.DataFrame(rows, columns=["date", "hour", "type", *codes]).to_csv(path, index=False)
    return path


def station_table(path: Path, codes: Sequence[str], with_elevation: bool = True) -> Path:
    table = {"监测点编码": list(codes), "监测点名称": [f"site {c}" for c in codes], "城市": ["北京"] * len(codes)}
    table["经度"] = [116.0 + 0.1 * i for i in range(len(codes))]
    table["纬度"] = [39.5 + 0.1 * i for i in range(len(codes))]
    if with_elevation:
        table["elevation"] = [40.0 + 10 * i for i in range(len(codes))]
    pd.DataFrame(table).to_csv(path, index=False)
    return path


def geotiff(path: Path, values: np.ndarray, north: float, west: float, res: float, nodata: float | None = None) -> Path:
    """A north-up EPSG:4326 GeoTIFF (PixelIsArea, ModelPixelScale + ModelTiepoint, GDAL_NODATA), deflate tiles."""
    import tifffile

    keys = (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326)  # geographic, PixelIsArea, WGS 84
    tags = [
        (33550, "d", 3, (res, res, 0.0)),
        (33922, "d", 6, (0.0, 0.0, 0.0, west, north, 0.0)),
        (34735, "H", len(keys), keys),
    ]
    if nodata is not None:
        tags.append((42113, "s", 0, f"{nodata:g}"))
    tifffile.imwrite(path, values.astype(np.float32), tile=(16, 16), compression="zlib", extratags=tags)
    return path
