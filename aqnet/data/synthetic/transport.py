"""Tracer transport on the lat/lon grid: flux-form (finite-volume) upwind advection and conservative diffusion.

Tracers are tensors ``[B, S, H, W]`` (B independent runs, e.g. years; S species) of mixed-layer concentration.
"Mass" is sum(c * cell area): the column content of a mixed layer of unit depth, in ug m-3 * m2. Advection is the
donor-cell (first-order upwind) finite-volume scheme on the C-grid faces: through every cell face passes

    flux = c_upwind * wind_normal * face_length * dt

and what leaves one cell enters its neighbour, so mass is conserved locally, to round-off, with no global fixer;
convergent wind (air piling up against a ridge whose faces are blocked) accumulates tracer. The step is split into
sub-steps so that no cell loses more than ``MAX_OUTFLOW_COURANT`` of its content in one, which keeps the scheme
monotone and every concentration non-negative whatever the divergence. At the open edges inflow carries the
background concentration, outflow the edge cell's. Diffusion is a flux-form Laplacian with zero flux through the
edges. Emissions and chemistry are local and report their own mass changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from aqnet.data.synthetic.grid import EARTH_RADIUS_M, Grid

MAX_OUTFLOW_COURANT = 0.9  # share of a cell's content that may leave it in one sub-step (<= 1: monotone)


@dataclass(frozen=True)
class Metrics:
    """Grid geometry as tensors: spacing in metres and cell areas, for a regular lat/lon grid."""

    dy: float  # m
    dx: torch.Tensor  # (H,) m, zonal spacing of each row
    dx_faces: torch.Tensor  # (H+1,) m, zonal length of the row boundaries (south edge first)
    area: torch.Tensor  # (H, W) m2
    lat0_rad: float  # latitude of row 0's centre
    res_rad: float

    @classmethod
    def from_axes(cls, lat: np.ndarray, lon: np.ndarray, dtype: torch.dtype = torch.float32) -> Metrics:
        res = float(lat[1] - lat[0])
        res_rad = math.radians(res)
        dy = EARTH_RADIUS_M * res_rad
        dx = EARTH_RADIUS_M * res_rad * np.cos(np.deg2rad(lat))
        face_lat = np.concatenate([lat - res / 2, [lat[-1] + res / 2]])
        dx_faces = EARTH_RADIUS_M * res_rad * np.cos(np.deg2rad(face_lat))
        area = np.broadcast_to((dx * dy)[:, None], (lat.size, lon.size))
        return cls(
            dy=dy,
            dx=torch.as_tensor(dx, dtype=dtype),
            dx_faces=torch.as_tensor(dx_faces, dtype=dtype),
            area=torch.as_tensor(np.ascontiguousarray(area), dtype=dtype),
            lat0_rad=math.radians(float(lat[0])),
            res_rad=res_rad,
        )

    @classmethod
    def from_grid(cls, grid: Grid, dtype: torch.dtype = torch.float32) -> Metrics:
        return cls.from_axes(grid.lat, grid.lon, dtype)


def total_mass(c: torch.Tensor, metrics: Metrics) -> torch.Tensor:
    """[B, S] sum of c * area, accumulated in float64 so budgets close to round-off."""
    return (c.double() * metrics.area.double()).sum(dim=(-2, -1))


@dataclass
class FaceWinds:
    """Wind normal to the cell faces (m s-1): ``east`` [B, H, W+1] through the west..east faces of each row
    (positive eastward), ``north`` [B, H+1, W] through the south..north faces of each column (positive northward)."""

    east: torch.Tensor
    north: torch.Tensor

    @classmethod
    def from_centres(cls, u: torch.Tensor, v: torch.Tensor) -> FaceWinds:
        """Average cell-centre winds [B, H, W] onto the faces; an edge face takes its edge cell's wind."""
        east = torch.cat([u[..., :1], 0.5 * (u[..., 1:] + u[..., :-1]), u[..., -1:]], dim=-1)
        north = torch.cat([v[..., :1, :], 0.5 * (v[..., 1:, :] + v[..., :-1, :]), v[..., -1:, :]], dim=-2)
        return cls(east, north)

    def scaled(self, east: torch.Tensor | float, north: torch.Tensor | float) -> FaceWinds:
        return FaceWinds(self.east * east, self.north * north)


