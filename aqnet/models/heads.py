"""Prediction head: MLP on each token, then unpatchify to a [B, V_out, H, W] field.

Keys follow ClimaX (``head.0``, ``head.2``, ``head.4`` for decoder_depth 2). Difference from ClimaX: its last
layer predicts every input variable (V_all·p²) and the outputs are selected afterwards; here it predicts only the
targets (V_out·p²). The hidden layers load from a ClimaX checkpoint; the last layer has another shape and is
re-initialised (or sliced by a loader that picks the target rows by name).
"""

from __future__ import annotations

from torch import Tensor, nn


class PatchHead(nn.Sequential):
    """decoder_depth × (Linear(D, D), GELU), Linear(D, V_out·p²), then unpatchify."""

    def __init__(
        self, embed_dim: int, decoder_depth: int, out_vars: int, patch_size: int, grid: tuple[int, int]
    ) -> None:
        layers: list[nn.Module] = []
        for _ in range(decoder_depth):
            layers += [nn.Linear(embed_dim, embed_dim), nn.GELU()]
        layers.append(nn.Linear(embed_dim, out_vars * patch_size**2))
        super().__init__(*layers)
        self.out_vars = out_vars
        self.patch_size = patch_size
        self.grid = grid  # (H/p, W/p) tokens

    def forward(self, x: Tensor) -> Tensor:  # [B, L, D] -> [B, V_out, H, W]
        for layer in self:
            x = layer(x)
        return unpatchify(x, self.patch_size, self.out_vars, self.grid)


def unpatchify(x: Tensor, patch_size: int, channels: int, grid: tuple[int, int]) -> Tensor:
    """[B, h·w, p·p·C] (layout p, q, c with c fastest, as ClimaX) -> [B, C, h·p, w·p]."""
    b = x.shape[0]
    h, w = grid
    p = patch_size
    x = x.reshape(b, h, w, p, p, channels)
    x = x.permute(0, 5, 1, 3, 2, 4)  # n h w p q c -> n c h p w q
    return x.reshape(b, channels, h * p, w * p)
