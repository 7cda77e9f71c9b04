"""Forecasts of a finished run from arbitrary init times of its data store (``aqnet-predict``).

Inputs are read by the same :class:`aqnet.data.dataset.ForecastDataset` as training and evaluation (units,
grid order, NaN fill and time features included), over a sample index built for the requested init times × every
lead of the run. A forecast needs no target, so valid times may lie beyond the end of the store.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader

import aqnet
from aqnet.data.batch import Batch, collate_batch
from aqnet.data.dataset import ForecastDataset
from aqnet.data.samples import SampleIndex
from aqnet.data.store import open_store
from aqnet.errors import ConfigError, DataError
from aqnet.inference.loading import LoadedRun, OpenedRun, load_run, open_data, open_run, store_path
from aqnet.inference.output import forecast_dataset, output_path, write_dataset
from aqnet.paths import cache_dir
from aqnet.variables import UG_M3, VARIABLES

if TYPE_CHECKING:
    from aqnet.data.datamodule import AirQualityDataModule

_YEAR_FIRST = re.compile(r"^\s*\d{4}")


def is_concentration(name: str) -> bool:
    """A mass concentration (µg m-3 in the registry): never negative, so forecasts are clamped at 0."""
    return name in VARIABLES and VARIABLES[name].units == UG_M3


def clamp_concentrations(pred: Tensor, names: Sequence[str]) -> Tensor:
    """``pred`` [B, V, H, W] with every concentration channel clamped at 0 (other channels untouched)."""
    keep = torch.tensor([is_concentration(n) for n in names], device=pred.device)[None, :, None, None]
    return torch.where(keep, pred.clamp_min(0.0), pred)


@torch.no_grad()
def forecast(model: torch.nn.Module, batch: Batch) -> Tensor:
    """Physical-unit forecasts [B, V_out, H, W] of a batch, concentrations clamped at 0."""
    pred = model.predict_physical(batch.inputs, batch.lead_hours, batch.hour_of_day, batch.day_of_year)
    return clamp_concentrations(pred, model.target_names)


# -- init times --------------------------------------------------------------------------------------------------
def _timestamp(text: str, key: str) -> np.datetime64:
    try:
        stamp = pd.Timestamp(str(text).strip())
    except (ValueError, TypeError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ConfigError(f"{key}={text}: not a time; use ISO 8601, e.g. 2018-01-05T06:00 (UTC)")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.to_datetime64(), "s")


def _range_ends(text: str) -> tuple[np.datetime64, np.datetime64]:
    """``start:end`` where each end may itself hold colons (2018-01-05T06:00:2018-01-06T18:00)."""
    for i, char in enumerate(text):
        if char == ":" and _YEAR_FIRST.match(text[i + 1 :]):
            try:
                return _timestamp(text[:i], "init_times"), _timestamp(text[i + 1 :], "init_times")
            except ConfigError:
                continue
    raise ConfigError(f"init_times={text}: expected <start>:<end>, e.g. init_times=2018-01-05:2018-01-06T18")


def describe_times(times: np.ndarray) -> str:
    """'2013-01-01T00 … 2018-10-15T18 (1440 times, every 6 h with gaps)' for a store's time axis."""
    t = np.asarray(times).astype("datetime64[s]")
    steps = np.unique(np.diff(t).astype(np.int64)) if len(t) > 1 else np.array([], dtype=np.int64)
    step = f", every {steps.min() / 3600:g} h" + (" with gaps" if len(steps) > 1 else "") if len(steps) else ""
    return f"{np.datetime_as_string(t[0], unit='h')} … {np.datetime_as_string(t[-1], unit='h')} ({len(t)} times{step})"


def check_one_of(init_time: str | None, init_times: str | None) -> None:
    if (init_time is None) == (init_times is None):
        raise ConfigError("give one of init_time=<time> or init_times=<start>:<end> (e.g. init_time=2018-01-05T06:00)")


def select_init_times(times: np.ndarray, init_time: str | None, init_times: str | None, store: Path) -> np.ndarray:
    """Indices into the store's ``times`` of the requested init times; one line naming the store's range if none."""
    check_one_of(init_time, init_times)
    t = np.asarray(times).astype("datetime64[s]")
    if init_time is not None:
        wanted = _timestamp(str(init_time), "init_time")
        found = np.flatnonzero(t == wanted)
        if len(found):
            return found
        where = "outside" if wanted < t[0] or wanted > t[-1] else "not a time of"
        raise DataError(f"init_time={init_time} is {where} the data store {store}: it holds {describe_times(t)}")
    start, end = _range_ends(str(init_times))
    found = np.flatnonzero((t >= start) & (t <= end))
    if not len(found):
        why = "start is after end; " if start > end else ""
        raise DataError(
            f"init_times={init_times} selects no time of the data store {store} ({why}it holds {describe_times(t)})"
        )
    return found


