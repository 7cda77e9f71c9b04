"""Station observations of China's national monitoring network into a (time, station) point store.

The network's daily CSVs (one file per day) have the columns ``date`` (YYYYMMDD), ``hour`` (0-23), ``type``, then
one column per station code. Each hour has 15 ``type`` rows: AQI and the 1-hour, 24-hour (and for O3 8-hour)
values of PM2.5, PM10, SO2, NO2, O3 and CO. The 1-hour rows are kept, matched exactly (``PM2.5`` is not
``PM2.5_24h``). The hour is period-ending Beijing time (UTC+8): hour h of date d is the mean over the hour ending
at d + h h local, stored at d + h h - 8 h UTC. PM and gases are µg m-3, CO mg m-3 (x 1000 -> µg m-3).

The station table (``--stations-table``) is a CSV with a code, latitude and longitude column (``code`` / ``lat`` /
``lon``, or the network's own 监测点编码 / 纬度 / 经度) and optionally ``elevation`` (m); without it the elevation
comes from pvlib's global grid at the station.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aqnet.data.units import conversion
from aqnet.errors import DataError

__all__ = ["read_station_csvs", "read_station_table", "TYPES", "HOURLY", "is_station_csv"]

HOURLY = {"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "O3": "o3", "CO": "co"}
TYPES = frozenset(
    {"AQI", "PM2.5_24h", "PM10_24h", "SO2_24h", "NO2_24h", "O3_24h", "O3_8h", "O3_8h_24h", "CO_24h", *HOURLY}
)
UNITS = {name: ("mg m-3" if name == "co" else "µg m-3") for name in HOURLY.values()}
_TABLE_COLUMNS = {
    "code": ("code", "station", "station_code", "监测点编码"),
    "lat": ("lat", "latitude", "纬度"),
    "lon": ("lon", "longitude", "经度"),
    "elevation": ("elevation", "altitude", "height", "海拔"),
}
BEIJING_UTC_OFFSET = np.timedelta64(8, "h")


def is_station_csv(path: Path) -> bool:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = [c.strip().lower() for c in handle.readline().split(",")[:3]]
    return header == ["date", "hour", "type"]


def _one_file(path: Path) -> pd.DataFrame:
    """Long rows (time, variable, station, value) of one daily CSV, in µg m-3."""
    try:
        df = pd.read_csv(path, dtype={"date": str, "type": str}, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read station CSV {path}: {err}") from None
    df.columns = [str(c).strip() for c in df.columns]
    if list(df.columns[:3]) != ["date", "hour", "type"] or len(df.columns) < 4:
        raise DataError(f"station CSV {path}: expected columns date, hour, type, then station codes")
    unknown = sorted(set(df["type"].astype(str)) - TYPES)
    if unknown:
        raise DataError(f"station CSV {path}: unknown type(s) {', '.join(unknown)}; known: {', '.join(sorted(TYPES))}")
    duplicated = df.duplicated(["date", "hour", "type"])
    if duplicated.any():
        row = df[duplicated].iloc[0]
        raise DataError(f"station CSV {path}: hour {row['hour']} of {row['date']} has type {row['type']} twice")
    if not df["hour"].between(0, 23).all():
        raise DataError(f"station CSV {path}: hours must be 0-23, found {sorted(set(df['hour']) - set(range(24)))}")
    df = df[df["type"].isin(list(HOURLY))]
    try:
        local = pd.to_datetime(df["date"], format="%Y%m%d") + pd.to_timedelta(df["hour"], unit="h")
    except ValueError as err:
        raise DataError(f"station CSV {path}: a date is not YYYYMMDD ({err})") from None
    wide = df.drop(columns=["date", "hour"]).assign(time=local.values - BEIJING_UTC_OFFSET)
    long = wide.melt(id_vars=["time", "type"], var_name="station", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long["variable"] = long["type"].map(HOURLY)
    long["file"] = path.name
    return long.drop(columns="type")


def read_station_csvs(files: list[Path]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(times UTC, station codes, {variable: [time, station] µg m-3}) from the daily CSVs."""
    long = pd.concat([_one_file(path) for path in sorted(files)], ignore_index=True)
    key = ["time", "variable", "station"]
    clash = long.duplicated(key, keep=False)
    if clash.any():
        rows = long[clash].sort_values(key)
        files_named = ", ".join(sorted(set(rows["file"])))
        raise DataError(f"station CSVs {files_named} both hold hour {rows['time'].iloc[0]} UTC; give each day once")
    times = pd.date_range(long["time"].min(), long["time"].max(), freq="h").values.astype("datetime64[ns]")
    codes = np.array(sorted(set(long["station"].astype(str))))
    values = {}
    for name, rows in long.groupby("variable"):
        table = rows.pivot(index="time", columns="station", values="value").reindex(index=times, columns=codes)
        values[str(name)] = conversion(str(name), UNITS[str(name)])(table.to_numpy(np.float64)).astype(np.float32)
    return times, codes, values


def read_station_table(path: Path | None, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(lat, lon, elevation) of ``codes`` from the table, and where the elevation came from."""
    if path is None:
        raise DataError("station CSVs need --stations-table FILE (code, lat, lon[, elevation] per station)")
    try:
        table = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read station table {path}: {err}") from None
    columns = {}
    for key, aliases in _TABLE_COLUMNS.items():
        hit = [c for c in table.columns if str(c).strip().lower() in aliases]
        if hit:
            columns[key] = hit[0]
        elif key != "elevation":
            raise DataError(f"station table {path}: no {key} column (one of {', '.join(aliases)})")
    table = table.set_index(table[columns["code"]].str.strip())
    missing = [c for c in codes if c not in table.index]
    if missing:
        raise DataError(
            f"station table {path} lacks station(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    rows = table.loc[list(codes)]
    lat, lon = (pd.to_numeric(rows[columns[k]], errors="coerce").to_numpy(np.float64) for k in ("lat", "lon"))
    if np.isnan(lat).any() or np.isnan(lon).any():
        raise DataError(f"station table {path}: a latitude or longitude is not a number")
    if "elevation" in columns:
        return lat, lon, pd.to_numeric(rows[columns["elevation"]], errors="coerce").to_numpy(np.float64), path.name
    from aqnet.data.terrain import elevation_at

    elevation = np.array([elevation_at(a, o) for a, o in zip(lat, lon, strict=True)])
    return lat, lon, elevation, "pvlib Altitude.h5 at each station"
