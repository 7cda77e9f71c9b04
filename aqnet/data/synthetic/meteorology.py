"""Near-surface meteorology: seasonal monsoon background + travelling synoptic waves + diurnal cycle,
with low-level flow blocked by real terrain.

Terrain blocking (why mountains stop transport here): a stably stratified flow of speed U can lift air over a
height U/N only (kinetic vs potential energy, N the Brunt-Vaisala frequency). For each cell the obstacle ahead is the
highest terrain along the flow within ``LOOKAHEAD_M``; air of the mixed layer (depth H_bl) that lies below the
dividing-streamline height h_d = dh - U/N cannot pass, so the fraction clip(h_d / H_bl, 0, 1) of the upslope
wind component (against the smoothed terrain gradient) is removed and turned along the contours (flow splitting,
speed kept). Nights are more stable (larger N, shallower layer), so blocking is stronger at night. Sub-grid
orographic form drag then slows the wind over rough terrain. The model under test never sees this rule: it sees
only the resulting winds, temperatures and concentrations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from aqnet.data.synthetic.grid import EARTH_RADIUS_M, Grid
from aqnet.data.synthetic.transport import Metrics, index_grid, sample

LOOKAHEAD_M = 200e3
N_LOOKAHEAD = 4
LAPSE_RATE = 0.0065  # K m-1
GRAVITY = 9.80665
R_DRY = 287.05
SYNOPTIC_MODES = 5


@dataclass
class MetState:
    """Fields at one instant, each [B, H, W] (B runs); ``sun`` is cos(solar zenith) clipped at 0, [H, W]."""

    u: torch.Tensor
    v: torch.Tensor
    temp: torch.Tensor
    rh: torch.Tensor
    psfc: torch.Tensor
    sun: torch.Tensor
    mixing_height: torch.Tensor  # [H, W] m, depth the surface emissions mix into


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


def blocked_wind(
    u: torch.Tensor,
    v: torch.Tensor,
    elevation: torch.Tensor,
    normal: tuple[torch.Tensor, torch.Tensor],
    metrics: Metrics,
    brunt_vaisala: float | torch.Tensor,
    layer_depth: float | torch.Tensor,
    lookahead_m: float = LOOKAHEAD_M,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-level wind after terrain blocking (see the module docstring). u, v [B, H, W]; elevation [H, W] m;
    ``normal`` = unit upslope direction (east, north) of the smoothed terrain [H, W], zero on flat ground."""
    speed = torch.sqrt(u**2 + v**2).clamp(min=1e-6)
    rows, cols = index_grid(*u.shape[-2:], u.dtype)
    elev = elevation.to(u.dtype).expand(u.shape[0], 1, *u.shape[-2:])
    obstacle = torch.zeros_like(u)
    for k in range(1, N_LOOKAHEAD + 1):
        distance = lookahead_m * k / N_LOOKAHEAD
        ahead_row = rows + distance * (v / speed) / metrics.dy
        ahead_col = cols + distance * (u / speed) / metrics.dx_at(rows)
        obstacle = torch.maximum(obstacle, sample(elev, ahead_row, ahead_col)[:, 0])
    rise = (obstacle - elevation.to(u.dtype)).clamp(min=0)
    blocked = ((rise - speed / brunt_vaisala) / layer_depth).clamp(0, 1)

    n_east, n_north = normal[0].to(u.dtype), normal[1].to(u.dtype)
    upslope = (u * n_east + v * n_north).clamp(min=0)
    removed = blocked * upslope
    along = -u * n_north + v * n_east  # component along the contours, t = (-n_north, n_east)
    # Flow splitting: the removed speed is added along the contours on the side the flow already leans to.
    along_new = along + torch.tanh(along / 0.5) * (torch.sqrt(along**2 + removed**2) - along.abs())
    d_along = along_new - along
    return u - removed * n_east - d_along * n_north, v - removed * n_north + d_along * n_east


def upslope_normal(grid: Grid, smoothing_m: float = LOOKAHEAD_M / 2) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector up the terrain smoothed at the blocking scale (east, north components); 0 where flat."""
    sigma = max(smoothing_m / grid.dy, 0.5)
    smooth = gaussian_filter(grid.terrain.elevation.astype(np.float64), sigma, mode="nearest")
    d_north = np.gradient(smooth, axis=0) / grid.dy
    d_east = np.gradient(smooth, axis=1) / grid.dx[:, None]
    slope = np.hypot(d_east, d_north)
    flat = slope < 1e-5  # < 1 m per 100 km: no obstacle to block against
    scale = np.where(flat, 0.0, 1.0 / np.maximum(slope, 1e-12))
    return (d_east * scale).astype(np.float32), (d_north * scale).astype(np.float32)


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
        self.normal = tuple(t(a) for a in upslope_normal(grid))
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

        u_syn, v_syn, psi = self.synoptic(hours)
        # Seasonal background: winter north-westerly monsoon, summer southerly monsoon, westerlies in the north.
        u_bg = 1.0 + 4.0 * self.north * (0.6 + 0.4 * winter)
        v_bg = -winter * (1.0 + 2.0 * self.north)
        diurnal = 1.0 + 0.3 * torch.cos(2 * math.pi * (local_hour - 14.0) / 24.0)  # daytime momentum mixing
        u0, v0 = (u_bg + u_syn) * diurnal, (v_bg + v_syn) * diurnal
        brunt_vaisala = 0.010 + 0.010 * (1 - daytime)
        layer_depth = 250.0 + (700.0 + 400.0 * (1 - winter) / 2) * daytime
        u, v = blocked_wind(u0, v0, self.elevation, self.normal, self.metrics, brunt_vaisala, layer_depth)
        u, v = u * self.drag, v * self.drag

        t_mean = self.t_annual - self.t_amplitude * winter - LAPSE_RATE * self.elevation
        diurnal_range = (1.5 + (2.5 + 3.0 * self.aridity) * self.land) * torch.cos(
            2 * math.pi * (local_hour - 15.0) / 24.0
        )
        t_anomaly = 0.7 * v_syn  # warm advection in southerlies, cold behind the troughs
        temp = t_mean + t_anomaly + diurnal_range
        depression = 3.0 + 13.0 * self.aridity + 7.0 * max(winter, 0.0) * self.north  # dry continental winters
        dewpoint = torch.minimum(t_mean + 1.6 * v_syn - depression, temp)
        rh = 100.0 * torch.exp(_magnus(dewpoint) - _magnus(temp))

        p_msl = 101325.0 + 1500.0 * winter * self.north + 1.2 * self.f0 * psi
        layer_temp = t_mean + t_anomaly + 0.5 * LAPSE_RATE * self.elevation
        psfc = p_msl * torch.exp(-GRAVITY * self.elevation / (R_DRY * layer_temp))
        mixing_height = 300.0 + (500.0 + 700.0 * (1 - winter) / 2) * daytime
        return MetState(u=u, v=v, temp=temp, rh=rh.clamp(3.0, 100.0), psfc=psfc, sun=sun, mixing_height=mixing_height)


def _magnus(temp_k: torch.Tensor) -> torch.Tensor:
    """ln of saturation vapour pressure over water (hPa), Magnus form (Alduchov & Eskridge)."""
    celsius = temp_k - 273.15
    return math.log(6.1094) + 17.625 * celsius / (celsius + 243.04)
