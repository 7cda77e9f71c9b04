"""Virtual stations of the built-in benchmark: a station store (:mod:`aqnet.data.stations`) at its real cities.

Each city inside the benchmark's box and on land becomes one station that reads the pollutants of the grid cell
holding it, times a mean-preserving lognormal representativeness error exp(σ·ε − σ²/2), ε ~ N(0, 1) per station
and time: a point monitor in a city sees more local variability than a 1° cell mean. The station's elevation is the
cell's. The store has the layout that ``aqnet-data convert`` writes from real station CSVs, so station scoring and
the point modality of masked pretraining read virtual and real networks alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.data.convert.writer import station_dataset, write_store
from aqnet.data.stations import STATION_KIND
from aqnet.data.store import open_dataset
from aqnet.data.synthetic.cities import CITIES
from aqnet.data.synthetic.writer import benchmark_attrs
from aqnet.errors import DataError
from aqnet.variables import POLLUTANTS


def write_virtual_stations(
    benchmark: str | Path, out: str | Path, noise: float = 0.1, seed: int = 0, overwrite: bool = False
) -> Path:
    """Sample the stations of ``benchmark`` (a benchmark store) into the station store ``out``; returns ``out``.

    ``noise``: σ of the lognormal representativeness error (0: the cell values exactly).
    """
    benchmark, out = Path(benchmark).expanduser().absolute(), Path(out).expanduser().absolute()
    if not noise >= 0:
        raise DataError(f"--noise {noise}: the representativeness error must be >= 0")
    attrs = benchmark_attrs(benchmark) if benchmark.exists() else None
    if attrs is None:
        raise DataError(f"{benchmark} is not an aqnet benchmark store; generate one with `aqnet-data synth`")
    ds, _ = open_dataset(benchmark)
    rows, cols, names = _city_cells(ds)
    at_stations = {"lat": ("station", rows), "lon": ("station", cols)}  # pointwise: only these cells are read
    rng = np.random.default_rng(seed)
    values, value_attrs = {}, {}
    for name in (p for p in POLLUTANTS if p in ds.data_vars):
        cells = ds[name].isel(at_stations).transpose("time", "station").values.astype(np.float64)  # µg m-3
        error = np.exp(noise * rng.standard_normal(cells.shape) - noise**2 / 2)
        values[name] = (cells * error).astype(np.float32)
        value_attrs[name] = {
            "units": ds[name].attrs.get("units", "µg m-3"),
            "aqnet_source": f"{benchmark.name} (aqnet benchmark, size {attrs.get('aqnet_size')})",
            "aqnet_conversion": f"the station's cell, instantaneous, x lognormal error sigma={noise} (seed {seed})",
        }
    elevation = ds["elevation"].values[rows, cols].astype(np.float64)
    lat, lon = ds["lat"].values[rows].astype(np.float64), ds["lon"].values[cols].astype(np.float64)
    points = station_dataset(ds["time"].values, np.array(names), lat, lon, elevation, values, value_attrs)
    points["elevation"].attrs["aqnet_source"] = "the benchmark cell's elevation"
    return write_store(points, out, overwrite, {"aqnet_store": STATION_KIND, "Conventions": "CF-1.8"})


def _city_cells(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Grid row, column and name of every city whose cell lies inside the grid and on land (one per cell)."""
    lat, lon = ds["lat"].values, ds["lon"].values
    dlat, dlon = abs(float(lat[1] - lat[0])), abs(float(lon[1] - lon[0]))
    land = ds["mask"].values.astype(bool) if "mask" in ds else np.ones((lat.size, lon.size), dtype=bool)
    cells: dict[tuple[int, int], str] = {}
    for city in sorted(CITIES, key=lambda c: -c.population_millions):  # the largest city of a cell names it
        i, j = int(np.abs(lat - city.lat).argmin()), int(np.abs(lon - city.lon).argmin())
        inside = abs(lat[i] - city.lat) <= dlat / 2 and abs(lon[j] - city.lon) <= dlon / 2
        if inside and land[i, j]:
            cells.setdefault((i, j), city.name)
    if not cells:
        raise DataError("no city of the benchmark lies inside its grid on land: no station to write")
    rows, cols = (np.array(index) for index in zip(*cells, strict=True))
    return rows, cols, list(cells.values())
