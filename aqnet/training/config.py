"""The typed configs shared by every task: optimiser (group ``optim``), LR schedule (group ``scheduler``), trainer.

Each option of a group is one dataclass that checks its own fields; ``_target_`` names the torch class it builds
(the schedules built on ``LambdaLR`` compute their factor here, in closed form, so fine-tune phases can scale it).
Light on purpose: torch is imported only inside the methods that build something.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import MISSING

from aqnet.models.config import one_of, require

if TYPE_CHECKING:
    import torch

PRECISIONS = ("32-true", "32", "64-true", "64", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "transformer-engine")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CLIP_ALGORITHMS = ("norm", "value")
INTERVALS = ("step", "epoch")


# -- optimisers ----------------------------------------------------------------------------------------------------
@dataclass
class OptimizerConfig:
    """Keys of every optimiser. Parameters fall into groups (``aqnet.training.optim``): decayed weights, others
    without weight decay, and the physics parameters at ``physics_lr``; ``layer_decay`` < 1 scales each layer's LR
    by ``layer_decay ** (depth - layer)`` (layer-wise decay for fine-tuning, BEiT style)."""

    _target_: str = MISSING
    name: str = MISSING
    lr: float = 1e-3
    weight_decay: float = 0.05
    physics_lr: float | None = 1e-2  # own group for physics parameters (alpha, beta); null: the same as lr
    layer_decay: float | None = None  # null: every layer at lr

    def __post_init__(self) -> None:
        require(self.lr > 0, f"optim.lr={self.lr} must be > 0")
        require(self.weight_decay >= 0, f"optim.weight_decay={self.weight_decay} must be >= 0")
        require(self.physics_lr is None or self.physics_lr > 0, f"optim.physics_lr={self.physics_lr} must be > 0")
        require(
            self.layer_decay is None or 0 < self.layer_decay <= 1,
            f"optim.layer_decay={self.layer_decay} must be within (0, 1] (or null)",
        )

    def torch_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the torch optimiser besides the parameter groups."""
        return {"lr": self.lr}

    def make(self, param_groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        from hydra.utils import get_class

        return get_class(self._target_)(param_groups, **self.torch_kwargs())


@dataclass
class AdamWConfig(OptimizerConfig):
    _target_: str = "torch.optim.AdamW"
    name: str = "adamw"
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"optim.betas={list(self.betas)} must be two numbers in [0, 1)",
        )
        require(self.eps > 0, f"optim.eps={self.eps} must be > 0")

    def torch_kwargs(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": tuple(self.betas), "eps": self.eps}


@dataclass
class AdamConfig(AdamWConfig):
    """Adam; its weight decay is an L2 term in the gradient (AdamW decouples it)."""

    _target_: str = "torch.optim.Adam"
    name: str = "adam"


@dataclass
class SGDConfig(OptimizerConfig):
    _target_: str = "torch.optim.SGD"
    name: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    dampening: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.momentum >= 0, f"optim.momentum={self.momentum} must be >= 0")
        require(
            not self.nesterov or (self.momentum > 0 and self.dampening == 0),
            "optim.nesterov=true needs optim.momentum > 0 and optim.dampening=0",
        )

    def torch_kwargs(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov, "dampening": self.dampening}


# -- learning-rate schedules ---------------------------------------------------------------------------------------
@dataclass
class SchedulerConfig(ABC):
    """Keys of every schedule. ``interval``: when the schedule advances (every optimiser step or every epoch).
    ``warmup_steps``: a linear warm-up first ((step + 1) / warmup_steps, so the first step already moves); for
    onecycle it is the rising phase's length."""

    _target_: str = MISSING
    name: str = MISSING
    interval: str = "step"
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        one_of("scheduler", "interval", self.interval, INTERVALS)
        require(self.warmup_steps >= 0, f"scheduler.warmup_steps={self.warmup_steps} must be >= 0")

    @property
    def closed_form(self) -> bool:
        """A factor of the step count alone (LambdaLR): fine-tune phases may multiply it with their own LR."""
        return False

    @abstractmethod
    def make(self, optimizer: torch.optim.Optimizer, total: int, lr_factor: Any = None) -> Any:
        """The torch scheduler for a run of ``total`` optimiser steps."""


