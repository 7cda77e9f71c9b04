"""The target grid and regridding onto it (rectilinear lat/lon grids, no ESMF).

Conservative for concentrations and the static fields that are area means (pollutants, population density,
elevation, the mask): each target cell is the area-weighted mean of the source cells it overlaps, with overlaps
exact on the sphere (separable: in sin(latitude) along latitude, in degrees along longitude), NaN cells left out
of the mean. xarray-regrid's conservative scheme measures latitude overlaps in degrees and misses the area
integral by about 2e-6 on a 0.3° -> 0.5° case; these exact weights keep it to rounding (tested to 1e-6).
Bilinear (xarray's ``interp``) for winds and state variables (u, v, temp, rh, psfc). A source that already has
the target's cell centres is only cropped. Every source must cover the target cells (edges included): a grid that
does not is an error, never an extrapolation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.errors import DataError

__all__ = ["Grid", "Box", "cell_edges", "target_grid", "regrid", "conservative", "overlaps", "CONSERVATIVE"]

CONSERVATIVE = ("pm25", "pm10", "so2", "no2", "co", "o3", "population", "elevation", "mask")
_STEP = re.compile(r"^(\d+(?:\.\d*)?)(?:x(\d+(?:\.\d*)?))?$")


@dataclass(frozen=True)
class Box:
    """A lat/lon box in degrees (south, north, west, east); the cells of the target grid lie inside it."""

    lat0: float
    lat1: float
    lon0: float
    lon1: float

    def __post_init__(self) -> None:
        if not (-90 <= self.lat0 < self.lat1 <= 90 and -180 <= self.lon0 < self.lon1 <= 180):
            raise DataError(f"--box {self.text}: expected LAT0 < LAT1 in -90..90 and LON0 < LON1 in -180..180")

    @property
    def text(self) -> str:
        return f"{self.lat0:g} {self.lat1:g} {self.lon0:g} {self.lon1:g}"


@dataclass(frozen=True)
class Grid:
    lat: np.ndarray  # cell centres, ascending
    lon: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.lat), len(self.lon)

    def dataset(self) -> xr.Dataset:
        return xr.Dataset(coords={"lat": ("lat", self.lat), "lon": ("lon", self.lon)})

    def crop(self, box: Box | None) -> Grid:
        if box is None:
            return self
        lat_edges, lon_edges = cell_edges(self.lat), cell_edges(self.lon)
        keep_lat = (lat_edges[:-1] >= box.lat0 - 1e-9) & (lat_edges[1:] <= box.lat1 + 1e-9)
        keep_lon = (lon_edges[:-1] >= box.lon0 - 1e-9) & (lon_edges[1:] <= box.lon1 + 1e-9)
        if keep_lat.sum() < 2 or keep_lon.sum() < 2:
            raise DataError(f"--box {box.text} holds fewer than 2x2 cells of the grid; widen it")
        return Grid(self.lat[keep_lat], self.lon[keep_lon])


def cell_edges(centres: np.ndarray) -> np.ndarray:
    centres = np.asarray(centres, dtype=np.float64)
    if len(centres) < 2:
        raise DataError("a grid needs at least 2 cells along latitude and longitude")
    mids = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


def _grid_of(ds: xr.Dataset | xr.DataArray) -> Grid:
    return Grid(np.asarray(ds["lat"].values, dtype=np.float64), np.asarray(ds["lon"].values, dtype=np.float64))


def target_grid(spec: str | None, box: Box | None, first: xr.Dataset | None) -> Grid:
    """``--grid``: a cell size in degrees (``0.25`` or ``0.25x0.5``, over ``--box``), a store/netCDF whose
    lat/lon to use, or (None) the grid of the first gridded source, cropped to ``--box``."""
    if spec is None:
        if first is None:
            raise DataError("no gridded source to take the grid from; pass --grid and --box")
        return _grid_of(first).crop(box)
    match = _STEP.match(spec)
    if match:
        if box is None:
            raise DataError(f"--grid {spec}: a cell size needs --box LAT0 LAT1 LON0 LON1")
        dlat = float(match.group(1))
        dlon = float(match.group(2) or dlat)
        n_lat, n_lon = round((box.lat1 - box.lat0) / dlat), round((box.lon1 - box.lon0) / dlon)
        if n_lat < 2 or n_lon < 2 or dlat <= 0 or dlon <= 0:
            raise DataError(f"--grid {spec}: fewer than 2x2 cells in --box {box.text}")
        return Grid(box.lat0 + dlat * (np.arange(n_lat) + 0.5), box.lon0 + dlon * (np.arange(n_lon) + 0.5))
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"--grid {spec}: neither a cell size in degrees (e.g. 0.25) nor an existing store or file")
    from aqnet.data.convert.common import normalise_grid

    opened = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
    return _grid_of(normalise_grid(opened[[]].assign_coords(opened.coords), f"--grid {spec}")).crop(box)


def check_covers(source: xr.Dataset, grid: Grid, label: str) -> None:
    """DataError unless the source's cells cover every target cell."""
    src = _grid_of(source)
    lat_edges, lon_edges = cell_edges(src.lat), cell_edges(src.lon)
    want_lat, want_lon = cell_edges(grid.lat), cell_edges(grid.lon)
    tol = 1e-6 * max(np.abs(np.diff(lat_edges)).max(), np.abs(np.diff(lon_edges)).max())
    if (
        want_lat[0] < lat_edges[0] - tol
        or want_lat[-1] > lat_edges[-1] + tol
        or want_lon[0] < lon_edges[0] - tol
        or want_lon[-1] > lon_edges[-1] + tol
    ):
        raise DataError(
            f"{label} covers lat {lat_edges[0]:g}..{lat_edges[-1]:g}, lon {lon_edges[0]:g}..{lon_edges[-1]:g}, "
            f"which does not cover the target grid (lat {want_lat[0]:g}..{want_lat[-1]:g}, "
            f"lon {want_lon[0]:g}..{want_lon[-1]:g}); download a larger area or shrink --box"
        )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and bool(np.allclose(a, b, atol=1e-6))


