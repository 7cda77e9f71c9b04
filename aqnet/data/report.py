"""``inspect_store``: what a store holds (variables, units, grid, time blocks per year, NaN fraction, ranges)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aqnet.data.store import open_dataset, open_store
from aqnet.variables import VARIABLES

__all__ = ["StoreReport", "VariableReport", "YearBlock", "inspect_store"]


@dataclass(frozen=True)
class VariableReport:
    name: str
    units: str | None  # as in the store
    canonical_units: str | None  # None for variables aqnet does not know
    dims: tuple[str, ...]
    nan_fraction: float
    n_inf: int
    min: float | None  # canonical units when known, else store units
    max: float | None


@dataclass(frozen=True)
class YearBlock:
    year: int
    first: str
    last: str
    count: int
    step_hours: float | None  # median spacing inside the year


@dataclass(frozen=True)
class StoreReport:
    path: str
    fingerprint: str
    dims: dict[str, int]
    shape: tuple[int, int, int]  # (time, lat, lon)
    lat_range: tuple[float, float]
    lon_range: tuple[float, float]
    layout_notes: tuple[str, ...]
    years: tuple[YearBlock, ...]
    variables: tuple[VariableReport, ...] = field(default_factory=tuple)
    has_mask: bool = False

    def format(self) -> str:
        """A readable multi-line text table (rich, rendered without colour)."""
        from rich.console import Console
        from rich.table import Table

        out = io.StringIO()
        console = Console(file=out, width=120, color_system=None, force_terminal=False)
        console.print(f"store  {self.path}")
        console.print(
            f"grid   time={self.shape[0]} lat={self.shape[1]} lon={self.shape[2]}  "
            f"lat {self.lat_range[0]:g}..{self.lat_range[1]:g}  "
            f"lon {self.lon_range[0]:g}..{self.lon_range[1]:g}  mask={'yes' if self.has_mask else 'no'}"
        )
        for note in self.layout_notes:
            console.print(f"note   {note}")
        years = Table(title="time blocks per year", title_justify="left")
        for col in ("year", "first", "last", "count", "step (h)"):
            years.add_column(col, justify="right")
        for b in self.years:
            years.add_row(
                str(b.year), b.first, b.last, str(b.count), "-" if b.step_hours is None else f"{b.step_hours:g}"
            )
        console.print(years)
        table = Table(title="variables (ranges in canonical units)", title_justify="left")
        for col in ("name", "dims", "store units", "canonical", "NaN %", "inf", "min", "max"):
            table.add_column(col, justify="left" if col in ("name", "dims") else "right")
        for v in self.variables:
            table.add_row(
                v.name,
                ",".join(v.dims),
                str(v.units),
                v.canonical_units or "?",
                f"{100 * v.nan_fraction:.2f}",
                str(v.n_inf),
                "-" if v.min is None else f"{v.min:.4g}",
                "-" if v.max is None else f"{v.max:.4g}",
            )
        console.print(table)
        return out.getvalue()


def _year_blocks(times: np.ndarray) -> tuple[YearBlock, ...]:
    years = times.astype("datetime64[Y]").astype(np.int64) + 1970
    blocks = []
    for year in np.unique(years):
        t = times[years == year]
        step = float(np.median(np.diff(t)) / np.timedelta64(1, "h")) if len(t) > 1 else None
        blocks.append(
            YearBlock(int(year), str(t[0].astype("datetime64[s]")), str(t[-1].astype("datetime64[s]")), len(t), step)
        )
    return tuple(blocks)


def inspect_store(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> StoreReport:
    """Open and fully validate every (time, lat, lon) / (lat, lon) variable of ``path``; DataError if invalid."""
    ds, _ = open_dataset(Path(path).expanduser().resolve())
    found = [str(n) for n in ds.data_vars if set(ds[n].dims) in ({"lat", "lon"}, {"time", "lat", "lon"})]
    # registry order first (readable), then anything aqnet does not know
    names = tuple([n for n in VARIABLES if n in found] + sorted(n for n in found if n not in VARIABLES))
    handle = open_store(path, names, cache_dir=cache_dir)
    variables = []
    for name in names:
        scan, conv = handle.scans[name], handle.conversions.get(name)
        lo, hi = scan.min, scan.max
        if conv is not None and lo is not None and hi is not None:
            lo, hi = sorted((float(conv(lo)), float(conv(hi))))
        variables.append(
            VariableReport(
                name,
                handle.units[name],
                VARIABLES[name].units if name in VARIABLES else None,
                tuple(handle.dataset[name].dims),
                scan.nan_fraction,
                scan.n_inf,
                lo,
                hi,
            )
        )
    notes = [f"renamed {a} -> {b}" for a, b in handle.layout.renames.items()]
    notes += [f"squeezed singleton dim {d}" for d in handle.layout.squeeze]
    if handle.layout.lat_order is not None:
        notes.append("latitudes reordered to ascending on read")
    if handle.layout.wrap_lon:
        notes.append("longitudes mapped from 0..360 to -180..180 on read")
    return StoreReport(
        path=str(handle.path),
        fingerprint=handle.fingerprint,
        dims={"time": len(handle.times), "lat": len(handle.lat), "lon": len(handle.lon)},
        shape=(len(handle.times), len(handle.lat), len(handle.lon)),
        lat_range=(float(handle.lat[0]), float(handle.lat[-1])),
        lon_range=(float(handle.lon[0]), float(handle.lon[-1])),
        layout_notes=tuple(notes),
        years=_year_blocks(handle.times),
        variables=tuple(variables),
        has_mask=handle.mask is not None,
    )
