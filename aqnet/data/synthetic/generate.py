"""Run the simulator for every year at once and assemble the benchmark as an xarray Dataset (store contract)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import torch
import xarray as xr

import aqnet
from aqnet.data.synthetic.chemistry import chemistry_step
from aqnet.data.synthetic.emissions import BACKGROUND, SPECIES, build_emissions
from aqnet.data.synthetic.grid import DEFAULT_BOX, DEFAULT_YEARS, BenchmarkSize, Grid, build_grid, resolve_size
from aqnet.data.synthetic.meteorology import Meteorology, winter_weight
from aqnet.data.synthetic.transport import Metrics, advect, diffuse
from aqnet.errors import DataError
from aqnet.variables import METEOROLOGY, POLLUTANTS, VARIABLES

GENERATOR = "aqnet.data.synthetic"
SOURCE = "aqnet synthetic transport benchmark"
DIFFUSIVITY = 1.5e4  # m2 s-1, horizontal eddy diffusion of the resolved mixed layer
TARGET_CHUNK_BYTES = 512 * 1024


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run the loop on one intra-op thread, restoring the caller's setting afterwards. The ops are small and
    many, so threads barely help (<2x at full size on an idle machine), while on a loaded machine
    oversubscribed threads were measured 20-30x slower (tiny: 4.7 s vs 154 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _year_rngs(seed: int, years: tuple[int, ...], stream: int) -> list[np.random.Generator]:
    """One independent stream per (seed, year): a year's weather never depends on which other years run."""
    return [np.random.default_rng([seed, year, stream]) for year in years]


