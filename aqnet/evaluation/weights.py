"""Area weights of a regular lat/lon grid, shared by losses and scores of every task."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def latitude_weights(lat: Tensor, normalise: bool = True) -> Tensor:
    """Area weights ``cos(lat)`` for a 1-D latitude vector in degrees, shape [H].

    With ``normalise`` the weights have mean 1 (w = cos/mean(cos)), so a loss has the scale of a plain MSE.
    """
    lat = torch.as_tensor(lat, dtype=torch.float64)
    if lat.ndim != 1:
        raise ValueError(f"lat must be 1-D [H] (degrees), got shape {tuple(lat.shape)}")
    w = torch.cos(lat * (math.pi / 180.0)).clamp_min(0.0)  # clamp: ±90° can round to tiny negatives
    if normalise:
        w = w / w.mean()
    return w.to(torch.float32)
