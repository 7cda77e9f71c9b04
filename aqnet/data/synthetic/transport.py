"""Tracer transport on the lat/lon grid: semi-Lagrangian advection with a mass fixer, and conservative diffusion.

Tracers are tensors ``[B, S, H, W]`` (B independent runs, e.g. years; S species), in the advective form
(concentration is carried along back-trajectories). Bilinear interpolation has non-negative weights, so advection
keeps concentrations positive at any Courant number. Semi-Lagrangian advection is not conservative, so each step
a global mass fixer (per run and species) rescales the advected field to the budget

    mass_after = mass_before + inflow - outflow

where the open-boundary fluxes are upwind: outflow carries the edge cell's concentration, inflow the background.
Rescaling is multiplicative, so it keeps positivity. "Mass" here is sum(c * cell area): the column content of a
mixed layer of fixed depth, in ug m-3 * m2. Diffusion is written in flux form with zero flux through the edges,
so it conserves that mass exactly; emissions and chemistry are local and report their own mass changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from aqnet.data.synthetic.grid import EARTH_RADIUS_M, Grid


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

    def dx_at(self, row: torch.Tensor) -> torch.Tensor:
        """Zonal spacing at fractional row positions (back-trajectories leave the arrival row)."""
        return EARTH_RADIUS_M * self.res_rad * torch.cos(self.lat0_rad + row * self.res_rad)


def total_mass(c: torch.Tensor, metrics: Metrics) -> torch.Tensor:
    """[B, S] sum of c * area, accumulated in float64 so budgets close to round-off."""
    return (c.double() * metrics.area.double()).sum(dim=(-2, -1))


def sample(field: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """Bilinear values of ``field`` [B, C, H, W] at fractional (row, col) [B, H, W]; clamps outside the grid."""
    height, width = field.shape[-2:]
    grid = torch.stack([2 * col / (width - 1) - 1, 2 * row / (height - 1) - 1], dim=-1).to(field.dtype)
    return F.grid_sample(field, grid, mode="bilinear", padding_mode="border", align_corners=True)


def index_grid(height: int, width: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(height, dtype=dtype)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=dtype)[None, :].expand(height, width)
    return rows, cols


def departure_points(
    u: torch.Tensor, v: torch.Tensor, dt: float, metrics: Metrics, iterations: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Back-trajectory start (row, col) [B, H, W] for winds u, v [B, H, W] in m/s (midpoint rule, iterated)."""
    rows, cols = index_grid(*u.shape[-2:], u.dtype)
    rows, cols = rows.expand_as(u), cols.expand_as(u)
    wind = torch.stack([u, v], dim=1)
    d_row = v * dt / metrics.dy
    d_col = u * dt / metrics.dx.to(u.dtype)[:, None]
    for _ in range(iterations):
        mid_row, mid_col = rows - 0.5 * d_row, cols - 0.5 * d_col
        mid_wind = sample(wind, mid_row, mid_col)
        d_row = mid_wind[:, 1] * dt / metrics.dy
        d_col = mid_wind[:, 0] * dt / metrics.dx_at(mid_row)
    return rows - d_row, cols - d_col


def _swept_mass(cell_mass: torch.Tensor, courant: torch.Tensor) -> torch.Tensor:
    """Mass in the first ``courant`` cells of ``cell_mass`` [..., N] (ordered from the edge inward)."""
    n_cells = cell_mass.shape[-1]
    courant = courant.clamp(0, n_cells)  # a strip shorter than the Courant number is emptied entirely
    whole = torch.clamp(courant.floor(), max=n_cells - 1).long()
    cumulative = torch.cat([torch.zeros_like(cell_mass[..., :1]), cell_mass.cumsum(-1)], dim=-1)
    return (
        cumulative.gather(-1, whole[..., None])[..., 0]
        + (courant - whole) * cell_mass.gather(-1, whole[..., None])[..., 0]
    )


def boundary_fluxes(
    c: torch.Tensor, u: torch.Tensor, v: torch.Tensor, dt: float, metrics: Metrics, background: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upwind (inflow, outflow) mass [B, S] through the four open edges during one step.

    Outflow is the mass in the strip swept out of the domain, measured inward from the edge over the Courant
    number (so it stays right when a step carries tracer across several cells); inflow is background times the
    swept-in area.
    """
    batch, species, height, width = c.shape
    area = metrics.area.double()
    cell_mass = c.double() * area
    bg = background.double()[None, :, None]  # [1, S, 1]
    dx = metrics.dx.double()
    dy = torch.full((width,), metrics.dy, dtype=torch.float64)
    by_column = cell_mass.transpose(-1, -2)  # [B, S, W, H]
    # (speed out of the domain [B, L], cell masses from the edge inward [B, S, L, N], size along the normal [L],
    #  area of the edge cells [L])
    edges = (
        (-u[..., :, 0], cell_mass, dx, area[:, 0]),  # west
        (u[..., :, -1], cell_mass.flip(-1), dx, area[:, -1]),  # east
        (-v[..., 0, :], by_column, dy, area[0, :]),  # south
        (v[..., -1, :], by_column.flip(-1), dy, area[-1, :]),  # north
    )
    inflow = torch.zeros((batch, species), dtype=torch.float64)
    outflow = torch.zeros_like(inflow)
    for out_speed, masses, normal_size, edge_area in edges:
        courant = (out_speed.double() * dt / normal_size)[:, None, :]  # [B, 1, L]
        depth = min(masses.shape[-1], math.ceil(float(courant.max().clamp(min=0))) + 1)  # only the swept strip
        outflow += _swept_mass(masses[..., :depth], courant.clamp(min=0).expand(-1, species, -1)).sum(-1)
        inflow += (courant.clamp(max=0).neg() * edge_area * bg).sum(-1)
    return inflow, outflow


@dataclass
class AdvectionBudget:
    mass_before: torch.Tensor  # [B, S] float64
    inflow: torch.Tensor
    outflow: torch.Tensor
    mass_unfixed: torch.Tensor  # after interpolation, before the fixer
    mass_after: torch.Tensor


def advect(
    c: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    dt: float,
    metrics: Metrics,
    background: torch.Tensor,
    fix_mass: bool = True,
) -> tuple[torch.Tensor, AdvectionBudget]:
    """One semi-Lagrangian step of all species at once; departures outside the grid see ``background`` [S]."""
    batch, species, height, width = c.shape
    mass_before = total_mass(c, metrics)
    inflow, outflow = boundary_fluxes(c, u, v, dt, metrics, background)
    dep_row, dep_col = departure_points(u, v, dt, metrics)
    # A one-cell halo of background concentration: inflow blends in from it, far departures clamp onto it.
    padded = background.to(c.dtype)[None, :, None, None].expand(batch, species, height + 2, width + 2).clone()
    padded[..., 1:-1, 1:-1] = c
    advected = sample(padded, dep_row + 1, dep_col + 1)
    mass_unfixed = total_mass(advected, metrics)
    if fix_mass:
        target = torch.clamp(mass_before + inflow - outflow, min=0.0)
        scale = torch.where(mass_unfixed > 0, target / mass_unfixed.clamp(min=1e-300), torch.ones_like(target))
        advected = advected * scale.to(c.dtype)[:, :, None, None]
    budget = AdvectionBudget(mass_before, inflow, outflow, mass_unfixed, total_mass(advected, metrics))
    return advected, budget


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
