"""Open any conforming zarr store lazily, normalise its layout, validate it once (cached by fingerprint).

Normalisation: ``valid_time`` -> ``time``, ``latitude``/``longitude`` -> ``lat``/``lon``, singleton extra dims
squeezed. Descending latitudes and 0-360 longitudes are not rewritten: the store keeps its native order and the
:class:`GridLayout` remembers the index permutation to ascending lat / [-180, 180) lon, applied lazily (dask
``isel``) for statistics and as a cheap numpy take on each frame read per sample.

Validation has a cheap structural part (every open) and a heavy scan (NaN fraction, inf, min/max, one dask pass per
variable over every chunk, which is also what catches corrupt chunks) whose results are cached as JSON under
``<cache_dir>/stores/<fingerprint>/scan-<variable>.json``. The store itself is only ever read.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from aqnet.data.units import Affine, conversion
from aqnet.errors import DataError
from aqnet.paths import cache_dir as default_cache_dir
from aqnet.utils.atomic import atomic_output, file_lock
from aqnet.variables import VARIABLES

__all__ = ["GridLayout", "StoreHandle", "VariableScan", "fingerprint", "open_dataset", "open_store", "SCANS"]

_RENAMES = {"valid_time": "time", "latitude": "lat", "longitude": "lon"}
_ROOT_META = ("zarr.json", ".zgroup", ".zattrs", ".zmetadata")
_ARRAY_META = ("zarr.json", ".zarray", ".zattrs")
SCANS: Counter[str] = Counter()  # variable scans actually performed, by "<store>:<variable>" (tests use it)


@dataclass(frozen=True)
class GridLayout:
    """How to turn the store's native (lat, lon) order into ascending lat / ascending lon (picklable)."""

    renames: dict[str, str]
    squeeze: tuple[str, ...]
    lat_order: np.ndarray | None  # None = already ascending
    lon_order: np.ndarray | None
    wrap_lon: bool  # longitudes (and lon2d values) mapped from 0-360 to [-180, 180)

    def reorder(self, frame: np.ndarray) -> np.ndarray:
        """Reorder the last two axes (lat, lon) of a numpy frame."""
        if self.lat_order is not None:
            frame = np.take(frame, self.lat_order, axis=-2)
        if self.lon_order is not None:
            frame = np.take(frame, self.lon_order, axis=-1)
        return frame


@dataclass(frozen=True)
class VariableScan:
    """Results of the heavy pass over one variable, in the store's own units."""

    size: int
    n_nan: int
    n_inf: int
    min: float | None  # over finite values; None if there are none
    max: float | None

    @property
    def nan_fraction(self) -> float:
        return self.n_nan / self.size if self.size else 0.0


@dataclass
class StoreHandle:
    """An opened, validated store: lazy dataset in native order plus everything needed to read it canonically."""

    path: Path
    variables: tuple[str, ...]
    dataset: xr.Dataset  # dask-backed, renamed/squeezed, native (lat, lon) order
    layout: GridLayout
    times: np.ndarray  # datetime64[ns], sorted, unique
    lat: np.ndarray  # ascending
    lon: np.ndarray  # ascending (wrapped to [-180, 180) when layout.wrap_lon)
    units: dict[str, str]  # as written in the store
    conversions: dict[str, Affine]  # store units -> canonical, for every requested variable
    fingerprint: str
    cache_dir: Path
    mask: np.ndarray | None = None  # [H, W] bool, canonical order
    scans: dict[str, VariableScan] = field(default_factory=dict)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return len(self.lat), len(self.lon)

    @property
    def years(self) -> np.ndarray:
        return np.unique(self.times.astype("datetime64[Y]").astype(int) + 1970)

    def canonical(self, name: str) -> xr.DataArray:
        """A lazy (dask) view of ``name`` in canonical units and (time?, lat, lon) ascending order."""
        arr = self.dataset[name]
        arr = arr.transpose(*[d for d in ("time", "lat", "lon") if d in arr.dims])
        if self.layout.lat_order is not None:
            arr = arr.isel(lat=self.layout.lat_order)
        if self.layout.lon_order is not None:
            arr = arr.isel(lon=self.layout.lon_order)
        arr = arr.assign_coords(lat=self.lat, lon=self.lon).astype(np.float64)
        arr = self.conversions[name](arr) if name in self.conversions else arr
        if name == "lon2d" and self.layout.wrap_lon:
            arr = (arr + 180.0) % 360.0 - 180.0
        return arr

    def validate(self, variables: tuple[str, ...] | None = None) -> dict[str, VariableScan]:
        """Run (or load from cache) the heavy scan; DataError on all-NaN / inf / unreadable variables."""
        for name in variables or self.variables:
            if name not in self.scans:
                self.scans[name] = _scan_cached(self, name)
            scan = self.scans[name]
            if scan.n_inf:
                raise DataError(
                    f"variable {name!r} in store {self.path} contains {scan.n_inf} infinite values; "
                    "replace them with NaN or valid numbers"
                )
            if scan.size and scan.n_nan == scan.size:
                raise DataError(
                    f"variable {name!r} in store {self.path} is all NaN; fill it or drop it from "
                    "the configured variables"
                )
        return self.scans


