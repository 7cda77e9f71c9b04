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


def daily_case_values(daily: pd.DataFrame) -> pd.DataFrame:
    """``test_daily.csv`` rows of the model (with run_id and group) → group, metric, init_time (the day), loss."""
    if daily.empty:
        return pd.DataFrame({"group": [], "metric": [], "init_time": [], "loss": []})
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
            prefix = column[: -len("_tp")]
            for score, (num, den) in RATIOS.items():
                a = sum(part[f"{prefix}_{c}"].to_numpy() for c in num)
                b = sum(part[f"{prefix}_{c}"].to_numpy() for c in den)
                name = f"test/{score}_{found['var']}_daily_gt{found['threshold']}_{float(lead):g}h"
                rows.append(
                    pd.DataFrame({"group": group, "metric": name, "init_time": days, "loss": pseudo_values(a, b)})
                )
        if "mda8_weight" in part and (part["mda8_weight"] > 0).any():
            ok = part["mda8_weight"] > 0
            mse = part["mda8_sse"][ok] / part["mda8_weight"][ok]
            name = f"test/mda8_rmse_o3_{float(lead):g}h"
            rows.append(pd.DataFrame({"group": group, "metric": name, "init_time": days[ok], "loss": mse}))
    frame = (
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["group", "metric", "init_time", "loss"])
    )
    return frame.dropna(subset=["loss"])
