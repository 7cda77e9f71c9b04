"""ExceedanceModule: trains a logit network with the combo loss; scores calibrated probabilities beside references.

Training: the combo loss (:mod:`aqnet.tasks.exceedance.losses`) on the valid pixels, its parts logged as
``train/loss_{bce,dice,focal}``. Validation: the pooled loss and the scores of the *raw* probability σ(z) at 0.5,
then the Platt scaling (a, b) and the decision threshold are fit on the epoch's logits (buffers: they travel in the
checkpoint of that validation). Test, ``aqnet-eval`` and ``aqnet-predict``: calibrated probabilities
σ(a·z + b), warnings where p ≥ the decision threshold, scored with the references on the same pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from aqnet.data.batch import MovesBatches
from aqnet.tasks.exceedance.calibration import LOGIT_RANGE, LogitHistogram, best_threshold, fit_platt
from aqnet.tasks.exceedance.cases import CaseCounts
from aqnet.tasks.exceedance.losses import ComboLoss
from aqnet.tasks.exceedance.metrics import ExceedanceMetrics, lead_onehot
from aqnet.tasks.exceedance.names import CLIMATOLOGY, FORECAST, MODEL, channel_name
from aqnet.training.logging import log_physics_parameters
from aqnet.training.optim import Optimization


def calibrated_probability(logits: Tensor, lead_hours: Tensor, leads: Tensor, platt: Tensor) -> Tensor:
    """σ(a·z + b) with each sample's lead's Platt parameters ``platt`` [2, C, L] (leads [L] hours)."""
    lead = lead_onehot(lead_hours, leads).argmax(1)
    a, b = platt[0][:, lead].T, platt[1][:, lead].T  # [B, C]
    return torch.sigmoid(a[:, :, None, None] * logits.float() + b[:, :, None, None])


class ExceedanceModule(MovesBatches, L.LightningModule):
    """Args:
    model: ``model(inputs, lead_hours, hour_of_day, day_of_year)`` → logits [B, C, H, W], one per channel.
    channels: (pollutant, threshold) per output channel, thresholds in the pollutant's canonical units.
    climatology: [C, H, W] the training years' exceedance frequency (the climatological probability).
    decision: the warning threshold in (0, 1), or None to optimise it on validation (max CSI).
    forecast: a finished forecast run's network (``task.compare_to``), whose fields are thresholded.
    """

    def __init__(
        self,
        model: nn.Module,
        lat: Tensor,
        lon: Tensor,
        channels: Sequence[tuple[str, float]],
        lead_hours: Sequence[float],
        loss: ComboLoss,
        climatology: Tensor,
        decision: float | None = 0.5,
        calibrate: bool = True,
        optimization: Optimization | None = None,
        evaluation_dir: Path | None = None,
        forecast: nn.Module | None = None,
        baselines: Sequence[str] = ("persistence", CLIMATOLOGY),
    ) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss
        self.channels = [(p, float(t)) for p, t in channels]
        self.channel_names = [channel_name(p, t) for p, t in self.channels]
        self.pollutants = list(dict.fromkeys(p for p, _ in self.channels))
        self.lead_hours = tuple(float(h) for h in lead_hours)
        self.optimization = optimization or Optimization()
        self.fixed_decision, self.calibrate = decision, calibrate
        self.evaluation_dir = evaluation_dir
        self.forecast = forecast
        self.baselines = tuple(baselines)
        self.register_buffer("lat", torch.as_tensor(lat, dtype=torch.float32), persistent=False)
        self.register_buffer("lon", torch.as_tensor(lon, dtype=torch.float32), persistent=False)
        self.register_buffer("_leads", torch.tensor(self.lead_hours), persistent=False)
        self.register_buffer("clim_probability", torch.as_tensor(climatology, dtype=torch.float32), persistent=False)
        shape = (len(self.channels), len(self.lead_hours))
        # fit on validation, saved with each checkpoint: Platt (a, b) and the warning threshold per channel × lead
        self.register_buffer("platt", torch.stack([torch.ones(shape), torch.zeros(shape)]))
        self.register_buffer("decision", torch.full(shape, 0.5 if decision is None else float(decision)))
        lat_t = self.lat
        self.val_metrics = ExceedanceMetrics(self.channel_names, self.lead_hours, lat_t, (MODEL,))
        self.test_metrics = ExceedanceMetrics(self.channel_names, self.lead_hours, lat_t, (MODEL, *self.baselines))
        self.histogram = LogitHistogram(len(self.channels), self.lead_hours, lat_t)
        self.test_cases = CaseCounts(self.channel_names, lat_t, (MODEL, *self.baselines))
        self.split = "test"  # what the test loop's metrics are named after (aqnet-eval scores any split)
        self.final_metrics: dict[str, float] = {}
        self.examples: dict[float, dict[str, Tensor]] = {}  # one test case per lead, for the probability maps

    # -- batches ---------------------------------------------------------------------------------------------------
    def forward(self, batch: Any) -> Tensor:
        """Logits [B, C, H, W]."""
        return self.model(batch.inputs, batch.lead_hours, batch.hour_of_day, batch.day_of_year)

    def labels(self, batch: Any) -> tuple[Tensor, Tensor]:
        """(exceeds [B, C, H, W] bool, valid [B, C, H, W] bool) of each channel, from the targets by name."""
        index = [batch.target_names.index(p) for p, _ in self.channels]
        thresholds = torch.tensor([t for _, t in self.channels], device=batch.targets.device)
        targets = batch.targets[:, index]
        return targets > thresholds[None, :, None, None], batch.target_valid[:, index].bool()

    def probability(self, logits: Tensor, lead_hours: Tensor) -> Tensor:
        """Calibrated probabilities σ(a·z + b) with each sample's lead's (a, b)."""
        return calibrated_probability(logits, lead_hours, self._leads, self.platt)

    def warning_threshold(self, lead_hours: Tensor) -> Tensor:
        return self.decision[:, lead_onehot(lead_hours, self._leads).argmax(1)].T  # [B, C]

    def references(self, batch: Any) -> dict[str, Tensor]:
        """The references' probabilities [B, C, H, W]: thresholded persistence, climatology, a forecast run's."""
        thresholds = torch.tensor([t for _, t in self.channels], device=batch.inputs.device)[None, :, None, None]
        init = batch.inputs[:, [batch.input_names.index(p) for p, _ in self.channels]]
        clim = self.clim_probability[None].expand(len(batch), -1, -1, -1)
        out = {"persistence": (init > thresholds).float(), CLIMATOLOGY: clim}
        if self.forecast is not None and FORECAST in self.baselines:
            with torch.no_grad():
                fields = self.forecast.predict_physical(
                    batch.inputs, batch.lead_hours, batch.hour_of_day, batch.day_of_year
                )
            names = list(self.forecast.target_names)
            fields = fields[:, [names.index(p) for p, _ in self.channels]]
            out[FORECAST] = (fields > thresholds).float()
        return {k: v for k, v in out.items() if k in self.baselines}

    # -- training --------------------------------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        labels, valid = self.labels(batch)
        loss, parts = self.loss_fn(self(batch), labels, valid)
        bs = len(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=bs, sync_dist=True)
        for name, value in parts.items():
            self.log(f"train/loss_{name}", value, on_step=True, on_epoch=False, batch_size=bs, sync_dist=True)
        log_physics_parameters(self, self.model, bs)
        return loss

    # -- evaluation ------------------------------------------------------------------------------------------------
    def _evaluate(self, batch: Any, metrics: ExceedanceMetrics, testing: bool) -> None:
        """Validation (``testing`` False): the raw σ(z) at 0.5, logits into the calibration histogram. Test (any
        split under aqnet-eval): calibrated probabilities at the decision thresholds, beside the references."""
        labels, valid = self.labels(batch)
        logits = self(batch)
        metrics.update_loss(self.loss_fn.terms(logits, labels, valid))
        clim = self.clim_probability[None].expand_as(logits)
        if not testing:
            half = torch.full(logits.shape[:2], 0.5, device=logits.device)
            metrics.update(MODEL, torch.sigmoid(logits.float()), labels, valid, batch.lead_hours, half, clim)
            self.histogram.update(logits, labels, valid, batch.lead_hours)
            return
        decision = self.warning_threshold(batch.lead_hours)
        probs = {MODEL: self.probability(logits, batch.lead_hours), **self.references(batch)}
        for source, prob in probs.items():
            metrics.update(source, prob, labels, valid, batch.lead_hours, decision, clim)
            ok = valid & torch.isfinite(clim)
            self.test_cases.update(source, prob, labels, ok, decision, batch.init_time, batch.lead_hours)
        self._keep_examples(batch, probs[MODEL], labels, valid)

    def _keep_examples(self, batch: Any, prob: Tensor, labels: Tensor, valid: Tensor) -> None:
        """The case with the most exceedance per lead (first seen on ties), for the probability maps."""
        for i, lead in enumerate(batch.lead_hours.tolist()):
            events = float((labels[i, 0] & valid[i, 0]).sum())
            kept = self.examples.get(lead)
            if kept is None or events > float(kept["events"]):
                elevation = batch.input("elevation")[i] if "elevation" in batch.input_names else None
                self.examples[lead] = {
                    "prob": prob[i].detach().cpu(),
                    "observed": labels[i].cpu(),
                    "valid": valid[i].cpu(),
                    "events": torch.tensor(events),
                    "init_time": batch.init_time[i].cpu(),
                    **({"elevation": elevation.cpu()} if elevation is not None else {}),
                }

    def _log_epoch(self, metrics: ExceedanceMetrics, split: str) -> dict[str, float]:
        values = metrics.compute(split)
        sums = metrics.loss_state()
        if sums:
            total, parts = self.loss_fn.combine(sums)
            values[f"{split}/loss"] = float(total)
            values |= {f"{split}/loss_{k}": float(v) for k, v in parts.items()}
        metrics.reset()
        for name, value in values.items():
            self.log(name, value, on_step=False, on_epoch=True, sync_dist=True, prog_bar=name == f"{split}/loss")
        return values

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, testing=False)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics, "val")
        self.fit_calibration()

    def fit_calibration(self) -> None:
        """Platt (a, b) and the decision threshold per channel × lead from this validation's logit histogram."""
        weight, label = (x.detach().cpu() for x in self.histogram.compute())
        self.histogram.reset()
        centres = self.histogram.centres()
        lower = centres - LOGIT_RANGE / self.histogram.bins  # each bin's lower edge
        platt, decision = self.platt.detach().cpu().clone(), self.decision.detach().cpu().clone()
        for c in range(weight.shape[0]):
            for j in range(weight.shape[1]):
                a, b = fit_platt(centres, weight[c, j], label[c, j]) if self.calibrate else (1.0, 0.0)
                platt[0, c, j], platt[1, c, j] = a, b
                if self.fixed_decision is None:
                    edges = torch.sigmoid(a * lower + b)
                    decision[c, j] = best_threshold(edges, weight[c, j], label[c, j])
        self.platt.copy_(platt.to(self.platt.device))
        self.decision.copy_(decision.to(self.decision.device))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, testing=True)

    def on_test_epoch_end(self) -> None:
        reliability = self.test_metrics.scores[MODEL].reliability()
        self.final_metrics = self._log_epoch(self.test_metrics, self.split)
        frame = self.test_cases.frame()
        if self.evaluation_dir is not None and self.trainer.is_global_zero:
            from aqnet.tasks.exceedance.plots import write_figures

            self.evaluation_dir.mkdir(parents=True, exist_ok=True)
            self.test_cases.write(frame, self.evaluation_dir)
            write_figures(self, self.final_metrics, reliability, self.evaluation_dir / "plots", self.split)
        self.test_cases.reset()

    def calibration_state(self) -> Mapping[str, Tensor]:
        return {"platt": self.platt, "decision": self.decision}

    # -- optimisation ----------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        return self.optimization.configure(self, self.model)