def fingerprint(path: Path) -> str:
    """Hash of the resolved path plus content and mtime of every metadata file (root + arrays), not chunks."""
    path = Path(path).resolve()
    digest = hashlib.sha256(str(path).encode())
    candidates = [path / n for n in _ROOT_META]
    with os.scandir(path) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir():
                candidates += [Path(entry.path) / n for n in _ARRAY_META]
    for meta in candidates:
        if meta.is_file():
            digest.update(str(meta.relative_to(path)).encode())
            digest.update(meta.read_bytes())
            digest.update(str(meta.stat().st_mtime_ns).encode())
    return digest.hexdigest()[:24]


def _check_path(path: Path) -> None:
    if not path.exists():
        raise DataError(f"store {path} does not exist; check data.path (or run `aqnet-data synth`)")
    if not path.is_dir() or not any((path / n).is_file() for n in _ROOT_META):
        raise DataError(
            f"{path} is not a zarr store (no zarr.json / .zgroup metadata); point data.path at a zarr directory"
        )


def open_dataset(path: Path, chunks: Any = "auto") -> tuple[xr.Dataset, GridLayout]:
    """Open ``path`` with xarray and normalise names/dims; ``chunks=None`` gives lazy non-dask arrays (reads)."""
    _check_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no consolidated metadata" and CF decoding chatter
            ds = xr.open_zarr(path, chunks=chunks, consolidated=None)
    except Exception as err:
        raise DataError(f"cannot open zarr store {path}: {type(err).__name__}: {err}") from None
    renames = {k: v for k, v in _RENAMES.items() if (k in ds.dims or k in ds.coords) and v not in ds.dims}
    ds = ds.rename(renames)
    extra = [d for d in ds.dims if d not in ("time", "lat", "lon")]
    bad = [f"{d}={ds.sizes[d]}" for d in extra if ds.sizes[d] != 1]
    if bad:
        raise DataError(
            f"store {path} has extra non-singleton dimension(s) {', '.join(bad)}; select one member "
            "before use (only time, lat, lon are supported)"
        )
    ds = ds.squeeze(extra, drop=True) if extra else ds
    for coord in ("lat", "lon"):
        if coord not in ds.coords or ds[coord].ndim != 1 or ds[coord].dims != (coord,):
            raise DataError(f"store {path} has no 1-D coordinate {coord!r} (or latitude/longitude); add it")
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = np.asarray(ds["lon"].values, dtype=np.float64)
    wrap = bool(lon.max() > 180.0)
    if wrap:
        wrapped = (lon + 180.0) % 360.0 - 180.0
        steps = np.diff(np.sort(wrapped))
        # a regional grid crossing the dateline would be split by wrapping: keep 0-360 there
        if len(steps) and steps.max() > 1.5 * np.median(steps) and not np.isclose(steps.sum(), 360, atol=2):
            wrap = False
        else:
            lon = wrapped
    lat_order, lon_order = np.argsort(lat, kind="stable"), np.argsort(lon, kind="stable")
    ident = np.arange(len(lat)), np.arange(len(lon))
    layout = GridLayout(
        renames=renames,
        squeeze=tuple(extra),
        lat_order=None if np.array_equal(lat_order, ident[0]) else lat_order,
        lon_order=None if np.array_equal(lon_order, ident[1]) else lon_order,
        wrap_lon=wrap,
    )
    if wrap:
        ds = ds.assign_coords(lon=lon)
    return ds, layout


