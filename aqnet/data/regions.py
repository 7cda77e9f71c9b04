"""The built-in regions: named lat/lon boxes (degrees, both ends included) of China's pollution hot spots.

One table, ``regions`` in conf/eval.yaml (packaged as ``aqnet.conf``), read here: ``aqnet-eval`` scores these
boxes by default, ``aqnet-compare`` summarises them and ``aqnet-data inspect --climate`` prints the benchmark's
realism figures for them. The boxes follow the usual definitions of the key regions of China's 2013 air-pollution
action plan (North China Plain, Yangtze and Pearl River deltas), the Sichuan basin and the Fenwei plain (2018).
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from typing import NamedTuple

import numpy as np
import yaml


class RegionBox(NamedTuple):
    name: str  # letters, digits and _ (part of metric names)
    title: str
    lat: tuple[float, float]  # (south, north), degrees_north
    lon: tuple[float, float]  # (west, east), degrees_east

    def mask(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """(lat, lon) boolean mask of the grid cells whose centres lie inside the box."""
        inside_lat = (lat >= self.lat[0]) & (lat <= self.lat[1])
        inside_lon = (lon >= self.lon[0]) & (lon <= self.lon[1])
        return inside_lat[:, None] & inside_lon[None, :]


@cache
def builtin_regions() -> tuple[RegionBox, ...]:
    """The regions of conf/eval.yaml, in its order; the title is the name in words."""
    text = (importlib.resources.files("aqnet.conf") / "eval.yaml").read_text(encoding="utf-8")
    table = yaml.safe_load(text).get("regions") or {}
    return tuple(
        RegionBox(name, name.replace("_", " ").title(), tuple(map(float, box["lat"])), tuple(map(float, box["lon"])))
        for name, box in table.items()
    )  # type: ignore[misc]


# Eastern China as the realism bands use it (annual-mean PM2.5 of the populated east).
EASTERN_CHINA = RegionBox("eastern_china", "eastern China", (22.0, 41.0), (110.0, 122.0))
