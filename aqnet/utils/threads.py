"""CPU threads of a job, sized from the CPUs it was given (docs/clusters.md, "CPUs and threads").

A process's allocation is ``SLURM_CPUS_PER_TASK`` inside a SLURM job; else ``cluster.cpus_per_task`` when the
preset sets one (``submitit_local``, or a local run capped by hand), never more than the process's CPU affinity;
else the CPU affinity. Each data-loader worker gets one CPU and runs one thread (torch, BLAS and OpenMP alike); the
training process's intra-op threads take the rest, at least one. Without this, torch, OpenMP and BLAS each start
one thread per core of the node in every process: dozens of threads on the one CPU a job may hold.

torch is imported where it is used: a preset's default ``cpus_per_task`` resolves while a config composes, which
imports no torch.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

COMPUTE_CPUS = 2  # the CPUs a cluster preset gives a job's compute besides its data workers (cluster.cpus_per_task)


@dataclass(frozen=True)
class ThreadPlan:
    cpus: int  # the allocation
    source: str  # where it was read
    workers: int  # data-loader workers, one CPU and one thread each
    intra_op: int  # torch / BLAS / OpenMP threads of the training process

    @property
    def oversubscribed(self) -> bool:
        return self.workers + self.intra_op > self.cpus

    def line(self) -> str:
        return (
            f"threads: {self.intra_op} intra-op (torch, BLAS, OpenMP) + {self.workers} data worker(s) x 1 thread, "
            f"of {self.cpus} CPU(s) from {self.source}"
        )


def default_cpus_per_task(num_workers: int) -> int:
    """A preset's default ``cluster.cpus_per_task``: one CPU per data worker plus the compute CPUs."""
    return int(num_workers) + COMPUTE_CPUS


def allocated_cpus(preset_cpus: int | None) -> tuple[int, str]:
    """(CPUs this process may use, where that number comes from); see the module docstring."""
    affinity = len(os.sched_getaffinity(0))
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm), "SLURM_CPUS_PER_TASK"
    if preset_cpus:
        return min(int(preset_cpus), affinity), f"cluster.cpus_per_task={preset_cpus} (CPU affinity: {affinity})"
    return affinity, "the process's CPU affinity"


def plan_threads(cpus: int, source: str, num_workers: int) -> ThreadPlan:
    return ThreadPlan(cpus=cpus, source=source, workers=num_workers, intra_op=max(1, cpus - num_workers))


def apply_thread_plan(preset_cpus: int | None, num_workers: int, announce: bool = True) -> ThreadPlan:
    """Size this process's threads (every rank, before any compute); print the decision when ``announce``."""
    import torch
    from threadpoolctl import threadpool_limits

    plan = plan_threads(*allocated_cpus(preset_cpus), num_workers)
    torch.set_num_threads(plan.intra_op)
    threadpool_limits(plan.intra_op)  # numpy / scipy BLAS and OpenMP in this process
    os.environ["OMP_NUM_THREADS"] = str(plan.intra_op)  # processes started from here
    with contextlib.suppress(RuntimeError):  # already set, or inter-op work has started: the pool stays as it is
        torch.set_num_interop_threads(plan.intra_op)
    if announce:
        print(plan.line(), flush=True)
        if plan.oversubscribed:
            warnings.warn(
                f"data.num_workers={num_workers} leaves no CPU for compute among the {plan.cpus} CPU(s) from "
                f"{plan.source}: lower data.num_workers or give the run more CPUs",
                stacklevel=2,
            )
    return plan


def init_worker(worker_id: int) -> None:
    """A data-loader worker's ``worker_init_fn``: one thread, then Lightning's worker seeding when it is on
    (``seed_everything(workers=True)``; Lightning adds its own only to loaders that have none)."""
    import torch
    from lightning.fabric.utilities.seed import pl_worker_init_function
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    if int(os.environ.get("PL_SEED_WORKERS", "0")):
        pl_worker_init_function(worker_id)
