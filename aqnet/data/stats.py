"""Normalisation statistics and the hour-of-day climatology, from the training years only, with dask; cached.

Everything is in canonical physical units and canonical (ascending lat/lon) order. Means/stds are NaN-aware
(over finite values). For heavy-tailed variables the stats of ``log1p(max(x, 0))`` are stored too (clipping because
a slightly negative concentration from interpolation must not become NaN); the model picks the transform by config.

Cache: ``<cache_dir>/stats/<key>/{stats.json, climatology.npy}``, key = hash(store fingerprint, training years,
variables, climatology variables); the directory is built under a file lock and renamed into place in one step.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np

from aqnet.data.store import StoreHandle
from aqnet.errors import DataError
from aqnet.utils.atomic import atomic_output, file_lock
from aqnet.variables import VARIABLES

__all__ = ["Statistics", "Climatology", "load_or_compute_statistics", "compute_statistics"]


@dataclass(frozen=True)
class Statistics:
    """Per-variable scalars by name; ``log_*`` only for heavy-tailed variables."""

    mean: dict[str, float]
    std: dict[str, float]
    log_mean: dict[str, float]
    log_std: dict[str, float]
    train_years: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "log_mean": self.log_mean,
            "log_std": self.log_std,
            "train_years": list(self.train_years),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Statistics:
        return cls(data["mean"], data["std"], data["log_mean"], data["log_std"], tuple(data["train_years"]))


@dataclass(frozen=True)
class Climatology:
    """Mean per hour of day (UTC) and pixel over the training years: values [n_hours, V, H, W] (NaN = no data)."""

    hours: np.ndarray  # int64, ascending, the hours of day present in the training data
    variables: tuple[str, ...]
    values: np.ndarray

    def at(self, hour: int, variable: str | None = None) -> np.ndarray:
        """[V, H, W] (or [H, W] for one variable) at an hour of day; KeyError if that hour never occurs."""
        pos = np.flatnonzero(self.hours == int(hour) % 24)
        if not len(pos):
            raise KeyError(f"hour {hour} not in the climatology (hours present: {self.hours.tolist()})")
        frame = self.values[pos[0]]
        return frame if variable is None else frame[self.variables.index(variable)]


def _cache_key(
    handle: StoreHandle, variables: Sequence[str], clim_vars: Sequence[str], train_years: Sequence[int]
) -> str:
    text = json.dumps([handle.fingerprint, sorted(train_years), sorted(variables), list(clim_vars)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load_or_compute_statistics(
    handle: StoreHandle, variables: Sequence[str], train_years: Sequence[int], climatology_variables: Sequence[str] = ()
) -> tuple[Statistics, Climatology]:
    """Cached :func:`compute_statistics` (concurrent-safe: lock + atomic directory rename)."""
    variables = sorted(set(variables) | set(climatology_variables))
    target = handle.cache_dir / "stats" / _cache_key(handle, variables, climatology_variables, train_years)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target):
            if not target.exists():
                stats, clim = compute_statistics(handle, variables, train_years, climatology_variables)
                with atomic_output(target) as tmp:
                    tmp.mkdir()
                    meta = {
                        "store": str(handle.path),
                        "fingerprint": handle.fingerprint,
                        **stats.to_dict(),
                        "climatology_hours": clim.hours.tolist(),
                        "climatology_variables": clim.variables,
                    }
                    (tmp / "stats.json").write_text(json.dumps(meta, indent=1))
                    np.save(tmp / "climatology.npy", clim.values)
                return stats, clim
    meta = json.loads((target / "stats.json").read_text())
    clim = Climatology(
        np.asarray(meta["climatology_hours"], dtype=np.int64),
        tuple(meta["climatology_variables"]),
        np.load(target / "climatology.npy"),
    )
    return Statistics.from_dict(meta), clim


def compute_statistics(
    handle: StoreHandle, variables: Sequence[str], train_years: Sequence[int], climatology_variables: Sequence[str] = ()
) -> tuple[Statistics, Climatology]:
    """One dask compute over the training frames of every variable (static fields: all pixels)."""
    variables = sorted(set(variables) | set(climatology_variables))
    years = handle.times.astype("datetime64[Y]").astype(np.int64) + 1970
    train = np.flatnonzero(np.isin(years, list(train_years)))
    if not len(train):
        raise DataError(f"no time in training years {list(train_years)} in store {handle.path}")
    hours_of_day = handle.times[train].astype("datetime64[h]").astype(np.int64) % 24
    hours = np.unique(hours_of_day)
    lazy: dict[str, Any] = {}
    for name in variables:
        x = handle.canonical(name)
        if "time" in x.dims:
            x = x.isel(time=train)
        data = x.data if isinstance(x.data, da.Array) else da.from_array(x.values)
        finite = da.isfinite(data)
        clean = da.where(finite, data, 0.0)
        lazy[name] = [finite.sum(), clean.sum(), (clean**2).sum()]
        if VARIABLES.get(name) is not None and VARIABLES[name].heavy_tailed:
            logged = da.where(finite, da.log1p(da.maximum(clean, 0.0)), 0.0)
            lazy[name] += [logged.sum(), (logged**2).sum()]
        if name in climatology_variables:
            for hour in hours:
                sel = hours_of_day == hour
                lazy[name] += [finite[sel].sum(axis=0), clean[sel].sum(axis=0)]
    try:
        with dask.config.set(scheduler="threads"):
            (results,) = dask.compute(lazy)
    except Exception as err:
        raise DataError(
            f"reading the training years of store {handle.path} failed (corrupt chunk?): "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from None
    mean, std, log_mean, log_std = {}, {}, {}, {}
    for name in variables:
        res = results[name]
        n, s1, s2 = (float(v) for v in res[:3])
        if n == 0:
            raise DataError(
                f"variable {name!r} in store {handle.path} has no finite value in the training years "
                f"{list(train_years)}"
            )
        mean[name], std[name] = s1 / n, float(np.sqrt(max(s2 / n - (s1 / n) ** 2, 0.0)))
        if VARIABLES.get(name) is not None and VARIABLES[name].heavy_tailed:
            l1, l2 = float(res[3]), float(res[4])
            log_mean[name], log_std[name] = l1 / n, float(np.sqrt(max(l2 / n - (l1 / n) ** 2, 0.0)))
    clim = np.full((len(hours), len(climatology_variables), *handle.grid_shape), np.nan, dtype=np.float32)
    for v, name in enumerate(climatology_variables):
        extra = results[name][5 if name in log_mean else 3 :]
        for h in range(len(hours)):
            count, total = extra[2 * h], extra[2 * h + 1]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pixels never finite stay NaN
                clim[h, v] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    stats = Statistics(mean, std, log_mean, log_std, tuple(int(y) for y in train_years))
    return stats, Climatology(hours.astype(np.int64), tuple(climatology_variables), clim)
