"""``model=unet_film``: any grid of at least 2^depth pixels a side is padded inside and cropped back; FiLM
conditions on the lead and the time; a grid too small for the depth is named."""

from __future__ import annotations

import pytest
import torch

from aqnet.errors import ConfigError
from aqnet.models.unet_film import UNetFiLM

NAMES = ["pm25", "temp"]
STATS = {"pm25": {"mean": 40.0, "std": 20.0}, "temp": {"mean": 280.0, "std": 10.0}}


def net(grid: tuple[int, int], depth: int = 2, film: bool = True) -> UNetFiLM:
    torch.manual_seed(0)
    return UNetFiLM(NAMES, ["pm25_gt75"], grid, STATS, width=4, depth=depth, film=film)


def call(model: UNetFiLM, x: torch.Tensor, lead: float = 24.0) -> torch.Tensor:
    b = x.shape[0]
    return model(x, torch.full((b,), lead), torch.zeros(b), torch.full((b,), 10.0))


@pytest.mark.parametrize("grid", [(4, 4), (9, 13), (32, 64)])
def test_odd_grids_are_padded_and_cropped(grid: tuple[int, int]) -> None:
    x = torch.rand(2, 2, *grid) * 100
    out = call(net(grid), x)
    assert out.shape == (2, 1, *grid) and torch.isfinite(out).all()


def test_each_output_pixel_depends_on_its_neighbourhood_not_on_padding_position() -> None:
    model = net((9, 13)).eval()
    x = torch.rand(1, 2, 9, 13) * 100
    x.requires_grad_(True)
    call(model, x)[0, 0, 4, 6].backward()
    assert x.grad is not None and x.grad[0, :, 4, 6].abs().sum() > 0


def test_film_conditions_on_the_lead_and_starts_as_the_identity() -> None:
    model = net((8, 8)).eval()
    x = torch.rand(1, 2, 8, 8) * 100
    torch.testing.assert_close(call(model, x, 12.0), call(model, x, 96.0))  # γ = β = 0 at initialisation
    with torch.no_grad():
        for block in model.encoder:
            block.film.weight.normal_()
    assert not torch.allclose(call(model, x, 12.0), call(model, x, 96.0))
    plain = net((8, 8), film=False)
    assert all(block.film is None for block in plain.encoder)


def test_a_grid_the_unet_cannot_pad_is_named() -> None:
    with pytest.raises(ConfigError, match=r"model.depth=3: .* at least 8x8 .* grid is 6x20"):
        net((6, 20), depth=3)
