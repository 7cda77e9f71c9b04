"""Tables and tests of ``aqnet-compare``, pure pandas/numpy over loaded data (statistics from :mod:`.stats` and
:mod:`.serial`).

Inputs: a runs frame (one row per finished run: ``group``, ``seed``, one column per metric) and, for the case-level
test, a cases frame (``run_id``, ``group``, ``init_time``, ``lead_hours``, ``variable``, ``sse``, ``weight``; model
source only). A comparison is a pair (group, reference): each group against the baseline group that matches its other
keys (:func:`baseline_pairs`), or any two groups picked by selectors (:func:`explicit_pairs`). Every difference is
group − reference, so for an error metric a negative value favours the group.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from aqnet.compare import direction, serial, stats

RMSE_RE = re.compile(r"^test/rmse_(?P<var>[a-z0-9]+)_(?P<lead>[0-9.]+)h$")
LEAD_RE = re.compile(r"_(?P<lead>[0-9.]+)h$")
P_COLUMNS: tuple[str, ...] = ("p_seed", "p_boot", "p_dm")
NOT_APPLICABLE = "n/a"  # a grouping key the run's config option does not have (physics_bias.direction of none)


def summary_table(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """metric, group, mean, std (NaN for one run), n, best (one group per metric), note."""
    rows = []
    for metric in metrics:
        for group, values in runs.groupby("group", sort=True)[metric]:
            values = values.dropna()
            if values.empty:
                rows.append({"metric": metric, "group": group, "mean": math.nan, "std": math.nan, "n": 0})
                continue
            s = stats.summarise(values.to_numpy())
            rows.append({"metric": metric, "group": group, "mean": s.mean, "std": s.std, "n": s.n})
    table = pd.DataFrame(rows, columns=["metric", "group", "mean", "std", "n"])
    table["note"] = np.select([table["n"] == 0, table["n"] == 1], ["not logged", "one run: no std"], "")
    table["best"] = False
    for metric, part in table.groupby("metric", sort=False):
        score = direction.badness(metric, part["mean"])
        if score.notna().any() and len(part) > 1:
            table.loc[score.idxmin(), "best"] = True
    return table


Pair = tuple[str, str]  # (group, reference)


def seed_comparisons(runs: pd.DataFrame, metrics: Sequence[str], pairs: Sequence[Pair]) -> pd.DataFrame:
    """Per pair and metric: paired t over seeds when both groups ran the same seeds once each, Welch otherwise;
    ``better`` names the arm whose mean is better by the metric's :func:`~aqnet.compare.direction.direction`."""
    rows = []
    for group, base in pairs:
        cand_runs, base_runs = runs[runs["group"] == group], runs[runs["group"] == base]
        for metric in metrics:
            c = cand_runs[["seed", metric]].dropna()
            b = base_runs[["seed", metric]].dropna()
            row = {"group": group, "baseline": base, "metric": metric}
            if c.empty or b.empty:
                rows.append({**row, "method": "none", "note": "not logged in both groups"})
                continue
            cs, bs = c["seed"].astype(str), b["seed"].astype(str)
            paired = cs.is_unique and bs.is_unique and set(cs) == set(bs)
            if paired:
                c, b = c.set_index(cs).sort_index(), b.set_index(bs).sort_index()
                d = stats.paired_seed_difference(c[metric].to_numpy(), b[metric].to_numpy())
            else:
                d = stats.welch_difference(c[metric].to_numpy(), b[metric].to_numpy())
            enough = len(c) > 1 if paired else min(len(c), len(b)) > 1
            note = (
                "" if math.isfinite(d.p_value) else "no seed-level test: " + ("no spread" if enough else "too few runs")
            )
            means = float(c[metric].mean()), float(b[metric].mean())
            row.update(mean=means[0], mean_baseline=means[1], better=direction.better(metric, *means))
            row.update(diff=d.mean, ci_low=d.ci_low, ci_high=d.ci_high, p_seed=d.p_value, n_seed=d.n)
            rows.append({**row, "method": d.method, "note": note})
    columns = ["group", "baseline", "metric", "mean", "mean_baseline", "better", "diff", "ci_low", "ci_high"]
    columns += ["p_seed", "n_seed", "method", "note"]
    return pd.DataFrame(rows, columns=columns)


def case_losses(cases: pd.DataFrame) -> pd.DataFrame:
    """Per group, variable, lead and init time: the per-case MSE (sse / weight) averaged over the group's runs.

    Duplicated cases within a run (DDP pads the last batch) are averaged first; cases without weight are dropped.
    """
    cases = cases[cases["weight"] > 0].assign(loss=lambda f: f["sse"] / f["weight"])
    keys = ["group", "variable", "lead_hours", "init_time"]
    per_run = cases.groupby(["run_id", *keys], as_index=False)["loss"].mean()
    out = per_run.groupby(keys, as_index=False).agg(loss=("loss", "mean"), n_runs=("run_id", "nunique"))
    names = [f"test/rmse_{v}_{float(h):g}h" for v, h in zip(out["variable"], out["lead_hours"], strict=True)]
    return out.assign(metric=names)


