"""Figures of ``aqnet-compare`` (matplotlib, Agg backend): learning curves, RMSE by lead, α trajectories and maps of
the RMSE difference between two groups with terrain contours. Each function writes one PNG and returns its path
(None: nothing to plot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from aqnet.compare.analysis import RMSE_RE  # noqa: E402
from aqnet.plots.forecast import Box, draw_boxes  # noqa: E402
from aqnet.variables import VARIABLES  # noqa: E402

DPI = 110
MARKERS = ("o", "s", "^", "D", "v")  # one per reference group in the difference-by-lead figure
TERRAIN_LEVELS_M = (500.0, 1500.0, 3000.0)  # the Sichuan basin floor lies below 500 m, its rim above 1500 m


def _colours(groups: Sequence[str]) -> dict[str, tuple[float, ...]]:
    cmap = plt.get_cmap("tab10")
    return {g: cmap(i % 10) for i, g in enumerate(groups)}


def _save(fig: plt.Figure, path: Path) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def learning_curves(history: pd.DataFrame, groups: Mapping[str, str], path: Path, key: str = "val/loss") -> Path | None:
    """Mean ± std across each group's runs of ``key`` against the step (history: run_id, step, value)."""
    if history.empty:
        return None
    data = history.assign(group=history["run_id"].map(groups)).dropna(subset=["group"])
    colours = _colours(sorted(set(groups.values())))  # the same colour per group in every figure
    fig, ax = plt.subplots(figsize=(7, 4))
    for group, part in data.groupby("group"):
        curve = part.groupby("step")["value"].agg(["mean", "std", "count"]).sort_index()
        n_runs = part["run_id"].nunique()
        ax.plot(curve.index, curve["mean"], marker="o", ms=3, color=colours[group], label=f"{group} (n={n_runs})")
        band = curve["std"].fillna(0.0)
        ax.fill_between(curve.index, curve["mean"] - band, curve["mean"] + band, color=colours[group], alpha=0.2)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.set_title(f"{key}: mean ± std across runs")
    ax.legend(fontsize=8)
    return _save(fig, path)


def rmse_by_lead(runs: pd.DataFrame, metrics: Sequence[str], path: Path) -> Path | None:
    """One panel per pollutant: each group's test RMSE (mean ± std over runs) by lead, with both baselines."""
    parsed = [(m, RMSE_RE.match(m)) for m in metrics]
    variables = list(dict.fromkeys(g["var"] for _, g in parsed if g))
    if not variables:
        return None
    groups = sorted(runs["group"].unique())
    colours = _colours(groups)
    ncols = min(3, len(variables))
    nrows = math.ceil(len(variables) / ncols)
    figsize = (4.2 * ncols, 3.2 * nrows + 0.25 * (len(groups) + 2))  # room for the legend below
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    for ax, var in zip(axes.flat, variables, strict=False):
        leads = sorted({float(g["lead"]) for _, g in parsed if g and g["var"] == var})
        for group in groups:
            part = runs[runs["group"] == group]
            cols = [f"test/rmse_{var}_{lead:g}h" for lead in leads]
            mean = [part[c].mean() if c in part else np.nan for c in cols]
            std = [part[c].std() if c in part else np.nan for c in cols]
            ax.errorbar(leads, mean, yerr=np.nan_to_num(std), marker="o", ms=4, capsize=3, color=colours[group])
            ax.plot([], [], color=colours[group], label=group)
        for source, style in (("persistence", ":"), ("climatology", "--")):
            cols = [f"test/{source}_rmse_{var}_{lead:g}h" for lead in leads]
            values = [runs[c].mean() if c in runs else np.nan for c in cols]
            if np.isfinite(values).any():
                ax.plot(leads, values, style, color="grey", label=source)
        units = VARIABLES[var].units if var in VARIABLES else ""
        ax.set_title(var)
        ax.set_xlabel("lead (h)")
        ax.set_ylabel(f"test RMSE ({units})")
        ax.set_xticks(leads)
    for ax in list(axes.flat)[len(variables) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=7)
    return _save(fig, path)


def alpha_trajectories(history: pd.DataFrame, groups: Mapping[str, str], path: Path) -> Path | None:
    """physics/alpha against the step, one line per run, coloured by group (None when no run learns α)."""
    if history.empty:
        return None
    data = history.assign(group=history["run_id"].map(groups)).dropna(subset=["group"])
    colours = _colours(sorted(set(groups.values())))  # the same colour per group in every figure
    fig, ax = plt.subplots(figsize=(7, 4))
    seen: set[str] = set()
    for (group, run_id), part in data.groupby(["group", "run_id"]):
        part = part.sort_values("step")
        label = group if group not in seen else None
        seen.add(group)
        ax.plot(part["step"], part["value"], color=colours[group], alpha=0.8, label=label)
        ax.annotate(run_id[:6], (part["step"].iloc[-1], part["value"].iloc[-1]), fontsize=6, color=colours[group])
    ax.set_xlabel("step")
    ax.set_ylabel("physics/alpha")
    ax.set_title("α per run")
    ax.legend(fontsize=8)
    return _save(fig, path)