@dataclass
class FaceFluxes:
    """Mass carried through each face during one step (ug m-3 * m2, float64), same layout and signs as FaceWinds;
    summed over the species' sub-steps. Per cell: change = west - east + south - north faces (``convergence``)."""

    east: torch.Tensor  # [B, S, H, W+1]
    north: torch.Tensor  # [B, S, H+1, W]

    def convergence(self) -> torch.Tensor:
        """[B, S, H, W] net mass into each cell: inflow - outflow through its four faces."""
        return self.east[..., :-1] - self.east[..., 1:] + self.north[..., :-1, :] - self.north[..., 1:, :]

    def boundary(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inflow, outflow) [B, S] through the open edges of the domain."""
        edges = (self.east[..., 0], -self.east[..., -1], self.north[..., 0, :], -self.north[..., -1, :])
        inflow = sum(e.clamp(min=0).sum(-1) for e in edges)
        outflow = sum(e.clamp(max=0).neg().sum(-1) for e in edges)
        return inflow, outflow  # type: ignore[return-value]


def _upwind(left: torch.Tensor, right: torch.Tensor, wind: torch.Tensor) -> torch.Tensor:
    """Donor-cell value at faces: ``left`` where the wind blows from it (wind > 0), else ``right``."""
    return torch.where(wind > 0, left, right)


def advect(
    c: torch.Tensor, winds: FaceWinds, dt: float, metrics: Metrics, background: torch.Tensor
) -> tuple[torch.Tensor, FaceFluxes]:
    """One donor-cell finite-volume step of all species ``c`` [B, S, H, W] (ug m-3) through ``winds`` for ``dt``
    seconds; the open edges see ``background`` [S] upwind. Returns the new field and the face fluxes."""
    batch, species, height, width = c.shape
    area = metrics.area.to(c.dtype)
    dy = metrics.dy
    dx_faces = metrics.dx_faces.to(c.dtype)[:, None]  # [H+1, 1]
    # Volume-like face transports per second (m3 s-1 per m of depth): wind * face length.
    x_transport = winds.east.to(c.dtype) * dy  # [B, H, W+1]
    y_transport = winds.north.to(c.dtype) * dx_faces  # [B, H+1, W]
    outgoing = (
        x_transport[..., 1:].clamp(min=0)
        + x_transport[..., :-1].clamp(max=0).neg()
        + y_transport[..., 1:, :].clamp(min=0)
        + y_transport[..., :-1, :].clamp(max=0).neg()
    )
    # Sub-steps per run (not per batch), so that a run's result never depends on the others in its batch.
    worst = (outgoing * dt / area).amax(dim=(-2, -1)) if outgoing.numel() else torch.zeros(batch, dtype=c.dtype)
    n_sub = torch.clamp(torch.ceil(worst.double() / MAX_OUTFLOW_COURANT), min=1).long()  # [B]
    step = (dt / n_sub.double()).to(c.dtype)[:, None, None, None]
    x_transport, y_transport = x_transport[:, None], y_transport[:, None]
    bg = background.to(c.dtype)[None, :, None, None].expand(batch, species, height, 1)
    bg_row = background.to(c.dtype)[None, :, None, None].expand(batch, species, 1, width)
    flux_x = torch.zeros((batch, species, height, width + 1), dtype=torch.float64)
    flux_y = torch.zeros((batch, species, height + 1, width), dtype=torch.float64)
    for k in range(int(n_sub.max())):
        active = (n_sub > k)[:, None, None, None]
        west = torch.cat([bg, c], dim=-1)  # the cell west of each x-face (background beyond the edge)
        east = torch.cat([c, bg], dim=-1)
        south = torch.cat([bg_row, c], dim=-2)
        north = torch.cat([c, bg_row], dim=-2)
        fx = _upwind(west, east, x_transport) * x_transport * step
        fy = _upwind(south, north, y_transport) * y_transport * step
        change = fx[..., :-1] - fx[..., 1:] + fy[..., :-1, :] - fy[..., 1:, :]
        c = torch.where(active, c + change / area, c)
        flux_x += torch.where(active, fx, 0.0).double()
        flux_y += torch.where(active, fy, 0.0).double()
    return c, FaceFluxes(flux_x, flux_y)


def diffuse(c: torch.Tensor, diffusivity: float, dt: float, metrics: Metrics) -> torch.Tensor:
    """Explicit flux-form Laplacian (m2 s-1), sub-stepped for stability; zero flux through the edges."""
    dx = metrics.dx.to(c.dtype)[:, None]
    dx_inner_faces = metrics.dx_faces[1:-1].to(c.dtype)[:, None]
    area = metrics.area.to(c.dtype)
    limit = 0.2 / (diffusivity * (1 / float(metrics.dx.min()) ** 2 + 1 / metrics.dy**2))
    n_sub = max(1, math.ceil(dt / limit))
    step = dt / n_sub
    for _ in range(n_sub):
        flux_x = diffusivity * (c[..., 1:] - c[..., :-1]) / dx * metrics.dy  # into the west cell of each face
        flux_y = diffusivity * (c[..., 1:, :] - c[..., :-1, :]) / metrics.dy * dx_inner_faces
        change = torch.zeros_like(c)
        change[..., :-1] += flux_x
        change[..., 1:] -= flux_x
        change[..., :-1, :] += flux_y
        change[..., 1:, :] -= flux_y
        c = c + step * change / area
    return c
