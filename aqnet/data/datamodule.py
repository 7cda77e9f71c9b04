"""AirQualityDataModule: one validated store, year splits with the lead embargo, stats from the training years."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
from torch.utils.data import DataLoader

from aqnet.data.batch import collate_batch
from aqnet.data.dataset import ForecastDataset, load_frames
from aqnet.data.samples import SPLITS, EpochSampler, SampleIndex, ShardSampler, Splits, build_index, day_groups
from aqnet.data.stats import Climatology, Statistics, load_or_compute_statistics
from aqnet.data.store import StoreHandle, open_store
from aqnet.errors import DataError
from aqnet.utils.threads import init_worker
from aqnet.variables import LEAD_HOURS

__all__ = ["AirQualityDataModule"]


class AirQualityDataModule(lightning.LightningDataModule):
    """Batches of :class:`aqnet.data.batch.Batch` from a zarr store, by variable name.

    ``prepare_data`` (rank 0) and ``setup`` (every rank) both go through the caches, so the heavy validation scan
    and the statistics are computed once per store fingerprint.

    Under DDP the loaders shard by the attached trainer's world size and global rank (Lightning's own sampler
    replacement is off: ``use_distributed_sampler=False``). Training: each rank takes every world-size-th element of
    the one (seed, epoch) permutation. Validation and test: each rank takes every world-size-th pair of the ordered
    split, without padding or duplicates.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        input_variables: Sequence[str],
        target_variables: Sequence[str],
        train_years: Sequence[int] = (2013, 2014, 2015, 2016),
        val_years: Sequence[int] = (2017,),
        test_years: Sequence[int] = (2018,),
        lead_hours: Sequence[int] = LEAD_HOURS,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        train_samples_per_epoch: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        eval_batch_size: int | None = None,
        memory_limit_mb: float = 2048.0,
    ) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.input_variables = tuple(input_variables)
        self.target_variables = tuple(target_variables)
        if not self.input_variables or not self.target_variables:
            raise DataError("data.input_variables and data.target_variables must each name at least one variable")
        self.splits = Splits(tuple(train_years), tuple(val_years), tuple(test_years))
        self.lead_hours = tuple(int(h) for h in lead_hours)
        if not self.lead_hours or min(self.lead_hours) <= 0:
            raise DataError(f"task.lead_hours must be positive hours, got {list(lead_hours)}")
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size or batch_size)
        self.resume_at: tuple[int, int] | None = None  # set when a run resumes mid-epoch
        self.num_workers, self.seed = int(num_workers), int(seed)
        self.train_samples_per_epoch = train_samples_per_epoch
        self.cache_dir = cache_dir
        self.pin_memory, self.persistent_workers = pin_memory, persistent_workers and num_workers > 0
        self.handle: StoreHandle | None = None
        self.indexes: dict[str, SampleIndex] = {}
        self._statistics: Statistics | None = None
        self._climatology: Climatology | None = None
        self.datasets: dict[str, ForecastDataset] = {}
        self.memory_limit_mb = float(memory_limit_mb)
        # validation/test shards keep each (lead, local valid day) on one rank (daily scores; UTC + this offset)
        self.eval_day_offset_hours = 0.0

    @classmethod
    def from_config(
        cls, cfg: Any, store: Path, targets: Sequence[str], lead_hours: Sequence[int]
    ) -> AirQualityDataModule:
        """The data module of a run config's ``data`` group (store, inputs, splits, loader) for a task's
        targets and leads; statistics are cached under ``paths.root``."""
        from aqnet.paths import cache_dir

        data = cfg.data
        return cls(
            path=store,
            input_variables=list(data.inputs),
            target_variables=list(targets),
            train_years=list(data.train_years),
            val_years=list(data.val_years),
            test_years=list(data.test_years),
            lead_hours=list(lead_hours),
            batch_size=data.batch_size,
            num_workers=data.num_workers,
            seed=cfg.seed,
            train_samples_per_epoch=data.train_samples_per_epoch,
            cache_dir=cache_dir(Path(cfg.paths.root)),
            memory_limit_mb=data.memory_limit_mb,
        )

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.input_variables, *self.target_variables)))

    def _load(self) -> None:
        if self.handle is not None:
            return
        # cheap structure checks and split/lead checks first, the heavy (cached) scan afterwards
        handle = open_store(self.path, self.variables, cache_dir=self.cache_dir, scan=False)
        indexes = {s: build_index(handle.times, s, self.splits.years(s), self.lead_hours, handle.path) for s in SPLITS}
        handle.validate()
        stats, clim = load_or_compute_statistics(handle, self.variables, self.splits.train, self.target_variables)
        self.handle, self.indexes, self._statistics, self._climatology = handle, indexes, stats, clim

    def prepare_data(self) -> None:
        self._load()

    def setup(self, stage: str | None = None) -> None:
        self._load()
        assert self.handle is not None and self._statistics is not None
        if self.datasets:
            return
        frames = load_frames(self.handle, self.variables) if self.fits_in_memory() else None
        for split in SPLITS:
            self.datasets[split] = ForecastDataset(
                self.handle,
                self.indexes[split],
                self.input_variables,
                self.target_variables,
                self._statistics.mean,
                frames=frames,
            )

    def fits_in_memory(self) -> bool:
        """Whether the dynamic variables, decoded to float32, fit `memory_limit_mb` (then they are read once)."""
        ds = self._require().dataset
        nbytes = sum(4 * ds[n].size for n in self.variables if "time" in ds[n].dims)
        return nbytes <= self.memory_limit_mb * 2**20

    # -- what the model and task need -------------------------------------------------------------------------
    def _require(self) -> StoreHandle:
        if self.handle is None:
            self._load()
        assert self.handle is not None
        return self.handle

    def value_range(self, name: str) -> tuple[float, float] | None:
        """(min, max) of variable ``name`` over the whole store in canonical units, from the validation scan."""
        handle = self._require()
        scan = handle.scans[name]
        if scan.min is None or scan.max is None:
            return None
        convert = handle.conversions.get(name)
        ends = (convert(scan.min), convert(scan.max)) if convert else (scan.min, scan.max)
        return float(min(ends)), float(max(ends))

    @property
    def statistics(self) -> Statistics:
        self._require()
        assert self._statistics is not None
        return self._statistics

    @property
    def climatology(self) -> Climatology:
        self._require()
        assert self._climatology is not None
        return self._climatology

    @property
    def lat(self) -> torch.Tensor:
        return torch.as_tensor(self._require().lat, dtype=torch.float32)

    @property
    def lon(self) -> torch.Tensor:
        return torch.as_tensor(self._require().lon, dtype=torch.float32)

    @property
    def mask(self) -> torch.Tensor | None:
        mask = self._require().mask
        return None if mask is None else torch.from_numpy(np.ascontiguousarray(mask))

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self._require().grid_shape

    # -- loaders ------------------------------------------------------------------------------------------------
    @property
    def replicas(self) -> tuple[int, int]:
        """(world size, global rank) of the trainer this module is attached to; (1, 0) without one."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _loader(self, split: str, sampler: EpochSampler | ShardSampler | None, batch_size: int) -> DataLoader:
        if split not in self.datasets:
            self.setup()
        return DataLoader(
            self.datasets[split],
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            worker_init_fn=init_worker if self.num_workers else None,  # one thread per worker
            collate_fn=collate_batch,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            drop_last=False,
        )

    def train_sampler(self) -> EpochSampler:
        if "train" not in self.datasets:
            self.setup()
        world, rank = self.replicas
        sampler = EpochSampler(
            len(self.datasets["train"]),
            seed=self.seed,
            num_samples=self.train_samples_per_epoch,
            num_replicas=world,
            rank=rank,
        )
        if self.resume_at is not None:  # (epoch, batches done on each rank): continue where the epoch stopped
            sampler.resume_at = (self.resume_at[0], self.resume_at[1] * self.batch_size)
        return sampler

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.train_sampler(), self.batch_size)

    def eval_sampler(self, split: str) -> ShardSampler | None:
        """This rank's shard of the ordered ``split``; None (plain order) in a single process."""
        world, rank = self.replicas
        if world == 1:
            return None
        if split not in self.datasets:
            self.setup()
        size = len(self.datasets[split])
        if size < world:  # a rank without a batch would leave the others waiting in DDP's collectives
            raise DataError(f"the {split} split has {size} samples, fewer than the {world} processes; add years")
        groups = day_groups(self.indexes[split], self._require().times, self.eval_day_offset_hours)
        return ShardSampler(size, num_replicas=world, rank=rank, groups=groups)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_sampler("val"), self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_sampler("test"), self.eval_batch_size)
