"""The training years' exceedance frequency: the climatological probability (a reference) and the base rates
(``auto`` loss weights, and the check that a threshold is ever exceeded).

Read from the store's valid times of the training samples (evenly thinned to at most ``max_frames``), in canonical
units, on the pixels a score would count (finite and inside the store's mask); area-weighted base rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aqnet.tasks.exceedance.names import channel_name


@dataclass(frozen=True)
class ExceedanceClimatology:
    probability: np.ndarray  # [C, H, W] float32, per-pixel share of training frames above the threshold (NaN: none)
    base_rates: dict[str, float]  # channel → area-weighted share of valid training pixels above the threshold


def training_frames(index_valid: np.ndarray, max_frames: int) -> np.ndarray:
    """The distinct valid-time indices of the training samples, evenly thinned to at most ``max_frames``."""
    frames = np.unique(np.asarray(index_valid, dtype=np.int64))
    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(np.int64)]
    return frames


def frequencies(
    fields: dict[str, np.ndarray], mask: np.ndarray | None, lat: np.ndarray, channels: Sequence[tuple[str, float]]
) -> ExceedanceClimatology:
    """``fields``: pollutant → [T, H, W] canonical units (NaN missing); the climatology of ``channels``."""
    weights = np.cos(np.deg2rad(np.asarray(lat, dtype=np.float64)))[:, None]
    probability, rates = [], {}
    for pollutant, threshold in channels:
        values = fields[pollutant]
        valid = np.isfinite(values) & (True if mask is None else mask[None])
        above = valid & (np.nan_to_num(values, nan=-np.inf) > threshold)
        count = valid.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            probability.append(np.where(count > 0, above.sum(axis=0) / np.maximum(count, 1), np.nan))
        w = (valid * weights).sum()
        rates[channel_name(pollutant, threshold)] = float((above * weights).sum() / w) if w > 0 else 0.0
    return ExceedanceClimatology(np.stack(probability).astype(np.float32), rates)


def exceedance_climatology(datamodule, channels: Sequence[tuple[str, float]], max_frames: int) -> ExceedanceClimatology:  # type: ignore[no-untyped-def]
    """The climatology of ``channels`` from ``datamodule``'s training split (computed once per data module)."""
    key = (tuple(channels), int(max_frames))
    cache = datamodule.__dict__.setdefault("_exceedance_climatology", {})
    if key not in cache:
        handle = datamodule._require()
        frames = training_frames(datamodule.indexes["train"].valid_index, max_frames)
        pollutants = list(dict.fromkeys(p for p, _ in channels))
        fields = {p: np.asarray(handle.canonical(p).isel(time=frames).values, dtype=np.float32) for p in pollutants}
        cache[key] = frequencies(fields, handle.mask, handle.lat, channels)
    return cache[key]
