"""The point store of station observations: a zarr store with dims (time, station).

Layout (written by ``aqnet-data convert`` from station CSVs, read by station scoring):
- coordinates ``time`` (UTC; the end of each hourly averaging period), ``station`` (the network's station codes),
  and per station ``lat``, ``lon`` (degrees) and ``elevation`` (m);
- variables among ``pm25 pm10 so2 no2 co o3`` on (time, station), float32, NaN = no observation, CF ``units``
  (any unit :mod:`aqnet.data.units` converts to µg m-3);
- the global attribute ``aqnet_store = "stations"``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.data.units import conversion
from aqnet.errors import DataError
from aqnet.variables import POLLUTANTS

__all__ = ["StationStore", "open_station_store", "STATION_KIND"]

STATION_KIND = "stations"


@dataclass(frozen=True)
class StationStore:
    """Observations in canonical units: ``values[name]`` is [time, station] float32 (NaN = missing)."""

    path: Path
    codes: np.ndarray  # str
    lat: np.ndarray
    lon: np.ndarray
    elevation: np.ndarray
    times: np.ndarray  # datetime64[ns], sorted, unique
    values: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n, t = len(self.codes), len(self.times)
        for name, arr in (("lat", self.lat), ("lon", self.lon), ("elevation", self.elevation)):
            if arr.shape != (n,):
                raise DataError(f"station store {self.path}: {name} has shape {arr.shape}, expected ({n},)")
        for name, arr in self.values.items():
            if arr.shape != (t, n):
                raise DataError(f"station store {self.path}: {name} has shape {arr.shape}, expected ({t}, {n})")
        if not ((self.lat >= -90) & (self.lat <= 90)).all() or not ((self.lon >= -180) & (self.lon <= 360)).all():
            raise DataError(f"station store {self.path}: station latitudes/longitudes out of range")
        if len(self.times) > 1 and (np.diff(self.times) <= np.timedelta64(0)).any():
            raise DataError(f"station store {self.path}: times are not sorted and unique")


def open_station_store(path: str | os.PathLike[str], variables: tuple[str, ...] | None = None) -> StationStore:
    """Read and check a point store; values converted to µg m-3."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise DataError(f"station store {path} does not exist; convert station CSVs with `aqnet-data convert`")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_zarr(path, consolidated=None)
    except Exception as err:
        raise DataError(f"cannot open station store {path}: {type(err).__name__}: {err}") from None
    if ds.attrs.get("aqnet_store") != STATION_KIND or set(ds.dims) != {"time", "station"}:
        raise DataError(f"{path} is not a station store (dims (time, station), aqnet_store = 'stations')")
    names = [n for n in (variables or POLLUTANTS) if n in ds.data_vars]
    if not names:
        raise DataError(f"station store {path} has none of {', '.join(variables or POLLUTANTS)}")
    values = {}
    for name in names:
        arr = ds[name].transpose("time", "station")
        values[name] = conversion(name, arr.attrs.get("units"), store=path)(arr.values.astype(np.float64))
        values[name] = values[name].astype(np.float32)
    return StationStore(
        path=path,
        codes=ds["station"].values.astype(str),
        lat=ds["lat"].values.astype(np.float64),
        lon=ds["lon"].values.astype(np.float64),
        elevation=ds["elevation"].values.astype(np.float64),
        times=ds["time"].values.astype("datetime64[ns]"),
        values=values,
    )
