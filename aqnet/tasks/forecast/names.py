"""The names of a forecast's scores and references (the MLflow contract; docs/architecture.md)."""

from __future__ import annotations

# scores per target × lead of the model and of every reference (aqnet.tasks.forecast.metrics)
SCORES = ("rmse", "mae", "bias", "nmb", "nme", "corr")
MODEL = "model"  # the source whose metric names carry no prefix
# the references every forecast is scored beside (aqnet.tasks.forecast.baselines / .references)
BASELINES = ("persistence", "climatology", "seasonal_climatology", "damped_persistence")


def format_lead(lead: float) -> str:
    """12.0 → "12", 1.5 → "1.5" (the ``{lead}`` in metric names)."""
    return f"{float(lead):g}"


def metric_name(split: str, score: str, var: str, lead: float, source: str = MODEL) -> str:
    """``{split}/{score}_{var}_{lead}h``, or ``{split}/{source}_{score}_{var}_{lead}h`` for a baseline."""
    prefix = "" if source == MODEL else f"{source}_"
    return f"{split}/{prefix}{score}_{var}_{format_lead(lead)}h"
