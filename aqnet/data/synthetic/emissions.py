"""Population and emissions from real city locations and sizes (``cities``), rural density and industrial sources.

Cities are Gaussian population blobs of their real size at their real place (``cities.CITIES``); rural density
falls toward the arid west and the north, and above ~2500 m (the Tibetan plateau), but not with height below it:
the Sichuan basin floor, the Loess and Yunnan-Guizhou plateaus and the Shanxi valleys are farmed and lived in.
Area emissions scale with population through per-capita rates of the order of China's 2013 inventories, with
diurnal (traffic, residential) and winter heating cycles (north of the Huai river, ~33N); coal power, steel and
coking plants sit around the industrial bases (``cities.INDUSTRIAL``), a few around other large cities; dust
(coarse PM, some fine) is lifted by strong winds over arid, empty land. Plant sizes and positions are drawn from
the seed; nothing here is an emission inventory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from aqnet.data.synthetic.cities import CITIES, INDUSTRIAL
from aqnet.data.synthetic.grid import Grid

SPECIES: tuple[str, ...] = ("pm25", "coarse", "so2", "no2", "co", "o3")  # coarse = PM10 - PM2.5
# Free-tropospheric / boundary-inflow concentrations (ug m-3): what ventilation and inflow relax toward.
BACKGROUND: dict[str, float] = {"pm25": 8.0, "coarse": 6.0, "so2": 2.0, "no2": 3.0, "co": 200.0, "o3": 80.0}
PER_CAPITA_KG_PER_YEAR: dict[str, float] = {"pm25": 2.8, "coarse": 1.5, "so2": 2.8, "no2": 5.5, "co": 45.0}
SOUTH_FACTOR = 0.45  # per-capita emissions south of the heating line, relative to the coal-heavy north
PLANT_KT_PER_YEAR: dict[str, float] = {"so2": 25.0, "no2": 15.0, "pm25": 2.0}  # median of a lognormal per plant
HEATING_SHARE: dict[str, float] = {"pm25": 0.9, "coarse": 0.2, "so2": 0.8, "no2": 0.2, "co": 1.0}
SECONDS_PER_YEAR = 365.25 * 86400
KG_TO_UG = 1e9
DUST_COEFFICIENT = 0.3  # ug m-2 s-1 per (m s-1)^3 above the threshold
DUST_THRESHOLD = 5.0  # m s-1, near-surface wind that starts lifting dust


def city_population(grid: Grid) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """Persons per km2 on the grid (float64): rural density plus the real cities inside the box; and the cells
    (row, col, millions) of those cities."""
    terrain = grid.terrain
    land = terrain.mask.astype(np.float64)
    lat2d, lon2d = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    east = 1 / (1 + np.exp(-(lon2d - 104.0) / 3.5))  # the populous east of the Hu line
    arid = 1 / (1 + np.exp((lon2d - 106.0) / 4.0)) * 1 / (1 + np.exp(-(lat2d - 35.0) / 2.0))
    plateau = 1 / (1 + np.exp((np.clip(terrain.elevation, 0, None) - 2500.0) / 300.0))
    north = 1 - 0.5 * np.clip((lat2d - 42) / 6, 0, 1)
    rural = land * (8.0 + 280.0 * east**1.5 * plateau * (1 - 0.7 * arid)) * north

    cell_km2 = grid.cell_area / 1e6
    res = grid.resolution_deg
    km_per_deg = 111.2
    population = rural.copy()
    placed: list[tuple[int, int, float]] = []
    lat_lo, lat_hi = grid.lat[0] - res / 2, grid.lat[-1] + res / 2
    lon_lo, lon_hi = grid.lon[0] - res / 2, grid.lon[-1] + res / 2
    for city in CITIES:
        if not (lat_lo <= city.lat <= lat_hi and lon_lo <= city.lon <= lon_hi):
            continue
        total = city.population_millions * 1e6
        radius = 10.0 * city.population_millions**0.45  # km
        d_north = (lat2d - city.lat) * km_per_deg
        d_east = (lon2d - city.lon) * km_per_deg * math.cos(math.radians(city.lat))
        # A city narrower than a cell still spreads over the neighbouring cells a little (sub-grid suburbs).
        sigma = max(radius, 0.6 * res * km_per_deg)
        blob = np.exp(-(d_north**2 + d_east**2) / (2 * sigma**2)) * land
        if blob.sum() > 0:
            population += total * blob / blob.sum() / cell_km2
            row, col = np.unravel_index(int(np.argmax(blob)), blob.shape)
            placed.append((int(row), int(col), city.population_millions if city.name in INDUSTRIAL else 0.0))
    return population, placed


@dataclass
class Emissions:
    population: np.ndarray  # (H, W) persons km-2
    area: torch.Tensor  # [S, H, W] ug m-2 s-1, annual-mean area sources (population-based)
    point: torch.Tensor  # [S, H, W] ug m-2 s-1, power plants
    heating: torch.Tensor  # [S, H, W] share of area emissions that follows the winter heating season
    erodibility: torch.Tensor  # [H, W] 0..1, dust source strength
    local_hour_offset: torch.Tensor  # [H, W] hours to add to UTC for local solar time
    plant_cells: np.ndarray  # (P, 2) row, col

    def rate(self, hours: float, winter: float, wind_speed: torch.Tensor) -> torch.Tensor:
        """[B, S, H, W] ug m-2 s-1 at ``hours`` after Jan 1 00 UTC; ``wind_speed`` [B, H, W] lifts dust."""
        local = (hours + self.local_hour_offset) % 24.0
        # Traffic and residential: morning and evening peaks, quiet small hours.
        diurnal = (
            1.0
            + 0.25 * torch.cos(2 * math.pi * (local - 8.0) / 12.0)
            + 0.2 * torch.cos(2 * math.pi * (local - 14.0) / 24.0)
        )
        seasonal = 1.0 + self.heating * max(winter, 0.0)
        area = self.area * diurnal * seasonal
        point = self.point * (1.0 + 0.1 * torch.cos(2 * math.pi * (local - 14.0) / 24.0))
        total = (area + point)[None].expand(wind_speed.shape[0], -1, -1, -1).clone()
        dust = DUST_COEFFICIENT * self.erodibility * (wind_speed - DUST_THRESHOLD).clamp(min=0) ** 3
        total[:, SPECIES.index("coarse")] += 0.85 * dust
        total[:, SPECIES.index("pm25")] += 0.15 * dust
        return total


def build_emissions(
    grid: Grid, rng: np.random.Generator, n_plants: int, dtype: torch.dtype = torch.float32
) -> Emissions:
    population, placed = city_population(grid)
    shape = grid.shape
    lat2d = grid.lat2d.astype(np.float64)
    heated_north = 1 / (1 + np.exp(-(lat2d - 33.0) / 1.5))  # China's heating line is the Huai river, ~33N
    # ug m-2 s-1 per (kg per person per year); the north burns more coal per person (industry, heating).
    per_capita_rate = (
        population / 1e6 * KG_TO_UG / SECONDS_PER_YEAR * (SOUTH_FACTOR + (1 - SOUTH_FACTOR) * heated_north)
    )
    area = np.zeros((len(SPECIES), *shape))
    for name, kg in PER_CAPITA_KG_PER_YEAR.items():
        area[SPECIES.index(name)] = kg * per_capita_rate

    # Plants sit around the industrial bases (weighted by their size), a fifth around other large population
    # centres; never in the city centre's cell exactly (a jitter of a cell).
    weights = np.zeros(shape)
    for row, col, millions in placed:
        weights[row, col] += millions**0.5
    weights = weights / max(weights.sum(), 1e-12) * 0.8 + (population**1.5) / (population**1.5).sum() * 0.2
    weights = weights.ravel()
    cells = rng.choice(weights.size, size=n_plants, replace=True, p=weights / weights.sum())
    rows = np.clip(cells // shape[1] + rng.integers(-1, 2, n_plants), 0, shape[0] - 1)
    cols = np.clip(cells % shape[1] + rng.integers(-1, 2, n_plants), 0, shape[1] - 1)
    point = np.zeros_like(area)
    cell_area = grid.cell_area
    scale = rng.lognormal(0.0, 0.6, n_plants)
    for name, kt in PLANT_KT_PER_YEAR.items():
        rate = kt * 1e6 * KG_TO_UG / SECONDS_PER_YEAR * scale  # ug s-1
        np.add.at(point[SPECIES.index(name)], (rows, cols), rate / cell_area[rows, cols])

    heating = np.zeros_like(area)
    for name, share in HEATING_SHARE.items():
        heating[SPECIES.index(name)] = share * heated_north

    lon2d = grid.lon2d.astype(np.float64)
    aridity = 1 / (1 + np.exp((lon2d - 106.0) / 4.0)) * 1 / (1 + np.exp(-(lat2d - 35.0) / 2.0))
    erodibility = grid.terrain.mask * aridity * np.exp(-population / 30.0)

    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
    return Emissions(
        population=population,
        area=t(area),
        point=t(point),
        heating=t(heating),
        erodibility=t(erodibility),
        local_hour_offset=t(lon2d / 15.0),
        plant_cells=np.stack([rows, cols], axis=1),
    )
