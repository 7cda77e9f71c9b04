"""Optimisation of every task: parameter groups, the optimiser and LR schedule from config, layer-wise decay.

Parameter groups (:func:`classify_parameters`): ``decay`` (weight matrices), ``no_decay`` (biases, norms, learned
tokens, embedding tables) and ``physics`` (the physics parameters, own LR, no weight decay). With
``optim.layer_decay`` each group is split further by layer, the LR of layer ``k`` of ``n`` scaled by
``layer_decay ** (n - k)``: embeddings learn slowest, the head at the full LR (for fine-tuning, BEiT style).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from aqnet.models.config import PHYSICS_PARAMETER
from aqnet.training.config import (
    AdamWConfig,
    CosineConfig,
    OptimizerConfig,
    ReduceOnPlateauConfig,
    SchedulerConfig,
)

if TYPE_CHECKING:
    from aqnet.finetune.phases import PhasePlan
    from aqnet.tasks.base import Task

# learned tokens and embedding tables: decaying them towards 0 only erases what they encode
DEFAULT_NO_DECAY_PATTERNS: tuple[str, ...] = (r"(^|\.)(pos_embed|var_embed|var_query|time_pos_embed)$",)
GROUP_NAMES: tuple[str, ...] = ("decay", "no_decay", "physics")
LayerOf = Callable[[str], int]  # parameter name -> layer index in 0..n

_DECAYED_MODULES = (nn.Linear, nn.modules.conv._ConvNd)


def classify_parameters(
    model: nn.Module, no_decay_patterns: Sequence[str] = DEFAULT_NO_DECAY_PATTERNS
) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Split named parameters into ``decay`` / ``no_decay`` / ``physics`` (keys of :data:`GROUP_NAMES`).

    physics: :data:`aqnet.models.config.PHYSICS_PARAMETER` matches the name (checked first). decay: the ``weight``
    of a Linear or conv layer, or any other ≥2-D parameter whose own name contains "weight" (attention
    ``in_proj_weight``, a per-variable patch projection ``proj_weights``), unless it matches a no-decay pattern.
    no_decay: everything else. Frozen parameters are included: a fine-tuning schedule may unfreeze them later, and
    the optimisers skip parameters without a gradient.
    """
    no_decay_re = [re.compile(p) for p in no_decay_patterns]
    layer_weights = {
        f"{mod_name}.weight" if mod_name else "weight"
        for mod_name, mod in model.named_modules()
        if isinstance(mod, _DECAYED_MODULES) and isinstance(getattr(mod, "weight", None), nn.Parameter)
    }
    embedding_tables = {
        f"{mod_name}.weight" if mod_name else "weight"
        for mod_name, mod in model.named_modules()
        if isinstance(mod, nn.Embedding)
    }

    def is_decayed(name: str, param: nn.Parameter) -> bool:
        if name in embedding_tables or any(r.search(name) for r in no_decay_re):
            return False
        return name in layer_weights or (param.ndim >= 2 and "weight" in name.rsplit(".", 1)[-1])

    groups: dict[str, list[tuple[str, nn.Parameter]]] = {g: [] for g in GROUP_NAMES}
    for name, param in model.named_parameters():  # shared parameters appear once
        if PHYSICS_PARAMETER.search(name):
            groups["physics"].append((name, param))
        elif is_decayed(name, param):
            groups["decay"].append((name, param))
        else:
            groups["no_decay"].append((name, param))
    return groups


