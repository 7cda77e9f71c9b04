"""Daily scores get per-day series for the case-level tests: pseudo-values that average to the score exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aqnet.compare import analysis
from aqnet.compare.daily import daily_case_values, pseudo_values
from aqnet.tasks.forecast.daily import contingency_scores


def _daily(group: str, seed: int, days: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, size=(days, 4)).astype(float)
    return pd.DataFrame(
        {
            "day": pd.date_range("2018-01-01", periods=days, freq="D").date,
            "lead_hours": 24.0,
            "source": "model",
            "mda8_sse": rng.uniform(1, 5, days),
            "mda8_weight": 2.0,
            **{f"pm25_gt75_{c}": counts[:, i] for i, c in enumerate(("tp", "fp", "fn", "tn"))},
            "run_id": f"{group}-run",
            "group": group,
        }
    )


def test_pseudo_values_average_to_the_ratio_of_sums() -> None:
    a, b = np.array([1.0, 0.0, 3.0, 2.0]), np.array([2.0, 1.0, 4.0, 2.0])
    assert pseudo_values(a, b).mean() == pytest.approx(a.sum() / b.sum())
    assert np.isnan(pseudo_values(a * 0, b * 0)).all()


def test_daily_case_values_give_each_scores_series_and_the_case_test_runs() -> None:
    frame = pd.concat([_daily("topoflow", 0), _daily("none", 1)], ignore_index=True)
    values = daily_case_values(frame)
    csi = values[(values["metric"] == "test/csi_pm25_daily_gt75_24h") & (values["group"] == "none")]
    part = frame[frame["group"] == "none"]
    expected = contingency_scores(*(part[f"pm25_gt75_{c}"].sum() for c in ("tp", "fp", "fn", "tn")))["csi"]
    assert len(csi) == 30 and csi["loss"].mean() == pytest.approx(expected)
    assert {"test/pod_pm25_daily_gt75_24h", "test/far_pm25_daily_gt75_24h", "test/mda8_rmse_o3_24h"} <= set(
        values["metric"]
    )
    table = analysis.case_comparisons(values, ["test/csi_pm25_daily_gt75_24h"], [("topoflow", "none")], n_boot=200)
    (row,) = table.to_dict("records")
    assert row["n_cases"] == 30 and row["spacing_h"] == pytest.approx(24.0) and np.isfinite(row["p_dm"])
