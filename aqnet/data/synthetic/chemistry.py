"""Local chemistry, deposition and ventilation for the six tracers, integrated exactly over a step.

Every process is a first-order loss (applied as exp(-k dt), so never negative) or a non-negative production:
- SO2 -> sulfate and NO2 -> nitrate (gas-phase with sunlight, aqueous/heterogeneous when humid): secondary PM2.5
  (mass factors of ammonium salts; nitrate stays particulate only when cold).
- O3 is produced in sunlight and warmth at a rate that rises then falls with NO2 (NOx- then VOC-limited) and is
  titrated by fresh NO, with NO2 as its proxy, mostly at night (no photolysis to give it back); titration makes NO2.
- dry deposition (coarse particles settle fast), wet scavenging when RH approaches saturation (fog, rain).
- ventilation: exchange with the free troposphere relaxes toward BACKGROUND, faster under daytime convection and
  scaled by the synoptic regime (days in a stagnant spell, hours behind a cold front).
"""

from __future__ import annotations

import torch

from aqnet.data.synthetic.emissions import BACKGROUND, SPECIES
from aqnet.data.synthetic.meteorology import MetState

PM25, COARSE, SO2, NO2, CO, O3 = (SPECIES.index(s) for s in ("pm25", "coarse", "so2", "no2", "co", "o3"))
PER_HOUR = 1 / 3600.0
# Dry deposition rates (h-1): lifetimes of about 5 days, 20 h, 2 days, 3 days, 2 months, 2 days.
DRY_DEPOSITION = (1 / 120, 1 / 20, 1 / 48, 1 / 72, 1 / 1440, 1 / 48)
WET_SCAVENGING = (0.08, 0.15, 0.05, 0.01, 0.0, 0.0)  # h-1 at saturation
SULFATE_PER_SO2 = 132 / 64  # (NH4)2SO4 formed per SO2 mass
NITRATE_PER_NO2 = 80 / 46  # NH4NO3 formed per NO2 mass
NO2_PER_O3 = 46 / 48
VENT_BASE_PER_HOUR = 1 / 120  # exchange with the free troposphere on an ordinary day (h-1)
VENT_DAYTIME_PER_HOUR = 1 / 30  # added by daytime convection


def chemistry_step(c: torch.Tensor, met: MetState, dt: float) -> torch.Tensor:
    """Advance tracers [B, S, H, W] (ug m-3) by ``dt`` seconds of local processes."""
    c = c.clone()
    sun = met.sun  # [B, H, W]
    daytime = (sun / 0.4).clamp(0, 1)
    humid = ((met.rh - 60.0) / 40.0).clamp(0, 1)
    near_saturation = ((met.rh - 85.0) / 15.0).clamp(0, 1)

    # Secondary aerosol.
    k_so2 = (0.004 + 0.03 * sun + 0.06 * humid**2) * PER_HOUR
    k_no2 = (0.01 + 0.10 * sun + 0.05 * humid) * PER_HOUR
    so2_converted = c[:, SO2] * (1 - torch.exp(-k_so2 * dt))
    no2_converted = c[:, NO2] * (1 - torch.exp(-k_no2 * dt))
    particulate_nitrate = torch.sigmoid((290.0 - met.temp) / 5.0)  # NH4NO3 evaporates when warm
    c[:, SO2] -= so2_converted
    c[:, NO2] -= no2_converted
    c[:, PM25] += SULFATE_PER_SO2 * so2_converted + NITRATE_PER_NO2 * particulate_nitrate * no2_converted

    # Ozone: production P(sun, T, NO2) and night-time titration by NO (proxy: NO2).
    no2 = c[:, NO2]
    nox_regime = 4 * no2 * 25.0 / (no2 + 25.0) ** 2  # 1 at 25 ug m-3 NO2, less when cleaner or dirtier
    production = 30.0 * sun * ((met.temp - 265.0) / 30.0).clamp(0, 1.5) * nox_regime * PER_HOUR
    k_titration = 0.004 * no2 * (1 - 0.8 * daytime) * PER_HOUR
    o3_titrated = c[:, O3] * (1 - torch.exp(-k_titration * dt))
    c[:, O3] += production * dt - o3_titrated
    c[:, NO2] += 0.5 * NO2_PER_O3 * o3_titrated  # half the NO reservoir is implicit in the NO2 emissions

    # Deposition (dry + wet) and ventilation toward the free troposphere.
    dry = torch.tensor(DRY_DEPOSITION, dtype=c.dtype)[None, :, None, None]
    wet = torch.tensor(WET_SCAVENGING, dtype=c.dtype)[None, :, None, None]
    loss = (dry + wet * near_saturation[:, None]) * PER_HOUR
    c = c * torch.exp(-loss * dt)
    k_vent = met.ventilation * (VENT_BASE_PER_HOUR + VENT_DAYTIME_PER_HOUR * daytime) * PER_HOUR
    background = torch.tensor([BACKGROUND[s] for s in SPECIES], dtype=c.dtype)[None, :, None, None]
    relax = torch.exp(-k_vent[:, None] * dt)  # [B, 1, H, W]: every species
    return background + (c - background) * relax
