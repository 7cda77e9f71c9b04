"""Physics attention biases: formulas, backends (chunked == dense), gradients, control, recovery, plumbing."""

from __future__ import annotations

import math
import re

import pytest
import torch

from aqnet.models import attention
from aqnet.models.attention import biased_attention, resolve_backend
from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.physics import AdaptiveBias, TopoFlowBias, physics_parameter_names, soft_clamp
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS

PHYSICS_RE = re.compile(r"(^|\.)(alpha|beta)$")
ELEV = torch.tensor([[0.0, 500.0, 2000.0]])  # metres, 3 tokens
U, V = torch.tensor([[3.0, 0.0, 8.0]]), torch.tensor([[4.0, 0.0, 6.0]])  # |w| = 5, 0, 10 m/s


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_topoflow_source_higher_formula() -> None:
    bias = TopoFlowBias("source_higher", alpha_init=1.0)
    out = bias.pairwise(bias.token_fields(ELEV))
    # receptor i (row) attending to a higher source j (column) is penalised by α·(e_j − e_i)/1000 m
    expected = torch.tensor([[0.0, -0.5, -2.0], [0.0, 0.0, -1.5], [0.0, 0.0, 0.0]])
    assert out.shape == (1, 1, 3, 3)
    torch.testing.assert_close(out[0, 0], expected)
    # rows: only the requested receptor rows, same values
    torch.testing.assert_close(bias.pairwise(bias.token_fields(ELEV), slice(1, 3))[0, 0], expected[1:])


def test_topoflow_receptor_higher_formula() -> None:
    bias = TopoFlowBias("receptor_higher", alpha_init=2.0, height_scale_m=500.0)
    out = bias.pairwise(bias.token_fields(ELEV))[0, 0]
    # receptor above its source: -α·(e_i − e_j)/H = -2, -8, -6; beyond 5 the soft clamp bends towards -10
    sc = float(soft_clamp(torch.tensor(-8.0), -10.0)), float(soft_clamp(torch.tensor(-6.0), -10.0))
    expected = torch.tensor([[0.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [sc[0], sc[1], 0.0]])
    torch.testing.assert_close(out, expected)
    assert -10.0 < sc[0] < sc[1] < -5.0


@pytest.mark.parametrize("wind", ["receptor", "source", "pair_mean"])
@pytest.mark.parametrize("learn_beta", [False, True])
def test_adaptive_formula(wind: str, learn_beta: bool) -> None:
    bias = AdaptiveBias(wind=wind, alpha_init=0.2, beta_init=0.3, learn_beta=learn_beta)
    out = bias.pairwise(bias.token_fields(ELEV, U, V))[0, 0]
    e, s = ELEV[0].tolist(), [5.0, 0.0, 10.0]
    for i in range(3):
        for j in range(3):
            w = {"receptor": s[i], "source": s[j], "pair_mean": 0.5 * (s[i] + s[j])}[wind]
            want = 0.2 * (-0.5 * max(e[j] - e[i], 0.0) / 1000.0) * (1.0 - 0.3 * _sig(w - 5.0))
            assert out[i, j].item() == pytest.approx(want, abs=1e-7)
    assert isinstance(bias.beta, torch.nn.Parameter) == learn_beta
    assert ("beta" in dict(bias.named_parameters())) == learn_beta and "beta" in bias.state_dict()


def _qkv(n: int, b: int = 2, h: int = 4, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, h, n, d, generator=g) for _ in range(3))


@pytest.mark.parametrize("kind", ["topoflow", "adaptive"])
def test_chunked_equals_dense_outputs_and_gradients(kind: str) -> None:
    n = 300
    g = torch.Generator().manual_seed(3)
    elev, u, v = 3000 * torch.rand(2, n, generator=g), 8 * torch.randn(2, n, generator=g), torch.randn(2, n)
    results = []
    for backend in ("dense", "chunked"):
        bias = TopoFlowBias(alpha_init=1.3) if kind == "topoflow" else AdaptiveBias(learn_beta=True)
        q, k, v_ = (t.requires_grad_() for t in _qkv(n))
        out = biased_attention(q, k, v_, bias, bias.token_fields(elev, u, v), backend=backend, chunk=64)
        (out * torch.linspace(-1, 1, 16)).sum().backward()
        grads = [q.grad, k.grad, v_.grad] + [p.grad for p in bias.parameters()]
        results.append((out.detach(), grads))
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=1e-5)
    for chunked, dense in zip(results[1][1], results[0][1], strict=True):
        assert dense is not None and dense.abs().sum() > 0
        torch.testing.assert_close(chunked, dense, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["topoflow", "adaptive"])
