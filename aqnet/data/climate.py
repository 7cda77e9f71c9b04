"""Realism figures of a store, per built-in region (``aqnet-data inspect --climate``).

Each region's series is the mean over its land cells (``mask`` = 1; all cells if the store has no mask), like a
regional average of stations. Daily means are calendar days (UTC) with every time step present. Winter is
December-February, summer June-August.

- annual / winter mean PM2.5 (ug m-3), the 99th percentile of the series at the store's step;
- days per year with a daily mean above 75 and 150 ug m-3 (China's grade-II limit and "heavy pollution");
- lag-1..3-day autocorrelation of winter daily means (anomalies from the winter mean; pairs of consecutive days);
- the diurnal-cycle share of winter variance of PM2.5, NO2 and O3: per cell, the variance of the mean hour-of-day
  cycle over the total variance, then averaged over the region's cells;
- summer MDA8 O3: the daily maximum of the 8-h running mean (at a coarser step, the nearest whole number of steps,
  at least one), its mean and day-to-day standard deviation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from aqnet.data.regions import RegionBox, builtin_regions
from aqnet.errors import DataError

NEEDED: tuple[str, ...] = ("pm25", "no2", "o3")
MIN_SEASON_DAYS = 14  # complete winter and summer days a store needs for the figures
WINTER_MONTHS, SUMMER_MONTHS = (12, 1, 2), (6, 7, 8)


@dataclass(frozen=True)
class RegionClimate:
    region: RegionBox
    annual_mean: float
    winter_mean: float
    p99: float
    days_above_75: float  # per year
    days_above_150: float
    winter_lag: tuple[float, float, float]  # lag-1..3 autocorrelation of winter daily means
    diurnal_share: dict[str, float]  # pm25, no2, o3 (winter)
    summer_mda8_mean: float
    summer_mda8_std: float
    winter_daily: pd.Series  # region-mean daily PM2.5 in winter (for episode counts)

    def episodes_per_winter(self, threshold: float = 75.0, min_days: int = 3) -> dict[int, int]:
        """Runs of at least ``min_days`` consecutive days above ``threshold`` in each winter (by Dec-Feb season,
        named by its January's year)."""
        daily = self.winter_daily
        season = np.where(daily.index.month == 12, daily.index.year + 1, daily.index.year)
        out: dict[int, int] = {}
        for year in sorted(set(season.tolist())):
            days = daily[season == year]
            above = (days > threshold).to_numpy()
            consecutive = np.diff(days.index.to_numpy().astype("datetime64[D]").astype(np.int64)) == 1
            run, count = 0, 0
            for k, hot in enumerate(above):
                if not hot:
                    run = 0
                    continue
                run = run + 1 if k > 0 and consecutive[k - 1] else 1
                if run == min_days:
                    count += 1
            out[int(year)] = count
        return out


def _region_mean(field: np.ndarray, cells: np.ndarray) -> np.ndarray:
    return field[:, cells].mean(axis=1)


def _daily(series: pd.Series, per_day: int) -> pd.Series:
    grouped = series.groupby(series.index.floor("D"))
    means = grouped.mean()
    return means[grouped.count() == per_day]


def _lag_correlations(daily: pd.Series, lags: tuple[int, ...] = (1, 2, 3)) -> tuple[float, ...]:
    anomaly = daily - daily.mean()
    day_numbers = daily.index.to_numpy().astype("datetime64[D]").astype(np.int64)
    lookup = dict(zip(day_numbers.tolist(), anomaly.to_numpy().tolist(), strict=True))
    out = []
    for lag in lags:
        pairs = np.array([(a, lookup[d + lag]) for d, a in lookup.items() if d + lag in lookup])
        out.append(float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]) if len(pairs) > 2 else float("nan"))
    return tuple(out)


def _diurnal_share(values: np.ndarray, hours: np.ndarray) -> float:
    """values [T, N] of N cells; mean over cells of var(hour-of-day mean) / var(total)."""
    centred = values - values.mean(axis=0)
    cycle = np.zeros_like(centred)
    for hour in np.unique(hours):
        at = hours == hour
        cycle[at] = centred[at].mean(axis=0)
    total = centred.var(axis=0)
    share = np.where(total > 0, cycle.var(axis=0) / np.maximum(total, 1e-30), 0.0)
    return float(share.mean())


def _mda8(series: pd.Series, step_hours: float, per_day: int) -> pd.Series:
    window = max(1, round(8 / step_hours))
    by_day = series.groupby(series.index.floor("D"))
    complete = by_day.count() == per_day
    rolling = by_day.transform(lambda day: day.rolling(window, min_periods=window).mean())
    daily_max = rolling.groupby(series.index.floor("D")).max()
    return daily_max[complete].dropna()


