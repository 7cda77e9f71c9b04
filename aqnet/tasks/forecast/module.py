"""ForecastModule: the LightningModule that trains a forecaster and scores it against persistence and climatology."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import Tensor, nn

from aqnet.data.batch import MovesBatches
from aqnet.evaluation.cases import TestEvaluation
from aqnet.evaluation.files import DAILY_FILE
from aqnet.tasks.forecast.baselines import HourlyClimatology, HourOfDay, Persistence
from aqnet.tasks.forecast.daily import DailyScores
from aqnet.tasks.forecast.losses import LatWeightedMSE
from aqnet.tasks.forecast.metrics import ForecastMetrics
from aqnet.training.logging import log_physics_parameters
from aqnet.training.optim import Optimization

if TYPE_CHECKING:
    from aqnet.data.stats import Climatology


def _reorder(x: Tensor, names: Sequence[str], wanted: Sequence[str]) -> Tensor:
    """Channels of ``x`` [B, V, H, W] in the order of ``wanted``, looked up by name (never by position)."""
    names = tuple(names)
    if names == tuple(wanted):
        return x
    missing = [n for n in wanted if n not in names]
    if missing:
        raise ValueError(f"batch lacks target variables {missing}; it has {list(names)}")
    return x[:, [names.index(n) for n in wanted]]


class ForecastModule(MovesBatches, L.LightningModule):
    """Trains ``model`` with a latitude-weighted MSE on valid pixels (normalised units) and scores it per target
    variable × lead in physical units, next to persistence and hour-of-day climatology.

    Args:
        model: a forecaster: ``model(inputs, lead_hours, hour_of_day, day_of_year)`` → normalised predictions
            [B, V_out, H, W], with ``model.normalise_targets`` / ``model.denormalise_targets`` between units.
        lat: latitudes [H] in degrees (the data module's grid).
        target_names: the model's output variables, in output-channel order.
        lead_hours: every lead that validation/test batches carry (metric buckets).
        climatology: HourlyClimatology; the data module's Climatology (``hours``, ``variables``, ``values``
            [n_hours, V, H, W]); or a mapping name → [n_hours, H, W]; physical units. None skips that baseline.
        optimization: optimiser, LR schedule and what the schedule monitors (:class:`Optimization`).
        climatology_hours: the hours of the climatology slices when ``climatology`` is a mapping (default 0..23).
        evaluation_dir: where the test epoch writes per-case errors and error maps (:mod:`aqnet.evaluation`);
            None records neither.
        lon: longitudes [W] in degrees, the coordinates of those error maps (grid indices when None).

    Hyperparameters are not saved here: the model cannot be rebuilt from them and the CLI records the resolved
    config (sidecar YAML and MLflow params) itself; saving them too would only duplicate MLflow params.
    """

    def __init__(
        self,
        model: nn.Module,
        lat: Tensor | Sequence[float],
        target_names: Sequence[str],
        lead_hours: Sequence[float],
        climatology: HourlyClimatology | Climatology | Mapping[str, Any] | None = None,
        optimization: Optimization | None = None,
        climatology_hours: Sequence[float] | None = None,
        evaluation_dir: Path | str | None = None,
        lon: Tensor | Sequence[float] | None = None,
        references: Mapping[str, nn.Module] | None = None,
        daily_days: Mapping[tuple[float, float], int] | None = None,
        utc_offset_hours: float = 8.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.target_names = tuple(target_names)
        self.lead_hours = tuple(float(x) for x in lead_hours)
        self.optimization = optimization or Optimization()
        lat = torch.as_tensor(lat, dtype=torch.float32)
        self.loss_fn = LatWeightedMSE(lat)
        if isinstance(climatology, Mapping):
            climatology = HourlyClimatology(climatology, climatology_hours)
        elif climatology is not None and not isinstance(climatology, HourlyClimatology):
            climatology = HourlyClimatology.from_climatology(climatology)  # the data module's Climatology
        self.climatology = climatology
        # every reference is scored on the same samples and valid pixels as the model: (batch, names) → (pred, ok)
        self.references = nn.ModuleDict(
            {
                "persistence": Persistence(),
                **({"climatology": HourOfDay(climatology)} if climatology is not None else {}),
                **(references or {}),
            }
        )
        baselines = tuple(self.references)
        # one metric set per stage: torchmetrics state must not mix validation and test epochs; the references'
        # validation scores would repeat the same numbers every validation, so they are scored at test time only
        self.val_metrics = ForecastMetrics(self.target_names, self.lead_hours, lat, ())
        self.test_metrics = ForecastMetrics(self.target_names, self.lead_hours, lat, baselines)
        self.final_metrics: dict[str, float] = {}
        self.evaluation_dir = Path(evaluation_dir) if evaluation_dir is not None else None
        self.test_evaluation: TestEvaluation | None = None
        if self.evaluation_dir is not None:
            self.test_evaluation = TestEvaluation(self.target_names, self.lead_hours, lat, lon, ("model", *baselines))
        # daily-mean exceedance and MDA8 scores of the test split: (lead, local day) → its number of samples
        self.test_daily: DailyScores | None = None
        if daily_days:
            sources = ("model", *baselines)
            self.test_daily = DailyScores(
                self.target_names, self.lead_hours, lat, sources, daily_days, utc_offset_hours
            )

    # -- batches -------------------------------------------------------------------------------------------------
    def forward(self, batch: Any) -> Tensor:
        """Normalised predictions [B, V_out, H, W]."""
        return self.model(batch.inputs, batch.lead_hours, batch.hour_of_day, batch.day_of_year)

    def _targets(self, batch: Any) -> tuple[Tensor, Tensor]:
        """(targets, valid) in ``target_names`` order, physical units."""
        return (
            _reorder(batch.targets, batch.target_names, self.target_names),
            _reorder(batch.target_valid, batch.target_names, self.target_names).bool(),
        )

    # -- training --------------------------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        trainer = self.trainer
        if trainer.world_size > 1:  # one line per rank in the job log: who runs, found how, over what
            environment = type(getattr(trainer.strategy, "cluster_environment", None)).__name__
            backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else "none"
            print(
                f"distributed: global rank {trainer.global_rank} of world size {trainer.world_size} "
                f"({environment}, {backend})",
                flush=True,
            )

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        targets, valid = self._targets(batch)
        pred = self(batch)
        # under DDP each rank's loss is its share of the global loss, times the world size (see LatWeightedMSE):
        # the mean over ranks (sync_dist) is the global loss, the value a single process logs for the same batch
        loss = self.loss_fn(pred, self.model.normalise_targets(targets), valid)
        bs = targets.shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=bs, sync_dist=True)
        log_physics_parameters(self, self.model, bs)
        return loss

    # -- evaluation ------------------------------------------------------------------------------------------------
    def _evaluate(self, batch: Any, metrics: ForecastMetrics, split: str) -> Tensor:
        targets, valid = self._targets(batch)
        pred = self(batch)
        num, den = self.loss_fn.terms(pred, self.model.normalise_targets(targets), valid)
        metrics.update_loss(num, den)  # pooled over the epoch: the DDP-safe way to get {split}/loss
        physical = self.model.denormalise_targets(pred)
        self._score(metrics, split, batch, "model", physical, targets, valid)
        preds, valids = {"model": physical}, {"model": valid}
        for source, reference in self.references.items() if split != "val" else ():
            pred, available = reference(batch, self.target_names)
            ok = valid & available[None, :, None, None] & torch.isfinite(pred)  # no climatology: not scored
            self._score(metrics, split, batch, source, pred, targets, ok)
            preds[source], valids[source] = pred, ok
        if split != "val" and self.test_daily is not None:
            self.test_daily.update(preds, valids, targets, valid, batch.init_time, batch.lead_hours)
        return num / den.clamp_min(torch.finfo(den.dtype).tiny)

    def _score(
        self, metrics: ForecastMetrics, split: str, batch: Any, source: str, pred: Tensor, target: Tensor, valid: Tensor
    ) -> None:
        """Epoch metrics of one source; at test time also its per-case errors and error maps."""
        metrics.update(source, pred, target, valid, batch.lead_hours)
        if split == "test" and self.test_evaluation is not None:
            self.test_evaluation.update(source, pred, target, valid, batch.init_time, batch.lead_hours)

    def _log_epoch(self, metrics: ForecastMetrics, split: str) -> dict[str, float]:
        values = metrics.compute(split)  # torchmetrics has already summed the states across ranks
        metrics.reset()
        # sync_dist only to satisfy Lightning's distributed check: every rank holds the same (synced) values
        for name, value in values.items():
            self.log(name, value, on_step=False, on_epoch=True, sync_dist=True, prog_bar=name == f"{split}/loss")
        return values

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, self.val_metrics, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, self.test_metrics, "test")

    def on_test_epoch_end(self) -> None:
        self.final_metrics = self._log_epoch(self.test_metrics, "test") | self._daily_scores("test")
        if self.test_evaluation is not None and self.evaluation_dir is not None:
            # every rank computes (the states sync); rank 0 writes
            self.test_evaluation.finish(self.evaluation_dir, write=self.trainer.is_global_zero)

    def _daily_scores(self, split: str) -> dict[str, float]:
        """The daily scores (logged), and their per-day counts in ``<evaluation dir>/test_daily.csv``."""
        if self.test_daily is None or not self.test_daily.active:
            return {}
        values = self.test_daily.scores(split)
        frame = self.test_daily.frame()
        if self.evaluation_dir is not None and self.trainer.is_global_zero and not frame.empty:
            self.evaluation_dir.mkdir(parents=True, exist_ok=True)
            frame.to_csv(self.evaluation_dir / DAILY_FILE, index=False, float_format="%.10g")
        self.test_daily.reset()
        for name, value in values.items():
            self.log(name, value, on_step=False, on_epoch=True, sync_dist=True)
        return values

    # -- optimisation ----------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        return self.optimization.configure(self, self.model)
