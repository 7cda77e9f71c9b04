"""Per-sample reads: a map-style Dataset over one split's (init, lead) pairs.

The zarr store is opened on first use in each process (DataLoader workers included); open handles are never
pickled (``__getstate__`` drops them). Dynamic frames come from a :class:`aqnet.data.reader.FrameReader`: the frames
of a whole batch (``__getitems__``, which torch's DataLoader calls with a batch's indices) are read with one zarr
call per variable, each time chunk decoded once. Each frame is reordered
to ascending lat/lon and converted to canonical units; static fields are read once per process.

A store small enough for memory (the tiny and small benchmarks) is better decoded once: :func:`load_frames` reads
whole variables in canonical order and units, and every split's dataset shares them (forked DataLoader workers
inherit them copy-on-write). Per-frame reads would otherwise decompress a whole time chunk for every frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from aqnet.data.reader import FrameReader
from aqnet.data.samples import SampleIndex
from aqnet.data.store import StoreHandle, open_dataset
from aqnet.errors import DataError

__all__ = ["ForecastDataset"]


def read_canonical(
    ds: xr.Dataset,
    handle_path: object,
    layout: Any,
    conversions: dict[str, Any],
    name: str,
    t: int | None,
    times: np.ndarray | None = None,
    whole: bool = False,
) -> np.ndarray:
    """Variable ``name`` at time index ``t`` ([H, W]), the static field (t None), or all times (whole=True)."""
    arr = ds[name] if (t is None or whole) else ds[name].isel(time=t)
    dims = ("time", "lat", "lon") if whole else ("lat", "lon")
    try:
        values = np.asarray(arr.transpose(*dims).values, dtype=np.float64 if not whole else np.float32)
    except Exception as err:
        when = "" if t is None or times is None else f" at {np.datetime64(int(times[t]), 's')}"
        raise DataError(
            f"reading variable {name!r}{when} from store {handle_path} failed (corrupt chunk?): "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from None
    values = layout.reorder(values)
    if name in conversions:
        values = conversions[name](values)
    if name == "lon2d" and layout.wrap_lon:
        values = (values + 180.0) % 360.0 - 180.0
    return values.astype(np.float32, copy=False)


def load_frames(handle: StoreHandle, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Every time of each dynamic variable in ``names``, decoded once: {name: [T, H, W] float32}."""
    ds, _ = open_dataset(handle.path, chunks=None)
    dynamic = [n for n in dict.fromkeys(names) if "time" in ds[n].dims]
    return {
        n: read_canonical(ds, handle.path, handle.layout, dict(handle.conversions), n, None, whole=True)
        for n in dynamic
    }


class ForecastDataset(torch.utils.data.Dataset):
    """Sample k = inputs at the init time (+ static fields), targets at init + lead, as a dict for collate."""

    def __init__(
        self,
        handle: StoreHandle,
        index: SampleIndex,
        input_variables: Sequence[str],
        target_variables: Sequence[str],
        fill_values: dict[str, float],
        frames: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.path = handle.path
        self.layout = handle.layout
        self.conversions = dict(handle.conversions)
        self.index = index
        self.input_names = tuple(input_variables)
        self.target_names = tuple(target_variables)
        self.static = {n for n in (*self.input_names, *self.target_names) if "time" not in handle.dataset[n].dims}
        if self.static & set(self.target_names):
            raise DataError(f"static variable(s) {sorted(self.static & set(self.target_names))} cannot be targets")
        self.fill = np.array([fill_values[n] for n in self.input_names], dtype=np.float32)[:, None, None]
        self.times = handle.times.astype("datetime64[s]").astype(np.int64)
        self.mask = handle.mask
        self._ds: xr.Dataset | None = None
        self._pid: int | None = None
        self._static_frames: dict[str, np.ndarray] = {}
        self._reader: FrameReader | None = None
        self.frames = frames or {}  # decoded [T, H, W] arrays shared by every split (see load_frames)

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_ds=None, _pid=None, _static_frames={}, _reader=None)  # workers open their own handles
        return state

    def _open(self) -> xr.Dataset:
        if self._ds is None or self._pid != os.getpid():
            self._ds, _ = open_dataset(self.path, chunks=None)
            self._pid = os.getpid()
            self._static_frames = {
                n: read_canonical(self._ds, self.path, self.layout, self.conversions, n, None) for n in self.static
            }
            streamed = [n for n in dict.fromkeys((*self.input_names, *self.target_names)) if n not in self.static]
            streamed = [n for n in streamed if n not in self.frames]
            self._reader = FrameReader(self.path, self._ds, self.layout, streamed)
        return self._ds

    @property
    def reader(self) -> FrameReader:
        self._open()
        assert self._reader is not None
        return self._reader

    def _stacks(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(inputs [V_in, H, W], targets [V_out, H, W]) float32 for each (init, valid) time index pair."""
        self._open()
        wanted = [
            (n, t)
            for t0, t1 in pairs
            for names, t in ((self.input_names, t0), (self.target_names, t1))
            for n in names
            if n not in self.static and n not in self.frames
        ]
        read = dict(zip(wanted, self.reader.frames(wanted, self.times), strict=True)) if wanted else {}

        def frame(name: str, t: int) -> np.ndarray:
            if name in self.static:
                return self._static_frames[name]
            if name in self.frames:
                return self.frames[name][t]
            values = read[(name, t)]
            values = self.conversions[name](values) if name in self.conversions else values
            return values.astype(np.float32, copy=False)

        return [
            (np.stack([frame(n, t0) for n in self.input_names]), np.stack([frame(n, t1) for n in self.target_names]))
            for t0, t1 in pairs
        ]

    def __getitems__(self, ks: Sequence[int]) -> list[dict[str, Any]]:
        """A batch of samples with one concurrent read (torch's DataLoader calls this with a batch's indices)."""
        pairs = [(int(self.index.init_index[k]), int(self.index.valid_index[k])) for k in ks]
        return [self._sample(k, *stacks) for k, stacks in zip(ks, self._stacks(pairs), strict=True)]

    def __getitem__(self, k: int) -> dict[str, Any]:
        return self.__getitems__([k])[0]

    def _sample(self, k: int, inputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
        t0 = int(self.index.init_index[k])
        input_valid, target_valid = np.isfinite(inputs), np.isfinite(targets)
        inputs = np.where(input_valid, inputs, self.fill)
        targets = np.where(target_valid, targets, 0.0).astype(np.float32)
        if self.mask is not None:
            target_valid &= self.mask[None]
        init = np.datetime64(int(self.times[t0]), "s")
        day_of_year = (init.astype("datetime64[D]") - init.astype("datetime64[Y]")).astype(np.int64) + 1
        return {
            "inputs": torch.from_numpy(inputs),
            "input_valid": torch.from_numpy(input_valid),
            "targets": torch.from_numpy(targets),
            "target_valid": torch.from_numpy(target_valid),
            "lead_hours": torch.tensor(float(self.index.lead_hours[k]), dtype=torch.float32),
            "init_time": torch.tensor(int(self.times[t0]), dtype=torch.int64),
            "hour_of_day": torch.tensor((self.times[t0] % 86400) / 3600.0, dtype=torch.float32),
            "day_of_year": torch.tensor(float(day_of_year), dtype=torch.float32),
            "input_names": self.input_names,
            "target_names": self.target_names,
        }
