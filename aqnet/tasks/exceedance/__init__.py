"""``task=exceedance``: per-pixel probability that a pollutant exceeds a threshold at each lead (warnings).

One sample is (inputs at init, the pollutants' fields at init + lead, lead), as for a forecast; the model's
outputs are one logit per (pollutant, threshold) channel, trained with a combo loss (BCE + Dice + focal, masked:
the store's mask and missing values are ignored like an ignore index) and turned into *calibrated* probabilities
by a Platt scaling fit on the validation split. Scored per channel × lead beside thresholded persistence, the
training years' climatological probability and, with ``compare_to``, a forecast run's thresholded fields
(:mod:`aqnet.tasks.exceedance.module`). Thresholds are in the pollutant's canonical units (µg m-3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aqnet.errors import ConfigError
from aqnet.tasks.base import ModelIO, Task
from aqnet.tasks.exceedance.names import BASELINES, FORECAST, MODEL, SCORES, channel_name, channels, metric_name
from aqnet.variables import LEAD_HOURS, POLLUTANTS

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from rich.console import RenderableType

    from aqnet.data.datamodule import AirQualityDataModule
    from aqnet.finetune.phases import PhasePlan
    from aqnet.tasks.exceedance.module import ExceedanceModule

AUTO = "auto"  # a loss weight taken from the training years' base rate
OPTIMISE = "optimise_on_val"  # the decision threshold that maximises the validation CSI
STATISTICS = ("instantaneous", "daily_mean")


def _number_or(value: Any, word: str, key: str) -> None:
    if value == word:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}={value!r} must be a number or {word!r}")


@dataclass
class ComboLossConfig:
    """Weights of the combo loss (BCE + Dice + focal) and its parameters; ``auto`` uses the training base rate."""

    bce: float = 0.5
    dice: float = 0.3
    focal: float = 0.2
    focal_gamma: float = 2.0  # focusing exponent γ ≥ 0 (0: the focal term is an α-weighted BCE)
    focal_alpha: Any = 0.25  # weight of the positives in [0, 1], or "auto" (1 − base rate)
    pos_weight: Any = 1.0  # BCE weight of the positives > 0, or "auto" ((1 − base rate) / base rate)

    def __post_init__(self) -> None:
        weights = {"bce": self.bce, "dice": self.dice, "focal": self.focal}
        negative = {k: v for k, v in weights.items() if v < 0}
        if negative:
            raise ConfigError(f"task.loss weights {negative} are negative; each of bce, dice, focal must be >= 0")
        if not any(weights.values()):
            raise ConfigError("task.loss.bce, dice and focal are all 0: give at least one loss part a weight > 0")
        if self.focal_gamma < 0:
            raise ConfigError(f"task.loss.focal_gamma={self.focal_gamma} must be >= 0")
        _number_or(self.focal_alpha, AUTO, "task.loss.focal_alpha")
        if self.focal_alpha != AUTO and not 0 <= self.focal_alpha <= 1:
            raise ConfigError(f"task.loss.focal_alpha={self.focal_alpha} must be within [0, 1] (or 'auto')")
        _number_or(self.pos_weight, AUTO, "task.loss.pos_weight")
        if self.pos_weight != AUTO and not self.pos_weight > 0:
            raise ConfigError(f"task.loss.pos_weight={self.pos_weight} must be > 0 (or 'auto')")


@dataclass
class Exceedance(Task):
    """P(pollutant > threshold) at every lead of ``lead_hours``, one channel per (pollutant, threshold)."""

    _target_: str = "aqnet.tasks.exceedance.module.ExceedanceModule"
    name: str = "exceedance"
    monitor: str = "val/loss"
    pollutants: list[str] = field(default_factory=lambda: ["pm25"])
    thresholds: dict[str, list[float]] = field(default_factory=lambda: {"pm25": [75.0, 150.0]})  # µg m-3
    lead_hours: list[int] = field(default_factory=lambda: list(LEAD_HOURS))
    statistic: str = "instantaneous"  # the value at the valid time | the local-day mean (not yet available)
    loss: ComboLossConfig = field(default_factory=ComboLossConfig)
    decision_threshold: Any = 0.5  # probability above which a warning is issued, or "optimise_on_val"
    calibrate: bool = True  # Platt scaling of the logits, fit on the validation split after each validation
    compare_to: str | None = None  # a task=forecast run (id or run directory): its thresholded forecast is scored
    climatology_max_frames: int = 2000  # training frames read for the climatological probability (evenly spaced)

    architecture_keys: ClassVar[tuple[str, ...]] = ("pollutants", "thresholds")  # the head's output channels

    def __post_init__(self) -> None:
        if not self.pollutants:
            raise ConfigError("task.pollutants is empty; name at least one pollutant, e.g. [pm25]")
        if len(set(self.pollutants)) != len(self.pollutants):
            raise ConfigError(f"task.pollutants has duplicates: {list(self.pollutants)}")
        unknown = [p for p in self.pollutants if p not in POLLUTANTS]
        if unknown:
            raise ConfigError(f"task.pollutants {unknown} are not pollutants; choose from {list(POLLUTANTS)}")
        missing = [p for p in self.pollutants if not self.thresholds.get(p)]
        if missing:
            raise ConfigError(f"task.thresholds has no threshold for {missing}; e.g. task.thresholds={{pm25: [75]}}")
        extra = [p for p in self.thresholds if p not in self.pollutants]
        if extra:
            raise ConfigError(f"task.thresholds names {extra}, which task.pollutants={list(self.pollutants)} lacks")
        for p in self.pollutants:
            bad = [t for t in self.thresholds[p] if not t > 0]
            if bad:
                raise ConfigError(f"task.thresholds.{p}={list(self.thresholds[p])}: {bad} must be > 0 (µg m-3)")
            if len(set(self.thresholds[p])) != len(self.thresholds[p]):
                raise ConfigError(f"task.thresholds.{p}={list(self.thresholds[p])} has duplicates")
        if not self.lead_hours or any(h <= 0 for h in self.lead_hours):
            raise ConfigError(f"task.lead_hours={list(self.lead_hours)} must be a non-empty list of positive hours")
        if self.statistic not in STATISTICS:
            raise ConfigError(f"task.statistic={self.statistic!r} must be one of {list(STATISTICS)}")
        if self.statistic == "daily_mean":
            raise ConfigError(
                "task.statistic=daily_mean is not available yet (samples hold one valid time); use instantaneous"
            )
        _number_or(self.decision_threshold, OPTIMISE, "task.decision_threshold")
        if self.decision_threshold != OPTIMISE and not 0 < self.decision_threshold < 1:
            raise ConfigError(f"task.decision_threshold={self.decision_threshold} must be within (0, 1) or {OPTIMISE}")
        if self.climatology_max_frames < 1:
            raise ConfigError(f"task.climatology_max_frames={self.climatology_max_frames} must be >= 1")

    @property
    def channels(self) -> list[tuple[str, float]]:
        return channels(self.thresholds, self.pollutants)

    @property
    def channel_names(self) -> list[str]:
        return [channel_name(p, t) for p, t in self.channels]

    @property
    def baselines(self) -> tuple[str, ...]:
        return (*BASELINES, *((FORECAST,) if self.compare_to else ()))

    # -- checks -------------------------------------------------------------------------------------------------
    def check(self, cfg: DictConfig) -> None:
        missing = [p for p in self.pollutants if p not in cfg.data.inputs]
        if missing:
            raise ConfigError(
                f"task.pollutants {missing} are not among data.inputs; a pollutant must also be an input "
                "(its value at init time feeds the model and the thresholded persistence)"
            )
        if self.compare_to:
            from aqnet.tasks.exceedance.reference import check_forecast_run

            check_forecast_run(cfg, self)

    def check_data(self, cfg: DictConfig, datamodule: AirQualityDataModule) -> None:
        """Each threshold must be exceeded somewhere in the training years (else nothing can be learnt)."""
        rates = self.base_rates(datamodule)
        never = [name for name, rate in rates.items() if not rate > 0]
        if never:
            raise ConfigError(
                f"task.thresholds: {never} never exceeded in the training years {list(cfg.data.train_years)}; "
                "lower the threshold or train on more years"
            )

    def base_rates(self, datamodule: AirQualityDataModule) -> dict[str, float]:
        """Area-weighted share of valid training pixels above each channel's threshold."""
        from aqnet.tasks.exceedance.climatology import exceedance_climatology

        return exceedance_climatology(datamodule, self.channels, self.climatology_max_frames).base_rates

    # -- building a run -------------------------------------------------------------------------------------------
    def datamodule(self, cfg: DictConfig, store: Path) -> AirQualityDataModule:
        from aqnet.data.datamodule import AirQualityDataModule

        return AirQualityDataModule.from_config(cfg, store, self.pollutants, self.lead_hours)

    def model_io(self, cfg: DictConfig, datamodule: AirQualityDataModule) -> ModelIO:
        from omegaconf import OmegaConf

        return ModelIO(
            inputs=tuple(cfg.data.inputs),
            outputs=tuple(self.channel_names),
            grid_shape=datamodule.grid_shape,
            statistics=datamodule.statistics,
            transforms=OmegaConf.to_object(cfg.data).input_transforms(),  # type: ignore[union-attr]
            output_is_field=False,  # logits, not physical fields
        )

    def module(
        self,
        cfg: DictConfig,
        model: Any,
        datamodule: AirQualityDataModule,
        run_dir: Path | None = None,
        phases: PhasePlan | None = None,
    ) -> ExceedanceModule:
        from aqnet.tasks.exceedance.build import build_module

        return build_module(self, cfg, model, datamodule, run_dir, phases)

    # -- metrics ----------------------------------------------------------------------------------------------------
    def metric_names(self, split: str) -> list[str]:
        names = [f"{split}/loss", *(f"{split}/loss_{part}" for part in ("bce", "dice", "focal"))]
        sources = (MODEL, *self.baselines) if split != "val" else (MODEL,)
        for source in sources:
            for score in SCORES:
                names += [metric_name(split, score, c, h, source) for c in self.channel_names for h in self.lead_hours]
        return names

    def report(self, metrics: Mapping[str, float], split: str = "test") -> RenderableType:
        from aqnet.tasks.exceedance.report import results_table

        return results_table(metrics, self.channel_names, self.lead_hours, self.baselines, split)

    # -- finished runs ------------------------------------------------------------------------------------------------
    def evaluate(self, run: Any, **options: Any) -> Any:
        from aqnet.tasks.exceedance.inference import evaluate_exceedance

        return evaluate_exceedance(run, **options)

    def predict(self, run: Any, **options: Any) -> Any:
        from aqnet.tasks.exceedance.inference import predict_exceedance

        return predict_exceedance(run, **options)