def region_climates(ds: xr.Dataset, store: object = "<store>") -> list[RegionClimate]:
    """The figures of every built-in region with at least one land cell in the store's grid."""
    missing = [name for name in NEEDED if name not in ds]
    if missing:
        raise DataError(f"store {store} lacks {', '.join(missing)}: --climate needs {', '.join(NEEDED)}")
    times = pd.DatetimeIndex(ds["time"].values)
    if len(times) < 2:
        raise DataError(f"store {store} has {len(times)} time step(s): --climate needs at least a season")
    step_hours = float(np.median(np.diff(times.values)) / np.timedelta64(1, "h"))
    per_day = max(1, round(24 / step_hours))
    counts = pd.Series(1, index=times).groupby(times.floor("D")).count()
    days = counts.index[counts.to_numpy() == per_day]
    winter_days = int(np.isin(days.month, WINTER_MONTHS).sum())
    summer_days = int(np.isin(days.month, SUMMER_MONTHS).sum())
    if winter_days < MIN_SEASON_DAYS or summer_days < MIN_SEASON_DAYS:
        raise DataError(
            f"store {store} has {winter_days} complete winter (Dec-Feb) and {summer_days} summer (Jun-Aug) days: "
            f"--climate needs at least {MIN_SEASON_DAYS} of each"
        )
    lat, lon = ds["lat"].values, ds["lon"].values
    land = ds["mask"].values > 0 if "mask" in ds else np.ones((lat.size, lon.size), bool)
    fields = {name: ds[name].values.astype(np.float64) for name in NEEDED}
    winter = np.isin(times.month, WINTER_MONTHS)
    summer = np.isin(times.month, SUMMER_MONTHS)
    n_years = len(set(times.year.tolist()))
    out = []
    for region in builtin_regions():
        cells = region.mask(lat, lon) & land
        if not cells.any():
            continue
        pm = pd.Series(_region_mean(fields["pm25"], cells), index=times)
        daily = _daily(pm, per_day)
        winter_daily = daily[np.isin(daily.index.month, WINTER_MONTHS)]
        o3 = pd.Series(_region_mean(fields["o3"], cells), index=times)
        mda8 = _mda8(o3[summer], step_hours, per_day)
        hours = times.hour.to_numpy()[winter]
        out.append(
            RegionClimate(
                region=region,
                annual_mean=float(pm.mean()),
                winter_mean=float(pm[winter].mean()),
                p99=float(np.percentile(pm.to_numpy(), 99)),
                days_above_75=float((daily > 75).sum() / n_years),
                days_above_150=float((daily > 150).sum() / n_years),
                winter_lag=_lag_correlations(winter_daily),  # type: ignore[arg-type]
                diurnal_share={n: _diurnal_share(fields[n][winter][:, cells], hours) for n in NEEDED},
                summer_mda8_mean=float(mda8.mean()),
                summer_mda8_std=float(mda8.std()),
                winter_daily=winter_daily,
            )
        )
    return out


def box_mean(ds: xr.Dataset, box: RegionBox, name: str = "pm25") -> float:
    """Time and land-cell mean of ``name`` inside ``box`` (e.g. the annual mean PM2.5 of eastern China)."""
    cells = box.mask(ds["lat"].values, ds["lon"].values)
    if "mask" in ds:
        cells &= ds["mask"].values > 0
    return float(ds[name].values[:, cells].mean())


def format_climate(climates: list[RegionClimate], path: Path | str) -> str:
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, width=160, color_system=None, force_terminal=False)
    table = Table(title=f"climate of {path} (PM2.5, O3 in ug m-3; region means over land cells)")
    columns = ["region", "annual", "winter", "p99", "d>75/yr", "d>150/yr", "lag1", "lag2", "lag3",
               "diurnal pm25", "diurnal no2", "diurnal o3", "MDA8 O3 JJA", "MDA8 std"]  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name == "region" else "right")
    for c in climates:
        table.add_row(
            c.region.title,
            *(f"{x:.1f}" for x in (c.annual_mean, c.winter_mean, c.p99, c.days_above_75, c.days_above_150)),
            *(f"{x:.2f}" for x in c.winter_lag),
            *(f"{100 * c.diurnal_share[n]:.0f}%" for n in NEEDED),
            f"{c.summer_mda8_mean:.1f}",
            f"{c.summer_mda8_std:.1f}",
        )
    console.print(table)
    console.print("lag: autocorrelation of winter daily means; diurnal: share of winter variance in the hour-of-day "
                  "cycle; d>75/yr: days per year with a daily mean above 75 ug m-3")  # fmt: skip
    return out.getvalue().rstrip()
