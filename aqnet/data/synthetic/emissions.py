"""Synthetic population and emissions (nothing here is an inventory: cities, plants and rates are drawn from the seed).

Cities are Gaussian population blobs with lognormal sizes, placed preferentially on low, eastern land (where the
real terrain allows it); rural density falls with elevation and toward the arid west. Area emissions scale with
population through per-capita rates of the order of China's 2013 inventories, with diurnal (traffic, residential)
and winter heating cycles; power plants near cities are SO2/NO2-heavy point sources; dust (coarse PM, some fine)
is lifted by strong winds over arid, empty land.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from aqnet.data.synthetic.grid import Grid

SPECIES: tuple[str, ...] = ("pm25", "coarse", "so2", "no2", "co", "o3")  # coarse = PM10 - PM2.5
# Free-tropospheric / boundary-inflow concentrations (ug m-3): what ventilation and inflow relax toward.
BACKGROUND: dict[str, float] = {"pm25": 8.0, "coarse": 6.0, "so2": 2.0, "no2": 3.0, "co": 200.0, "o3": 80.0}
PER_CAPITA_KG_PER_YEAR: dict[str, float] = {"pm25": 7.0, "coarse": 3.0, "so2": 8.0, "no2": 12.0, "co": 100.0}
PLANT_KT_PER_YEAR: dict[str, float] = {"so2": 60.0, "no2": 35.0, "pm25": 4.0}  # median of a lognormal per plant
HEATING_SHARE: dict[str, float] = {"pm25": 0.9, "coarse": 0.2, "so2": 0.8, "no2": 0.2, "co": 1.0}
SECONDS_PER_YEAR = 365.25 * 86400
KG_TO_UG = 1e9
DUST_COEFFICIENT = 0.3  # ug m-2 s-1 per (m s-1)^3 above the threshold
DUST_THRESHOLD = 5.0  # m s-1, near-surface wind that starts lifting dust


def synthetic_population(grid: Grid, rng: np.random.Generator, n_cities: int) -> np.ndarray:
    """Persons per km2 on the grid (float64): rural background plus lognormal-sized city blobs."""
    terrain = grid.terrain
    land = terrain.mask.astype(np.float64)
    lat2d, lon2d = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    east = 1 / (1 + np.exp(-(lon2d - 104.0) / 3.5))  # the populous east of the Hu line
    lowland = np.exp(-np.clip(terrain.elevation, 0, None) / 500.0)
    rural = land * (15.0 + 330.0 * east**1.5 * lowland) * (1 - 0.5 * np.clip((lat2d - 42) / 6, 0, 1))

    cell_km2 = grid.cell_area / 1e6
    weights = (land * lowland**2 * (0.05 + east**2)).ravel()
    cells = rng.choice(
        weights.size, size=min(n_cities, int((weights > 0).sum())), replace=False, p=weights / weights.sum()
    )
    res = grid.resolution_deg
    city_lat = grid.lat[cells // grid.lon.size] + rng.uniform(-0.5, 0.5, cells.size) * res
    city_lon = grid.lon[cells % grid.lon.size] + rng.uniform(-0.5, 0.5, cells.size) * res
    sizes = np.minimum(rng.lognormal(np.log(1.2e6), 1.0, cells.size), 2.5e7)
    # City population totals ~ rural totals (China is about half urban).
    sizes *= (rural * cell_km2).sum() * 1.1 / sizes.sum()
    radius_km = 10.0 * (sizes / 1e6) ** 0.45
    km_per_deg = 111.2
    population = rural.copy()
    for lat_c, lon_c, total, radius in zip(city_lat, city_lon, sizes, radius_km, strict=True):
        d_north = (lat2d - lat_c) * km_per_deg
        d_east = (lon2d - lon_c) * km_per_deg * math.cos(math.radians(lat_c))
        # A blob narrower than a cell still spreads over the neighbouring cells a little (sub-grid suburbs).
        sigma = max(radius, 0.6 * res * km_per_deg)
        blob = np.exp(-(d_north**2 + d_east**2) / (2 * sigma**2)) * land
        if blob.sum() > 0:
            population += total * blob / blob.sum() / cell_km2
    return population


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
    grid: Grid, rng: np.random.Generator, n_cities: int, n_plants: int, dtype: torch.dtype = torch.float32
) -> Emissions:
    population = synthetic_population(grid, rng, n_cities)
    shape = grid.shape
    per_capita_rate = population / 1e6 * KG_TO_UG / SECONDS_PER_YEAR  # ug m-2 s-1 per (kg per person per year)
    area = np.zeros((len(SPECIES), *shape))
    for name, kg in PER_CAPITA_KG_PER_YEAR.items():
        area[SPECIES.index(name)] = kg * per_capita_rate

    # Power plants sit near (not in) the larger population centres.
    weights = (population**1.5).ravel()
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
    lat2d = grid.lat2d.astype(np.float64)
    heated_north = 1 / (1 + np.exp(-(lat2d - 33.0) / 1.5))  # China's heating line is the Huai river, ~33N
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
