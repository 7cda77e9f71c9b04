"""Station scoring: bilinear interpolation to stations on a known answer, and the metric names."""

from __future__ import annotations

import numpy as np
import torch

from aqnet.evaluation.stations import StationPoints


def test_bilinear_reproduces_a_plane_and_leaves_out_stations_outside() -> None:
    lat, lon = 30.0 + 0.5 * np.arange(6), 100.0 + 0.5 * np.arange(8)
    plane = 2.0 * lat[:, None] - 3.0 * lon[None, :] + 7.0  # bilinear interpolation is exact on a plane
    s_lat, s_lon = np.array([30.0, 31.3, 32.49, 40.0]), np.array([100.0, 101.7, 103.5, 101.0])
    points = StationPoints.build(lat, lon, s_lat, s_lon)
    assert points.inside.tolist() == [True, True, True, False]
    fields = torch.from_numpy(np.stack([plane, 2 * plane])[None]).float()  # [1, 2, H, W]
    out = points(fields)[0].numpy()
    expected = 2.0 * s_lat[:3] - 3.0 * s_lon[:3] + 7.0
    np.testing.assert_allclose(out, np.stack([expected, 2 * expected]), rtol=1e-5)