def simulate(
    grid: Grid, size: BenchmarkSize, seed: int, years: tuple[int, ...], dtype: torch.dtype = torch.float32
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All dynamic fields as {name: (years, times, H, W) float32} plus the population (H, W).

    Each year starts ``spinup_days`` before Jan 1 00 UTC from background concentrations; only times from Jan 1 on
    are kept, every ``time_step_hours``. Years run side by side as the batch dimension of one loop.
    """
    emissions = build_emissions(grid, np.random.default_rng([seed, 0]), size.n_cities, size.n_power_plants, dtype)
    weather = Meteorology(grid, _year_rngs(seed, years, 1), dtype)
    metrics = Metrics.from_grid(grid, dtype)
    background = torch.tensor([BACKGROUND[s] for s in SPECIES], dtype=dtype)
    n_years, (height, width) = len(years), grid.shape
    conc = background[None, :, None, None].expand(n_years, -1, height, width).clone()

    step_min, out_min = size.internal_step_minutes, size.time_step_hours * 60
    n_out = size.days_per_year * 24 // size.time_step_hours
    out = {name: np.empty((n_years, n_out, height, width), np.float32) for name in (*METEOROLOGY, *POLLUTANTS)}
    dt = step_min * 60.0
    first_minute = -size.spinup_days * 24 * 60
    n_steps = ((n_out - 1) * out_min - first_minute) // step_min  # the last step ends at the last output
    with torch.inference_mode(), _single_thread():
        for step in range(n_steps + 1):
            minute = first_minute + step * step_min
            if minute >= 0 and minute % out_min == 0:
                _record(out, minute // out_min, weather, minute / 60.0, conc)
            if step == n_steps:
                break
            hours_mid = (minute + step_min / 2) / 60.0
            met = weather.at(hours_mid)
            speed = torch.sqrt(met.u**2 + met.v**2)
            source = emissions.rate(hours_mid, winter_weight(hours_mid), speed)
            conc = conc + source * (dt / met.mixing_height)
            conc, _ = advect(conc, met.u, met.v, dt, metrics, background)
            conc = diffuse(conc, DIFFUSIVITY, dt, metrics)
            conc = chemistry_step(conc, met, dt)
    return out, emissions.population


def _record(out: dict[str, np.ndarray], index: int, weather: Meteorology, hours: float, conc: torch.Tensor) -> None:
    met = weather.at(hours)
    for name in METEOROLOGY:
        out[name][:, index] = getattr(met, name).numpy()
    for name in ("pm25", "so2", "no2", "co", "o3"):
        out[name][:, index] = conc[:, SPECIES.index(name)].numpy()
    out["pm10"][:, index] = (conc[:, SPECIES.index("pm25")] + conc[:, SPECIES.index("coarse")]).numpy()


def _attrs(name: str, **extra: object) -> dict[str, object]:
    spec = VARIABLES[name]
    attrs: dict[str, object] = {"units": spec.units, "long_name": spec.long_name}
    if spec.standard_name:
        attrs["standard_name"] = spec.standard_name
    attrs.update(extra)
    return attrs


def time_chunk(height: int, width: int, itemsize: int = 4) -> int:
    """Time steps per chunk so one chunk of a (time, lat, lon) field is about 0.5 MB (0.25-1 MB)."""
    return max(1, round(TARGET_CHUNK_BYTES / (height * width * itemsize)))


def generate_benchmark(
    size: str | BenchmarkSize,
    seed: int = 0,
    box: tuple[float, float, float, float] | None = None,
    years: tuple[int, ...] | None = None,
) -> xr.Dataset:
    """Simulate the benchmark in memory and return it as a Dataset that follows the store contract."""
    spec = resolve_size(size)
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
    fields, population = simulate(grid, spec, seed, years)

    n_out = spec.days_per_year * 24 // spec.time_step_hours
    step = pd.Timedelta(hours=spec.time_step_hours)
    times = np.concatenate(
        [pd.date_range(pd.Timestamp(year, 1, 1), periods=n_out, freq=step).values for year in years]
    ).astype("datetime64[ns]")
    height, width = grid.shape
    dims3, dims2 = ("time", "lat", "lon"), ("lat", "lon")
    chunk = {"chunks": (min(time_chunk(height, width), times.size), height, width)}

    data_vars: dict[str, xr.DataArray] = {}
    for name in (*METEOROLOGY, *POLLUTANTS):
        values = fields[name].reshape(-1, height, width)
        data_vars[name] = xr.DataArray(values, dims=dims3, attrs=_attrs(name))
        data_vars[name].encoding = dict(chunk)
    terrain = grid.terrain
    data_vars["lat2d"] = xr.DataArray(grid.lat2d, dims=dims2, attrs=_attrs("lat2d"))
    data_vars["lon2d"] = xr.DataArray(grid.lon2d, dims=dims2, attrs=_attrs("lon2d"))
    data_vars["elevation"] = xr.DataArray(
        terrain.elevation, dims=dims2, attrs=_attrs("elevation", source="pvlib Altitude.h5, area-averaged; sea = 0")
    )
    data_vars["population"] = xr.DataArray(
        population.astype(np.float32),
        dims=dims2,
        attrs=_attrs("population", long_name="synthetic population density (persons per km2), not census data"),
    )
    data_vars["mask"] = xr.DataArray(
        terrain.mask,
        dims=dims2,
        attrs=_attrs("mask", long_name="land mask (1 = land: land fraction >= 0.5)", flag_values=[0, 1]),
    )
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
        "aqnet_seed": int(seed),
        "aqnet_version": aqnet.__version__,
        "years": list(years),
        "box": list(box),
        "time_step_hours": spec.time_step_hours,
        "days_per_year": spec.days_per_year,
        "block_start": "Jan 1 00 UTC of each year (winter haze season)",
        "resolution_deg": spec.resolution_deg,
        "internal_step_minutes": spec.internal_step_minutes,
        "spinup_days": spec.spinup_days,
        "history": f"{now}: generated by {GENERATOR} (size={spec.name}, seed={seed})",
        "comment": "Population and emissions are synthetic (drawn from the seed), not census or inventory data. "
        "Terrain is real (pvlib Altitude.h5). Meteorology and concentrations come from a 2-D semi-Lagrangian "
        "transport model with terrain blocking; each year is an independent block with its own spin-up.",
    }
    dataset = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    for name in ("lat2d", "lon2d", "elevation", "population", "mask"):
        dataset[name].encoding = {"chunks": (height, width)}
    if not all(math.isfinite(float(dataset[n].min())) for n in dataset.data_vars):  # contract: no NaN anywhere
        raise DataError(f"benchmark generation produced non-finite values (size={spec.name}, seed={seed})")
    return dataset
