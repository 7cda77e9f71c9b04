"""The ClimaX-style forecaster and its parts (see :mod:`aqnet.models.climax`)."""

from aqnet.models.climax import (
    BackboneConfig,
    Forecaster,
    ModelConfigError,
    climax_base,
    count_forecaster_parameters,
    count_parameters,
)
from aqnet.models.normaliser import Normaliser

__all__ = [
    "BackboneConfig",
    "Forecaster",
    "ModelConfigError",
    "Normaliser",
    "climax_base",
    "count_forecaster_parameters",
    "count_parameters",
]
