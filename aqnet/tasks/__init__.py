"""Training and scoring: the LightningModule, loss, metrics, baselines, optimiser and results table."""

from aqnet.tasks.baselines import HourlyClimatology, persistence, valid_hour_of_day
from aqnet.tasks.forecast import ForecastTask
from aqnet.tasks.losses import LatWeightedMSE, latitude_weights
from aqnet.tasks.metrics import MAE, Bias, ForecastMetrics, PooledLoss, PooledRMSE, metric_name, skill, skill_scores
from aqnet.tasks.optim import OptimConfig, build_optimizer, build_scheduler, classify_parameters
from aqnet.tasks.report import format_results_table, results_rows

__all__ = [
    "MAE",
    "Bias",
    "ForecastMetrics",
    "ForecastTask",
    "HourlyClimatology",
    "LatWeightedMSE",
    "OptimConfig",
    "PooledLoss",
    "PooledRMSE",
    "build_optimizer",
    "build_scheduler",
    "classify_parameters",
    "format_results_table",
    "latitude_weights",
    "metric_name",
    "persistence",
    "results_rows",
    "skill",
    "skill_scores",
    "valid_hour_of_day",
]
