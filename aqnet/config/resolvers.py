"""OmegaConf resolvers used by conf/: absolute paths and the run identity (docs/architecture.md, "Identity").

The submit time (UTC, to the microsecond) is fixed once by the process the user started: `aqnet-train` exports it
as ``AQNET_SUBMIT_TIME`` before Hydra composes anything, so the jobs a launcher starts (local processes, SLURM
jobs, requeued SLURM jobs: all inherit the environment) resolve the same sweep id and find their own run directory
again. ``sweep_id`` is that time in a multirun and None in a single run; ``run_id`` is the submit time for a single
run and ``<sweep_id>_<job num>`` for a job of a sweep, so jobs starting in the same second never collide.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path

from omegaconf import OmegaConf

SUBMIT_TIME_ENV = "AQNET_SUBMIT_TIME"


def absolute_path(path: str) -> str:
    return str(Path(path).expanduser().resolve())


@cache
def _now_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def submit_time_id() -> str:
    """The submit time: inherited from the launching process if it exported one, else fixed once per process."""
    return os.environ.get(SUBMIT_TIME_ENV) or _now_id()


def export_submit_time() -> str:
    """Fix the submit time for this process and every job it launches (called by the CLI before composing)."""
    os.environ.setdefault(SUBMIT_TIME_ENV, _now_id())
    return os.environ[SUBMIT_TIME_ENV]


def _multirun_job() -> int | None:
    """This job's number in a Hydra multirun; None in a single run or outside Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return None
    return int(hydra.job.num) if OmegaConf.select(hydra, "job.num") is not None else None


def sweep_id() -> str | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    return submit_time_id() if multirun else None


def run_id() -> str:
    job = _multirun_job()
    return submit_time_id() if job is None else f"{submit_time_id()}_{job}"


def accelerator(gpus_per_node: int) -> str:
    """Lightning's accelerator for a cluster preset: GPUs (CUDA or ROCm) if the job asks for any."""
    return "gpu" if int(gpus_per_node) > 0 else "cpu"


def strategy(nodes: int, tasks_per_node: int) -> str:
    """DDP as soon as SLURM starts more than one process; Lightning picks up ranks from SLURM's environment."""
    return "ddp" if int(nodes) * int(tasks_per_node) > 1 else "auto"


def cpus_per_task(num_workers: int) -> int:
    """A preset's default CPUs per process: one per data worker plus the compute's (aqnet.utils.threads)."""
    from aqnet.utils.threads import default_cpus_per_task

    return default_cpus_per_task(num_workers)


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("aqnet.abspath", absolute_path, replace=True)
    OmegaConf.register_new_resolver("aqnet.submit_time", submit_time_id, replace=True)
    OmegaConf.register_new_resolver("aqnet.sweep_id", sweep_id, replace=True)
    OmegaConf.register_new_resolver("aqnet.run_id", run_id, replace=True)
    OmegaConf.register_new_resolver("aqnet.accelerator", accelerator, replace=True)
    OmegaConf.register_new_resolver("aqnet.strategy", strategy, replace=True)
    OmegaConf.register_new_resolver("aqnet.cpus_per_task", cpus_per_task, replace=True)