@pytest.mark.parametrize("n", [256, 1024])
def test_flex_forward_equals_dense_on_cpu(kind: str, n: int) -> None:
    """The FlexAttention score_mod is the same formula as the materialised bias (CPU: eager forward)."""
    g = torch.Generator().manual_seed(5)
    elev, u, v = 4000 * torch.rand(1, n, generator=g), 8 * torch.randn(1, n, generator=g), torch.randn(1, n)
    bias = TopoFlowBias(alpha_init=3.0) if kind == "topoflow" else AdaptiveBias(alpha_init=2.0, learn_beta=True)
    fields = bias.token_fields(elev, u, v)
    q, k, v_ = _qkv(n, b=1, h=2)
    with torch.no_grad():
        dense = biased_attention(q, k, v_, bias, fields, backend="dense")
        flex = biased_attention(q, k, v_, bias, fields, backend="flex")
    torch.testing.assert_close(flex, dense, atol=1e-5, rtol=1e-5)


def test_flex_refuses_to_train_on_cpu() -> None:
    bias = TopoFlowBias()
    q, k, v = (t.requires_grad_() for t in _qkv(64, b=1, h=1))
    with pytest.raises(ValueError, match="cannot train on CPU.*backend=chunked"):
        biased_attention(q, k, v, bias, bias.token_fields(ELEV.repeat(1, 22)[:, :64]), backend="flex")


def test_auto_falls_back_to_chunked_above_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_backend("auto", attention.DENSE_MAX_TOKENS) == "dense"
    assert resolve_backend("auto", attention.DENSE_MAX_TOKENS + 1) == "chunked"
    assert resolve_backend("flex", 10) == "flex"  # asked for explicitly
    monkeypatch.setattr(attention, "DENSE_MAX_TOKENS", 100)  # keep the spy run small
    bias, rows_seen = TopoFlowBias(tolerance=1e-6), []  # lowrank out of tolerance: auto takes the exact path
    original = bias.pairwise

    def spy(fields: dict[str, torch.Tensor], rows: slice | None = None) -> torch.Tensor:
        rows_seen.append(rows)
        return original(fields, rows)

    bias.pairwise = spy  # type: ignore[method-assign]
    q, k, v = _qkv(150, b=1, h=1, d=8)
    fields = bias.token_fields(1000 * torch.rand(1, 150))
    biased_attention(q, k, v, bias, fields, chunk=64)  # the first call measures lowrank's error, then decides
    rows_seen.clear()
    biased_attention(q, k, v, bias, fields, chunk=64)
    assert list(bias.backend_checks.values())[0][0] == "chunked"
    assert rows_seen and all(r is not None and r.stop - r.start <= 64 for r in rows_seen)


def test_alpha_gets_gradient_where_clamp_is_active() -> None:
    bias = TopoFlowBias(alpha_init=1.0, clamp=-10.0)
    elev = torch.tensor([[0.0, 15000.0, 30000.0]])  # every nonzero pair beyond a hard clamp at -10
    out = bias.pairwise(bias.token_fields(elev))
    assert out.min().item() >= -10.0
    out.sum().backward()
    assert bias.alpha.grad is not None and bias.alpha.grad.abs().item() > 1e-6


