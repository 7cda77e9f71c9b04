"""One run: config → task → data → model → module → trainer → fit → test → report. Linear on purpose.

The config arrives composed, with a fine-tune checkpoint's architecture adopted and validated
(:mod:`aqnet.cli.train`); a SLURM job runs the same path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from aqnet import builders
from aqnet.config.validate import validate_physical_ranges
from aqnet.finetune.plan import FinetuneSource, load_weights, phase_plan
from aqnet.training.checkpointing import find_resume_checkpoint
from aqnet.training.console import quiet_console
from aqnet.utils.threads import apply_thread_plan

FINISHED = "finished.json"  # written last: the run completed (its test metrics)


def train(cfg: DictConfig, finetune: FinetuneSource | None = None) -> dict[str, float]:
    started = time.monotonic()
    quiet_console()
    apply_thread_plan(cfg.cluster.cpus_per_task, cfg.data.num_workers, announce=rank_zero_only.rank == 0)
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    task = builders.build_task(cfg)
    choices = dict(hydra_cfg.runtime.choices) | (finetune.choices if finetune else {})
    if rank_zero_only.rank == 0:  # one writer under DDP (SLURM starts every rank with the same run directory)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))  # the sidecar checkpoints need
    if (run_dir / FINISHED).exists():  # a rerun of a sweep (resume_sweep=...): this job is done
        print(f"run {cfg.run_id} already finished; skipped", flush=True)
        return json.loads((run_dir / FINISHED).read_text())
    resume_from, note = find_resume_checkpoint(run_dir, cfg.run_id)  # a requeued or rerun job continues
    if resume_from is not None:
        print(f"resuming run {cfg.run_id} from {resume_from}" + (f" ({note})" if note else ""), flush=True)

    store = builders.data_store(cfg)
    datamodule = task.datamodule(cfg, store)
    datamodule.setup("fit")
    task.check_data(cfg, datamodule)
    validate_physical_ranges({name: datamodule.value_range(name) for name in datamodule.variables})

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = builders.build_model(cfg, task, datamodule)
    if finetune is not None and resume_from is None:  # a resumed fine-tune continues from its own checkpoint
        load_weights(cfg, model, finetune, run_dir)
    phases = phase_plan(cfg)
    module = task.module(cfg, model, datamodule, run_dir, phases)
    logger = builders.build_logger(cfg, run_dir, choices, hydra_cfg.job.get("num", 0))
    trainer, checkpoints = builders.build_trainer(cfg, run_dir, logger, task, phases)

    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    trainer.test(
        module, datamodule=datamodule, ckpt_path="best" if checkpoints.best_model_path else None, verbose=False
    )
    metrics = {**module.final_metrics, task.monitor: float(checkpoints.best_model_score or float("nan"))}
    builders.report(cfg, run_dir, metrics, checkpoints, logger, task, module, datamodule)
    if rank_zero_only.rank == 0:
        (run_dir / FINISHED).write_text(json.dumps(metrics))
        minutes, seconds = divmod(round(time.monotonic() - started), 60)
        print(f"run took {minutes} min {seconds:02d} s (data, training, test and report)", flush=True)
    return metrics
