"""Timing and peak-memory measurement shared by the benchmarks, and the JSON-line output.

Time: ``warmup`` untimed calls, then ``repeats`` timed calls (the device synchronised around each); the median
(``min_s`` too: on a shared machine the minimum is the least disturbed call). Several calls to compare are
interleaved repeat by repeat (a, b, a, b, ...), so slow drift of the machine (clock, other load) hits each alike.

Peak memory (``peak_mb``, MiB), what ``peak_kind`` names:
- ``cuda_max_allocated``: ``torch.cuda.max_memory_allocated`` during a call minus what was allocated just
  before it (so the inputs and, for a training step, the weights and optimiser state are not counted); the
  maximum over the timed calls.
- ``cpu_rss_hwm``: the process's resident-set high-water mark during one extra, untimed call after the timed ones
  (``VmHWM``, reset by writing 5 to ``/proc/self/clear_refs``) minus its resident size just before it. For that
  call glibc's mmap threshold is lowered to 64 KiB (and free heap trimmed), so every tensor above 64 KiB is mapped
  on allocation and unmapped on free: the resident size follows live tensors instead of a heap that keeps freed
  memory. Timed calls run with the threshold fixed at 32 MiB (where glibc's own adaptive threshold settles), as
  the per-allocation page faults of the low threshold would slow them. Linux / glibc only.
- ``unavailable``: neither applies (``peak_mb`` is null).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_TRACKING = (64 * 1024, 64 * 1024)  # (mmap, trim) thresholds while memory is measured
_TIMING = (32 * 2**20, 64 * 2**20)  # glibc's adaptive limits (mmap max 32 MiB, trim twice that)


def emit(record: dict[str, Any]) -> None:
    """One JSON object on one stdout line."""
    print(json.dumps(record), flush=True)


def note(message: str) -> None:
    """Progress on stderr (stdout carries only JSON lines)."""
    print(message, file=sys.stderr, flush=True)


def environment(device: torch.device) -> dict[str, Any]:
    """Fields every record carries: device, its name, torch version, CPU threads."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"device": device.type, "device_name": name, "torch": torch.__version__, "threads": torch.get_num_threads()}


@cache
def _libc() -> Any:
    """glibc with ``mallopt`` / ``malloc_trim``, the malloc regime set for timing; None where unavailable."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_kib("VmHWM")
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        if libc is None or not _mallopt(libc, _TIMING):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return libc


def _mallopt(libc: Any, thresholds: tuple[int, int]) -> bool:
    mmap, trim = thresholds
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim))


def _status_kib(key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+)\s+kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise ValueError(f"{key} not in {_STATUS}")
    return int(match.group(1))


def prepare_timing(device: torch.device) -> None:
    """Fix the CPU malloc regime before anything is timed (every timed call then runs under the same one)."""
    if device.type == "cpu":
        _libc()


class PeakMemory:
    """Peak extra memory of one call on ``device``: ``start()`` before it, ``peak_mb()`` after it."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            self.kind = "cuda_max_allocated"
        else:
            self.kind = "cpu_rss_hwm" if _libc() is not None else "unavailable"
        self.during_timed_calls = self.kind == "cuda_max_allocated"  # CUDA statistics cost nothing
        self._base = 0

    def start(self) -> None:
        if self.kind == "cuda_max_allocated":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif self.kind == "cpu_rss_hwm":
            _mallopt(_libc(), _TRACKING)
            _libc().malloc_trim(0)
            _CLEAR_REFS.write_text("5")  # VmHWM := VmRSS
            self._base = _status_kib("VmRSS") * 1024

    def peak_mb(self) -> float | None:
        if self.kind == "cuda_max_allocated":
            return (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        if self.kind == "cpu_rss_hwm":
            peak = max(0, _status_kib("VmHWM") * 1024 - self._base) / 2**20
            _mallopt(_libc(), _TIMING)
            return peak
        return None


@dataclass
class Measurement:
    median_s: float
    times_s: list[float]
    peak_mb: float | None
    peak_kind: str

    def fields(self) -> dict[str, Any]:
        peak = None if self.peak_mb is None else round(self.peak_mb, 1)
        times = [round(t, 6) for t in self.times_s]
        return {
            "median_s": self.median_s,
            "min_s": min(self.times_s),
            "times_s": times,
            "peak_mb": peak,
            "peak_kind": self.peak_kind,
        }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> Measurement:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls, and its peak extra memory."""
    return measure_interleaved([fn], device, repeats, warmup)[0]


def measure_interleaved(
    fns: Sequence[Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1
) -> list[Measurement]:
    """:func:`measure` for several calls, alternating them repeat by repeat (see the module doc)."""
    prepare_timing(device)
    for fn in fns:
        for _ in range(warmup):
            fn()
    synchronize(device)
    tracker = PeakMemory(device)
    times: list[list[float]] = [[] for _ in fns]
    peaks: list[list[float]] = [[] for _ in fns]

    def call(i: int, fn: Callable[[], object], timed: bool, track: bool) -> None:
        if track:
            tracker.start()
        started = time.perf_counter()
        fn()
        synchronize(device)
        if timed:
            times[i].append(time.perf_counter() - started)
        if track and (peak := tracker.peak_mb()) is not None:
            peaks[i].append(peak)

    for _ in range(repeats):
        for i, fn in enumerate(fns):
            call(i, fn, timed=True, track=tracker.during_timed_calls)
    if not tracker.during_timed_calls and tracker.kind != "unavailable":
        for i, fn in enumerate(fns):  # CPU: one extra call each, under the tracking malloc regime
            call(i, fn, timed=False, track=True)
    return [
        Measurement(statistics.median(t), t, max(p) if p else None, tracker.kind)
        for t, p in zip(times, peaks, strict=True)
    ]
