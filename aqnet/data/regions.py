"""The built-in regions: named lat/lon boxes (degrees, both ends included) of China's pollution hot spots.

One table, used by ``aqnet-data inspect --climate`` (the benchmark's realism figures), by ``aqnet-eval`` (its
default ``regions``) and by ``aqnet-compare`` (region summaries). The boxes follow the usual definitions of the
key regions of China's air-pollution action plan (2013) and of the Fenwei plain added in 2018.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


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


REGIONS: tuple[RegionBox, ...] = (
    RegionBox("sichuan_basin", "Sichuan basin", (28.0, 32.5), (103.0, 108.0)),
    RegionBox("north_china_plain", "North China Plain", (34.0, 41.0), (113.0, 120.0)),
    RegionBox("yangtze_river_delta", "Yangtze River Delta", (29.5, 32.5), (118.0, 122.5)),
    RegionBox("pearl_river_delta", "Pearl River Delta", (21.5, 24.0), (112.0, 115.5)),
    RegionBox("fenwei_plain", "Fenwei plain", (33.8, 37.0), (106.5, 112.5)),
)
# Eastern China as the realism bands use it (annual-mean PM2.5 of the populated east).
EASTERN_CHINA = RegionBox("eastern_china", "eastern China", (22.0, 41.0), (110.0, 122.0))


def region_config() -> dict[str, dict[str, list[float]]]:
    """The built-in regions as ``aqnet-eval``'s ``regions`` mapping ``{name: {lat: [a, b], lon: [c, d]}}``."""
    return {r.name: {"lat": list(r.lat), "lon": list(r.lon)} for r in REGIONS}