def param_groups(
    model: nn.Module, cfg: OptimizerConfig, layers: tuple[LayerOf, int] | None = None
) -> list[dict[str, Any]]:
    """Torch parameter groups, always in the order of :data:`GROUP_NAMES` (split by layer with layer decay).

    Empty groups are kept (torch accepts them) so the group layout is the same for every model; this keeps
    optimiser state and learning-rate logging stable when physics parameters are added or absent.
    """
    groups = classify_parameters(model)
    settings = {
        "decay": {"lr": cfg.lr, "weight_decay": cfg.weight_decay},
        "no_decay": {"lr": cfg.lr, "weight_decay": 0.0},
        "physics": {"lr": cfg.lr if cfg.physics_lr is None else cfg.physics_lr, "weight_decay": 0.0},
    }
    out = []
    for kind in GROUP_NAMES:
        members = groups[kind]
        if cfg.layer_decay is None or layers is None or kind == "physics":
            out.append(_group(kind, members, settings[kind], 1.0))
            continue
        layer_of, n_layers = layers
        for layer in range(n_layers + 1):
            chosen = [(n, p) for n, p in members if layer_of(n) == layer]
            scale = cfg.layer_decay ** (n_layers - layer)
            out.append(_group(f"{kind}_layer{layer}", chosen, settings[kind], scale))
    return out


def _group(name: str, members: list[tuple[str, nn.Parameter]], settings: dict[str, float], scale: float) -> dict:
    return {
        "name": name,
        "params": [p for _, p in members],
        "param_names": [n for n, _ in members],
        **settings,
        "lr": settings["lr"] * scale,
        "lr_scale": scale,
    }


def build_optimizer(
    model: nn.Module, cfg: OptimizerConfig | None = None, layers: tuple[LayerOf, int] | None = None
) -> torch.optim.Optimizer:
    cfg = cfg or AdamWConfig()
    return cfg.make(param_groups(model, cfg, layers))


@dataclass
class Optimization:
    """What a task's ``configure_optimizers`` returns, from the run's optimiser and schedule configs.

    ``max_steps`` None: the trainer's estimated optimiser steps. ``lr_factor(step, base_lr)`` (fine-tune phases)
    multiplies each group's schedule; ``layers`` = (parameter name → layer, number of layers) for layer decay.
    ``monitor``/``mode``: what ReduceLROnPlateau watches (the task's monitored metric).
    """

    optimizer: OptimizerConfig = field(default_factory=AdamWConfig)
    scheduler: SchedulerConfig = field(default_factory=CosineConfig)
    max_steps: int | None = None
    lr_factor: Callable[[int, float], float] | None = None
    layers: tuple[LayerOf, int] | None = None
    monitor: str = "val/loss"
    mode: str = "min"
    val_check_interval: int = 1

    def configure(self, module: L.LightningModule, model: nn.Module) -> dict[str, Any]:
        optimizer = build_optimizer(model, self.optimizer, self.layers)
        total = self.max_steps if self.max_steps and self.max_steps > 0 else module.trainer.estimated_stepping_batches
        schedule = self.scheduler
        if isinstance(schedule, ReduceOnPlateauConfig):
            scheduler = schedule.make(optimizer, int(total), mode=self.mode)
            config = {"interval": "step", "frequency": self.val_check_interval, "monitor": self.monitor}
        else:
            if self.lr_factor is not None and not schedule.closed_form:
                raise ValueError(f"scheduler={schedule.name} cannot take fine-tune phase learning rates")
            scheduler = schedule.make(optimizer, int(total), self.lr_factor)
            config = {"interval": schedule.interval, "frequency": 1}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "name": "lr", **config}}


def optimization(cfg: DictConfig, task: Task, model: nn.Module, phases: PhasePlan | None = None) -> Optimization:
    """The run's :class:`Optimization`: ``optim`` and ``scheduler`` groups, the step budget, fine-tune phase LRs,
    the model's layers (with ``optim.layer_decay``) and the task's monitored metric."""
    optimizer: OptimizerConfig = OmegaConf.to_object(cfg.optim)  # type: ignore[assignment]
    layers = None
    if optimizer.layer_decay is not None:
        layers = OmegaConf.to_object(cfg.model).layers(model)  # type: ignore[union-attr]
    return Optimization(
        optimizer=optimizer,
        scheduler=OmegaConf.to_object(cfg.scheduler),  # type: ignore[arg-type]
        max_steps=cfg.trainer.max_steps,
        lr_factor=phases.lr_factor if phases is not None else None,
        layers=layers,
        monitor=task.monitor,
        mode=task.mode,
        val_check_interval=cfg.trainer.val_check_interval,
    )
