"""AdamW with decay / no-decay / physics parameter groups, and a linear warm-up + cosine schedule per step."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

DEFAULT_PHYSICS_PATTERNS: tuple[str, ...] = (r"(^|\.)(alpha|beta)$", r"physics")
# learned tokens and embedding tables: decaying them towards 0 only erases what they encode
DEFAULT_NO_DECAY_PATTERNS: tuple[str, ...] = (r"(^|\.)(pos_embed|var_embed|var_query|time_pos_embed)$",)
GROUP_NAMES: tuple[str, ...] = ("decay", "no_decay", "physics")

_DECAYED_MODULES = (nn.Linear, nn.modules.conv._ConvNd)


@dataclass
class OptimConfig:
    """Optimisation settings of :class:`~aqnet.tasks.forecast.ForecastTask`.

    ``max_steps`` None: take the trainer's estimated optimizer steps. ``physics_lr`` None: same as ``lr``.
    The cosine ends at ``lr * min_lr_ratio`` (each group at its own base lr times the ratio).
    """

    lr: float = 5e-4
    weight_decay: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 1000
    max_steps: int | None = None
    min_lr_ratio: float = 0.01
    physics_lr: float | None = None
    physics_patterns: tuple[str, ...] = DEFAULT_PHYSICS_PATTERNS
    no_decay_patterns: tuple[str, ...] = DEFAULT_NO_DECAY_PATTERNS
    eps: float = 1e-8


def classify_parameters(
    model: nn.Module,
    physics_patterns: Sequence[str] = DEFAULT_PHYSICS_PATTERNS,
    no_decay_patterns: Sequence[str] = DEFAULT_NO_DECAY_PATTERNS,
) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Split named parameters into ``decay`` / ``no_decay`` / ``physics`` (keys of :data:`GROUP_NAMES`).

    physics: the name matches a physics pattern (checked first). decay: the ``weight`` of a Linear or conv layer,
    or any other ≥2-D parameter whose own name contains "weight" (attention ``in_proj_weight``, a per-variable
    patch projection ``proj_weights``), unless it matches a no-decay pattern. no_decay: everything else (biases,
    norm weights, nn.Embedding tables, pos_embed / var_embed / var_query and other bare learned tokens).
    Frozen parameters are included: a fine-tuning schedule may unfreeze them later, and AdamW skips parameters
    without a gradient.
    """
    physics_re = [re.compile(p) for p in physics_patterns]
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
        if any(r.search(name) for r in physics_re):
            groups["physics"].append((name, param))
        elif is_decayed(name, param):
            groups["decay"].append((name, param))
        else:
            groups["no_decay"].append((name, param))
    return groups


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW with three named groups, always in the order of :data:`GROUP_NAMES`.

    Empty groups are kept (torch accepts them) so the group layout is the same for every model; this keeps
    optimizer state and learning-rate logging stable when physics parameters are added or absent.
    """
    groups = classify_parameters(model, cfg.physics_patterns, cfg.no_decay_patterns)
    settings = {
        "decay": {"lr": cfg.lr, "weight_decay": cfg.weight_decay},
        "no_decay": {"lr": cfg.lr, "weight_decay": 0.0},
        "physics": {"lr": cfg.lr if cfg.physics_lr is None else cfg.physics_lr, "weight_decay": 0.0},
    }
    param_groups = [
        {"name": g, "params": [p for _, p in groups[g]], "param_names": [n for n, _ in groups[g]], **settings[g]}
        for g in GROUP_NAMES
    ]
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


def warmup_cosine_factor(step: int, warmup_steps: int, max_steps: int, min_lr_ratio: float) -> float:
    """LR multiplier at optimizer step ``step`` (0-based).

    Warm-up: (step + 1) / warmup_steps for step < warmup_steps (so the first step already moves, and step
    warmup_steps − 1 is at the full lr). Then cosine from 1 to ``min_lr_ratio`` at ``max_steps``; constant after.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    max_steps: int,
    min_lr_ratio: float,
    lr_factor: Callable[[int, float], float] | None = None,
) -> LambdaLR:
    """Linear warm-up then cosine decay; call ``step()`` once per optimizer step.

    ``lr_factor(step, base_lr)`` multiplies each group's schedule (fine-tune phases with their own LR).
    """
    if max_steps <= 0:
        raise ValueError(f"max_steps must be positive, got {max_steps}")
    if warmup_steps < 0 or not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"need warmup_steps >= 0 and 0 <= min_lr_ratio <= 1; got {warmup_steps}, {min_lr_ratio}")
    if lr_factor is None:
        return LambdaLR(optimizer, lambda s: warmup_cosine_factor(s, warmup_steps, max_steps, min_lr_ratio))

    def group_schedule(base_lr: float) -> Callable[[int], float]:
        return lambda s: warmup_cosine_factor(s, warmup_steps, max_steps, min_lr_ratio) * lr_factor(s, base_lr)

    return LambdaLR(optimizer, [group_schedule(g["lr"]) for g in optimizer.param_groups])
