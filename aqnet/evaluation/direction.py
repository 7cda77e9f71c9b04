"""Which way is better for a metric: the one rule tasks (their monitored metric) and ``aqnet-compare`` (the ★ of
the best group, the "better" column) share. A new score of a task names its token in the task's
``higher_is_better_tokens`` (:class:`aqnet.tasks.base.Task`); the common scores are here.

A metric name (``test/csi_pm25_75_24h``, ``test/damped_persistence_rmse_o3_12h``) is read token by token (split on
``_``): a higher-is-better token wins, then a closer-to-zero one (biases), else lower is better (errors, losses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

Direction = Literal["higher", "zero", "lower"]

# skill scores, exceedance scores (critical success index, probability of detection, equitable threat score,
# Heidke), correlations (anomaly correlation, Pearson r), F1, average precision, Brier skill score
HIGHER_IS_BETTER = frozenset({"skill", "csi", "pod", "ets", "hss", "acc", "r", "pearson", "corr", "f1", "ap", "bss"})
# mean bias, normalised mean bias: 0 is perfect, either sign is an error
CLOSER_TO_ZERO = frozenset({"bias", "mb", "nmb"})
# named for the reader; any other token also falls to "lower"
LOWER_IS_BETTER = frozenset({"rmse", "mse", "mae", "nme", "far", "brier", "crps", "loss"})


def direction(metric: str, higher_tokens: Iterable[str] = ()) -> Direction:
    """Which values of ``metric`` are better: "higher", "zero" (closest to 0) or "lower"; e.g.
    ``test/skill_persistence_o3_12h`` → higher, ``test/bias_pm25_24h`` → zero, ``test/rmse_pm25_24h`` → lower.
    ``higher_tokens``: more higher-is-better tokens (a task's own scores)."""
    tokens = set(re.split(r"[_\-]", metric.rsplit("/", 1)[-1].lower()))
    if tokens & (HIGHER_IS_BETTER | set(higher_tokens)):
        return "higher"
    return "zero" if tokens & CLOSER_TO_ZERO else "lower"


def badness(
    metric: str, values: pd.Series | np.ndarray | float, higher_tokens: Iterable[str] = ()
) -> pd.Series | np.ndarray | float:
    """The values turned so that lower is better whatever the metric: ranking and "better" compare these."""
    way = direction(metric, higher_tokens)
    if way == "higher":
        return -values
    return abs(values) if way == "zero" else values


def better(metric: str, candidate: float, reference: float, higher_tokens: Iterable[str] = ()) -> str:
    """Which of two values is better for ``metric``: "group" (the candidate), "reference", "equal", or "" when
    either is missing."""
    a, b = badness(metric, candidate, higher_tokens), badness(metric, reference, higher_tokens)
    if not (np.isfinite(a) and np.isfinite(b)):
        return ""
    return "group" if a < b else "reference" if b < a else "equal"
