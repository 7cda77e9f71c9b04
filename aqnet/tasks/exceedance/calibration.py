"""Calibrated probabilities: Platt scaling p = σ(a·z + b) of the logits z, per channel × lead, fit on validation.

The combo loss's Dice and focal parts pull the network's sigmoid away from a probability; a warning needs one. Each
validation epoch histograms the logits (area-weighted counts of pixels and of exceedances per logit bin, summed
across ranks), and :func:`fit_platt` fits (a, b) by Newton's method on the binned weighted log-likelihood — exact
up to the bin width. The decision threshold is then 0.5 or, with ``optimise_on_val``, the calibrated probability
that maximises the validation CSI (:func:`best_threshold`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from aqnet.evaluation.weights import latitude_weights
from aqnet.tasks.exceedance.metrics import lead_onehot

LOGIT_RANGE = 16.0  # logits are histogrammed on [−16, 16] (clamped): σ(±16) is within 1e-7 of 0 or 1


class LogitHistogram(Metric):
    """Σ w and Σ w·y per (channel, lead, logit bin) over the valid pixels."""

    full_state_update = False

    def __init__(self, n_channels: int, lead_hours: Sequence[float], lat: Tensor, bins: int = 640) -> None:
        super().__init__()
        self.bins = int(bins)
        self.register_buffer("_leads", torch.tensor([float(x) for x in lead_hours]), persistent=False)
        self.register_buffer("_w", latitude_weights(lat, normalise=False)[:, None], persistent=False)
        shape = (n_channels, len(lead_hours), self.bins)
        self.add_state("weight", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("label", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def centres(self) -> Tensor:
        edges = torch.linspace(-LOGIT_RANGE, LOGIT_RANGE, self.bins + 1, dtype=torch.float64)
        return (edges[1:] + edges[:-1]) / 2

    def update(self, logits: Tensor, labels: Tensor, valid: Tensor, lead_hours: Tensor) -> None:
        valid = valid.bool() & torch.isfinite(logits)
        z = torch.where(valid, logits.float(), torch.zeros_like(logits, dtype=torch.float32))
        k = ((z.clamp(-LOGIT_RANGE, LOGIT_RANGE) + LOGIT_RANGE) / (2 * LOGIT_RANGE) * self.bins).long()
        k = k.clamp(0, self.bins - 1).flatten(2)
        w = (self._w.double() * valid.double()).flatten(2)
        y = torch.where(valid, labels.double(), torch.zeros_like(w.view_as(labels))).flatten(2)
        onehot = lead_onehot(lead_hours, self._leads)
        for name, field in (("weight", w), ("label", w * y)):
            per = torch.zeros((*logits.shape[:2], self.bins), dtype=torch.float64, device=logits.device)
            per.scatter_add_(-1, k, field)
            setattr(self, name, getattr(self, name) + torch.einsum("bck,bl->clk", per, onehot))

    def compute(self) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return self.weight, self.label


def fit_platt(z: Tensor, weight: Tensor, label: Tensor, steps: int = 50, ridge: float = 1e-6) -> tuple[float, float]:
    """(a, b) maximising Σ weight·[label·log σ(az+b) + (weight−label)/weight·log(1 − σ(az+b))] over bins ``z``;
    ``label`` holds each bin's weighted exceedances. (1, 0) when a class is absent; a kept > 0 (monotone)."""
    z, n, pos = z.double(), weight.double(), label.double()
    if not (pos.sum() > 0 and (n - pos).sum() > 0):
        return 1.0, 0.0
    scale = n.sum()
    n, pos = n / scale, pos / scale
    theta = torch.tensor([1.0, 0.0], dtype=torch.float64)
    x = torch.stack([z, torch.ones_like(z)], dim=-1)  # [K, 2]

    def nll(theta: Tensor) -> Tensor:  # the binned negative log-likelihood
        s = x @ theta
        return -(pos * F.logsigmoid(s) + (n - pos) * F.logsigmoid(-s)).sum()

    for _ in range(steps):  # Newton's method with step halving (a plain Newton step can overshoot)
        p = torch.sigmoid(x @ theta)
        grad = x.T @ (pos - n * p)
        hess = (x * (n * p * (1 - p))[:, None]).T @ x + ridge * torch.eye(2, dtype=torch.float64)
        step, current = torch.linalg.solve(hess, grad), nll(theta)
        for _ in range(30):
            if nll(theta + step) <= current:
                break
            step = step / 2
        theta = theta + step
        if float(step.abs().max()) < 1e-10:
            break
    a, b = float(theta[0]), float(theta[1])
    if not (a > 1e-3 and a == a and b == b):  # a non-increasing or failed fit: leave the logits as they are
        return 1.0, 0.0
    return a, b


def best_threshold(prob: Tensor, weight: Tensor, label: Tensor) -> float:
    """The probability threshold (one of ``prob``, sorted ascending per bin) that maximises CSI on the bins."""
    order = torch.argsort(prob)
    prob, weight, label = prob[order].double(), weight[order].double(), label[order].double()
    tp = label.flip(0).cumsum(0).flip(0)  # warn where prob ≥ prob[k]
    fp = (weight - label).flip(0).cumsum(0).flip(0)
    fn = label.sum() - tp
    csi = torch.where(tp + fp + fn > 0, tp / (tp + fp + fn).clamp_min(1e-300), torch.zeros_like(tp))
    csi = torch.where(weight > 0, csi, torch.full_like(csi, -1.0))  # only thresholds at occupied bins
    k = int(torch.argmax(csi))
    return float(prob[k]) if float(csi[k]) > 0 else 0.5
