"""Token masks for masked pretraining: which variable-patch tokens the encoder sees, which it must reconstruct.

The forecaster tokenises every input variable separately before it aggregates them per patch
(:meth:`aqnet.models.climax.Forecaster.encode`), so a mask over the [variables, patches] grid of tokens is
natively multimodal: hiding a variable's token in one patch (``unit="variable_patch"``), a whole patch for every
dynamic variable (``unit="patch"``), or a whole group of variables — a modality such as the pollutants — in one
sample (``group_mask_prob``, so the model learns to infer pollutants from meteorology).

Static variables (terrain, population) are always visible and never reconstructed. As in MAE, every sample masks
the same number of units (the lowest ``mask_ratio`` share of uniform noise), so a batch has one shape; as in
CrossMAE, only a part of the masked tokens is reconstructed (``kept_mask_ratio`` of all units, drawn from the
masked ones), which saves decoder work without changing what the encoder sees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from aqnet.errors import ConfigError
from aqnet.models.config import require

UNITS = ("variable_patch", "patch")


@dataclass(frozen=True)
class MaskSpec:
    """How to mask a [variables, patches] token grid; checks itself, names the offending ``task.*`` key."""

    variables: tuple[str, ...]  # the token grid's rows, in order
    static: frozenset[str] = frozenset()  # always visible, never reconstructed
    mask_ratio: float = 0.75  # share of the dynamic units hidden from the encoder
    kept_mask_ratio: float = 0.75  # share of the dynamic units reconstructed (<= mask_ratio; CrossMAE)
    unit: str = "variable_patch"  # variable_patch | patch
    groups: Mapping[str, Sequence[str]] | None = None  # modality name -> its (dynamic) variables
    group_mask_prob: float = 0.0  # per sample: hide one whole group (chosen uniformly) on top of the mask

    def __post_init__(self) -> None:
        require(self.unit in UNITS, f"task.unit={self.unit!r} must be one of {list(UNITS)}")
        require(0.0 < self.mask_ratio < 1.0, f"task.mask_ratio={self.mask_ratio} must be within (0, 1)")
        require(
            0.0 < self.kept_mask_ratio <= self.mask_ratio,
            f"task.kept_mask_ratio={self.kept_mask_ratio} must be within (0, task.mask_ratio={self.mask_ratio}]",
        )
        require(0.0 <= self.group_mask_prob <= 1.0, f"task.group_mask_prob={self.group_mask_prob} must be in [0, 1]")
        unknown = sorted(self.static - set(self.variables))
        require(not unknown, f"task.static={unknown} are not input variables ({list(self.variables)})")
        require(bool(self.dynamic), "every input variable is static: nothing to reconstruct")
        for name, members in (self.groups or {}).items():
            bad = [v for v in members if v not in self.dynamic]
            require(not bad, f"task.groups.{name}={bad}: not dynamic input variables (static ones are never masked)")
            require(bool(members), f"task.groups.{name} is empty")
            require(
                set(members) != set(self.dynamic),
                f"task.groups.{name} holds every dynamic variable: hiding it would leave no dynamic token visible",
            )
        require(
            self.group_mask_prob == 0.0 or bool(self.groups),
            f"task.group_mask_prob={self.group_mask_prob} needs task.groups (the modalities to hide)",
        )

    @property
    def dynamic(self) -> tuple[str, ...]:
        return tuple(v for v in self.variables if v not in self.static)

    def counts(self, num_patches: int) -> tuple[int, int]:
        """(masked, reconstructed) units per sample; refuses a grid on which nothing would be reconstructed.
        At least one unit stays visible: floor(mask_ratio · units) < units for mask_ratio < 1."""
        units = len(self.dynamic) * num_patches if self.unit == "variable_patch" else num_patches
        masked = math.floor(self.mask_ratio * units)
        kept = math.floor(self.kept_mask_ratio * units)  # <= masked
        if kept < 1:
            raise ConfigError(
                f"task.kept_mask_ratio={self.kept_mask_ratio} of {units} units reconstructs no token: raise it"
            )
        return masked, kept


@dataclass(frozen=True)
class TokenMask:
    """[B, V, L] booleans over the token grid: ``visible`` to the encoder, ``target`` of the reconstruction loss
    (a subset of the hidden tokens)."""

    visible: Tensor
    target: Tensor

    @property
    def hidden(self) -> Tensor:
        return ~self.visible


def sample_mask(spec: MaskSpec, batch: int, num_patches: int, generator: torch.Generator | None = None) -> TokenMask:
    """A fresh mask per sample (seeded by ``generator``) over ``len(spec.variables)`` × ``num_patches`` tokens."""
    masked, kept = spec.counts(num_patches)
    rows = torch.tensor([v not in spec.static for v in spec.variables])
    dyn = int(rows.sum())
    shape = (batch, dyn * num_patches) if spec.unit == "variable_patch" else (batch, num_patches)
    rank = torch.rand(shape, generator=generator).argsort(dim=1).argsort(dim=1)  # each unit's place in the noise
    hidden_units, target_units = rank < masked, rank < kept  # the kept ones are the first of the hidden ones
    if spec.unit == "patch":  # a hidden patch hides every dynamic variable there
        hidden_units = hidden_units.unsqueeze(1).expand(batch, dyn, num_patches)
        target_units = target_units.unsqueeze(1).expand(batch, dyn, num_patches)
    hidden_dyn = hidden_units.reshape(batch, dyn, num_patches).clone()
    target_dyn = target_units.reshape(batch, dyn, num_patches).clone()
    if spec.groups and spec.group_mask_prob > 0:
        _hide_groups(spec, hidden_dyn, target_dyn, generator)
    hidden = torch.zeros(batch, len(spec.variables), num_patches, dtype=torch.bool)
    target = torch.zeros_like(hidden)
    hidden[:, rows], target[:, rows] = hidden_dyn, target_dyn
    return TokenMask(visible=~hidden, target=target)


def _hide_groups(spec: MaskSpec, hidden: Tensor, target: Tensor, generator: torch.Generator | None) -> None:
    """With probability ``group_mask_prob`` per sample, hide one group entirely and reconstruct all of it."""
    assert spec.groups is not None
    names = list(spec.groups)
    row = {v: i for i, v in enumerate(spec.dynamic)}
    chosen = torch.randint(len(names), (hidden.shape[0],), generator=generator)
    drawn = torch.rand(hidden.shape[0], generator=generator) < spec.group_mask_prob
    for b in torch.nonzero(drawn).flatten().tolist():
        members = [row[v] for v in spec.groups[names[int(chosen[b])]]]
        hidden[b, members] = True
        target[b, members] = True
