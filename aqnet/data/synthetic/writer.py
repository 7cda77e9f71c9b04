"""Write the benchmark as a zarr v3 store, once, safely under concurrency (lock + build in temp + rename).

The store is streamed: xarray writes a lazy template (all metadata, coordinates and static fields, consolidated),
then each block of frames from ``simulate_blocks`` is written into the zarr arrays (on a writer thread) and dropped.
Memory is the simulation state plus two blocks (one being written, the next being filled), whatever the size.
"""

from __future__ import annotations

import os
import shutil
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import dask.array
import numpy as np
import zarr
from zarr.codecs import BloscCodec

from aqnet.data.synthetic.blocking import check_blocking
from aqnet.data.synthetic.generate import GENERATOR, Plan, benchmark_dataset, plan_benchmark
from aqnet.data.synthetic.grid import DEFAULT_BOX, DEFAULT_YEARS, BenchmarkSize, resolve_size
from aqnet.data.synthetic.simulate import DYNAMIC, Block, simulate_blocks
from aqnet.errors import DataError
from aqnet.utils.atomic import atomic_output, file_lock


def benchmark_attrs(path: Path) -> dict[str, object] | None:
    """The global attributes of a store made by this generator, or None if ``path`` is anything else."""
    if not (path / "zarr.json").is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:  # unreadable or not a zarr group: not ours
        return None
    return attrs if attrs.get("aqnet_generator") == GENERATOR else None


def _matches(
    attrs: dict[str, object], size: str, seed: int, box: tuple[float, ...], years: tuple[int, ...], blocking: str
) -> bool:
    return (
        attrs.get("aqnet_size") == size
        and attrs.get("aqnet_blocking") == blocking
        and attrs.get("aqnet_seed") == seed
        and [float(b) for b in attrs.get("box", [])] == list(box)  # type: ignore[union-attr]
        and [int(y) for y in attrs.get("years", [])] == list(years)  # type: ignore[union-attr]
    )


def write_benchmark(
    out: Path,
    size: str | BenchmarkSize,
    seed: int = 0,
    box: tuple[float, float, float, float] | None = None,
    years: tuple[int, ...] | None = None,
    overwrite: bool = False,
    *,
    blocking: str = "on",
    block_frames: int | None = None,
) -> Path:
    """Generate the benchmark into the zarr store ``out`` (absolute path returned) unless it is already there.

    An existing store of this generator with the same size, seed, box, years and blocking is reused. A different
    benchmark store is replaced only with ``overwrite=True``; anything that is not a benchmark store is never touched.
    ``block_frames`` (default: a few time chunks) sets how many frames per year are simulated between writes.
    """
    spec = resolve_size(size)
    check_blocking(blocking)
    out = Path(out).expanduser().absolute()
    box_t = tuple(float(b) for b in (box if box is not None else DEFAULT_BOX))
    years_t = tuple(int(y) for y in (years if years is not None else DEFAULT_YEARS))

    def reusable() -> bool:
        if not out.exists():
            return False
        attrs = benchmark_attrs(out)
        if attrs is None:
            raise DataError(f"{out} exists and is not an aqnet benchmark store; refusing to overwrite it")
        if not overwrite and not _matches(attrs, spec.name, seed, box_t, years_t, blocking):
            raise DataError(
                f"{out} holds a different benchmark (size={attrs.get('aqnet_size')}, seed={attrs.get('aqnet_seed')}, "
                f"blocking={attrs.get('aqnet_blocking')});"
                " pass overwrite=True (--overwrite) or choose another path"
            )
        return not overwrite

    if reusable():  # fast path, no lock: stores only ever appear complete (renamed into place)
        return out
    with file_lock(out):
        if reusable():  # another process built it while we waited
            return out
        old = None
        if out.exists():  # overwrite=True of one of our own stores: keep it until the new one is in place
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        try:
            plan = plan_benchmark(spec, seed=seed, box=box_t, years=years_t, blocking=blocking)  # type: ignore[arg-type]
            with atomic_output(out) as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr warns that consolidated metadata is not in the v3 spec
                _stream(plan, tmp, plan.block_frames if block_frames is None else block_frames)
        except BaseException:
            if old is not None and not out.exists():
                os.replace(old, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


def _stream(plan: Plan, tmp: Path, block_frames: int) -> None:
    height, width = plan.grid.shape
    # One lazy dask chunk per variable: never computed, it only lets xarray lay out the arrays (shape, chunks,
    # attrs, _FillValue, consolidated metadata) exactly as an eager write would.
    lazy = {name: dask.array.empty((plan.n_times, height, width), dtype=np.float32, chunks=-1) for name in DYNAMIC}
    template = benchmark_dataset(plan, lazy)
    # Bit-shuffled zstd packs smooth float32 fields ~20% smaller than zarr's default zstd. Merged into (not
    # replacing) each variable's encoding: to_zarr's encoding= replaces it, which used to drop the chunks.
    compressor = BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")
    encoding = {name: {**template[name].encoding, "compressors": [compressor]} for name in template.data_vars}
    template.to_zarr(tmp, mode="w-", zarr_format=3, consolidated=True, encoding=encoding, compute=False)
    group = zarr.open_group(str(tmp), mode="r+", zarr_format=3, use_consolidated=False)
    arrays = {name: group[name] for name in DYNAMIC}
    blocks = simulate_blocks(plan.grid, plan.spec, plan.emissions, plan.seed, plan.years, block_frames, plan.blocking)
    # Compression (blosc, GIL released) of one block overlaps the simulation of the next. Waiting for the
    # previous write before queueing the next keeps at most two blocks alive; leaving the pool waits for the
    # last write, also on error, so nothing writes into the temp store after atomic_output removed it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        for block in blocks:
            if pending is not None:
                pending.result()  # re-raises a failed write here
            pending = pool.submit(_write_block, arrays, block, plan.frames_per_year)
            del block  # so a written block is freed as soon as the simulation has moved on to the next
        if pending is not None:
            pending.result()


def _write_block(arrays: dict[str, zarr.Array], block: Block, frames_per_year: int) -> None:
    """Write one block at its place on the store's time axis (year-major). Blocks of whole chunks land on chunk
    boundaries when a year is a whole number of chunks (small, full); otherwise zarr merges the edge chunks."""
    for j in range(block.n_years):
        start = (block.first_year + j) * frames_per_year + block.start
        for name in DYNAMIC:
            arrays[name][start : start + block.n_frames] = block.fields[name][j]
