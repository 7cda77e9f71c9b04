"""Seeded, name-keyed initialisation: reproducible, seed-dependent, stable when modules are added."""

from __future__ import annotations

import torch
from torch import nn

from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.embed import sincos_2d
from aqnet.models.init import init_parameters
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS

GRID = (16, 32)


def _model(depth: int = 2, seed: int = 0, inputs: tuple[str, ...] = INPUT_VARIABLES) -> Forecaster:
    config = BackboneConfig(embed_dim=32, depth=depth, num_heads=4)
    return Forecaster(inputs, POLLUTANTS, GRID, 2, config, seed=seed)


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_same_seed_same_model_different_seed_different() -> None:
    torch.manual_seed(123)  # global RNG must not matter
    a = _params(_model(seed=7))
    torch.manual_seed(456)
    b = _params(_model(seed=7))
    c = _params(_model(seed=8))
    assert all(torch.equal(a[n], b[n]) for n in a)
    random_weights = [n for n in a if n.endswith("weight") and "norm" not in n]
    assert all(not torch.equal(a[n], c[n]) for n in random_weights)


def test_extra_block_leaves_common_parameters_unchanged() -> None:
    small, big = _params(_model(depth=2)), _params(_model(depth=3))
    assert set(small) < set(big)
    # pos/var embeddings are deterministic; drop_path rates differ but hold no parameters
    assert all(torch.equal(small[n], big[n]) for n in small)


def test_extra_input_variable_leaves_other_tokens_unchanged() -> None:
    fewer = _model(inputs=tuple(n for n in INPUT_VARIABLES if n != "population"))
    more = _model()
    w_few, w_more = fewer.token_embeds.proj_weights, more.token_embeds.proj_weights
    torch.testing.assert_close(w_few, w_more[: len(INPUT_VARIABLES) - 1], rtol=0, atol=0)


def test_initial_values_follow_the_rules() -> None:
    model = _model()
    assert init_parameters(model, seed=0, fixed=model.fixed_initial_values()) == []
    torch.testing.assert_close(model.pos_embed[0], sincos_2d(32, 8, 16))
    assert torch.count_nonzero(model.var_query) == 0
    assert torch.equal(model.blocks[0].norm1.weight, torch.ones(32))
    assert torch.count_nonzero(model.blocks[0].attn.qkv.bias) == 0
    w = model.blocks[0].mlp.fc1.weight
    assert w.abs().max() <= 0.04 + 1e-7 and 0.01 < w.std() < 0.03


def test_buffers_are_untouched() -> None:
    stats = {n: {"mean": 5.0, "std": 2.0} for n in INPUT_VARIABLES}
    model = Forecaster(INPUT_VARIABLES, POLLUTANTS, GRID, 2, BackboneConfig(embed_dim=32, depth=1), statistics=stats)
    model.reset_parameters()
    assert torch.equal(model.normaliser.mean, torch.full((15,), 5.0))
