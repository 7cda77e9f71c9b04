"""Per-case counts: their sums over a lead's cases are the epoch's scores, and aqnet-compare's per-case
pseudo-values of CSI, POD, FAR and Brier average exactly to those scores."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from aqnet.compare.daily import case_count_values
from aqnet.tasks.exceedance.cases import CaseCounts
from aqnet.tasks.exceedance.metrics import ExceedanceScores

B, H, W = 8, 4, 6


def test_case_sums_are_the_epoch_scores_and_the_pseudo_values_average_to_them() -> None:
    g = torch.Generator().manual_seed(0)
    prob = torch.rand(B, 1, H, W, generator=g)
    labels = (torch.rand(B, 1, H, W, generator=g) < prob).float()
    valid = torch.rand(B, 1, H, W, generator=g) > 0.2
    lead = torch.full((B,), 24.0)
    init = torch.arange(B, dtype=torch.int64) * 21600 + 1_514_764_800  # 2018-01-01, every 6 h
    lat = torch.linspace(20, 50, H)
    decision = torch.full((B, 1), 0.4)
    cases = CaseCounts(["pm25_gt75"], lat, ["model"])
    cases.update("model", prob, labels, valid, decision, init, lead)
    scores = ExceedanceScores(["pm25_gt75"], [24.0], lat)
    scores.update(prob, labels, valid, lead, decision, torch.zeros_like(prob))
    epoch = {k: v.reshape(1, 1) for k, v in scores.compute().items()}  # torchmetrics squeezes 1×1
    frame = cases.frame()
    assert len(frame) == B
    tp, fp, fn = (frame[f"pm25_gt75_{c}"].sum() for c in ("tp", "fp", "fn"))
    assert tp / (tp + fp + fn) == pytest.approx(float(epoch["csi"][0, 0]), rel=1e-9)

    series = case_count_values(frame.assign(run_id="r", group="g"))
    assert set(series["metric"]) == {f"test/{s}_pm25_gt75_24h" for s in ("csi", "pod", "far", "brier")}
    by_metric = series.groupby("metric")["loss"].mean()
    for score in ("csi", "pod", "far", "brier"):
        assert by_metric[f"test/{score}_pm25_gt75_24h"] == pytest.approx(float(epoch[score][0, 0]), rel=1e-9)
    assert pd.api.types.is_datetime64_any_dtype(series["init_time"])
