"""Builders: the composed config → the objects of one run. Each builder reads only its part of the config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from aqnet.data.datamodule import AirQualityDataModule
from aqnet.finetune.phases import FreezePhases, PhasePlan
from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.physics import AdaptiveBias, TopoFlowBias
from aqnet.paths import cache_dir, store_location
from aqnet.tasks.forecast import ForecastTask
from aqnet.tasks.optim import OptimConfig
from aqnet.tasks.report import format_results_table
from aqnet.tracking import mlflow as tracking
from aqnet.training.checkpointing import ContinuationState, RotatingCheckpointIO
from aqnet.training.preemption import CheckpointOnSignal, in_slurm_job
from aqnet.training.progress import progress_callback, uses_progress_bar
from aqnet.variables import VARIABLES

AQNET_TRAINER_KEYS = ("early_stopping_patience",)  # trainer.* keys that are not Lightning Trainer arguments

T = TypeVar("T")


def from_config(cls: type[T], node: DictConfig, **overrides: Any) -> T:
    """An instance of dataclass ``cls`` from the config node's keys of the same names (others are ignored)."""
    values = {f.name: node[f.name] for f in fields(cls) if f.name in node}  # type: ignore[arg-type]
    return cls(**{**values, **overrides})


def data_store(cfg: DictConfig) -> Path:
    """The store to train on: the user's `data.path`, or the built-in benchmark (generated once, then reused)."""
    path = store_location(cfg.data, Path(cfg.paths.root))
    if cfg.data.path:
        return path
    from aqnet.data.synthetic import write_benchmark

    if not path.exists():
        print(f"generating the {cfg.data.benchmark} benchmark store (once): {path}", flush=True)
    return write_benchmark(path, size=cfg.data.benchmark, seed=cfg.data.benchmark_seed)


def build_datamodule(cfg: DictConfig, store: Path) -> AirQualityDataModule:
    data = cfg.data
    return AirQualityDataModule(
        path=store,
        input_variables=list(data.inputs),
        target_variables=list(data.targets),
        train_years=list(data.train_years),
        val_years=list(data.val_years),
        test_years=list(data.test_years),
        lead_hours=list(data.lead_hours),
        batch_size=data.batch_size,
        num_workers=data.num_workers,
        seed=cfg.seed,
        train_samples_per_epoch=data.train_samples_per_epoch,
        cache_dir=cache_dir(Path(cfg.paths.root)),
        memory_limit_mb=data.memory_limit_mb,
    )


def build_model(cfg: DictConfig, datamodule: AirQualityDataModule) -> Forecaster:
    b = cfg.backbone
    transforms = {
        name: ("log1p" if cfg.data.transform == "log1p" and VARIABLES[name].heavy_tailed else "none")
        for name in cfg.data.inputs
    }
    return Forecaster(
        input_names=list(cfg.data.inputs),
        target_names=list(cfg.data.targets),
        img_size=datamodule.grid_shape,
        patch_size=b.patch_size,
        backbone=from_config(BackboneConfig, b),
        embed=cfg.embed.tokens,
        statistics=datamodule.statistics,
        transforms=transforms,
        seed=cfg.seed,
        predict=b.predict,
        climatology=datamodule.climatology if b.predict == "anomaly" else None,
        physics_bias=build_physics_bias(cfg),
        bias_blocks=cfg.physics_bias.blocks if cfg.physics_bias.blocks == "all" else list(cfg.physics_bias.blocks),
        attention_backend=cfg.physics_bias.backend,
        attention_chunk=cfg.physics_bias.chunk,
        scan_region=tuple(cfg.embed.region) if cfg.embed.name == "wind_scan" else None,
        scan_order_encoding=cfg.embed.order_encoding,
    )


