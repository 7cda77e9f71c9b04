"""Per-day series of the daily scores, so that the case-level tests apply to them as to the per-case MSE.

A daily score is a ratio of sums over days (CSI = Σtp / Σ(tp + fp + fn)). Its per-day *pseudo-values*
v_d = R + (a_d − R·b_d) / mean(b), with R = Σa / Σb the group's score, average exactly to R, and their serial
dependence is the score's own (the first-order, delta-method linearisation of the ratio): the paired series
v_d(candidate) − v_d(reference) has the score difference as its mean, and the block bootstrap and Diebold–Mariano
test it like any per-case series. MDA8's per-day series is its per-day mean squared error. The counts of a group's
runs are averaged per day first.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# score → (numerator, denominator) of the contingency ratio; ETS has no such form and gets seed-level tests only
RATIOS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "csi": (("tp",), ("tp", "fp", "fn")),
    "pod": (("tp",), ("tp", "fn")),
    "far": (("fp",), ("tp", "fp")),
}
_COUNT = re.compile(r"^(?P<var>[a-z0-9]+)_gt(?P<threshold>[0-9.]+)_tp$")


def pseudo_values(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """v_d = R + (a_d − R·b_d) / mean(b): per-day values whose mean is R = Σa / Σb (NaN if Σb = 0)."""
    total = denominator.sum()
    if total <= 0:
        return np.full(len(numerator), np.nan)
    ratio = numerator.sum() / total
    return ratio + (numerator - ratio * denominator) / denominator.mean()


def _ratio_rows(part: pd.DataFrame, times: pd.Series, group: str, name: str, columns: list[str]) -> list[pd.DataFrame]:
    """The pseudo-value series of every contingency ratio of every ``{prefix}_tp`` column; ``name`` formats a
    metric from (score, prefix); a ``{prefix}_brier`` / ``{prefix}_weight`` pair adds the Brier score's series."""
    rows = []
    for column in columns:
        if not column.endswith("_tp"):
            continue
        prefix = column[: -len("_tp")]
        for score, (num, den) in RATIOS.items():
            a = sum(part[f"{prefix}_{c}"].to_numpy() for c in num)
            b = sum(part[f"{prefix}_{c}"].to_numpy() for c in den)
            metric = name.format(score=score, prefix=prefix)
            rows.append(
                pd.DataFrame({"group": group, "metric": metric, "init_time": times, "loss": pseudo_values(a, b)})
            )
        if f"{prefix}_brier" in part and f"{prefix}_weight" in part:
            a, b = part[f"{prefix}_brier"].to_numpy(), part[f"{prefix}_weight"].to_numpy()
            metric = name.format(score="brier", prefix=prefix)
            rows.append(
                pd.DataFrame({"group": group, "metric": metric, "init_time": times, "loss": pseudo_values(a, b)})
            )
    return rows


def _frame(rows: list[pd.DataFrame]) -> pd.DataFrame:
    frame = (
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["group", "metric", "init_time", "loss"])
    )
    return frame.dropna(subset=["loss"])


def case_count_values(counts: pd.DataFrame) -> pd.DataFrame:
    """``test_case_counts.csv`` rows of the model (with run_id and group; one row per init time × lead) → group,
    metric (``test/{score}_{channel}_{lead}h``), init_time, loss: the per-case pseudo-values of each ratio score."""
    if counts.empty:
        return _frame([])
    counts = counts[counts["source"] == "model"]
    columns = [c for c in counts.columns if c.endswith(("_tp", "_fp", "_fn", "_tn", "_brier", "_weight"))]
    mean = counts.groupby(["group", "lead_hours", "init_time"], as_index=False)[columns].mean()
    rows = []
    for (group, lead), part in mean.groupby(["group", "lead_hours"]):
        part = part.sort_values("init_time")
        name = "test/{score}_{prefix}_" + f"{float(lead):g}h"
        rows += _ratio_rows(part, pd.to_datetime(part["init_time"], utc=True), group, name, columns)
    return _frame(rows)


def daily_case_values(daily: pd.DataFrame) -> pd.DataFrame:
    """``test_daily.csv`` rows of the model (with run_id and group) → group, metric, init_time (the day), loss."""
    if daily.empty:
        return _frame([])
    daily = daily[daily["source"] == "model"]
    counts = [c for c in daily.columns if c.endswith(("_tp", "_fp", "_fn", "_tn")) or c.startswith("mda8_")]
    mean = daily.groupby(["group", "lead_hours", "day"], as_index=False)[counts].mean()
    rows = []
    for (group, lead), part in mean.groupby(["group", "lead_hours"]):
        part = part.sort_values("day")
        days = pd.to_datetime(part["day"], utc=True)
        for column in counts:
            found = _COUNT.match(column)
            if not found:
                continue
            name = "test/{score}_" + f"{found['var']}_daily_gt{found['threshold']}_{float(lead):g}h"
            rows += _ratio_rows(part, days, group, name, [column])
        if "mda8_weight" in part and (part["mda8_weight"] > 0).any():
            ok = part["mda8_weight"] > 0
            mse = part["mda8_sse"][ok] / part["mda8_weight"][ok]
            name = f"test/mda8_rmse_o3_{float(lead):g}h"
            rows.append(pd.DataFrame({"group": group, "metric": name, "init_time": days[ok], "loss": mse}))
    return _frame(rows)
