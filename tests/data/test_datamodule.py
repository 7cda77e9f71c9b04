from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from aqnet.data.batch import Batch
from aqnet.data.datamodule import AirQualityDataModule
from aqnet.errors import DataError
from aqnet.variables import INPUT_VARIABLES
from tests.data.store_factory import corrupt_chunk

TARGETS = ("pm25", "o3", "co")


@pytest.fixture(params=["in-memory", "per-frame"])
def dm(request: pytest.FixtureRequest, canonical_store: Path, cache: Path) -> AirQualityDataModule:
    module = AirQualityDataModule(
        canonical_store,
        INPUT_VARIABLES,
        TARGETS,
        batch_size=8,
        num_workers=2,
        seed=1,
        train_samples_per_epoch=40,
        cache_dir=cache,
        memory_limit_mb=2048 if request.param == "in-memory" else 0,
    )
    module.prepare_data()
    module.setup("fit")
    return module


def _check(batch: Batch, dm: AirQualityDataModule) -> None:
    b = len(batch)
    assert batch.inputs.shape == (b, len(INPUT_VARIABLES), 8, 16) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (b, len(TARGETS), 8, 16)
    assert batch.input_valid.dtype == torch.bool and batch.target_valid.dtype == torch.bool
    assert batch.input_names == INPUT_VARIABLES and batch.target_names == TARGETS
    assert torch.isfinite(batch.inputs).all() and torch.isfinite(batch.targets).all()
    # physical magnitudes
    assert 250 < batch.input("temp").mean() < 320
    assert 4e4 < batch.input("psfc").mean() < 1.1e5
    assert 100 < batch.target("co")[batch.target_valid[:, 2]].mean() < 5000
    assert batch.input("elevation").max() > 100
    # NaN handling: invalid inputs hold the training mean, invalid targets hold 0 and are outside the mask or NaN
    pm = INPUT_VARIABLES.index("pm25")
    holes = ~batch.input_valid[:, pm]
    assert torch.allclose(batch.inputs[:, pm][holes], torch.tensor(dm.statistics.mean["pm25"]))
    assert (batch.targets[~batch.target_valid] == 0).sum() <= (~batch.target_valid).sum()
    assert not batch.target_valid[:, :, ~dm.mask].any()  # masked-out pixels are never scored
    assert set(batch.lead_hours.tolist()) <= {12.0, 24.0, 48.0, 96.0}
    assert ((batch.hour_of_day >= 0) & (batch.hour_of_day < 24)).all()
    assert ((batch.day_of_year >= 1) & (batch.day_of_year <= 366)).all()
    assert batch.init_time.dtype == torch.int64


def test_train_val_test_with_two_workers(dm: AirQualityDataModule) -> None:
    assert dm.grid_shape == (8, 16) and dm.mask.dtype == torch.bool and dm.mask.shape == (8, 16)
    assert (torch.diff(dm.lat) > 0).all() and (torch.diff(dm.lon) > 0).all()
    train = list(dm.train_dataloader())
    assert sum(len(b) for b in train) == 40
    for batch in train:
        _check(batch, dm)
    for split, loader in (("val", dm.val_dataloader()), ("test", dm.test_dataloader())):
        seen = []
        for batch in loader:
            _check(batch, dm)
            seen += list(zip(batch.init_time.tolist(), batch.lead_hours.tolist(), strict=True))
        assert len(seen) == len(set(seen)) == len(dm.indexes[split])
        year = {"val": 2017, "test": 2018}[split]
        assert {np.datetime64(t, "s").astype("datetime64[Y]").astype(int) + 1970 for t, _ in seen} == {year}


def test_train_order_is_epoch_seeded_and_replayable(dm: AirQualityDataModule) -> None:
    def epoch(e: int) -> list[int]:
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(e)
        return [t for b in loader for t in b.init_time.tolist()]

    e0, e1 = epoch(0), epoch(1)
    assert e0 != e1 and epoch(0) == e0


def test_dataset_pickles_without_open_handle(dm: AirQualityDataModule) -> None:
    ds = dm.datasets["val"]
    ds[0]
    assert ds._ds is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._ds is None
    assert torch.equal(clone[3]["inputs"], ds[3]["inputs"])


def test_exposes_statistics_and_climatology(dm: AirQualityDataModule) -> None:
    stats = dm.statistics
    assert set(INPUT_VARIABLES) <= set(stats.mean) and "pm25" in stats.log_mean
    assert dm.climatology.variables == TARGETS and dm.climatology.values.shape[1:] == (3, 8, 16)


def test_corrupt_chunk_after_validation_is_reported_per_sample(store_maker, cache: Path) -> None:
    path = store_maker()
    module = AirQualityDataModule(path, ("u", "temp"), ("temp",), batch_size=4, cache_dir=cache, memory_limit_mb=0)
    module.setup()
    corrupt_chunk(path, "u")  # metadata unchanged: cached validation still says OK
    with pytest.raises(DataError, match="reading variable 'u' at .* from store"):
        for k in range(len(module.datasets["train"])):
            module.datasets["train"][k]


def test_corrupt_chunk_after_validation_is_reported_when_loading_into_memory(store_maker, cache: Path) -> None:
    path = store_maker()
    AirQualityDataModule(path, ("u", "temp"), ("temp",), cache_dir=cache).setup()  # validated and cached
    corrupt_chunk(path, "u")
    with pytest.raises(DataError, match=r"reading variable 'u' from store .* failed \(corrupt chunk\?\)"):
        AirQualityDataModule(path, ("u", "temp"), ("temp",), cache_dir=cache).setup()


def test_in_memory_and_per_frame_reads_give_identical_samples(canonical_store: Path, cache: Path) -> None:
    def module(limit: float) -> AirQualityDataModule:
        dm = AirQualityDataModule(canonical_store, INPUT_VARIABLES, TARGETS, cache_dir=cache, memory_limit_mb=limit)
        dm.setup()
        return dm

    memory, frames = module(2048), module(0)
    assert memory.fits_in_memory() and not frames.fits_in_memory()
    assert memory.datasets["val"].frames and not frames.datasets["val"].frames
    for k in (0, 7, len(memory.datasets["val"]) - 1):
        a, b = memory.datasets["val"][k], frames.datasets["val"][k]
        for key in ("inputs", "input_valid", "targets", "target_valid", "init_time", "lead_hours"):
            assert torch.equal(a[key], b[key]), key
