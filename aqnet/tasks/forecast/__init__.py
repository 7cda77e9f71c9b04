"""``task=forecast``: pollutant fields at fixed leads from the state at init time (the default task).

One sample is (inputs at init, targets at init + lead, lead); the model's outputs are the target fields, trained
with a latitude-weighted MSE in normalised units and scored per target × lead in physical units beside the
persistence and hour-of-day climatology baselines (:mod:`aqnet.tasks.forecast.module`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aqnet.errors import ConfigError
from aqnet.tasks.base import ModelIO, Task
from aqnet.tasks.forecast.names import BASELINES, MODEL, SCORES, metric_name
from aqnet.variables import LEAD_HOURS, POLLUTANTS

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from rich.console import RenderableType

    from aqnet.data.datamodule import AirQualityDataModule
    from aqnet.finetune.phases import PhasePlan
    from aqnet.tasks.forecast.module import ForecastModule


@dataclass
class Forecast(Task):
    """Forecast ``targets`` at every lead of ``lead_hours`` (hours after the init time)."""

    _target_: str = "aqnet.tasks.forecast.module.ForecastModule"
    name: str = "forecast"
    targets: list[str] = field(default_factory=lambda: list(POLLUTANTS))
    lead_hours: list[int] = field(default_factory=lambda: list(LEAD_HOURS))
    seasonal_window_days: float = 15.0  # half-width of the day-of-year windows of the seasonal climatology
    damping_samples: int = 256  # training pairs per lead that fit damped persistence's φ
    daily_utc_offset_hours: float = 8.0  # daily scores over local days: UTC + this (China Standard Time)

    architecture_keys: ClassVar[tuple[str, ...]] = ("targets",)  # the head's output channels

    def __post_init__(self) -> None:
        if not self.targets:
            raise ConfigError("task.targets is empty; name at least one target variable")
        if len(set(self.targets)) != len(self.targets):
            raise ConfigError(f"task.targets has duplicates: {list(self.targets)}")
        if not self.lead_hours or any(h <= 0 for h in self.lead_hours):
            raise ConfigError(f"task.lead_hours={list(self.lead_hours)} must be a non-empty list of positive hours")
        if not 0 < self.seasonal_window_days <= 183:
            raise ConfigError(f"task.seasonal_window_days={self.seasonal_window_days} must be within (0, 183]")
        if self.damping_samples < 1:
            raise ConfigError(f"task.damping_samples={self.damping_samples} must be >= 1")

    # -- building a run -------------------------------------------------------------------------------------------
    def datamodule(self, cfg: DictConfig, store: Path) -> AirQualityDataModule:
        from aqnet.data.datamodule import AirQualityDataModule

        datamodule = AirQualityDataModule.from_config(cfg, store, self.targets, self.lead_hours)
        datamodule.eval_day_offset_hours = self.daily_utc_offset_hours  # each local day on one rank
        return datamodule

    def check(self, cfg: DictConfig) -> None:
        from aqnet.variables import VARIABLES

        unknown = [v for v in self.targets if v not in VARIABLES]
        if unknown:
            raise ConfigError(f"task.targets names unknown variables {unknown}; known: {list(VARIABLES)}")
        missing = [t for t in self.targets if t not in cfg.data.inputs]
        if missing:
            raise ConfigError(
                f"task.targets {missing} are not among data.inputs; a target must also be an input "
                "(its value at init time feeds the model and the persistence baseline)"
            )

    def model_io(self, cfg: DictConfig, datamodule: AirQualityDataModule) -> ModelIO:
        from omegaconf import OmegaConf

        damping = None
        if cfg.backbone.get("predict") == "damped":  # a model that starts from damped persistence stores it
            damping = (*self._damping(datamodule), tuple(float(h) for h in self.lead_hours))
        return ModelIO(
            inputs=tuple(cfg.data.inputs),
            outputs=tuple(self.targets),
            grid_shape=datamodule.grid_shape,
            statistics=datamodule.statistics,
            transforms=OmegaConf.to_object(cfg.data).input_transforms(),  # type: ignore[union-attr]
            climatology=datamodule.climatology,
            damping=damping,
        )

    def _damping(self, datamodule: AirQualityDataModule) -> tuple[Any, Any]:
        from aqnet.tasks.forecast.references import fitted_damping

        return fitted_damping(
            datamodule, self.targets, self.lead_hours, self.seasonal_window_days, self.damping_samples
        )

    def module(
        self,
        cfg: DictConfig,
        model: Any,
        datamodule: AirQualityDataModule,
        run_dir: Path | None = None,
        phases: PhasePlan | None = None,
    ) -> ForecastModule:
        from hydra.utils import get_class

        from aqnet.training.optim import optimization

        module_class = get_class(self._target_)
        return module_class(
            model=model,
            lat=datamodule.lat,
            target_names=list(self.targets),
            lead_hours=list(self.lead_hours),
            climatology=datamodule.climatology,
            optimization=optimization(cfg, self, model, phases),
            evaluation_dir=run_dir / "evaluation" if run_dir is not None else None,
            lon=datamodule.lon,
            references=self.references(datamodule),
            daily_days=self.daily_days(datamodule, "test"),
            utc_offset_hours=self.daily_utc_offset_hours,
        )

    def daily_days(self, datamodule: AirQualityDataModule, split: str) -> dict[tuple[float, float], int]:
        """(lead, local day) → the number of ``split`` samples valid on it (what the daily scores wait for)."""
        from aqnet.tasks.forecast.daily import expected_days

        index, times = datamodule.indexes[split], datamodule.handle.times.astype("datetime64[s]").astype("int64")
        return expected_days(times[index.init_index], index.lead_hours, self.daily_utc_offset_hours)

    def references(self, datamodule: AirQualityDataModule) -> dict[str, Any]:
        """The seasonal climatology and damped persistence of the training years (cached with the statistics)."""
        from aqnet.tasks.forecast.references import build_references

        return build_references(
            datamodule, self.targets, self.lead_hours, self.seasonal_window_days, self.damping_samples
        )

    # -- metrics ----------------------------------------------------------------------------------------------------
    def metric_names(self, split: str) -> list[str]:
        names = [f"{split}/loss"]
        for source in (MODEL, *(BASELINES if split != "val" else ())):
            for score in SCORES:
                names += [metric_name(split, score, v, h, source) for v in self.targets for h in self.lead_hours]
        return names

    def report(self, metrics: Mapping[str, float], split: str = "test") -> RenderableType:
        from aqnet.tasks.forecast.report import format_results_table

        return format_results_table(metrics, split=split)

    # -- finished runs ------------------------------------------------------------------------------------------------
    def evaluate(self, run: Any, **options: Any) -> Any:
        from aqnet.inference.evaluate import evaluate_forecast

        return evaluate_forecast(run, **options)

    def predict(self, run: Any, **options: Any) -> Any:
        from aqnet.inference.predict import predict_forecast

        return predict_forecast(run, **options)