@dataclass
class LambdaScheduleConfig(SchedulerConfig):
    """A schedule in closed form, run by torch's LambdaLR."""

    _target_: str = "torch.optim.lr_scheduler.LambdaLR"

    @property
    def closed_form(self) -> bool:
        return True

    @abstractmethod
    def factor(self, step: int, total: int) -> float:
        """LR multiplier after ``step`` scheduler steps of ``total``."""

    def make(
        self, optimizer: torch.optim.Optimizer, total: int, lr_factor: Callable[[int, float], float] | None = None
    ) -> Any:
        """LambdaLR; ``lr_factor(step, base_lr)`` (fine-tune phases) multiplies each group's factor.

        A phase's LR replaces the optimiser's LR, so ``base_lr`` is a group's LR before its layer-decay scale.
        """
        from torch.optim.lr_scheduler import LambdaLR

        if lr_factor is None:
            return LambdaLR(optimizer, lambda s: self.factor(s, total))

        def group_schedule(base_lr: float) -> Callable[[int], float]:
            return lambda s: self.factor(s, total) * lr_factor(s, base_lr)

        return LambdaLR(optimizer, [group_schedule(g["lr"] / g.get("lr_scale", 1.0)) for g in optimizer.param_groups])


@dataclass
class WarmupConfig(LambdaScheduleConfig):
    """The linear warm-up, then the schedule's own factor."""

    def factor(self, step: int, total: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        return self.after_warmup(step - self.warmup_steps, max(1, total - self.warmup_steps))

    @abstractmethod
    def after_warmup(self, step: int, span: int) -> float:
        """The factor ``step`` steps after the warm-up, of ``span`` steps left."""


@dataclass
class CosineConfig(WarmupConfig):
    """Warm-up, then cosine from 1 to ``min_lr_ratio`` at the last step; constant after."""

    name: str = "cosine"
    warmup_steps: int = 20
    min_lr_ratio: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.min_lr_ratio <= 1, f"scheduler.min_lr_ratio={self.min_lr_ratio} must be within [0, 1]")

    def after_warmup(self, step: int, span: int) -> float:
        progress = min(1.0, step / span)
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class ConstantConfig(WarmupConfig):
    """Warm-up, then ``factor_after`` times the base LR throughout."""

    name: str = "constant"
    factor_after: float = 1.0

    def after_warmup(self, step: int, span: int) -> float:
        return self.factor_after


@dataclass
class StepConfig(WarmupConfig):
    """Warm-up, then the LR times ``gamma`` every ``step_size`` intervals (torch's StepLR)."""

    name: str = "step"
    step_size: int = 100
    gamma: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.step_size >= 1, f"scheduler.step_size={self.step_size} must be >= 1")
        require(self.gamma > 0, f"scheduler.gamma={self.gamma} must be > 0")

    def after_warmup(self, step: int, span: int) -> float:
        return self.gamma ** (step // self.step_size)


@dataclass
class ExponentialConfig(WarmupConfig):
    """Warm-up, then the LR times ``gamma`` every interval (torch's ExponentialLR)."""

    name: str = "exponential"
    gamma: float = 0.999

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.gamma > 0, f"scheduler.gamma={self.gamma} must be > 0")

    def after_warmup(self, step: int, span: int) -> float:
        return self.gamma**step


@dataclass
class OneCycleConfig(SchedulerConfig):
    """torch's OneCycleLR over the run's steps: up to ``lr · max_lr_factor`` over ``pct_start`` of the run (or
    ``warmup_steps``, if set), then annealed far below ``lr``."""

    _target_: str = "torch.optim.lr_scheduler.OneCycleLR"
    name: str = "onecycle"
    max_lr_factor: float = 1.0  # peak LR of each group = its lr × this
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal_strategy: str = "cos"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 < self.pct_start < 1, f"scheduler.pct_start={self.pct_start} must be within (0, 1)")
        one_of("scheduler", "anneal_strategy", self.anneal_strategy, ("cos", "linear"))

    def make(self, optimizer: torch.optim.Optimizer, total: int, lr_factor: Any = None) -> Any:
        from torch.optim.lr_scheduler import OneCycleLR

        peaks = [g["lr"] * self.max_lr_factor for g in optimizer.param_groups]
        total = max(total, 2)
        rising = self.warmup_steps / total if self.warmup_steps else self.pct_start
        require(0 < rising < 1, f"scheduler.warmup_steps={self.warmup_steps} must be shorter than the run ({total})")
        return OneCycleLR(
            optimizer,
            max_lr=peaks,
            total_steps=total,
            pct_start=rising,
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
            anneal_strategy=self.anneal_strategy,
        )


