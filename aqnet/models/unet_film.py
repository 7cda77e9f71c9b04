"""A small U-Net with FiLM conditioning on lead time and time of day / year (``model=unet_film``).

Inputs arrive in physical units and are normalised inside (the model's :class:`Normaliser`, training-year
statistics as buffers). The conditioning vector is (lead hours / 100, sin/cos hour of day, sin/cos day of year),
the ClimaX scaling of the lead; a small MLP maps it to a per-channel scale and shift (γ, β) after every
convolution block, h ← h·(1 + γ) + β (FiLM, Perez et al. 2018; γ starts at 0, so an untrained FiLM is the
identity). The grid is reflect-padded inside the network to a multiple of 2^depth and cropped back, so any grid
at least 2^depth pixels on each side works. The outputs are the task's channels: logits of an exceedance task, or
normalised fields of a forecast task (then :meth:`normalise_targets` / :meth:`denormalise_targets` convert).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aqnet.errors import ConfigError
from aqnet.models.embed import time_features
from aqnet.models.normaliser import Normaliser

CONDITIONING = 5  # lead / 100, sin/cos hour of day, sin/cos day of year


def multiple(depth: int) -> int:
    """The grid multiple of a U-Net that halves the grid ``depth`` times."""
    return 2**depth


def check_grid(grid: tuple[int, int], depth: int) -> None:
    """ConfigError when the U-Net cannot pad ``grid``: each side must be at least 2^depth (reflect padding)."""
    m = multiple(depth)
    if min(grid) < m:
        raise ConfigError(
            f"model.depth={depth}: the U-Net halves the grid {depth} times and needs at least {m}x{m} pixels, "
            f"but the grid is {grid[0]}x{grid[1]}; lower model.depth"
        )


def _groups(channels: int, wanted: int = 8) -> int:
    groups = min(wanted, channels)
    while channels % groups:
        groups -= 1
    return groups


class ConvBlock(nn.Module):
    """(conv 3×3 → GroupNorm → GELU) × 2, then FiLM from the conditioning vector."""

    def __init__(self, c_in: int, c_out: int, film: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.GroupNorm(_groups(c_out), c_out),
            nn.GELU(),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.GroupNorm(_groups(c_out), c_out),
            nn.GELU(),
        )
        self.film = nn.Linear(CONDITIONING, 2 * c_out) if film else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        x = self.body(x)
        if self.film is None:
            return x
        gamma, beta = self.film(condition).chunk(2, dim=-1)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class UNetFiLM(nn.Module):
    """U-Net (``depth`` halvings, ``width`` channels at full resolution, doubling per level) with FiLM.

    ``forward(inputs, lead_hours, hour_of_day, day_of_year)``: inputs [B, V_in, H, W] physical units →
    [B, V_out, H, W] (logits or normalised fields, see the module docstring).
    """

    def __init__(
        self,
        input_names: Sequence[str],
        output_names: Sequence[str],
        img_size: tuple[int, int],
        statistics: Any,
        transforms: Mapping[str, str] | None = None,
        width: int = 32,
        depth: int = 3,
        film: bool = True,
        dropout: float = 0.0,
        output_is_field: bool = False,
        output_bias: float = 0.0,
    ) -> None:
        super().__init__()
        check_grid((int(img_size[0]), int(img_size[1])), depth)
        self.input_names, self.target_names = tuple(input_names), tuple(output_names)
        self.img_size, self.depth, self.output_is_field = (
            (int(img_size[0]), int(img_size[1])),
            int(depth),
            output_is_field,
        )
        self.normaliser = Normaliser(self.input_names, statistics, transforms)
        widths = [width * 2**i for i in range(depth + 1)]
        self.encoder = nn.ModuleList()
        c = len(self.input_names)
        for w in widths:
            self.encoder.append(ConvBlock(c, w, film, dropout))
            c = w
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.decoder = nn.ModuleList(ConvBlock(2 * widths[i], widths[i], film, dropout) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], len(self.target_names), 1)
        nn.init.constant_(self.head.bias, float(output_bias))

    def condition(self, lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor) -> Tensor:
        lead = lead_hours.float().reshape(-1, 1) / 100.0
        return torch.cat([lead, time_features(hour_of_day.reshape(-1), day_of_year.reshape(-1))], dim=-1)

    def forward(self, inputs: Tensor, lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor) -> Tensor:
        expected = (len(self.input_names), *self.img_size)
        if inputs.ndim != 4 or tuple(inputs.shape[1:]) != expected:
            raise ValueError(
                f"inputs have shape {tuple(inputs.shape)}; expected [B, {expected[0]}, {expected[1]}, {expected[2]}]"
            )
        condition = self.condition(lead_hours, hour_of_day, day_of_year).to(inputs.dtype)
        x = self.normaliser.normalise(inputs, self.input_names)
        h, w = self.img_size
        m = multiple(self.depth)
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:  # left/top and right/bottom halves; reflect keeps the edges' gradients physical
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="reflect")
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x, condition)
            if i < self.depth:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up, block in zip(self.up, self.decoder, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1), condition)
        out = self.head(x)
        return out[..., pad_h // 2 : pad_h // 2 + h, pad_w // 2 : pad_w // 2 + w]

    # a forecast task compares normalised outputs with normalised targets (fields of input variables)
    def normalise_targets(self, targets: Tensor) -> Tensor:
        return self.normaliser.normalise(targets, self.target_names)

    def denormalise_targets(self, predictions: Tensor) -> Tensor:
        return self.normaliser.denormalise(predictions, self.target_names)

    def predict_physical(self, inputs: Tensor, lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor) -> Tensor:
        return self.denormalise_targets(self(inputs, lead_hours, hour_of_day, day_of_year))
