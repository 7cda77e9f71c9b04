"""Score a finished run's checkpoint on one split (``aqnet-eval``), with optional named region boxes.

:func:`evaluate` opens the run and hands it to its task; for a forecast (:func:`evaluate_forecast`) the scores are
the forecast module's own (its evaluation step, the persistence and climatology baselines, the pooled metric
classes), run by ``Trainer.test`` over every (init, lead) pair of the split. Names (docs/evaluation.md):
``{split}/{rmse|mae|bias}_{var}_{lead}h``, baselines ``{split}/{persistence|climatology}_...``, skill
``{split}/skill_{persistence|climatology}_{var}_{lead}h``; a region inserts its name after the split:
``{split}/{region}/rmse_{var}_{lead}h``. Everything is written under ``<run dir>/eval/`` and logged to the run's own
MLflow run (tags ``eval.{split}.checkpoint`` / ``.global_step`` say which checkpoint was scored).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from aqnet.data.batch import collate_batch
from aqnet.data.regions import RegionBox, builtin_regions, parse_regions
from aqnet.data.samples import SPLITS
from aqnet.errors import ConfigError
from aqnet.inference.loading import LoadedRun, OpenedRun, load_run, open_data, open_run
from aqnet.inference.predict import forecast
from aqnet.tasks.forecast.names import BASELINES

REFERENCES = BASELINES  # skill is reported against each


@dataclass
class Evaluation:
    split: str
    metrics: dict[str, float]
    regions: list[RegionBox]
    files: list[Path] = field(default_factory=list)
    mlflow_run_id: str | None = None
    logged: str = ""  # where the metrics went in MLflow, or why they did not
    stations: str = ""  # what the station scores covered (stations=<store>)


def regions_on_grid(boxes: list[RegionBox], masks: Mapping[str, Tensor], lat: Tensor, lon: Tensor) -> list[RegionBox]:
    """The boxes with a cell of the run's grid inside. A built-in region outside it is skipped (the table covers
    China; a run may not); a region the user asked for is refused in one line: it cannot be scored."""
    builtin = set(builtin_regions())
    for box in boxes:
        if not bool(masks[box.name].any()) and box not in builtin:
            raise ConfigError(
                f"regions.{box.name} (lat {list(box.lat)}, lon {list(box.lon)}) has no cell of the run's grid "
                f"(lat {float(lat.min()):g}..{float(lat.max()):g}, lon {float(lon.min()):g}..{float(lon.max()):g})"
            )
    return [box for box in boxes if bool(masks[box.name].any())]


def with_skill(metrics: Mapping[str, float]) -> dict[str, float]:
    """``metrics`` plus ``{prefix}/skill_{reference}_{var}_{lead}h`` against every reference, for every prefix
    that has RMSEs (the split, ``{split}/{region}``, ``{split}/{season}``, ``{split}/stations``)."""
    from aqnet.tasks.forecast.metrics import skill_scores

    out = dict(metrics)
    for prefix in sorted({key.split("/rmse_")[0] for key in metrics if "/rmse_" in key}):
        for reference in REFERENCES:
            out.update(skill_scores(metrics, prefix, reference))
    return out


def split_seasons(datamodule: Any, split: str) -> list[str]:
    """The seasons (djf, mam, jja, son) of the split's valid times, in that order."""
    from aqnet.tasks.forecast.scoring import SEASONS, season_index

    index, times = datamodule.indexes[split], datamodule.handle.times.astype("datetime64[s]").astype(np.int64)
    present = set(season_index(times[index.valid_index]).tolist())
    return [name for i, name in enumerate(SEASONS) if i in present]


def case_lead(lead_hours: Sequence[int], wanted: int | None) -> int:
    if wanted is None:
        return 24 if 24 in lead_hours else int(lead_hours[0])
    if int(wanted) not in lead_hours:
        raise ConfigError(f"case_lead_hours={wanted} is not a lead of the run; its leads: {list(lead_hours)}")
    return int(wanted)


