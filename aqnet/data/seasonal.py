"""The climatology by hour of day × season of the training years: the strongest simple reference of a forecast.

For each of ``bins`` day-of-year windows (centred every 365.25/bins days, half-width ``window_days``; with the
defaults, about a month each) and each hour of day, the mean over the training years' frames in that window and at
that hour, per pixel, NaN-aware. A window without any training frame (a store that samples only part of the year)
takes the nearest window that has data, so every valid time has a value where the pixel was ever valid.

Computed with dask in one pass over the training frames and cached like the normalisation statistics
(``<cache_dir>/stats/seasonal-<key>/``, lock + atomic rename).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np

from aqnet.data.store import StoreHandle
from aqnet.errors import DataError
from aqnet.utils.atomic import atomic_output, file_lock

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class SeasonalClimatology:
    """Mean per (day-of-year window, hour of day, variable, pixel): ``values`` [n_bins, n_hours, V, H, W]."""

    centres: np.ndarray  # day of year (1-based, fractional) of each window's centre
    window_days: float
    hours: np.ndarray  # int64 hours of day present in the training data
    variables: tuple[str, ...]
    values: np.ndarray  # float32, NaN where a pixel was never valid

    def __post_init__(self) -> None:
        expected = (len(self.centres), len(self.hours), len(self.variables))
        if self.values.shape[:3] != expected:
            raise ValueError(f"seasonal climatology values {self.values.shape} do not match {expected} + (H, W)")


def day_of_year(times: np.ndarray) -> np.ndarray:
    """Fractional day of year (1.0 = 1 January 00 UTC) of datetime64 times."""
    t = np.asarray(times).astype("datetime64[s]")
    start = t.astype("datetime64[Y]").astype("datetime64[s]")
    return 1.0 + (t - start).astype(np.int64) / 86400.0


def circular_days(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in days between days of year on the 365.25-day circle."""
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) % DAYS_PER_YEAR
    return np.minimum(d, DAYS_PER_YEAR - d)


def window_centres(bins: int) -> np.ndarray:
    return 1.0 + (np.arange(bins) + 0.5) * DAYS_PER_YEAR / bins


def compute_seasonal_climatology(
    handle: StoreHandle,
    variables: Sequence[str],
    train_years: Sequence[int],
    window_days: float = 15.0,
    bins: int = 12,
) -> SeasonalClimatology:
    if bins < 1 or window_days <= 0:
        raise DataError(f"seasonal climatology needs bins >= 1 and window_days > 0, got {bins} and {window_days}")
    years = handle.times.astype("datetime64[Y]").astype(np.int64) + 1970
    train = np.flatnonzero(np.isin(years, list(train_years)))
    if not len(train):
        raise DataError(f"no time in training years {list(train_years)} in store {handle.path}")
    times = handle.times[train]
    hour = times.astype("datetime64[h]").astype(np.int64) % 24
    hours = np.unique(hour)
    centres = window_centres(bins)
    in_window = circular_days(day_of_year(times)[None, :], centres[:, None]) <= window_days  # [bins, T]
    lazy = {}
    for name in variables:
        data = handle.canonical(name).isel(time=train).data
        data = data if isinstance(data, da.Array) else da.from_array(data)
        finite = da.isfinite(data)
        clean = da.where(finite, data, 0.0)
        lazy[name] = [
            [(finite[sel].sum(axis=0), clean[sel].sum(axis=0)) for sel in (in_window[b] & (hour == h) for h in hours)]
            for b in range(bins)
        ]
    try:
        with dask.config.set(scheduler="threads"):
            (results,) = dask.compute(lazy)
    except Exception as err:
        raise DataError(
            f"reading the training years of store {handle.path} failed (corrupt chunk?): "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from None
    shape = (bins, len(hours), len(variables), *handle.grid_shape)
    count, total = np.zeros(shape), np.zeros(shape)
    for v, name in enumerate(variables):
        for b in range(bins):
            for h in range(len(hours)):
                count[b, h, v], total[b, h, v] = results[name][b][h]
    count, total = _fill_empty_windows(count, total, centres)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
    return SeasonalClimatology(centres, float(window_days), hours.astype(np.int64), tuple(variables), values)


def _fill_empty_windows(count: np.ndarray, total: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows (per hour) with no training frame take the nearest window that has one."""
    filled = count.reshape(count.shape[0], count.shape[1], -1).sum(-1) > 0  # [bins, hours]
    for h in range(count.shape[1]):
        have = np.flatnonzero(filled[:, h])
        if not len(have):
            continue
        for b in np.flatnonzero(~filled[:, h]):
            nearest = have[np.argmin(circular_days(centres[have], centres[b]))]
            count[b, h], total[b, h] = count[nearest, h], total[nearest, h]
    return count, total


def load_or_compute_seasonal_climatology(
    handle: StoreHandle,
    variables: Sequence[str],
    train_years: Sequence[int],
    window_days: float = 15.0,
    bins: int = 12,
) -> SeasonalClimatology:
    """Cached :func:`compute_seasonal_climatology` (concurrent-safe: lock + atomic directory rename)."""
    text = json.dumps([handle.fingerprint, sorted(train_years), list(variables), float(window_days), int(bins)])
    target = handle.cache_dir / "stats" / f"seasonal-{hashlib.sha256(text.encode()).hexdigest()[:24]}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target):
            if not target.exists():
                clim = compute_seasonal_climatology(handle, variables, train_years, window_days, bins)
                with atomic_output(target) as tmp:
                    tmp.mkdir()
                    meta = {
                        "store": str(handle.path),
                        "centres": clim.centres.tolist(),
                        "window_days": clim.window_days,
                        "hours": clim.hours.tolist(),
                        "variables": list(clim.variables),
                    }
                    (tmp / "seasonal.json").write_text(json.dumps(meta, indent=1))
                    np.save(tmp / "seasonal.npy", clim.values)
                return clim
    meta = json.loads((target / "seasonal.json").read_text())
    return SeasonalClimatology(
        np.asarray(meta["centres"]),
        float(meta["window_days"]),
        np.asarray(meta["hours"], dtype=np.int64),
        tuple(meta["variables"]),
        np.load(target / "seasonal.npy"),
    )
