"""ERA5 single levels as the Copernicus Climate Data Store delivers them, in all three forms.

- New CDS netCDF: a zip of ``data_stream-oper_stepType-instant.nc`` (and ``…accum.nc``), dims ``valid_time,
  latitude, longitude``, a scalar ``number`` and a string ``expver`` variable along ``valid_time`` ("0001" ERA5,
  "0005" ERA5T). A bare ``.nc`` in this layout reads the same.
- Legacy CDS netCDF: ``time`` in hours since 1900, packed shorts (``scale_factor`` / ``add_offset``, decoded by
  xarray), and when ERA5 and ERA5T mix an ``expver`` *dimension* of size 2 holding each time in one member only:
  combined by taking, at each time, the first member that has a value (ERA5, then ERA5T).
- GRIB through cfgrib / ecCodes, opened with ``time_dims=["valid_time"]`` (analysis ``time`` + ``step`` collapse
  into valid times); a corrupt message is an error, not a silent skip.

Renames ``u10 -> u``, ``v10 -> v``, ``t2m -> temp``, ``sp -> psfc``; ``rh`` from ``t2m`` and ``d2m`` (see
:func:`relative_humidity`); surface geopotential ``z`` (no level dimension) / g -> ``elevation``.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.data.convert.common import (
    GRAVITY,
    Part,
    canonical_units,
    names_of,
    normalise_grid,
    provenance,
    require_mapped,
    squeeze_singletons,
)
from aqnet.errors import DataError

__all__ = ["read_era5", "relative_humidity", "open_netcdf", "open_grib", "RENAMES"]

RENAMES = {"u10": "u", "v10": "v", "t2m": "temp", "sp": "psfc"}
KNOWN = (*RENAMES, "d2m", "z")
_LEVEL_DIMS = {"isobaricInhPa", "pressure_level", "model_level", "hybrid", "level"}
# Saturation vapour pressure over water, Tetens' formula with the constants of the ECMWF IFS (documentation
# Cy47r1, Part IV, eq. 7.5; Buck 1981): e_s(T) = a1 * exp(a3 * (T - T0) / (T - a4))
TETENS_A1_PA, TETENS_A3, TETENS_A4_K, TETENS_T0_K = 611.21, 17.502, 32.19, 273.16


def saturation_vapour_pressure(temperature_k: xr.DataArray) -> xr.DataArray:
    return TETENS_A1_PA * np.exp(TETENS_A3 * (temperature_k - TETENS_T0_K) / (temperature_k - TETENS_A4_K))


def relative_humidity(t2m_k: xr.DataArray, d2m_k: xr.DataArray) -> xr.DataArray:
    """Relative humidity (%) = 100 e_s(d2m) / e_s(t2m), clipped to 0..100 (a dew point above T is saturation)."""
    return (100.0 * saturation_vapour_pressure(d2m_k) / saturation_vapour_pressure(t2m_k)).clip(0.0, 100.0)


def open_netcdf(path: Path) -> xr.Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return xr.open_dataset(path, engine="netcdf4", chunks={})
    except Exception as err:
        raise DataError(f"cannot read netCDF file {path}: {type(err).__name__}: {err}") from None


def open_grib(path: Path) -> xr.Dataset:
    import cfgrib

    kwargs = {"indexpath": "", "time_dims": ("valid_time",), "errors": "raise"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = cfgrib.open_datasets(str(path), backend_kwargs=kwargs, chunks={})
    except Exception as err:
        raise DataError(
            f"cannot decode GRIB file {path} (corrupt or truncated?): {type(err).__name__}: {err}"
        ) from None
    if not parts:
        raise DataError(f"GRIB file {path} holds no message cfgrib can decode")
    return xr.merge(parts, compat="override", join="outer", combine_attrs="drop_conflicts")


def extract_zip(path: Path, workdir: Path) -> list[Path]:
    """The netCDF members of a CDS zip, extracted under ``workdir``."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".nc")]
            if not members:
                raise DataError(f"zip {path} holds no .nc file; it has {', '.join(archive.namelist()) or 'nothing'}")
            target = workdir / path.stem
            if not target.exists():  # classify() and the reader both ask: extract once
                archive.extractall(target, members)
    except zipfile.BadZipFile as err:
        raise DataError(f"cannot read zip {path}: {err}") from None
    return [target / m for m in members]