# -- forecasting ---------------------------------------------------------------------------------------------------
def init_time_dataset(datamodule: AirQualityDataModule, init_index: np.ndarray) -> ForecastDataset:
    """Samples (init, lead) for every init index × every lead of the run, init-major, through ForecastDataset."""
    handle = datamodule.handle
    assert handle is not None, "the data module is not loaded (prepare_data)"
    leads = np.asarray(datamodule.lead_hours, dtype=np.int64)
    init = np.repeat(np.asarray(init_index, dtype=np.int64), len(leads))
    # valid_index: the dataset also reads a "target" frame; a forecast has none, so it points at the init time
    index = SampleIndex("predict", init, init.copy(), np.tile(leads, len(init_index)))
    stats = datamodule.statistics
    return ForecastDataset(handle, index, datamodule.input_variables, datamodule.target_variables, stats.mean)


def run_forecasts(model: torch.nn.Module, dataset: ForecastDataset, batch_size: int, n_init: int) -> np.ndarray:
    """[init, lead, variable, lat, lon] physical-unit forecasts (float32)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_batch, num_workers=0)
    values = np.concatenate([forecast(model, batch).numpy() for batch in loader])
    return values.reshape(n_init, -1, *values.shape[1:])


def provenance(loaded: LoadedRun, root: Path) -> dict[str, str]:
    """Global attributes: the run, its checkpoint, the code that trained it (its MLflow tag) and this call."""
    mlflow_id = loaded.mlflow_run_id()
    sha, origin = None, "the run's MLflow tag git_sha"
    uri = loaded.tracking_uri(root)
    if mlflow_id and uri:
        try:
            import mlflow

            sha = mlflow.MlflowClient(uri).get_run(mlflow_id).data.tags.get("git_sha")
        except Exception:  # an unreachable or pruned store must not stop a forecast; the fallback is recorded
            sha = None
    if not sha:
        from aqnet.tracking.store import git_sha

        sha, origin = git_sha(), "aqnet-predict's checkout (the run's MLflow tag was unavailable)"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Conventions": "CF-1.8",
        "title": "aqnet air-quality forecast",
        "source": f"aqnet {aqnet.__version__}",
        "history": f"{now}: aqnet-predict {' '.join(sys.argv[1:])}",
        "aqnet_run_id": loaded.run_id,
        "mlflow_run_id": mlflow_id or "none",
        "git_sha": sha,
        "git_sha_origin": origin,
        "checkpoint": str(loaded.reference.checkpoint),
        "checkpoint_which": loaded.reference.which,
        "checkpoint_global_step": str(loaded.global_step),
        "data_store": str(loaded.datamodule.path.resolve()),
        "comment": "forecasts in physical units from the store's state at init_time; mass concentrations are "
        "clamped at 0; every grid cell is forecast (the store's mask is not applied)",
    }


@dataclass(frozen=True)
class Prediction:
    path: Path
    init_times: np.ndarray
    lead_hours: tuple[int, ...]
    variables: tuple[str, ...]
    run_id: str

    def print(self) -> None:
        from rich.console import Console

        first, last = (str(t)[:16] for t in (self.init_times[0], self.init_times[-1]))
        Console().print(
            f"forecast of run {self.run_id}: {len(self.init_times)} init time(s) {first} … {last}, "
            f"leads {', '.join(f'{h} h' for h in self.lead_hours)}, {', '.join(self.variables)} → {self.path}",
            soft_wrap=True,
        )


def predict(spec: str, root: Path, which: str = "best", **options: Any) -> Any:
    """Forecast from run ``spec``'s ``which`` checkpoint as its task does (``options``: its aqnet-predict keys)."""
    run = open_run(spec, root, which)
    return run.task.predict(run, **options)


def predict_forecast(
    run: OpenedRun,
    init_time: str | None = None,
    init_times: str | None = None,
    out: str = "forecast.nc",
    overwrite: bool = False,
    batch_size: int | None = None,
) -> Prediction:
    """Forecast every lead of a forecast run from the chosen init times; write the CF dataset to ``out``.

    Every check that needs no model (arguments, the output path, the init times against the store's time axis)
    comes before Lightning is even imported.
    """
    cfg, root = run.cfg, run.root
    path, fmt = output_path(out, overwrite)
    check_one_of(init_time, init_times)
    store, index = store_path(cfg), None
    if store is not None:  # the store's time axis alone answers a wrong init time, before Lightning is imported
        handle = open_store(store, list(cfg.data.inputs), cache_dir(Path(cfg.paths.root)), scan=False)
        index = select_init_times(handle.times, init_time, init_times, store)
    dm = open_data(cfg, batch_size, setup=False)
    assert dm.handle is not None
    if index is None:  # a benchmark generated just now
        index = select_init_times(dm.handle.times, init_time, init_times, dm.path)
    loaded = load_run(run, dm)
    values = run_forecasts(loaded.model, init_time_dataset(dm, index), dm.batch_size, len(index))
    times = dm.handle.times[index]
    ds = forecast_dataset(
        values, times, dm.lead_hours, dm.handle.lat, dm.handle.lon, loaded.model.target_names, provenance(loaded, root)
    )
    write_dataset(ds, path, fmt, overwrite)
    result = Prediction(path, times, dm.lead_hours, tuple(loaded.model.target_names), loaded.run_id)
    result.print()
    return result
