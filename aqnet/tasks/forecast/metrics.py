"""Epoch metrics per target variable × lead time, in physical units, summable across DDP ranks.

Each metric (weatherbench2 style: one small class per score) accumulates area-weighted *sums* over all valid pixels
of all samples, bucketed by each sample's lead hour, so the states add across batches and ranks
(``dist_reduce_fx="sum"``). RMSE is pooled: sqrt(Σ w·valid·err² / Σ w·valid), not a mean of per-sample RMSEs.
Names (docs/architecture.md, "MLflow names"): ``{split}/{score}_{var}_{lead}h``; a reference puts its name after
the split (``{split}/persistence_rmse_pm25_24h``); ``{split}/loss`` is the pooled normalised training loss.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from aqnet.evaluation.weights import latitude_weights
from aqnet.tasks.forecast.names import MODEL, SCORES, format_lead, metric_name  # noqa: F401  (re-exported)


def skill(rmse: float | Tensor, rmse_reference: float | Tensor) -> float | Tensor:
    """Skill = 1 − RMSE / RMSE_reference (1 is perfect, 0 is no better than the reference, < 0 worse)."""
    return 1.0 - rmse / rmse_reference


class _LeadBucketed(Metric):
    """Area-weighted sums per (variable, lead) over valid pixels; subclasses choose the summed fields and how the
    sums make the score (``SUMS`` names the states, :meth:`_fields` gives one per-pixel field for each)."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = False
    SUMS: tuple[str, ...] = ("total", "weight")
    FIELD_DTYPE = torch.float32

    def __init__(self, names: Sequence[str], lead_hours: Sequence[float], lat: Tensor, **kwargs) -> None:
        super().__init__(**kwargs)
        self.names = tuple(names)
        self.lead_hours = tuple(float(x) for x in lead_hours)
        if not self.names or not self.lead_hours:
            raise ValueError("metrics need at least one target variable and one lead time")
        self.register_buffer("_leads", torch.tensor(self.lead_hours, dtype=torch.float32), persistent=False)
        # plain cos(lat): the normalising constant cancels in every ratio
        self.register_buffer("_w", latitude_weights(lat, normalise=False)[:, None], persistent=False)
        shape = (len(self.names), len(self.lead_hours))
        # float64: sums over an epoch of many pixels lose precision in float32
        for name in self.SUMS:
            self.add_state(name, torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    @abstractmethod
    def _fields(self, pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, ...]:
        """One per-pixel field per entry of ``SUMS``, summed (area-weighted) over valid pixels."""

    @abstractmethod
    def _score(self, sums: dict[str, Tensor]) -> Tensor:
        """The score [V, L] from the epoch's sums (NaN where no valid pixel was seen)."""

    def _bucket(self, lead_hours: Tensor) -> Tensor:
        """One-hot [B, L] of each sample's lead; a lead not configured is an error, not silently dropped."""
        lead = lead_hours.to(self._leads.device, torch.float32).reshape(-1, 1)
        onehot = (lead - self._leads[None, :]).abs() < 1e-3
        if not bool(onehot.any(dim=1).all()):
            unknown = sorted({float(x) for x, ok in zip(lead.flatten(), onehot.any(dim=1), strict=True) if not ok})
            raise ValueError(f"lead hours {unknown} are not among the configured leads {list(self.lead_hours)}")
        return onehot.to(torch.float64)

    def update(self, pred: Tensor, target: Tensor, valid: Tensor, lead_hours: Tensor) -> None:
        """pred, target [B, V, H, W] in physical units (V in ``names`` order), valid bool, lead_hours [B]."""
        if pred.shape != target.shape or pred.shape != valid.shape:
            raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)}, valid {tuple(valid.shape)}")
        if pred.shape[1] != len(self.names):
            raise ValueError(f"{pred.shape[1]} channels but {len(self.names)} names {self.names}")
        valid = valid.bool()
        pred, target = pred.to(self.FIELD_DTYPE), target.to(self.FIELD_DTYPE)
        w = self._w.to(self.FIELD_DTYPE)
        onehot = self._bucket(lead_hours)
        for name, field in zip(self.SUMS, self._fields(pred, target, valid), strict=True):
            # where(): NaN at invalid pixels must not leak into the sums (NaN·0 = NaN)
            field = torch.where(valid, field, torch.zeros_like(pred))
            per_sample = (field * w).sum(dim=(-2, -1)).double()  # [B, V]
            setattr(self, name, getattr(self, name) + torch.einsum("bv,bl->vl", per_sample, onehot))

    def compute(self) -> Tensor:
        """[V, L]; NaN where no valid pixel was seen."""
        return self._score({name: getattr(self, name) for name in self.SUMS})

    def compute_grid(self) -> Tensor:
        """:meth:`compute` always shaped [V, L] (torchmetrics squeezes a 1×1 result to a scalar)."""
        return self.compute().reshape(len(self.names), len(self.lead_hours))


