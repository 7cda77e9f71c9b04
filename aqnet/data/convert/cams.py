"""CAMS global reanalysis (EAC4) and CAMS global forecasts, as the Atmosphere Data Store delivers them (netCDF).

- Aerosols ``pm2p5``, ``pm10`` (surface file) are already mass concentrations in kg m-3: x 1e9 -> µg m-3.
- Gases ``go3 -> o3``, ``no2``, ``so2``, ``co`` are mass mixing ratios (kg kg-1) on model levels; the lowest level
  (the largest level number: 60 in EAC4's L60) is converted to µg m-3 with the air density at that level from the
  ideal gas law, rho = p / (R_d T), R_d = 287.0597 J kg-1 K-1 (ECMWF's dry-air constant): p is the surface
  pressure ``sp`` (the lowest L60 level lies about 10 m above the ground, where p is about 0.1 % lower), T the
  temperature ``t`` on that model level when the model-level file has it, else the 2 m temperature ``t2m``. The
  provenance attribute says which T was used.
- Forecasts (dims ``forecast_reference_time x forecast_period`` with a 2-D ``valid_time``) are flattened to an
  analysis-like series: each valid time takes the forecast with the shortest lead (the latest initialisation).
  aqnet's store is one time axis of states; the freshest forecast is the best estimate of the state at that time,
  and the model makes its own leads from it. The leads used are printed and kept in the provenance.
Both dims layouts of the ADS are read: new (``valid_time``, ``model_level``) and legacy (``time``, ``level``).
"""

from __future__ import annotations

import zipfile
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
from aqnet.data.convert.era5 import extract_zip, open_netcdf
from aqnet.errors import DataError

__all__ = ["read_cams", "best_estimate", "R_DRY", "AEROSOLS", "GASES"]

R_DRY = 287.0597  # J kg-1 K-1, specific gas constant of dry air (ECMWF IFS)
AEROSOLS = {"pm2p5": "pm25", "pm10": "pm10"}
GASES = {"go3": "o3", "no2": "no2", "so2": "so2", "co": "co"}
STATE = ("sp", "t2m", "t")
_LEVELS = ("model_level", "level", "hybrid")


def best_estimate(ds: xr.Dataset, label: str) -> tuple[xr.Dataset, str]:
    """(init, lead) -> one valid-time axis, each valid time from its shortest lead; and a note of the leads used."""
    if "valid_time" in ds.coords and ds["valid_time"].ndim == 2:
        valid = ds["valid_time"].transpose("forecast_reference_time", "forecast_period").values
    else:
        valid = ds["forecast_reference_time"].values[:, None] + ds["forecast_period"].values[None, :]
    lead = ds["forecast_period"].values
    if not np.issubdtype(lead.dtype, np.timedelta64):
        lead = (np.asarray(lead, dtype=np.float64) * 3600e9).astype("timedelta64[ns]")  # ADS: hours
    leads = np.broadcast_to(lead[None, :], valid.shape).ravel()
    flat = valid.astype("datetime64[ns]").ravel()
    order = np.lexsort((leads, flat))
    first = np.r_[True, flat[order][1:] != flat[order][:-1]]
    pick = order[first]
    i_init, i_lead = np.unravel_index(pick, valid.shape)
    out = ds.drop_vars("valid_time", errors="ignore").isel(
        forecast_reference_time=xr.DataArray(i_init, dims="time"),
        forecast_period=xr.DataArray(i_lead, dims="time"),
    )
    out = out.drop_vars(["forecast_reference_time", "forecast_period"], errors="ignore")
    hours = leads[pick] / np.timedelta64(1, "h")
    note = f"{label}: best-estimate series from forecasts, leads {hours.min():g}-{hours.max():g} h"
    return out.assign_coords(time=flat[pick]), note


