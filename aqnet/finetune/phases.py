"""Freeze phases: which parameters train, and at what learning rate, over the course of a fine-tune.

A plan is a list of phases; each names the trainable parameters by regular expressions on their names, an
optional peak learning rate, and its length in optimizer steps or epochs (the last phase runs to the end).
Frozen parameters have ``requires_grad=False``: they get no gradient, so AdamW skips them entirely (no weight
decay, no moment update) and they stay bit-identical. All optimizer groups exist from the start; a phase's
learning rate is applied as a factor on each group's schedule (LR schedulers fix base LRs at construction).
The callback that switches phases during training is :class:`aqnet.finetune.callbacks.FreezePhases`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aqnet.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Phase:
    name: str
    trainable: tuple[str, ...]  # regexes (re.search) on parameter names; ".*" = everything
    lr: float | None = None  # peak LR of every group during the phase; None = the optimiser's own
    steps: int | None = None
    epochs: int | None = None


class PhasePlan:
    """Phases with their start steps; ``phase_at(step)`` and ``lr_factor(step, base_lr)`` serve the scheduler."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        if not phases:
            raise ConfigError("finetune.phases is empty; give at least one phase or use finetune=none")
        for i, phase in enumerate(phases):
            last = i == len(phases) - 1
            if not last and (phase.steps is None) == (phase.epochs is None):
                raise ConfigError(f"finetune.phases[{i}] ({phase.name}) needs exactly one of steps or epochs")
            if phase.lr is not None and phase.lr <= 0:
                raise ConfigError(f"finetune.phases[{i}].lr={phase.lr} must be > 0")
            for pattern in phase.trainable:
                try:
                    re.compile(pattern)
                except re.error as err:
                    raise ConfigError(f"finetune.phases[{i}].trainable: bad pattern {pattern!r}: {err}") from None
        self.phases = tuple(phases)
        self.starts: list[int] = [0] * len(self.phases)
        self.resolve(steps_per_epoch=None)

    def resolve(self, steps_per_epoch: int | None) -> None:
        """Start step of each phase; epoch lengths need the optimizer steps per epoch (known once training starts)."""
        start = 0
        for i, phase in enumerate(self.phases):
            self.starts[i] = start
            if phase.steps is not None:
                start += phase.steps
            elif phase.epochs is not None:
                start += phase.epochs * (steps_per_epoch or 10**12)  # unknown yet: phase 0 until resolved

    def index_at(self, step: int) -> int:
        return max(i for i, start in enumerate(self.starts) if start <= step)

    def lr_factor(self, step: int, base_lr: float) -> float:
        phase = self.phases[self.index_at(step)]
        return 1.0 if phase.lr is None else phase.lr / base_lr

    def apply(self, model: nn.Module, step: int) -> tuple[int, int]:
        """Set ``requires_grad`` for the phase at ``step``; returns (trainable, frozen) parameter counts."""
        patterns = [re.compile(p) for p in self.phases[self.index_at(step)].trainable]
        counts = [0, 0]
        for name, param in model.named_parameters():
            trainable = any(p.search(name) for p in patterns)
            param.requires_grad_(trainable)
            counts[0 if trainable else 1] += param.numel()
        if counts[0] == 0:
            raise ConfigError(f"fine-tune phase {self.phases[self.index_at(step)].name!r} matches no parameter")
        return counts[0], counts[1]
