"""The exceedance scores against torchmetrics on an unmasked example, masking, area weights, and the sums that add
across ranks."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import BinaryAveragePrecision, BinaryF1Score, BinaryPrecision, BinaryRecall
from torchmetrics.regression import CriticalSuccessIndex, MeanSquaredError

from aqnet.tasks.exceedance.metrics import ExceedanceMetrics, ExceedanceScores

B, C, H, W = 6, 2, 5, 7
LEADS = (12.0, 24.0)


def sample(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    prob = torch.rand(B, C, H, W, generator=g)
    labels = (torch.rand(B, C, H, W, generator=g) < 0.3 + 0.4 * prob).float()  # informative, imperfect
    lead = torch.tensor([12.0, 24.0] * (B // 2))
    clim = torch.full((B, C, H, W), 0.35)
    return {"prob": prob, "labels": labels, "lead": lead, "clim": clim}


def scores(case: dict[str, torch.Tensor], valid: torch.Tensor, lat: torch.Tensor | None = None, decision: float = 0.5):  # type: ignore[no-untyped-def]
    metric = ExceedanceScores(["a", "b"], LEADS, torch.zeros(H) if lat is None else lat)
    half = torch.full((B, C), decision)
    metric.update(case["prob"], case["labels"], valid, case["lead"], half, case["clim"])
    return metric


def selected(x: torch.Tensor, lead: float, c: int, case: dict[str, torch.Tensor], valid: torch.Tensor) -> torch.Tensor:
    chosen = case["lead"] == lead
    return x[chosen, c][valid[chosen, c]]


def test_unmasked_scores_agree_with_torchmetrics() -> None:
    case = sample()
    valid = torch.ones(B, C, H, W, dtype=torch.bool)
    out = scores(case, valid).compute()
    for j, lead in enumerate(LEADS):
        for c in range(C):
            p, y = selected(case["prob"], lead, c, case, valid), selected(case["labels"], lead, c, case, valid)
            assert float(out["csi"][c, j]) == pytest.approx(float(CriticalSuccessIndex(0.5)(p, y)), rel=1e-6)
            assert float(out["pod"][c, j]) == pytest.approx(float(BinaryRecall()(p, y.long())), rel=1e-6)
            assert float(out["far"][c, j]) == pytest.approx(1 - float(BinaryPrecision()(p, y.long())), rel=1e-6)
            assert float(out["f1"][c, j]) == pytest.approx(float(BinaryF1Score()(p, y.long())), rel=1e-6)
            assert float(out["brier"][c, j]) == pytest.approx(float(MeanSquaredError()(p, y)), rel=1e-5)
            clim = torch.full_like(p, 0.35)
            bss = 1 - float(MeanSquaredError()(p, y)) / float(MeanSquaredError()(clim, y))
            assert float(out["bss"][c, j]) == pytest.approx(bss, rel=1e-5)
            # average precision on the same 100 bins: torchmetrics' binned form (thresholds at the bin edges)
            binned = BinaryAveragePrecision(thresholds=torch.linspace(0, 1, 101)[:-1])(p, y.long())
            assert float(out["ap"][c, j]) == pytest.approx(float(binned), abs=1e-6)
            exact = BinaryAveragePrecision()(p, y.long())
            assert float(out["ap"][c, j]) == pytest.approx(float(exact), abs=0.02)


def test_ets_by_hand() -> None:
    case = sample()
    valid = torch.ones(B, C, H, W, dtype=torch.bool)
    metric = scores(case, valid)
    tp, fp, fn, tn = (float(getattr(metric, k)[0, 0]) for k in ("tp", "fp", "fn", "tn"))
    random_hits = (tp + fp) * (tp + fn) / (tp + fp + fn + tn)
    expected = (tp - random_hits) / (tp + fp + fn - random_hits)
    assert float(metric.compute()["ets"][0, 0]) == pytest.approx(expected, rel=1e-9)
    assert expected > 0  # the example is informative


def test_masked_pixels_are_not_scored_even_when_nan() -> None:
    case = sample(1)
    valid = torch.rand(B, C, H, W, generator=torch.Generator().manual_seed(2)) > 0.3
    poisoned = dict(
        case, prob=torch.where(valid, case["prob"], torch.nan), labels=torch.where(valid, case["labels"], 1)
    )
    out = scores(poisoned, valid).compute()
    for j, lead in enumerate(LEADS):
        p, y = selected(case["prob"], lead, 1, case, valid), selected(case["labels"], lead, 1, case, valid)
        assert float(out["csi"][1, j]) == pytest.approx(float(CriticalSuccessIndex(0.5)(p, y)), rel=1e-6)
        assert float(out["brier"][1, j]) == pytest.approx(float(MeanSquaredError()(p, y)), rel=1e-5)


def test_area_weights_count_a_row_by_cos_lat() -> None:
    # a row at 60° counts as half a row at the equator: duplicating the equator row once equals two 60° rows
    case = sample(3)
    lat = torch.tensor([0.0, 60.0, 60.0, 0.0, 0.0])
    valid = torch.ones(B, C, H, W, dtype=torch.bool)
    weighted = scores(case, valid, lat)
    assert float(weighted.weight[0, 0]) == pytest.approx((3 + 2 * 0.5) * W * (B // 2), rel=1e-6)


def test_states_add_across_ranks() -> None:
    """Two ranks' states summed (what ``dist_reduce_fx="sum"`` does) are the scores of the whole epoch."""
    case = sample(4)
    valid = torch.ones(B, C, H, W, dtype=torch.bool)
    whole = scores(case, valid)
    ranks = []
    for part in (slice(0, 2), slice(2, B)):
        metric = ExceedanceScores(["a", "b"], LEADS, torch.zeros(H))
        sub = {k: v[part] for k, v in case.items()}
        metric.update(
            sub["prob"], sub["labels"], valid[part], sub["lead"], torch.full((len(sub["lead"]), C), 0.5), sub["clim"]
        )
        ranks.append(metric)
    ranks[0].merge_state(ranks[1])
    for name, value in whole.compute().items():
        torch.testing.assert_close(ranks[0].compute()[name], value, equal_nan=True)


def test_metric_names_and_sources() -> None:
    case = sample()
    metrics = ExceedanceMetrics(["pm25_gt75", "pm25_gt150"], LEADS, torch.zeros(H), ("model", "persistence"))
    for source in ("model", "persistence"):
        metrics.update(
            source,
            case["prob"],
            case["labels"],
            torch.ones(B, C, H, W, dtype=torch.bool),
            case["lead"],
            torch.full((B, C), 0.5),
            case["clim"],
        )
    names = metrics.compute("test")
    assert "test/csi_pm25_gt75_12h" in names and "test/persistence_bss_pm25_gt150_24h" in names
    assert len(names) == 2 * 8 * 2 * 2
