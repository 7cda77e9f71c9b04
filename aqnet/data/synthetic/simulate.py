"""The simulation loop: one generator of output frames, in time blocks, that feeds both the in-memory and the
streaming (zarr) benchmark, so the two cannot diverge.

Years are independent (own spin-up, own random stream); up to ``YEARS_PER_BATCH`` of them run in lock-step as the
batch dimension of one loop (2-3x faster per year at tiny/small, ~25% at full, than one at a time). Frames are
handed out ``block_frames`` at a time, so what the loop holds is the state plus one block per batched year.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from aqnet.data.synthetic.chemistry import chemistry_step
from aqnet.data.synthetic.emissions import BACKGROUND, SPECIES, Emissions
from aqnet.data.synthetic.grid import BenchmarkSize, Grid
from aqnet.data.synthetic.meteorology import Meteorology, winter_weight
from aqnet.data.synthetic.transport import Metrics, advect, diffuse
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


def frames_per_year(size: BenchmarkSize) -> int:
    return size.days_per_year * 24 // size.time_step_hours


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


def simulate_blocks(
    grid: Grid,
    size: BenchmarkSize,
    emissions: Emissions,
    seed: int,
    years: tuple[int, ...],
    block_frames: int,
    dtype: torch.dtype = torch.float32,
) -> Iterator[Block]:
    """Yield every output frame of every year exactly once, in blocks of at most ``block_frames`` frames.

    Each year starts ``spinup_days`` before Jan 1 00 UTC from background concentrations; only times from Jan 1 on
    are kept, every ``time_step_hours``. A fresh buffer backs each block, so a consumer that drops a block frees it.
    """
    if block_frames < 1:
        raise DataError(f"block_frames must be >= 1, got {block_frames}")
    for first in range(0, len(years), YEARS_PER_BATCH):
        yield from _simulate_batch(grid, size, emissions, seed, years, first, block_frames, dtype)


def _simulate_batch(
    grid: Grid,
    size: BenchmarkSize,
    emissions: Emissions,
    seed: int,
    years: tuple[int, ...],
    first: int,
    block_frames: int,
    dtype: torch.dtype,
) -> Iterator[Block]:
    batch = years[first : first + YEARS_PER_BATCH]
    weather = Meteorology(grid, _year_rngs(seed, batch, 1), dtype)
    metrics = Metrics.from_grid(grid, dtype)
    background = torch.tensor([BACKGROUND[s] for s in SPECIES], dtype=dtype)
    (height, width), n_out = grid.shape, frames_per_year(size)
    conc = background[None, :, None, None].expand(len(batch), -1, height, width).clone()

    def new_block(start: int) -> Block:
        n = min(block_frames, n_out - start)
        return Block(first, start, {name: np.empty((len(batch), n, height, width), np.float32) for name in DYNAMIC})

    step_min, out_min = size.internal_step_minutes, size.time_step_hours * 60
    dt = step_min * 60.0
    first_minute = -size.spinup_days * 24 * 60
    n_steps = ((n_out - 1) * out_min - first_minute) // step_min  # the last step ends at the last output
    block = new_block(0)
    with torch.inference_mode(), _single_thread():
        for step in range(n_steps + 1):
            minute = first_minute + step * step_min
            if minute >= 0 and minute % out_min == 0:
                index = minute // out_min
                _record(block.fields, index - block.start, weather, minute / 60.0, conc)
                if index - block.start + 1 == block.n_frames:
                    _check_finite(block, years)
                    yield block
                    if index + 1 < n_out:
                        block = new_block(index + 1)
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
