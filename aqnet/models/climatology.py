"""Hour-of-day climatology of the training years: a baseline for the task, and a prior for the model.

The valid time's hour of day (init + lead) selects the slice; when the climatology does not hold every hour, the
nearest hour on the 24-hour circle is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

SECONDS_PER_DAY = 86_400


def valid_hour_of_day(init_time: Tensor, lead_hours: Tensor) -> Tensor:
    """Hour of day (UTC, float in [0, 24)) of the valid time = init time + lead; init_time in s since epoch."""
    init_hour = torch.remainder(init_time.to(torch.int64), SECONDS_PER_DAY).to(torch.float64) / 3600.0
    return torch.remainder(init_hour + lead_hours.to(torch.float64), 24.0)


def nearest_hour_index(hour: Tensor, hours: Tensor) -> Tensor:
    """Index into ``hours`` of the nearest available hour on the 24-h circle (23:30 is nearest to 0)."""
    d = torch.remainder(hour.to(torch.float64)[:, None] - hours.to(torch.float64)[None, :], 24.0)
    return torch.minimum(d, 24.0 - d).argmin(dim=1)


class HourlyClimatology(nn.Module):
    """Hour-of-day climatology: fields[var] is [n_hours, H, W] in physical units, one slice per ``hours`` entry.

    ``hours`` defaults to 0..23 when each field has 24 slices. As a baseline the fields are a non-persistent buffer
    (the data module recomputes them); inside a model (``persistent=True``) they are saved in every checkpoint,
    like the normalisation statistics, so a checkpoint never depends on a cache.
    """

    def __init__(
        self, fields: Mapping[str, Any], hours: Sequence[float] | None = None, persistent: bool = False
    ) -> None:
        super().__init__()
        if not fields:
            raise ValueError("climatology needs at least one variable")
        self.names = tuple(fields)
        arrays = [torch.as_tensor(np.asarray(fields[n]), dtype=torch.float32) for n in self.names]
        shapes = {tuple(a.shape) for a in arrays}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(f"climatology fields must all be [n_hours, H, W]; got shapes {sorted(shapes)}")
        n_hours = arrays[0].shape[0]
        if hours is None:
            if n_hours != 24:
                raise ValueError(f"climatology has {n_hours} hour slices; pass the list of hours they stand for")
            hours = range(24)
        hours_t = torch.as_tensor(list(hours), dtype=torch.float32)
        if hours_t.numel() != n_hours:
            raise ValueError(f"{hours_t.numel()} climatology hours for {n_hours} slices")
        if bool(((hours_t < 0) | (hours_t >= 24)).any()):
            raise ValueError(f"climatology hours must lie in [0, 24): {hours_t.tolist()}")
        self.register_buffer("hours", hours_t, persistent=persistent)
        self.register_buffer("fields", torch.stack(arrays), persistent=persistent)  # [V_clim, n_hours, H, W]

    @classmethod
    def from_climatology(
        cls, clim: Any, names: Sequence[str] | None = None, persistent: bool = False
    ) -> HourlyClimatology:
        """From the data module's ``Climatology`` (``hours``, ``variables``, ``values`` [n_hours, V, H, W])."""
        values = np.asarray(clim.values)
        wanted = list(clim.variables) if names is None else list(names)
        missing = [n for n in wanted if n not in clim.variables]
        if missing:
            raise ValueError(f"the climatology has no {missing}; it has {list(clim.variables)}")
        fields = {n: values[:, list(clim.variables).index(n)] for n in wanted}
        return cls(fields, hours=list(np.asarray(clim.hours)), persistent=persistent)

    def forward(self, target_names: Sequence[str], init_time: Tensor, lead_hours: Tensor) -> tuple[Tensor, Tensor]:
        """(prediction [B, V_out, H, W], available [V_out]) for the valid hour of each sample.

        Pixels the climatology has no data for stay NaN; callers score only finite pixels.
        """
        device = self.fields.device
        return self.at_hours(target_names, valid_hour_of_day(init_time.to(device), lead_hours.to(device)))

    def at_hours(self, target_names: Sequence[str], hour: Tensor) -> tuple[Tensor, Tensor]:
        """(fields [B, V_out, H, W], available [V_out]) at the nearest climatology hour to each ``hour`` [B]."""
        index = {n: i for i, n in enumerate(self.names)}
        device = self.fields.device
        available = torch.tensor([n in index for n in target_names], dtype=torch.bool, device=device)
        channels = torch.tensor([index.get(n, 0) for n in target_names], dtype=torch.long, device=device)
        hour_idx = nearest_hour_index(hour.to(device), self.hours)
        pred = self.fields.index_select(0, channels).index_select(1, hour_idx).transpose(0, 1)  # [B, V_out, H, W]
        return torch.where(available[None, :, None, None], pred, torch.zeros_like(pred)), available
