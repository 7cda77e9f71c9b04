"""Synoptic regimes: weather with memory. Each year draws a Markov sequence of large-scale regimes lasting days.

East Asian weather alternates between a few recurring patterns, and pollution follows them: a stagnant
high-pressure spell (weak wind, shallow stable boundary layer, humid haze) lets PM2.5 build for days until a
northerly cold front clears it out within hours; summer is dominated by the humid, cloudy southerly monsoon,
with westerly flow in between. Here each regime sets a large-scale wind, how strong the travelling synoptic
waves are, factors on the mixing height, the ventilation to the free troposphere and the static stability, a
dew-point and a temperature anomaly, cloudiness (which dims photolysis) and a sea-level pressure anomaly.

A year's sequence is drawn once from its own random stream: after a regime ends (a gamma-distributed duration
around its mean), the next is drawn from weights that follow the season (winter: stagnation and cold fronts;
summer: the monsoon). Parameters change smoothly (a Gaussian ramp of ``RAMP_HOURS``), and a regime reaches the
east later than the west (fronts travel eastward at ``FRONT_DEG_PER_DAY``), so regions differ in timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

RAMP_HOURS = 8.0  # std of the Gaussian that smooths a change of regime
FRONT_DEG_PER_DAY = 15.0  # eastward travel of a regime change (~15 m/s)
REFERENCE_LON = 105.0  # where a regime change happens at its nominal time
MARGIN_DAYS = 12  # the sequence covers [-MARGIN_DAYS, 366 + MARGIN_DAYS] days around Jan 1 (spin-up, fronts)

# name: u, v (m s-1), waves, mixing, vent, stability, dew (K), temp (K), cloud (0-1), pressure (Pa), mean days,
#       weight in winter, weight in summer
_TABLE: dict[str, tuple[float, ...]] = {
    "stagnant": (0.3, 0.2, 0.25, 0.45, 0.15, 1.6, 4.0, 1.5, 0.15, 600.0, 4.0, 0.40, 0.25),
    "northerly": (3.0, -8.0, 0.8, 1.5, 3.0, 0.7, -8.0, -5.0, 0.05, 1500.0, 1.5, 0.27, 0.08),
    "southerly": (1.5, 4.5, 0.6, 0.9, 1.0, 1.0, 5.0, 2.5, 0.5, -700.0, 3.0, 0.13, 0.47),
    "westerly": (6.0, 0.5, 1.0, 1.15, 1.4, 0.9, -3.0, 0.0, 0.2, 0.0, 2.5, 0.20, 0.20),
}
REGIMES: tuple[str, ...] = tuple(_TABLE)
FIELDS: tuple[str, ...] = ("u", "v", "waves", "mixing", "vent", "stability", "dew", "temp", "cloud", "pressure")
_PARAMS = np.array([row[: len(FIELDS)] for row in _TABLE.values()])  # [R, P]
_DAYS = np.array([row[len(FIELDS)] for row in _TABLE.values()])
_WINTER = np.array([row[len(FIELDS) + 1] for row in _TABLE.values()])
_SUMMER = np.array([row[len(FIELDS) + 2] for row in _TABLE.values()])


def _winter_weight(day: float) -> float:
    return math.cos(2 * math.pi * (day - 15.0) / 365.25)


def draw_sequence(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(start day of each regime spell, regime index) covering the year and its margins."""
    day, starts, kinds = -float(MARGIN_DAYS), [], []
    current = int(rng.choice(len(REGIMES), p=_weights(day, -1)))
    while day < 366 + MARGIN_DAYS:
        starts.append(day)
        kinds.append(current)
        day += max(0.75, rng.gamma(2.5, _DAYS[current] / 2.5))
        current = int(rng.choice(len(REGIMES), p=_weights(day, current)))
    return np.array(starts), np.array(kinds)


def _weights(day: float, current: int) -> np.ndarray:
    w = 0.5 * (1 + _winter_weight(day))  # 1 in mid-January, 0 in mid-July
    p = w * _WINTER + (1 - w) * _SUMMER
    if current >= 0:
        p = p.copy()
        p[current] = 0.0
    return p / p.sum()


@dataclass(frozen=True)
class RegimeFields:
    """Regime parameters [B, 1, W] at one instant (one value per run and column); see ``FIELDS``."""

    values: dict[str, torch.Tensor]

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.values[name]


class Regimes:
    """Hourly, smoothed regime parameters for B runs; ``at(hours)`` samples them per grid column."""

    def __init__(self, rngs: list[np.random.Generator], lon: np.ndarray, dtype: torch.dtype = torch.float32) -> None:
        self.first_hour = -MARGIN_DAYS * 24
        hours = np.arange(self.first_hour, (366 + MARGIN_DAYS) * 24 + 1, dtype=np.float64)
        tables = []
        self.sequences = []
        for rng in rngs:
            starts, kinds = draw_sequence(rng)
            self.sequences.append((starts, kinds))
            index = np.searchsorted(starts * 24, hours, side="right") - 1
            tables.append(gaussian_filter1d(_PARAMS[kinds[index]].T, RAMP_HOURS, axis=-1, mode="nearest"))
        self.table = torch.as_tensor(np.stack(tables), dtype=torch.float64)  # [B, P, T]
        self.delay_hours = torch.as_tensor((lon - REFERENCE_LON) / FRONT_DEG_PER_DAY * 24.0, dtype=torch.float64)
        self.dtype = dtype

    def at(self, hours: float) -> RegimeFields:
        position = hours - self.delay_hours - self.first_hour  # [W], fractional index into the hourly table
        position = position.clamp(0, self.table.shape[-1] - 1.000001)
        low = position.floor().long()
        frac = (position - low).to(self.table.dtype)
        values = self.table[..., low] * (1 - frac) + self.table[..., low + 1] * frac  # [B, P, W]
        values = values.to(self.dtype)[:, :, None, :]
        return RegimeFields({name: values[:, k] for k, name in enumerate(FIELDS)})

    def regime_at(self, run: int, day: float) -> str:
        """The regime of run ``run`` at ``day`` (after Jan 1) at the reference longitude (for tests and docs)."""
        starts, kinds = self.sequences[run]
        return REGIMES[int(kinds[np.searchsorted(starts, day, side="right") - 1])]
