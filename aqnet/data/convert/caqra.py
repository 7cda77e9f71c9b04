"""CAQRA / TopoFlow-style stores: one zarr per year (``data_{year}_….zarr``), combined into one time axis.

Each yearly store holds ``u v temp rh psfc pm25 pm10 so2 no2 co o3`` on (time, lat, lon) and ``elevation`` /
``population`` (static, or repeated along time: the first time is kept), with 1-D ``lat2d`` / ``lon2d``
coordinates giving the cell centres. Units come from each variable's ``units`` attribute; where one is missing the
CAQRA documentation's unit is assumed (µg m-3 for the pollutants except CO in mg m-3, m s-1, K, %, Pa, m,
persons km-2) and the provenance says so. Any aqnet store (the benchmark, an earlier conversion) reads the same.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.data.convert.common import (
    Part,
    canonical_units,
    names_of,
    normalise_grid,
    provenance,
    require_mapped,
    squeeze_singletons,
)
from aqnet.errors import DataError
from aqnet.variables import INPUT_VARIABLES, VARIABLES

__all__ = ["read_caqra", "DOCUMENTED_UNITS", "year_stores"]

DOCUMENTED_UNITS = {n: VARIABLES[n].units for n in (*INPUT_VARIABLES, "mask")} | {"co": "mg m-3"}
_CONVERTED = (*(n for n in INPUT_VARIABLES if n not in ("lat2d", "lon2d")), "mask")  # lat2d/lon2d: from the grid


def year_stores(path: Path) -> list[Path]:
    """A zarr store itself, or a directory of yearly ``*.zarr`` stores (sorted by name)."""
    if (path / "zarr.json").is_file() or (path / ".zgroup").is_file():
        return [path]
    found = sorted(path.glob("*.zarr"))  # data_2013_….zarr, data_2014_….zarr, ...
    if not found:
        raise DataError(f"{path} is neither a zarr store nor a directory of yearly *.zarr stores")
    return found


def _open(path: Path) -> xr.Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_zarr(path, consolidated=None)
    except Exception as err:
        raise DataError(f"cannot open zarr store {path}: {type(err).__name__}: {err}") from None
    for name, dim in (("lat2d", "lat"), ("lon2d", "lon")):  # 1-D cell-centre coordinates name the grid
        if name in ds.variables and ds[name].ndim == 1 and dim not in ds.coords:
            ds = ds.assign_coords({dim: (ds[name].dims[0], ds[name].values)}).swap_dims({ds[name].dims[0]: dim})
            ds = ds.drop_vars(name)
    for dim in ("lat", "lon"):
        if dim in ds.dims and dim not in ds.coords:
            raise DataError(f"store {path} has a {dim} dimension without coordinates (1-D lat2d/lon2d or lat/lon)")
    return ds


def _static(arr: xr.DataArray) -> xr.DataArray:
    return arr.isel(time=0, drop=True) if "time" in arr.dims else arr


def read_caqra(stores: list[Path], workdir: Path) -> Part:
    del workdir  # zarr stores are read in place
    paths = [p for store in stores for p in year_stores(store)]
    label = f"zarr stores ({names_of(paths)})"
    dynamic, statics = [], {}
    units: dict[str, str | None] = {}
    for path in paths:
        ds = _open(path)
        found = [n for n in _CONVERTED if n in ds.data_vars]
        require_mapped(dict.fromkeys(found), ds.data_vars, f"store {path.name}", _CONVERTED)
        ds = squeeze_singletons(normalise_grid(ds[found], f"store {path.name}"), f"store {path.name}")
        for name in found:
            unit = ds[name].attrs.get("units")
            if units.setdefault(name, unit) != unit:
                raise DataError(f"variable {name!r} has unit {unit!r} in {path.name} but {units[name]!r} before")
            if VARIABLES[name].static and name not in statics:
                statics[name] = _static(ds[name])
        dynamic.append(ds[[n for n in found if not VARIABLES[n].static]])
    ds = (
        xr.concat(dynamic, dim="time", join="exact", combine_attrs="drop_conflicts") if len(dynamic) > 1 else dynamic[0]
    )
    times = ds["time"].values
    if (np.diff(times) <= np.timedelta64(0)).any():
        raise DataError(f"{label}: the yearly stores overlap or repeat times; give each year once")
    ds = ds.assign(statics)
    out = {}
    for name in ds.data_vars:
        unit = units[str(name)]
        assumed = unit is None
        arr, what = canonical_units(ds[name], str(name), DOCUMENTED_UNITS[str(name)] if assumed else unit, label)
        if assumed:
            what = f"no units attribute: {DOCUMENTED_UNITS[str(name)]} assumed (CAQRA documentation)" + (
                f"; {what}" if what else ""
            )
        out[str(name)] = provenance(arr, str(name), paths, what)
    return Part("zarr stores", tuple(paths), xr.Dataset(out))
