"""Platt scaling on a known case: logits that are an affine distortion of the true log-odds are mapped back to
calibrated probabilities; the decision threshold that maximises CSI on hand-made bins."""

from __future__ import annotations

import pytest
import torch

from aqnet.tasks.exceedance.calibration import LogitHistogram, best_threshold, fit_platt
from aqnet.tasks.exceedance.metrics import ExceedanceScores


def distorted_case(n: int = 200_000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """True log-odds t ~ N(−2, 1.5²); y ~ Bernoulli(σ(t)); the network's logits z = 3t + 2 (overconfident)."""
    g = torch.Generator().manual_seed(seed)
    t = -2 + 1.5 * torch.randn(n, generator=g, dtype=torch.float64)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(t)).double()
    return t, y, 3 * t + 2


def test_platt_recovers_the_inverse_distortion_from_the_histogram() -> None:
    t, y, z = distorted_case()
    hist = LogitHistogram(1, [24.0], torch.zeros(1))
    shape = (1, 1, 1, len(z))
    hist.update(z.float().reshape(shape), y.reshape(shape), torch.ones(shape, dtype=torch.bool), torch.tensor([24.0]))
    weight, label = hist.compute()
    a, b = fit_platt(hist.centres(), weight[0, 0], label[0, 0])
    assert a == pytest.approx(1 / 3, abs=0.01) and b == pytest.approx(-2 / 3, abs=0.05)


def test_calibrated_probabilities_are_reliable_and_improve_brier() -> None:
    t, y, z = distorted_case(seed=1)
    hist = LogitHistogram(1, [24.0], torch.zeros(1))
    shape = (1, 1, 1, len(z))
    hist.update(z.float().reshape(shape), y.reshape(shape), torch.ones(shape, dtype=torch.bool), torch.tensor([24.0]))
    weight, label = hist.compute()
    a, b = fit_platt(hist.centres(), weight[0, 0], label[0, 0])
    t2, y2, z2 = distorted_case(seed=2)  # scored on fresh data
    raw, calibrated = torch.sigmoid(z2), torch.sigmoid(a * z2 + b)
    brier = lambda p: float(((p - y2) ** 2).mean())  # noqa: E731
    assert brier(calibrated) < brier(raw)
    assert brier(calibrated) == pytest.approx(brier(torch.sigmoid(t2)), rel=0.01)  # as good as the true probability
    scores = ExceedanceScores(["a"], [24.0], torch.zeros(1), bins=10)
    shape = (1, 1, 1, len(z2))
    ones = torch.ones(shape, dtype=torch.bool)
    scores.update(
        calibrated.float().reshape(shape),
        y2.reshape(shape),
        ones,
        torch.tensor([24.0]),
        torch.full((1, 1), 0.5),
        torch.zeros(shape),
    )
    rel = scores.reliability()
    occupied = rel["weight"][0, 0] > 1000
    gap = (rel["forecast"][0, 0] - rel["observed"][0, 0])[occupied].abs()
    assert float(gap.max()) < 0.03  # each well-filled bin's observed frequency is its mean probability


def test_without_both_classes_the_logits_stay_as_they_are() -> None:
    centres = torch.linspace(-5, 5, 11)
    assert fit_platt(centres, torch.ones(11), torch.zeros(11)) == (1.0, 0.0)


def test_best_threshold_maximises_csi() -> None:
    prob = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    weight = torch.tensor([50.0, 20.0, 10.0, 6.0, 4.0])
    label = torch.tensor([1.0, 2.0, 4.0, 5.0, 4.0])  # exceedances per bin
    # warn from 0.5: tp 13, fp 7, fn 3 → CSI 13/23 = 0.565; from 0.7: 9/(9+1+7) = 0.53; from 0.3: 15/(15+25+1)
    assert best_threshold(prob, weight, label) == pytest.approx(0.5)
