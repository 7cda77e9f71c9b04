"""Which way is better for each compared metric: the shared rule (:mod:`aqnet.evaluation.direction`) with the
higher-is-better tokens every task declares (so a task's own score, e.g. an accuracy, is ranked the right way)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from aqnet.evaluation import direction as rule


@cache
def task_tokens() -> frozenset[str]:
    """The higher-is-better tokens of every task (aqnet/tasks/*)."""
    from aqnet.tasks.base import task_specs

    return frozenset(t for spec in task_specs().values() for t in spec.higher_is_better_tokens)


def direction(metric: str) -> rule.Direction:
    return rule.direction(metric, task_tokens())


def badness(metric: str, values: pd.Series | np.ndarray | float) -> pd.Series | np.ndarray | float:
    return rule.badness(metric, values, task_tokens())


def better(metric: str, candidate: float, reference: float) -> str:
    return rule.better(metric, candidate, reference, task_tokens())
