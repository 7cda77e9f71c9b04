"""The evaluation files: per-case errors (``test_cases.csv``) and per-pixel error maps (``test_error_maps.nc``).

pandas/xarray only, so ``aqnet-compare`` reads them without importing torch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

SOURCES: tuple[str, ...] = ("model", "persistence", "climatology")
CASES_FILE = "test_cases.csv"
MAPS_FILE = "test_error_maps.nc"
DAILY_FILE = "test_daily.csv"  # per local day, lead and source: daily-score counts (aqnet.tasks.forecast.daily)
# per case and source: contingency counts ``{channel}_{tp|fp|fn|tn}`` and Brier sums (aqnet.tasks.exceedance.cases)
COUNTS_FILE = "test_case_counts.csv"
CASE_COLUMNS: tuple[str, ...] = ("init_time", "lead_hours", "variable", "source", "sse", "weight", "rmse")


def write_cases(frame: pd.DataFrame, path: Path) -> Path:
    """The cases table as CSV, init times in ISO 8601 UTC (``2018-01-01T00:00:00Z``)."""
    out = frame[list(CASE_COLUMNS)].copy()
    out["init_time"] = pd.to_datetime(out["init_time"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False, float_format="%.10g")
    return Path(path)


def write_case_counts(frame: pd.DataFrame, path: Path) -> Path:
    """A per-case counts table as CSV, init times in ISO 8601 UTC."""
    out = frame.copy()
    out["init_time"] = pd.to_datetime(out["init_time"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False, float_format="%.10g")
    return Path(path)


def read_cases(path: Path) -> pd.DataFrame:
    """A ``test_cases.csv`` back as a frame with tz-aware UTC ``init_time``."""
    frame = pd.read_csv(path)
    missing = [c for c in CASE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}")
    frame["init_time"] = pd.to_datetime(frame["init_time"], utc=True)
    return frame


def write_maps(maps: xr.Dataset, path: Path) -> Path:
    """The error maps as netCDF4 (compressed); written to a temporary sibling first."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    encoding = {name: {"zlib": True, "complevel": 4} for name in maps.data_vars}
    maps.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    tmp.replace(path)
    return Path(path)


def read_maps(path: Path) -> xr.Dataset:
    """A ``test_error_maps.nc`` loaded into memory (the file is closed on return)."""
    with xr.open_dataset(path, engine="netcdf4") as ds:
        return ds.load()
