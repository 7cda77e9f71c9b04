"""Pooled, area-weighted metrics per variable × lead, and their names (docs/architecture.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from aqnet.tasks.forecast import SCORES
from aqnet.tasks.forecast.metrics import (
    MAE,
    NMB,
    NME,
    Bias,
    Correlation,
    ForecastMetrics,
    PooledRMSE,
    metric_name,
    skill,
    skill_scores,
)

LAT0 = torch.tensor([0.0, 0.0])  # equal weights


def test_pooled_rmse_is_sqrt_of_pooled_mse_not_mean_of_sample_rmse():
    target = torch.zeros(2, 1, 2, 2)
    pred = torch.zeros(2, 1, 2, 2)
    valid = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    pred[0] = 1.0  # sample 0: 4 valid pixels, error 1
    valid[0] = True
    pred[1, 0, 0, 0] = 3.0  # sample 1: 1 valid pixel, error 3
    valid[1, 0, 0, 0] = True
    m = PooledRMSE(["pm25"], [12], LAT0)
    m.update(pred, target, valid, torch.tensor([12.0, 12.0]))
    pooled = m.compute_grid()[0, 0].item()
    assert pooled == pytest.approx(math.sqrt((4 * 1 + 9) / 5))
    assert pooled != pytest.approx((1.0 + 3.0) / 2)  # mean of per-sample RMSEs


def test_latitude_weighting_in_metrics():
    lat = torch.tensor([0.0, 60.0])  # cos 1, 0.5
    target = torch.zeros(1, 1, 2, 1)
    pred = torch.tensor([[[[2.0], [4.0]]]])
    valid = torch.ones_like(pred, dtype=torch.bool)
    lead = torch.tensor([24.0])
    for cls, expected in [
        (PooledRMSE, math.sqrt((1 * 4 + 0.5 * 16) / 1.5)),
        (MAE, (1 * 2 + 0.5 * 4) / 1.5),
        (Bias, (1 * 2 + 0.5 * 4) / 1.5),
    ]:
        m = cls(["o3"], [24], lat)
        m.update(pred, target, valid, lead)
        assert m.compute_grid()[0, 0].item() == pytest.approx(expected)
    m = Bias(["o3"], [24], lat)
    m.update(-pred, target, valid, lead)
    assert m.compute_grid()[0, 0].item() < 0  # under-prediction is negative bias


def test_leads_are_bucketed_per_sample_and_invalid_pixels_ignored():
    target = torch.zeros(3, 2, 1, 2)
    pred = torch.stack([torch.full((2, 1, 2), v) for v in (1.0, 2.0, 3.0)])
    pred[:, 1] *= 10
    valid = torch.ones_like(pred, dtype=torch.bool)
    valid[2, :, 0, 1] = False
    pred[2, :, 0, 1] = float("nan")  # invalid and NaN: must not poison the sums
    m = MAE(["pm25", "no2"], [12, 24], LAT0)
    m.update(pred, target, valid, torch.tensor([12.0, 24.0, 12.0]))
    out = m.compute_grid()
    assert out[0].tolist() == pytest.approx([(1 + 1 + 3) / 3, 2.0])
    assert out[1].tolist() == pytest.approx([(10 + 10 + 30) / 3, 20.0])


def test_unknown_lead_is_an_error():
    m = PooledRMSE(["pm25"], [12], LAT0)
    with pytest.raises(ValueError, match="not among the configured leads"):
        m.update(
            torch.zeros(1, 1, 2, 1), torch.zeros(1, 1, 2, 1), torch.ones(1, 1, 2, 1, dtype=bool), torch.tensor([6.0])
        )


def test_states_are_sums_that_merge_across_ranks():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(6, 2, 2, 3, generator=g), torch.randn(6, 2, 2, 3, generator=g)
    valid = torch.rand(6, 2, 2, 3, generator=g) > 0.4
    lead = torch.tensor([12.0, 24.0, 12.0, 12.0, 24.0, 24.0])
    lat = torch.tensor([10.0, 50.0])
    whole = PooledRMSE(["a", "b"], [12, 24], lat)
    whole.update(pred, target, valid, lead)
    rank0, rank1 = PooledRMSE(["a", "b"], [12, 24], lat), PooledRMSE(["a", "b"], [12, 24], lat)
    rank0.update(pred[:1], target[:1], valid[:1], lead[:1])
    rank1.update(pred[1:], target[1:], valid[1:], lead[1:])
    rank0.merge_state(rank1)  # what dist_reduce_fx="sum" does across ranks
    assert torch.allclose(rank0.compute_grid(), whole.compute_grid())


def test_forecast_metrics_names_follow_design():
    fm = ForecastMetrics(["pm25", "o3"], [12, 24.0], LAT0)
    x = torch.rand(2, 2, 2, 1)
    valid = torch.ones_like(x, dtype=torch.bool)
    lead = torch.tensor([12.0, 24.0])
    for src in ("model", "persistence", "climatology"):
        fm.update(src, x + 1, x, valid, lead)
    fm.update_loss(torch.tensor(3.0), torch.tensor(4.0))
    out = fm.compute("val")
    expected = {"val/loss"}
    for var in ("pm25", "o3"):
        for lead_h in ("12", "24"):
            for score in SCORES:
                expected |= {
                    f"val/{score}_{var}_{lead_h}h",
                    f"val/persistence_{score}_{var}_{lead_h}h",
                    f"val/climatology_{score}_{var}_{lead_h}h",
                }
    assert set(out) == expected
    assert out["val/loss"] == pytest.approx(0.75)
    assert out["val/rmse_pm25_12h"] == pytest.approx(1.0) and out["val/bias_o3_24h"] == pytest.approx(1.0)
    fm.reset()
    assert fm.compute("val") == {}  # nothing seen: nothing reported (no NaN entries)


def test_metric_name_and_skill():
    assert metric_name("test", "rmse", "pm25", 12.0) == "test/rmse_pm25_12h"
    assert metric_name("test", "mae", "no2", 1.5, "climatology") == "test/climatology_mae_no2_1.5h"
    assert skill(1.0, 4.0) == pytest.approx(0.75)
    scores = skill_scores({"test/rmse_pm25_12h": 2.0, "test/persistence_rmse_pm25_12h": 4.0}, "test")
    assert scores == {"test/skill_persistence_pm25_12h": pytest.approx(0.5)}


def test_normalised_bias_error_and_correlation_against_hand_and_scipy_values():
    g = torch.Generator().manual_seed(0)
    lat = torch.tensor([0.0, 60.0])  # weights 1 and 0.5
    obs = 50 + 20 * torch.rand(3, 1, 2, 5, generator=g)
    pred = obs * 1.1 + 5 * torch.randn(3, 1, 2, 5, generator=g)
    valid = torch.rand(3, 1, 2, 5, generator=g) > 0.2
    lead = torch.full((3,), 24.0)
    w = torch.tensor([1.0, 0.5])[:, None].expand(2, 5)[None, None].expand_as(obs)[valid].double()
    p, o = pred[valid].double(), obs[valid].double()
    results = {}
    for cls in (NMB, NME, Correlation):
        metric = cls(["pm25"], [24.0], lat)
        metric.update(pred, obs, valid, lead)
        results[cls.__name__] = float(metric.compute_grid()[0, 0])
    assert results["NMB"] == pytest.approx(float((w * (p - o)).sum() / (w * o).sum()), rel=1e-6)
    assert results["NME"] == pytest.approx(float((w * (p - o).abs()).sum() / (w * o).sum()), rel=1e-6)
    unweighted = Correlation(["pm25"], [24.0], torch.tensor([0.0, 0.0]))
    unweighted.update(pred, obs, valid, lead)
    assert float(unweighted.compute_grid()[0, 0]) == pytest.approx(stats.pearsonr(p.numpy(), o.numpy())[0], rel=1e-6)
    weighted = np.cov(p.numpy(), o.numpy(), aweights=w.numpy())
    assert results["Correlation"] == pytest.approx(weighted[0, 1] / np.sqrt(weighted[0, 0] * weighted[1, 1]), rel=1e-6)