def build_physics_bias(cfg: DictConfig) -> TopoFlowBias | AdaptiveBias | None:
    p = cfg.physics_bias
    common = {"direction": p.direction, "alpha_init": p.alpha_init, "control": p.control, "control_seed": cfg.seed}
    if p.name == "topoflow":
        return TopoFlowBias(height_scale_m=p.height_scale_m, clamp=p.clamp, **common)
    if p.name == "adaptive":
        return AdaptiveBias(wind=p.wind, beta_init=p.beta_init, learn_beta=p.learn_beta, **common)
    return None


def build_task(
    cfg: DictConfig,
    model: Forecaster,
    datamodule: AirQualityDataModule,
    run_dir: Path | None = None,
    phases: PhasePlan | None = None,
) -> ForecastTask:
    """The task; with ``run_dir`` its test epoch writes per-case errors and error maps to <run_dir>/evaluation;
    with fine-tune ``phases``, each phase's learning rate scales the schedule."""
    optim = from_config(OptimConfig, cfg.optim, betas=tuple(cfg.optim.betas), max_steps=cfg.trainer.max_steps)
    return ForecastTask(
        model=model,
        lat=datamodule.lat,
        target_names=list(cfg.data.targets),
        lead_hours=list(cfg.data.lead_hours),
        climatology=datamodule.climatology,
        optim=optim,
        evaluation_dir=run_dir / "evaluation" if run_dir is not None else None,
        lon=datamodule.lon,
        lr_factor=phases.lr_factor if phases is not None else None,
    )


def build_logger(
    cfg: DictConfig, run_dir: Path, choices: Mapping[str, str | None], job_num: int
) -> MLFlowLogger | None:
    if cfg.logger.name == "none":
        return None
    return tracking.make_logger(cfg, run_dir, choices, job_num=job_num, sweep_id=cfg.sweep_id)


def build_trainer(
    cfg: DictConfig, run_dir: Path, logger: MLFlowLogger | None, phases: PhasePlan | None = None
) -> tuple[L.Trainer, ModelCheckpoint]:
    t = cfg.trainer
    checkpoints = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val/loss",
        mode="min",
        save_last=True,
        auto_insert_metric_name=False,
    )
    progress = progress_callback(t.log_every_n_steps)
    callbacks: list[Callback] = [checkpoints, progress]
    if t.early_stopping_patience > 0:
        callbacks.append(EarlyStopping(monitor="val/loss", mode="min", patience=t.early_stopping_patience))
    if phases is not None:
        callbacks.append(FreezePhases(phases))
    # preemption-proof: state for an exact continuation, a checkpoint at the step after a SLURM signal
    callbacks += [ContinuationState(cfg.run_id), CheckpointOnSignal(run_dir / "checkpoints", cfg.cluster.max_requeues)]
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
        enable_progress_bar=uses_progress_bar(progress),
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
    task: ForecastTask,
    datamodule: AirQualityDataModule,
) -> None:
    """The end of a run: the results table, where things are, the best checkpoint and figures in MLflow.

    Rank 0 only under DDP: the other ranks hold the same (synced) metrics, and files and MLflow are rank 0's.
    """
    from aqnet.plots.bias import bias_footprints_artifact

    if rank_zero_only.rank != 0:
        return

    footprints = bias_footprints_artifact(task.model, datamodule, run_dir)
    if footprints is not None:
        tracking.log_artifact(logger, footprints, "plots")
    console = Console()
    console.print(format_results_table(metrics, split="test"))
    console.print(f"run directory: {run_dir}")
    if checkpoints.best_model_path:
        console.print(f"best checkpoint: {checkpoints.best_model_path}")
    if logger is not None:
        tracking.log_artifact(logger, Path(checkpoints.best_model_path), "checkpoints")
        if task.evaluation_dir is not None:
            tracking.log_artifacts(logger, task.evaluation_dir, "evaluation")
        tracking.log_artifacts(logger, run_dir / "finetune", "finetune")
        uri = tracking.tracking_uri(cfg)
        console.print(f"MLflow run {logger.run_id} in {uri}  (browse: {tracking.mlflow_env_hint(uri)})")
