"""The benchmark generator: transport numerics, terrain blocking, the store contract, determinism, safe writing."""

from __future__ import annotations

import dataclasses
import multiprocessing
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from aqnet.data.synthetic import SIZES, generate_benchmark, write_benchmark, writer
from aqnet.data.synthetic.grid import Grid
from aqnet.data.synthetic.meteorology import blocked_wind, upslope_normal
from aqnet.data.synthetic.simulate import DYNAMIC, Block
from aqnet.data.synthetic.transport import Metrics, advect, diffuse, total_mass
from aqnet.data.terrain import Terrain
from aqnet.errors import DataError
from aqnet.variables import METEOROLOGY, POLLUTANTS, VARIABLES

F64 = torch.float64


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Small tensor ops run fastest (and far more predictably on a loaded machine) on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def idealised_grid(elevation: np.ndarray, lat0: float = 30.0, lon0: float = 100.0, res: float = 0.25) -> Grid:
    height, width = elevation.shape
    lat = lat0 + (np.arange(height) + 0.5) * res
    lon = lon0 + (np.arange(width) + 0.5) * res
    metrics = Metrics.from_axes(lat, lon, F64)
    ones = np.ones_like(elevation, dtype=np.float32)
    terrain = Terrain(elevation.astype(np.float32), ones, ones.astype(np.uint8), 0 * ones)
    return Grid(lat, lon, res, metrics.dy, metrics.dx.numpy(), terrain)


# ---------------------------------------------------------------- transport


def test_mass_budget_closes_in_a_closed_domain_with_sources_and_losses() -> None:
    grid = idealised_grid(np.zeros((40, 48)))
    metrics = Metrics.from_grid(grid, F64)
    rows, cols = np.meshgrid(np.arange(40.0), np.arange(48.0), indexing="ij")
    taper = np.sin(np.pi * rows / 39) ** 2 * np.sin(np.pi * cols / 47) ** 2  # zero wind on the edges: closed
    omega = 2e-5  # s-1: solid-body-like rotation, up to ~15 m/s
    u = torch.as_tensor(-omega * (rows - 19.5) * grid.dy * taper, dtype=F64)[None]
    v = torch.as_tensor(omega * (cols - 23.5) * grid.dy * taper, dtype=F64)[None]
    conc = torch.zeros((1, 2, 40, 48), dtype=F64)
    conc[..., 10:16, 8:14] = 100.0
    source = torch.zeros_like(conc)
    source[..., 25, 30] = 5.0  # ug m-3 per step
    loss_rate = torch.tensor([0.0, 1e-5], dtype=F64)[None, :, None, None]  # s-1
    dt, expected = 3600.0, total_mass(conc, metrics)
    max_fix = 0.0
    for _ in range(48):
        conc = conc + source
        expected = expected + total_mass(source, metrics)
        conc, budget = advect(conc, u, v, dt, metrics, torch.zeros(2, dtype=F64))
        assert float(budget.inflow.max() + budget.outflow.max()) < 1e-20 * float(expected.max())
        max_fix = max(max_fix, float((budget.mass_unfixed / budget.mass_before - 1).abs().max()))
        conc = diffuse(conc, 2e4, dt, metrics)
        decayed = conc * torch.exp(-loss_rate * dt)
        expected = expected - total_mass(conc - decayed, metrics)
        conc = decayed
    assert torch.allclose(total_mass(conc, metrics), expected, rtol=1e-10)
    assert 0 < max_fix < 0.05  # the fixer corrects a real but small semi-Lagrangian error


def test_open_boundary_outflow_matches_semi_lagrangian_transport() -> None:
    """A puff blown out of the domain: the upwind outflow budget agrees with what the scheme moves out."""
    grid = idealised_grid(np.zeros((30, 40)))
    metrics = Metrics.from_grid(grid, F64)
    conc = torch.zeros((1, 1, 30, 40), dtype=F64)
    conc[..., 12:18, 20:26] = 50.0
    u = torch.full((1, 30, 40), 20.0, dtype=F64)
    v = torch.full((1, 30, 40), -5.0, dtype=F64)
    start = float(total_mass(conc, metrics))
    outflow = 0.0
    for _ in range(12):
        conc, budget = advect(conc, u, v, 3600.0, metrics, torch.zeros(1, dtype=F64))
        outflow += float(budget.outflow.sum())
        if float(budget.mass_after.sum()) > 0.01 * start:  # while the puff is still (partly) inside
            assert abs(float(budget.mass_unfixed.sum() / budget.mass_after.sum()) - 1) < 0.05
    assert float(total_mass(conc, metrics)) == pytest.approx(start - outflow, rel=1e-9, abs=start * 1e-9)
    assert outflow > 0.9 * start  # 12 h at 20 m/s carries the puff out of a 10-degree domain


