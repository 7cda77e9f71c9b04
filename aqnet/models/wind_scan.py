"""Wind scanning: order the tokens of each region upwind → downwind (TopoFlow's wind-guided scan, Kheder et al. 2026).

The token grid (aqnet's canonical order: row 0 = southernmost, rows northward, columns eastward) is tiled by
regions of ``region`` = (rows, cols) patches.
Each region's flow direction is that of its mean wind vector (u, v patch means in m/s), i.e. the magnitude-weighted
mean direction; it is snapped to one of 16 sectors (22.5° each). Angle convention: θ = atan2(v, u), the direction
the air moves *towards*, counter-clockwise from east (so a westerly, u > 0, has θ = 0; the meteorological "wind
from" direction is 270° − θ). A calm region (zero mean vector) gets θ = 0.

Within a region, tokens are sorted by their projection on the flow direction (most upwind first); ties — tokens on
the same cross-wind line — keep raster order (stable sort). Regions follow each other in raster order, so the scan
position of a token within its region is ``sequence index % region size``.

A transformer without any order-dependent part is permutation-equivariant: permuting the tokens *and* everything
attached to them (position embedding, physics fields) and un-permuting afterwards gives the same output. The scan
only carries information once something depends on the order: ``order_encoding="rank"`` adds a learned embedding
of each token's scan rank within its region (initialised to sin-cos), telling every token how far upwind it sits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from einops import rearrange
from torch import Tensor, nn

SECTORS = 16
ORDER_ENCODINGS = ("rank", "none")


class WindScan(nn.Module):
    """Per-sample token permutations from the wind, and the rank encoding that makes the order matter."""

    def __init__(
        self, token_grid: tuple[int, int], region: tuple[int, int], embed_dim: int, order_encoding: str = "rank"
    ) -> None:
        super().__init__()
        (gh, gw), (rh, rw) = token_grid, region
        if rh < 1 or rw < 1 or gh % rh or gw % rw:
            raise ValueError(
                f"embed.region={[rh, rw]} (patches) does not tile the token grid {gh}x{gw}; "
                f"choose region rows dividing {gh} and columns dividing {gw}"
            )
        if order_encoding not in ORDER_ENCODINGS:
            raise ValueError(f"embed.order_encoding={order_encoding!r} must be one of {ORDER_ENCODINGS}")
        self.token_grid = (gh, gw)
        self.region = (rh, rw)
        self.region_size = rh * rw
        self.order_encoding = order_encoding
        # global token index of each region's local positions, regions and positions in raster order: [G, R]
        grid = torch.arange(gh * gw).view(gh, gw)
        self.register_buffer("region_tokens", self._by_region(grid.flatten()[None])[0], persistent=False)
        rows, cols = torch.meshgrid(torch.arange(rh), torch.arange(rw), indexing="ij")
        # local coordinates of each position: x eastward, y northward (latitude ascends with the row index)
        self.register_buffer("local_xy", torch.stack([cols.flatten(), rows.flatten()]).float(), persistent=False)
        if order_encoding == "rank":
            self.rank_embed = nn.Parameter(torch.zeros(1, self.region_size, embed_dim))

    def _by_region(self, tokens: Tensor) -> Tensor:
        """[B, L] (row-major token grid) -> [B, G, R] (regions, positions within each)."""
        (gh, gw), (rh, rw) = self.token_grid, self.region
        return rearrange(tokens, "b (gy ry gx rx) -> b (gy gx) (ry rx)", gy=gh // rh, ry=rh, gx=gw // rw, rx=rw)

    def flow_sector(self, u: Tensor, v: Tensor) -> Tensor:
        """Sector index 0..15 of each region's mean flow [B, G] from per-token wind u, v [B, L] (m/s)."""
        theta = torch.atan2(self._by_region(v).mean(-1), self._by_region(u).mean(-1))
        return torch.remainder(torch.round(theta / (2 * math.pi / SECTORS)), SECTORS).long()

    def order(self, u: Tensor, v: Tensor) -> Tensor:
        """The scan permutation [B, L]: entry k is the token (row-major index) at scan position k."""
        angle = self.flow_sector(u, v).to(self.local_xy.dtype) * (2 * math.pi / SECTORS)
        direction = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)  # [B, G, 2]
        along = direction @ self.local_xy  # [B, G, R]: position along the flow
        along = torch.round(along * 1e4)  # exact ties for tokens on one cross-wind line despite cos/sin rounding
        local = torch.argsort(along, dim=-1, stable=True)
        tokens = self.region_tokens.expand(local.shape[0], -1, -1).gather(-1, local)
        return tokens.flatten(1)

    def permute(self, x: Tensor, order: Tensor, fields: Mapping[str, Tensor] | None) -> tuple[Tensor, dict | None]:
        """Tokens [B, L, D] and per-token fields [B, L] into scan order; adds the rank encoding to the tokens."""
        x = x.gather(1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        if self.order_encoding == "rank":
            x = x + self.rank_embed.repeat(1, x.shape[1] // self.region_size, 1)
        if fields is not None:
            fields = {name: value.gather(1, order) for name, value in fields.items()}
        return x, fields

    @staticmethod
    def unpermute(x: Tensor, order: Tensor) -> Tensor:
        """The exact inverse of :meth:`permute`'s token gather: scan order -> row-major [B, L, D]."""
        return torch.zeros_like(x).scatter(1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x)

    def extra_repr(self) -> str:
        return f"region={self.region}, sectors={SECTORS}, order_encoding={self.order_encoding}"
