"""The Batch that flows from the DataModule to the model: physical units, named variables, validity masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

__all__ = ["Batch", "collate_batch", "SAMPLE_KEYS"]

SAMPLE_KEYS = (
    "inputs",
    "input_valid",
    "targets",
    "target_valid",
    "lead_hours",
    "init_time",
    "hour_of_day",
    "day_of_year",
)


@dataclass
class Batch:
    inputs: Tensor  # [B, V_in, H, W] physical units, NaN replaced by the variable's training mean
    input_valid: Tensor  # [B, V_in, H, W] bool, False where the store had NaN
    targets: Tensor  # [B, V_out, H, W] physical units, NaN replaced by 0
    target_valid: Tensor  # [B, V_out, H, W] bool: finite AND inside the store's mask (if any)
    lead_hours: Tensor  # [B] float32
    init_time: Tensor  # [B] int64 seconds since 1970-01-01 UTC
    hour_of_day: Tensor  # [B] float32 (UTC, of the init time)
    day_of_year: Tensor  # [B] float32, 1..366 (UTC, of the init time)
    input_names: tuple[str, ...]
    target_names: tuple[str, ...]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        moved = {
            f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return replace(self, **moved)

    def pin_memory(self) -> Batch:  # DataLoader(pin_memory=True) calls this on custom batch types
        return replace(self, **{k: getattr(self, k).pin_memory() for k in SAMPLE_KEYS})

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def input(self, name: str) -> Tensor:
        """[B, H, W] of one input variable by name."""
        return self.inputs[:, self.input_names.index(name)]

    def target(self, name: str) -> Tensor:
        """[B, H, W] of one target variable by name."""
        return self.targets[:, self.target_names.index(name)]


def collate_batch(samples: Sequence[dict[str, Any]]) -> Batch:
    """Stack per-sample dicts (tensors under :data:`SAMPLE_KEYS`, names as tuples) into a :class:`Batch`."""
    first = samples[0]
    stacked = {key: torch.stack([torch.as_tensor(s[key]) for s in samples]) for key in SAMPLE_KEYS}
    return Batch(**stacked, input_names=tuple(first["input_names"]), target_names=tuple(first["target_names"]))


class MovesBatches:
    """LightningModule mixin: a :class:`Batch` moves itself to the device (tensors only; names stay)."""

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if hasattr(batch, "to") and not isinstance(batch, Tensor):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)  # type: ignore[misc]
