"""Realistic random physical inputs for the benchmarks (no data store is read).

Fields are smooth (a few random low-wavenumber cosine modes), seeded, in physical units: elevation 0–5000 m
(squared, so lowland dominates as in real terrain), wind components within ±10 m/s, and plausible ranges for the
other canonical variables. Values only matter to the timing through the bias (how many pairs saturate); they keep
the physics bias in its real regime.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

# name -> (low, high) in the store's units; pollutants and population are spread log-uniformly
RANGES: dict[str, tuple[float, float]] = {
    "u": (-10.0, 10.0),
    "v": (-10.0, 10.0),
    "temp": (250.0, 310.0),
    "rh": (5.0, 100.0),
    "psfc": (55_000.0, 103_000.0),
    "lat2d": (18.0, 50.0),
    "lon2d": (73.0, 137.0),
    "elevation": (0.0, 5000.0),
    "mask": (0.0, 1.0),
}
LOG_RANGES: dict[str, tuple[float, float]] = {
    "pm25": (2.0, 400.0),
    "pm10": (5.0, 600.0),
    "so2": (0.5, 150.0),
    "no2": (2.0, 120.0),
    "co": (100.0, 3000.0),
    "o3": (5.0, 250.0),
    "population": (1.0, 20_000.0),
}


def token_grid(n: int) -> tuple[int, int]:
    """A near-square (rows, cols) layout of n tokens (rows: the largest divisor of n not above sqrt(n))."""
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return rows, n // rows


def smooth_field(batch: int, shape: tuple[int, int], gen: torch.Generator, modes: int = 6) -> Tensor:
    """[batch, H, W] in [0, 1]: a sum of random low-wavenumber cosines, min-max scaled per sample."""
    h, w = shape
    y = torch.linspace(0.0, 1.0, h).view(1, h, 1)
    x = torch.linspace(0.0, 1.0, w).view(1, 1, w)
    field = torch.zeros(batch, h, w)
    for _ in range(modes):
        ky, kx = torch.randint(0, 4, (2, batch, 1, 1), generator=gen).float()
        phase = 2 * math.pi * torch.rand(batch, 1, 1, generator=gen)
        amp = torch.rand(batch, 1, 1, generator=gen)
        field += amp * torch.cos(2 * math.pi * (ky * y + kx * x) + phase)
    low = field.amin(dim=(1, 2), keepdim=True)
    high = field.amax(dim=(1, 2), keepdim=True)
    return (field - low) / (high - low).clamp_min(1e-6)


def physical_field(name: str, batch: int, shape: tuple[int, int], gen: torch.Generator) -> Tensor:
    """[batch, H, W] of variable ``name`` in its physical units (unknown names: smooth in [0, 1])."""
    f = smooth_field(batch, shape, gen)
    if name == "elevation":
        return 5000.0 * f.square()
    if name in LOG_RANGES:
        low, high = LOG_RANGES[name]
        return torch.exp(math.log(low) + (math.log(high) - math.log(low)) * f)
    low, high = RANGES.get(name, (0.0, 1.0))
    return low + (high - low) * f


def token_physics(batch: int, n: int, seed: int = 0) -> dict[str, Tensor]:
    """Per-token elevation (m) and wind components (m/s), [batch, n] each, for an attention-layer benchmark."""
    gen = torch.Generator().manual_seed(seed)
    shape = token_grid(n)
    return {name: physical_field(name, batch, shape, gen).flatten(1) for name in ("elevation", "u", "v")}


def physical_inputs(names: Sequence[str], batch: int, shape: tuple[int, int], seed: int = 0) -> Tensor:
    """[batch, V, H, W] inputs in physical units, in the order of ``names``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([physical_field(name, batch, shape, gen) for name in names], dim=1)


def batch_statistics(inputs: Tensor, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Normalisation statistics of ``inputs`` itself (mean/std and their log1p versions), per variable."""
    stats: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        x = inputs[:, i].double()
        logx = torch.log1p(x.clamp_min(0.0))
        stats[name] = {
            "mean": x.mean().item(),
            "std": x.std().item(),
            "log1p_mean": logx.mean().item(),
            "log1p_std": logx.std().item(),
        }
    return stats
