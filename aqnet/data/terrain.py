"""Real terrain for the benchmark: pvlib's bundled global elevation grid, regridded by area averaging.

Source: ``pvlib/data/Altitude.h5`` (dataset ``Altitude``), a uint8 grid of 2160 x 4320 cells at 1/12 degree
(derived from Mapzen terrain tiles). Row 0 is the band just south of 90N and column 0 the band just east of 180W;
metres = value * 28 - 450; 255 marks no data, which over the globe is the ocean. Ocean counts as 0 m.

Regridding averages the fine cells whose centres fall inside each target cell, weighted by cell area (cos lat),
so a coastal cell's elevation is its mean over land and sea. The land mask is land fraction >= 0.5; cells that end
up as sea get elevation exactly 0 m (never NaN), as the store contract requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from aqnet.errors import DataError

FINE_CELLS_PER_DEGREE = 12
NO_DATA = 255
METRES_PER_STEP = 28.0
METRES_OFFSET = -450.0


def altitude_file() -> Path:
    """Path of pvlib's bundled elevation grid."""
    import pvlib

    path = Path(pvlib.__file__).parent / "data" / "Altitude.h5"
    if not path.is_file():
        raise DataError(f"pvlib's elevation grid is missing at {path}; reinstall pvlib (>= 0.11)")
    return path


@lru_cache(maxsize=1)
def load_altitude() -> tuple[np.ndarray, np.ndarray]:
    """The global 1/12-degree grid as (elevation in metres float32 with sea = 0, land bool); read once per process."""
    import h5py

    with h5py.File(altitude_file(), "r") as handle:
        raw = handle["Altitude"][:]
    land = raw != NO_DATA
    elevation = np.where(land, raw.astype(np.float32) * METRES_PER_STEP + METRES_OFFSET, 0.0).astype(np.float32)
    elevation.setflags(write=False)
    land.setflags(write=False)
    return elevation, land


