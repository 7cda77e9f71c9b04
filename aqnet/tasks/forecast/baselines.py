"""Reference forecasts scored on the same samples and valid pixels as the model, in physical units.

- persistence: the target variable's value at init time (read from the inputs by name);
- hour-of-day climatology: the training-period mean for the hour of the *valid* time (init + lead), taking the
  nearest hour the climatology has when it does not hold every hour.

Both return (prediction [B, V_out, H, W], available [V_out] bool): a target with no reference (not an input, or
absent from the climatology) is marked unavailable and simply gets no baseline scores. Climatology pixels with no
data (NaN: never valid in the training years) are left out of the climatology scores only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from aqnet.models.climatology import HourlyClimatology, nearest_hour_index, valid_hour_of_day

__all__ = ["HourOfDay", "HourlyClimatology", "Persistence", "nearest_hour_index", "persistence", "valid_hour_of_day"]


def persistence(inputs: Tensor, input_names: Sequence[str], target_names: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Each target's value at init time, taken from ``inputs`` [B, V_in, H, W] by name.

    Inputs missing at init time hold the data module's fill value; they are still scored so that the baseline
    and the model are compared on identical pixels.
    """
    index = {n: i for i, n in enumerate(input_names)}
    available = torch.tensor([n in index for n in target_names], dtype=torch.bool, device=inputs.device)
    channels = torch.tensor([index.get(n, 0) for n in target_names], dtype=torch.long, device=inputs.device)
    pred = inputs.index_select(1, channels)
    return torch.where(available[None, :, None, None], pred, torch.zeros_like(pred)), available


class Persistence(nn.Module):
    """The reference ``persistence``: (batch, target names) → (prediction, available)."""

    def forward(self, batch: Any, names: Sequence[str]) -> tuple[Tensor, Tensor]:
        return persistence(batch.inputs, batch.input_names, names)


class HourOfDay(nn.Module):
    """The reference ``climatology``: the hour-of-day climatology at the valid time."""

    def __init__(self, climatology: HourlyClimatology) -> None:
        super().__init__()
        self.climatology = climatology

    def forward(self, batch: Any, names: Sequence[str]) -> tuple[Tensor, Tensor]:
        return self.climatology(names, batch.init_time, batch.lead_hours)
