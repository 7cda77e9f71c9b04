"""Real terrain from pvlib's Altitude.h5: orientation, units, sea handling and regridding."""

from __future__ import annotations

import numpy as np
import pytest

from aqnet.data.terrain import elevation_at, load_altitude, regrid_elevation, regrid_terrain
from aqnet.errors import DataError

LHASA = (29.65, 91.1, 4086.0)
BEIJING = (39.9, 116.4, 54.0)


def _cell(lat: np.ndarray, lon: np.ndarray, point_lat: float, point_lon: float) -> tuple[int, int]:
    return int(np.argmin(abs(lat - point_lat))), int(np.argmin(abs(lon - point_lon)))


def test_point_elevations_fix_the_orientation() -> None:
    assert elevation_at(LHASA[0], LHASA[1]) == pytest.approx(LHASA[2], abs=30)
    assert elevation_at(BEIJING[0], BEIJING[1]) == pytest.approx(BEIJING[2], abs=30)
    assert elevation_at(27.99, 86.93) > 5000  # Everest region
    assert elevation_at(35.0, 123.0) == 0.0  # Yellow Sea


def test_global_grid_has_no_nan_and_sea_is_zero() -> None:
    elevation, land = load_altitude()
    assert elevation.shape == (2160, 4320)
    assert np.isfinite(elevation).all()
    assert (elevation[~land] == 0).all()
    assert 0.2 < land.mean() < 0.4  # the Earth is about 29% land


@pytest.mark.parametrize("resolution", [1.0, 0.25])
def test_regridded_china(resolution: float) -> None:
    lat = np.arange(18 + resolution / 2, 50, resolution)
    lon = np.arange(73 + resolution / 2, 137, resolution)
    elevation, mask = regrid_elevation(lat, lon)
    assert elevation.shape == mask.shape == (lat.size, lon.size)
    assert elevation.dtype == np.float32 and np.isfinite(elevation).all()
    # Area means smooth peaks: the Lhasa valley sits inside a 4-5 km plateau.
    assert 3500 < elevation[_cell(lat, lon, *LHASA[:2])] < 5200
    assert elevation[_cell(lat, lon, *BEIJING[:2])] < 400
    assert mask[_cell(lat, lon, *LHASA[:2])] == 1 and mask[_cell(lat, lon, *BEIJING[:2])] == 1
    for sea in [(35.0, 123.5), (15.0 + 3.0, 115.0), (30.0, 126.0)]:  # Yellow, South China, East China Sea
        cell = _cell(lat, lon, *sea)
        assert mask[cell] == 0 and elevation[cell] == 0.0
    assert (elevation[mask == 0] == 0).all()
    assert mask[_cell(lat, lon, 34.0, 110.0)] == 1  # the Loess plateau / central China is land
    assert 0.7 < mask.mean() < 0.9  # the box is mostly land


def test_regrid_is_area_mean_and_reports_fraction() -> None:
    lat = np.arange(39.5, 41.0, 1.0)
    lon = np.arange(115.5, 118.0, 1.0)
    terrain = regrid_terrain(lat, lon)
    elevation, land = load_altitude()
    rows = slice((90 - 40) * 12, (90 - 39) * 12)  # the 1-degree band 39-40N
    cols = slice((180 + 115) * 12, (180 + 116) * 12)
    block = elevation[rows, cols].astype(np.float64)
    weights = np.cos(np.deg2rad(39.5 + (np.arange(12)[::-1] + 0.5) / 12 - 0.5))[:, None] * np.ones((1, 12))
    expected = (block * weights).sum() / weights.sum()
    assert terrain.elevation[0, 0] == pytest.approx(expected, rel=1e-4)
    assert terrain.land_fraction[0, 0] == pytest.approx(land[rows, cols].mean(), abs=0.01)
    assert (terrain.roughness >= 0).all()


def test_bad_axes_raise_data_error() -> None:
    with pytest.raises(DataError):
        regrid_elevation(np.array([40.0, 39.0]), np.array([100.0, 101.0]))
