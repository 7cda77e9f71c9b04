"""Where the learned physics bias acts: the bias a few receptor patches put on every source, over the terrain."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import torch
from torch import Tensor

from aqnet.models.climax import Forecaster

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)

RECEPTOR_QUANTILES = (0.1, 0.5, 0.9, 0.99)  # of land-token elevation: a plain, a foothill, a slope, a summit


def choose_receptors(elevation: Tensor, quantiles: tuple[float, ...] = RECEPTOR_QUANTILES) -> list[int]:
    """Token indices whose elevation (m) is closest to these quantiles of the land tokens (elevation > 0)."""
    land = elevation[elevation > 0]
    pool = land if land.numel() else elevation
    targets = torch.quantile(pool.double(), torch.tensor(quantiles, dtype=torch.float64))
    chosen = [int((elevation.double() - t).abs().argmin()) for t in targets]
    return list(dict.fromkeys(chosen))


@torch.no_grad()
def plot_bias_footprints(model: Forecaster, inputs: Tensor, lat: Tensor, lon: Tensor, path: Path) -> Path:
    """One panel per chosen receptor: bias[receptor, source] for every source token, with terrain contours.

    ``inputs``: one sample [1, V_in, H, W] in physical units; ``lat``/``lon`` ascending (degrees).
    """
    bias_def = model.physics_bias
    if bias_def is None:
        raise ValueError("the model has no physics bias to plot")
    fields = model.bias_fields(inputs)
    assert fields is not None
    tokens = model.patch_means(inputs, "elevation")[0]
    receptors = choose_receptors(tokens)
    gh, gw = model.token_grid
    p = model.patch_size
    token_lat = lat.view(gh, p).mean(1).numpy()
    token_lon = lon.view(gw, p).mean(1).numpy()
    extent = (float(lon[0]), float(lon[-1]), float(lat[0]), float(lat[-1]))
    terrain = inputs[0, model.input_index("elevation")].numpy()
    alpha = float(bias_def.alpha.detach()[0])

    cols = 2 if len(receptors) > 1 else 1
    rows = (len(receptors) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.4 * rows), squeeze=False, constrained_layout=True)
    for ax, k in zip(axes.flat, receptors, strict=False):
        row = bias_def.pairwise(fields, slice(k, k + 1))[0, 0, 0].view(gh, gw).numpy()
        image = ax.imshow(row, origin="lower", extent=extent, cmap="magma", aspect="auto")
        ax.contour(lon.numpy(), lat.numpy(), terrain, levels=[500, 1500, 3000], colors="white", linewidths=0.6)
        r, c = divmod(k, gw)
        ax.plot(token_lon[c], token_lat[r], marker="*", color="cyan", markersize=12, markeredgecolor="black")
        ax.set_title(f"receptor {token_lat[r]:.1f}°N {token_lon[c]:.1f}°E, {float(tokens[k]):.0f} m", fontsize=9)
        fig.colorbar(image, ax=ax, label="bias added to the attention score")
    for ax in axes.flat[len(receptors) :]:
        ax.axis("off")
    fig.suptitle(f"{type(bias_def).__name__} ({bias_def.extra_repr()}), α = {alpha:.3f}; contours 500/1500/3000 m")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def first_test_inputs(datamodule: object) -> Tensor:
    """The first test sample's inputs [1, V_in, H, W] (physical units)."""
    sample = datamodule.datasets["test"][0]  # type: ignore[attr-defined]
    return sample["inputs"].unsqueeze(0).float()


def bias_footprints_artifact(model: Forecaster, datamodule: object, run_dir: Path) -> Path | None:
    """The footprint PNG under ``run_dir/plots`` for a model with a physics bias, else None."""
    if getattr(model, "physics_bias", None) is None:  # a model without attention biases
        return None
    model = model.cpu().eval()
    inputs = first_test_inputs(datamodule)
    lat, lon = datamodule.lat, datamodule.lon  # type: ignore[attr-defined]
    return plot_bias_footprints(model, inputs, lat, lon, run_dir / "plots" / "physics_bias_footprints.png")