def test_advection_stays_positive_at_any_courant_number() -> None:
    grid = idealised_grid(np.zeros((32, 32)))
    metrics = Metrics.from_grid(grid, F64)
    generator = torch.Generator().manual_seed(0)
    conc = (torch.rand((2, 3, 32, 32), generator=generator, dtype=F64) > 0.9).to(F64) * 500.0
    angle = torch.rand((2, 32, 32), generator=generator, dtype=F64) * 2 * np.pi
    u, v = 40.0 * torch.cos(angle), 40.0 * torch.sin(angle)  # 40 m/s, 3 h: Courant ~ 17
    for _ in range(10):
        conc, _ = advect(conc, u, v, 3 * 3600.0, metrics, torch.tensor([1.0, 0.0, 5.0], dtype=F64))
        conc = diffuse(conc, 2e4, 3 * 3600.0, metrics)
        assert torch.isfinite(conc).all() and float(conc.min()) >= 0.0


def _receptor_concentration(ridge_height: float) -> float:
    """Steady westerly plume from a source 2.5 degrees west of a N-S ridge; mean concentration east of it."""
    height, width = 40, 64
    cols = np.arange(width)[None, :] * np.ones((height, 1))
    elevation = ridge_height * np.exp(-(((cols - 32) / 3.0) ** 2))
    grid = idealised_grid(elevation)
    metrics = Metrics.from_grid(grid, F64)
    normal = tuple(torch.as_tensor(a, dtype=F64) for a in upslope_normal(grid))
    u0 = torch.full((1, height, width), 5.0, dtype=F64)
    v0 = torch.full((1, height, width), 0.5, dtype=F64)
    u, v = blocked_wind(u0, v0, torch.as_tensor(elevation, dtype=F64), normal, metrics, 0.01, 500.0)
    conc = torch.zeros((1, 1, height, width), dtype=F64)
    dt = 1800.0
    for _ in range(192):  # 4 days
        conc[..., 16:24, 20:22] += 2.0
        conc, _ = advect(conc, u, v, dt, metrics, torch.zeros(1, dtype=F64))
        conc = diffuse(conc, 1e4, dt, metrics) * np.exp(-dt / 86400.0)
    return float(conc[0, 0, 14:26, 40:48].mean())


def test_a_ridge_blocks_transport_through_the_wind_field() -> None:
    flat, ridge = _receptor_concentration(0.0), _receptor_concentration(2500.0)
    low_hills = _receptor_concentration(300.0)  # U/N = 500 m: hills this low do not block
    assert flat > 1.0
    assert ridge < 0.5 * flat
    assert low_hills > 0.8 * flat


def test_blocking_removes_the_upslope_wind_and_keeps_speed() -> None:
    elevation = np.zeros((20, 40))
    elevation[:, 20:] = 3000.0  # an escarpment facing west
    grid = idealised_grid(elevation)
    metrics = Metrics.from_grid(grid, F64)
    normal = tuple(torch.as_tensor(a, dtype=F64) for a in upslope_normal(grid))
    u0 = torch.full((1, 20, 40), 4.0, dtype=F64)
    v0 = torch.full((1, 20, 40), 2.0, dtype=F64)
    u, v = blocked_wind(u0, v0, torch.as_tensor(elevation, dtype=F64), normal, metrics, 0.01, 500.0)
    foot = (0, 10, 18)
    assert abs(float(u[foot])) < 0.5  # the eastward (upslope) component is gone at the foot
    assert float(torch.hypot(u[foot], v[foot])) == pytest.approx(float(np.hypot(4, 2)), rel=1e-3)
    assert float(u[0, 10, 2]) == pytest.approx(4.0)  # far upstream the flow is untouched


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
    assert "synthetic" in tiny.population.attrs["long_name"]
    for name in tiny.data_vars:
        assert bool(np.isfinite(tiny[name].values).all()), name
    sea = tiny.mask.values == 0
    assert sea.any() and (tiny.elevation.values[sea] == 0).all()
    attrs = tiny.attrs
    assert attrs["Conventions"] == "CF-1.10" and attrs["aqnet_generator"] == "aqnet.data.synthetic"
    assert attrs["aqnet_size"] == "tiny" and attrs["aqnet_seed"] == 0
    assert attrs["years"] == [2013, 2014, 2015, 2016, 2017, 2018]
    assert "synthetic" in attrs["comment"]
    for key in ("title", "source", "aqnet_version", "box", "time_step_hours", "days_per_year", "history"):
        assert key in attrs


def test_tiny_years_are_regular_blocks(tiny: xr.Dataset) -> None:
    times = tiny.time.values
    assert np.all(np.diff(times) > np.timedelta64(0))
    per_year = tiny.sizes["time"] // 6
    for k, year in enumerate(range(2013, 2019)):
        block = times[k * per_year : (k + 1) * per_year]
        assert block[0] == np.datetime64(f"{year}-01-01T00:00")
        assert np.all(np.diff(block) == np.timedelta64(6, "h"))


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
    assert 30 < float(beijing.pm25.mean()) < 300 and float(beijing.pm25.max()) > 80  # winter haze
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
    assert not np.array_equal(other.population.values, again.population.values)


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
    """24 frames per block: neither a chunk (64) nor a year (160) is a multiple, so blocks straddle chunks and
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
    short = dataclasses.replace(SIZES["tiny"], name="short", days_per_year=20, spinup_days=1)
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
    short = dataclasses.replace(SIZES["tiny"], name="short", days_per_year=4, spinup_days=0)
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
