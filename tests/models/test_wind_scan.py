"""Wind scanning: the scan order itself, its exact inverse, equivariance without an order component, and the rank
encoding that makes the order matter."""

from __future__ import annotations

import math

import pytest
import torch

from aqnet.errors import ConfigError
from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.physics import TopoFlowBias
from aqnet.models.wind_scan import WindScan
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS

GRID = (16, 32)  # token grid 8×16 with patch 2
BACKBONE = BackboneConfig(embed_dim=32, depth=2, decoder_depth=1, num_heads=4, drop_path=0.0, drop_rate=0.0)


def _wind(direction_deg: float, grid: tuple[int, int] = (2, 4), speed: float = 3.0) -> tuple[torch.Tensor, ...]:
    """Uniform per-token wind blowing TOWARDS ``direction_deg`` (counter-clockwise from east)."""
    n = grid[0] * grid[1]
    rad = math.radians(direction_deg)
    return torch.full((1, n), speed * math.cos(rad)), torch.full((1, n), speed * math.sin(rad))


@pytest.mark.parametrize(
    ("towards_deg", "expected"),
    [
        # one 2×4 region, tokens row-major, latitude ascending: row 0 (south) = 0 1 2 3, row 1 (north) = 4 5 6 7
        (0.0, [0, 4, 1, 5, 2, 6, 3, 7]),  # westerly (flow east): west column first, rows in raster order
        (180.0, [3, 7, 2, 6, 1, 5, 0, 4]),  # easterly: east column first
        (90.0, [0, 1, 2, 3, 4, 5, 6, 7]),  # southerly (flow north): the southern row is upwind
        (270.0, [4, 5, 6, 7, 0, 1, 2, 3]),  # northerly: the northern row first
        # flow to the north-east: along-wind position ∝ x + y; ties (1 & 4, 2 & 5, 3 & 6) keep raster order
        (45.0, [0, 1, 4, 2, 5, 3, 6, 7]),
    ],
)
def test_tokens_are_ordered_upwind_to_downwind(towards_deg: float, expected: list[int]) -> None:
    scan = WindScan((2, 4), (2, 4), embed_dim=8)
    assert scan.order(*_wind(towards_deg))[0].tolist() == expected


def test_direction_is_snapped_to_16_sectors_and_weighted_by_magnitude() -> None:
    scan = WindScan((2, 4), (2, 4), embed_dim=8)
    assert scan.flow_sector(*_wind(10.0)).item() == 0  # within ±11.25° of east
    assert scan.flow_sector(*_wind(12.0)).item() == 1
    assert scan.flow_sector(*_wind(-90.0)).item() == 12
    # one strong westerly token outweighs several weak easterly ones: the mean VECTOR decides
    u = torch.tensor([[20.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]])
    assert scan.flow_sector(u, torch.zeros_like(u)).item() == 0


def test_regions_are_scanned_independently() -> None:
    scan = WindScan((2, 8), (2, 4), embed_dim=8)
    u = torch.tensor([[1.0] * 4 + [-1.0] * 4 + [1.0] * 4 + [-1.0] * 4])  # west half flows east, east half west
    order = scan.order(u, torch.zeros_like(u))[0].tolist()
    assert order[:8] == [0, 8, 1, 9, 2, 10, 3, 11]
    assert order[8:] == [7, 15, 6, 14, 5, 13, 4, 12]


def test_permutation_round_trip_is_exact() -> None:
    scan = WindScan((8, 16), (2, 4), embed_dim=8, order_encoding="none")
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(3, 128, generator=g), torch.randn(3, 128, generator=g)
    order = scan.order(u, v)
    assert all(sorted(row.tolist()) == list(range(128)) for row in order)  # a permutation per sample
    x = torch.randn(3, 128, 8, generator=g)
    fields = {"elevation": torch.rand(3, 128, generator=g)}
    permuted, permuted_fields = scan.permute(x, order, fields)
    assert torch.equal(permuted_fields["elevation"][:, 5], fields["elevation"].gather(1, order[:, 5:6])[:, 0])
    assert torch.equal(scan.unpermute(permuted, order), x)


def _inputs(seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    inputs = 5 * torch.rand(2, len(INPUT_VARIABLES), *GRID, generator=g)
    inputs[:, INPUT_VARIABLES.index("u")] = 8 * torch.randn(2, *GRID, generator=g)
    inputs[:, INPUT_VARIABLES.index("v")] = 8 * torch.randn(2, *GRID, generator=g)
    inputs[:, INPUT_VARIABLES.index("elevation")] = 3000 * torch.rand(2, *GRID, generator=g)
    return inputs, torch.tensor([12, 48]), torch.tensor([0.0, 6.0]), torch.tensor([10.0, 190.0])


def _model(**kwargs: object) -> Forecaster:
    return Forecaster(INPUT_VARIABLES, POLLUTANTS, GRID, 2, BACKBONE, seed=3, **kwargs).eval()  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["dense", "chunked"])
def test_scan_without_order_component_equals_parallel(backend: str) -> None:
    """A permutation-equivariant backbone gives the same output under the consistent permutation (1e-6)."""
    common: dict[str, object] = dict(attention_backend=backend, attention_chunk=24)
    plain = _model(physics_bias=TopoFlowBias(), **common)
    scanned = _model(physics_bias=TopoFlowBias(), scan_region=(2, 4), scan_order_encoding="none", **common)
    assert set(scanned.state_dict()) == set(plain.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(scanned(*_inputs()), plain(*_inputs()), atol=1e-6, rtol=0)


def test_rank_encoding_makes_the_order_matter() -> None:
    scanned = _model(scan_region=(2, 4))
    assert "wind_scan.rank_embed" in scanned.state_dict()
    inputs, lead, hour, day = _inputs()
    with torch.no_grad():
        out = scanned(inputs, lead, hour, day)
        assert not torch.allclose(out, _model()(inputs, lead, hour, day), atol=1e-4)
        # reversing the wind reverses each region's scan: with the rank encoding the forecast changes
        flipped = inputs.clone()
        for name in ("u", "v"):
            flipped[:, INPUT_VARIABLES.index(name)] *= -1
        unscanned_flip = _model()(flipped, lead, hour, day) - _model()(inputs, lead, hour, day)
        scanned_flip = scanned(flipped, lead, hour, day) - out
        assert (scanned_flip - unscanned_flip).abs().max() > 1e-4


def test_scan_gradients_reach_rank_embedding_and_alpha() -> None:
    model = _model(physics_bias=TopoFlowBias(), scan_region=(2, 4)).train()
    model(*_inputs()).square().mean().backward()
    assert model.get_parameter("wind_scan.rank_embed").grad.abs().sum() > 0
    assert model.get_parameter("physics_bias.alpha").grad.abs().sum() > 0


def test_region_must_tile_the_token_grid() -> None:
    with pytest.raises(ConfigError, match=r"embed.region=\[3, 4\].*token grid 8x16"):
        _model(scan_region=(3, 4))
