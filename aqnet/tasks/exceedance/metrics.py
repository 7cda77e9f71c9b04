"""Epoch scores of exceedance probabilities per channel × lead: area-weighted, masked, summable across DDP ranks.

Each state is an area-weighted (cos lat) *sum* over the valid pixels of all samples, bucketed by lead, so states
add across batches and ranks (``dist_reduce_fx="sum"``):

- the contingency counts tp, fp, fn, tn of the warnings (probability ≥ the decision threshold) → CSI, ETS, POD,
  FAR, F1 (ratios of sums: CSI = Σtp / Σ(tp + fp + fn));
- Σ w·(p − y)² → the Brier score, and Σ w·(p_clim − y)² → the Brier skill score against the training years'
  climatological probability on the same pixels;
- per probability bin (``bins`` equal bins of [0, 1]) Σ w, Σ w·y, Σ w·p → average precision (the binned
  precision–recall curve, torchmetrics' ``thresholds=`` form) and the reliability diagram.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from aqnet.evaluation.weights import latitude_weights
from aqnet.tasks.exceedance.names import MODEL, metric_name
from aqnet.tasks.forecast.daily import contingency_scores

COUNTS = ("tp", "fp", "fn", "tn")


def lead_onehot(lead_hours: Tensor, leads: Tensor) -> Tensor:
    """[B, L] one-hot of each sample's lead; a lead that is not configured is an error."""
    lead = lead_hours.to(leads.device, torch.float32).reshape(-1, 1)
    onehot = (lead - leads[None, :]).abs() < 1e-3
    if not bool(onehot.any(dim=1).all()):
        raise ValueError(f"lead hours {sorted(set(lead.flatten().tolist()))} not all in {leads.tolist()}")
    return onehot.to(torch.float64)


def scores_from_counts(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """CSI, ETS, POD, FAR (the forecast task's contingency scores) and F1; NaN where undefined."""
    out = {k: v for k, v in contingency_scores(tp, fp, fn, tn).items() if k in ("csi", "ets", "pod", "far")}
    out["f1"] = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else float("nan")
    return out


def average_precision(positives: Tensor, negatives: Tensor) -> Tensor:
    """AP from per-bin weighted positives/negatives [..., NB] (bin k holds p in [k/NB, (k+1)/NB)): precision and
    recall at each bin edge (p ≥ edge), AP = Σ (R_k − R_{k+1})·P_k; NaN without positives."""
    tp = positives.flip(-1).cumsum(-1).flip(-1)  # p ≥ edge k
    fp = negatives.flip(-1).cumsum(-1).flip(-1)
    total = tp[..., :1]
    recall = tp / total
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp_min(1e-300), torch.ones_like(tp))
    next_recall = torch.cat([recall[..., 1:], torch.zeros_like(recall[..., :1])], dim=-1)
    return ((recall - next_recall) * precision).sum(-1)


