"""Two CPU ranks (gloo) record per-case errors and maps; rank 0 writes the files. Run as a script in a fresh
interpreter (``python -m tests.evaluation.ddp_cases OUT``): forking a process that has already run threaded work
(as pytest's has) can deadlock, and spawning would re-import everything in each child."""

from __future__ import annotations

from pathlib import Path

import torch

from aqnet.evaluation import TestEvaluation
from tests.gloo import run_two_ranks

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


def worker(rank: int, world: int, out: Path) -> None:
    evaluation = TestEvaluation(NAMES, (12, 24), LAT, sources=("model",))
    evaluation.update("model", *batch(rank))
    evaluation.finish(out, write=rank == 0)


if __name__ == "__main__":
    run_two_ranks(worker)