def rmse_difference_map(
    candidate: xr.DataArray,
    baseline: xr.DataArray,
    names: tuple[str, str],
    lead: float,
    path: Path,
    boxes: Sequence[Box] = (),
    elevation_m: np.ndarray | None = None,
) -> Path:
    """RMSE(candidate) − RMSE(baseline) per pixel and variable at ``lead`` (blue: the candidate is better), from the
    groups' per-pixel MSE [variable, lat, lon]; region boxes outlined, terrain contours (``elevation_m`` [lat, lon])
    so that basin edges and slopes can be read off."""
    diff = np.sqrt(candidate) - np.sqrt(baseline)
    variables = list(diff["variable"].values)
    ncols = min(3, len(variables))
    nrows = math.ceil(len(variables) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.0 * nrows), squeeze=False)
    for ax, var in zip(axes.flat, variables, strict=False):
        field = diff.sel(variable=var)
        # a robust scale: a few extreme pixels saturate instead of washing out the pattern
        limit = float(np.nanpercentile(np.abs(field.values), 99)) if np.isfinite(field.values).any() else 1.0
        mesh = ax.pcolormesh(
            field["lon"], field["lat"], field.values, cmap="RdBu_r", vmin=-limit, vmax=limit, shading="auto"
        )
        if elevation_m is not None:
            ax.contour(field["lon"], field["lat"], elevation_m, levels=TERRAIN_LEVELS_M, colors="k", linewidths=0.4)
        draw_boxes(ax, boxes, colour="darkgreen")
        units = VARIABLES[var].units if var in VARIABLES else ""
        fig.colorbar(mesh, ax=ax, label=f"Δ RMSE ({units})", extend="both")
        ax.set_title(var)
        ax.set_xlabel("lon (°E)")
        ax.set_ylabel("lat (°N)")
    for ax in list(axes.flat)[len(variables) :]:
        ax.axis("off")
    contours = (
        f"; contours: terrain at {', '.join(f'{x:g}' for x in TERRAIN_LEVELS_M)} m" if elevation_m is not None else ""
    )
    fig.suptitle(
        f"test RMSE at {lead:g} h: {names[0]}\nminus {names[1]} (blue: the first is better{contours})", fontsize=9
    )
    return _save(fig, path)


def both_case_tests_significant(rows: pd.DataFrame, level: float = 0.05) -> np.ndarray:
    """Where the bootstrap and the Diebold–Mariano test both reject after adjustment (False where either is missing)."""
    if not {"p_boot_adj", "p_dm_adj"} <= set(rows.columns):
        return np.zeros(len(rows), dtype=bool)
    return ((rows["p_boot_adj"] < level) & (rows["p_dm_adj"] < level)).to_numpy()


def difference_by_lead(comp: pd.DataFrame, groups: Sequence[str], path: Path) -> Path | None:
    """One panel per pollutant: each pair's test RMSE difference (group − reference) by lead, the mean over seeds
    with the seed-level 95% CI; a filled marker where both case-level tests are significant after adjustment. The
    colour is the group's (``groups``: every group of the comparison, so that colours match the other figures), the
    marker shape the reference's."""
    parsed = [(RMSE_RE.match(m), m) for m in comp["metric"]] if not comp.empty else []
    rows = (
        comp.assign(
            var=[g["var"] if g else None for g, _ in parsed],
            lead=[float(g["lead"]) if g else np.nan for g, _ in parsed],
        ).dropna(subset=["var", "diff"])
        if parsed
        else comp
    )
    if not parsed or rows.empty:
        return None
    variables = list(dict.fromkeys(rows["var"]))
    candidates = list(dict.fromkeys(zip(rows["group"], rows["baseline"], strict=True)))
    references = list(dict.fromkeys(rows["baseline"]))
    colours = _colours(sorted(groups))
    ncols = min(3, len(variables))
    nrows = math.ceil(len(variables) / ncols)
    figsize = (4.2 * ncols, 3.2 * nrows + 0.25 * (len(candidates) + 2))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    width = 0.6 / len(candidates)
    for ax, var in zip(axes.flat, variables, strict=False):
        part = rows[rows["var"] == var]
        leads = sorted(part["lead"].unique())
        for i, (group, reference) in enumerate(candidates):
            g = part[(part["group"] == group) & (part["baseline"] == reference)].set_index("lead").reindex(leads)
            x = np.arange(len(leads)) + (i - (len(candidates) - 1) / 2) * width
            error = [(g["diff"] - g["ci_low"]).fillna(0.0), (g["ci_high"] - g["diff"]).fillna(0.0)]
            colour, marker = colours.get(group, "k"), MARKERS[references.index(reference) % len(MARKERS)]
            label = f"{group} − {reference}"
            ax.errorbar(x, g["diff"], yerr=error, fmt=marker, ms=4, capsize=2, color=colour, mfc="white", label=label)
            both = both_case_tests_significant(g)
            if both.any():
                ax.plot(x[both], g["diff"].to_numpy()[both], marker, ms=4, color=colour, zorder=4)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xticks(np.arange(len(leads)), [f"{lead:g}" for lead in leads])
        units = VARIABLES[var].units if var in VARIABLES else ""
        ax.set_title(var)
        ax.set_xlabel("lead (h)")
        ax.set_ylabel(f"Δ test RMSE ({units})")
    for ax in list(axes.flat)[len(variables) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=1, fontsize=7)
    fig.suptitle(
        "test RMSE: group − reference (negative: the group is better): mean over seeds, 95% CI over seeds;\n"
        "filled: lower or higher over the test cases (bootstrap and Diebold–Mariano, adjusted p < 0.05)",
        fontsize=9,
    )
    return _save(fig, path)
