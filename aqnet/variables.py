"""The canonical variables of aqnet, by name, with their physical units.

Nothing in aqnet addresses a variable by channel position: configs and stores name variables, and this registry
says what each canonical name means. Units are CF strings; they are what a store holds after conversion
(see :mod:`aqnet.data.units`) and what batches carry. The model normalises internally.
"""

from __future__ import annotations

from dataclasses import dataclass

UG_M3 = "µg m-3"
CONCENTRATION_UG_M3 = (-1.0, 1e5)  # interpolation may dip just below 0; 1e5 µg m-3 = 100 mg m-3


@dataclass(frozen=True)
class VariableSpec:
    name: str
    units: str
    long_name: str
    static: bool = False  # static fields are (lat, lon); dynamic ones (time, lat, lon)
    heavy_tailed: bool = False  # candidates for log1p before standardising
    standard_name: str | None = None
    # (low, high) that a correct store stays within, in ``units``; a store in other units under this label falls
    # outside (°C as K, hPa as Pa, mg as µg). Checked for every variable a run reads (aqnet.config.validate).
    plausible: tuple[float, float] | None = None


_SPECS = [
    VariableSpec("u", "m s-1", "eastward near-surface wind", standard_name="eastward_wind", plausible=(-150.0, 150.0)),
    VariableSpec(
        "v", "m s-1", "northward near-surface wind", standard_name="northward_wind", plausible=(-150.0, 150.0)
    ),
    VariableSpec(
        "temp", "K", "near-surface air temperature", standard_name="air_temperature", plausible=(150.0, 350.0)
    ),
    VariableSpec(
        "rh", "%", "near-surface relative humidity", standard_name="relative_humidity", plausible=(-1.0, 110.0)
    ),
    VariableSpec(
        "psfc", "Pa", "surface air pressure", standard_name="surface_air_pressure", plausible=(30000.0, 110000.0)
    ),
    VariableSpec(
        "pm25",
        UG_M3,
        "PM2.5 mass concentration",
        heavy_tailed=True,
        standard_name="mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air",
        plausible=CONCENTRATION_UG_M3,
    ),
    VariableSpec(
        "pm10",
        UG_M3,
        "PM10 mass concentration",
        heavy_tailed=True,
        standard_name="mass_concentration_of_pm10_ambient_aerosol_particles_in_air",
        plausible=CONCENTRATION_UG_M3,
    ),
    VariableSpec(
        "so2",
        UG_M3,
        "SO2 mass concentration",
        heavy_tailed=True,
        standard_name="mass_concentration_of_sulfur_dioxide_in_air",
        plausible=CONCENTRATION_UG_M3,
    ),
    VariableSpec(
        "no2",
        UG_M3,
        "NO2 mass concentration",
        heavy_tailed=True,
        standard_name="mass_concentration_of_nitrogen_dioxide_in_air",
        plausible=CONCENTRATION_UG_M3,
    ),
    VariableSpec(
        "co",
        UG_M3,
        "CO mass concentration",
        heavy_tailed=True,
        standard_name="mass_concentration_of_carbon_monoxide_in_air",
        plausible=CONCENTRATION_UG_M3,
    ),
    VariableSpec(
        "o3",
        UG_M3,
        "O3 mass concentration",
        heavy_tailed=True,
        standard_name="mass_concentration_of_ozone_in_air",
        plausible=CONCENTRATION_UG_M3,
    ),
    VariableSpec(
        "lat2d",
        "degrees_north",
        "latitude of grid cell centre",
        static=True,
        standard_name="latitude",
        plausible=(-90.0, 90.0),
    ),
    VariableSpec(
        "lon2d",
        "degrees_east",
        "longitude of grid cell centre",
        static=True,
        standard_name="longitude",
        plausible=(-180.0, 360.0),
    ),
    VariableSpec(
        "elevation",
        "m",
        "surface elevation above sea level",
        static=True,
        standard_name="surface_altitude",
        plausible=(-500.0, 9000.0),
    ),
    VariableSpec(
        "population",
        "km-2",
        "population density (persons per km2)",
        static=True,
        heavy_tailed=True,
        plausible=(0.0, 1e6),
    ),
    VariableSpec(
        "mask", "1", "region of interest (1 = scored, 0 = ignored), e.g. land", static=True, plausible=(0.0, 1.0)
    ),
]

VARIABLES: dict[str, VariableSpec] = {s.name: s for s in _SPECS}

INPUT_VARIABLES: tuple[str, ...] = (
    "u",
    "v",
    "temp",
    "rh",
    "psfc",
    "pm25",
    "pm10",
    "so2",
    "no2",
    "co",
    "o3",
    "lat2d",
    "lon2d",
    "elevation",
    "population",
)
POLLUTANTS: tuple[str, ...] = ("pm25", "pm10", "so2", "no2", "co", "o3")
METEOROLOGY: tuple[str, ...] = ("u", "v", "temp", "rh", "psfc")
STATIC_VARIABLES: tuple[str, ...] = tuple(s.name for s in _SPECS if s.static)
LEAD_HOURS: tuple[int, ...] = (12, 24, 48, 96)


def spec(name: str) -> VariableSpec:
    """The spec of a canonical variable; a KeyError names the known ones."""
    try:
        return VARIABLES[name]
    except KeyError:
        raise KeyError(f"unknown variable {name!r}; known: {', '.join(VARIABLES)}") from None
