"""aqnet: physics-guided transformer forecasting of air quality."""

__version__ = "0.1.0"
