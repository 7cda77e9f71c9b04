"""Write the benchmark as a zarr v3 store, once, safely under concurrency (lock + build in temp + rename)."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import zarr
from zarr.codecs import BloscCodec

from aqnet.data.synthetic.generate import GENERATOR, generate_benchmark
from aqnet.data.synthetic.grid import DEFAULT_BOX, DEFAULT_YEARS, resolve_size
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


def _matches(attrs: dict[str, object], size: str, seed: int, box: tuple[float, ...], years: tuple[int, ...]) -> bool:
    return (
        attrs.get("aqnet_size") == size
        and attrs.get("aqnet_seed") == seed
        and [float(b) for b in attrs.get("box", [])] == list(box)  # type: ignore[union-attr]
        and [int(y) for y in attrs.get("years", [])] == list(years)  # type: ignore[union-attr]
    )


def write_benchmark(
    out: Path,
    size: str,
    seed: int = 0,
    box: tuple[float, float, float, float] | None = None,
    years: tuple[int, ...] | None = None,
    overwrite: bool = False,
) -> Path:
    """Generate the benchmark into the zarr store ``out`` (absolute path returned) unless it is already there.

    An existing store of this generator with the same size, seed, box and years is reused. A different benchmark
    store is replaced only with ``overwrite=True``; anything that is not a benchmark store is never touched.
    """
    spec = resolve_size(size)
    out = Path(out).expanduser().absolute()
    box_t = tuple(float(b) for b in (box if box is not None else DEFAULT_BOX))
    years_t = tuple(int(y) for y in (years if years is not None else DEFAULT_YEARS))

    def reusable() -> bool:
        if not out.exists():
            return False
        attrs = benchmark_attrs(out)
        if attrs is None:
            raise DataError(f"{out} exists and is not an aqnet benchmark store; refusing to overwrite it")
        if not overwrite and not _matches(attrs, spec.name, seed, box_t, years_t):
            raise DataError(
                f"{out} holds a different benchmark (size={attrs.get('aqnet_size')}, seed={attrs.get('aqnet_seed')});"
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
            dataset = generate_benchmark(spec, seed=seed, box=box_t, years=years_t)  # type: ignore[arg-type]
            with atomic_output(out) as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr warns that consolidated metadata is not in the v3 spec
                # Bit-shuffled zstd packs smooth float32 fields ~20% smaller than zarr's default zstd.
                compressor = BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")
                encoding = {name: {"compressors": [compressor]} for name in dataset.data_vars}
                dataset.to_zarr(tmp, mode="w-", zarr_format=3, consolidated=True, encoding=encoding)
        except BaseException:
            if old is not None and not out.exists():
                os.replace(old, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out
