"""Multi-process DDP without SLURM: the samplers shard per rank without duplicates and line up with one process's
batches of the same global size, and a 2-rank gloo step of ForecastTask equals the 1-rank step on the same global
batch (loss, gradient) although the ranks see different numbers of valid pixels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from aqnet.data.datamodule import AirQualityDataModule
from aqnet.data.samples import EpochSampler, ShardSampler
from aqnet.tasks.forecast.losses import LatWeightedMSE
from aqnet.variables import INPUT_VARIABLES
from tests.data.store_factory import make_store
from tests.training import ddp_step

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-6  # loss and gradient entries (all of order 0.01–1): float32 sums over a different split of pixels


def _batches(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]


@pytest.mark.parametrize(("size", "num_samples", "world"), [(100, None, 2), (27, None, 2), (50, 23, 3), (7, None, 4)])
def test_epoch_sampler_shards_without_duplicates_and_covers_the_one_process_batch(
    size: int, num_samples: int | None, world: int
) -> None:
    batch = 3
    single = EpochSampler(size, seed=2, num_samples=num_samples)
    single.set_epoch(1)
    one = list(single)
    shards = []
    for rank in range(world):
        sampler = EpochSampler(size, seed=2, num_samples=num_samples, num_replicas=world, rank=rank)
        sampler.set_epoch(1)
        shards.append(list(sampler))
        assert len(sampler) == len(shards[-1])
    assert len({len(s) for s in shards}) == 1  # equal shards: every rank runs the same number of steps
    used = sum(shards, [])
    assert len(used) == len(set(used))  # no sample twice, no padding
    assert len(one) - len(used) < world and len(used) % world == 0  # at most world - 1 dropped from the end
    assert sorted(used) == sorted(one[: len(used)])
    # the ranks' k-th batches of B together are one process's k-th batch of world × B
    per_rank = [_batches(s, batch) for s in shards]
    for k, together in enumerate(_batches(one[: len(used)], world * batch)):
        assert sorted(sum((b[k] for b in per_rank), [])) == sorted(together)


def test_epoch_sampler_one_process_is_unchanged() -> None:
    sampler = EpochSampler(27, seed=5)
    assert len(sampler) == 27 and list(sampler) == np.random.default_rng([5, 0]).permutation(27).tolist()
    with pytest.raises(ValueError, match="replicas"):
        EpochSampler(10, num_replicas=2, rank=2)


@pytest.mark.parametrize(("size", "world"), [(10, 2), (11, 2), (11, 3), (2, 2)])
def test_shard_sampler_splits_the_ordered_split_without_padding(size: int, world: int) -> None:
    batch = 2
    shards = [list(ShardSampler(size, world, rank)) for rank in range(world)]
    assert [len(ShardSampler(size, world, r)) for r in range(world)] == [len(s) for s in shards]
    assert sorted(sum(shards, [])) == list(range(size))  # every pair once, none twice
    assert all(s == sorted(s) for s in shards)
    per_rank = [_batches(s, batch) for s in shards]
    for k, together in enumerate(_batches(list(range(size)), world * batch)):
        assert sorted(sum((b[k] for b in per_rank if k < len(b)), [])) == together


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("stores") / "ddp.zarr")


def _datamodule(store: Path, cache: Path, batch_size: int, world: int = 1, rank: int = 0) -> AirQualityDataModule:
    dm = AirQualityDataModule(
        store,
        INPUT_VARIABLES,
        ("pm25", "o3"),
        batch_size=batch_size,
        num_workers=0,
        seed=3,
        train_samples_per_epoch=41,  # odd: the 2-rank epoch drops its last pair
        cache_dir=cache,
    )
    dm.setup("fit")
    if world > 1:
        dm.trainer = SimpleNamespace(world_size=world, global_rank=rank)  # what Lightning attaches under DDP
    return dm


def _cases(loader) -> list[list[tuple[int, float]]]:
    return [list(zip(b.init_time.tolist(), b.lead_hours.tolist(), strict=True)) for b in loader]


def test_datamodule_shards_by_the_attached_trainer(store: Path, tmp_path: Path) -> None:
    """Two ranks with batches of 4 see, batch by batch, what one process sees with batches of 8 (training); in
    validation and test together every sample exactly once, each (lead, valid day) on one rank."""
    one = _datamodule(store, tmp_path / "cache", 8)
    ranks = [_datamodule(store, tmp_path / "cache", 4, world=2, rank=r) for r in (0, 1)]
    assert one.replicas == (1, 0) and [dm.replicas for dm in ranks] == [(2, 0), (2, 1)]
    assert one.val_dataloader().sampler.__class__.__name__ == "SequentialSampler"  # one process: plain order
    for split in ("train", "val", "test"):
        loader = getattr(one, f"{split}_dataloader")
        single = _cases(loader())
        sharded = [_cases(getattr(dm, f"{split}_dataloader")()) for dm in ranks]
        if split == "train":
            assert [dm.train_dataloader().sampler.num_replicas for dm in ranks] == [2, 2]
            assert len(sharded[0]) == len(sharded[1])  # the same number of steps on each rank
        flat = [c for shard in sharded for b in shard for c in b]
        assert len(flat) == len(set(flat))  # no duplicates across ranks, no padding
        if split != "train":
            assert sorted(flat) == sorted(c for b in single for c in b)
            continue
        for k, together in enumerate(single):
            mine = [c for shard in sharded if k < len(shard) for c in shard[k]]
            if len(together) == 8:  # a train epoch of odd length drops its last pair
                assert sorted(mine) == sorted(together), (split, k)


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # training_step outside a Trainer
def test_two_rank_step_equals_one_rank_step_on_the_same_global_batch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.training.ddp_step", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    ref = ddp_step.reference()
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert len(ref["loss"]) == ddp_step.STEPS
    for k in range(ddp_step.STEPS):
        mine = [set(r["indices"][k]) for r in ranks]
        assert not mine[0] & mine[1] and mine[0] | mine[1] == set(ref["indices"][k])  # the same global batch
        assert ranks[0]["valid"][k] + ranks[1]["valid"][k] == ref["valid"][k]
        assert ranks[0]["loss"][k] == ranks[1]["loss"][k]
        assert abs(ranks[0]["loss"][k] - ref["loss"][k]) <= TOLERANCE, (k, ranks[0]["loss"][k], ref["loss"][k])
        assert torch.equal(ranks[0]["grad"][k], ranks[1]["grad"][k])  # DDP: one averaged gradient
        diff = (ranks[0]["grad"][k] - ref["grad"][k]).abs().max().item()
        assert diff <= TOLERANCE, (k, diff)
    # the ranks' valid counts differ, so a per-rank mean (not the global denominator) would have been visibly wrong
    assert any(ranks[0]["valid"][k] != ranks[1]["valid"][k] for k in range(ddp_step.STEPS))
    module = ddp_step.task()
    full = ddp_step.pool()
    local = []
    for indices in (ranks[0]["indices"][0], ranks[1]["indices"][0]):
        batch = ddp_step.take(full, indices)
        with torch.no_grad():
            pred = module(batch)
            target = module.model.normaliser.normalise(batch.targets, ddp_step.OUT_NAMES)
            local.append(LatWeightedMSE(ddp_step.LAT, distributed=False)(pred, target, batch.target_valid).item())
    assert abs(sum(local) / 2 - ref["loss"][0]) > 100 * TOLERANCE
