"""How much two paired benchmark variants differ (``aqnet-data compare-variants A B``), e.g. blocking on vs off.

Over the land cells within ``RELIEF_DISTANCE_KM`` of relief above ``RELIEF_M`` (cells included), on daily means:

    ratio = RMS over (cells, days) of (A - B)  /  sqrt(mean over cells of the temporal variance of A)

i.e. the size of the difference against the size of the day-to-day signal. The stores must be paired: the same
grid and times (the same size, seed, box and years), which is checked first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import distance_transform_edt

from aqnet.errors import DataError

RELIEF_M = 1000.0
RELIEF_DISTANCE_KM = 300.0
KM_PER_DEG = 111.2


@dataclass(frozen=True)
class Contrast:
    variable: str
    n_cells: int
    rms_difference: float  # units of the variable
    temporal_std: float
    blocking: tuple[str, str]  # aqnet_blocking of each store ("?" if absent)

    @property
    def ratio(self) -> float:
        return self.rms_difference / self.temporal_std if self.temporal_std > 0 else float("nan")

    def format(self) -> str:
        a, b = self.blocking
        return (
            f"{self.variable} daily means, {self.n_cells} land cells within {RELIEF_DISTANCE_KM:g} km of relief above "
            f"{RELIEF_M:g} m: RMS(A - B) = {self.rms_difference:.2f}, temporal std of A = {self.temporal_std:.2f}, "
            f"ratio = {self.ratio:.2f} (A: blocking={a}, B: blocking={b})"
        )


def near_relief(ds: xr.Dataset) -> np.ndarray:
    """(lat, lon) mask: land cells within RELIEF_DISTANCE_KM of a cell higher than RELIEF_M."""
    lat = ds["lat"].values
    high = ds["elevation"].values > RELIEF_M
    res_lat = float(np.abs(np.diff(lat)).mean())
    res_lon = float(np.abs(np.diff(ds["lon"].values)).mean()) * float(np.cos(np.deg2rad(lat.mean())))
    distance_km = distance_transform_edt(~high, sampling=(res_lat * KM_PER_DEG, res_lon * KM_PER_DEG))
    land = ds["mask"].values > 0 if "mask" in ds else np.ones(high.shape, bool)
    return (distance_km <= RELIEF_DISTANCE_KM) & land


def _daily(da: xr.DataArray, cells: np.ndarray) -> np.ndarray:
    values = da.values[:, cells].astype(np.float64)
    days = pd.DatetimeIndex(da["time"].values).floor("D")
    frame = pd.DataFrame(values).groupby(days).mean()
    return frame.to_numpy()


def contrast(a: xr.Dataset, b: xr.Dataset, variable: str = "pm25", names: tuple[str, str] = ("A", "B")) -> Contrast:
    for ds, name in zip((a, b), names, strict=True):
        missing = [v for v in (variable, "elevation") if v not in ds]
        if missing:
            raise DataError(f"{name} lacks {', '.join(missing)}: compare-variants needs {variable} and elevation")
    for coord in ("time", "lat", "lon"):
        if a[coord].shape != b[coord].shape or not np.array_equal(a[coord].values, b[coord].values):
            raise DataError(f"{names[0]} and {names[1]} are not paired: their {coord} axes differ")
    cells = near_relief(a)
    if not cells.any():
        raise DataError(f"{names[0]} has no land cell within {RELIEF_DISTANCE_KM:g} km of relief above {RELIEF_M:g} m")
    daily_a, daily_b = _daily(a[variable], cells), _daily(b[variable], cells)
    rms = float(np.sqrt(np.mean((daily_a - daily_b) ** 2)))
    std = float(np.sqrt(np.mean(daily_a.var(axis=0))))
    blocking = tuple(str(ds.attrs.get("aqnet_blocking", "?")) for ds in (a, b))
    return Contrast(variable, int(cells.sum()), rms, std, blocking)  # type: ignore[arg-type]


def compare_stores(path_a: Path, path_b: Path, variable: str = "pm25") -> Contrast:
    from aqnet.data.store import open_dataset

    a, b = (open_dataset(p, chunks=None)[0] for p in (path_a, path_b))
    return contrast(a, b, variable, (str(path_a), str(path_b)))
