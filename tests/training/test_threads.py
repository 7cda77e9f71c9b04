"""Threads follow the CPUs a job was given: the allocation, the training process's threads, one per data worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from threadpoolctl import threadpool_info
from torch.utils.data import DataLoader, Dataset

from aqnet.utils.threads import allocated_cpus, init_worker, plan_threads

AFFINITY = len(os.sched_getaffinity(0))


def test_allocation_from_slurm_then_the_preset_then_the_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert allocated_cpus(None) == (3, "SLURM_CPUS_PER_TASK")
    assert allocated_cpus(7)[0] == 3  # inside a SLURM job its allocation wins over the preset
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert allocated_cpus(1)[0] == 1 and allocated_cpus(AFFINITY + 5)[0] == AFFINITY  # never above the affinity
    assert allocated_cpus(None) == (AFFINITY, "the process's CPU affinity")


@pytest.mark.parametrize(
    ("cpus", "workers", "intra_op", "oversubscribed"), [(4, 2, 2, False), (1, 0, 1, False), (2, 2, 1, True)]
)
def test_plan_leaves_one_cpu_per_worker(cpus: int, workers: int, intra_op: int, oversubscribed: bool) -> None:
    plan = plan_threads(cpus, "test", workers)
    assert (plan.intra_op, plan.oversubscribed) == (intra_op, oversubscribed)
    assert plan.line().startswith(f"threads: {intra_op} intra-op") and f"of {cpus} CPU(s) from test" in plan.line()


class _Threads(Dataset):
    """Each item: the worker's torch threads and the largest BLAS/OpenMP pool it would use."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> list[int]:
        pools = [p["num_threads"] for p in threadpool_info()]
        return [torch.get_num_threads(), max(pools, default=1)]


def test_each_data_worker_runs_one_thread() -> None:
    loader = DataLoader(_Threads(), batch_size=None, num_workers=2, worker_init_fn=init_worker)
    assert [list(map(int, item)) for item in loader] == [[1, 1], [1, 1]]


def test_the_training_process_is_sized_from_slurm_cpus_per_task() -> None:
    """In a fresh process (this one's threads stay as they are): 3 CPUs, 1 worker -> 2 intra-op threads."""
    code = (
        "import json, os, torch; from threadpoolctl import threadpool_info;"
        "from aqnet.utils.threads import apply_thread_plan; apply_thread_plan(None, 1);"
        "print(json.dumps([torch.get_num_threads(), max(p['num_threads'] for p in threadpool_info()),"
        " os.environ['OMP_NUM_THREADS']]))"
    )
    env = {**os.environ, "SLURM_CPUS_PER_TASK": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    line, result = out.splitlines()[0], json.loads(out.splitlines()[-1])
    expected = "threads: 2 intra-op (torch, BLAS, OpenMP) + 1 data worker(s) x 1 thread, of 3 CPU(s) from "
    assert line == expected + "SLURM_CPUS_PER_TASK"
    assert result == [2, 2, "2"]
