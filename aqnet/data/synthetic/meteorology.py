"""Near-surface meteorology: seasonal monsoon background + synoptic regimes lasting days (``regimes``) +
travelling synoptic waves + diurnal cycle, with roughness drag over real terrain.

The mixing height follows the clock (daytime convection, deeper in summer) *and* the weather: it is shallow in a
stagnant, stable regime and when the wind is weak, deep behind a cold front. Static stability (N) is larger at
night and in stagnant spells; it sets how strongly terrain blocks the transport (``blocking``). The winds written
to the store are the same whatever the blocking variant: blocking acts on the tracers' face fluxes only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from aqnet.data.synthetic.grid import EARTH_RADIUS_M, Grid
from aqnet.data.synthetic.regimes import Regimes
from aqnet.data.synthetic.transport import Metrics

LAPSE_RATE = 0.0065  # K m-1
GRAVITY = 9.80665
R_DRY = 287.05
SYNOPTIC_MODES = 5


@dataclass
class MetState:
    """Fields at one instant, each [B, H, W] (B runs)."""

    u: torch.Tensor  # m s-1
    v: torch.Tensor
    temp: torch.Tensor  # K
    rh: torch.Tensor  # %
    psfc: torch.Tensor  # Pa
    sun: torch.Tensor  # cos(solar zenith) clipped at 0, dimmed by the regime's cloud (drives photolysis)
    mixing_height: torch.Tensor  # m, depth the surface emissions mix into
    brunt_vaisala: torch.Tensor  # s-1, static stability of the mixed layer's top
    ventilation: torch.Tensor  # factor on the exchange with the free troposphere (1: an ordinary day)


def solar_cos_zenith(hours: float, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """cos(solar zenith) at ``hours`` after Jan 1 00 UTC (Cooper declination, no equation of time)."""
    day = hours / 24.0
    declination = math.radians(-23.44) * math.cos(2 * math.pi * (day + 10) / 365.25)
    hour_angle = np.deg2rad(15.0 * ((hours % 24.0) + lon_deg / 15.0 - 12.0))
    lat = np.deg2rad(lat_deg)
    return np.sin(lat) * math.sin(declination) + np.cos(lat) * math.cos(declination) * np.cos(hour_angle)


def winter_weight(hours: float) -> float:
    """+1 in mid-January, -1 in mid-July."""
    return math.cos(2 * math.pi * (hours / 24.0 - 15.0) / 365.25)


class Meteorology:
    """Deterministic weather for B independent runs (years) on one grid; ``at(hours)`` gives a MetState."""

    def __init__(self, grid: Grid, rngs: list[np.random.Generator], dtype: torch.dtype = torch.float32) -> None:
        self.grid, self.dtype = grid, dtype
        self.metrics = Metrics.from_grid(grid, dtype)
        lat2d, lon2d = grid.lat2d.astype(np.float64), grid.lon2d.astype(np.float64)
        self.lat2d, self.lon2d = lat2d, lon2d
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
        terrain = grid.terrain
        self.elevation = t(terrain.elevation)
        self.land = t(terrain.mask.astype(np.float32))
        self.drag = t(1.0 / (1.0 + terrain.roughness / 600.0)) * (0.75 + 0.35 * (1 - self.land))
        north = np.clip((lat2d - 20.0) / 25.0, 0, 1)
        self.north = t(north)
        # Arid interior (Tarim, Gobi, Loess): far from the summer monsoon's moisture.
        self.aridity = t(1 / (1 + np.exp((lon2d - 106.0) / 4.0)) * 1 / (1 + np.exp(-(lat2d - 34.0) / 2.5)))
        self.t_annual = t(297.0 - 0.5 * (lat2d - 20) - 0.004 * (lat2d - 20) ** 2)
        self.t_amplitude = t(5.0 + 0.55 * np.clip(lat2d - 20, 0, None))
        # Local Cartesian coordinates for the synoptic waves.
        lat0, lon0 = float(grid.lat.mean()), float(grid.lon.mean())
        self.x = t(EARTH_RADIUS_M * math.cos(math.radians(lat0)) * np.deg2rad(lon2d - lon0))
        self.y = t(EARTH_RADIUS_M * np.deg2rad(lat2d - lat0))
        self.x64, self.y64 = self.x.double(), self.y.double()
        self.f0 = 2 * 7.292e-5 * math.sin(math.radians(lat0))
        self.waves = self._draw_waves(rngs)
        self.regimes = Regimes(rngs, grid.lon, dtype)

    def _draw_waves(self, rngs: list[np.random.Generator]) -> dict[str, torch.Tensor]:
        params: dict[str, list[np.ndarray]] = {k: [] for k in ("kx", "ky", "omega", "amp", "phase", "mod_f", "mod_p")}
        for rng in rngs:
            wavelength_x = rng.uniform(2.5e6, 5.5e6, SYNOPTIC_MODES)
            wavelength_y = rng.uniform(2.0e6, 4.5e6, SYNOPTIC_MODES) * rng.choice([-1, 1], SYNOPTIC_MODES)
            kx, ky = 2 * np.pi / wavelength_x, 2 * np.pi / wavelength_y
            speed = rng.uniform(1.5, 3.5, SYNOPTIC_MODES)  # m/s per mode
            params["kx"].append(kx)
            params["ky"].append(ky)
            params["omega"].append(kx * rng.uniform(5.0, 11.0, SYNOPTIC_MODES))  # eastward phase speed
            params["amp"].append(speed / np.hypot(kx, ky))
            params["phase"].append(rng.uniform(0, 2 * np.pi, SYNOPTIC_MODES))
            params["mod_f"].append(2 * np.pi / (3600 * 24 * rng.uniform(8, 20, SYNOPTIC_MODES)))
            params["mod_p"].append(rng.uniform(0, 2 * np.pi, SYNOPTIC_MODES))
        return {k: torch.as_tensor(np.stack(v), dtype=torch.float64)[:, :, None, None] for k, v in params.items()}

    def synoptic(self, hours: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Streamfunction-derived (u, v, psi) [B, H, W]: non-divergent travelling waves with slow envelopes."""
        w, seconds = self.waves, hours * 3600.0
        # Phases in float64 (omega * t grows large over a year), the rest in the working precision.
        phase = (w["kx"] * self.x64 + w["ky"] * self.y64 - w["omega"] * seconds + w["phase"]).to(self.dtype)
        amp = (w["amp"] * (0.55 + 0.45 * torch.sin(w["mod_f"] * seconds + w["mod_p"]))).to(self.dtype)
        cos_phase = amp * torch.cos(phase)
        psi = (amp * torch.sin(phase)).sum(1)
        u = -(cos_phase * w["ky"].to(self.dtype)).sum(1)
        v = (cos_phase * w["kx"].to(self.dtype)).sum(1)
        return u.to(self.dtype), v.to(self.dtype), psi.to(self.dtype)

    def at(self, hours: float) -> MetState:
        """Meteorology ``hours`` after Jan 1 00 UTC of each run's year (negative during spin-up)."""
        winter = winter_weight(hours)
        sun_np = solar_cos_zenith(hours, self.lat2d, self.lon2d)
        sun = torch.as_tensor(np.clip(sun_np, 0, None), dtype=self.dtype)
        local_hour = torch.as_tensor((hours % 24.0 + self.lon2d / 15.0) % 24.0, dtype=self.dtype)
        daytime = (sun / 0.4).clamp(0, 1)
        regime = self.regimes.at(hours)

        u_syn, v_syn, psi = self.synoptic(hours)
        # Seasonal background: winter north-westerly monsoon, summer southerly monsoon, westerlies in the north;
        # the regime's large-scale flow, strongest in the north (cold fronts weaken on their way south).
        u_bg = 1.0 + 3.0 * self.north * (0.6 + 0.4 * winter)
        v_bg = -winter * (0.5 + 1.5 * self.north)
        reach = 0.5 + 0.5 * self.north
        diurnal = 1.0 + 0.3 * torch.cos(2 * math.pi * (local_hour - 14.0) / 24.0)  # daytime momentum mixing
        u0 = (u_bg + regime["u"] * reach + regime["waves"] * u_syn) * diurnal
        v0 = (v_bg + regime["v"] * reach + regime["waves"] * v_syn) * diurnal
        u, v = u0 * self.drag, v0 * self.drag
        speed = torch.sqrt(u**2 + v**2)

        t_mean = self.t_annual - self.t_amplitude * winter - LAPSE_RATE * self.elevation
        diurnal_range = (1.5 + (2.5 + 3.0 * self.aridity) * self.land) * torch.cos(
            2 * math.pi * (local_hour - 15.0) / 24.0
        )
        t_anomaly = 0.5 * regime["waves"] * v_syn + regime["temp"] * reach  # warm advection in southerlies
        temp = t_mean + t_anomaly + diurnal_range
        depression = 3.0 + 13.0 * self.aridity + 7.0 * max(winter, 0.0) * self.north  # dry continental winters
        dewpoint = torch.minimum(t_mean + t_anomaly + 1.2 * v_syn - depression + regime["dew"], temp)
        rh = 100.0 * torch.exp(_magnus(dewpoint) - _magnus(temp))

        p_msl = 101325.0 + 1500.0 * winter * self.north + 1.2 * self.f0 * psi + regime["pressure"] * reach
        layer_temp = t_mean + t_anomaly + 0.5 * LAPSE_RATE * self.elevation
        psfc = p_msl * torch.exp(-GRAVITY * self.elevation / (R_DRY * layer_temp))
        # Mixing height: convection by day (deeper in summer), shallow stable nights; shallower in a stagnant
        # regime and in weak wind (less mechanical mixing), deeper behind a front.
        convective = 150.0 + (350.0 + 900.0 * (1 - winter) / 2) * daytime
        mechanical = (0.55 + 0.09 * speed).clamp(0.6, 1.8)
        mixing_height = (convective * regime["mixing"] * mechanical).clamp(60.0, 3000.0)
        brunt_vaisala = (0.008 + 0.012 * (1 - daytime)) * regime["stability"]
        return MetState(
            u=u,
            v=v,
            temp=temp,
            rh=rh.clamp(3.0, 100.0),
            psfc=psfc,
            sun=sun * (1 - 0.8 * regime["cloud"]),
            mixing_height=mixing_height,
            brunt_vaisala=brunt_vaisala.expand_as(u),
            ventilation=regime["vent"].expand_as(u),
        )


def _magnus(temp_k: torch.Tensor) -> torch.Tensor:
    """ln of saturation vapour pressure over water (hPa), Magnus form (Alduchov & Eskridge)."""
    celsius = temp_k - 273.15
    return math.log(6.1094) + 17.625 * celsius / (celsius + 243.04)
