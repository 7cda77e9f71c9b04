"""Run a function on two gloo ranks in forked processes (for scripts run in a fresh interpreter by the tests)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp

Body = Callable[[int, int, Path], None]  # (rank, world size, output folder)


def _entry(rank: int, body: Body, world: int, out: Path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out / 'init'}", rank=rank, world_size=world)
    try:
        body(rank, world, out)
    finally:
        dist.destroy_process_group()


def run_two_ranks(body: Body) -> None:
    """``body`` on ranks 0 and 1; the output folder is the script's first argument."""
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    mp.start_processes(_entry, args=(body, 2, out), nprocs=2, join=True, start_method="fork")