@dataclass
class ReduceOnPlateauConfig(SchedulerConfig):
    """torch's ReduceLROnPlateau on the task's monitored metric, stepped after every validation."""

    _target_: str = "torch.optim.lr_scheduler.ReduceLROnPlateau"
    name: str = "reduce_on_plateau"
    interval: str = "step"  # unused: the schedule advances after each validation
    factor_on_plateau: float = 0.1
    patience: int = 3  # validations without improvement
    threshold: float = 1e-4
    cooldown: int = 0
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            0 < self.factor_on_plateau < 1, f"scheduler.factor_on_plateau={self.factor_on_plateau} must be in (0, 1)"
        )
        require(
            self.warmup_steps == 0,
            f"scheduler=reduce_on_plateau has no warm-up (it only lowers the LR): set scheduler.warmup_steps=0 "
            f"(it is {self.warmup_steps}, e.g. from the experiment preset)",
        )
        require(self.patience >= 0, f"scheduler.patience={self.patience} must be >= 0")

    def make(self, optimizer: torch.optim.Optimizer, total: int, lr_factor: Any = None, mode: str = "min") -> Any:
        from torch.optim.lr_scheduler import ReduceLROnPlateau

        return ReduceLROnPlateau(
            optimizer,
            mode=mode,
            factor=self.factor_on_plateau,
            patience=self.patience,
            threshold=self.threshold,
            cooldown=self.cooldown,
            min_lr=self.min_lr,
        )


OPTIMIZERS: dict[str, type[OptimizerConfig]] = {"adamw": AdamWConfig, "adam": AdamConfig, "sgd": SGDConfig}
SCHEDULERS: dict[str, type[SchedulerConfig]] = {
    "cosine": CosineConfig,
    "constant": ConstantConfig,
    "step": StepConfig,
    "exponential": ExponentialConfig,
    "onecycle": OneCycleConfig,
    "reduce_on_plateau": ReduceOnPlateauConfig,
}


# -- the trainer ---------------------------------------------------------------------------------------------------
@dataclass
class EarlyStoppingConfig:
    """Stop after ``patience`` validations without an improvement of the task's monitored metric by ``min_delta``."""

    patience: int = 0  # 0 = off
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        require(self.patience >= 0, f"trainer.early_stopping.patience={self.patience} must be >= 0")
        require(self.min_delta >= 0, f"trainer.early_stopping.min_delta={self.min_delta} must be >= 0")


@dataclass
class TrainerConfig:
    """Lightning Trainer arguments (every key not in :data:`AQNET_TRAINER_KEYS` is passed as is) and aqnet's own."""

    max_steps: int = 300  # the budget is in optimiser steps, not wall-clock, so runs are reproducible
    max_epochs: int = -1
    val_check_interval: int = 100  # validate every N training batches (and at the end)
    limit_val_batches: int | None = None  # at most this many batches per validation; None = every sample
    limit_test_batches: int | None = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    gradient_clip_algorithm: str = "norm"  # norm | value (every gradient element clipped to ±gradient_clip_val)
    precision: str = "32-true"
    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    log_every_n_steps: int = 10
    deterministic: bool = True
    # aqnet's own keys
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    log_grad_norm: bool = True  # train/grad_norm: the total 2-norm of the gradients before clipping
    activation_checkpointing: bool = False  # recompute transformer blocks in backward: less memory, more compute
    compile: bool = False  # torch.compile the model
    compile_mode: str = "default"

    def __post_init__(self) -> None:
        require(
            self.max_steps > 0 or self.max_epochs > 0,
            "trainer.max_steps and trainer.max_epochs are both unset; give a step budget (trainer.max_steps=N)",
        )
        require(self.val_check_interval >= 1, f"trainer.val_check_interval={self.val_check_interval} must be >= 1")
        require(
            self.accumulate_grad_batches >= 1,
            f"trainer.accumulate_grad_batches={self.accumulate_grad_batches} must be >= 1",
        )
        one_of("trainer", "precision", self.precision, PRECISIONS)
        one_of("trainer", "gradient_clip_algorithm", self.gradient_clip_algorithm, CLIP_ALGORITHMS)
        require(
            self.gradient_clip_val is None or self.gradient_clip_val >= 0,
            f"trainer.gradient_clip_val={self.gradient_clip_val} must be >= 0 (or null for no clipping)",
        )
        one_of("trainer", "compile_mode", self.compile_mode, COMPILE_MODES)
        require(self.log_every_n_steps >= 1, f"trainer.log_every_n_steps={self.log_every_n_steps} must be >= 1")


AQNET_TRAINER_KEYS = ("early_stopping", "log_grad_norm", "activation_checkpointing", "compile", "compile_mode")
