"""Evaluation figures: RMSE by lead per pollutant against the baselines, and forecast/truth/error maps of one case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

from aqnet.tasks.forecast.metrics import metric_name
from aqnet.variables import VARIABLES

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
from matplotlib.patches import Rectangle  # noqa: E402

SOURCES: dict[str, dict[str, str]] = {  # source → line style
    "model": {"color": "tab:blue", "marker": "o", "linestyle": "-"},
    "persistence": {"color": "tab:orange", "marker": "s", "linestyle": "--"},
    "climatology": {"color": "tab:green", "marker": "^", "linestyle": ":"},
}
Box = tuple[str, tuple[float, float], tuple[float, float]]  # (name, (lat0, lat1), (lon0, lon1))


def _units(name: str) -> str:
    return VARIABLES[name].units if name in VARIABLES else ""


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return (n + cols - 1) // cols, cols


def plot_rmse_by_lead(
    metrics: Mapping[str, float],
    split: str,
    names: Sequence[str],
    lead_hours: Sequence[float],
    path: Path,
    title: str = "",
) -> Path:
    """One panel per variable: RMSE (physical units) against lead for the model and each baseline present."""
    rows, cols = _grid(len(names), 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, constrained_layout=True)
    leads = [float(h) for h in lead_hours]
    for ax, name in zip(axes.flat, names, strict=False):
        for source, style in SOURCES.items():
            values = [metrics.get(metric_name(split, "rmse", name, h, source), np.nan) for h in leads]
            if np.isfinite(values).any():
                ax.plot(leads, values, label=source, **style)
        ax.set_title(name)
        ax.set_xlabel("lead (h)")
        ax.set_ylabel(f"RMSE ({_units(name)})")
        ax.set_xticks(leads)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title or f"{split}: RMSE by lead")
    return _save(fig, path)


def plot_case_maps(
    forecast: np.ndarray,
    truth: np.ndarray,
    names: Sequence[str],
    lat: np.ndarray,
    lon: np.ndarray,
    path: Path,
    title: str = "",
    boxes: Sequence[Box] = (),
) -> Path:
    """Rows: variables; columns: forecast, truth (NaN where not valid), forecast − truth. ``forecast`` and
    ``truth`` are [V, H, W] in physical units on ascending ``lat``/``lon``; ``boxes`` outline named regions."""
    extent = (float(lon[0]), float(lon[-1]), float(lat[0]), float(lat[-1]))
    fig, axes = plt.subplots(len(names), 3, figsize=(13, 2.6 * len(names)), squeeze=False, constrained_layout=True)
    for i, (row, name) in enumerate(zip(axes, names, strict=True)):
        fc, tr = forecast[i], truth[i]
        finite = np.concatenate([fc[np.isfinite(fc)], tr[np.isfinite(tr)]])
        vmin, vmax = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
        err = fc - tr
        bound = float(np.nanpercentile(np.abs(err), 99)) if np.isfinite(err).any() else 1.0
        panels = (
            (fc, "forecast", "viridis", vmin, vmax),
            (tr, "truth", "viridis", vmin, vmax),
            (err, "forecast − truth", "RdBu_r", -bound or -1.0, bound or 1.0),
        )
        for ax, (field, label, cmap, lo, hi) in zip(row, panels, strict=True):
            image = ax.imshow(field, origin="lower", extent=extent, cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
            fig.colorbar(image, ax=ax, label=_units(name), shrink=0.9)
            ax.set_title(f"{name}: {label}", fontsize=9)
            draw_boxes(ax, boxes)
    fig.suptitle(title)
    return _save(fig, path)


def draw_boxes(ax: plt.Axes, boxes: Sequence[Box], colour: str = "red") -> None:
    """Outline and name each region box on a lon/lat axis."""
    for box_name, (lat0, lat1), (lon0, lon1) in boxes:
        ax.add_patch(Rectangle((lon0, lat0), lon1 - lon0, lat1 - lat0, fill=False, edgecolor=colour, lw=0.8))
        ax.text(lon0, lat1, box_name, color=colour, fontsize=6, va="bottom")


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
