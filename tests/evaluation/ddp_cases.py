"""Two CPU ranks (gloo) record per-case errors and maps; rank 0 writes the files. Run as a script in a fresh
interpreter (``python -m tests.evaluation.ddp_cases OUT``): forking a process that has already run threaded work
(as pytest's has) can deadlock, and spawning would re-import everything in each child."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from aqnet.evaluation import TestEvaluation

LAT = torch.tensor([0.0, 60.0])
NAMES = ("pm25", "co")
T0 = 1514764800  # 2018-01-01T00:00:00Z


def batch(rank: int) -> tuple[torch.Tensor, ...]:
    """pm25 errors [[1, 2], [3, 4]] at lead 24, all valid; co never valid; rank r's init time is day r + 1."""
    pred = torch.zeros(1, 2, 2, 2)
    pred[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    valid = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    valid[0, 0] = True
    return pred, torch.zeros_like(pred), valid, torch.tensor([T0 + rank * 86400]), torch.tensor([24.0])


def worker(rank: int, world: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        evaluation = TestEvaluation(NAMES, (12, 24), LAT, sources=("model",))
        evaluation.update("model", *batch(rank))
        evaluation.finish(Path(out), write=rank == 0)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    mp.start_processes(worker, args=(2, str(out / "init"), str(out)), nprocs=2, join=True, start_method="fork")