def _lowest_level(ds: xr.Dataset, label: str) -> tuple[xr.Dataset, str | None]:
    for dim in _LEVELS:
        if dim in ds.dims:
            level = ds[dim].values.max()
            return ds.sel({dim: level}, drop=True), f"model level {level:g} (the lowest)"
    return ds, None


def _open(files: list[Path], workdir: Path) -> list[tuple[str, xr.Dataset]]:
    out = []
    for path in files:
        members = extract_zip(path, workdir) if zipfile.is_zipfile(path) else [path]
        out += [(f"CAMS file {m.name}", open_netcdf(m)) for m in members]
    return out


def read_cams(files: list[Path], workdir: Path) -> Part:
    """One part from the CAMS files given: surface and model-level files merged, forecasts flattened."""
    known = (*AEROSOLS, *GASES, *STATE)
    datasets, notes, levels = [], [], {}
    opened = _open(files, workdir)
    everything = [str(v) for _, ds in opened for v in ds.data_vars]
    chemistry = [str(v) for _, ds in opened for v in ds.data_vars if v in AEROSOLS or v in GASES]
    require_mapped(dict.fromkeys(chemistry), everything, f"CAMS ({names_of(files)})", (*AEROSOLS, *GASES))
    for label, ds in opened:
        wanted = [n for n in known if n in ds.data_vars]
        if not wanted:
            continue
        ds = ds[wanted]
        if "forecast_reference_time" in ds.dims:
            ds, note = best_estimate(ds, label)
            notes.append(note)
        ds, level = _lowest_level(ds, label)
        levels.update({n: level for n in wanted if level})
        datasets.append(squeeze_singletons(normalise_grid(ds, label), label))
    label = f"CAMS ({names_of(files)})"
    try:
        ds = xr.merge(datasets, compat="no_conflicts", join="outer", combine_attrs="drop_conflicts")
    except Exception as err:
        raise DataError(f"{label}: the files do not merge on one grid and time axis: {err}") from None
    return Part("CAMS", tuple(files), _convert(ds, files, label, levels), notes)


def _density(ds: xr.Dataset, label: str, gas: str) -> tuple[xr.DataArray, str]:
    if "sp" not in ds:
        raise DataError(
            f"{label}: {gas} is a mass mixing ratio (kg kg-1); converting it to µg m-3 needs the surface pressure sp "
            "(add the CAMS surface file with sp)"
        )
    p, _ = canonical_units(ds["sp"], "psfc", ds["sp"].attrs.get("units"), label)
    which = "t" if "t" in ds else "t2m" if "t2m" in ds else None
    if which is None:
        raise DataError(f"{label}: {gas} needs a temperature for the air density: add t (model level) or t2m")
    temperature, _ = canonical_units(ds[which], "temp", ds[which].attrs.get("units"), label)
    return p / (R_DRY * temperature), f"rho = sp / ({R_DRY} J kg-1 K-1 * {which})"


def _convert(ds: xr.Dataset, files: list[Path], label: str, levels: dict[str, str]) -> xr.Dataset:
    out = {}
    for source_name, name in AEROSOLS.items():
        if source_name in ds:
            arr, what = canonical_units(ds[source_name], name, ds[source_name].attrs.get("units"), label)
            out[name] = provenance(arr, name, files, f"{source_name} -> {name}; {what}")
    for source_name, name in GASES.items():
        if source_name not in ds:
            continue
        unit = str(ds[source_name].attrs.get("units", "")).replace(" ", "")
        if unit not in ("kgkg**-1", "kgkg-1", "kg/kg", "kgkg^-1"):
            raise DataError(
                f"{label}: variable {source_name} has unit {unit!r}; expected kg kg**-1 (mass mixing ratio)"
            )
        rho, how = _density(ds, label, source_name)
        where = levels.get(source_name) or "its single level"
        what = f"{source_name} -> {name}; {where}; µg m-3 = mmr * rho * 1e9, {how}"
        out[name] = provenance(ds[source_name] * rho * 1e9, name, files, what)
    return xr.Dataset(out)