def _fine_index(lat: np.ndarray | float, lon: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Row/column of the fine cell containing (lat, lon); longitudes wrap, latitudes clip at the poles."""
    n_rows, n_cols = 180 * FINE_CELLS_PER_DEGREE, 360 * FINE_CELLS_PER_DEGREE
    row = np.floor((90.0 - np.asarray(lat, dtype=np.float64)) * FINE_CELLS_PER_DEGREE).astype(np.int64)
    col = np.floor((np.asarray(lon, dtype=np.float64) + 180.0) * FINE_CELLS_PER_DEGREE).astype(np.int64)
    return np.clip(row, 0, n_rows - 1), np.mod(col, n_cols)


def elevation_at(lat: float, lon: float) -> float:
    """Elevation (m) of the fine cell containing a point; 0 over the sea (as pvlib.location.lookup_altitude)."""
    elevation, _ = load_altitude()
    row, col = _fine_index(lat, lon)
    return float(elevation[row, col])


@dataclass(frozen=True)
class Terrain:
    """Terrain on a model grid: every array is (lat, lon), float32 unless said otherwise."""

    elevation: np.ndarray  # m, area mean with sea = 0; exactly 0 where mask == 0
    land_fraction: np.ndarray  # 0..1
    mask: np.ndarray  # uint8, 1 = land (land fraction >= 0.5)
    roughness: np.ndarray  # m, sub-grid standard deviation of elevation (drives orographic drag)


def _edges(centres: np.ndarray, name: str) -> np.ndarray:
    if centres.ndim != 1 or centres.size < 2 or np.any(np.diff(centres) <= 0):
        raise DataError(f"{name} centres must be 1-D, ascending and at least 2 long to regrid terrain")
    mids = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[centres[0] - (mids[0] - centres[0])], mids, [centres[-1] + (centres[-1] - mids[-1])]])


def regrid_terrain(lat_centres: np.ndarray, lon_centres: np.ndarray) -> Terrain:
    """Area-average the 1/12-degree grid onto cells with the given centres (1-D, ascending, degrees)."""
    lat_centres = np.asarray(lat_centres, dtype=np.float64)
    lon_centres = np.asarray(lon_centres, dtype=np.float64)
    lat_edges, lon_edges = _edges(lat_centres, "latitude"), _edges(lon_centres, "longitude")
    if lat_edges[0] < -90 or lat_edges[-1] > 90:
        raise DataError(f"latitude cells span {lat_edges[0]:.2f}..{lat_edges[-1]:.2f}; keep them within -90..90")
    elevation, land = load_altitude()
    step = 1.0 / FINE_CELLS_PER_DEGREE

    # Fine cells whose centres lie inside the box, as one contiguous (possibly wrapped) block.
    fine_lat = 90.0 - (np.arange(elevation.shape[0]) + 0.5) * step
    rows = np.nonzero((fine_lat >= lat_edges[0]) & (fine_lat < lat_edges[-1]))[0]
    fine_lon_all = -180.0 + (np.arange(elevation.shape[1]) + 0.5) * step
    first = np.ceil((lon_edges[0] - fine_lon_all[0]) / step)
    last = np.floor((lon_edges[-1] - fine_lon_all[0]) / step - 1e-9)
    cols_unwrapped = np.arange(int(first), int(last) + 1)
    cols = np.mod(cols_unwrapped, elevation.shape[1])
    fine_lon = fine_lon_all[0] + cols_unwrapped * step

    n_lat, n_lon = lat_centres.size, lon_centres.size
    target_row = np.searchsorted(lat_edges, fine_lat[rows], side="right") - 1
    target_col = np.searchsorted(lon_edges, fine_lon, side="right") - 1
    target = (np.clip(target_row, 0, n_lat - 1)[:, None] * n_lon + np.clip(target_col, 0, n_lon - 1)[None, :]).ravel()
    weight = np.broadcast_to(np.cos(np.deg2rad(fine_lat[rows]))[:, None], (rows.size, cols.size)).ravel()
    block_elev = elevation[np.ix_(rows, cols)].astype(np.float64).ravel()
    block_land = land[np.ix_(rows, cols)].astype(np.float64).ravel()

    n_cells = n_lat * n_lon
    total_weight = np.bincount(target, weight, minlength=n_cells)
    mean_elev = np.bincount(target, weight * block_elev, minlength=n_cells)
    mean_sq = np.bincount(target, weight * block_elev**2, minlength=n_cells)
    land_frac = np.bincount(target, weight * block_land, minlength=n_cells)
    covered = total_weight > 0
    mean_elev[covered] /= total_weight[covered]
    mean_sq[covered] /= total_weight[covered]
    land_frac[covered] /= total_weight[covered]

    if not covered.all():  # target cells finer than 1/12 degree: take the fine cell under the centre
        lat2d, lon2d = np.meshgrid(lat_centres, lon_centres, indexing="ij")
        r, c = _fine_index(lat2d.ravel()[~covered], lon2d.ravel()[~covered])
        mean_elev[~covered] = elevation[r, c]
        mean_sq[~covered] = elevation[r, c].astype(np.float64) ** 2
        land_frac[~covered] = land[r, c]

    shape = (n_lat, n_lon)
    mask = (land_frac >= 0.5).reshape(shape)
    roughness = np.sqrt(np.maximum(mean_sq - mean_elev**2, 0.0)).reshape(shape)
    elev = np.where(mask, mean_elev.reshape(shape), 0.0)
    return Terrain(
        elevation=elev.astype(np.float32),
        land_fraction=land_frac.reshape(shape).astype(np.float32),
        mask=mask.astype(np.uint8),
        roughness=np.where(mask, roughness, 0.0).astype(np.float32),
    )


def regrid_elevation(lat_centres: np.ndarray, lon_centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(elevation in m, land mask uint8) on the grid of the given 1-D ascending cell centres."""
    terrain = regrid_terrain(lat_centres, lon_centres)
    return terrain.elevation, terrain.mask
