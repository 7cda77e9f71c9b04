"""The strongest simple references a forecaster must beat, beside persistence and the hour-of-day climatology:

- ``seasonal_climatology``: the training years' mean at the valid time's hour of day and season (day-of-year
  window; :mod:`aqnet.data.seasonal`);
- ``damped_persistence``: damped anomaly persistence, forecast = C(valid) + φ · (x(init) − C(init)) with C the
  seasonal climatology and one φ per target × lead, fitted by least squares on the training years (area-weighted,
  over valid pixels of a seeded subsample of training pairs): the anomaly at init decays towards climatology at
  the rate the training data show.

Both return (prediction [B, V, H, W] in physical units, available [V]); pixels the climatology has no data for
are NaN and are left out of that reference's scores only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from aqnet.data.seasonal import DAYS_PER_YEAR, SeasonalClimatology
from aqnet.errors import DataError
from aqnet.evaluation.weights import latitude_weights
from aqnet.models.climatology import nearest_hour_index
from aqnet.tasks.forecast.baselines import persistence

SECONDS_PER_DAY = 86_400


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
    """The seasonal climatology as buffers (recomputed from the cache, not saved in checkpoints)."""

    def __init__(self, clim: SeasonalClimatology) -> None:
        super().__init__()
        self.names = tuple(clim.variables)
        self.register_buffer("centres", torch.as_tensor(clim.centres, dtype=torch.float64), persistent=False)
        self.register_buffer("hours", torch.as_tensor(clim.hours, dtype=torch.float64), persistent=False)
        self.register_buffer("values", torch.as_tensor(clim.values), persistent=False)  # [bins, hours, V, H, W]

    def at(self, names: Sequence[str], seconds: Tensor) -> tuple[Tensor, Tensor]:
        """(fields [B, V, H, W], available [V]) at times ``seconds`` [B]: the nearest window and hour."""
        index = {n: i for i, n in enumerate(self.names)}
        device = self.values.device
        available = torch.tensor([n in index for n in names], dtype=torch.bool, device=device)
        channels = torch.tensor([index.get(n, 0) for n in names], dtype=torch.long, device=device)
        seconds = seconds.to(device, torch.int64)
        d = torch.remainder(day_of_year_of(seconds)[:, None] - self.centres[None, :], DAYS_PER_YEAR)
        window = torch.minimum(d, DAYS_PER_YEAR - d).argmin(dim=1)
        hour = nearest_hour_index(torch.remainder(seconds, SECONDS_PER_DAY).double() / 3600.0, self.hours)
        pred = self.values[window, hour].index_select(1, channels)  # [B, V, H, W]
        return torch.where(available[None, :, None, None], pred, torch.zeros_like(pred)), available

    def forward(self, batch: Any, names: Sequence[str]) -> tuple[Tensor, Tensor]:
        """The reference ``seasonal_climatology`` at each sample's valid time."""
        return self.at(names, valid_time(batch.init_time, batch.lead_hours))


class DampedPersistence(nn.Module):
    """C(valid) + φ · (x(init) − C(init)); φ [V, L] per target and lead (a buffer, saved with the module)."""

    def __init__(self, seasonal: SeasonalLookup, names: Sequence[str], lead_hours: Sequence[float], phi: Any) -> None:
        super().__init__()
        self.seasonal, self.names = seasonal, tuple(names)
        self.register_buffer("leads", torch.tensor([float(h) for h in lead_hours], dtype=torch.float64))
        self.register_buffer("phi", torch.as_tensor(np.asarray(phi), dtype=torch.float32))
        if tuple(self.phi.shape) != (len(self.names), len(lead_hours)):
            raise ValueError(f"phi has shape {tuple(self.phi.shape)}; expected {(len(self.names), len(lead_hours))}")

    def forward(self, batch: Any, names: Sequence[str]) -> tuple[Tensor, Tensor]:
        state, have_state = persistence(batch.inputs, batch.input_names, names)
        init_clim, have_clim = self.seasonal.at(names, batch.init_time)
        valid_clim, _ = self.seasonal.at(names, valid_time(batch.init_time, batch.lead_hours))
        lead = (batch.lead_hours.double()[:, None] - self.leads[None, :]).abs().argmin(dim=1)
        rows = torch.tensor([self.names.index(n) if n in self.names else 0 for n in names], device=lead.device)
        phi = self.phi.index_select(0, rows)[:, lead].T  # [B, V]
        pred = valid_clim + phi[:, :, None, None] * (state - init_clim)
        return pred, have_state & have_clim & torch.tensor([n in self.names for n in names], device=pred.device)


