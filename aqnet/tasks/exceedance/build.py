"""The exceedance task's LightningModule from a run's config: loss weights (``auto`` from the training base rate),
the climatological probability, the decision rule and the optional forecast run to compare to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aqnet.tasks.exceedance import AUTO, OPTIMISE, Exceedance
from aqnet.tasks.exceedance.climatology import exceedance_climatology
from aqnet.tasks.exceedance.losses import ComboLoss
from aqnet.tasks.exceedance.module import ExceedanceModule

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from aqnet.data.datamodule import AirQualityDataModule
    from aqnet.finetune.phases import PhasePlan


def auto_weights(task: Exceedance, base_rates: dict[str, float]) -> tuple[list[float], list[float]]:
    """(pos_weight, focal_alpha) per channel: the configured numbers, or from each channel's base rate r:
    pos_weight = (1 − r) / r (positives weigh as much as negatives in BCE), α = 1 − r."""
    rates = [min(max(base_rates[name], 1e-6), 1 - 1e-6) for name in task.channel_names]
    loss = task.loss
    pos = [(1 - r) / r if loss.pos_weight == AUTO else float(loss.pos_weight) for r in rates]
    alpha = [1 - r if loss.focal_alpha == AUTO else float(loss.focal_alpha) for r in rates]
    return pos, alpha


def combo_loss(task: Exceedance, lat: torch.Tensor, base_rates: dict[str, float]) -> ComboLoss:
    pos, alpha = auto_weights(task, base_rates)
    weights = {"bce": task.loss.bce, "dice": task.loss.dice, "focal": task.loss.focal}
    return ComboLoss(lat, weights, pos, alpha, task.loss.focal_gamma)


def build_module(
    task: Exceedance,
    cfg: DictConfig,
    model: Any,
    datamodule: AirQualityDataModule,
    run_dir: Path | None = None,
    phases: PhasePlan | None = None,
) -> ExceedanceModule:
    from aqnet.training.optim import optimization

    climatology = exceedance_climatology(datamodule, task.channels, task.climatology_max_frames)
    forecast = None
    if task.compare_to:
        from aqnet.tasks.exceedance.reference import load_forecast

        forecast = load_forecast(cfg, task)
    return ExceedanceModule(
        model=model,
        lat=datamodule.lat,
        lon=datamodule.lon,
        channels=task.channels,
        lead_hours=task.lead_hours,
        loss=combo_loss(task, datamodule.lat, climatology.base_rates),
        climatology=torch.from_numpy(climatology.probability),
        decision=None if task.decision_threshold == OPTIMISE else float(task.decision_threshold),
        calibrate=task.calibrate,
        optimization=optimization(cfg, task, model, phases),
        evaluation_dir=run_dir / "evaluation" if run_dir is not None else None,
        forecast=forecast,
        baselines=task.baselines,
    )
