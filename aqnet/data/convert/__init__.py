"""``aqnet-data convert``: files as the data centres deliver them -> one aqnet store (docs/data.md).

Each source is recognised by its content (:func:`classify`), read by its module into a :class:`Part` in canonical
names and units, regridded onto the target grid (:mod:`.regrid`), put on one time axis (:mod:`.merge`), joined by
the static fields (:mod:`.statics`) and written in the loader's layout (:mod:`.writer`). Station CSVs make a point
store instead (:mod:`aqnet.data.stations`). Every check that can fail runs before anything is written.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from aqnet.data.convert.cams import AEROSOLS, GASES, read_cams
from aqnet.data.convert.caqra import read_caqra
from aqnet.data.convert.common import Part, provenance
from aqnet.data.convert.era5 import KNOWN as ERA5_NAMES
from aqnet.data.convert.era5 import extract_zip, is_grib, open_grib, open_netcdf, read_era5
from aqnet.data.convert.merge import common_times, on_times, parse_step
from aqnet.data.convert.regrid import Box, Grid, regrid, target_grid
from aqnet.data.convert.statics import elevation_field, is_tiff, population_field
from aqnet.data.convert.stations import HOURLY, UNITS, is_station_csv, read_station_csvs, read_station_table
from aqnet.data.convert.writer import CONVERTED_KIND, check_target, station_dataset, write_store
from aqnet.data.stations import STATION_KIND
from aqnet.errors import DataError

__all__ = ["convert", "classify", "Conversion"]

KINDS = ("era5", "cams", "zarr", "stations")
_READERS = {"era5": read_era5, "cams": read_cams, "zarr": read_caqra}


@dataclass
class Conversion:
    """What was written: the store, its shape, and one line per variable saying where it came from."""

    path: Path
    kind: str
    shape: dict[str, int]
    lines: list[str] = field(default_factory=list)


def _netcdf_kind(names: set[str]) -> str | None:
    if names & {*AEROSOLS, *GASES}:
        return "cams"
    return "era5" if names & set(ERA5_NAMES) else None


def _kind(path: Path, datasets: list[xr.Dataset]) -> str:
    """The one kind the datasets of a file (a zip's members) map to; DataError listing their variables if none."""
    kinds = {_netcdf_kind({str(v) for v in ds.data_vars}) for ds in datasets} - {None}
    if len(kinds) > 1:
        raise DataError(f"{path} mixes ERA5 and CAMS variables; give them as separate files")
    if not kinds:
        names = sorted({str(v) for ds in datasets for v in ds.data_vars})
        raise DataError(
            f"{path}: no variable maps to an aqnet variable; it has {', '.join(names) or 'none'}; "
            f"recognised: ERA5 {', '.join(ERA5_NAMES)}; CAMS {', '.join((*AEROSOLS, *GASES))}"
        )
    return str(kinds.pop())


def classify(path: Path, workdir: Path) -> str:
    """The kind of one source (see :data:`KINDS`); DataError saying what was recognised otherwise."""
    if not path.exists():
        raise DataError(f"source {path} does not exist")
    if path.is_dir():
        return "zarr"
    if zipfile.is_zipfile(path):
        return _kind(path, [open_netcdf(m) for m in extract_zip(path, workdir)])
    if is_grib(path):
        return _kind(path, [open_grib(path)])
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic[:3] == b"CDF" or magic[:4] == b"\x89HDF":
        return _kind(path, [open_netcdf(path)])
    if is_tiff(path):
        raise DataError(f"{path} is a GeoTIFF: pass it as --elevation FILE or --population FILE")
    if path.suffix.lower() == ".csv" and is_station_csv(path):
        return "stations"
    raise DataError(
        f"unknown format of {path} (first bytes {magic[:4]!r}); recognised: a CDS/ADS zip, netCDF, GRIB, a zarr "
        "store directory, a station CSV (header date,hour,type,...)"
    )


def convert(
    sources: Sequence[Path],
    to: Path,
    grid: str | None = None,
    box: tuple[float, float, float, float] | None = None,
    years: Sequence[int] | None = None,
    step: str | None = None,
    elevation: str | None = None,
    population: Path | None = None,
    population_units: str | None = None,
    stations_table: Path | None = None,
    overwrite: bool = False,
    time_chunk: int = 1,
) -> Conversion:
    """Read, check, regrid, merge and write (see the module doc); returns what was written."""
    to = Path(to).expanduser().absolute()
    check_target(to, overwrite)
    if time_chunk < 1:
        raise DataError(f"--time-chunk {time_chunk}: must be at least 1 time step")
    with tempfile.TemporaryDirectory(prefix=".aqnet-convert-", dir=to.parent) as tmp:
        workdir = Path(tmp)
        by_kind: dict[str, list[Path]] = {}
        for source in sources:
            path = Path(source).expanduser().absolute()
            by_kind.setdefault(classify(path, workdir), []).append(path)
        if "stations" in by_kind:
            if len(by_kind) > 1:
                raise DataError("station CSVs make a point store of their own: convert them without gridded sources")
            return _stations(by_kind["stations"], to, stations_table, years, overwrite)
        parts = [_READERS[kind](files, workdir) for kind, files in by_kind.items()]
        spec = _Spec(grid, box, years, step, elevation, population, population_units, overwrite, time_chunk)
        return _gridded(parts, to, spec)


@dataclass(frozen=True)
class _Spec:
    """The gridded conversion's options (as the CLI names them)."""

    grid: str | None
    box: tuple[float, float, float, float] | None
    years: Sequence[int] | None
    step: str | None
    elevation: str | None
    population: Path | None
    population_units: str | None
    overwrite: bool
    time_chunk: int


def _gridded(parts: list[Part], to: Path, spec: _Spec) -> Conversion:
    elevation = spec.elevation
    seen: dict[str, str] = {}
    for part in parts:
        for name in part.data.data_vars:
            if name in seen and not (name == "elevation" and elevation):
                raise DataError(f"variable {name!r} comes from both {seen[name]} and {part.label}; give it once")
            seen[str(name)] = part.label
    target = target_grid(spec.grid, Box(*spec.box) if spec.box else None, parts[0].data)
    times = common_times(parts, parse_step(spec.step), spec.years)
    fields, methods = {}, {}
    for part in parts:
        keep = [n for n in part.data.data_vars if not (n == "elevation" and elevation)]
        statics = [n for n in keep if n not in part.dynamic]
        ds = xr.merge([on_times(part, times), part.data[statics]]) if part.dynamic else part.data[statics]
        done, how = regrid(ds[keep], target, part.label)
        fields.update({str(n): done[n] for n in done.data_vars})
        methods.update(how)
    fields["elevation"] = fields.get("elevation") if not elevation else elevation_field(elevation, target)
    if fields["elevation"] is None:
        fields["elevation"] = elevation_field("pvlib", target)
    if spec.population is not None:
        fields["population"] = population_field(Path(spec.population).expanduser(), target, spec.population_units)
    if "mask" in fields:  # an area fraction after regridding: scored where at least half the cell was
        fields["mask"] = (fields["mask"] >= 0.5).astype(np.float32).assign_attrs(fields["mask"].attrs)
    fields.update(_coordinates(target))
    for name, arr in fields.items():
        if name in methods:
            arr.attrs["aqnet_conversion"] += f"; regridding: {methods[name]}"
    ds = xr.Dataset(fields).assign_coords(time=times, lat=target.lat, lon=target.lon)
    attrs = {
        "aqnet_store": CONVERTED_KIND,
        "aqnet_sources": json.dumps([{"source": p.label, "files": [str(f) for f in p.files]} for p in parts]),
        "aqnet_notes": json.dumps([note for p in parts for note in p.notes]),
        "Conventions": "CF-1.8",
    }
    write_store(ds, to, spec.overwrite, attrs, spec.time_chunk)
    lines = [note for p in parts for note in p.notes]
    lines += [f"{n}: {ds[n].attrs['aqnet_source']}: {ds[n].attrs['aqnet_conversion']}" for n in ds.data_vars]
    return Conversion(to, CONVERTED_KIND, {k: int(v) for k, v in ds.sizes.items()}, lines)


def _coordinates(grid: Grid) -> dict[str, xr.DataArray]:
    lat2d, lon2d = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    coords = {"lat": grid.lat, "lon": grid.lon}
    return {
        name: provenance(
            xr.DataArray(v, dims=("lat", "lon"), coords=coords), name, [Path("target grid")], "cell centres"
        )
        for name, v in (("lat2d", lat2d), ("lon2d", lon2d))
    }


def _stations(
    files: list[Path], to: Path, table: Path | None, years: Sequence[int] | None, overwrite: bool
) -> Conversion:
    times, codes, values = read_station_csvs(files)
    lat, lon, elevation, elevation_source = read_station_table(table, codes)
    if years:
        keep = np.isin(times.astype("datetime64[Y]").astype(np.int64) + 1970, list(years))
        if not keep.any():
            raise DataError(f"the station CSVs have no hour in --years {' '.join(map(str, years))}")
        times, values = times[keep], {n: v[keep] for n, v in values.items()}
    attrs = {}
    for type_name, name in HOURLY.items():
        what = f"type {type_name} (1-hour mean, period ending); Beijing time - 8 h = UTC; {UNITS[name]} -> µg m-3"
        attrs[name] = {
            "units": "µg m-3",
            "aqnet_source": ", ".join(sorted(f.name for f in files)),
            "aqnet_conversion": what,
        }
    ds = station_dataset(times, codes, lat, lon, elevation, values, attrs)
    ds["elevation"].attrs["aqnet_source"] = elevation_source
    write_store(ds, to, overwrite, {"aqnet_store": STATION_KIND, "Conventions": "CF-1.8"})
    lines = [f"{n}: {int(np.isfinite(v).sum())} observations" for n, v in values.items()]
    return Conversion(to, STATION_KIND, {"time": len(times), "station": len(codes)}, lines)
