"""Two CPU ranks (gloo) take DDP training steps of the real ForecastModule on their shards of one epoch permutation.

Each rank draws batches of ``B`` from ``EpochSampler(num_replicas=2, rank=r)``, runs ``training_step`` through a
real ``DistributedDataParallel`` wrapper (so the gradient is DDP's average over ranks), records the step's global
loss (Lightning's ``sync_dist`` mean of the ranks' losses), the averaged gradient, its sample indices and its count
of valid target pixels, and takes an SGD step. Each rank saves ``rank<r>.pt`` into OUT. The test compares them
with one process taking batches of ``2B`` (:func:`reference`).

Run as a script in a fresh interpreter (``python -m tests.training.ddp_step OUT``): forking a process that has
already run threaded work (as pytest's has) can deadlock, and spawning would re-import everything in each child.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from aqnet.data.samples import EpochSampler
from aqnet.tasks.forecast.module import ForecastModule
from aqnet.training.config import AdamWConfig, CosineConfig
from aqnet.training.optim import Optimization
from tests.gloo import run_two_ranks
from tests.tasks.forecast.test_module import LAT, LEADS, OUT_NAMES, StandInBatch, TinyForecaster, make_batches

SIZE = 27  # odd: the 2-rank epoch is cut to 26, and the first 3 batches still line up with one process's
BATCH = 4  # per rank; one process takes 2 * BATCH
STEPS = 3
SEED = 5
LR = 0.1


def pool() -> StandInBatch:
    """SIZE samples as one batch; every third sample has few valid target pixels, so the ranks' counts differ."""
    full = make_batches(1, SIZE, seed=11)[0]
    g = torch.Generator().manual_seed(12)
    sparse = torch.arange(SIZE) % 3 == 0
    keep = torch.rand(full.target_valid.shape, generator=g) > 0.9
    full.target_valid = torch.where(sparse[:, None, None, None], full.target_valid & keep, full.target_valid)
    full.targets = torch.where(full.target_valid, full.targets, torch.zeros(()))
    return full


def take(full: StandInBatch, indices: list[int]) -> StandInBatch:
    idx = torch.tensor(indices)
    values = {k: (v[idx] if isinstance(v, Tensor) else v) for k, v in vars(full).items()}
    return StandInBatch(**values)


def loader(num_replicas: int, rank: int, batch_size: int) -> DataLoader:
    """Indices of the epoch permutation, batched; the collate step looks the samples up (and keeps the indices)."""
    full = pool()
    sampler = EpochSampler(SIZE, seed=SEED, num_replicas=num_replicas, rank=rank)
    items = list(range(SIZE))
    return DataLoader(items, batch_size=batch_size, sampler=sampler, collate_fn=lambda i: (i, take(full, i)))


def task() -> ForecastModule:
    torch.manual_seed(0)  # the same initial weights in every process
    return ForecastModule(
        TinyForecaster(), LAT, OUT_NAMES, LEADS, None, Optimization(AdamWConfig(), CosineConfig(warmup_steps=1), STEPS)
    )


class TrainingStep(nn.Module):
    """What Lightning's DDP strategy does: ``training_step`` runs inside the DDP wrapper's forward."""

    def __init__(self, module: ForecastModule) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: Any, batch_idx: int) -> Tensor:
        return self.module.training_step(batch, batch_idx)


def flat_grad(module: nn.Module) -> Tensor:
    return torch.cat([p.grad.reshape(-1) for p in module.parameters()]).detach().clone()


def run(model: nn.Module, module: ForecastModule, batches: DataLoader, world: int) -> dict[str, list]:
    optimizer = torch.optim.SGD(module.parameters(), lr=LR)
    out: dict[str, list] = {"loss": [], "grad": [], "indices": [], "valid": []}
    for step, (indices, batch) in zip(range(STEPS), batches, strict=False):
        optimizer.zero_grad()
        loss = model(batch, step)
        loss.backward()  # DDP: gradients averaged over ranks here
        logged = loss.detach().clone()
        if world > 1:
            dist.all_reduce(logged)  # Lightning's sync_dist mean of train/loss
        out["loss"].append(float(logged / world))
        out["grad"].append(flat_grad(module))
        out["indices"].append(list(indices))
        out["valid"].append(int(batch.target_valid.sum()))
        optimizer.step()
    return out


def reference() -> dict[str, list]:
    """One process, batches of 2 * BATCH from the unsharded sampler."""
    module = task()
    return run(TrainingStep(module), module, loader(1, 0, 2 * BATCH), world=1)


def worker(rank: int, world: int, out: Path) -> None:
    torch.set_num_threads(1)
    module = task()
    model = DistributedDataParallel(TrainingStep(module))
    result = run(model, module, loader(world, rank, BATCH), world)
    result["world_size"] = dist.get_world_size()
    torch.save(result, out / f"rank{rank}.pt")


if __name__ == "__main__":
    run_two_ranks(worker)
