"""Small synthetic zarr stores for the data tests, with switches that inject each defect a user store may have.

The canonical grid is ascending lat (30..44) and lon (-10..20, crossing 0° so a 0-360 copy is a real permutation);
values depend only on (seed, time, canonical pixel), so layout variants of one seed hold the same physical field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from aqnet.variables import INPUT_VARIABLES, VARIABLES

YEARS = tuple(range(2013, 2019))


def make_times(years: Sequence[int] = YEARS, days: int = 5, step_hours: int = 6) -> np.ndarray:
    """One contiguous block of regular times per year (like the benchmark), starting 10 January."""
    blocks = [pd.date_range(f"{y}-01-10", periods=days * 24 // step_hours, freq=f"{step_hours}h") for y in years]
    return np.concatenate([b.values for b in blocks]).astype("datetime64[ns]")


def canonical_fields(
    times: np.ndarray, n_lat: int = 8, n_lon: int = 16, seed: int = 0, nan_fraction: float = 0.02
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    lat = 30.0 + 2.0 * np.arange(n_lat)
    lon = -10.0 + 2.0 * np.arange(n_lon)
    shape = (len(times), n_lat, n_lon)
    hours = (times.astype("datetime64[h]").astype(np.int64) % 24)[:, None, None]
    elevation = np.clip(rng.gamma(1.5, 600.0, (n_lat, n_lon)), 0, 5000)
    elevation[:, :3] = 0.0  # "sea" columns, masked out
    fields: dict[str, np.ndarray] = {
        "u": rng.normal(0, 5, shape),
        "v": rng.normal(0, 5, shape),
        "temp": 285 + 8 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 2, shape),
        "rh": np.clip(rng.normal(60, 15, shape), 5, 100),
        "psfc": 101325 - 12 * elevation[None] + rng.normal(0, 300, shape),
        "pm25": rng.lognormal(3.5, 0.8, shape),
        "pm10": rng.lognormal(4.0, 0.7, shape),
        "so2": rng.lognormal(2.5, 0.9, shape),
        "no2": rng.lognormal(3.0, 0.6, shape),
        "co": rng.lognormal(6.7, 0.4, shape),
        "o3": rng.lognormal(4.0, 0.4, shape),
        "lat2d": np.broadcast_to(lat[:, None], (n_lat, n_lon)).copy(),
        "lon2d": np.broadcast_to(lon[None, :], (n_lat, n_lon)).copy(),
        "elevation": elevation,
        "population": rng.lognormal(4, 1.5, (n_lat, n_lon)),
        "mask": (elevation > 0).astype(np.uint8),
    }
    if nan_fraction:
        for name in ("pm25", "o3"):
            fields[name][rng.random(shape) < nan_fraction] = np.nan
    return lat, lon, fields


def make_store(
    path: Path,
    *,
    years: Sequence[int] = YEARS,
    days: int = 5,
    step_hours: int = 6,
    n_lat: int = 8,
    n_lon: int = 16,
    seed: int = 0,
    variables: Sequence[str] = (*INPUT_VARIABLES, "mask"),
    units: dict[str, str | None] | None = None,
    co_mg: bool = False,
    descending_lat: bool = False,
    lon_360: bool = False,
    time_name: str = "time",
    lat_name: str = "lat",
    lon_name: str = "lon",
    extra_dims: dict[str, int] | None = None,
    all_nan: str | None = None,
    inf_var: str | None = None,
    scale: dict[str, float] | None = None,
    duplicate_time: bool = False,
    unsorted_time: bool = False,
    nan_fraction: float = 0.02,
    time_chunk: int = 8,
) -> Path:
    """Write a small store to ``path`` and return it. Each keyword injects one variant or defect."""
    times = make_times(years, days, step_hours)
    lat, lon, fields = canonical_fields(times, n_lat, n_lon, seed, nan_fraction)
    unit_of = {name: VARIABLES[name].units for name in fields}
    if co_mg:
        fields["co"] = fields["co"] / 1000.0
        unit_of["co"] = "mg m-3"
    unit_of.update(units or {})
    for name, factor in (scale or {}).items():  # values in other units than the attribute claims
        fields[name] = fields[name] * factor
    if all_nan:
        fields[all_nan] = np.full_like(fields[all_nan], np.nan, dtype=np.float64)
    if inf_var:
        fields[inf_var] = fields[inf_var].astype(np.float64)
        fields[inf_var].flat[7] = np.inf
    lat_idx = np.arange(n_lat)[::-1] if descending_lat else np.arange(n_lat)
    lon_values = np.mod(lon, 360.0) if lon_360 else lon
    lon_idx = np.argsort(lon_values, kind="stable")
    if duplicate_time:
        times[5] = times[4]
    if unsorted_time:
        times[[3, 4]] = times[[4, 3]]
    extra = extra_dims or {}
    data_vars = {}
    for name in variables:
        values = fields[name][..., lat_idx, :][..., lon_idx]
        if name == "lon2d" and lon_360:
            values = np.mod(values, 360.0)
        dims: tuple[str, ...] = (lat_name, lon_name) if VARIABLES[name].static else (time_name, lat_name, lon_name)
        if not VARIABLES[name].static and extra:
            for size in extra.values():
                values = np.repeat(values[None], size, axis=0)
            dims = (*extra, *dims)
        attrs = {"long_name": VARIABLES[name].long_name}
        if unit_of[name] is not None:
            attrs["units"] = unit_of[name]
        dtype = np.uint8 if name == "mask" else np.float32
        data_vars[name] = xr.Variable(dims, values.astype(dtype), attrs)
    coords = {time_name: times, lat_name: lat[lat_idx], lon_name: lon_values[lon_idx]}
    coords.update({dim: np.arange(size) for dim, size in extra.items()})
    ds = xr.Dataset(data_vars, coords=coords)
    encoding = {
        name: {
            "chunks": tuple(
                min(time_chunk, s) if d == time_name else s for d, s in zip(ds[name].dims, ds[name].shape, strict=True)
            )
        }
        for name in data_vars
    }
    ds.to_zarr(path, mode="w-", encoding=encoding, consolidated=False)
    return path


def chunk_files(path: Path, variable: str) -> list[Path]:
    """The chunk files of one array (zarr v3 ``c/`` layout or v2 flat files)."""
    root = path / variable
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs"))


def corrupt_chunk(path: Path, variable: str, truncate: bool = False) -> Path:
    """Overwrite (or truncate) one chunk of ``variable`` with garbage; returns the damaged file."""
    target = chunk_files(path, variable)[1]
    if truncate:
        target.write_bytes(target.read_bytes()[:10])
    else:
        target.write_bytes(b"\x00garbage\xff" * 7)
    return target


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under ``path``: equal snapshots mean nothing was written or deleted."""
    return {
        str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }
