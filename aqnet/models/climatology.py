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

from aqnet.data.seasonal import DAYS_PER_YEAR

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


def valid_time(init_time: Tensor, lead_hours: Tensor) -> Tensor:
    """init + lead in seconds since the epoch (int64)."""
    lead_s = (lead_hours.double() * 3600).round().to(torch.int64).to(init_time.device)
    return init_time.to(torch.int64) + lead_s


def day_of_year_of(seconds: Tensor) -> Tensor:
    """Fractional day of year (1.0 = 1 January 00 UTC) of times in seconds since the epoch (int64)."""
    stamps = np.asarray(seconds.detach().cpu().numpy(), dtype="int64").astype("datetime64[s]")
    start = stamps.astype("datetime64[Y]").astype("datetime64[s]")
    doy = 1.0 + (stamps - start).astype(np.int64) / SECONDS_PER_DAY
    return torch.as_tensor(doy, dtype=torch.float64, device=seconds.device)


class SeasonalLookup(nn.Module):
    """The climatology by hour of day × season (:class:`aqnet.data.seasonal.SeasonalClimatology`) as buffers:
    recomputed from the cache as a task's reference (``persistent=False``), saved in every checkpoint inside a
    model that starts from it (``persistent=True``)."""

    def __init__(self, clim: Any, persistent: bool = False) -> None:
        super().__init__()
        self.names = tuple(clim.variables)
        self.register_buffer("centres", torch.as_tensor(clim.centres, dtype=torch.float64), persistent=persistent)
        self.register_buffer("hours", torch.as_tensor(clim.hours, dtype=torch.float64), persistent=persistent)
        self.register_buffer("values", torch.as_tensor(clim.values), persistent=persistent)  # [bins, hours, V, H, W]

    def at(self, names: Sequence[str], seconds: Tensor) -> tuple[Tensor, Tensor]:
        """(fields [B, V, H, W], available [V]) at times ``seconds`` [B]: the nearest window and hour."""
        seconds = seconds.to(self.values.device, torch.int64)
        hour = torch.remainder(seconds, SECONDS_PER_DAY).double() / 3600.0
        return self.at_day(names, day_of_year_of(seconds), hour)

    def at_day(self, names: Sequence[str], day_of_year: Tensor, hour: Tensor) -> tuple[Tensor, Tensor]:
        """The same at fractional days of year and hours of day [B] (for a model, which sees no absolute time)."""
        index = {n: i for i, n in enumerate(self.names)}
        device = self.values.device
        available = torch.tensor([n in index for n in names], dtype=torch.bool, device=device)
        channels = torch.tensor([index.get(n, 0) for n in names], dtype=torch.long, device=device)
        d = torch.remainder(day_of_year.to(device, torch.float64)[:, None] - self.centres[None, :], DAYS_PER_YEAR)
        window = torch.minimum(d, DAYS_PER_YEAR - d).argmin(dim=1)
        pred = self.values[window, nearest_hour_index(hour.to(device), self.hours)].index_select(1, channels)
        return torch.where(available[None, :, None, None], pred, torch.zeros_like(pred)), available

    def forward(self, batch: Any, names: Sequence[str]) -> tuple[Tensor, Tensor]:
        """The reference ``seasonal_climatology`` at each sample's valid time."""
        return self.at(names, valid_time(batch.init_time, batch.lead_hours))


class DampedPrior(nn.Module):
    """Damped anomaly persistence inside a model: C(valid) + φ·(x(init) − C(init)) from the init state, the lead and
    the init's hour and day of year (a model sees no absolute time); the persistence where C has no data."""

    def __init__(self, seasonal: SeasonalLookup, phi: Any, lead_hours: Sequence[float]) -> None:
        super().__init__()
        self.seasonal = seasonal
        self.register_buffer("phi", torch.as_tensor(np.asarray(phi), dtype=torch.float32))  # [V, L]
        self.register_buffer("leads", torch.tensor([float(h) for h in lead_hours], dtype=torch.float64))

    def forward(
        self, state: Tensor, names: Sequence[str], lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor
    ) -> Tensor:
        lead, hour = lead_hours.double(), hour_of_day.double()
        day = day_of_year.double() + hour / 24.0  # fractional day of year of the init time
        init, _ = self.seasonal.at_day(names, day, hour)
        valid, _ = self.seasonal.at_day(names, day + lead / 24.0, torch.remainder(hour + lead, 24.0))
        column = (lead.to(self.leads.device)[:, None] - self.leads[None, :]).abs().argmin(dim=1)
        phi = self.phi[:, column].T[:, :, None, None]  # [B, V, 1, 1]
        prior = valid + phi * (state - init)
        return torch.where(torch.isfinite(prior), prior, state)
