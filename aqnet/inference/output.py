"""Forecasts as a CF-1.8 dataset, and writing it without ever leaving a partial or silently replaced file.

Layout: one float32 variable per target, dims (init_time, lead_time, lat, lon), physical units (µg m-3 for the
concentrations) with ``long_name`` and ``standard_name``; ``init_time`` (forecast_reference_time),
``lead_time`` (forecast_period, a timedelta stored as hours), ``valid_time`` = init_time + lead_time (time) as a
2-D coordinate; ``lat``/``lon`` in degrees with ``axis``. Global attributes carry the provenance.
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.errors import ConfigError
from aqnet.variables import VARIABLES

FORMATS: dict[str, str] = {".nc": "netcdf", ".zarr": "zarr"}


def output_path(out: str, overwrite: bool) -> tuple[Path, str]:
    """(absolute path, format) for ``out=``; one line for an unsupported suffix or an existing path."""
    path = Path(str(out)).expanduser()
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"out={out}: unsupported suffix {path.suffix or '(none)'!r}; "
            "use .nc (netCDF4) or .zarr, e.g. out=forecast.nc"
        )
    path = path.resolve()
    if path.exists() and not overwrite:
        raise ConfigError(f"out={out}: {path} exists and is not overwritten; choose another path or add overwrite=true")
    return path, fmt


def forecast_dataset(
    values: np.ndarray,
    init_times: np.ndarray,
    lead_hours: Sequence[float],
    lat: np.ndarray,
    lon: np.ndarray,
    names: Sequence[str],
    attrs: Mapping[str, str],
) -> xr.Dataset:
    """``values`` [init, lead, variable, lat, lon] in physical units → the CF dataset (see module docstring)."""
    init = np.asarray(init_times).astype("datetime64[ns]")
    lead = (np.asarray(lead_hours, dtype=np.float64) * 3600e9).astype("timedelta64[ns]")
    dims = ("init_time", "lead_time", "lat", "lon")
    data_vars = {}
    for i, name in enumerate(names):
        spec = VARIABLES.get(name)
        var_attrs = {"units": spec.units, "long_name": spec.long_name} if spec else {"long_name": name}
        if spec is not None and spec.standard_name:
            var_attrs["standard_name"] = spec.standard_name
        data_vars[name] = (dims, np.ascontiguousarray(values[:, :, i], dtype=np.float32), var_attrs)
    coords = {
        "init_time": (
            "init_time",
            init,
            {"standard_name": "forecast_reference_time", "long_name": "initialisation time of the forecast"},
        ),
        "lead_time": ("lead_time", lead, {"standard_name": "forecast_period", "long_name": "forecast lead time"}),
        "valid_time": (
            ("init_time", "lead_time"),
            init[:, None] + lead[None, :],
            {"standard_name": "time", "long_name": "valid time (init_time + lead_time)"},
        ),
        "lat": ("lat", np.asarray(lat, dtype=np.float64), _axis_attrs("latitude", "degrees_north", "Y")),
        "lon": ("lon", np.asarray(lon, dtype=np.float64), _axis_attrs("longitude", "degrees_east", "X")),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=dict(attrs))


def _axis_attrs(standard_name: str, units: str, axis: str) -> dict[str, str]:
    return {"standard_name": standard_name, "long_name": standard_name, "units": units, "axis": axis}


def _encoding(ds: xr.Dataset, fmt: str) -> dict[str, dict[str, object]]:
    """Lead time in hours; no _FillValue on coordinates (CF); one chunk per init time, compressed."""
    encoding: dict[str, dict[str, object]] = {name: {"_FillValue": None} for name in ds.coords}
    encoding["lead_time"]["units"] = "hours"
    for name, var in ds.data_vars.items():
        one_init = (1, *var.shape[1:])  # a chunk per init time: reading one forecast reads one chunk
        netcdf = {"zlib": True, "complevel": 4, "chunksizes": one_init}
        encoding[name] = netcdf if fmt == "netcdf" else {"chunks": one_init}
    return encoding


def write_dataset(ds: xr.Dataset, path: Path, fmt: str, overwrite: bool) -> Path:
    """Write to a temporary sibling, then rename into place; on any failure nothing is left behind and an
    existing ``path`` (replaced only with ``overwrite``) is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if fmt == "netcdf":
            ds.to_netcdf(tmp, engine="netcdf4", encoding=_encoding(ds, fmt))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr: consolidated metadata is not in the v3 spec (yet)
                ds.to_zarr(tmp, mode="w-", zarr_format=3, consolidated=True, encoding=_encoding(ds, fmt))
        _move_into_place(tmp, path, overwrite)
    finally:
        _remove(tmp)
    return path


def _move_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    if not (path.exists() or path.is_symlink()):
        os.replace(tmp, path)
        return
    if not overwrite:  # it appeared while we computed
        raise ConfigError(f"out={path} appeared while forecasting and is not overwritten; add overwrite=true")
    backup = path.with_name(f".{path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.replace(path, backup)  # a directory (zarr) cannot be replaced by rename: set the old one aside first
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(backup, path)
        raise
    _remove(backup)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
