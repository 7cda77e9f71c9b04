"""The exceedance run's figures (run directory ``evaluation/plots/``, logged to MLflow with the evaluation files):
reliability diagram, performance diagram (POD against success ratio with CSI and bias lines), CSI by lead of the
model and the references, and probability maps of one test case per lead with the observed exceedance contour and
the terrain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from torch import Tensor

from aqnet.tasks.exceedance.names import MODEL, metric_name

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "model": {"color": "tab:blue", "marker": "o", "linestyle": "-"},
    "persistence": {"color": "tab:orange", "marker": "s", "linestyle": "--"},
    "climatology": {"color": "tab:green", "marker": "^", "linestyle": ":"},
    "forecast": {"color": "tab:red", "marker": "D", "linestyle": "-."},
}


def _row(panels: int, width: float, height: float) -> tuple[plt.Figure, Sequence[plt.Axes]]:
    """A figure of ``panels`` axes side by side, each ``width`` × ``height`` inches."""
    fig, axes = plt.subplots(1, panels, figsize=(width * panels, height), squeeze=False, constrained_layout=True)
    return fig, axes[0]


def _by_lead(
    metrics: Mapping[str, float], split: str, score: str, channel: str, leads: Sequence[float], source: str
) -> np.ndarray:
    """One score of one source at every lead (NaN where the run did not log it)."""
    return np.asarray([metrics.get(metric_name(split, score, channel, h, source), np.nan) for h in leads])


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(
    reliability: Mapping[str, Tensor], channels: Sequence[str], leads: Sequence[float], path: Path
) -> Path:
    fig, axes = _row(len(channels), 4.2, 4)
    for c, (ax, channel) in enumerate(zip(axes, channels, strict=True)):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        for j, lead in enumerate(leads):
            w = reliability["weight"][c, j].numpy()
            ok = w > 0
            ax.plot(
                reliability["forecast"][c, j].numpy()[ok],
                reliability["observed"][c, j].numpy()[ok],
                ".-",
                ms=3,
                lw=0.8,
                label=f"{lead:g} h",
            )
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="forecast probability", ylabel="observed frequency", title=channel)
        ax.legend(fontsize=7)
    fig.suptitle("reliability")
    return _save(fig, path)


def plot_performance(
    metrics: Mapping[str, float],
    channels: Sequence[str],
    leads: Sequence[float],
    sources: Sequence[str],
    path: Path,
    split: str = "test",
) -> Path:
    fig, axes = _row(len(channels), 4.4, 4.2)
    sr, pod = np.meshgrid(np.linspace(0.01, 1, 200), np.linspace(0.01, 1, 200))
    csi = 1 / (1 / sr + 1 / pod - 1)
    for ax, channel in zip(axes, channels, strict=True):
        lines = ax.contour(sr, pod, csi, levels=np.arange(0.1, 1, 0.1), colors="grey", linewidths=0.5)
        ax.clabel(lines, fmt="%.1f", fontsize=6)
        for bias in (0.5, 1, 2):
            ax.plot([0, 1], [0, bias], color="k", lw=0.4, ls="--")
        for source in sources:
            success = 1 - _by_lead(metrics, split, "far", channel, leads, source)
            hit = _by_lead(metrics, split, "pod", channel, leads, source)
            ax.plot(success, hit, label=source, **STYLE.get(source, {}))
            for x, y, h in zip(success, hit, leads, strict=True):
                if np.isfinite(x) and np.isfinite(y):
                    ax.annotate(f"{h:g}", (x, y), fontsize=6)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="success ratio (1 − FAR)", ylabel="POD", title=channel)
        ax.legend(fontsize=7)
    fig.suptitle(f"performance diagram ({split}; labels: lead hours)")
    return _save(fig, path)


def plot_csi_by_lead(
    metrics: Mapping[str, float],
    channels: Sequence[str],
    leads: Sequence[float],
    sources: Sequence[str],
    path: Path,
    split: str = "test",
) -> Path:
    fig, axes = _row(len(channels), 4.2, 3.4)
    for ax, channel in zip(axes, channels, strict=True):
        for source in sources:
            csi = _by_lead(metrics, split, "csi", channel, leads, source)
            ax.plot(leads, csi, label=source, **STYLE.get(source, {}))
        ax.set(xlabel="lead (h)", ylabel="CSI", title=channel, xticks=list(leads))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"CSI by lead ({split})")
    return _save(fig, path)


def plot_probability_maps(
    examples: Mapping[float, Mapping[str, Tensor]], channel: str, lat: np.ndarray, lon: np.ndarray, path: Path
) -> Path:
    leads = sorted(examples)
    fig, axes = _row(len(leads), 4, 3.6)
    image = None
    for ax, lead in zip(axes, leads, strict=True):
        case = examples[lead]
        valid = case["valid"][0].numpy()
        prob = np.where(valid, case["prob"][0].numpy(), np.nan)
        image = ax.pcolormesh(lon, lat, prob, vmin=0, vmax=1, cmap="magma_r", shading="auto")
        if "elevation" in case:
            ax.contour(lon, lat, case["elevation"].numpy(), levels=6, colors="tab:green", linewidths=0.4)
        observed = case["observed"][0].numpy().astype(float)
        if observed.any() and not observed.all():
            ax.contour(lon, lat, observed, levels=[0.5], colors="tab:cyan", linewidths=1.0)
        when = np.datetime64(int(case["init_time"]), "s")
        ax.set(title=f"P({channel}) init {when} +{lead:g} h", xlabel="lon", ylabel="lat")
        ax.title.set_fontsize(7)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="probability")
    fig.suptitle("probability (colour), observed exceedance (cyan), terrain (green)", fontsize=9)
    return _save(fig, path)


def write_figures(
    module: Any, metrics: Mapping[str, float], reliability: Mapping[str, Tensor], directory: Path, split: str = "test"
) -> list[Path]:
    channels, leads = module.channel_names, list(module.lead_hours)
    sources = (MODEL, *module.baselines)
    paths = [
        plot_reliability(reliability, channels, leads, directory / "reliability.png"),
        plot_performance(metrics, channels, leads, sources, directory / "performance.png", split),
        plot_csi_by_lead(metrics, channels, leads, sources, directory / "csi_by_lead.png", split),
    ]
    if module.examples:
        lat, lon = module.lat.cpu().numpy(), module.lon.cpu().numpy()
        paths.append(plot_probability_maps(module.examples, channels[0], lat, lon, directory / "probability_maps.png"))
    return paths
