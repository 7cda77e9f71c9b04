"""Builders: the validated config → the objects of one run. Each builder reads only its part of the config.

config → typed specs (task, model, optimiser, schedule; :mod:`aqnet.config.schema`) → these builders → the trainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from torch import nn

from aqnet.finetune.callbacks import FreezePhases
from aqnet.finetune.phases import PhasePlan
from aqnet.paths import store_location
from aqnet.tasks.base import Task
from aqnet.tracking import mlflow as tracking
from aqnet.training.checkpointing import ContinuationState, RotatingCheckpointIO
from aqnet.training.config import AQNET_TRAINER_KEYS
from aqnet.training.logging import GradNormLogger
from aqnet.training.preemption import CheckpointOnSignal, in_slurm_job
from aqnet.training.progress import progress_callback, uses_progress_bar


def build_task(cfg: DictConfig) -> Task:
    """The run's task (``cfg.task`` as its typed config, :mod:`aqnet.tasks.base`)."""
    return OmegaConf.to_object(cfg.task)  # type: ignore[return-value]


def data_store(cfg: DictConfig) -> Path:
    """The store to train on: the user's `data.path`, or the built-in benchmark (generated once, then reused)."""
    path = store_location(cfg.data, Path(cfg.paths.root))
    if cfg.data.path:
        return path
    from aqnet.data.synthetic import write_benchmark

    if not path.exists():
        print(f"generating the {cfg.data.benchmark} benchmark store (once): {path}", flush=True)
    return write_benchmark(path, size=cfg.data.benchmark, seed=cfg.data.benchmark_seed)


def build_model(cfg: DictConfig, task: Task, datamodule: L.LightningDataModule) -> nn.Module:
    """The ``model`` group's network for what ``task`` reads and produces (compiled in place with
    ``trainer.compile``: state-dict keys stay the same)."""
    model = OmegaConf.to_object(cfg.model).build(cfg, task.model_io(cfg, datamodule))  # type: ignore[union-attr]
    if cfg.trainer.compile:
        model.compile(mode=cfg.trainer.compile_mode)
    return model


def build_logger(
    cfg: DictConfig, run_dir: Path, choices: Mapping[str, str | None], job_num: int
) -> MLFlowLogger | None:
    if cfg.logger.name == "none":
        return None
    return tracking.make_logger(cfg, run_dir, choices, job_num=job_num, sweep_id=cfg.sweep_id)


def build_callbacks(
    cfg: DictConfig, run_dir: Path, task: Task, phases: PhasePlan | None = None
) -> tuple[list[Callback], ModelCheckpoint]:
    """The best/last checkpoints on the task's monitored metric, progress lines, early stopping, gradient norms,
    freeze phases, preemption handling, and the config's extra ``callbacks`` (each a node with a ``_target_``)."""
    t = cfg.trainer
    checkpoints = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=task.monitor,
        mode=task.mode,
        save_last=True,
        auto_insert_metric_name=False,
    )
    progress = progress_callback(t.log_every_n_steps)
    callbacks: list[Callback] = [checkpoints, progress]
    stopping = t.early_stopping
    if stopping.patience > 0:
        callbacks.append(
            EarlyStopping(
                monitor=task.monitor, mode=task.mode, patience=stopping.patience, min_delta=stopping.min_delta
            )
        )
    if t.log_grad_norm:
        callbacks.append(GradNormLogger())
    if phases is not None:
        callbacks.append(FreezePhases(phases))
    # preemption-proof: state for an exact continuation, a checkpoint at the step after a SLURM signal
    callbacks += [ContinuationState(cfg.run_id), CheckpointOnSignal(run_dir / "checkpoints", cfg.cluster.max_requeues)]
    callbacks += [instantiate(node) for node in cfg.callbacks.values()]
    return callbacks, checkpoints


def build_trainer(
    cfg: DictConfig, run_dir: Path, logger: MLFlowLogger | None, task: Task, phases: PhasePlan | None = None
) -> tuple[L.Trainer, ModelCheckpoint]:
    t = cfg.trainer
    callbacks, checkpoints = build_callbacks(cfg, run_dir, task, phases)
    plugins: list[Any] = [RotatingCheckpointIO()]
    if in_slurm_job():  # our signal handling replaces Lightning's USR1 auto-requeue
        plugins.append(SLURMEnvironment(auto_requeue=False))
    # every trainer.* key but aqnet's own is a Lightning Trainer argument of the same name
    lightning_args = {k: v for k, v in OmegaConf.to_container(t, resolve=True).items() if k not in AQNET_TRAINER_KEYS}
    trainer = L.Trainer(
        **lightning_args,
        default_root_dir=run_dir,
        check_val_every_n_epoch=None,  # validate by step count, across epoch boundaries
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        plugins=plugins,
        enable_progress_bar=any(uses_progress_bar(c) for c in callbacks),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        # the data module shards by rank itself (DDP): no DistributedSampler replacing the epoch sampler, and no
        # validation/test samples padded with duplicates
        use_distributed_sampler=False,
    )
    return trainer, checkpoints


def report(
    cfg: DictConfig,
    run_dir: Path,
    metrics: Mapping[str, float],
    checkpoints: ModelCheckpoint,
    logger: MLFlowLogger | None,
    task: Task,
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
) -> None:
    """The end of a run: the results table, where things are, the best checkpoint and figures in MLflow.

    Rank 0 only under DDP: the other ranks hold the same (synced) metrics, and files and MLflow are rank 0's.
    """
    from aqnet.plots.bias import bias_footprints_artifact

    if rank_zero_only.rank != 0:
        return

    footprints = bias_footprints_artifact(module.model, datamodule, run_dir)
    if footprints is not None:
        tracking.log_artifact(logger, footprints, "plots")
    console = Console()
    if not console.is_terminal:  # a log file: wide enough for the results table's columns
        console = Console(width=132)
    console.print(task.report(metrics, split="test"))
    console.print(f"run directory: {run_dir}")
    if checkpoints.best_model_path:
        console.print(f"best checkpoint: {checkpoints.best_model_path}")
    if logger is not None:
        tracking.log_artifact(logger, Path(checkpoints.best_model_path), "checkpoints")
        tracking.log_artifacts(logger, run_dir / "evaluation", "evaluation")
        tracking.log_artifacts(logger, run_dir / "finetune", "finetune")
        uri = tracking.tracking_uri(cfg)
        console.print(f"MLflow run {logger.run_id} in {uri}  (browse: {tracking.mlflow_env_hint(uri)})")
