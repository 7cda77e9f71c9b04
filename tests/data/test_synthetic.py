"""The benchmark generator: the store contract, seasonal windows, determinism, paired variants, safe writing
(transport numerics and terrain blocking: test_transport.py; realism bands: test_benchmark_realism.py)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from aqnet.data.synthetic import SIZES, generate_benchmark, write_benchmark, writer
from aqnet.data.synthetic.simulate import DYNAMIC, Block
from aqnet.errors import DataError
from aqnet.variables import METEOROLOGY, POLLUTANTS, VARIABLES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- generator


@pytest.fixture(scope="module")
def tiny() -> xr.Dataset:
    return generate_benchmark("tiny", seed=0)


def test_tiny_follows_the_store_contract(tiny: xr.Dataset) -> None:
    size = SIZES["tiny"]
    assert dict(tiny.sizes) == {"time": 6 * size.days_per_year * 24 // size.time_step_hours, "lat": 32, "lon": 64}
    assert np.all(np.diff(tiny.lat.values) > 0) and np.all(np.diff(tiny.lon.values) > 0)
    assert tiny.lat.attrs["units"] == "degrees_north" and tiny.lon.attrs["units"] == "degrees_east"
    assert tiny.time.dtype == np.dtype("datetime64[ns]")
    for name in (*METEOROLOGY, *POLLUTANTS):
        assert tiny[name].dims == ("time", "lat", "lon") and tiny[name].dtype == np.float32
        assert tiny[name].attrs["units"] == VARIABLES[name].units
        assert tiny[name].attrs["standard_name"] == VARIABLES[name].standard_name
    for name in ("lat2d", "lon2d", "elevation", "population", "mask"):
        assert tiny[name].dims == ("lat", "lon")
        assert tiny[name].attrs["units"] == VARIABLES[name].units
    assert "real cities" in tiny.population.attrs["long_name"]
    for name in tiny.data_vars:
        assert bool(np.isfinite(tiny[name].values).all()), name
    sea = tiny.mask.values == 0
    assert sea.any() and (tiny.elevation.values[sea] == 0).all()
    attrs = tiny.attrs
    assert attrs["Conventions"] == "CF-1.10" and attrs["aqnet_generator"] == "aqnet.data.synthetic"
    assert attrs["aqnet_size"] == "tiny" and attrs["aqnet_seed"] == 0 and attrs["aqnet_blocking"] == "on"
    assert attrs["years"] == [2013, 2014, 2015, 2016, 2017, 2018]
    assert "synthetic" in attrs["comment"]
    for key in ("title", "source", "aqnet_version", "box", "time_step_hours", "days_per_year", "history"):
        assert key in attrs


def test_tiny_years_are_four_regular_seasonal_windows(tiny: xr.Dataset) -> None:
    times = tiny.time.values
    assert np.all(np.diff(times) > np.timedelta64(0))
    size = SIZES["tiny"]
    per_window = size.days_per_window * 24 // size.time_step_hours
    assert tiny.attrs["window_start_days"] == [0, 90, 181, 273]
    for k, year in enumerate(range(2013, 2019)):
        for w, first in enumerate(("01-01", "04-01", "07-01", "10-01")):  # 2016 is a leap year: Mar 31, Jun 30, Sep 30
            start = (4 * k + w) * per_window
            window = times[start : start + per_window]
            expected = np.datetime64(f"{year}-01-01T00:00") + np.timedelta64(size.window_starts[w], "D")
            assert window[0] == expected and str(window[0])[5:10] in (first, _day_before(first))
            assert np.all(np.diff(window) == np.timedelta64(6, "h"))
    months = {int(str(t)[5:7]) for t in times}
    assert {1, 4, 7, 10} <= months  # every season is in the store


def _day_before(month_day: str) -> str:
    return {"01-01": "12-31", "04-01": "03-31", "07-01": "06-30", "10-01": "09-30"}[month_day]


def test_tiny_values_are_physically_plausible(tiny: xr.Dataset) -> None:
    def cell(lat: float, lon: float) -> dict[str, int]:
        return {"lat": int(np.abs(tiny.lat.values - lat).argmin()), "lon": int(np.abs(tiny.lon.values - lon).argmin())}

    ranges = {"u": (-30, 30), "v": (-30, 30), "temp": (210, 320), "rh": (1, 100), "psfc": (4.5e4, 1.06e5)}
    for name, (low, high) in ranges.items():
        assert low <= float(tiny[name].min()) and float(tiny[name].max()) <= high, name
    for name in POLLUTANTS:
        assert float(tiny[name].min()) > 0, name
    assert bool((tiny.pm10 >= tiny.pm25).all())
    beijing, lhasa = tiny.isel(cell(39.9, 116.4)), tiny.isel(cell(29.65, 91.1))
    assert 30 < float(beijing.pm25.mean()) < 300 and float(beijing.pm25.max()) > 150  # winter haze
    assert 300 < float(beijing.co.mean()) < 2500
    assert 5 < float(beijing.so2.mean()) < 100 and 10 < float(beijing.no2.mean()) < 120
    assert float(lhasa.pm25.mean()) < 0.5 * float(beijing.pm25.mean())
    assert 10 < float(tiny.o3.mean()) < 120
    assert float(lhasa.psfc.mean()) < 0.7 * float(beijing.psfc.mean())  # barometric with real elevation
    assert float(lhasa.temp.mean()) < float(beijing.temp.mean()) - 10  # lapse rate


def test_same_seed_same_arrays_and_years_independent(tiny: xr.Dataset) -> None:
    again = generate_benchmark("tiny", seed=0, years=(2013,))  # 2013 alone: its block must not depend on others
    block = tiny.isel(time=slice(0, again.sizes["time"]))
    for name in ("pm25", "o3", "u", "temp", "population"):
        np.testing.assert_array_equal(again[name].values, block[name].values)
    other = generate_benchmark("tiny", seed=1, years=(2013,))
    assert not np.array_equal(other.pm25.values, again.pm25.values)
    assert not np.array_equal(other.u.values, again.u.values)  # the weather is drawn from the seed
    np.testing.assert_array_equal(other.population.values, again.population.values)  # the cities are facts


def test_blocking_variants_share_weather_and_emissions(tiny: xr.Dataset) -> None:
    """Paired variants: same seed -> the same weather; only the pollutants (transport) differ."""
    off = generate_benchmark("tiny", seed=0, years=(2013,), blocking="off")
    on = tiny.isel(time=slice(0, off.sizes["time"]))
    assert off.attrs["aqnet_blocking"] == "off"
    for name in (*METEOROLOGY, "population", "elevation"):
        np.testing.assert_array_equal(off[name].values, on[name].values)
    for name in POLLUTANTS:
        assert not np.array_equal(off[name].values, on[name].values), name
    with pytest.raises(DataError, match="off, on, strong"):
        generate_benchmark("tiny", years=(2013,), blocking="sometimes")


def test_unknown_size_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="tiny, small, full"):
        generate_benchmark("huge")
    with pytest.raises(DataError, match="tiny, small, full"):
        write_benchmark(tmp_path / "x.zarr", "huge")


# ---------------------------------------------------------------- writing


def test_write_reuses_an_existing_store(tmp_path: Path) -> None:
    out = tmp_path / "bench.zarr"
    assert write_benchmark(out, "tiny", seed=0, years=(2013,)) == out
    stamp = (out / "zarr.json").stat().st_mtime_ns
    assert write_benchmark(out, "tiny", seed=0, years=(2013,)) == out
    assert (out / "zarr.json").stat().st_mtime_ns == stamp  # not rebuilt
    stored = xr.open_zarr(out)
    assert stored.attrs["aqnet_generator"] == "aqnet.data.synthetic" and stored.attrs["years"] == [2013]
    assert stored.pm25.dtype == np.float32 and 0.25e6 <= 4 * np.prod(stored.pm25.encoding["chunks"]) <= 1e6
    with pytest.raises(DataError, match="different benchmark"):
        write_benchmark(out, "tiny", seed=1, years=(2013,))
    with pytest.raises(DataError, match="blocking=on"):
        write_benchmark(out, "tiny", seed=0, years=(2013,), blocking="strong")
    with pytest.raises(DataError, match="unknown blocking"):
        write_benchmark(out, "tiny", seed=0, years=(2013,), blocking="maybe")
    assert (out / "zarr.json").stat().st_mtime_ns == stamp  # refused before anything was touched


def test_never_overwrites_a_foreign_directory(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not lose me")
    for overwrite in (False, True):
        with pytest.raises(DataError, match=str(out)):
            write_benchmark(out, "tiny", years=(2013,), overwrite=overwrite)
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
    assert (out / "thesis.txt").read_text() == "do not lose me"


def test_concurrent_writers_produce_one_valid_store(tmp_path: Path) -> None:
    out = tmp_path / "shared.zarr"
    context = multiprocessing.get_context("spawn")  # fork after torch's threads have started is unsafe
    workers = [context.Process(target=write_benchmark, args=(out, "tiny", 3, None, (2014,))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    stored = xr.open_zarr(out)
    assert stored.attrs["aqnet_seed"] == 3 and bool(np.isfinite(stored.pm25.values).all())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp leftovers


# ---------------------------------------------------------------- streaming


def test_streamed_store_is_bit_identical_to_generate_benchmark(tiny: xr.Dataset, tmp_path: Path) -> None:
    """24 frames per block: neither a chunk (64) nor a window (60) is a multiple, so blocks straddle chunks and
    year boundaries and zarr merges partial chunks; the store must still equal the in-memory benchmark."""
    out = write_benchmark(tmp_path / "bench.zarr", "tiny", seed=0, block_frames=24)
    stored = xr.open_zarr(out)
    assert set(stored.data_vars) == set(tiny.data_vars) and set(stored.coords) == set(tiny.coords)
    for name in [*tiny.data_vars, *tiny.coords]:
        assert stored[name].dtype == tiny[name].dtype, name
        assert np.array_equal(stored[name].values, tiny[name].values), name
        assert stored[name].attrs == tiny[name].attrs, name
    assert {k: v for k, v in stored.attrs.items() if k != "history"} == {
        k: v for k, v in tiny.attrs.items() if k != "history"
    }
    assert stored.pm25.encoding["chunks"] == (64, 32, 64)  # whole frames per chunk, ~0.5 MB
    assert (out / "zarr.json").read_text().count("consolidated_metadata") == 1


def test_streaming_holds_a_few_blocks_not_the_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Traced (numpy) memory grows by a few blocks while streaming, not by the benchmark, and every frame is
    written once, in blocks of at most ``block_frames``."""
    short = dataclasses.replace(SIZES["tiny"], name="short", days_per_window=20, window_starts=(0,), spinup_days=1)
    years, block_frames = (2013, 2014), 4
    writes: list[tuple[int, int, int, int]] = []
    baseline: list[int] = []
    original = writer._write_block

    def spy(arrays: dict, block: Block, frames_per_year: int) -> None:
        if not baseline:  # from here on the store exists and the loop runs: measure growth only
            baseline.append(tracemalloc.get_traced_memory()[0])
            tracemalloc.reset_peak()
        writes.append((block.first_year, block.start, block.n_years, block.n_frames))
        original(arrays, block, frames_per_year)

    monkeypatch.setattr(writer, "_write_block", spy)
    tracemalloc.start()
    try:
        write_benchmark(tmp_path / "short.zarr", short, years=years, block_frames=block_frames)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    frames = 20 * 24 // short.time_step_hours
    assert [(first, start) for first, start, _, _ in writes] == [(0, s) for s in range(0, frames, block_frames)]
    assert all(n_years == len(years) and n <= block_frames for _, _, n_years, n in writes)
    frame_bytes = len(DYNAMIC) * 32 * 64 * 4
    block_bytes = len(years) * block_frames * frame_bytes
    total_bytes = len(years) * frames * frame_bytes
    growth = peak - baseline[0]
    assert growth < 4 * block_bytes + 1.5e6, (growth, block_bytes)  # + zarr merging a partial 0.5 MB chunk
    assert growth < 0.35 * total_bytes, (growth, total_bytes)
    stored = xr.open_zarr(tmp_path / "short.zarr")
    assert stored.sizes["time"] == len(years) * frames and bool(np.isfinite(stored.pm25.values).all())


def test_a_failed_stream_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    short = dataclasses.replace(SIZES["tiny"], name="short", days_per_window=4, window_starts=(0,), spinup_days=0)
    calls: list[int] = []

    def failing(arrays: dict, block: Block, frames_per_year: int) -> None:
        calls.append(block.start)
        if len(calls) == 2:
            raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_block", failing)
    out = tmp_path / "bench.zarr"
    with pytest.raises(OSError, match="disk full"):
        write_benchmark(out, short, years=(2013,), block_frames=4)
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # the abandoned simulation held no inference mode across its yield: the caller can still train
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
