"""Where the error changes: per-pixel test RMSE difference maps and region summaries of ``aqnet-compare``, from each
run's ``evaluation/test_error_maps.nc`` (per-pixel MSE over the test cases, per variable and lead).

A group's RMSE is the square root of its runs' mean MSE, per pixel for the map and area-weighted (cos latitude) over
a region's valid pixels for the table. The regions are ``aqnet-eval``'s default boxes (conf/eval.yaml) plus the
whole domain, and for each variable the pixel where the RMSE changes most.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from aqnet.compare import runs
from aqnet.compare.pairs import Pair

Box = tuple[str, tuple[float, float], tuple[float, float]]  # (name, (lat0, lat1), (lon0, lon1)) in degrees
REGION_COLUMNS = ["group", "baseline", "lead_hours", "variable", "region", "rmse", "rmse_baseline", "diff", "diff_pct"]
REGION_COLUMNS += ["lat", "lon"]  # the pixel, for the row "largest change"
LARGEST = "largest change"


def default_boxes() -> list[Box]:
    """The built-in regions (``aqnet-eval``'s default boxes, conf/eval.yaml), so both tools name the same regions."""
    from aqnet.data.regions import builtin_regions

    return [r.box for r in builtin_regions()]


def group_mse(maps: Sequence[xr.Dataset], lead: float) -> xr.DataArray:
    """The model's per-pixel test MSE [variable, lat, lon] of a group at one lead, averaged over its runs."""
    mse = xr.concat([m["mse"].sel(source="model", lead_hours=lead) for m in maps], dim="run")
    return mse.mean("run", skipna=True)


def _region_rmse(mse: xr.DataArray) -> xr.DataArray:
    weight = np.cos(np.deg2rad(mse["lat"])).broadcast_like(mse).where(mse.notnull())
    return np.sqrt((mse * weight).sum(("lat", "lon")) / weight.sum(("lat", "lon")))


def region_table(candidate: xr.DataArray, baseline: xr.DataArray, boxes: Sequence[Box]) -> pd.DataFrame:
    """Per variable: RMSE of both groups and the difference over the domain, each box, and the pixel of the largest
    |Δ RMSE| (inputs: per-pixel MSE [variable, lat, lon] from :func:`group_mse`), on the pixels valid in both."""
    both = candidate.notnull() & baseline.notnull()  # the same pixels for both groups
    candidate, baseline = candidate.where(both), baseline.where(both)
    areas = {"domain": (candidate, baseline)}
    for name, (lat0, lat1), (lon0, lon1) in boxes:
        inside = {"lat": slice(lat0, lat1), "lon": slice(lon0, lon1)}
        areas[name] = (candidate.sel(inside), baseline.sel(inside))
    rows = []
    for name, (cand, base) in areas.items():
        if not cand.sizes["lat"] or not cand.sizes["lon"]:
            continue  # a box outside this grid
        for var, a, b in zip(
            cand["variable"].values, _region_rmse(cand).values, _region_rmse(base).values, strict=True
        ):
            rows.append({"variable": str(var), "region": name, "rmse": float(a), "rmse_baseline": float(b)})
    diff = np.sqrt(candidate) - np.sqrt(baseline)
    for var in diff["variable"].values:
        field = diff.sel(variable=var)
        if not np.isfinite(field.values).any():
            continue
        i, j = np.unravel_index(np.nanargmax(np.abs(field.values)), field.shape)
        pixel = {"variable": var, "lat": field["lat"][i], "lon": field["lon"][j]}
        rmse, rmse_baseline = (float(np.sqrt(mse.sel(pixel))) for mse in (candidate, baseline))
        rows.append(
            {"variable": str(var), "region": LARGEST, "rmse": rmse, "rmse_baseline": rmse_baseline,
             "lat": float(pixel["lat"]), "lon": float(pixel["lon"])}
        )  # fmt: skip
    table = pd.DataFrame(rows, columns=["variable", "region", "rmse", "rmse_baseline", "lat", "lon"])
    table["diff"] = table["rmse"] - table["rmse_baseline"]
    table["diff_pct"] = 100 * table["diff"] / table["rmse_baseline"]
    return table


@functools.cache
def _elevation(lat: tuple[float, ...], lon: tuple[float, ...]) -> np.ndarray:
    """Terrain (m) on a map's grid, regridded once per grid however many pairs are mapped."""
    from aqnet.data.terrain import regrid_elevation

    return regrid_elevation(np.asarray(lat), np.asarray(lon))[0]


def slug(group: str) -> str:
    """A file-name part from a group label: its values (``physics_bias=topoflow, x.direction=up`` → topoflow_up)."""
    values = [part.split("=", 1)[-1] for part in group.split(", ")]
    return re.sub(r"[^A-Za-z0-9.-]+", "_", "_".join(values)).strip("_")


def difference_maps(
    loaded: runs.LoadedRuns,
    chosen: Sequence[Pair],
    lead: float,
    dirs: tuple[Path, Path],
    warn: list[tuple[str, str]],
) -> tuple[dict[str, Path], pd.DataFrame]:
    """One map PNG per (candidate, baseline) pair under ``dirs[0]`` (downloads go to ``dirs[1]``) and the region
    table of every pair; what cannot be drawn is warned."""
    from aqnet.compare import plots
    from aqnet.evaluation import MAPS_FILE, read_maps

    out, tmp = dirs
    groups = dict(zip(loaded.runs["run_id"], loaded.runs["group"], strict=True))
    wanted = {name for pair in chosen for name in pair}  # a shared baseline is read once
    members = [r for r, g in groups.items() if g in wanted]
    files = runs.download_evaluation(loaded.uri, members, MAPS_FILE, tmp)
    maps = {g: [read_maps(files[r]) for r in members if r in files and groups[r] == g] for g in wanted}
    boxes, figures, tables = default_boxes(), {}, []
    once = [group for group, _ in chosen]
    for group, base in chosen:
        leads = {float(x) for m in maps[group] + maps[base] for x in m["lead_hours"].values}
        if not maps[group] or not maps[base]:
            warn.append(("no map", f"no evaluation/{MAPS_FILE} for {group if not maps[group] else base}"))
            continue
        if lead not in leads:
            warn.append(("no map", f"--map-lead {lead:g} is not among the leads {sorted(leads)}"))
            continue
        candidate, baseline = group_mse(maps[group], lead), group_mse(maps[base], lead)
        elevation_m = _elevation(tuple(candidate["lat"].values), tuple(candidate["lon"].values))
        name = slug(group) if once.count(group) == 1 else f"{slug(group)}_vs_{slug(base)}"  # a group vs two references
        path = out / f"rmse_difference_map_{name}.png"
        title = f"Test RMSE difference map, lead {lead:g} h ({group} − {base})"
        figures[title] = plots.rmse_difference_map(candidate, baseline, (group, base), lead, path, boxes, elevation_m)
        tables.append(region_table(candidate, baseline, boxes).assign(group=group, baseline=base, lead_hours=lead))
    regions = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return figures, regions.reindex(columns=REGION_COLUMNS)