def open_store(
    path: str | os.PathLike[str],
    variables: tuple[str, ...] | list[str],
    cache_dir: str | os.PathLike[str] | None = None,
    scan: bool = True,
) -> StoreHandle:
    """Open ``path`` lazily, check structure/units/times, and (``scan=True``) run the cached heavy validation."""
    path = Path(path).expanduser().resolve()
    ds, layout = open_dataset(path)
    variables = tuple(dict.fromkeys(variables))
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise DataError(
            f"variable(s) {', '.join(missing)} not in store {path}; it has: {', '.join(sorted(map(str, ds.data_vars)))}"
        )
    if "time" not in ds.coords or ds["time"].ndim != 1:
        raise DataError(f"store {path} has no 1-D time coordinate ('time' or 'valid_time')")
    times = np.asarray(ds["time"].values)
    if not np.issubdtype(times.dtype, np.datetime64):
        raise DataError(f"time coordinate of store {path} is not decodable as datetimes (CF units/calendar?)")
    times = times.astype("datetime64[ns]")
    steps = np.diff(times)
    if (steps == np.timedelta64(0)).any():
        raise DataError(
            f"store {path} has duplicated times, e.g. {times[1:][steps == np.timedelta64(0)][0]}; drop duplicates"
        )
    if (steps < np.timedelta64(0)).any():
        raise DataError(
            f"store {path} has unsorted times, e.g. {times[1:][steps < np.timedelta64(0)][0]}; sort by time"
        )
    units, conversions = {}, {}
    for name in variables:
        _check_dims(path, name, ds[name])
        units[name] = ds[name].attrs.get("units")
        if name in VARIABLES and not (name == "mask" and units[name] is None):
            conversions[name] = conversion(name, units[name], store=path)
    handle = StoreHandle(
        path=path,
        variables=variables,
        dataset=ds,
        layout=layout,
        times=times,
        lat=np.sort(np.asarray(ds["lat"].values, dtype=np.float64)),
        lon=np.sort(np.asarray(ds["lon"].values, dtype=np.float64)),
        units=units,
        conversions=conversions,
        fingerprint=fingerprint(path),
        cache_dir=Path(cache_dir).expanduser().resolve() if cache_dir else default_cache_dir(),
    )
    if "mask" in ds.data_vars:
        handle.mask = _load_mask(handle)
    if scan:
        handle.validate()
    return handle


def _check_dims(path: Path, name: str, arr: xr.DataArray) -> None:
    static = VARIABLES[name].static if name in VARIABLES else "time" not in arr.dims
    want = {"lat", "lon"} if static else {"time", "lat", "lon"}
    if set(arr.dims) != want:
        raise DataError(
            f"variable {name!r} in store {path} has dims {arr.dims}; expected "
            f"{'(lat, lon)' if static else '(time, lat, lon)'}"
        )


def _load_mask(handle: StoreHandle) -> np.ndarray:
    arr = handle.dataset["mask"]
    _check_dims(handle.path, "mask", arr)
    values = handle.layout.reorder(np.asarray(arr.transpose("lat", "lon").values, dtype=np.float64))
    if not np.isin(values[np.isfinite(values)], (0.0, 1.0)).all():
        raise DataError(f"variable 'mask' in store {handle.path} must hold only 0 and 1 (1 = scored)")
    return values == 1.0


def _scan_cached(handle: StoreHandle, name: str) -> VariableScan:
    target = handle.cache_dir / "stores" / handle.fingerprint / f"scan-{name}.json"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target):
            if not target.exists():  # another process may have finished it while we waited
                result = _scan(handle, name)
                with atomic_output(target) as tmp:
                    tmp.write_text(json.dumps({"store": str(handle.path), "variable": name, **asdict(result)}))
    data = json.loads(target.read_text())
    return VariableScan(**{k: data[k] for k in ("size", "n_nan", "n_inf", "min", "max")})


def _scan(handle: StoreHandle, name: str) -> VariableScan:
    """One dask pass over every chunk of one variable."""
    SCANS[f"{handle.path}:{name}"] += 1
    x = handle.dataset[name].data
    x = x if isinstance(x, da.Array) else da.from_array(x)
    x = x.astype(np.float64)
    finite = da.isfinite(x)
    parts = (
        da.isnan(x).sum(),
        da.isinf(x).sum(),
        da.where(finite, x, np.inf).min(),
        da.where(finite, x, -np.inf).max(),
    )
    try:
        with dask.config.set(scheduler="threads"):
            n_nan, n_inf, lo, hi = dask.compute(*parts)
    except Exception as err:
        raise DataError(
            f"variable {name!r} in store {handle.path} could not be read (corrupt or truncated "
            f"chunk?): {type(err).__name__}: {str(err)[:200]}"
        ) from None
    have = bool(np.isfinite(lo))
    return VariableScan(
        size=int(x.size),
        n_nan=int(n_nan),
        n_inf=int(n_inf),
        min=float(lo) if have else None,
        max=float(hi) if have else None,
    )
