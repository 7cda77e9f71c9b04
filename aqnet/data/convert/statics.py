"""Static fields: elevation (a source's own, a GeoTIFF / netCDF DEM, or pvlib's global grid) and population.

- GeoTIFF: north-up rasters in geographic coordinates (GeoKeys: GTModelType = geographic, EPSG:4326 / WGS 84),
  georeferenced by ModelPixelScale + ModelTiepoint, PixelIsArea or PixelIsPoint, GDAL_NODATA honoured; only the
  window around the target grid is read (tifffile's zarr view).
- netCDF DEM: the first variable named elevation / z / height / altitude / orog / topo / Band1, in metres.
- pvlib: ``pvlib/data/Altitude.h5`` area-averaged onto the grid (:mod:`aqnet.data.terrain`), sea = 0 m.
- Population from a WorldPop-style GeoTIFF: persons km-2 (``_pd_`` rasters) used as is; persons per pixel
  (``_ppp_`` rasters) divided by the pixel's area on the sphere; no data (the sea) counts as 0 persons.
Both are area-averaged onto the grid (conservative).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.data.convert.common import normalise_grid, provenance
from aqnet.data.convert.era5 import open_netcdf
from aqnet.data.convert.regrid import Grid, cell_area_km2, regrid
from aqnet.errors import DataError

__all__ = ["read_geotiff", "elevation_field", "population_field", "is_tiff", "POPULATION_UNITS"]

_DEM_NAMES = ("elevation", "z", "height", "altitude", "orog", "topo", "Band1")
POPULATION_UNITS = ("per-km2", "per-pixel")


def is_tiff(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def read_geotiff(path: Path, grid: Grid | None = None) -> xr.DataArray:
    """(lat, lon) cell-centre field of band 1, NaN where no data; cropped to ``grid`` plus a margin when given."""
    import tifffile
    import zarr

    try:
        with tifffile.TiffFile(path) as tif:
            meta = tif.geotiff_metadata or {}
            page = tif.pages[0]
            nodata = page.tags.get(42113)
            shape = page.shape[:2]
            scale, tie = meta.get("ModelPixelScale"), meta.get("ModelTiepoint")
            if scale is None or tie is None:
                raise DataError(f"GeoTIFF {path} has no ModelPixelScale/ModelTiepoint tags: it is not georeferenced")
            if int(meta.get("GTModelTypeGeoKey", 2)) != 2:
                raise DataError(f"GeoTIFF {path} is in a projected CRS; reproject it to EPSG:4326 (lat/lon) first")
            point = int(meta.get("GTRasterTypeGeoKey", 1)) == 2
            half = 0.0 if point else 0.5
            lon = tie[3] + (np.arange(shape[1]) + half - tie[0]) * scale[0]
            lat = tie[4] - (np.arange(shape[0]) + half - tie[1]) * scale[1]
            rows, cols = slice(None), slice(None)
            if grid is not None:
                margin = max(np.diff(grid.lat).max(), np.diff(grid.lon).max()) + 2 * max(scale[0], scale[1])
                r = np.flatnonzero((lat >= grid.lat[0] - margin) & (lat <= grid.lat[-1] + margin))
                c = np.flatnonzero((lon >= grid.lon[0] - margin) & (lon <= grid.lon[-1] + margin))
                if not len(r) or not len(c):
                    r, c = np.arange(min(2, shape[0])), np.arange(min(2, shape[1]))
                rows, cols = slice(r[0], r[-1] + 1), slice(c[0], c[-1] + 1)
            values = np.asarray(zarr.open(tif.aszarr(), mode="r")[rows, cols], dtype=np.float64)
    except (tifffile.TiffFileError, OSError, ValueError) as err:
        raise DataError(f"cannot read GeoTIFF {path}: {type(err).__name__}: {err}") from None
    if values.ndim != 2:
        values = values[..., 0]
    if nodata is not None:
        values[values == float(str(nodata.value).strip("\x00"))] = np.nan
    arr = xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat[rows], "lon": lon[cols]})
    return arr.sortby("lat")


def _dem_netcdf(path: Path) -> xr.DataArray:
    ds = open_netcdf(path)
    for name in _DEM_NAMES:
        if name in ds.data_vars:
            arr = normalise_grid(ds[[name]], f"DEM {path.name}")[name]
            arr = arr.isel(time=0, drop=True) if "time" in arr.dims else arr
            unit = str(arr.attrs.get("units", "m")).strip()
            if unit not in ("m", "metre", "metres", "meter", "meters"):
                raise DataError(f"DEM {path}: variable {name} has unit {unit!r}; expected metres")
            return arr
    raise DataError(
        f"DEM {path}: no variable named {', '.join(_DEM_NAMES)}; it has {', '.join(map(str, ds.data_vars))}"
    )


def elevation_field(spec: str, grid: Grid) -> xr.DataArray:
    """``--elevation pvlib`` or a GeoTIFF / netCDF DEM file, area-averaged onto ``grid`` (m, sea = 0)."""
    if spec == "pvlib":
        from aqnet.data.terrain import regrid_elevation

        elevation, _ = regrid_elevation(grid.lat, grid.lon)
        arr = xr.DataArray(elevation, dims=("lat", "lon"), coords={"lat": grid.lat, "lon": grid.lon})
        return provenance(
            arr, "elevation", [Path("pvlib/data/Altitude.h5")], "area mean of pvlib's 1/12° grid, sea = 0"
        )
    path = Path(spec).expanduser()
    if not path.is_file():
        raise DataError(f"--elevation {spec}: neither 'pvlib' nor an existing GeoTIFF / netCDF file")
    raw = read_geotiff(path, grid) if is_tiff(path) else _dem_netcdf(path)
    raw = raw.fillna(0.0)  # no data in a DEM is the sea
    done, methods = regrid(xr.Dataset({"elevation": raw}), grid, f"DEM {path.name}")
    return provenance(done["elevation"], "elevation", [path], f"DEM, no data = 0 m; {methods['elevation']}")


def population_field(path: Path, grid: Grid, units: str | None = None) -> xr.DataArray:
    """Population density (persons km-2) on ``grid`` from a WorldPop-style GeoTIFF."""
    if not path.is_file() or not is_tiff(path):
        raise DataError(f"--population {path}: not a GeoTIFF file")
    units = units or ("per-km2" if "_pd_" in path.name else "per-pixel" if "_ppp_" in path.name else None)
    if units not in POPULATION_UNITS:
        raise DataError(
            f"--population {path.name}: cannot tell persons per pixel from persons per km2 by the name; "
            "pass --population-units per-pixel or per-km2"
        )
    raw = read_geotiff(path, grid).fillna(0.0)
    what = "persons km-2 as is"
    if units == "per-pixel":
        raw = raw / cell_area_km2(raw["lat"].values, raw["lon"].values)
        what = "persons per pixel / pixel area (km2, sphere)"
    done, methods = regrid(xr.Dataset({"population": raw}), grid, f"population {path.name}")
    return provenance(done["population"], "population", [path], f"{what}; no data = 0; {methods['population']}")
