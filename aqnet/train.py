"""One run: config → data → model → task → trainer → fit → test → report. Linear on purpose."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from aqnet import builders
from aqnet.config.validate import physics_fields, validate_config, validate_grid, validate_physical_ranges
from aqnet.training.console import quiet_console


def train(cfg: DictConfig) -> dict[str, float]:
    validate_config(cfg)
    quiet_console()
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))  # the sidecar checkpoints rely on

    store = builders.data_store(cfg)
    datamodule = builders.build_datamodule(cfg, store)
    datamodule.setup("fit")
    validate_grid(cfg, datamodule.grid_shape)
    validate_physical_ranges(cfg, {name: datamodule.value_range(name) for name in physics_fields(cfg)})

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = builders.build_model(cfg, datamodule)
    task = builders.build_task(cfg, model, datamodule)
    logger = builders.build_logger(cfg, run_dir, dict(hydra_cfg.runtime.choices), hydra_cfg.job.get("num", 0))
    trainer, checkpoints = builders.build_trainer(cfg, run_dir, logger)

    trainer.fit(task, datamodule=datamodule)
    trainer.test(task, datamodule=datamodule, ckpt_path="best" if checkpoints.best_model_path else None, verbose=False)
    metrics = {**task.final_metrics, "val/loss": float(checkpoints.best_model_score or float("nan"))}
    builders.report(cfg, run_dir, metrics, checkpoints, logger, task, datamodule)
    return metrics
