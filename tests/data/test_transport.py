"""The benchmark's transport numerics (flux-form, locally conservative, monotone) and terrain blocking of its face
fluxes (the Froude rule; off / on / strong)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aqnet.data.synthetic.blocking import Blocking
from aqnet.data.synthetic.grid import Grid
from aqnet.data.synthetic.transport import FaceWinds, Metrics, advect, diffuse, total_mass
from aqnet.data.terrain import Terrain
from aqnet.errors import DataError

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def idealised_grid(elevation: np.ndarray, lat0: float = 30.0, lon0: float = 100.0, res: float = 0.25) -> Grid:
    height, width = elevation.shape
    lat = lat0 + (np.arange(height) + 0.5) * res
    lon = lon0 + (np.arange(width) + 0.5) * res
    metrics = Metrics.from_axes(lat, lon, F64)
    ones = np.ones_like(elevation, dtype=np.float32)
    terrain = Terrain(elevation.astype(np.float32), ones, ones.astype(np.uint8), 0 * ones)
    return Grid(lat, lon, res, metrics.dy, metrics.dx.numpy(), terrain)


def test_per_cell_budget_closes_with_divergent_wind_and_no_fixer() -> None:
    """Random field, random (strongly divergent) wind at Courant numbers up to ~5: in every cell the mass change is
    inflow - outflow through its faces + emission - loss, to round-off; the domain total changes only by the
    boundary fluxes."""
    generator = torch.Generator().manual_seed(0)
    grid = idealised_grid(np.zeros((24, 30)))
    metrics = Metrics.from_grid(grid, F64)
    area = metrics.area.double()
    conc = torch.rand((2, 3, 24, 30), generator=generator, dtype=F64) * 100.0
    u = (torch.rand((2, 24, 30), generator=generator, dtype=F64) - 0.5) * 60.0
    v = (torch.rand((2, 24, 30), generator=generator, dtype=F64) - 0.5) * 60.0
    winds = FaceWinds.from_centres(u, v)
    assert float((winds.east[..., 1:] - winds.east[..., :-1]).abs().max()) > 10  # divergent, not solenoidal
    background = torch.tensor([5.0, 0.0, 80.0], dtype=F64)
    dt, worst_residual = 3 * 3600.0, 0.0
    for _ in range(6):
        emission = torch.rand(conc.shape, generator=generator, dtype=F64) * 1e-3 * dt  # ug m-3 per step
        before = conc * area
        conc = conc + emission
        conc, fluxes = advect(conc, winds, dt, metrics, background)
        decayed = conc * np.exp(-dt / 86400.0)
        loss = (conc - decayed) * area
        conc = decayed
        residual = conc * area - (before + emission * area + fluxes.convergence() - loss)
        worst_residual = max(worst_residual, float((residual.abs() / before.abs().max()).max()))
        inflow, outflow = fluxes.boundary()
        change = total_mass(conc, metrics) - total_mass(before / area, metrics)
        expected = inflow - outflow + (emission * area).sum((-2, -1)) - loss.sum((-2, -1))
        assert torch.allclose(change, expected, rtol=1e-10, atol=1e-9 * float(before.sum()))
    assert worst_residual < 1e-12
    assert float(conc.min()) >= 0.0


def test_convergence_piles_tracer_up_and_strong_blocking_stops_it_at_a_ridge() -> None:
    """A uniform westerly against a 3 km N-S ridge: with blocking the air stays upwind and the tracer accumulates
    there (flux form keeps what cannot cross); off, it flows over; strong lets almost nothing through."""
    height, width = 12, 40
    elevation = np.zeros((height, width))
    elevation[:, 24:28] = 3000.0
    grid = idealised_grid(elevation)
    metrics = Metrics.from_grid(grid, F64)
    u = torch.full((1, height, width), 5.0, dtype=F64)
    winds = FaceWinds.from_centres(u, torch.zeros_like(u))
    stability = torch.full((1, height, width), 0.015, dtype=F64)
    layer = torch.full((1, height, width), 800.0, dtype=F64)
    results = {}
    for mode in ("off", "on", "strong"):
        blocking = Blocking.from_grid(grid, mode, F64)
        scaled = winds.scaled(*blocking.transmission(winds, stability, layer))
        conc = torch.zeros((1, 1, height, width), dtype=F64)
        for _ in range(96):  # 2 days: the plume reaches the ridge (at col 24, 20 cells downwind) in about 1
            conc[..., 4:8, 4:6] += 5.0
            conc, _ = advect(conc, scaled, 1800.0, metrics, torch.zeros(1, dtype=F64))
        upwind, downwind = float(conc[..., 20:24].mean()), float(conc[..., 30:].mean())
        results[mode] = (upwind, downwind)
    assert results["on"][0] > 1.5 * results["off"][0]  # pooled against the ridge
    assert results["on"][1] < 0.5 * results["off"][1]
    assert results["strong"][1] < 0.05 * results["off"][1]  # near-zero flux across the ridge


def test_froude_rule_lets_a_fast_flow_over_low_hills() -> None:
    """Transmission at a face = 1 - clip((rise - U/N) / H, 0, 1): a 300 m rise is crossed when U/N = 500 m, a 2 km
    rise is not; ``off`` transmits everything; the rule applies in the upwind direction only."""
    elevation = np.zeros((6, 30))
    elevation[:, 10:] = 300.0
    elevation[:, 20:] = 2300.0  # more than the 7-cell (200 km) lookahead beyond the low step
    grid = idealised_grid(elevation)
    n = torch.full((1, 6, 30), 0.01, dtype=F64)
    depth = torch.full((1, 6, 30), 2000.0, dtype=F64)
    east = FaceWinds.from_centres(torch.full((1, 6, 30), 5.0, dtype=F64), torch.zeros((1, 6, 30), dtype=F64))
    tx, ty = Blocking.from_grid(grid, "on", F64).transmission(east, n, depth)
    assert float(tx[0, 3, 10]) == pytest.approx(1.0)  # 300 m < U/N = 500 m
    assert float(tx[0, 3, 20]) == pytest.approx(1 - (2000 - 500) / 2000)
    assert float(tx[0, 3, 3]) == pytest.approx(1.0) and float(tx[0, 3, 15]) == pytest.approx(1.0)  # no climb
    assert float(ty.min()) == pytest.approx(1.0)  # no northward wind: nothing to block
    strong, _ = Blocking.from_grid(grid, "strong", F64).transmission(east, n, depth)
    assert float(strong[0, 3, 20]) == 0.0
    west = east.scaled(-1.0, 1.0)  # flowing down the escarpment: nothing to climb
    tx_west, _ = Blocking.from_grid(grid, "on", F64).transmission(west, n, depth)
    assert float(tx_west.min()) == pytest.approx(1.0)
    assert Blocking.from_grid(grid, "off", F64).transmission(east, n, depth) == (1.0, 1.0)
    with pytest.raises(DataError, match="off, on, strong"):
        Blocking.from_grid(grid, "medium", F64)


def test_advection_stays_positive_at_any_courant_number() -> None:
    grid = idealised_grid(np.zeros((32, 32)))
    metrics = Metrics.from_grid(grid, F64)
    generator = torch.Generator().manual_seed(0)
    conc = (torch.rand((2, 3, 32, 32), generator=generator, dtype=F64) > 0.9).to(F64) * 500.0
    angle = torch.rand((2, 32, 32), generator=generator, dtype=F64) * 2 * np.pi
    winds = FaceWinds.from_centres(40.0 * torch.cos(angle), 40.0 * torch.sin(angle))  # 40 m/s, 3 h: Courant ~17
    for _ in range(10):
        conc, _ = advect(conc, winds, 3 * 3600.0, metrics, torch.tensor([1.0, 0.0, 5.0], dtype=F64))
        conc = diffuse(conc, 2e4, 3 * 3600.0, metrics)
        assert torch.isfinite(conc).all() and float(conc.min()) >= 0.0


def test_a_puff_leaves_through_the_open_edge_with_its_mass() -> None:
    grid = idealised_grid(np.zeros((30, 40)))
    metrics = Metrics.from_grid(grid, F64)
    conc = torch.zeros((1, 1, 30, 40), dtype=F64)
    conc[..., 12:18, 20:26] = 50.0
    winds = FaceWinds.from_centres(torch.full((1, 30, 40), 20.0, dtype=F64), torch.full((1, 30, 40), -5.0, dtype=F64))
    start, outflow = float(total_mass(conc, metrics)), 0.0
    for _ in range(12):
        conc, fluxes = advect(conc, winds, 3600.0, metrics, torch.zeros(1, dtype=F64))
        inflow, out = fluxes.boundary()
        assert float(inflow.sum()) == 0.0
        outflow += float(out.sum())
    assert float(total_mass(conc, metrics)) == pytest.approx(start - outflow, rel=1e-9, abs=start * 1e-12)
    assert outflow > 0.5 * start  # 12 h at 20 m/s carries most of the puff out of a 10-degree domain