def combine_expver(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Legacy layout: an ``expver`` dimension (ERA5 = 1, ERA5T = 5); keep at each time the first member with data."""
    if "expver" not in ds.dims:
        return ds.drop_vars("expver", errors="ignore")  # new layout: a string per time, provenance only
    members = [ds.isel(expver=i, drop=True) for i in range(ds.sizes["expver"])]
    combined = members[0]
    for member in members[1:]:
        combined = combined.combine_first(member)
    return combined.assign_attrs(ds.attrs)


def _candidates(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Known variables on a single level (surface ``z`` only: on pressure levels it is not the orography)."""
    out = {}
    for name in KNOWN:
        if name in ds.data_vars and not (_LEVEL_DIMS & set(ds[name].dims) or _LEVEL_DIMS & set(ds[name].coords)):
            out[name] = ds[name]
    return out


def open_any(path: Path, workdir: Path) -> list[tuple[Path, xr.Dataset]]:
    if zipfile.is_zipfile(path):
        return [(member, open_netcdf(member)) for member in extract_zip(path, workdir)]
    if is_grib(path):
        return [(path, open_grib(path))]
    return [(path, open_netcdf(path))]


def is_grib(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"GRIB"


def read_era5(files: list[Path], workdir: Path) -> Part:
    """One part from every ERA5 file given (variables merged, periods concatenated)."""
    datasets = []
    for path in files:
        opened = open_any(path, workdir)
        mapped = [(member, ds, _candidates(ds)) for member, ds in opened]
        mapped = [m for m in mapped if m[2]]  # a zip's accum member (tp, ...) may hold nothing aqnet uses
        everything = [str(v) for _, ds in opened for v in ds.data_vars]
        require_mapped(dict.fromkeys(k for m in mapped for k in m[2]), everything, f"ERA5 file {path}", KNOWN)
        for member, ds, found in mapped:
            label = f"ERA5 file {member.name}" + (f" (in {path.name})" if member != path else "")
            sub = combine_expver(ds[list(found)], label)
            datasets.append(squeeze_singletons(normalise_grid(sub, label), label))
    label = f"ERA5 ({names_of(files)})"
    try:
        ds = xr.combine_by_coords(datasets, combine_attrs="drop_conflicts", join="outer")
    except Exception as err:
        raise DataError(f"{label}: the files do not combine into one grid and time axis: {err}") from None
    return Part("ERA5 single levels", tuple(files), _convert(ds, files, label))


def _convert(ds: xr.Dataset, files: list[Path], label: str) -> xr.Dataset:
    out = {}
    for source_name, name in RENAMES.items():
        if source_name in ds:
            arr, what = canonical_units(ds[source_name], name, ds[source_name].attrs.get("units"), label)
            out[name] = provenance(arr, name, files, f"{source_name} -> {name}" + (f"; {what}" if what else ""))
    if "d2m" in ds and "t2m" in ds:
        t, _ = canonical_units(ds["t2m"], "temp", ds["t2m"].attrs.get("units"), label)
        td, _ = canonical_units(ds["d2m"], "temp", ds["d2m"].attrs.get("units"), label)
        what = "rh = 100 e_s(d2m) / e_s(t2m), Tetens over water (IFS constants 611.21 Pa, 17.502, 32.19 K)"
        out["rh"] = provenance(relative_humidity(t, td), "rh", files, what)
    elif "d2m" in ds:
        raise DataError(f"{label}: d2m without t2m; relative humidity needs both (add 2m temperature)")
    if "z" in ds:
        z = ds["z"].isel(time=0, drop=True) if "time" in ds["z"].dims else ds["z"]
        unit = str(z.attrs.get("units", "m**2 s**-2")).replace(" ", "")
        if unit not in ("m**2s**-2", "m2s-2", "m^2s^-2"):
            raise DataError(f"{label}: variable z has unit {unit!r}; expected geopotential in m**2 s**-2")
        out["elevation"] = provenance(z / GRAVITY, "elevation", files, f"elevation = z / {GRAVITY} m s-2")
    return xr.Dataset(out)