class ExceedanceScores(Metric):
    """The sums of one source (module docstring); ``update`` takes probabilities [B, C, H, W]."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, channels: Sequence[str], lead_hours: Sequence[float], lat: Tensor, bins: int = 100) -> None:
        super().__init__()
        self.channels, self.lead_hours, self.bins = tuple(channels), tuple(float(x) for x in lead_hours), int(bins)
        self.register_buffer("_leads", torch.tensor(self.lead_hours, dtype=torch.float32), persistent=False)
        self.register_buffer("_w", latitude_weights(lat, normalise=False)[:, None], persistent=False)
        shape = (len(self.channels), len(self.lead_hours))
        for name in (*COUNTS, "brier", "brier_ref", "weight"):
            self.add_state(name, torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("bin_weight", "bin_label", "bin_prob"):
            self.add_state(name, torch.zeros((*shape, self.bins), dtype=torch.float64), dist_reduce_fx="sum")

    def _add(self, name: str, field: Tensor, onehot: Tensor) -> None:
        per_sample = (field * self._w.to(field.dtype)).sum(dim=(-2, -1)).double()  # [B, C]
        setattr(self, name, getattr(self, name) + torch.einsum("bc,bl->cl", per_sample, onehot))

    def update(
        self, prob: Tensor, labels: Tensor, valid: Tensor, lead_hours: Tensor, decision: Tensor, reference: Tensor
    ) -> None:
        """prob, labels, valid [B, C, H, W]; decision [B, C] the warning threshold of each sample's lead;
        reference [B, C, H, W] the climatological probability (NaN: none; such pixels are not scored)."""
        valid = valid.bool() & torch.isfinite(prob) & torch.isfinite(reference)
        onehot = lead_onehot(lead_hours, self._leads)
        zero = torch.zeros_like(prob, dtype=torch.float32)
        p = torch.where(valid, prob.float(), zero)
        y = torch.where(valid, labels.float(), zero)
        ref = torch.where(valid, reference.float(), zero)
        v = valid.float()
        warn = (p >= decision[:, :, None, None]).float() * v
        for name, field in zip(
            COUNTS, (warn * y, warn * (1 - y), (1 - warn) * y * v, (1 - warn) * (1 - y) * v), strict=True
        ):
            self._add(name, field, onehot)
        self._add("brier", (p - y).square() * v, onehot)
        self._add("brier_ref", (ref - y).square() * v, onehot)
        self._add("weight", v, onehot)
        k = (p * self.bins).long().clamp(0, self.bins - 1)  # [B, C, H, W]
        w = (self._w.to(p.dtype) * v).double()
        for name, field in (("bin_weight", w), ("bin_label", w * y.double()), ("bin_prob", w * p.double())):
            per = torch.zeros((*p.shape[:2], self.bins), dtype=torch.float64, device=p.device)
            per.scatter_add_(-1, k.flatten(2), field.flatten(2))  # [B, C, NB]
            setattr(self, name, getattr(self, name) + torch.einsum("bck,bl->clk", per, onehot))

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        """score → [C, L] (NaN where undefined or nothing was seen)."""
        out: dict[str, Tensor] = {}
        counts = {k: getattr(self, k).cpu() for k in COUNTS}
        per_cell = [
            scores_from_counts(*(float(counts[k][c, j]) for k in COUNTS))
            for c in range(len(self.channels))
            for j in range(len(self.lead_hours))
        ]
        for score in per_cell[0]:
            out[score] = torch.tensor([cell[score] for cell in per_cell], dtype=torch.float64).reshape(
                len(self.channels), len(self.lead_hours)
            )
        weight = self.weight.cpu()
        out["brier"] = self.brier.cpu() / weight
        out["bss"] = 1 - self.brier.cpu() / self.brier_ref.cpu()
        out["ap"] = average_precision(self.bin_label.cpu(), (self.bin_weight - self.bin_label).cpu())
        return out

    def reliability(self) -> dict[str, Tensor]:
        """Per bin [C, L, NB]: mean forecast probability, observed frequency, weight (the reliability diagram);
        summed across ranks (call on every rank)."""
        with torch.no_grad(), self.sync_context():
            w, label, prob = (x.detach().cpu().clone() for x in (self.bin_weight, self.bin_label, self.bin_prob))
        return {"forecast": prob / w, "observed": label / w, "weight": w}


class ExceedanceMetrics(nn.Module):
    """Scores of the model and each reference for one split, plus the pooled combo loss (its epoch sums)."""

    def __init__(
        self,
        channels: Sequence[str],
        lead_hours: Sequence[float],
        lat: Tensor,
        sources: Sequence[str] = (MODEL,),
        loss_sums: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.channels, self.lead_hours = tuple(channels), tuple(float(x) for x in lead_hours)
        self.sources = tuple(sources)
        self.scores = nn.ModuleDict({s: ExceedanceScores(channels, lead_hours, lat) for s in self.sources})
        self.loss_sums = tuple(loss_sums)
        self._loss: dict[str, Tensor] = {}

    def update(self, source: str, *args: Tensor) -> None:
        self.scores[source].update(*args)

    def update_loss(self, sums: dict[str, Tensor]) -> None:
        for k, v in sums.items():
            self._loss[k] = self._loss.get(k, 0) + v.detach().double()

    def loss_state(self) -> dict[str, Tensor]:
        """The epoch's loss sums, summed across ranks."""
        out = {}
        for k, v in self._loss.items():
            v = v.clone()
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(v)
            out[k] = v
        return out

    def compute(self, split: str) -> dict[str, float]:
        out: dict[str, float] = {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*compute.*before the ``update``.*")
            for source, metric in self.scores.items():
                for score, grid in metric.compute().items():
                    grid = grid.reshape(len(self.channels), len(self.lead_hours))  # torchmetrics squeezes 1×1
                    for i, channel in enumerate(self.channels):
                        for j, lead in enumerate(self.lead_hours):
                            value = float(grid[i, j])
                            if value == value:
                                out[metric_name(split, score, channel, lead, source)] = value
        return out

    def reset(self) -> None:
        self._loss = {}
        for metric in self.scores.values():
            metric.reset()
