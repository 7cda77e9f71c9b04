"""What every source reader returns (a :class:`Part`) and the small steps they share.

A part is one source already in aqnet's vocabulary: canonical variable names and units (:mod:`aqnet.variables`),
dims ``(time, lat, lon)`` or ``(lat, lon)``, latitudes ascending, longitudes in [-180, 180) ascending, and on every
variable the provenance attributes ``aqnet_source`` (file names) and ``aqnet_conversion`` (what was done).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.data.units import conversion
from aqnet.errors import DataError
from aqnet.variables import VARIABLES

__all__ = ["Part", "normalise_grid", "canonical_units", "provenance", "require_mapped", "squeeze_singletons"]

_DIM_RENAMES = {"latitude": "lat", "longitude": "lon", "valid_time": "time"}
GRAVITY = 9.80665  # m s-2, WMO standard gravity (ECMWF's geopotential -> height)


@dataclass
class Part:
    """One source, converted: ``data`` holds canonical variables only; ``label`` names it in messages."""

    label: str
    files: tuple[Path, ...]
    data: xr.Dataset
    notes: list[str] = field(default_factory=list)  # printed by the CLI (e.g. which forecast leads were used)

    def __post_init__(self) -> None:
        unknown = [str(n) for n in self.data.data_vars if n not in VARIABLES]
        if unknown:
            raise ValueError(f"part {self.label} holds non-canonical variables {unknown}")

    @property
    def dynamic(self) -> list[str]:
        return [str(n) for n in self.data.data_vars if "time" in self.data[n].dims]

    @property
    def times(self) -> np.ndarray:
        return self.data["time"].values.astype("datetime64[ns]") if "time" in self.data.dims else np.array([])

    @property
    def step_hours(self) -> float | None:
        steps = np.diff(self.times) / np.timedelta64(1, "h")
        return float(np.median(steps)) if len(steps) else None

    @property
    def period(self) -> str:
        times = self.times.astype("datetime64[h]")
        return f"{times[0]}..{times[-1]}" if len(times) else "static"


def names_of(files: Sequence[Path]) -> str:
    return ", ".join(sorted({f.name for f in files}))


def squeeze_singletons(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Drop size-1 dims other than time/lat/lon (``number``, a single level); refuse larger ones."""
    extra = [d for d in ds.dims if d not in ("time", "lat", "lon")]
    big = [f"{d}={ds.sizes[d]}" for d in extra if ds.sizes[d] > 1]
    if big:
        raise DataError(
            f"{source}: extra dimension(s) {', '.join(big)} (ensemble members or levels); "
            "aqnet converts single-level, single-member fields: select one before converting"
        )
    return ds.squeeze([d for d in extra], drop=True) if extra else ds


def normalise_grid(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Rename latitude/longitude/valid_time, lat ascending, lon in [-180, 180) ascending, time sorted."""
    renames = {k: v for k, v in _DIM_RENAMES.items() if k in ds.variables and v not in ds.variables}
    ds = ds.rename(renames)
    if "time" in ds.variables and ds["time"].ndim == 0:
        ds = ds.expand_dims("time") if "time" not in ds.dims else ds
    for coord in ("lat", "lon"):
        if coord not in ds.coords or ds[coord].ndim != 1:
            raise DataError(f"{source}: no 1-D {coord} coordinate (latitude/longitude); aqnet needs a regular grid")
    lon = ds["lon"].values.astype(np.float64)
    if lon.max() > 180.0:
        ds = ds.assign_coords(lon=(lon + 180.0) % 360.0 - 180.0)
    ds = ds.sortby(["lat", "lon"])
    if "time" in ds.dims:
        ds = ds.sortby("time")
        times = ds["time"].values
        if len(times) > 1 and (np.diff(times) == np.timedelta64(0)).any():
            raise DataError(f"{source}: duplicated times, e.g. {times[1:][np.diff(times) == np.timedelta64(0)][0]}")
    drop = [c for c in ds.coords if c not in ds.dims]
    return ds.drop_vars(drop)


def canonical_units(arr: xr.DataArray, name: str, unit: str | None, source: str) -> tuple[xr.DataArray, str]:
    """``arr`` in ``name``'s canonical unit (one affine map); DataError naming variable and unit if impossible."""
    affine = conversion(name, unit, store=source)
    text = "" if affine.is_identity else f"{unit} -> {VARIABLES[name].units} (x{affine.scale:g} + {affine.offset:g})"
    return affine(arr), text


def provenance(arr: xr.DataArray, name: str, files: Iterable[Path], what: str) -> xr.DataArray:
    """Set the canonical attributes (units, long_name, standard_name) and the two provenance attributes."""
    spec = VARIABLES[name]
    attrs = {"units": spec.units, "long_name": spec.long_name}
    if spec.standard_name:
        attrs["standard_name"] = spec.standard_name
    attrs["aqnet_source"] = ", ".join(sorted({Path(f).name for f in files}))
    attrs["aqnet_conversion"] = what or "none (already in canonical units)"
    return arr.astype(np.float32).rename(name).assign_attrs(attrs)


def require_mapped(found: Mapping[str, object], available: Iterable[str], source: str, known: Iterable[str]) -> None:
    """DataError when none of a file's variables maps to a canonical one (lists what the file has)."""
    if not found:
        listed = ", ".join(sorted(map(str, available))) or "none"
        raise DataError(
            f"{source}: no variable maps to an aqnet variable; it has {listed}; "
            f"recognised names: {', '.join(sorted(known))}"
        )
