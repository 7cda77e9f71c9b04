from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import zarr

from aqnet.data.datamodule import AirQualityDataModule
from aqnet.data.report import inspect_store
from aqnet.data.store import SCANS, fingerprint, open_store
from aqnet.errors import DataError
from aqnet.variables import INPUT_VARIABLES
from tests.data.store_factory import corrupt_chunk, snapshot

VARS = ("u", "v", "temp", "pm25", "co", "elevation", "lon2d", "lat2d")


def _raises_untouched(path: Path, cache: Path, match: str, variables=VARS, **dm_kwargs) -> None:
    """open (via the DataModule, so split checks run too) must fail with ``match`` and write nothing in the store."""
    before = snapshot(path) if path.exists() else None
    with pytest.raises(DataError, match=match) as info:
        AirQualityDataModule(path, variables, ("pm25",), cache_dir=cache, **dm_kwargs).setup()
    assert "\n" not in str(info.value)
    if before is not None:
        assert snapshot(path) == before


def test_missing_path(tmp_path: Path, cache: Path) -> None:
    _raises_untouched(tmp_path / "nope.zarr", cache, "nope.zarr.*does not exist")
    assert not (tmp_path / "nope.zarr").exists()


def test_not_a_zarr_store(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.txt").write_text("hi")
    _raises_untouched(tmp_path / "plain", cache, "plain is not a zarr store")


def test_missing_variable_lists_what_store_has(store_maker, cache: Path) -> None:
    path = store_maker(variables=("u", "v", "pm25", "mask"))
    _raises_untouched(path, cache, r"variable\(s\) temp.* not in store .*it has: mask, pm25, u, v")


def test_all_nan_field(store_maker, cache: Path) -> None:
    _raises_untouched(store_maker(all_nan="temp"), cache, "'temp' in store .* is all NaN")


def test_inf_field(store_maker, cache: Path) -> None:
    _raises_untouched(store_maker(inf_var="u"), cache, "'u' in store .* infinite")


def test_duplicated_times(store_maker, cache: Path) -> None:
    _raises_untouched(store_maker(duplicate_time=True), cache, "duplicated times")


def test_unsorted_times(store_maker, cache: Path) -> None:
    _raises_untouched(store_maker(unsorted_time=True), cache, "unsorted times")


def test_split_year_absent(store_maker, cache: Path) -> None:
    path = store_maker(years=(2013, 2014, 2015, 2016, 2017))
    _raises_untouched(path, cache, "test year.*2018 not in store")


def test_lead_longer_than_year_blocks(store_maker, cache: Path) -> None:
    path = store_maker(days=3)  # 72 h blocks: no 96 h pair in any split
    _raises_untouched(path, cache, "no valid train sample for lead 96 h")


def test_non_singleton_extra_dim(store_maker, cache: Path) -> None:
    _raises_untouched(store_maker(extra_dims={"number": 2}), cache, "non-singleton dimension.*number=2")


@pytest.mark.parametrize("truncate", [False, True])
def test_corrupt_chunk_names_store_and_variable(store_maker, cache: Path, truncate: bool) -> None:
    path = store_maker()
    corrupt_chunk(path, "temp", truncate=truncate)
    _raises_untouched(path, cache, re.escape(f"'temp' in store {path.resolve()}") + ".*corrupt")


def test_read_only_store_is_fine(store_maker, cache: Path) -> None:
    path = store_maker()
    for p in [path, *path.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        handle = open_store(path, VARS, cache_dir=cache)
        assert handle.scans["pm25"].n_nan > 0
    finally:
        for p in [path, *path.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_validation_is_cached_and_refreshed_on_change(store_maker, cache: Path) -> None:
    path = store_maker()
    key = f"{path.resolve()}:pm25"
    open_store(path, VARS, cache_dir=cache)
    assert SCANS[key] == 1
    open_store(path, VARS, cache_dir=cache)
    assert SCANS[key] == 1  # second open reads the cached JSON, no rescan
    old = fingerprint(path)
    zarr.open_group(path, mode="r+")["pm25"].attrs["comment"] = "edited"
    assert fingerprint(path) != old
    open_store(path, VARS, cache_dir=cache)
    assert SCANS[key] == 2
    assert len(list((cache / "stores").iterdir())) == 2


def _batch(path: Path, cache: Path):
    dm = AirQualityDataModule(path, INPUT_VARIABLES, ("pm25", "co"), batch_size=6, cache_dir=cache)
    dm.setup()
    return dm, next(iter(dm.val_dataloader()))


@pytest.mark.parametrize(
    "variant",
    [
        {"descending_lat": True},
        {"lon_360": True},
        {"time_name": "valid_time", "lat_name": "latitude", "lon_name": "longitude", "extra_dims": {"expver": 1}},
        {"descending_lat": True, "lon_360": True, "time_name": "valid_time"},
    ],
)
def test_layout_variants_give_the_canonical_batch(
    canonical_store: Path, store_maker, cache: Path, variant: dict
) -> None:
    ref_dm, ref = _batch(canonical_store, cache)
    dm, got = _batch(store_maker(**variant), cache)
    for key in ("inputs", "input_valid", "targets", "target_valid", "lead_hours", "init_time"):
        assert np.array_equal(getattr(got, key).numpy(), getattr(ref, key).numpy()), key
    assert np.array_equal(dm.lat.numpy(), ref_dm.lat.numpy())
    assert np.array_equal(dm.lon.numpy(), ref_dm.lon.numpy())
    assert np.array_equal(dm.mask.numpy(), ref_dm.mask.numpy())


def test_inspect_store_report(store_maker, cache: Path) -> None:
    path = store_maker(co_mg=True, lon_360=True)
    report = inspect_store(path, cache_dir=cache)
    assert report.shape == (120, 8, 16)
    assert [b.year for b in report.years] == list(range(2013, 2019))
    assert all(b.count == 20 and b.step_hours == 6 for b in report.years)
    co = next(v for v in report.variables if v.name == "co")
    assert co.units == "mg m-3" and co.canonical_units == "µg m-3" and co.min > 50
    pm = next(v for v in report.variables if v.name == "pm25")
    assert 0 < pm.nan_fraction < 0.1
    text = report.format()
    assert "pm25" in text and "mg m-3" in text and "2018" in text and "0..360" in text
