"""Sources onto one time axis: the common period, at the common step (the coarsest source's) or ``--step``."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import xarray as xr

from aqnet.data.convert.common import Part
from aqnet.errors import DataError

__all__ = ["parse_step", "common_times", "on_times"]

_STEP = re.compile(r"^(\d+)\s*(h|hour|hours|d|day|days)$")


def parse_step(text: str | None) -> np.timedelta64 | None:
    if text is None:
        return None
    match = _STEP.match(text.strip().lower())
    if not match or int(match.group(1)) < 1:
        raise DataError(f"--step {text}: expected a whole number of hours or days, e.g. 1h, 3h, 1d")
    hours = int(match.group(1)) * (24 if match.group(2).startswith("d") else 1)
    return np.timedelta64(hours, "h").astype("timedelta64[ns]")


def _in_years(times: np.ndarray, years: Sequence[int] | None) -> np.ndarray:
    if not years:
        return times
    return times[np.isin(times.astype("datetime64[Y]").astype(np.int64) + 1970, list(years))]


def common_times(parts: Sequence[Part], step: np.timedelta64 | None, years: Sequence[int] | None) -> np.ndarray:
    """The target time axis: the times every source has (inside ``years``) that fall on the step (from 00 UTC)."""
    dynamic = [p for p in parts if p.dynamic]
    if not dynamic:
        raise DataError("no source has time-dependent variables; give at least one gridded time series")
    shared = None
    for part in dynamic:
        times = _in_years(part.times, years)
        if not len(times):
            raise DataError(f"{part.label} ({part.period}) has no time in --years {' '.join(map(str, years or []))}")
        shared = times if shared is None else np.intersect1d(shared, times)
    if not len(shared):
        periods = "; ".join(f"{p.label} {p.period}" for p in dynamic)
        raise DataError(f"the sources' periods do not overlap (no time in common): {periods}")
    steps = {p.label: np.timedelta64(round((p.step_hours or 1) * 3600), "s").astype("timedelta64[ns]") for p in dynamic}
    step = max(steps.values()) if step is None else step
    finer = [f"{label} ({s / np.timedelta64(1, 'h'):g} h)" for label, s in steps.items() if step < s]
    if finer:
        raise DataError(f"--step {step / np.timedelta64(1, 'h'):g}h is finer than the step of {', '.join(finer)}")
    day = shared.astype("datetime64[D]").astype("datetime64[ns]")
    times = shared[(shared - day) % step == np.timedelta64(0)]
    if not len(times):
        raise DataError(f"no common time of the sources falls on a {step / np.timedelta64(1, 'h'):g} h step")
    return times


def on_times(part: Part, times: np.ndarray) -> xr.Dataset:
    """The part's dynamic variables at exactly ``times`` (every source has them: see :func:`common_times`)."""
    return part.data[part.dynamic].sel(time=times)