def _spacing_hours(init_times: pd.Series) -> float:
    """The init-time step: the median positive gap between consecutive cases (NaN when all times are equal)."""
    seconds = ((init_times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    steps = np.diff(seconds)
    return float(np.median(steps[steps > 0])) / 3600 if (steps > 0).any() else math.nan


def _case_test(diff_frame: pd.DataFrame, lead: float, n_boot: int, seed: int) -> dict[str, object]:
    """Block bootstrap and Diebold–Mariano on one paired, init-time ordered series, their windows in cases at least
    the lead plus one day at the store's init step."""
    frame = diff_frame.sort_values("init_time")
    t = len(frame)
    out: dict[str, object] = {"n_cases": t, "case_diff": float(frame["d"].mean()) if t else math.nan}
    if t < 3:
        return {**out, "case_note": f"{t} paired case(s): too few for a case-level test"}
    spacing_h = _spacing_hours(frame["init_time"])
    if not spacing_h > 0:
        return {**out, "case_note": "repeated init times: no spacing to infer"}
    horizon, floor = serial.horizon_cases(lead, spacing_h), serial.dependence_floor(lead, spacing_h)
    notes = []
    if horizon >= t:
        notes.append(f"DM horizon {horizon} capped at {t - 1}")
        horizon = t - 1
    boot = serial.circular_block_bootstrap(frame["d"].to_numpy(), min_block=floor, n_boot=n_boot, seed=seed)
    dm = serial.diebold_mariano(frame["cand"].to_numpy(), frame["base"].to_numpy(), horizon, min_bandwidth=floor)
    if floor > min(boot.window, dm.window):
        notes.append(f"{t} cases: windows shorter than the lead plus one day ({floor} cases)")
    return {
        **out,
        "spacing_h": spacing_h,
        "horizon": horizon,
        "block_length": boot.window,
        "dm_bandwidth": dm.window,
        "boot_low": boot.ci_low,
        "boot_high": boot.ci_high,
        "p_boot": boot.p_value,
        "dm_low": dm.ci_low,
        "dm_high": dm.ci_high,
        "p_dm": dm.p_value,
        "case_note": "; ".join(notes),
    }


def case_comparisons(
    losses: pd.DataFrame | None, metrics: Sequence[str], pairs: Sequence[Pair], n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per pair and metric with a per-case series (``losses``: group, metric, init_time, loss; the per-case MSE of
    test/rmse_{var}_{lead}h, the per-day pseudo-values of a daily score): the difference series and its two tests."""
    rows = []
    if losses is None or losses.empty:
        losses = pd.DataFrame({"group": [], "metric": [], "init_time": [], "loss": []})
    with_cases = set(losses["metric"])
    for group, base in pairs:
        for metric in metrics:
            m = LEAD_RE.search(metric)
            if not m or (metric not in with_cases and not RMSE_RE.match(metric)):
                continue  # a score without per-case series (e.g. NMB): seed-level tests only
            lead = float(m["lead"])
            sel = losses["metric"] == metric
            cand = losses[sel & (losses["group"] == group)][["init_time", "loss"]]
            basel = losses[sel & (losses["group"] == base)][["init_time", "loss"]]
            paired = cand.merge(basel, on="init_time", suffixes=("_c", "_b"))
            paired = paired.rename(columns={"loss_c": "cand", "loss_b": "base"}).assign(d=lambda f: f.cand - f.base)
            row = {"group": group, "baseline": base, "metric": metric}
            if paired.empty:
                reason = "no per-case errors (evaluation/test_cases.csv, test_daily.csv) for both groups"
                rows.append({**row, "n_cases": 0, "case_note": reason})
                continue
            rows.append({**row, **_case_test(paired, lead, n_boot, seed)})
    columns = ["group", "baseline", "metric", "n_cases", "spacing_h", "horizon", "block_length", "dm_bandwidth"]
    columns += ["case_diff"]
    columns += ["boot_low", "boot_high", "p_boot", "dm_low", "dm_high", "p_dm", "case_note"]
    return pd.DataFrame(rows, columns=columns)


def correct(table: pd.DataFrame, method: stats.AdjustMethod = "holm") -> pd.DataFrame:
    """Adds ``<p>_adj`` for each p column: adjusted within each comparison's (group, reference) family of metrics."""
    table = table.copy()
    for column in P_COLUMNS:
        if column not in table:
            continue
        table[f"{column}_adj"] = np.nan
        for _, part in table.groupby(["group", "baseline"], sort=False):
            table.loc[part.index, f"{column}_adj"] = stats.adjust(part[column].to_numpy(dtype=float), method)
    return table


def comparisons(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    pairs: Sequence[Pair],
    losses: pd.DataFrame | None,
    method: stats.AdjustMethod = "holm",
    n_boot: int = 2000,
) -> pd.DataFrame:
    """Seed-level and case-level tests side by side, one row per (pair, metric), p-values adjusted."""
    seeds = seed_comparisons(runs, metrics, pairs)
    cases = case_comparisons(losses, metrics, pairs, n_boot=n_boot)
    table = seeds.merge(cases, on=["group", "baseline", "metric"], how="left")
    for column in P_COLUMNS:
        if column not in table:
            table[column] = np.nan
    return correct(table, method)
