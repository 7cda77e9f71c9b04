"""The names of an exceedance task's output channels, scores and references (the MLflow contract).

One output channel per (pollutant, threshold): ``pm25_gt75``. Several thresholds of one pollutant are cumulative
channels (P(> 150) ≤ P(> 75) for a consistent forecast). Metrics: ``{split}/{score}_{pollutant}_gt{threshold}_{lead}h``,
a reference's with its name after the split (``test/persistence_csi_pm25_gt75_24h``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aqnet.tasks.forecast.names import format_lead

# scores per channel × lead (aqnet.tasks.exceedance.metrics): contingency scores at the decision threshold, and
# the probability scores (Brier, Brier skill against the climatological probability, average precision)
SCORES = ("csi", "ets", "pod", "far", "f1", "brier", "bss", "ap")
MODEL = "model"
# references: thresholded persistence, the training years' per-pixel exceedance frequency, and (with
# task.compare_to) the thresholded forecast of a task=forecast run
BASELINES = ("persistence", "climatology")
FORECAST = "forecast"
CLIMATOLOGY = "climatology"
LOSS_PARTS = ("bce", "dice", "focal")


def channel_name(pollutant: str, threshold: float) -> str:
    """``pm25``, 75 → ``pm25_gt75``."""
    return f"{pollutant}_gt{float(threshold):g}"


def channels(thresholds: Mapping[str, Sequence[float]], pollutants: Sequence[str]) -> list[tuple[str, float]]:
    """(pollutant, threshold) of every output channel, pollutants in order, thresholds ascending."""
    return [(p, float(t)) for p in pollutants for t in sorted(float(x) for x in thresholds[p])]


def metric_name(split: str, score: str, channel: str, lead: float, source: str = MODEL) -> str:
    prefix = "" if source == MODEL else f"{source}_"
    return f"{split}/{prefix}{score}_{channel}_{format_lead(lead)}h"
