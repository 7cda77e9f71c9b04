"""Terrain blocking of the mixed layer's transport, applied to the face fluxes (``--blocking off|on|strong``).

Why mountains stop transport (the dividing-streamline, or Froude-number, rule): a stably stratified flow of speed U
can lift air over a height U/N only (kinetic against potential energy; N the Brunt-Vaisala frequency). For every
cell face where the terrain climbs (the downwind cell is higher than the upwind one), and each of the two directions
across it, the obstacle is the rise from the upwind cell to the highest terrain within ``LOOKAHEAD_M`` downwind
(static, from the real terrain), so a slope that climbs over several cells counts as one obstacle. Of a mixed
layer of depth H_bl, the air below the dividing-streamline height h_d = rise - U/N cannot cross, so the face
transmits only

    T = 1 - clip((rise - U / N) / H_bl, 0, 1)

of its flux (U: the wind normal to the face). The blocked air is not carried elsewhere: it stays upwind, so air
converging against a ridge accumulates (the flux-form transport keeps it). Nights and stagnant high-pressure
regimes are more stable (larger N, shallower layer), so blocking is stronger then. The stored winds are the same
in every variant; only the tracers' face fluxes feel the terrain. The model under test never sees this rule.

Variants: ``off`` (T = 1: terrain has no effect on transport), ``on`` (the rule above), ``strong`` (N doubled and
the layer a quarter as deep: near-zero flux across ridges that rise more than a few hundred metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aqnet.data.synthetic.grid import Grid
from aqnet.data.synthetic.transport import FaceWinds
from aqnet.errors import DataError

LOOKAHEAD_M = 200e3  # how far downwind the obstacle is looked for
BLOCKING_MODES: tuple[str, ...] = ("off", "on", "strong")
# (factor on N, factor on the blocked layer's depth) of each variant that blocks.
_STRENGTH: dict[str, tuple[float, float]] = {"on": (1.0, 1.0), "strong": (2.0, 0.25)}


def check_blocking(mode: str) -> str:
    if mode not in BLOCKING_MODES:
        raise DataError(f"unknown blocking {mode!r}; valid: {', '.join(BLOCKING_MODES)}")
    return mode


def _downwind_max(elevation: np.ndarray, cells: int, axis: int, forward: bool) -> np.ndarray:
    """Per face along ``axis`` (n+1 faces): the highest elevation within ``cells`` cells downwind of the face,
    for flow in the increasing (``forward``) or decreasing direction; faces with no cell downwind get -inf."""
    elev = np.moveaxis(elevation, axis, -1)
    n = elev.shape[-1]
    out = np.full((*elev.shape[:-1], n + 1), -np.inf)
    for face in range(n + 1):
        ahead = elev[..., face : min(n, face + cells)] if forward else elev[..., max(0, face - cells) : face]
        if ahead.shape[-1]:
            out[..., face] = ahead.max(-1)
    return np.moveaxis(out, -1, axis)


def _upwind_elevation(elevation: np.ndarray, axis: int, forward: bool) -> np.ndarray:
    """Per face: elevation of the cell the flow comes from (+inf beyond the edge: no rise, no blocking)."""
    elev = np.moveaxis(elevation, axis, -1)
    pad = np.full((*elev.shape[:-1], 1), np.inf)
    out = np.concatenate([pad, elev], -1) if forward else np.concatenate([elev, pad], -1)
    return np.moveaxis(out, -1, axis)


@dataclass(frozen=True)
class Blocking:
    """Static terrain rises met at each face (m, >= 0) and the variant's strength; ``transmission`` is dynamic."""

    mode: str
    rise_east: torch.Tensor  # [H, W+1] for eastward flow through each x-face
    rise_west: torch.Tensor
    rise_north: torch.Tensor  # [H+1, W] for northward flow through each y-face
    rise_south: torch.Tensor

    @classmethod
    def from_grid(cls, grid: Grid, mode: str, dtype: torch.dtype = torch.float32) -> Blocking:
        check_blocking(mode)
        elevation = grid.terrain.elevation.astype(np.float64)
        cells_x = max(1, round(LOOKAHEAD_M / float(np.mean(grid.dx))))
        cells_y = max(1, round(LOOKAHEAD_M / grid.dy))

        def rise(axis: int, forward: bool, cells: int) -> torch.Tensor:
            up = _upwind_elevation(elevation, axis, forward)
            climbing = _downwind_max(elevation, 1, axis, forward) > up  # the terrain rises right at this face
            r = np.where(climbing, np.clip(_downwind_max(elevation, cells, axis, forward) - up, 0, None), 0.0)
            return torch.as_tensor(np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0), dtype=dtype)

        return cls(
            mode,
            rise(1, True, cells_x),
            rise(1, False, cells_x),
            rise(0, True, cells_y),
            rise(0, False, cells_y),
        )

    def transmission(
        self, winds: FaceWinds, brunt_vaisala: torch.Tensor, layer_depth: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[float, float]:
        """Share of each face's flux that crosses (x-faces [B, H, W+1], y-faces [B, H+1, W]); 1 for ``off``.
        ``brunt_vaisala`` (s-1) and ``layer_depth`` (m) are cell fields [B, H, W], taken at the upwind cell."""
        if self.mode == "off":
            return 1.0, 1.0
        n_factor, depth_factor = _STRENGTH[self.mode]
        n = brunt_vaisala * n_factor
        depth = (layer_depth * depth_factor).clamp(min=1.0)
        # Upwind cell values at the faces (edge faces: the edge cell).
        n_x = torch.cat([n[..., :1], n, n[..., -1:]], -1)
        d_x = torch.cat([depth[..., :1], depth, depth[..., -1:]], -1)
        n_y = torch.cat([n[..., :1, :], n, n[..., -1:, :]], -2)
        d_y = torch.cat([depth[..., :1, :], depth, depth[..., -1:, :]], -2)
        east, north = winds.east, winds.north
        # Eastward flow comes from the cell west of the face: index face-1 in the padded arrays (== face + 0).
        n_xe, n_xw = n_x[..., :-1], n_x[..., 1:]
        d_xe, d_xw = d_x[..., :-1], d_x[..., 1:]
        n_yn, n_ys = n_y[..., :-1, :], n_y[..., 1:, :]
        d_yn, d_ys = d_y[..., :-1, :], d_y[..., 1:, :]
        rise_x = torch.where(east > 0, self.rise_east, self.rise_west)
        rise_y = torch.where(north > 0, self.rise_north, self.rise_south)
        nx, dx = torch.where(east > 0, n_xe, n_xw), torch.where(east > 0, d_xe, d_xw)
        ny, dy = torch.where(north > 0, n_yn, n_ys), torch.where(north > 0, d_yn, d_ys)
        tx = 1 - ((rise_x - east.abs() / nx) / dx).clamp(0, 1)
        ty = 1 - ((rise_y - north.abs() / ny) / dy).clamp(0, 1)
        return tx, ty
