"""``aqnet-eval`` and ``aqnet-predict`` of an exceedance run: its scores on any split, and calibrated exceedance
probabilities as a CF dataset (one variable per channel, ``pm25_gt75``: units 1).

The network is rebuilt from the run's config and loaded strictly (:mod:`aqnet.inference.loading`); the Platt
scaling and the decision thresholds fit on validation come from the same checkpoint (module buffers).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from aqnet.data.batch import collate_batch
from aqnet.data.samples import SPLITS
from aqnet.errors import ConfigError, DataError
from aqnet.inference.loading import LoadedRun, OpenedRun, load_run, open_data, store_path


def calibration(path: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's ``platt`` [2, C, L] and ``decision`` [C, L] buffers."""
    from aqnet.finetune.source import read_checkpoint

    state = read_checkpoint(path).get("state_dict", {})
    missing = [k for k in ("platt", "decision") if k not in state]
    if missing:
        raise DataError(f"checkpoint {path} has no {missing}: it is not the checkpoint of a task=exceedance run")
    return {k: state[k] for k in ("platt", "decision")}


def evaluate_exceedance(
    run: OpenedRun,
    split: str = "test",
    limit_batches: int | None = None,
    batch_size: int | None = None,
    plots: bool = True,
    log_to_mlflow: bool = True,
    stations: str | None = None,
    **ignored: Any,  # regions, case_lead_hours: the forecast's options
) -> Any:
    """Score the run on ``split`` as its test epoch did; write ``<run dir>/eval/{split}_{which}_metrics.json``, the
    per-case counts and figures, and log to the run's MLflow run."""
    from aqnet.inference.evaluate import Evaluation, _write_metrics, log_to_run

    if split not in SPLITS:
        raise ConfigError(f"split={split}: must be one of {', '.join(SPLITS)}")
    if limit_batches is not None and limit_batches < 1:
        raise ConfigError(f"limit_batches={limit_batches} must be >= 1 (or null for the whole split)")
    if stations:
        raise ConfigError("stations= is not available for task=exceedance runs (grid scores only)")
    import lightning as L
    from rich.console import Console

    cfg, which, task = run.cfg, run.which, run.task
    dm = open_data(cfg, batch_size, setup=True)
    loaded = load_run(run, dm)
    module = task.module(cfg, loaded.model, dm, loaded.run_dir)
    for name, value in calibration(run.reference.checkpoint).items():
        getattr(module, name).copy_(value)
    module.split = split
    out = loaded.run_dir / "eval"
    module.evaluation_dir = out / f"{split}_{which}" if plots else None
    loader = DataLoader(
        dm.datasets[split], dm.eval_batch_size, shuffle=False, num_workers=dm.num_workers, collate_fn=collate_batch
    )
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_test_batches=limit_batches if limit_batches is not None else 1.0,
        default_root_dir=out,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.test(module, dataloaders=loader, verbose=False)
    result = Evaluation(split, dict(module.final_metrics), [])
    result.files.append(_write_metrics(result, loaded, which, out / f"{split}_{which}_metrics.json"))
    if module.evaluation_dir is not None:
        result.files += sorted(p for p in module.evaluation_dir.rglob("*") if p.is_file())
    if log_to_mlflow:
        result.mlflow_run_id, result.logged = log_to_run(loaded, run.root, result, which)
    console = Console()
    console.print(task.report(result.metrics, split=split))
    for path in result.files:
        console.print(f"wrote {path}", soft_wrap=True)
    if result.logged:
        console.print(result.logged, soft_wrap=True)
    return result


def probabilities(loaded: LoadedRun, dataset: Any, batch_size: int, n_init: int, platt: torch.Tensor) -> np.ndarray:
    """[init, lead, channel, lat, lon] calibrated probabilities (float32)."""
    from aqnet.tasks.exceedance.module import calibrated_probability

    leads = torch.tensor([float(h) for h in loaded.cfg.task.lead_hours])
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_batch, num_workers=0)
    parts = []
    with torch.no_grad():
        for batch in loader:
            logits = loaded.model(batch.inputs, batch.lead_hours, batch.hour_of_day, batch.day_of_year)
            parts.append(calibrated_probability(logits, batch.lead_hours, leads, platt).numpy())
    values = np.concatenate(parts)
    return values.reshape(n_init, -1, *values.shape[1:])


def predict_exceedance(
    run: OpenedRun,
    init_time: str | None = None,
    init_times: str | None = None,
    out: str = "exceedance.nc",
    overwrite: bool = False,
    batch_size: int | None = None,
) -> Any:
    """Calibrated exceedance probabilities at every lead from the chosen init times, written to ``out``."""
    from aqnet.data.store import open_store
    from aqnet.inference.output import forecast_dataset, output_path, write_dataset
    from aqnet.inference.predict import Prediction, check_one_of, init_time_dataset, provenance, select_init_times
    from aqnet.paths import cache_dir

    cfg, task = run.cfg, run.task
    path, fmt = output_path(out, overwrite)
    check_one_of(init_time, init_times)
    store, index = store_path(cfg), None
    if store is not None:
        handle = open_store(store, list(cfg.data.inputs), cache_dir(Path(cfg.paths.root)), scan=False)
        index = select_init_times(handle.times, init_time, init_times, store)
    dm = open_data(cfg, batch_size, setup=False)
    assert dm.handle is not None
    if index is None:
        index = select_init_times(dm.handle.times, init_time, init_times, dm.path)
    loaded = load_run(run, dm)
    platt = calibration(run.reference.checkpoint)["platt"]
    values = probabilities(loaded, init_time_dataset(dm, index), dm.batch_size, len(index), platt)
    times, names = dm.handle.times[index], task.channel_names
    attrs = provenance(loaded, run.root) | {
        "title": "aqnet exceedance probabilities",
        "comment": "calibrated probabilities (Platt scaling fit on the validation split) that each pollutant "
        "exceeds the threshold in its name (canonical units, µg m-3); every grid cell is predicted",
    }
    ds = forecast_dataset(values, times, dm.lead_hours, dm.handle.lat, dm.handle.lon, names, attrs)
    for (pollutant, threshold), name in zip(task.channels, names, strict=True):
        ds[name].attrs = {
            "units": "1",
            "long_name": f"probability that {pollutant} exceeds {threshold:g} µg m-3",
            "threshold": float(threshold),
            "threshold_units": "µg m-3",
        }
    write_dataset(ds, path, fmt, overwrite)
    result = Prediction(path, times, dm.lead_hours, tuple(names), loaded.run_id)
    result.print()
    return result
