"""The strongest simple references a forecaster must beat, beside persistence and the hour-of-day climatology:

- ``seasonal_climatology``: the training years' mean at the valid time's hour of day and season (day-of-year
  window; :mod:`aqnet.data.seasonal`);
- ``damped_persistence``: damped anomaly persistence, forecast = C(valid) + φ · (x(init) − C(init)) with C the
  seasonal climatology and one φ per target × lead, fitted by least squares on the training years (area-weighted,
  over valid pixels of a seeded subsample of training pairs): the anomaly at init decays towards climatology at
  the rate the training data show.

Both return (prediction [B, V, H, W] in physical units, available [V]); pixels the climatology has no data for
are NaN in the climatology (left out of its scores only) and persistence in the damped forecast.
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

from aqnet.data.seasonal import SeasonalClimatology, load_or_compute_seasonal_climatology
from aqnet.errors import DataError
from aqnet.evaluation.weights import latitude_weights
from aqnet.models.climatology import DampedPrior, SeasonalLookup, valid_time
from aqnet.tasks.forecast.baselines import persistence


class DampedPersistence(nn.Module):
    """The reference ``damped_persistence``: :class:`aqnet.models.climatology.DampedPrior` (φ [V, L] saved with the
    module) on each sample's init state."""

    def __init__(self, seasonal: SeasonalLookup, names: Sequence[str], lead_hours: Sequence[float], phi: Any) -> None:
        super().__init__()
        self.names = tuple(names)
        if np.asarray(phi).shape != (len(self.names), len(lead_hours)):
            raise ValueError(f"phi has shape {np.asarray(phi).shape}; expected {(len(self.names), len(lead_hours))}")
        self.prior = DampedPrior(seasonal, phi, lead_hours)

    def forward(self, batch: Any, names: Sequence[str]) -> tuple[Tensor, Tensor]:
        if tuple(names) != self.names:
            raise ValueError(f"damped persistence was fitted for {self.names}, asked for {tuple(names)}")
        state, have_state = persistence(batch.inputs, batch.input_names, names)
        pred = self.prior(state, names, batch.lead_hours, batch.hour_of_day, batch.day_of_year)
        _, have_clim = self.prior.seasonal.at(names, batch.init_time[:1])
        return pred, have_state & have_clim


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


def fitted_damping(
    datamodule: Any, names: Sequence[str], lead_hours: Sequence[float], window_days: float, samples_per_lead: int
) -> tuple[SeasonalClimatology, np.ndarray]:
    """The hour × season climatology of the training years and damped persistence's φ [V, L] (both cached)."""
    handle, train_years = datamodule.handle, datamodule.splits.train
    clim = load_or_compute_seasonal_climatology(handle, names, train_years, window_days)
    key = [handle.fingerprint, sorted(train_years), list(names), list(lead_hours), window_days, samples_per_lead]

    def fit() -> np.ndarray:
        train = datamodule.datasets["train"]
        return fit_damping(train, names, lead_hours, SeasonalLookup(clim), datamodule.lat, samples_per_lead)

    return clim, load_or_fit_damping(handle.cache_dir, key, fit)


def build_references(
    datamodule: Any, names: Sequence[str], lead_hours: Sequence[float], window_days: float, samples_per_lead: int
) -> dict[str, nn.Module]:
    """``seasonal_climatology`` and ``damped_persistence`` for a set-up data module's training years."""
    clim, phi = fitted_damping(datamodule, names, lead_hours, window_days, samples_per_lead)
    seasonal = SeasonalLookup(clim)
    return {"seasonal_climatology": seasonal, "damped_persistence": DampedPersistence(seasonal, names, lead_hours, phi)}
