"""ForecastTask: the LightningModule that trains a Forecaster and scores it against persistence and climatology."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import Tensor, nn

from aqnet.tasks.baselines import HourlyClimatology, persistence
from aqnet.tasks.losses import LatWeightedMSE
from aqnet.tasks.metrics import ForecastMetrics
from aqnet.tasks.optim import OptimConfig, build_optimizer, build_scheduler

if TYPE_CHECKING:
    from aqnet.data.stats import Climatology
    from aqnet.evaluation.cases import TestEvaluation

_ALPHA_RE = re.compile(r"(^|[._])alpha$")
_BETA_RE = re.compile(r"(^|[._])beta$")


def _reorder(x: Tensor, names: Sequence[str], wanted: Sequence[str]) -> Tensor:
    """Channels of ``x`` [B, V, H, W] in the order of ``wanted``, looked up by name (never by position)."""
    names = tuple(names)
    if names == tuple(wanted):
        return x
    missing = [n for n in wanted if n not in names]
    if missing:
        raise ValueError(f"batch lacks target variables {missing}; it has {list(names)}")
    return x[:, [names.index(n) for n in wanted]]


class ForecastTask(L.LightningModule):
    """Trains ``model`` with a latitude-weighted MSE on valid pixels (normalised units) and scores it per target
    variable × lead in physical units, next to persistence and hour-of-day climatology.

    Args:
        model: a Forecaster: ``model(inputs, lead_hours, hour_of_day, day_of_year)`` → normalised predictions
            [B, V_out, H, W] and ``model.normaliser.normalise/denormalise(x, names)``.
        lat: latitudes [H] in degrees (the data module's grid).
        target_names: the model's output variables, in output-channel order.
        lead_hours: every lead that validation/test batches carry (metric buckets).
        climatology: HourlyClimatology; the data module's Climatology (``hours``, ``variables``, ``values``
            [n_hours, V, H, W]); or a mapping name → [n_hours, H, W]; physical units. None skips that baseline.
        optim: optimisation settings.
        climatology_hours: the hours of the climatology slices when ``climatology`` is a mapping (default 0..23).
        evaluation_dir: where the test epoch writes per-case errors and error maps (:mod:`aqnet.evaluation`);
            None records neither.
        lon: longitudes [W] in degrees, the coordinates of those error maps (grid indices when None).
        lr_factor: ``(step, base_lr) -> factor`` on each group's schedule (fine-tune phases).

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
        optim: OptimConfig | None = None,
        climatology_hours: Sequence[float] | None = None,
        evaluation_dir: Path | str | None = None,
        lon: Tensor | Sequence[float] | None = None,
        lr_factor: Callable[[int, float], float] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.target_names = tuple(target_names)
        self.lead_hours = tuple(float(x) for x in lead_hours)
        self.optim_config = optim or OptimConfig()
        self.lr_factor = lr_factor
        lat = torch.as_tensor(lat, dtype=torch.float32)
        self.loss_fn = LatWeightedMSE(lat)
        if isinstance(climatology, Mapping):
            climatology = HourlyClimatology(climatology, climatology_hours)
        elif climatology is not None and not isinstance(climatology, HourlyClimatology):
            climatology = HourlyClimatology.from_climatology(climatology)  # the data module's Climatology
        self.climatology = climatology
        baselines = ("persistence", "climatology") if climatology is not None else ("persistence",)
        # one metric set per stage: torchmetrics state must not mix validation and test epochs
        self.val_metrics = ForecastMetrics(self.target_names, self.lead_hours, lat, baselines)
        self.test_metrics = ForecastMetrics(self.target_names, self.lead_hours, lat, baselines)
        self.final_metrics: dict[str, float] = {}
        self.evaluation_dir = Path(evaluation_dir) if evaluation_dir is not None else None
        self.test_evaluation: TestEvaluation | None = None
        if self.evaluation_dir is not None:
            from aqnet.evaluation.cases import TestEvaluation  # here: aqnet.evaluation imports aqnet.tasks

            self.test_evaluation = TestEvaluation(self.target_names, self.lead_hours, lat, lon, ("model", *baselines))

    # -- batches -------------------------------------------------------------------------------------------------
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # the Batch dataclass knows how to move itself (tensors only; names stay)
        if hasattr(batch, "to") and not isinstance(batch, Tensor):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

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
        loss = self.loss_fn(pred, self.model.normaliser.normalise(targets, self.target_names), valid)
        bs = targets.shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=bs, sync_dist=True)
        self._log_physics(bs)
        return loss

    def _log_physics(self, batch_size: int) -> None:
        """``physics/alpha`` (and ``physics/beta`` when learned): the mean over parameters of that name; each one
        by full name as well when there are several."""
        for short, pattern in (("alpha", _ALPHA_RE), ("beta", _BETA_RE)):
            params = [(n, p) for n, p in self.model.named_parameters() if pattern.search(n)]
            if not params:
                continue
            values = {n: p.detach().float().mean() for n, p in params}
            mean = torch.stack(list(values.values())).mean()
            self.log(f"physics/{short}", mean, on_step=True, on_epoch=False, batch_size=batch_size)
            if len(values) > 1:
                for n, v in values.items():
                    self.log(f"physics/{n}", v, on_step=True, on_epoch=False, batch_size=batch_size)

    # -- evaluation ------------------------------------------------------------------------------------------------
    def _evaluate(self, batch: Any, metrics: ForecastMetrics, split: str) -> Tensor:
        targets, valid = self._targets(batch)
        pred = self(batch)
        num, den = self.loss_fn.terms(pred, self.model.normaliser.normalise(targets, self.target_names), valid)
        metrics.update_loss(num, den)  # pooled over the epoch: the DDP-safe way to get {split}/loss
        physical = self.model.normaliser.denormalise(pred, self.target_names)
        lead = batch.lead_hours
        self._score(metrics, split, batch, "model", physical, targets, valid)
        pers, available = persistence(batch.inputs, batch.input_names, self.target_names)
        self._score(metrics, split, batch, "persistence", pers, targets, valid & available[None, :, None, None])
        if self.climatology is not None:
            clim, available = self.climatology(self.target_names, batch.init_time, lead)
            clim_valid = valid & available[None, :, None, None] & torch.isfinite(clim)
            self._score(metrics, split, batch, "climatology", clim, targets, clim_valid)
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
        self.final_metrics = self._log_epoch(self.test_metrics, "test")
        if self.test_evaluation is not None and self.evaluation_dir is not None:
            # every rank computes (the states sync); rank 0 writes
            self.test_evaluation.finish(self.evaluation_dir, write=self.trainer.is_global_zero)

    # -- optimisation ----------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.optim_config
        optimizer = build_optimizer(self.model, cfg)
        max_steps = cfg.max_steps
        if max_steps is None or max_steps <= 0:
            max_steps = int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, cfg.warmup_steps, max_steps, cfg.min_lr_ratio, self.lr_factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1, "name": "lr"},
        }
