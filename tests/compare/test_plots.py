"""aqnet.compare.plots: what the difference-by-lead figure marks, and that it draws from a comparisons table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aqnet.compare import plots


def comparisons(p_boot: list[float], p_dm: list[float]) -> pd.DataFrame:
    metrics = [f"test/rmse_pm25_{lead}h" for lead in (12, 24, 48)]
    return pd.DataFrame(
        {"group": "physics_bias=topoflow", "baseline": "physics_bias=none", "metric": metrics,
         "diff": [-0.1, -0.05, 0.0], "ci_low": [-0.3, -0.2, np.nan], "ci_high": [0.1, 0.1, np.nan],
         "p_boot_adj": p_boot, "p_dm_adj": p_dm}
    )  # fmt: skip


def test_a_case_level_result_needs_both_tests() -> None:
    frame = comparisons([0.01, 0.01, np.nan], [0.001, 0.2, 0.001])
    assert plots.both_case_tests_significant(frame).tolist() == [True, False, False]
    without = frame.drop(columns=["p_dm_adj"])  # no case-level test ran
    assert plots.both_case_tests_significant(without).tolist() == [False, False, False]


def test_difference_by_lead_draws_a_table_and_skips_an_empty_one(tmp_path: Path) -> None:
    path = plots.difference_by_lead(comparisons([0.01] * 3, [0.01] * 3), ["a", "b"], tmp_path / "d.png")
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    assert plots.difference_by_lead(pd.DataFrame(columns=["metric"]), [], tmp_path / "e.png") is None
    assert not (tmp_path / "e.png").exists()
