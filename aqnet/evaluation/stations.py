"""Scores at observing stations: forecasts interpolated from the grid to each station, against its observations.

``aqnet-eval run=<run> stations=<point store>`` (a store written by ``aqnet-data convert`` from station CSVs, see
:mod:`aqnet.data.stations`). Each forecast field is interpolated bilinearly to the stations inside the grid (those
outside are left out and counted), and compared with the station's observation at the forecast's valid time (the
hourly mean ending then). Persistence at the station (its observation at the init time) is the reference; both
are scored on the cases where the station observed at the init and the valid time. Scores
are the grid's own metric classes (pooled RMSE, MAE, bias per pollutant x lead, every station weighted alike),
named ``{split}/stations/{rmse|mae|bias}_{var}_{lead}h`` and ``{split}/stations/persistence_…``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from aqnet.data.batch import Batch, collate_batch
from aqnet.data.stations import StationStore, open_station_store
from aqnet.errors import ConfigError

__all__ = ["StationPoints", "station_scores", "open_for_scoring"]


@dataclass(frozen=True)
class StationPoints:
    """Bilinear interpolation from a grid (ascending 1-D lat, lon) to the stations inside it."""

    corners: Tensor  # [S, 4] flat indices into H * W
    weights: Tensor  # [S, 4]
    inside: np.ndarray  # [S_all] bool: which stations of the store are scored

    @classmethod
    def build(cls, lat: np.ndarray, lon: np.ndarray, station_lat: np.ndarray, station_lon: np.ndarray) -> StationPoints:
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        s_lat, s_lon = np.asarray(station_lat, dtype=np.float64), np.asarray(station_lon, dtype=np.float64)
        inside = (s_lat >= lat[0]) & (s_lat <= lat[-1]) & (s_lon >= lon[0]) & (s_lon <= lon[-1])
        i = np.clip(np.searchsorted(lat, s_lat[inside], side="right") - 1, 0, len(lat) - 2)
        j = np.clip(np.searchsorted(lon, s_lon[inside], side="right") - 1, 0, len(lon) - 2)
        fy = (s_lat[inside] - lat[i]) / (lat[i + 1] - lat[i])
        fx = (s_lon[inside] - lon[j]) / (lon[j + 1] - lon[j])
        width = len(lon)
        corners = np.stack([i * width + j, i * width + j + 1, (i + 1) * width + j, (i + 1) * width + j + 1], axis=1)
        weights = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=1)
        return cls(torch.from_numpy(corners), torch.from_numpy(weights).float(), inside)

    def __call__(self, fields: Tensor) -> Tensor:
        """[B, V, H, W] -> [B, V, S] at the stations inside the grid."""
        flat = fields.flatten(-2)
        picked = flat[..., self.corners.to(flat.device)]  # [B, V, S, 4]
        return (picked * self.weights.to(flat.device, flat.dtype)).sum(-1)


def open_for_scoring(path: str | Path, target_names: Sequence[str]) -> StationStore:
    """The station store, checked before any compute: it must observe at least one of the run's targets."""
    store = open_station_store(path)
    if not set(store.values) & set(target_names):
        raise ConfigError(
            f"stations={path}: the store observes {', '.join(store.values)}, none of the run's targets "
            f"{', '.join(target_names)}"
        )
    return store


def _observations(store: StationStore, names: Sequence[str], seconds: Tensor, inside: np.ndarray) -> Tensor:
    """[B, V, 1, S] observations at the given times (NaN where the store has no such time or variable)."""
    times = store.times.astype("datetime64[s]").astype(np.int64)
    wanted = seconds.cpu().numpy().astype(np.int64)
    pos = np.clip(np.searchsorted(times, wanted), 0, len(times) - 1)
    hit = times[pos] == wanted
    out = np.full((len(wanted), len(names), int(inside.sum())), np.nan, dtype=np.float32)
    for v, name in enumerate(names):
        if name in store.values:
            values = store.values[name][:, inside][pos]
            out[:, v] = np.where(hit[:, None], values, np.nan)
    return torch.from_numpy(out)[:, :, None, :]


def station_scores(
    model: torch.nn.Module,
    dataset: torch.utils.data.Dataset,
    store: StationStore,
    lat: np.ndarray,
    lon: np.ndarray,
    split: str,
    lead_hours: Sequence[float],
    batch_size: int,
    limit_batches: int | None = None,
) -> tuple[dict[str, float], str]:
    """Metrics ``{split}/stations/...`` of ``model`` on ``dataset``'s samples, and a line saying what was scored."""
    from aqnet.inference.predict import forecast
    from aqnet.tasks.forecast.metrics import ForecastMetrics

    names = tuple(model.target_names)
    points = StationPoints.build(lat, lon, store.lat, store.lon)
    if not points.inside.any():
        raise ConfigError(f"stations={store.path}: no station lies inside the forecast grid")
    metrics = ForecastMetrics(names, lead_hours, torch.zeros(1), baselines=("persistence",))
    model = model.cpu().eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_batch)
    for k, batch in enumerate(loader):
        if limit_batches is not None and k >= limit_batches:
            break
        _update(metrics, model, batch, store, names, points, forecast)
    scored = f"{int(points.inside.sum())} of {len(points.inside)} stations inside the grid"
    return metrics.compute(f"{split}/stations"), f"stations {store.path}: scored {scored}"


def _update(metrics, model, batch: Batch, store: StationStore, names, points: StationPoints, forecast) -> None:
    with torch.no_grad():
        pred = points(forecast(model, batch))[:, :, None, :]  # [B, V, 1, S]
    valid_time = batch.init_time + (batch.lead_hours.double() * 3600).round().long()
    truth = _observations(store, names, valid_time, points.inside)
    before = _observations(store, names, batch.init_time, points.inside)
    both = torch.isfinite(truth) & torch.isfinite(before)  # model and persistence on the same cases (skill)
    metrics.update("model", pred, torch.nan_to_num(truth), both, batch.lead_hours)
    metrics.update("persistence", torch.nan_to_num(before), torch.nan_to_num(truth), both, batch.lead_hours)