class _WeightedMean(_LeadBucketed):
    """Σ w·valid·f(pred, target) / Σ w·valid; subclasses choose f (:meth:`_pointwise`) and a final transform."""

    def _fields(self, pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, ...]:
        return self._pointwise(pred - target), valid.to(pred.dtype)

    @abstractmethod
    def _pointwise(self, err: Tensor) -> Tensor:
        """The per-pixel error that is averaged: squared (RMSE), absolute (MAE) or signed (bias)."""

    def _finish(self, mean: Tensor) -> Tensor:
        return mean

    def _score(self, sums: dict[str, Tensor]) -> Tensor:
        return self._finish(sums["total"] / sums["weight"])  # 0/0 → NaN marks "no data"


class PooledRMSE(_WeightedMean):
    """sqrt(Σ w·valid·(pred − target)² / Σ w·valid) over every valid pixel of every sample."""

    def _pointwise(self, err: Tensor) -> Tensor:
        return err.square()

    def _finish(self, mean: Tensor) -> Tensor:
        return mean.sqrt()


class MAE(_WeightedMean):
    """Σ w·valid·|pred − target| / Σ w·valid."""

    def _pointwise(self, err: Tensor) -> Tensor:
        return err.abs()


class Bias(_WeightedMean):
    """Σ w·valid·(pred − target) / Σ w·valid (positive: over-prediction)."""

    def _pointwise(self, err: Tensor) -> Tensor:
        return err


class NMB(_LeadBucketed):
    """Normalised mean bias Σ w·(pred − obs) / Σ w·obs (0 is unbiased; +0.1: 10% too high on the whole)."""

    SUMS = ("error", "observed")

    def _fields(self, pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, ...]:
        return pred - target, target

    def _score(self, sums: dict[str, Tensor]) -> Tensor:
        return sums["error"] / sums["observed"]


class NME(_LeadBucketed):
    """Normalised mean error Σ w·|pred − obs| / Σ w·obs."""

    SUMS = ("error", "observed")

    def _fields(self, pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, ...]:
        return (pred - target).abs(), target

    def _score(self, sums: dict[str, Tensor]) -> Tensor:
        return sums["error"] / sums["observed"]


class Correlation(_LeadBucketed):
    """Area-weighted Pearson r between prediction and observation over every valid pixel of every sample."""

    SUMS = ("w", "p", "o", "pp", "oo", "po")
    FIELD_DTYPE = torch.float64  # second moments of CO (~10^5 µg² m⁻⁶) would lose digits in float32

    def _fields(self, pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, ...]:
        return valid.to(pred.dtype), pred, target, pred.square(), target.square(), pred * target

    def _score(self, sums: dict[str, Tensor]) -> Tensor:
        n = sums["w"]
        mp, mo = sums["p"] / n, sums["o"] / n
        cov = sums["po"] / n - mp * mo
        var_p, var_o = sums["pp"] / n - mp.square(), sums["oo"] / n - mo.square()
        # a constant field (a climatology at one pixel, say) has no correlation: below round-off, NaN
        flat = (var_p <= 1e-10 * (mp.square() + 1)) | (var_o <= 1e-10 * (mo.square() + 1))
        return torch.where(flat, torch.nan, cov / (var_p * var_o).clamp_min(0).sqrt())


