"""Batched frame reads straight from zarr: one call per variable for all the frames a batch needs.

Reading a sample through xarray costs one synchronous zarr call per frame (about 17 per sample), each with
xarray's and zarr's per-call overhead, and each decoding the whole time chunk that holds the frame only to keep one
slice of it. :class:`FrameReader` instead reads, for each variable, every time index a batch needs in one
orthogonal selection: zarr then fetches the chunks concurrently and decodes each chunk once, however many of the
batch's frames it holds (an input and a target frame of one sample often share a chunk). A store written with
one frame per chunk (``aqnet-data convert`` does) decodes exactly the frames it needs.

CF decoding is done as xarray does it: ``_FillValue`` / ``missing_value`` become NaN, then ``scale_factor`` /
``add_offset`` apply; singleton extra dimensions are indexed at 0 and the frame is transposed to (lat, lon).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from aqnet.data.store import GridLayout
from aqnet.errors import DataError

__all__ = ["FrameReader", "ReadCounters"]


@dataclass
class ReadCounters:
    """What a reader did (the loader benchmark reports it): zarr calls, chunks decoded, their bytes, frames."""

    calls: int = 0
    chunks: int = 0
    bytes: int = 0
    frames: int = 0


@dataclass(frozen=True)
class _Variable:
    array: zarr.Array
    time_axis: int
    index: tuple[Any, ...]  # native-order indexer template (time slot replaced per read; singletons at 0)
    transpose: tuple[int, ...]  # (time, lat, lon) order of the indexed block
    fill: tuple[float, ...]
    scale: float | None
    offset: float | None
    frame_bytes: int
    time_chunk: int


def _native_dims(array: zarr.Array) -> tuple[str, ...]:
    names = getattr(array.metadata, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS")
    if not names or len(names) != array.ndim:
        raise DataError(f"array {array.path!r} has no dimension names; write the store with xarray")
    return tuple(str(n) for n in names)


class FrameReader:
    """Frames of the dynamic variables ``names`` of a store, decoded and in (lat, lon) canonical order (float64)."""

    def __init__(self, path: Path, ds: xr.Dataset, layout: GridLayout, names: Sequence[str]) -> None:
        self.path, self.layout = path, layout
        self.counters = ReadCounters()
        group = zarr.open_group(path, mode="r")
        renames = {v: k for k, v in layout.renames.items()}  # canonical dim -> native dim
        self.variables = {name: self._describe(group[name], ds[name], renames) for name in names}

    @staticmethod
    def _describe(array: zarr.Array, decoded: xr.DataArray, renames: dict[str, str]) -> _Variable:
        dims = _native_dims(array)
        want = {d: renames.get(d, d) for d in ("time", "lat", "lon")}
        index = tuple(slice(None) if d in want.values() else 0 for d in dims)
        kept = [d for d in dims if d in want.values()]
        enc = decoded.encoding
        fill = tuple(float(v) for k in ("_FillValue", "missing_value") for v in np.atleast_1d(enc.get(k, [])))
        time_axis = dims.index(want["time"])
        return _Variable(
            array=array,
            time_axis=time_axis,
            index=index,
            transpose=tuple(kept.index(want[d]) for d in ("time", "lat", "lon")),
            fill=tuple(v for v in fill if not np.isnan(v)),
            scale=enc.get("scale_factor"),
            offset=enc.get("add_offset"),
            frame_bytes=int(
                np.prod([s for s, d in zip(array.shape, dims, strict=True) if d in kept and d != want["time"]])
            )
            * array.dtype.itemsize,
            time_chunk=int(array.chunks[time_axis]),
        )

    def _decode(self, var: _Variable, raw: np.ndarray) -> np.ndarray:
        """A native block (selected times) -> float64 [t, lat, lon] in native lat/lon order."""
        values = raw.astype(np.float64)
        for fill in var.fill:
            values[raw == fill] = np.nan
        if var.scale is not None:
            values *= var.scale
        if var.offset is not None:
            values += var.offset
        return values.transpose(var.transpose)

    def _read(self, name: str, times_index: np.ndarray, times: np.ndarray | None) -> np.ndarray:
        var = self.variables[name]
        index = list(var.index)
        index[var.time_axis] = times_index
        try:
            raw = var.array.get_orthogonal_selection(tuple(index))
        except Exception as err:
            when = "" if times is None else f" at {np.datetime64(int(times[times_index[0]]), 's')}"
            raise DataError(
                f"reading variable {name!r}{when} from store {self.path} failed (corrupt chunk?): "
                f"{type(err).__name__}: {str(err)[:200]}"
            ) from None
        chunks = len(np.unique(times_index // var.time_chunk))
        self.counters.calls += 1
        self.counters.chunks += chunks
        self.counters.bytes += chunks * var.time_chunk * var.frame_bytes
        return self._decode(var, raw)

    def frames(self, requests: Sequence[tuple[str, int]], times: np.ndarray | None = None) -> list[np.ndarray]:
        """[H, W] frames (native units, canonical order) for (variable, time index) requests, in request order."""
        wanted: dict[str, list[int]] = {}
        for name, t in requests:
            wanted.setdefault(name, []).append(int(t))
        blocks = {}
        for name, ts in wanted.items():
            unique = np.unique(np.asarray(ts, dtype=np.int64))
            blocks[name] = (unique, self._read(name, unique, times))
        self.counters.frames += len(requests)
        out = []
        for name, t in requests:
            unique, block = blocks[name]
            out.append(self.layout.reorder(block[int(np.searchsorted(unique, t))]))
        return out
