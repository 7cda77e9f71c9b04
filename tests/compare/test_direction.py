"""aqnet.compare.direction: which way is better, read from the metric's name."""

from __future__ import annotations

import math

import pytest

from aqnet.compare import direction


@pytest.mark.parametrize(
    ("metric", "way"),
    [
        ("test/rmse_pm25_24h", "lower"),
        ("test/damped_persistence_rmse_o3_12h", "lower"),
        ("test/far_pm25_75_24h", "lower"),
        ("test/brier_pm25_150_24h", "lower"),
        ("val/loss", "lower"),
        ("test/skill_persistence_o3_12h", "higher"),
        ("test/climatology_skill_rmse_pm25_24h", "higher"),  # a skill of an RMSE is a skill
        ("test/csi_pm25_75_24h", "higher"),
        ("test/ets_pm25_150_96h", "higher"),
        ("test/pod_pm25_75_24h", "higher"),
        ("test/acc_o3_48h", "higher"),
        ("test/r_no2_24h", "higher"),
        ("test/f1_pm25_75_24h", "higher"),
        ("test/ap_pm25_75_24h", "higher"),
        ("test/bss_pm25_75_24h", "higher"),
        ("test/bias_pm25_24h", "zero"),
        ("test/persistence_bias_o3_12h", "zero"),
        ("test/nmb_so2_24h", "zero"),
        ("test/nme_so2_24h", "lower"),
        ("test/rmse_pm25_24h_apex", "lower"),  # tokens, not substrings: "apex" is not "ap"
    ],
)
def test_direction_by_name_tokens(metric: str, way: str) -> None:
    assert direction.direction(metric) == way


def test_better_reads_the_direction() -> None:
    assert direction.better("test/rmse_pm25_24h", 7.0, 8.0) == "group"
    assert direction.better("test/csi_pm25_75_24h", 0.2, 0.3) == "reference"
    assert direction.better("test/bias_co_12h", -1.0, 2.0) == "group"  # |−1| < |2|
    assert direction.better("test/rmse_pm25_24h", 7.0, 7.0) == "equal"
    assert direction.better("test/rmse_pm25_24h", math.nan, 7.0) == ""
