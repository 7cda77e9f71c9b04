"""Two gloo ranks train a Forecaster with the physics bias in every block through DistributedDataParallel, on the
``lowrank`` and the custom-autograd ``chunked`` backends: each rank takes half of one batch (the same terrain in
every sample, as in real data), so DDP's averaged gradient must equal one process's on the whole batch.

Run as a script in a fresh interpreter (``python -m tests.models.ddp_bias OUT``); each rank saves ``rank<r>.pt``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.physics import TopoFlowBias
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS
from tests.gloo import run_two_ranks

BACKENDS = ("lowrank", "chunked")
GRID = (8, 16)
SMALL = BackboneConfig(embed_dim=16, depth=2, decoder_depth=1, num_heads=2)


def model(backend: str) -> Forecaster:
    stats = {name: {"mean": 1.0, "std": 2.0} for name in INPUT_VARIABLES}
    return Forecaster(
        INPUT_VARIABLES, POLLUTANTS, GRID, 2, SMALL, statistics=stats, seed=3, physics_bias=TopoFlowBias(),
        bias_blocks="all", attention_backend=backend, attention_chunk=12,
    )  # fmt: skip


def batch() -> tuple[Tensor, ...]:
    """Four samples with one terrain (metres) and their own other fields."""
    inputs = 10 * torch.rand(4, len(INPUT_VARIABLES), *GRID, generator=torch.Generator().manual_seed(1))
    inputs[:, INPUT_VARIABLES.index("elevation")] = 4000 * torch.rand(*GRID, generator=torch.Generator().manual_seed(2))
    return inputs, torch.full((4,), 24.0), torch.full((4,), 6.0), torch.full((4,), 100.0)


def gradients(net: torch.nn.Module, rows: slice) -> Tensor:
    inputs, lead, hour, day = (t[rows] for t in batch())
    net(inputs, lead, hour, day).square().mean().backward()
    inner = net.module if isinstance(net, DistributedDataParallel) else net
    return torch.cat([p.grad.reshape(-1) for p in inner.parameters()])


def worker(rank: int, world: int, out: Path) -> None:
    torch.set_num_threads(1)
    result = {b: gradients(DistributedDataParallel(model(b)), slice(2 * rank, 2 * rank + 2)) for b in BACKENDS}
    torch.save(result, out / f"rank{rank}.pt")


if __name__ == "__main__":
    run_two_ranks(worker)
