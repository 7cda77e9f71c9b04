"""Chunk-aware frame reads straight from zarr: every frame a batch needs in one concurrent request, each chunk once.

Reading a sample through xarray costs one synchronous zarr call per frame (about 17 per sample), and each call
decodes the whole time chunk that holds the frame only to keep one slice of it. :class:`FrameReader` instead
collects the chunks that a set of (variable, time index) requests touch, fetches and decodes the missing ones
concurrently in one call on zarr's asynchronous API, and keeps decoded chunks in a small per-process LRU cache, so
a chunk shared by an input and a target frame (or by neighbouring samples) is decoded once. A store written with
one frame per chunk (``aqnet-data convert`` does) decodes exactly the frames it needs.

CF decoding is done as xarray does it: ``_FillValue`` / ``missing_value`` become NaN, then ``scale_factor`` /
``add_offset`` apply; singleton extra dimensions are indexed at 0 and the frame is transposed to (lat, lon).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from zarr.core.sync import sync

from aqnet.data.store import GridLayout
from aqnet.errors import DataError

__all__ = ["FrameReader", "ReadCounters"]


@dataclass
class ReadCounters:
    """What a reader did (the loader benchmark reports it): chunks decoded, their bytes, frames served."""

    chunks: int = 0
    bytes: int = 0
    frames: int = 0


@dataclass(frozen=True)
class _Variable:
    array: Any  # zarr AsyncArray
    time_axis: int
    time_chunk: int
    index: tuple[Any, ...]  # native-order indexer template (time slot replaced per read; singletons at 0)
    transpose: tuple[int, ...]  # (lat, lon) axis order of the indexed chunk after the time axis
    fill: tuple[float, ...]
    scale: float | None
    offset: float | None


def _native_dims(array: zarr.Array) -> tuple[str, ...]:
    names = getattr(array.metadata, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS")
    if not names or len(names) != array.ndim:
        raise DataError(f"array {array.path!r} has no dimension names; write the store with xarray")
    return tuple(str(n) for n in names)


class FrameReader:
    """Frames of the dynamic variables ``names`` of a store, decoded and in (lat, lon) canonical order (float64)."""

    def __init__(self, path: Path, ds: xr.Dataset, layout: GridLayout, names: Sequence[str], cache_mb: float = 256):
        self.path, self.layout = path, layout
        self.cache_bytes = int(cache_mb * 2**20)
        self.counters = ReadCounters()
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._size = 0
        group = zarr.open_group(path, mode="r")
        renames = {v: k for k, v in layout.renames.items()}  # canonical dim -> native dim
        self.variables = {name: self._describe(group[name], ds[name], renames) for name in names}

    def _describe(self, array: zarr.Array, decoded: xr.DataArray, renames: dict[str, str]) -> _Variable:
        dims = _native_dims(array)
        want = {d: renames.get(d, d) for d in ("time", "lat", "lon")}
        time_axis = dims.index(want["time"])
        index = tuple(slice(None) if d in want.values() else 0 for d in dims)
        kept = [d for d in dims if d in want.values() and d != want["time"]]
        transpose = tuple(kept.index(want[d]) + 1 for d in ("lat", "lon"))
        enc = decoded.encoding
        fill = tuple(float(v) for k in ("_FillValue", "missing_value") for v in np.atleast_1d(enc.get(k, [])))
        return _Variable(
            array=array._async_array,
            time_axis=time_axis,
            time_chunk=int(array.chunks[time_axis]),
            index=index,
            transpose=(0, *transpose),
            fill=tuple(v for v in fill if not np.isnan(v)),
            scale=enc.get("scale_factor"),
            offset=enc.get("add_offset"),
        )

    def _decode(self, var: _Variable, raw: np.ndarray) -> np.ndarray:
        """A native chunk (time first after indexing) → float64 [t, lat, lon] in native lat/lon order."""
        raw = np.moveaxis(raw, var.time_axis - sum(isinstance(i, int) for i in var.index[: var.time_axis]), 0)
        values = raw.astype(np.float64)
        for fill in var.fill:
            values[raw == fill] = np.nan
        if var.scale is not None:
            values *= var.scale
        if var.offset is not None:
            values += var.offset
        return values.transpose(var.transpose)

    async def _fetch(self, keys: list[tuple[str, int]]) -> list[np.ndarray]:
        async def one(name: str, chunk: int) -> np.ndarray:
            var = self.variables[name]
            index = list(var.index)
            index[var.time_axis] = slice(chunk * var.time_chunk, (chunk + 1) * var.time_chunk)
            return await var.array.getitem(tuple(index))

        return list(await asyncio.gather(*(one(n, c) for n, c in keys), return_exceptions=True))

    def _store(self, key: tuple[str, int], chunk: np.ndarray) -> None:
        self._cache[key] = chunk
        self._size += chunk.nbytes
        while self._size > self.cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._size -= dropped.nbytes

    def frames(self, requests: Sequence[tuple[str, int]], times: np.ndarray | None = None) -> list[np.ndarray]:
        """[H, W] frames (native units, canonical order) for (variable, time index) requests, in request order."""
        keys = [(n, t // self.variables[n].time_chunk) for n, t in requests]
        chunks = {k: self._cache[k] for k in dict.fromkeys(keys) if k in self._cache}
        for key in chunks:
            self._cache.move_to_end(key)
        missing = [k for k in dict.fromkeys(keys) if k not in chunks]
        if missing:
            for key, raw in zip(missing, self._read(missing, times), strict=True):
                chunks[key] = self._decode(self.variables[key[0]], raw)
                self.counters.chunks += 1
                self.counters.bytes += raw.nbytes
                self._store(key, chunks[key])
        self.counters.frames += len(requests)
        return [
            self.layout.reorder(chunks[key][t - key[1] * self.variables[name].time_chunk])
            for (name, t), key in zip(requests, keys, strict=True)
        ]

    def _read(self, keys: list[tuple[str, int]], times: np.ndarray | None) -> list[np.ndarray]:
        results = sync(self._fetch(keys))
        for (name, chunk), result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                first = chunk * self.variables[name].time_chunk
                when = "" if times is None else f" at {np.datetime64(int(times[min(first, len(times) - 1)]), 's')}"
                raise DataError(
                    f"reading variable {name!r}{when} from store {self.path} failed (corrupt chunk?): "
                    f"{type(result).__name__}: {str(result)[:200]}"
                )
        return results