def test_shuffled_control_permutes_elevation_keeps_distribution() -> None:
    elev = 3000 * torch.rand(2, 50, generator=torch.Generator().manual_seed(0))
    real, control = TopoFlowBias(), TopoFlowBias(control="shuffled_elevation", control_seed=7)
    shuffled = control.token_fields(elev)["elevation"]
    assert not torch.equal(shuffled, elev)
    torch.testing.assert_close(shuffled.sort(-1).values, elev.sort(-1).values)
    torch.testing.assert_close(
        TopoFlowBias(control="shuffled_elevation", control_seed=7).token_fields(elev)["elevation"], shuffled
    )
    a = real.pairwise(real.token_fields(elev)).flatten(1).sort(-1).values
    b = control.pairwise(control.token_fields(elev)).flatten(1).sort(-1).values
    torch.testing.assert_close(a, b)


def test_toy_recovery_of_alpha() -> None:
    torch.manual_seed(0)
    q, k, v = _qkv(64, b=4, h=2, d=8, seed=5)
    elev = 3000 * torch.rand(4, 64, generator=torch.Generator().manual_seed(6))
    truth = TopoFlowBias(alpha_init=1.5)
    with torch.no_grad():
        target = biased_attention(q, k, v, truth, truth.token_fields(elev), backend="dense")
    model = TopoFlowBias(alpha_init=0.3)
    fields = model.token_fields(elev)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        loss = (biased_attention(q, k, v, model, fields, backend="dense") - target).square().mean()
        loss.backward()
        opt.step()
    assert model.alpha.item() == pytest.approx(1.5, rel=0.1)


GRID = (16, 32)
SMALL = BackboneConfig(embed_dim=32, depth=2, decoder_depth=2, num_heads=4, drop_path=0.0, drop_rate=0.0)


def _forecaster(**kwargs: object) -> Forecaster:
    stats = {name: {"mean": 1.0, "std": 2.0} for name in INPUT_VARIABLES}
    return Forecaster(INPUT_VARIABLES, POLLUTANTS, GRID, 2, SMALL, statistics=stats, **kwargs)  # type: ignore[arg-type]


def _batch() -> tuple[torch.Tensor, ...]:
    inputs = 10 * torch.rand(2, len(INPUT_VARIABLES), *GRID, generator=torch.Generator().manual_seed(1))
    inputs[:, INPUT_VARIABLES.index("elevation")] *= 300.0  # metres
    return inputs, torch.tensor([12, 24]), torch.tensor([0.0, 6.0]), torch.tensor([1.0, 100.0])


@pytest.mark.parametrize("backend", ["auto", "chunked"])
def test_forecaster_topoflow_block0_forward_backward(backend: str) -> None:
    model = _forecaster(physics_bias=TopoFlowBias(), attention_backend=backend, attention_chunk=40).train()
    out = model(*_batch())
    assert out.shape == (2, len(POLLUTANTS), *GRID) and torch.isfinite(out).all()
    out.square().mean().backward()
    alpha = model.get_parameter("physics_bias.alpha")
    assert alpha.shape == (1,) and alpha.grad is not None and alpha.grad.abs().item() > 0
    assert model.reset_parameters() == []  # α has a seeded initial value too


def test_physics_parameter_names_match_optimiser_group() -> None:
    model = _forecaster(physics_bias=AdaptiveBias(learn_beta=True), bias_blocks="all")
    names = physics_parameter_names(model)
    assert names == ["physics_bias.alpha", "physics_bias.beta"]
    assert all(PHYSICS_RE.search(n) for n in names)
    assert [n for n, _ in model.named_parameters() if PHYSICS_RE.search(n)] == names
    model(*_batch()).mean().backward()
    assert all(model.get_parameter(n).grad is not None for n in names)


def test_no_physics_bias_keeps_state_dict_and_outputs() -> None:
    plain = _forecaster().eval()
    explicit = _forecaster(physics_bias=None, bias_blocks="all", attention_backend="chunked").eval()
    assert list(plain.state_dict()) == list(explicit.state_dict())
    assert not any(PHYSICS_RE.search(n) for n in plain.state_dict())
    torch.testing.assert_close(plain(*_batch()), explicit(*_batch()), atol=0, rtol=0)
    biased = _forecaster(physics_bias=TopoFlowBias()).eval()
    assert set(biased.state_dict()) - set(plain.state_dict()) == {"physics_bias.alpha"}
    assert not torch.allclose(biased(*_batch()), plain(*_batch()))
