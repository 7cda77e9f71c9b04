"""The forecaster's encoder under a token mask (masked pretraining): hidden tokens leave no trace, every layer."""

from __future__ import annotations

import pytest
import torch

from aqnet.errors import ConfigError
from aqnet.models.masking import MaskSpec, sample_mask
from aqnet.variables import INPUT_VARIABLES
from tests.models.test_forecaster import GRID, _batch, _model

L = (GRID[0] // 2) * (GRID[1] // 2)
V = len(INPUT_VARIABLES)


def _spec(static: tuple[str, ...] = ("elevation",), **overrides) -> MaskSpec:  # type: ignore[no-untyped-def]
    return MaskSpec(variables=tuple(INPUT_VARIABLES), static=frozenset(static), **overrides)


def _perturb_hidden(inputs: torch.Tensor, visible: torch.Tensor, sample: int = 0) -> torch.Tensor:
    """New values in every pixel of every hidden (variable, patch) token of ``sample``."""
    hidden = ~visible[sample].reshape(V, GRID[0] // 2, GRID[1] // 2)
    pixels = hidden.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    changed = inputs.clone()
    changed[sample][pixels] = changed[sample][pixels] + 5.0
    return changed


@pytest.mark.parametrize(
    ("unit", "scan"), [("variable_patch", None), ("patch", None), ("variable_patch", (2, 4))], ids=str
)
def test_hidden_tokens_change_nothing_the_encoder_returns(unit: str, scan: tuple[int, int] | None) -> None:
    model = _model(scan_region=scan).eval()
    inputs, lead, hour, day = _batch()
    static = ("elevation",) if scan is None else ("elevation", "u", "v")  # the scan reads the wind
    spec = _spec(static, unit=unit)
    mask = sample_mask(spec, batch=2, num_patches=L, generator=torch.Generator().manual_seed(0))
    seen = model.encode_layers(inputs, lead, hour, day, mask.visible, every_layer=True)
    again = model.encode_layers(_perturb_hidden(inputs, mask.visible), lead, hour, day, mask.visible, every_layer=True)
    for first, second in zip(seen, again, strict=True):
        torch.testing.assert_close(first, second)
    unmasked = model.encode_layers(_perturb_hidden(inputs, mask.visible), lead, hour, day)
    assert not torch.allclose(unmasked[-1], model.encode_layers(inputs, lead, hour, day)[-1])  # they would, unmasked


def test_a_patch_with_nothing_visible_keeps_its_place_and_hides_its_content() -> None:
    model = _model().eval()
    inputs, lead, hour, day = _batch()
    visible = torch.ones(2, V, L, dtype=torch.bool)
    visible[:, :, 5] = False  # every variable of patch 5, statics too
    out = model.encode_layers(inputs, lead, hour, day, visible)[-1]
    assert out.shape == (2, L, 32) and torch.isfinite(out).all()
    torch.testing.assert_close(out, model.encode_layers(_perturb_hidden(inputs, visible), lead, hour, day, visible)[-1])


def test_all_visible_and_every_layer_agree_with_the_plain_encoder() -> None:
    model = _model().eval()
    batch = _batch()
    plain = model.encode(*batch)
    layers = model.encode_layers(*batch, torch.ones(2, V, L, dtype=torch.bool), every_layer=True)
    assert len(layers) == 1 + 2  # the embedded tokens and both blocks
    torch.testing.assert_close(model.norm(layers[-1]), plain)
    assert not torch.allclose(layers[0], layers[-1])


def test_a_mask_that_hides_what_the_scan_or_the_bias_reads_is_refused() -> None:
    inputs, lead, hour, day = _batch()
    mask = sample_mask(_spec(), batch=2, num_patches=L, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match=r"the mask hides \['u', 'v'\], which wind scanning"):
        _model(scan_region=(2, 4)).encode_layers(inputs, lead, hour, day, mask.visible)
