"""The networks and their parts: the ClimaX-style forecaster (:mod:`aqnet.models.climax`), its configs
(:mod:`aqnet.models.config`, light) and the model group's options (:mod:`aqnet.models.spec`, light).

The torch-backed names below are imported on first use, so that ``aqnet.models.config`` stays cheap to import.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Forecaster": "aqnet.models.climax",
    "ModelConfigError": "aqnet.models.climax",
    "climax_base": "aqnet.models.climax",
    "count_forecaster_parameters": "aqnet.models.climax",
    "count_parameters": "aqnet.models.climax",
    "Normaliser": "aqnet.models.normaliser",
    "BackboneConfig": "aqnet.models.config",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
