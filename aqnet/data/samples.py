"""Year splits with the lead-time embargo, the (init, lead) sample index, and the epoch-seeded training sampler.

A pair (init, lead) belongs to a split only if the init time and the valid time init + lead are both in the split's
years and both exist in the store (exact match). So no target crosses a split boundary, and gaps between the
benchmark's yearly blocks never produce a pair.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch.utils.data

from aqnet.errors import DataError
from aqnet.variables import LEAD_HOURS

__all__ = ["Splits", "SampleIndex", "build_index", "EpochSampler", "ShardSampler", "SPLITS"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Splits:
    train: tuple[int, ...] = (2013, 2014, 2015, 2016)
    val: tuple[int, ...] = (2017,)
    test: tuple[int, ...] = (2018,)

    def __post_init__(self) -> None:
        for name in SPLITS:
            object.__setattr__(self, name, tuple(int(y) for y in getattr(self, name)))
        seen: dict[int, str] = {}
        for name in SPLITS:
            for year in getattr(self, name):
                if year in seen:
                    raise DataError(
                        f"year {year} is in both the {seen[year]} and the {name} split; splits must not overlap"
                    )
                seen[year] = name

    def years(self, split: str) -> tuple[int, ...]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        return getattr(self, split)


@dataclass(frozen=True)
class SampleIndex:
    """All valid pairs of one split, sorted by (init time, lead): row k is a sample."""

    split: str
    init_index: np.ndarray  # int64, index into the store's time axis
    valid_index: np.ndarray  # int64
    lead_hours: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.init_index)


def _years_of(times: np.ndarray) -> np.ndarray:
    return times.astype("datetime64[Y]").astype(np.int64) + 1970


def build_index(
    times: np.ndarray,
    split: str,
    years: Sequence[int],
    lead_hours: Sequence[int] = LEAD_HOURS,
    store: object = "<store>",
) -> SampleIndex:
    """Every valid (init, lead) pair of ``split``; DataError if a year is absent or a lead has no pair."""
    times = np.asarray(times).astype("datetime64[s]")
    store_years = _years_of(times)
    present = set(store_years.tolist())
    absent = [y for y in years if y not in present]
    if absent:
        raise DataError(
            f"{split} year(s) {', '.join(map(str, absent))} not in store {store}; it has years "
            f"{', '.join(map(str, sorted(present)))}: change data.{split}_years"
        )
    if not years:
        raise DataError(f"the {split} split has no years; set data.{split}_years")
    in_split = np.isin(store_years, list(years))
    seconds = times.astype(np.int64)
    inits, valids, leads = [], [], []
    for lead in lead_hours:
        target = seconds + int(lead) * 3600
        pos = np.clip(np.searchsorted(seconds, target), 0, len(seconds) - 1)
        ok = in_split & (seconds[pos] == target) & in_split[pos]
        if not ok.any():
            raise DataError(
                f"no valid {split} sample for lead {lead} h in store {store}: the lead is longer than "
                f"every contiguous block of years {', '.join(map(str, years))}; shorten task.lead_hours"
            )
        init = np.flatnonzero(ok)
        inits.append(init)
        valids.append(pos[init])
        leads.append(np.full(len(init), int(lead), dtype=np.int64))
    init, valid, lead = (np.concatenate(a).astype(np.int64) for a in (inits, valids, leads))
    order = np.lexsort((lead, init))  # deterministic: by init time, then lead
    return SampleIndex(split, init[order], valid[order], lead[order])


class EpochSampler(torch.utils.data.Sampler[int]):
    """A permutation of all training pairs that depends only on (seed, epoch), so any epoch can be replayed.

    ``num_samples`` caps the pairs drawn per epoch (a prefix of the permutation). Lightning calls
    :meth:`set_epoch` at the start of each epoch. With ``num_replicas > 1`` rank r takes elements r, r + n, r + 2n,
    ... of the same permutation (n = ``num_replicas``): no pair twice, and the ranks' k-th batches of B together are
    exactly the k-th batch of nB of one process. The epoch is cut to a multiple of n (at most n − 1 pairs dropped,
    never padded with duplicates), so every rank runs the same number of steps.
    """

    def __init__(
        self, size: int, seed: int = 0, num_samples: int | None = None, num_replicas: int = 1, rank: int = 0
    ) -> None:
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not one of {num_replicas} replicas")
        self.size, self.seed, self.epoch = int(size), int(seed), 0
        self.num_samples = min(int(num_samples), self.size) if num_samples else self.size
        self.num_samples -= self.num_samples % num_replicas  # equal shards: no rank waits for a step the others skip
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.resume_at: tuple[int, int] | None = None  # (epoch, samples of this rank already drawn): skip once

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch])
        return rng.permutation(self.size)[: self.num_samples][self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        indices = self.indices()
        if self.resume_at is not None and self.resume_at[0] == self.epoch:  # the rest of an interrupted epoch
            indices = indices[self.resume_at[1] :]
            self.resume_at = None
        return iter(indices.tolist())

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.num_replicas))


class ShardSampler(torch.utils.data.Sampler[int]):
    """Rank ``rank`` of ``num_replicas`` takes the ordered items rank, rank + n, rank + 2n, ... of ``range(size)``;
    with ``groups`` (one key per item), the items of every rank-th group instead, so a group stays on one rank.

    For validation and test: every item exactly once over all ranks, in order, neither padded nor duplicated (the
    shards may differ; the metrics are sums, so uneven shards are fine). Groups keep the samples of one (lead,
    valid day) together, so a rank can score a daily statistic on its own.
    """

    def __init__(self, size: int, num_replicas: int = 1, rank: int = 0, groups: np.ndarray | None = None) -> None:
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not one of {num_replicas} replicas")
        self.size, self.num_replicas, self.rank = int(size), int(num_replicas), int(rank)
        if groups is None:
            self.items = np.arange(self.rank, self.size, self.num_replicas)
        else:
            if len(groups) != self.size:
                raise ValueError(f"{len(groups)} group keys for {self.size} items")
            _, dense = np.unique(np.asarray(groups), return_inverse=True)
            self.items = np.flatnonzero(dense % self.num_replicas == self.rank)

    def __iter__(self) -> Iterator[int]:
        return iter(self.items.tolist())

    def __len__(self) -> int:
        return len(self.items)


def day_groups(index: SampleIndex, times: np.ndarray, utc_offset_hours: float) -> np.ndarray:
    """One key per sample of ``index``: its (lead, local calendar day of the valid time)."""
    valid = np.asarray(times).astype("datetime64[s]").astype(np.int64)[index.valid_index]
    day = np.floor((valid + utc_offset_hours * 3600) / 86_400).astype(np.int64)
    return index.lead_hours.astype(np.int64) * 10**7 + day
