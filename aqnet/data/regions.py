"""The built-in regions: named lat/lon boxes (degrees, both ends included) of China's pollution hot spots.

One table, ``regions`` in conf/eval.yaml (packaged as ``aqnet.conf``), read here: ``aqnet-eval`` scores these
boxes by default, ``aqnet-compare`` summarises them and ``aqnet-data inspect --climate`` prints the benchmark's
realism figures for them. The boxes follow the usual definitions of the key regions of China's 2013 air-pollution
action plan (North China Plain, Yangtze and Pearl River deltas), the Sichuan basin and the Fenwei plain (2018).
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Collection, Mapping
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import yaml

from aqnet.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class RegionBox(NamedTuple):
    name: str  # letters, digits and _ (part of metric names)
    title: str
    lat: tuple[float, float]  # (south, north), degrees_north
    lon: tuple[float, float]  # (west, east), degrees_east

    @property
    def box(self) -> tuple[str, tuple[float, float], tuple[float, float]]:
        """(name, lat range, lon range): how the figures outline it (:data:`aqnet.plots.forecast.Box`)."""
        return self.name, self.lat, self.lon

    def mask(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """(lat, lon) boolean mask of the grid cells whose centres lie inside the box (numpy or torch)."""
        inside_lat = (lat >= self.lat[0]) & (lat <= self.lat[1])
        inside_lon = (lon >= self.lon[0]) & (lon <= self.lon[1])
        return inside_lat[:, None] & inside_lon[None, :]


def parse_regions(table: Mapping[str, Any] | None, reserved: Collection[str] = ()) -> list[RegionBox]:
    """``{name: {lat: [south, north], lon: [west, east]}}`` → boxes; one ConfigError line for a malformed entry.
    ``reserved``: names a region may not take (they would collide in metric names)."""
    out = []
    for name, box in (table or {}).items():
        if not _NAME.match(str(name)) or name in reserved:
            raise ConfigError(
                f"regions.{name}: a region name is letters, digits and _ (it becomes part of metric names)"
            )
        try:
            lat, lon = (tuple(float(x) for x in box[key]) for key in ("lat", "lon"))
        except (KeyError, TypeError, ValueError):
            lat = lon = ()
        if len(lat) != 2 or len(lon) != 2 or lat[0] > lat[1] or lon[0] > lon[1]:
            raise ConfigError(
                f"regions.{name}={dict(box) if isinstance(box, Mapping) else box}: expected "
                "{lat: [south, north], lon: [west, east]} in degrees, e.g. {lat: [28, 32.5], lon: [103, 108]}"
            )
        out.append(RegionBox(str(name), str(name).replace("_", " ").title(), lat, lon))  # type: ignore[arg-type]
    return out


@cache
def builtin_regions() -> tuple[RegionBox, ...]:
    """The regions of conf/eval.yaml, in its order; the title is the name in words."""
    text = (importlib.resources.files("aqnet.conf") / "eval.yaml").read_text(encoding="utf-8")
    return tuple(parse_regions(yaml.safe_load(text).get("regions")))


# Eastern China as the realism bands use it (annual-mean PM2.5 of the populated east).
EASTERN_CHINA = RegionBox("eastern_china", "eastern China", (22.0, 41.0), (110.0, 122.0))
