"""SLURM preemption, time limits and requeues: checkpoint at the next step boundary, requeue, resume.

One mechanism, ours: SLURM's warning signal (USR2, which hydra-submitit asks for ``signal_delay_s`` before the
time limit, and which a preempting site can send) and the SIGTERM of ``scontrol requeue`` / preemption both set a
flag. At the next step boundary — after that step's logging and validation, before the next step computes — the
job saves ``last.ckpt`` with everything an exact continuation needs. After USR2 it requeues itself
(``scontrol requeue``) unless ``cluster.max_requeues`` restarts are used up; after SIGTERM SLURM is already
requeueing it. It then waits to be stopped, writing no result, so the launcher keeps waiting for the rerun.
Lightning's own SLURM auto-requeue (USR1) and submitit's checkpoint handler are both switched off: the handlers
here replace submitit's in the job process, and the trainer's SLURM environment has ``auto_requeue=False``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType

import lightning as L

from aqnet.errors import AqnetError

SIGNALS = (signal.SIGUSR2, signal.SIGTERM)


class RequeueLimitReached(AqnetError):
    """Preempted more often than ``cluster.max_requeues`` allows: the run ends FAILED."""


def in_slurm_job() -> bool:
    return "SLURM_JOB_ID" in os.environ


def restart_count() -> int:
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


class CheckpointOnSignal(L.Callback):
    """Saves ``last.ckpt`` at the step boundary after a SLURM signal, then requeues (or fails at the limit)."""

    def __init__(self, checkpoint_dir: Path, max_requeues: int) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.max_requeues = max_requeues
        self.received: int | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if in_slurm_job():
            for sig in SIGNALS:
                signal.signal(sig, self._handle)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, idx: int) -> None:
        # every rank takes the same decision at the same step: the save is collective
        if not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            return
        name = signal.Signals(self.received or signal.SIGTERM).name
        path = self.checkpoint_dir / "last.ckpt"
        trainer.save_checkpoint(path)
        step = trainer.global_step
        if restart_count() >= self.max_requeues:
            reason = (
                f"{name} at step {step} after {restart_count()} requeues: cluster.max_requeues={self.max_requeues} "
                f"is used up; the run can be continued from {path} by running the same job again"
            )
            logger = trainer.logger
            if trainer.is_global_zero and logger is not None and hasattr(logger, "run_id"):
                logger.experiment.set_tag(logger.run_id, "failure_reason", reason)
            raise RequeueLimitReached(reason)
        if trainer.is_global_zero:
            print(f"{name} received: saved {path} at step {step}; requeued to resume there", flush=True)
            if self.received == signal.SIGUSR2:
                subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=False)
        while True:  # SLURM stops this process; returning would let the job end as if it had completed
            time.sleep(60)