def evaluate(spec: str, root: Path, which: str = "best", **options: Any) -> Any:
    """Score run ``spec``'s ``which`` checkpoint as its task does (``options``: the task's aqnet-eval keys)."""
    run = open_run(spec, root, which)
    return run.task.evaluate(run, **options)


def evaluate_forecast(
    run: OpenedRun,
    split: str = "test",
    regions: Mapping[str, Any] | None = None,
    limit_batches: int | None = None,
    batch_size: int | None = None,
    case_lead_hours: int | None = None,
    plots: bool = True,
    log_to_mlflow: bool = True,
    stations: str | None = None,
) -> Evaluation:
    """Score a forecast run on ``split``; write and log the results (module docstring).

    Every argument is checked before Lightning is imported or data is read.
    """
    cfg, which = run.cfg, run.which
    if split not in SPLITS:
        raise ConfigError(f"split={split}: must be one of {', '.join(SPLITS)}")
    boxes = parse_regions(regions, reserved=REFERENCES)
    if limit_batches is not None and limit_batches < 1:
        raise ConfigError(f"limit_batches={limit_batches} must be >= 1 (or null for the whole split)")
    lead = case_lead(list(cfg.task.lead_hours), case_lead_hours)
    station_store = None
    if stations:  # scores at observing stations (aqnet/evaluation/stations.py), checked before any compute
        from aqnet.evaluation.stations import open_for_scoring

        station_store = open_for_scoring(stations, list(cfg.task.targets))

    import lightning as L

    from aqnet.tasks.forecast.scoring import EvaluationModule

    dm = open_data(cfg, batch_size, setup=True)
    loaded = load_run(run, dm)
    masks = {r.name: r.mask(dm.lat, dm.lon) for r in boxes}
    inside = regions_on_grid(boxes, masks, dm.lat, dm.lon)
    task = EvaluationModule(
        model=loaded.model,
        lat=dm.lat,
        target_names=list(cfg.task.targets),
        lead_hours=list(dm.lead_hours),
        climatology=dm.climatology,
        lon=dm.lon,
        split=split,
        regions={r.name: masks[r.name] for r in inside},
        references=run.task.references(dm),
        daily_days=run.task.daily_days(dm, split),
        utc_offset_hours=run.task.daily_utc_offset_hours,
        seasons=split_seasons(dm, split),
    )
    data = dm.datasets[split]
    loader = DataLoader(data, dm.eval_batch_size, shuffle=False, num_workers=dm.num_workers, collate_fn=collate_batch)
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        precision="32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_test_batches=limit_batches if limit_batches is not None else 1.0,
        default_root_dir=loaded.run_dir / "eval",
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.test(task, dataloaders=loader, verbose=False)
    result = Evaluation(split, with_skill(task.results), boxes)
    if station_store is not None:
        from aqnet.evaluation.stations import station_scores
        from aqnet.tasks.forecast.metrics import skill_scores

        scores, result.stations = station_scores(
            loaded.model, data, station_store, dm.lat.numpy(), dm.lon.numpy(), split, dm.lead_hours,
            dm.eval_batch_size, limit_batches,
        )  # fmt: skip
        result.metrics.update(scores | skill_scores(scores, f"{split}/stations", "persistence"))
    out = loaded.run_dir / "eval"
    result.files.append(_write_metrics(result, loaded, which, out / f"{split}_{which}_metrics.json"))
    if plots:
        result.files += _plots(result, loaded, which, lead, out)
    if log_to_mlflow:
        result.mlflow_run_id, result.logged = log_to_run(loaded, run.root, result, which)
    print_evaluation(result)
    return result


