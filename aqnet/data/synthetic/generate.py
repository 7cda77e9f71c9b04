"""Assemble the benchmark as an xarray Dataset (the store contract) from the frames of ``simulate.simulate_blocks``.

``plan_benchmark`` validates the arguments and builds what every path shares (grid, emissions); ``benchmark_dataset``
wraps dynamic fields, given as numpy arrays (in memory) or lazy dask arrays (the writer's template), with the
coordinates, static fields, attributes and encoding; ``generate_benchmark`` fills numpy arrays block by block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

import aqnet
from aqnet.data.synthetic.blocking import Blocking, check_blocking
from aqnet.data.synthetic.emissions import Emissions, build_emissions
from aqnet.data.synthetic.grid import DEFAULT_BOX, DEFAULT_YEARS, BenchmarkSize, Grid, build_grid, resolve_size
from aqnet.data.synthetic.simulate import DYNAMIC, frames_per_year, simulate_blocks
from aqnet.errors import DataError
from aqnet.variables import VARIABLES

GENERATOR = "aqnet.data.synthetic"
SOURCE = "aqnet synthetic transport benchmark"
TARGET_CHUNK_BYTES = 512 * 1024
BLOCK_CHUNKS = 2  # time chunks per block: whole-chunk writes; more barely speeds zarr up (~10%), costs memory
STATIC: tuple[str, ...] = ("lat2d", "lon2d", "elevation", "population", "mask")


@dataclass(frozen=True)
class Plan:
    """A validated benchmark request and the fields every year shares."""

    spec: BenchmarkSize
    seed: int
    box: tuple[float, float, float, float]
    years: tuple[int, ...]
    grid: Grid
    emissions: Emissions
    blocking: Blocking

    @property
    def frames_per_year(self) -> int:
        return frames_per_year(self.spec)

    @property
    def n_times(self) -> int:
        return self.frames_per_year * len(self.years)

    @property
    def time_chunk(self) -> int:
        return min(time_chunk(*self.grid.shape), self.n_times)

    @property
    def block_frames(self) -> int:
        """Frames per block: a few whole chunks (fewer, larger writes), never more than a window."""
        return min(self.time_chunk * BLOCK_CHUNKS, self.frames_per_year // len(self.spec.window_starts))


def plan_benchmark(
    size: str | BenchmarkSize,
    seed: int = 0,
    box: tuple[float, float, float, float] | None = None,
    years: tuple[int, ...] | None = None,
    blocking: str = "on",
) -> Plan:
    """Validate a request (size, seed, box, years, blocking; defaults filled in) and build its grid, emissions and
    terrain blocking."""
    spec = resolve_size(size)
    check_blocking(blocking)
    years = tuple(int(y) for y in (years if years is not None else DEFAULT_YEARS))
    if not years or any(b <= a for a, b in zip(years, years[1:], strict=False)):
        raise DataError(f"years {years} must be a non-empty, strictly increasing list of years")
    if spec.days_per_year > 365:
        raise DataError(f"size {spec.name!r}: days_per_year {spec.days_per_year} exceeds a year")
    box = tuple(float(b) for b in (box if box is not None else DEFAULT_BOX))
    if len(box) != 4:
        raise DataError(f"box {box} must have 4 numbers: lat_min, lat_max, lon_min, lon_max")
    grid = build_grid(spec.resolution_deg, box)  # type: ignore[arg-type]
    torch.manual_seed(seed)  # nothing random is drawn from torch; set for any op that might
    dtype = torch.float32
    emissions = build_emissions(grid, np.random.default_rng([seed, 0]), spec.n_power_plants, dtype)
    return Plan(spec, int(seed), box, years, grid, emissions, Blocking.from_grid(grid, blocking, dtype))  # type: ignore[arg-type]


def time_chunk(height: int, width: int, itemsize: int = 4) -> int:
    """Time steps per chunk so one chunk of a (time, lat, lon) field is about 0.5 MB (0.25-1 MB)."""
    return max(1, round(TARGET_CHUNK_BYTES / (height * width * itemsize)))


def _attrs(name: str, **extra: object) -> dict[str, object]:
    spec = VARIABLES[name]
    attrs: dict[str, object] = {"units": spec.units, "long_name": spec.long_name}
    if spec.standard_name:
        attrs["standard_name"] = spec.standard_name
    attrs.update(extra)
    return attrs


def benchmark_dataset(plan: Plan, fields: dict[str, Any]) -> xr.Dataset:
    """The benchmark Dataset with ``fields`` {name: (time, lat, lon) float32 array, numpy or dask} as its dynamic
    variables; encoding carries the chunking (``time_chunk`` whole frames per chunk)."""
    spec, grid = plan.spec, plan.grid
    step = pd.Timedelta(hours=spec.time_step_hours)
    per_window = plan.frames_per_year // len(spec.window_starts)
    times = np.concatenate(
        [
            pd.date_range(pd.Timestamp(year, 1, 1) + pd.Timedelta(days=start), periods=per_window, freq=step).values
            for year in plan.years
            for start in spec.window_starts
        ]
    ).astype("datetime64[ns]")
    height, width = grid.shape
    dims3, dims2 = ("time", "lat", "lon"), ("lat", "lon")

    data_vars: dict[str, xr.DataArray] = {}
    for name in DYNAMIC:
        data_vars[name] = xr.DataArray(fields[name], dims=dims3, attrs=_attrs(name))
        data_vars[name].encoding = {"chunks": (plan.time_chunk, height, width)}
    terrain = grid.terrain
    data_vars["lat2d"] = xr.DataArray(grid.lat2d, dims=dims2, attrs=_attrs("lat2d"))
    data_vars["lon2d"] = xr.DataArray(grid.lon2d, dims=dims2, attrs=_attrs("lon2d"))
    data_vars["elevation"] = xr.DataArray(
        terrain.elevation, dims=dims2, attrs=_attrs("elevation", source="pvlib Altitude.h5, area-averaged; sea = 0")
    )
    data_vars["population"] = xr.DataArray(
        plan.emissions.population.astype(np.float32),
        dims=dims2,
        attrs=_attrs(
            "population",
            long_name="population density (persons per km2): real cities' places and sizes, modelled rural density",
        ),
    )
    data_vars["mask"] = xr.DataArray(
        terrain.mask,
        dims=dims2,
        attrs=_attrs("mask", long_name="land mask (1 = land: land fraction >= 0.5)", flag_values=[0, 1]),
    )
    for name in STATIC:
        data_vars[name].encoding = {"chunks": (height, width)}
        if not math.isfinite(float(data_vars[name].min())):  # contract: no NaN anywhere (dynamic: per block)
            raise DataError(f"benchmark generation produced non-finite {name} (size={spec.name}, seed={plan.seed})")
    coords = {
        "time": ("time", times, {"long_name": "time", "standard_name": "time"}),
        "lat": ("lat", grid.lat, {"units": "degrees_north", "standard_name": "latitude", "axis": "Y"}),
        "lon": ("lon", grid.lon, {"units": "degrees_east", "standard_name": "longitude", "axis": "X"}),
    }
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = {
        "Conventions": "CF-1.10",
        "title": f"aqnet synthetic air-quality benchmark ({spec.name})",
        "source": SOURCE,
        "aqnet_generator": GENERATOR,
        "aqnet_size": spec.name,
        "aqnet_seed": plan.seed,
        "aqnet_blocking": plan.blocking.mode,
        "aqnet_version": aqnet.__version__,
        "years": list(plan.years),
        "box": list(plan.box),
        "time_step_hours": spec.time_step_hours,
        "days_per_year": spec.days_per_year,
        "days_per_window": spec.days_per_window,
        "window_start_days": list(spec.window_starts),
        "window_comment": "each year: windows of days_per_window days from Jan 1 + window_start_days (00 UTC)",
        "resolution_deg": spec.resolution_deg,
        "internal_step_minutes": spec.internal_step_minutes,
        "spinup_days": spec.spinup_days,
        "history": f"{now}: generated by {GENERATOR} (size={spec.name}, seed={plan.seed}, "
        f"blocking={plan.blocking.mode})",
        "comment": "Cities are real places and sizes; emissions and plants are synthetic (per-capita rates, plants "
        "drawn from the seed), not an inventory. Terrain is real (pvlib Altitude.h5). Meteorology is synthetic "
        "(synoptic regimes lasting days); concentrations come from a 2-D flux-form transport model whose terrain "
        "blocking is set by aqnet_blocking; each window of each year has its own spin-up.",
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def generate_benchmark(
    size: str | BenchmarkSize,
    seed: int = 0,
    box: tuple[float, float, float, float] | None = None,
    years: tuple[int, ...] | None = None,
    blocking: str = "on",
) -> xr.Dataset:
    """Simulate the benchmark in memory (all of it: fine up to ``small``) and return it as a Dataset that follows
    the store contract; ``write_benchmark`` streams the same frames into a store instead."""
    plan = plan_benchmark(size, seed, box, years, blocking)
    height, width = plan.grid.shape
    fields = {name: np.empty((plan.n_times, height, width), np.float32) for name in DYNAMIC}
    per_year = plan.frames_per_year
    blocks = simulate_blocks(
        plan.grid, plan.spec, plan.emissions, plan.seed, plan.years, plan.block_frames, plan.blocking
    )
    for block in blocks:
        for j in range(block.n_years):
            start = (block.first_year + j) * per_year + block.start
            for name in DYNAMIC:
                fields[name][start : start + block.n_frames] = block.fields[name][j]
    return benchmark_dataset(plan, fields)