def fit_damping(
    dataset: Any,
    names: Sequence[str],
    lead_hours: Sequence[float],
    seasonal: SeasonalLookup,
    lat: Tensor,
    samples_per_lead: int = 256,
    seed: int = 0,
) -> np.ndarray:
    """φ [V, L] = Σ w·a(init)·a(valid) / Σ w·a(init)² over a seeded subsample of the training pairs.

    ``dataset``: the training split's dataset (samples with inputs at init and targets at init + lead); anomalies
    are against the seasonal climatology at each time, on pixels where target, state and climatology are valid.
    """
    index = dataset.index
    weights = latitude_weights(torch.as_tensor(lat), normalise=False)[:, None].double()
    rng = np.random.default_rng([seed, 1])
    num = np.zeros((len(names), len(lead_hours)))
    den = np.zeros_like(num)
    for j, lead in enumerate(lead_hours):
        rows = np.flatnonzero(index.lead_hours == int(lead))
        if not len(rows):
            raise DataError(
                f"damped persistence cannot be fitted for lead {lead:g} h: the training years hold no "
                f"(init, init + {lead:g} h) pair; shorten task.lead_hours or add training years"
            )
        for k in rng.choice(rows, size=min(samples_per_lead, len(rows)), replace=False):
            sample = dataset[int(k)]
            init = sample["init_time"].reshape(1)
            state, _ = persistence(sample["inputs"][None], sample["input_names"], names)
            init_clim, _ = seasonal.at(names, init)
            valid_clim, _ = seasonal.at(names, valid_time(init, sample["lead_hours"].reshape(1)))
            target = sample["targets"][None][:, [list(sample["target_names"]).index(n) for n in names]]
            ok = sample["target_valid"][None][:, [list(sample["target_names"]).index(n) for n in names]]
            a_init, a_valid = (state - init_clim).double(), (target - valid_clim).double()
            ok = ok & torch.isfinite(a_init) & torch.isfinite(a_valid)
            a_init, a_valid = torch.where(ok, a_init, 0.0), torch.where(ok, a_valid, 0.0)
            num[:, j] += (weights * a_init * a_valid).sum(dim=(0, 2, 3)).numpy()
            den[:, j] += (weights * a_init.square()).sum(dim=(0, 2, 3)).numpy()
    flat = [(n, lead_hours[j]) for i, n in enumerate(names) for j in range(len(lead_hours)) if den[i, j] <= 0]
    if flat:
        name, lead = flat[0]
        raise DataError(f"damped persistence cannot be fitted for {name} at lead {lead:g} h: no anomaly at init")
    return num / den


def load_or_fit_damping(cache_dir: Path, key: Sequence[Any], fit: Any) -> np.ndarray:
    """φ from ``<cache_dir>/stats/damping-<hash(key)>.json``, else ``fit()`` and cache it (written atomically)."""
    digest = hashlib.sha256(json.dumps(list(key), default=str).encode()).hexdigest()[:24]
    path = Path(cache_dir) / "stats" / f"damping-{digest}.json"
    if path.exists():
        return np.asarray(json.loads(path.read_text())["phi"])
    phi = np.asarray(fit())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{np.random.default_rng().integers(1 << 30)}.tmp")
    tmp.write_text(json.dumps({"key": list(map(str, key)), "phi": phi.tolist()}))
    tmp.replace(path)
    return phi


def build_references(
    datamodule: Any, names: Sequence[str], lead_hours: Sequence[float], window_days: float, samples_per_lead: int
) -> dict[str, nn.Module]:
    """``seasonal_climatology`` and ``damped_persistence`` for a set-up data module's training years."""
    from aqnet.data.seasonal import load_or_compute_seasonal_climatology

    handle, train_years = datamodule.handle, datamodule.splits.train
    seasonal = SeasonalLookup(load_or_compute_seasonal_climatology(handle, names, train_years, window_days))
    key = [handle.fingerprint, sorted(train_years), list(names), list(lead_hours), window_days, samples_per_lead]

    def fit() -> np.ndarray:
        train = datamodule.datasets["train"]
        return fit_damping(train, names, lead_hours, seasonal, datamodule.lat, samples_per_lead)

    phi = load_or_fit_damping(handle.cache_dir, key, fit)
    return {"seasonal_climatology": seasonal, "damped_persistence": DampedPersistence(seasonal, names, lead_hours, phi)}
