"""Test-time evaluation files beyond the pooled metrics: per-case errors and per-pixel error maps.

The file formats live in :mod:`aqnet.evaluation.files` (pandas/xarray only, so ``aqnet-compare`` reads them
without importing torch); :mod:`aqnet.evaluation.cases` holds the torchmetrics that record them during the test
epoch (``CaseErrors``, ``ErrorMaps``, ``TestEvaluation`` are importable from here too, lazily).
"""

from __future__ import annotations

from typing import Any

from aqnet.evaluation.files import (
    CASE_COLUMNS,
    CASES_FILE,
    COUNTS_FILE,
    DAILY_FILE,
    MAPS_FILE,
    SOURCES,
    read_cases,
    read_maps,
    write_cases,
    write_maps,
)

_LAZY = ("CaseErrors", "ErrorMaps", "TestEvaluation")

__all__ = [
    "CASES_FILE",
    "CASE_COLUMNS",
    "COUNTS_FILE",
    "DAILY_FILE",
    "MAPS_FILE",
    "SOURCES",
    *_LAZY,
    "read_cases",
    "read_maps",
    "write_cases",
    "write_maps",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # torch-backed metrics: imported on first use only
        from aqnet.evaluation import cases

        return getattr(cases, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
