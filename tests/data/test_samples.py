from __future__ import annotations

import numpy as np
import pytest

from aqnet.data.samples import EpochSampler, Splits, build_index
from aqnet.errors import DataError
from tests.data.store_factory import make_times

LEADS = (12, 24, 48, 96)


def _years(t: np.ndarray) -> np.ndarray:
    return t.astype("datetime64[Y]").astype(int) + 1970


@pytest.mark.parametrize("times", [make_times(days=10), make_times(days=10, step_hours=1)])
def test_embargo_no_target_crosses_a_split_boundary(times: np.ndarray) -> None:
    splits = Splits()
    for split in ("train", "val", "test"):
        idx = build_index(times, split, splits.years(split), LEADS)
        init, valid = times[idx.init_index], times[idx.valid_index]
        assert np.isin(_years(init), splits.years(split)).all()
        assert np.isin(_years(valid), splits.years(split)).all()
        assert ((valid - init) == idx.lead_hours.astype("timedelta64[h]")).all()
        assert set(idx.lead_hours.tolist()) == set(LEADS)


def test_continuous_hourly_store_embargoes_year_boundaries() -> None:
    times = np.arange(np.datetime64("2016-12-25T00"), np.datetime64("2017-01-10T00"), np.timedelta64(1, "h"))
    train = build_index(times, "train", (2016,), (96,))
    val = build_index(times, "val", (2017,), (96,))
    assert times[train.init_index].max() == np.datetime64("2016-12-27T23")  # last init whose +96 h is in 2016
    assert times[val.init_index].min() == np.datetime64("2017-01-01T00")


def test_every_eval_pair_exactly_once_and_deterministic() -> None:
    times = make_times(days=10)
    a = build_index(times, "val", (2017,), LEADS)
    b = build_index(times, "val", (2017,), LEADS)
    pairs = list(zip(a.init_index.tolist(), a.lead_hours.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))
    assert np.array_equal(a.init_index, b.init_index) and np.array_equal(a.lead_hours, b.lead_hours)
    # exhaustive: every (init, lead) in 2017 whose valid time exists in 2017
    secs = set(times.astype("datetime64[s]").astype(np.int64).tolist())
    expected = {
        (i, lead)
        for i, t in enumerate(times)
        if _years(t[None])[0] == 2017
        for lead in LEADS
        if int(t.astype("datetime64[s]").astype(np.int64)) + lead * 3600 in secs
        and _years(np.array([t + np.timedelta64(lead, "h")]))[0] == 2017
    }
    assert set(pairs) == expected
    assert pairs == sorted(pairs)


def test_absent_year_and_no_valid_pair() -> None:
    times = make_times(years=(2013, 2014), days=3)
    with pytest.raises(DataError, match="val year.*2017 not in store"):
        build_index(times, "val", (2017,), LEADS)
    with pytest.raises(DataError, match="lead 96 h"):
        build_index(times, "train", (2013,), LEADS)


def test_overlapping_splits_rejected() -> None:
    with pytest.raises(DataError, match="2016"):
        Splits(train=(2015, 2016), val=(2016,), test=(2018,))


def test_sampler_is_a_replayable_function_of_seed_and_epoch() -> None:
    s = EpochSampler(100, seed=3)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(e0) == list(range(100)) and e0 != e1
    s.set_epoch(0)
    assert list(s) == e0
    assert list(EpochSampler(100, seed=4)) != e0
    capped = EpochSampler(100, seed=3, num_samples=10)
    assert len(capped) == 10 and list(capped) == e0[:10]
    ranks = [list(EpochSampler(100, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == list(range(100))


def test_grouped_shards_keep_each_group_on_one_rank_and_every_item_once() -> None:
    from aqnet.data.samples import ShardSampler

    groups = np.array([5, 5, 9, 9, 9, 2, 7, 7, 5])  # e.g. (lead, valid day) keys, items in (init, lead) order
    shards = [list(ShardSampler(len(groups), 3, rank, groups)) for rank in range(3)]
    assert sorted(i for shard in shards for i in shard) == list(range(len(groups)))
    for shard in shards:
        assert shard == sorted(shard)  # each rank keeps the split's order
        for other in shards:
            if other is not shard:
                assert not {groups[i] for i in shard} & {groups[i] for i in other}
    with pytest.raises(ValueError, match="group keys"):
        ShardSampler(4, 2, 0, groups[:3])