def overlaps(source_edges: np.ndarray, target_edges: np.ndarray, latitude: bool) -> np.ndarray:
    """[target, source] overlap of cells (ascending edges): in sin(lat) for latitude (area), else in degrees."""
    measure = (lambda e: np.sin(np.deg2rad(e))) if latitude else (lambda e: e)
    s0, s1 = measure(source_edges[:-1]), measure(source_edges[1:])
    t0, t1 = measure(target_edges[:-1]), measure(target_edges[1:])
    return np.clip(np.minimum(t1[:, None], s1[None, :]) - np.maximum(t0[:, None], s0[None, :]), 0.0, None)


def conservative(ds: xr.Dataset, grid: Grid) -> xr.Dataset:
    """Area-weighted means over the overlapped source cells (NaN cells left out; no valid overlap -> NaN)."""
    src = _grid_of(ds)
    w_lat = xr.DataArray(overlaps(cell_edges(src.lat), cell_edges(grid.lat), True), dims=("lat_to", "lat"))
    w_lon = xr.DataArray(overlaps(cell_edges(src.lon), cell_edges(grid.lon), False), dims=("lon_to", "lon"))
    out = {}
    for name in ds.data_vars:
        x = ds[name].drop_vars(["lat", "lon"])
        valid = x.notnull().astype(np.float64)
        total = xr.dot(w_lat, x.fillna(0.0).astype(np.float64), w_lon, dim=("lat", "lon"))
        weight = xr.dot(w_lat, valid, w_lon, dim=("lat", "lon"))
        mean = (total / weight).where(weight > 0).rename(lat_to="lat", lon_to="lon")
        out[name] = mean.transpose(*ds[name].dims).assign_attrs(ds[name].attrs)
    return xr.Dataset(out).assign_coords(lat=grid.lat, lon=grid.lon)


def regrid(ds: xr.Dataset, grid: Grid, label: str) -> tuple[xr.Dataset, dict[str, str]]:
    """``ds`` on ``grid``: conservative or bilinear per variable (see the module doc); and the method used."""
    check_covers(ds, grid, label)
    src = _grid_of(ds)
    lat_pos = np.searchsorted(src.lat, grid.lat[0] - 1e-6), np.searchsorted(src.lat, grid.lat[-1] + 1e-6)
    lon_pos = np.searchsorted(src.lon, grid.lon[0] - 1e-6), np.searchsorted(src.lon, grid.lon[-1] + 1e-6)
    if _same(src.lat[slice(*lat_pos)], grid.lat) and _same(src.lon[slice(*lon_pos)], grid.lon):
        cropped = ds.isel(lat=slice(*lat_pos), lon=slice(*lon_pos)).assign_coords(lat=grid.lat, lon=grid.lon)
        return cropped, dict.fromkeys(map(str, ds.data_vars), "none (same cell centres; cropped)")
    margin = 2 * max(np.diff(src.lat).max(), np.diff(src.lon).max())  # source cells overlapping the target's edges
    lat_edges, lon_edges = cell_edges(grid.lat), cell_edges(grid.lon)
    ds = ds.sel(
        lat=slice(lat_edges[0] - margin, lat_edges[-1] + margin),
        lon=slice(lon_edges[0] - margin, lon_edges[-1] + margin),
    )
    if ds.chunks:
        ds = ds.chunk({"lat": -1, "lon": -1})
    out, methods = {}, {}
    area_means = [str(n) for n in ds.data_vars if n in CONSERVATIVE]
    states = [str(n) for n in ds.data_vars if n not in CONSERVATIVE]
    if area_means:
        out.update(conservative(ds[area_means], grid).data_vars)
        methods.update(dict.fromkeys(area_means, "conservative (exact cell overlaps on the sphere)"))
    if states:
        done = ds[states].interp(lat=grid.lat, lon=grid.lon, method="linear")
        out.update({n: done[n].assign_attrs(ds[n].attrs) for n in states})
        methods.update(dict.fromkeys(states, "bilinear"))
    return xr.Dataset(out).assign_coords(lat=grid.lat, lon=grid.lon), methods


def cell_area_km2(lat: Sequence[float], lon: Sequence[float]) -> np.ndarray:
    """[lat, lon] areas of cells with these centres on a sphere of radius 6371.0088 km (the IUGG mean radius)."""
    radius = 6371.0088
    lat_edges, lon_edges = np.deg2rad(cell_edges(np.asarray(lat))), np.deg2rad(cell_edges(np.asarray(lon)))
    band = np.abs(np.diff(np.sin(lat_edges)))
    return radius**2 * band[:, None] * np.abs(np.diff(lon_edges))[None, :]