def print_evaluation(result: Evaluation) -> None:
    """The tables aqnet-train prints, for the grid and each region, and where the results went."""
    from rich.console import Console

    from aqnet.tasks.forecast.report import format_results_table

    console = Console()
    console.print(format_results_table(result.metrics, split=result.split))
    for region in result.regions:
        prefix = f"{result.split}/{region.name}"
        if any(k.startswith(prefix + "/rmse_") for k in result.metrics):
            console.print(format_results_table(result.metrics, split=prefix))
        else:
            console.print(f"region {region.name} (lat {region.lat}, lon {region.lon}): no grid cell inside; skipped")
    if result.stations:
        console.print(format_results_table(result.metrics, split=f"{result.split}/stations"))
        console.print(result.stations, soft_wrap=True)
    for path in result.files:
        console.print(f"wrote {path}", soft_wrap=True)
    if result.logged:
        console.print(result.logged, soft_wrap=True)


def _write_metrics(result: Evaluation, loaded: LoadedRun, which: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "run_id": loaded.run_id,
        "checkpoint": str(loaded.reference.checkpoint),
        "checkpoint_which": which,
        "global_step": loaded.global_step,
        "split": result.split,
        "regions": {r.name: {"lat": list(r.lat), "lon": list(r.lon)} for r in result.regions},
        "metrics": dict(sorted(result.metrics.items())),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return path


def _plots(result: Evaluation, loaded: LoadedRun, which: str, lead: int, out: Path) -> list[Path]:
    from aqnet.plots.forecast import plot_case_maps, plot_rmse_by_lead

    dm, split, names = loaded.datamodule, result.split, loaded.model.target_names
    title = f"run {loaded.run_id} ({which} checkpoint, step {loaded.global_step}): {split} RMSE by lead"
    by_lead = out / f"{split}_{which}_rmse_by_lead.png"
    files = [plot_rmse_by_lead(result.metrics, split, names, dm.lead_hours, by_lead, title)]
    dataset = dm.datasets[split]
    k = int(np.flatnonzero(dataset.index.lead_hours == lead)[0])  # the split's first init time with that lead
    batch = collate_batch([dataset[k]])
    model = loaded.model.cpu().eval()
    pred = forecast(model, batch)[0].numpy()
    truth = torch.where(batch.target_valid, batch.targets, torch.nan)[0].numpy()
    init = np.datetime64(int(batch.init_time[0]), "s")
    stamp = np.datetime_as_string(init, unit="h")
    boxes = [r.box for r in result.regions]
    case = out / f"{split}_{which}_case_{stamp.replace(':', '')}_{lead}h.png"
    title = f"run {loaded.run_id} ({which} checkpoint): init {stamp} UTC + {lead} h"
    files.append(plot_case_maps(pred, truth, names, dm.lat.numpy(), dm.lon.numpy(), case, title, boxes))
    return files


def log_to_run(loaded: LoadedRun, root: Path, result: Evaluation, which: str) -> tuple[str | None, str]:
    """Metrics, tags (which checkpoint, its step) and files into the run's own MLflow run."""
    run_id = loaded.mlflow_run_id()
    uri = loaded.tracking_uri(root)
    if run_id is None or uri is None:
        return run_id, "not logged to MLflow: the run has no mlflow_run_id file or its MLflow store is gone"
    import mlflow
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(uri)
    try:
        client.get_run(run_id)
    except MlflowException:
        return run_id, f"not logged to MLflow: run {run_id} is not in {uri}"
    # MLflow shows a metric's value at its highest step (then the newest): at least the step at which training
    # (or an earlier evaluation) logged this split, so the newest evaluation is the run's value; history keeps all
    logged = [m.step for m in client.get_metric_history(run_id, f"{result.split}/loss")]
    step = max([loaded.global_step, *logged])
    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, step) for k, v in sorted(result.metrics.items()) if np.isfinite(v)]
    for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    client.set_tag(run_id, f"eval.{result.split}.checkpoint", str(loaded.reference.checkpoint))
    client.set_tag(run_id, f"eval.{result.split}.global_step", str(loaded.global_step))
    for path in result.files:
        client.log_artifact(run_id, str(path), "eval")
    return run_id, f"logged {len(metrics)} metrics and {len(result.files)} files to MLflow run {run_id} in {uri}"
