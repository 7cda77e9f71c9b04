"""The simulation loop: one generator of output frames, in time blocks, that feeds both the in-memory and the
streaming (zarr) benchmark, so the two cannot diverge.

Years are independent (own random stream); up to ``YEARS_PER_BATCH`` of them run in lock-step as the batch
dimension of one loop (2-3x faster per year at tiny/small, ~25% at full, than one at a time). A year is a few
seasonal windows (``BenchmarkSize.window_starts``), each simulated from its own spin-up in the year's one weather
sequence. Frames are handed out ``block_frames`` at a time (never across a window), so what the loop holds is the
state plus one block per batched year. ``blocking`` (``off``/``on``/``strong``) changes only the face fluxes of the
transport: weather and emissions are the same in every variant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from aqnet.data.synthetic.blocking import Blocking
from aqnet.data.synthetic.chemistry import chemistry_step
from aqnet.data.synthetic.emissions import BACKGROUND, SPECIES, Emissions
from aqnet.data.synthetic.grid import BenchmarkSize, Grid
from aqnet.data.synthetic.meteorology import Meteorology, winter_weight
from aqnet.data.synthetic.transport import FaceWinds, Metrics, advect, diffuse
from aqnet.errors import DataError
from aqnet.variables import METEOROLOGY, POLLUTANTS

DIFFUSIVITY = 1.5e4  # m2 s-1, horizontal eddy diffusion of the resolved mixed layer
YEARS_PER_BATCH = 6  # caps the batch so memory does not grow with the number of years
DYNAMIC: tuple[str, ...] = (*METEOROLOGY, *POLLUTANTS)


@dataclass(frozen=True)
class Block:
    """Output frames ``start:start + n`` (within each year) of the years ``first_year:first_year + B``
    (indices into the benchmark's years): ``fields`` maps each dynamic variable to (B, n, H, W) float32."""

    first_year: int
    start: int
    fields: dict[str, np.ndarray]

    @property
    def n_years(self) -> int:
        return next(iter(self.fields.values())).shape[0]

    @property
    def n_frames(self) -> int:
        return next(iter(self.fields.values())).shape[1]


def frames_per_window(size: BenchmarkSize) -> int:
    return size.days_per_window * 24 // size.time_step_hours


def frames_per_year(size: BenchmarkSize) -> int:
    return frames_per_window(size) * len(size.window_starts)


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


def _isolated(blocks: Iterator[Block]) -> Iterator[Block]:
    """Advance ``blocks`` in inference mode on one thread, handing each block over with the caller's own settings:
    a mode held across a ``yield`` would leak into the consumer (and stay on when it abandons the stream)."""
    while True:
        with torch.inference_mode(), _single_thread():
            block = next(blocks, None)
        if block is None:
            return
        yield block


def _year_rngs(seed: int, years: tuple[int, ...], stream: int) -> list[np.random.Generator]:
    """One independent stream per (seed, year): a year's weather never depends on which other years run."""
    return [np.random.default_rng([seed, year, stream]) for year in years]


def simulate_blocks(
    grid: Grid,
    size: BenchmarkSize,
    emissions: Emissions,
    seed: int,
    years: tuple[int, ...],
    block_frames: int,
    blocking: Blocking,
    dtype: torch.dtype = torch.float32,
) -> Iterator[Block]:
    """Yield every output frame of every year exactly once, in blocks of at most ``block_frames`` frames.

    Each window starts ``spinup_days`` before its first day from background concentrations; only its own days are
    kept, every ``time_step_hours``. A fresh buffer backs each block, so a consumer that drops a block frees it.
    """
    if block_frames < 1:
        raise DataError(f"block_frames must be >= 1, got {block_frames}")
    for first in range(0, len(years), YEARS_PER_BATCH):
        batch = years[first : first + YEARS_PER_BATCH]
        weather = Meteorology(grid, _year_rngs(seed, batch, 1), dtype)
        for window, start_day in enumerate(size.window_starts):
            yield from _isolated(_simulate_window(grid, size, emissions, weather, blocking, first, len(batch),
                                                  window, start_day, block_frames, years, dtype))  # fmt: skip


def _simulate_window(
    grid: Grid,
    size: BenchmarkSize,
    emissions: Emissions,
    weather: Meteorology,
    blocking: Blocking,
    first: int,
    n_batch: int,
    window: int,
    start_day: int,
    block_frames: int,
    years: tuple[int, ...],
    dtype: torch.dtype,
) -> Iterator[Block]:
    metrics = Metrics.from_grid(grid, dtype)
    background = torch.tensor([BACKGROUND[s] for s in SPECIES], dtype=dtype)
    (height, width), n_out = grid.shape, frames_per_window(size)
    offset = window * n_out  # frame index of the window's first frame within the year
    conc = background[None, :, None, None].expand(n_batch, -1, height, width).clone()

    def new_block(start: int) -> Block:
        n = min(block_frames, n_out - start)
        fields = {name: np.empty((n_batch, n, height, width), np.float32) for name in DYNAMIC}
        return Block(first, offset + start, fields)

    step_min, out_min = size.internal_step_minutes, size.time_step_hours * 60
    dt = step_min * 60.0
    window_minute = start_day * 24 * 60
    first_minute = -size.spinup_days * 24 * 60  # relative to the window's start
    n_steps = ((n_out - 1) * out_min - first_minute) // step_min  # the last step ends at the last output
    block = new_block(0)
    for step in range(n_steps + 1):
        minute = first_minute + step * step_min
        if minute >= 0 and minute % out_min == 0:
            index = minute // out_min
            _record(block.fields, index + offset - block.start, weather, (window_minute + minute) / 60.0, conc)
            if index + offset - block.start + 1 == block.n_frames:
                _check_finite(block, years)
                yield block
                if index + 1 < n_out:
                    block = new_block(index + 1)
        if step == n_steps:
            break
        hours_mid = (window_minute + minute + step_min / 2) / 60.0
        met = weather.at(hours_mid)
        speed = torch.sqrt(met.u**2 + met.v**2)
        source = emissions.rate(hours_mid, winter_weight(hours_mid), speed)
        conc = conc + source * (dt / met.mixing_height[:, None])
        winds = FaceWinds.from_centres(met.u, met.v)
        winds = winds.scaled(*blocking.transmission(winds, met.brunt_vaisala, met.mixing_height))
        conc, _ = advect(conc, winds, dt, metrics, background)
        conc = diffuse(conc, DIFFUSIVITY, dt, metrics)
        conc = chemistry_step(conc, met, dt)


def _record(out: dict[str, np.ndarray], index: int, weather: Meteorology, hours: float, conc: torch.Tensor) -> None:
    met = weather.at(hours)
    for name in METEOROLOGY:
        out[name][:, index] = getattr(met, name).numpy()
    for name in ("pm25", "so2", "no2", "co", "o3"):
        out[name][:, index] = conc[:, SPECIES.index(name)].numpy()
    out["pm10"][:, index] = (conc[:, SPECIES.index("pm25")] + conc[:, SPECIES.index("coarse")]).numpy()


def _check_finite(block: Block, years: tuple[int, ...]) -> None:
    """Contract: no NaN anywhere. Checked per block, before anything is written."""
    for name, values in block.fields.items():
        if not np.isfinite(values).all():
            batch = years[block.first_year : block.first_year + block.n_years]
            raise DataError(f"benchmark generation produced non-finite {name} (years {batch}, frame {block.start}+)")
