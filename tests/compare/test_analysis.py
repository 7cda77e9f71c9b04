"""aqnet.compare.analysis on a fixed example, against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from aqnet.compare import analysis, serial

A, B, C, D = "physics_bias=none", "physics_bias=topoflow", "physics_bias=adaptive", "physics_bias=odd"
PM25, O3 = "test/rmse_pm25_24h", "test/rmse_o3_24h"


def example_runs() -> pd.DataFrame:
    """A and B ran seeds 0-2 (paired); C ran seeds 5, 6 (Welch against A); D ran once."""
    rows = [
        (A, "0", 10.0, 5.0),
        (A, "1", 12.0, 6.0),
        (A, "2", 14.0, 7.0),
        (B, "2", 12.0, 8.0),  # out of seed order on purpose: pairing is by seed, not by row
        (B, "0", 9.0, 5.0),
        (B, "1", 11.0, 6.0),
        (C, "5", 9.0, 5.0),
        (C, "6", 11.0, 5.0),
        (D, "0", 20.0, 9.0),
    ]
    frame = pd.DataFrame(rows, columns=["group", "seed", PM25, O3])
    frame["physics_bias"] = frame["group"].str.split("=").str[1]
    return frame


def test_summary_gives_mean_std_n_and_marks_the_best_group() -> None:
    table = analysis.summary_table(example_runs(), [PM25, O3]).set_index(["metric", "group"])
    a, b, c, d = (table.loc[(PM25, g)] for g in (A, B, C, D))
    assert (a["mean"], a["std"], a["n"]) == (12.0, 2.0, 3)
    assert b["mean"] == pytest.approx(32 / 3) and b["std"] == pytest.approx(math.sqrt(7 / 3))
    assert c["mean"] == 10.0 and c["std"] == pytest.approx(math.sqrt(2))
    assert d["n"] == 1 and math.isnan(d["std"]) and d["note"] == "one run: no std"
    assert table.loc[PM25].query("best").index.tolist() == [C]  # lowest mean RMSE
    assert table.loc[O3].query("best").index.tolist() == [C]  # 5.0 beats 6.0


def test_best_group_follows_the_metric_direction() -> None:
    runs = pd.DataFrame(
        {"group": [A, B, C], "test/bias_co_12h": [-3.0, 1.0, 2.0], "test/csi_pm25_75_24h": [0.2, 0.1, 0.3]}
    )
    table = analysis.summary_table(runs, ["test/bias_co_12h", "test/csi_pm25_75_24h"])
    assert table.query("best")[["metric", "group"]].values.tolist() == [
        ["test/bias_co_12h", B],
        ["test/csi_pm25_75_24h", C],
    ]


def test_seed_level_differences_paired_or_welch() -> None:
    runs = example_runs()
    table = analysis.seed_comparisons(runs, [PM25, O3], [(B, A), (C, A), (D, A)]).set_index(["group", "metric"])
    paired = table.loc[(B, PM25)]
    assert (paired["mean"], paired["mean_baseline"], paired["better"]) == (pytest.approx(32 / 3), 12.0, "group")
    # d = B - A by seed: (9-10, 11-12, 12-14) = (-1, -1, -2): mean -4/3, sd sqrt(1/3), se 1/3, t = -4 on 2 df
    assert paired["method"] == "paired-t" and paired["n_seed"] == 3
    assert paired["diff"] == pytest.approx(-4 / 3)
    assert paired["p_seed"] == pytest.approx(1 - 4 / math.sqrt(18))  # t(2) tail: 1/2 - t / (2 sqrt(t² + 2))
    half = 4.302652729911275 / 3  # t_0.975(2) · se
    assert (paired["ci_low"], paired["ci_high"]) == pytest.approx((-4 / 3 - half, -4 / 3 + half))
    # O3: d = (0, 0, 1): mean 1/3, se 1/3, t = 1 → p = 1 - 1/sqrt(3)
    assert table.loc[(B, O3), "p_seed"] == pytest.approx(1 - 1 / math.sqrt(3))
    assert table.loc[(B, O3), "better"] == "reference"  # 19/3 > 6: B has the higher error

    welch = table.loc[(C, PM25)]
    # C (9, 11) vs A (10, 12, 14): diff -2, se² = 2/2 + 4/3 = 7/3, df = (7/3)² / (1²/1 + (4/3)²/2) = 49/17
    assert welch["method"] == "welch-t" and welch["n_seed"] == 5 and welch["diff"] == pytest.approx(-2.0)
    df = (7 / 3) ** 2 / (1 + (4 / 3) ** 2 / 2)
    assert df == pytest.approx(49 / 17)
    assert welch["p_seed"] == pytest.approx(2 * sps.t.sf(2 / math.sqrt(7 / 3), df))

    single = table.loc[(D, PM25)]
    assert math.isnan(single["p_seed"]) and "too few runs" in single["note"]


def test_holm_across_the_metric_family_of_each_group() -> None:
    comp = analysis.comparisons(example_runs(), [PM25, O3], [(B, A)], None, "holm")
    p1, p2 = 1 - 4 / math.sqrt(18), 1 - 1 / math.sqrt(3)
    assert comp["p_seed_adj"].tolist() == pytest.approx([2 * p1, max(2 * p1, p2)])
    assert comp["case_note"].str.contains("no per-case errors").all()
    none = analysis.comparisons(example_runs(), [PM25, O3], [(B, A)], None, "none")
    assert none["p_seed_adj"].tolist() == pytest.approx([p1, p2])


def example_cases() -> pd.DataFrame:
    """8 daily init times. A: one run, MSE 4 every case. B: two runs whose per-case MSEs average to
    (2, 3, 3, 4, 4, 4, 3, 3), so d = B - A = (-2, -1, -1, 0, 0, 0, -1, -1)."""
    times = pd.date_range("2018-01-01", periods=8, freq="24h", tz="UTC")
    b1 = [2, 3, 1, 4, 5, 3, 4, 2]
    b2 = [2, 3, 5, 4, 3, 5, 2, 4]
    rows = []
    for lead in (24.0, 48.0):
        for t, x1, x2 in zip(times, b1, b2, strict=True):
            rows.append(("a1", A, t, lead, "pm25", 8.0, 2.0))
            rows.append(("b1", B, t, lead, "pm25", 2.0 * x1, 2.0))
            rows.append(("b2", B, t, lead, "pm25", 3.0 * x2, 3.0))
    rows.append(("b1", B, times[0], 24.0, "pm25", 4.0, 2.0))  # a duplicated case (DDP padding): averaged away
    rows.append(("a1", A, times[0], 24.0, "o3", 0.0, 0.0))  # no valid pixel: dropped
    return pd.DataFrame(rows, columns=["run_id", "group", "init_time", "lead_hours", "variable", "sse", "weight"])


def test_case_losses_average_runs_per_case() -> None:
    losses = analysis.case_losses(example_cases())
    b = losses[(losses.group == B) & (losses.lead_hours == 24)].sort_values("init_time")
    assert b["loss"].tolist() == [2, 3, 3, 4, 4, 4, 3, 3] and (b["n_runs"] == 2).all()
    assert set(losses.variable) == {"pm25"}


def test_case_level_bootstrap_and_diebold_mariano() -> None:
    losses = analysis.case_losses(example_cases())
    table = analysis.case_comparisons(
        losses, [PM25, "test/rmse_pm25_48h", "test/mae_pm25_24h"], [(B, A)], n_boot=500
    ).set_index("metric")
    assert len(table) == 2  # MAE has no per-case squared errors: no case-level row
    row = table.loc[PM25]
    d = np.array([-2, -1, -1, 0, 0, 0, -1, -1], dtype=float)
    assert row["n_cases"] == 8 and row["case_diff"] == pytest.approx(-0.75)
    assert row["spacing_h"] == 24.0 and row["horizon"] == 1  # lead 24 h / daily inits
    # windows at least the lead plus one day: 48 h = 2 daily cases; too few cases for Politis–White
    assert row["block_length"] == 2 and row["dm_bandwidth"] >= 2
    boot = serial.circular_block_bootstrap(d, min_block=2, n_boot=500, seed=0)
    assert (row["boot_low"], row["boot_high"], row["p_boot"]) == pytest.approx(
        (boot.ci_low, boot.ci_high, boot.p_value)
    )
    dm = serial.diebold_mariano(d, np.zeros(8), horizon=1, min_bandwidth=2)
    assert (row["dm_low"], row["dm_high"], row["p_dm"]) == pytest.approx((dm.ci_low, dm.ci_high, dm.p_value))
    assert row["dm_bandwidth"] == dm.window and row["case_note"] == ""
    long = table.loc["test/rmse_pm25_48h"]
    assert long["horizon"] == 2 and long["block_length"] == 3  # 48 h / 24 h; (48 + 24) h / 24 h
    # the group minus its reference: the reversed pair flips every sign
    reverse = analysis.case_comparisons(losses, [PM25], [(A, B)], n_boot=500).iloc[0]
    assert reverse["case_diff"] == pytest.approx(0.75) and reverse["p_dm"] == pytest.approx(row["p_dm"])


def test_too_few_cases_are_reported_not_tested() -> None:
    losses = analysis.case_losses(example_cases())
    losses = losses[losses.init_time < pd.Timestamp("2018-01-03", tz="UTC")]
    row = analysis.case_comparisons(losses, [PM25], [(B, A)]).iloc[0]
    assert row["n_cases"] == 2 and math.isnan(row["p_boot"]) and "too few" in row["case_note"]
