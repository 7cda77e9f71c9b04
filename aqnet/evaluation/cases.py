"""Per-case test errors and per-pixel error maps: what ``aqnet-compare`` needs for tests over forecast cases.

During the test epoch, :class:`TestEvaluation` records, for the model and each baseline, in physical units:

* per case (one sample = one init time × lead): Σ w·valid·err² and Σ w·valid per target variable, with
  w = cos(lat) (the same unnormalised weights as :mod:`aqnet.tasks.forecast.metrics`, so Σ sse / Σ weight over the cases
  of a lead is exactly the pooled test MSE);
* per pixel: Σ valid·err² and the count of valid samples per (variable, lead, lat, lon).

States are DDP-safe: per-case lists are concatenated across ranks (``dist_reduce_fx="cat"``), maps are summed.
Files: ``test_cases.csv`` (one row per case × variable × source with a valid pixel) and ``test_error_maps.nc``
(``mse`` [source, variable, lead_hours, lat, lon] and ``count``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from aqnet.evaluation.files import CASE_COLUMNS, CASES_FILE, MAPS_FILE, SOURCES, write_cases, write_maps
from aqnet.evaluation.weights import latitude_weights
from aqnet.variables import VARIABLES

__all__ = ["CASES_FILE", "CASE_COLUMNS", "MAPS_FILE", "SOURCES", "CaseErrors", "ErrorMaps", "TestEvaluation"]


def _check(pred: Tensor, target: Tensor, valid: Tensor, names: Sequence[str]) -> None:
    if pred.shape != target.shape or pred.shape != valid.shape:
        raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)}, valid {tuple(valid.shape)}")
    if pred.ndim != 4 or pred.shape[1] != len(names):
        raise ValueError(f"expected [B, {len(names)}, H, W] for {tuple(names)}, got {tuple(pred.shape)}")


def _squared_error(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """(pred − target)² where valid, 0 elsewhere (NaN at invalid pixels must not leak: NaN·0 = NaN)."""
    err = pred.float() - target.float()
    return torch.where(valid.bool(), err.square(), torch.zeros_like(err))


class CaseErrors(Metric):
    """Per sample: init time, lead, and per variable the lat-weighted Σ err² and Σ weight over valid pixels."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, names: Sequence[str], lat: Tensor | Sequence[float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.names = tuple(names)
        self.register_buffer("_w", latitude_weights(torch.as_tensor(lat), normalise=False)[:, None], persistent=False)
        for state in ("init_time", "lead_hours", "sse", "weight"):
            self.add_state(state, [], dist_reduce_fx="cat")

    def update(self, pred: Tensor, target: Tensor, valid: Tensor, init_time: Tensor, lead_hours: Tensor) -> None:
        """pred, target [B, V, H, W] physical units (V in ``names`` order), valid bool, init_time/lead_hours [B]."""
        _check(pred, target, valid, self.names)
        w = self._w.to(pred.device, torch.float32)
        self.sse.append((_squared_error(pred, target, valid) * w).sum(dim=(-2, -1)).double())
        self.weight.append((valid.float() * w).sum(dim=(-2, -1)).double())
        self.init_time.append(init_time.reshape(-1).to(pred.device, torch.int64))
        self.lead_hours.append(lead_hours.reshape(-1).to(pred.device, torch.float64))

    def compute(self) -> dict[str, Tensor]:
        """init_time [N], lead_hours [N], sse [N, V], weight [N, V] (empty when nothing was seen)."""
        empty = {"init_time": (0,), "lead_hours": (0,), "sse": (0, len(self.names)), "weight": (0, len(self.names))}
        out = {}
        for name, shape in empty.items():
            value = getattr(self, name)
            if isinstance(value, list) and not value:
                out[name] = torch.zeros(shape, dtype=torch.int64 if name == "init_time" else torch.float64)
            else:
                out[name] = dim_zero_cat(value)
        return out

    def frame(self, source: str) -> pd.DataFrame:
        """Long table in :data:`CASE_COLUMNS`; a variable with no valid pixel in a case has no row."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*compute.*before the ``update``.*")
            state = {k: v.detach().cpu().numpy() for k, v in self.compute().items()}
        n, v = state["sse"].shape
        frame = pd.DataFrame(
            {
                "init_time": pd.to_datetime(np.repeat(state["init_time"], v), unit="s", utc=True),
                "lead_hours": np.repeat(state["lead_hours"], v),
                "variable": np.tile(np.array(self.names, dtype=object), n),
                "source": source,
                "sse": state["sse"].reshape(-1),
                "weight": state["weight"].reshape(-1),
            }
        )
        # by case: under DDP the ranks' shards arrive one after another; one process already has this order
        frame = frame.sort_values(["init_time", "lead_hours"], kind="stable")
        frame = frame[frame["weight"] > 0].reset_index(drop=True)
        frame["rmse"] = np.sqrt(frame["sse"] / frame["weight"])
        return frame


class ErrorMaps(Metric):
    """Σ valid·err² and valid count per (variable, lead, lat, lon), summed over the test samples.

    The longitude count may be left out: the states are then allocated at the first update.
    """

    full_state_update = False
    is_differentiable = False

    def __init__(self, names: Sequence[str], lead_hours: Sequence[float], n_lat: int, n_lon: int | None = None, **kw):
        super().__init__(**kw)
        self.names = tuple(names)
        self.lead_hours = tuple(float(x) for x in lead_hours)
        self.register_buffer("_leads", torch.tensor(self.lead_hours, dtype=torch.float64), persistent=False)
        shape = (len(self.names), len(self.lead_hours), int(n_lat), int(n_lon or 0))
        self.add_state("sse", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor, valid: Tensor, lead_hours: Tensor) -> None:
        _check(pred, target, valid, self.names)
        if self.sse.shape[-2:] != pred.shape[-2:]:
            if self.sse.shape[-1] != 0 or self.sse.shape[-2] != pred.shape[-2]:
                raise ValueError(f"grid {tuple(pred.shape[-2:])} differs from the maps' {tuple(self.sse.shape[-2:])}")
            self.sse = torch.zeros((*self.sse.shape[:-1], pred.shape[-1]), dtype=torch.float64, device=pred.device)
            self.count = torch.zeros_like(self.sse)
        lead = lead_hours.to(self._leads.device, torch.float64).reshape(-1, 1)
        onehot = (lead - self._leads[None, :]).abs() < 1e-3
        if not bool(onehot.any(dim=1).all()):
            raise ValueError(f"lead hours {sorted(set(lead.flatten().tolist()))} not all in {list(self.lead_hours)}")
        onehot = onehot.double()
        self.sse += torch.einsum("bvhw,bl->vlhw", _squared_error(pred, target, valid).double(), onehot)
        self.count += torch.einsum("bvhw,bl->vlhw", valid.double(), onehot)

    def compute(self) -> tuple[Tensor, Tensor]:
        return self.sse, self.count


def _units_squared(names: Sequence[str]) -> str:
    units = {VARIABLES[n].units if n in VARIABLES else "1" for n in names}
    return f"({units.pop()})^2" if len(units) == 1 else "(variable units)^2, see variable_units"


class TestEvaluation(nn.Module):
    """Per-case errors and error maps for the model and baselines over one test epoch; :meth:`write` saves them."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        names: Sequence[str],
        lead_hours: Sequence[float],
        lat: Tensor | Sequence[float],
        lon: Tensor | Sequence[float] | None = None,
        sources: Sequence[str] = SOURCES,
    ) -> None:
        super().__init__()
        self.names = tuple(names)
        self.lead_hours = tuple(float(x) for x in lead_hours)
        self.lat = np.asarray(torch.as_tensor(lat, dtype=torch.float64))
        self.lon = None if lon is None else np.asarray(torch.as_tensor(lon, dtype=torch.float64))
        n_lon = None if self.lon is None else len(self.lon)
        self.cases = nn.ModuleDict({s: CaseErrors(self.names, lat) for s in sources})
        self.maps = nn.ModuleDict({s: ErrorMaps(self.names, self.lead_hours, len(self.lat), n_lon) for s in sources})

    def update(
        self, source: str, pred: Tensor, target: Tensor, valid: Tensor, init_time: Tensor, lead_hours: Tensor
    ) -> None:
        self.cases[source].update(pred, target, valid, init_time, lead_hours)
        self.maps[source].update(pred, target, valid, lead_hours)

    def cases_frame(self) -> pd.DataFrame:
        """Every source's cases (synced across ranks: call on every rank)."""
        frames = [metric.frame(source) for source, metric in self.cases.items()]
        return pd.concat(frames, ignore_index=True)[list(CASE_COLUMNS)]

    def maps_dataset(self) -> xr.Dataset:
        """``mse`` and ``count`` [source, variable, lead_hours, lat, lon] (synced across ranks: call on every rank)."""
        sse, count = zip(*(metric.compute() for metric in self.maps.values()), strict=True)
        sse = torch.stack(sse).cpu().numpy()
        count = torch.stack(count).cpu().numpy()
        lon = self.lon
        if lon is None or len(lon) != sse.shape[-1]:  # no longitudes given: grid indices
            lon = np.arange(sse.shape[-1], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mse = np.where(count > 0, sse / np.where(count > 0, count, 1.0), np.nan).astype(np.float32)
        count = count.astype(np.int32)
        dims = ("source", "variable", "lead_hours", "lat", "lon")
        coords = {
            "source": list(self.maps.keys()),
            "variable": list(self.names),
            "lead_hours": np.asarray(self.lead_hours),
            "lat": ("lat", self.lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        }
        units = _units_squared(self.names)
        variable_units = ", ".join(f"{n}: {VARIABLES[n].units if n in VARIABLES else '1'}" for n in self.names)
        attrs = {"units": units, "variable_units": variable_units}
        return xr.Dataset(
            {
                "mse": (dims, mse, {**attrs, "long_name": "mean squared error over the test samples (valid only)"}),
                "count": (dims, count, {"units": "1", "long_name": "number of valid test samples"}),
            },
            coords=coords,
            attrs={"title": "aqnet test error maps", "lead_hours_units": "hours"},
        )

    def write(self, directory: Path, frame: pd.DataFrame, maps: xr.Dataset) -> list[Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return [write_cases(frame, directory / CASES_FILE), write_maps(maps, directory / MAPS_FILE)]

    def finish(self, directory: Path, write: bool = True) -> list[Path]:
        """Compute on every rank (the states sync), write on the one with ``write`` (rank 0), then reset."""
        frame, maps = self.cases_frame(), self.maps_dataset()
        paths = self.write(directory, frame, maps) if write else []
        self.reset()
        return paths

    def reset(self) -> None:
        for group in (self.cases, self.maps):
            for metric in group.values():
                metric.reset()