_SCORE_CLASSES: dict[str, type[_LeadBucketed]] = {
    "rmse": PooledRMSE,
    "mae": MAE,
    "bias": Bias,
    "nmb": NMB,
    "nme": NME,
    "corr": Correlation,
}


class PooledLoss(Metric):
    """Pooled loss over an epoch: Σ numerators / Σ denominators (see :meth:`LatWeightedMSE.terms`)."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("num", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("den", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, num: Tensor, den: Tensor) -> None:
        self.num += num.detach().double()
        self.den += den.detach().double()

    def compute(self) -> Tensor:
        return self.num / self.den


class ForecastMetrics(nn.Module):
    """All scores for the model and each baseline, plus the pooled loss, for one split (val or test).

    ``update`` takes physical-unit predictions; ``compute(split)`` returns the flat dict of metric names (entries
    with no valid pixel are left out) and ``reset()`` starts the next epoch.
    """

    def __init__(
        self,
        names: Sequence[str],
        lead_hours: Sequence[float],
        lat: Tensor,
        baselines: Sequence[str] = ("persistence", "climatology"),
        scores: Sequence[str] = SCORES,
    ) -> None:
        super().__init__()
        self.names = tuple(names)
        self.lead_hours = tuple(float(x) for x in lead_hours)
        self.sources = (MODEL, *baselines)
        self.scores = tuple(scores)
        self.metrics = nn.ModuleDict(
            {
                src: nn.ModuleDict({s: _SCORE_CLASSES[s](self.names, self.lead_hours, lat) for s in self.scores})
                for src in self.sources
            }
        )
        self.loss = PooledLoss()

    def update(
        self,
        source: str,
        pred: Tensor,
        target: Tensor,
        valid: Tensor,
        lead_hours: Tensor,
    ) -> None:
        for metric in self.metrics[source].values():
            metric.update(pred, target, valid, lead_hours)

    def update_loss(self, num: Tensor, den: Tensor) -> None:
        self.loss.update(num, den)

    def compute(self, split: str) -> dict[str, float]:
        out: dict[str, float] = {}
        with warnings.catch_warnings():
            # an epoch with no batch (or no baseline data) is legitimate: it yields NaN, which we drop below
            warnings.filterwarnings("ignore", message=".*compute.*before the ``update``.*")
            loss = float(self.loss.compute())
            if loss == loss:  # not NaN
                out[f"{split}/loss"] = loss
            for src in self.sources:
                for score, metric in self.metrics[src].items():
                    values = metric.compute_grid().cpu()
                    for i, var in enumerate(self.names):
                        for j, lead in enumerate(self.lead_hours):
                            v = float(values[i, j])
                            if v == v:
                                out[metric_name(split, score, var, lead, src)] = v
        return out

    def reset(self) -> None:
        self.loss.reset()
        for group in self.metrics.values():
            for metric in group.values():
                metric.reset()


def skill_scores(metrics: Mapping[str, float], split: str, reference: str = "persistence") -> dict[str, float]:
    """``{split}/skill_{reference}_{var}_{lead}h`` = 1 − RMSE/RMSE_reference for every pair present in ``metrics``."""
    out: dict[str, float] = {}
    head = f"{split}/rmse_"
    for key, rmse in metrics.items():
        if key.startswith(head):
            ref = metrics.get(f"{split}/{reference}_rmse_{key[len(head) :]}")
            if ref is not None and ref > 0:
                out[f"{split}/skill_{reference}_{key[len(head) :]}"] = float(skill(rmse, ref))
    return out
