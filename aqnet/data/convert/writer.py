"""Writing a converted store: never over something that is not an aqnet store, atomically, in the loader's layout.

Layout (measured, docs/performance.md): every dynamic variable is stored in chunks of ``time_chunk`` time steps,
one by default (as ARCO-ERA5 and WeatherBench 2 store data for training): a frame then decodes one chunk, never a
64-step block to keep one slice. That costs a file per frame; ``--time-chunk`` trades speed for fewer files. Zarr
shards (many chunks per file) were measured slower than plain 64-step chunks for frame reads and are not used.
Static fields are one chunk.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from aqnet.errors import DataError
from aqnet.utils.atomic import atomic_output, file_lock

__all__ = ["check_target", "write_store", "is_aqnet_store", "DASK_STEPS", "CONVERTED_KIND"]

DASK_STEPS = 64  # time steps per dask task while writing (a multiple of the chunk)
CONVERTED_KIND = "converted"


def is_aqnet_store(path: Path) -> bool:
    """A zarr store that aqnet wrote (a conversion, a station store or the benchmark)."""
    for meta in ("zarr.json", ".zattrs"):
        file = path / meta
        if file.is_file():
            try:
                attrs = json.loads(file.read_text())
            except ValueError:
                return False
            attrs = attrs.get("attributes", attrs)
            return "aqnet_store" in attrs or "aqnet_size" in attrs
    return False


def check_target(path: Path, overwrite: bool) -> None:
    """Before any compute: an existing path is replaced only if it is an aqnet store and ``--overwrite`` says so."""
    if not path.exists():
        if not path.parent.is_dir():
            raise DataError(f"--to {path}: the directory {path.parent} does not exist")
        return
    if not is_aqnet_store(path):
        raise DataError(f"--to {path} exists and is not an aqnet store; it is never overwritten: choose another path")
    if not overwrite:
        raise DataError(f"--to {path} is an existing aqnet store; pass --overwrite to replace it")


def encoding(ds: xr.Dataset, time_chunk: int = 1) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in ds.data_vars:
        shape, dims = ds[name].shape, ds[name].dims
        if "lat" not in dims:  # a station store: zarr's default chunks
            continue
        if "time" in dims:
            out[str(name)] = {"chunks": (min(time_chunk, shape[0]), *shape[1:]), "dtype": "float32"}
        else:
            out[str(name)] = {"chunks": shape, "dtype": "float32"}
    if "time" in ds.coords:
        out["time"] = {"units": "minutes since 1970-01-01 00:00:00", "dtype": "int64"}
    return out


def write_store(ds: xr.Dataset, path: Path, overwrite: bool, attrs: dict[str, Any], time_chunk: int = 1) -> Path:
    """Write ``ds`` to a temporary sibling and rename it into place (replacing an aqnet store with ``overwrite``)."""
    check_target(path, overwrite)
    if "time" in ds.dims and "lat" in ds.dims:
        steps = max(time_chunk, DASK_STEPS // time_chunk * time_chunk)
        ds = ds.chunk({"time": min(steps, ds.sizes["time"])} | {d: -1 for d in ds.dims if d != "time"})
    ds = ds.assign_attrs(attrs)
    with file_lock(path):
        staging = path.with_name(f".{path.name}.staging")
        if staging.exists():
            shutil.rmtree(staging)
        with atomic_output(staging) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr v3 spec chatter about string codecs
            ds.to_zarr(tmp, mode="w-", encoding=encoding(ds, time_chunk), consolidated=False, zarr_format=3)
        old = path.with_name(f".{path.name}.replaced")
        if path.exists():
            check_target(path, overwrite)  # still an aqnet store (re-checked under the lock)
            path.rename(old)
        staging.rename(path)
        if old.exists():
            shutil.rmtree(old)
    return path


def station_dataset(
    times: np.ndarray,
    codes: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    elevation: np.ndarray,
    values: dict[str, np.ndarray],
    attrs: dict[str, dict[str, str]],
) -> xr.Dataset:
    """The point store's dataset (see :mod:`aqnet.data.stations`)."""
    coords = {
        "time": ("time", times),
        "station": ("station", codes.astype(str)),
        "lat": ("station", lat, {"units": "degrees_north"}),
        "lon": ("station", lon, {"units": "degrees_east"}),
        "elevation": ("station", elevation, {"units": "m"}),
    }
    data = {name: (("time", "station"), arr, attrs[name]) for name, arr in values.items()}
    return xr.Dataset(data, coords=coords)
