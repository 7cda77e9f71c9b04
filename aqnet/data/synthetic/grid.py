"""Benchmark sizes and the model grid (cell centres, metric spacing, real terrain)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aqnet.data.terrain import Terrain, regrid_terrain
from aqnet.errors import DataError

EARTH_RADIUS_M = 6.371e6
DEFAULT_BOX: tuple[float, float, float, float] = (18.0, 50.0, 73.0, 137.0)  # lat_min, lat_max, lon_min, lon_max
DEFAULT_YEARS: tuple[int, ...] = (2013, 2014, 2015, 2016, 2017, 2018)  # 2013-16 train, 2017 val, 2018 test


SEASONAL_WINDOWS: tuple[int, ...] = (0, 90, 181, 273)  # Jan 1, Apr 1, Jul 1, Oct 1 (day of the year, from 0)


@dataclass(frozen=True)
class BenchmarkSize:
    """One benchmark scale. Each year is ``len(window_starts)`` windows of ``days_per_window`` days, each from its
    own spin-up; output times per year = days_per_year * 24 / time_step_hours."""

    name: str
    resolution_deg: float  # grid spacing in both directions
    time_step_hours: int  # output interval
    days_per_window: int  # simulated (kept) days per window
    window_starts: tuple[int, ...]  # first day of each window (0 = Jan 1), increasing
    internal_step_minutes: int  # transport/chemistry step (the flux-form transport sub-steps itself to stay
    # monotone; the step is chosen for accuracy of the diurnal cycle)
    spinup_days: int  # simulated before each window from background concentrations, then discarded
    n_power_plants: int

    def __post_init__(self) -> None:
        if (self.time_step_hours * 60) % self.internal_step_minutes:
            raise DataError(f"size {self.name!r}: output step must be a multiple of the internal step")
        starts = self.window_starts
        if not starts or any(b < a + self.days_per_window for a, b in zip(starts, starts[1:], strict=False)):
            raise DataError(f"size {self.name!r}: windows {starts} of {self.days_per_window} days overlap")
        if starts[0] < 0 or starts[-1] + self.days_per_window > 365:
            raise DataError(f"size {self.name!r}: windows {starts} of {self.days_per_window} days exceed a year")

    @property
    def days_per_year(self) -> int:
        return self.days_per_window * len(self.window_starts)


SIZES: dict[str, BenchmarkSize] = {
    "tiny": BenchmarkSize("tiny", 1.0, 6, 15, SEASONAL_WINDOWS, 180, 4, 30),
    "small": BenchmarkSize("small", 0.5, 3, 30, SEASONAL_WINDOWS, 45, 5, 60),
    "full": BenchmarkSize("full", 0.25, 1, 365, (0,), 30, 7, 120),
}


def resolve_size(size: str | BenchmarkSize) -> BenchmarkSize:
    if isinstance(size, BenchmarkSize):
        return size
    if size not in SIZES:
        raise DataError(f"unknown benchmark size {size!r}; valid sizes: {', '.join(SIZES)}")
    return SIZES[size]


@dataclass(frozen=True)
class Grid:
    lat: np.ndarray  # (H,) ascending cell centres, degrees_north
    lon: np.ndarray  # (W,) ascending cell centres, degrees_east
    resolution_deg: float
    dy: float  # m, meridional cell size (uniform)
    dx: np.ndarray  # (H,) m, zonal cell size per row (shrinks poleward)
    terrain: Terrain

    @property
    def shape(self) -> tuple[int, int]:
        return self.lat.size, self.lon.size

    @property
    def cell_area(self) -> np.ndarray:
        """(H, W) m2."""
        return np.broadcast_to((self.dx * self.dy)[:, None], self.shape).copy()

    @property
    def lat2d(self) -> np.ndarray:
        return np.broadcast_to(self.lat[:, None], self.shape).astype(np.float32)

    @property
    def lon2d(self) -> np.ndarray:
        return np.broadcast_to(self.lon[None, :], self.shape).astype(np.float32)


def build_grid(resolution_deg: float, box: tuple[float, float, float, float] | None = None) -> Grid:
    """Cell-centred grid over ``box`` = (lat_min, lat_max, lon_min, lon_max) with real terrain."""
    lat_min, lat_max, lon_min, lon_max = box or DEFAULT_BOX
    if not (-90 <= lat_min < lat_max <= 90) or not (lon_min < lon_max <= lon_min + 360):
        raise DataError(f"box {box} must be (lat_min, lat_max, lon_min, lon_max) with min < max, within -90..90")
    n_lat = round((lat_max - lat_min) / resolution_deg)
    n_lon = round((lon_max - lon_min) / resolution_deg)
    if n_lat < 4 or n_lon < 4:
        raise DataError(f"box {box} holds fewer than 4x4 cells at {resolution_deg} degrees; enlarge it")
    lat = lat_min + (np.arange(n_lat) + 0.5) * resolution_deg
    lon = lon_min + (np.arange(n_lon) + 0.5) * resolution_deg
    step_m = EARTH_RADIUS_M * np.deg2rad(resolution_deg)
    dx = step_m * np.cos(np.deg2rad(lat))
    return Grid(lat=lat, lon=lon, resolution_deg=resolution_deg, dy=step_m, dx=dx, terrain=regrid_terrain(lat, lon))
