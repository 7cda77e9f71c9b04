"""Fast physics-bias backends: lowrank against dense (within its bound; exact on quantised terrain), the
custom-autograd chunked exactly against dense, auto's choice, one-line refusals, cross-backend checkpoints."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aqnet.errors import ConfigError
from aqnet.models import attention
from aqnet.models.attention import BackendError, biased_attention
from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.config import PhysicsBiasConfig
from aqnet.models.lowrank import bias_error, thresholds
from aqnet.models.physics import AdaptiveBias, TopoFlowBias, soft_clamp
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS
from tests.models import ddp_bias

REPO = Path(__file__).resolve().parents[2]

N, D = 256, 16
GEN = torch.Generator().manual_seed(11)
ELEV = 4000 * torch.rand(2, N, generator=GEN) ** 2  # metres: many low tokens, a sparse high tail
U, V = 8 * torch.randn(2, N, generator=GEN), 6 * torch.randn(2, N, generator=GEN)
LEVELS = torch.tensor([0.0, 150.0, 900.0, 2100.0, 3300.0])
QUANTISED = LEVELS[torch.randint(0, 5, (2, N), generator=GEN)]  # five elevations, each ~1/5 of the tokens

DEFINITIONS: dict[str, Callable[[], TopoFlowBias | AdaptiveBias]] = {
    "topoflow": lambda: TopoFlowBias(alpha_init=1.3),
    "topoflow_receptor_higher": lambda: TopoFlowBias("receptor_higher", alpha_init=0.7, height_scale_m=800.0),
    "adaptive_receptor": lambda: AdaptiveBias(wind="receptor", alpha_init=2.0, learn_beta=True),
    "adaptive_source": lambda: AdaptiveBias(wind="source", alpha_init=2.0, learn_beta=True),
}


def _run(make: Callable[[], TopoFlowBias | AdaptiveBias], elev: torch.Tensor, backend: str) -> list[torch.Tensor]:
    """Output and the gradients of q, k, v and every bias parameter, for one backend."""
    bias = make()
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 4, N, D, generator=gen).requires_grad_() for _ in range(3))
    out = biased_attention(q, k, v, bias, bias.token_fields(elev, U, V), backend=backend, chunk=96)
    (out * torch.linspace(-1, 1, D)).sum().backward()
    return [out.detach(), q.grad, k.grad, v.grad, *(p.grad for p in bias.parameters())]  # type: ignore[list-item]


def _bound(bias: TopoFlowBias | AdaptiveBias, elev: torch.Tensor) -> float:
    """The documented bias error bound per unit α: (max − min elevation) / (4 (⌊K/2⌋ + 1)) / H."""
    scale = bias.height_scale_m if isinstance(bias, TopoFlowBias) else 1000.0 / 0.5
    return float(elev.max() - elev.min()) / (4 * (bias.rank // 2 + 1)) / scale


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_lowrank_matches_dense_within_bound(name: str) -> None:
    bias = DEFINITIONS[name]()
    worst, rms = bias_error(bias, bias.token_fields(ELEV, U, V))
    assert 0 < rms < worst <= _bound(bias, ELEV) * 1.0001
    eps = worst * abs(float(bias.alpha.detach()))  # bias error at this α
    low, dense = _run(DEFINITIONS[name], ELEV, "lowrank"), _run(DEFINITIONS[name], ELEV, "dense")
    # a score perturbation ≤ ε moves every softmax weight by a factor within e^{±2ε}: |Δout| ≤ (e^{2ε} − 1)·max|v|
    gen = torch.Generator().manual_seed(2)
    v_max = max(float(torch.randn(2, 4, N, D, generator=gen).abs().max()) for _ in range(3))
    assert (low[0] - dense[0]).abs().max() <= (math.exp(2 * eps) - 1) * v_max
    # q, k, v, α (β): no proven bound; measured 0.1–1.8 % of the gradient's norm here, asserted within a quarter
    # of the outputs' relative bound (5–8 %)
    for got, want in zip(low[1:], dense[1:], strict=True):
        assert want.abs().sum() > 0
        assert (got - want).norm() <= 0.25 * (math.exp(2 * eps) - 1) * want.norm()


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_lowrank_is_exact_on_terrain_quantised_to_its_thresholds(name: str) -> None:
    edges = thresholds(QUANTISED, 16)
    assert all(bool((edges == level).any()) for level in LEVELS)  # every elevation is a threshold
    low, dense = _run(DEFINITIONS[name], QUANTISED, "lowrank"), _run(DEFINITIONS[name], QUANTISED, "dense")
    for got, want in zip(low, dense, strict=True):
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", list(DEFINITIONS))
@pytest.mark.parametrize("relief_m", [3000.0, 40000.0])  # below the clamp's knee, and far beyond it
def test_chunked_autograd_equals_dense_exactly(name: str, relief_m: float) -> None:
    elev = ELEV / ELEV.max() * relief_m
    chunked, dense = _run(DEFINITIONS[name], elev, "chunked"), _run(DEFINITIONS[name], elev, "dense")
    for got, want in zip(chunked, dense, strict=True):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


def test_chunked_runs_each_forward_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    sdpa = F.scaled_dot_product_attention

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return sdpa(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    _run(DEFINITIONS["topoflow"], ELEV, "chunked")
    assert len(calls) == math.ceil(N / 96)  # one fused call per chunk; the backward needs none


def test_clamp_is_skipped_only_where_it_cannot_engage() -> None:
    for relief, alpha in ((3000.0, 1.0), (3000.0, -2.5), (12000.0, 1.0)):
        bias = TopoFlowBias(alpha_init=alpha)
        elev = ELEV / ELEV.max() * relief
        fields = bias.token_fields(elev)
        raw = -alpha * torch.relu((elev.unsqueeze(1) - elev.unsqueeze(2)) / 1000.0)
        torch.testing.assert_close(bias.pairwise(fields, slice(5, 60))[:, 0], soft_clamp(raw, -10.0)[:, 5:60])


def test_refusals_are_one_line() -> None:
    pair_mean = AdaptiveBias(wind="pair_mean")
    q, k, v = (torch.randn(1, 2, 64, 8) for _ in range(3))
    with pytest.raises(BackendError, match="wind=pair_mean is not separable") as err:
        biased_attention(q, k, v, pair_mean, pair_mean.token_fields(ELEV[:1, :64], U[:1, :64], V[:1, :64]), "lowrank")
    tight = TopoFlowBias(tolerance=1e-4)
    with pytest.raises(BackendError, match=r"exceeds physics_bias.tolerance=0.0001; raise physics_bias.rank") as e2:
        biased_attention(q, k, v, tight, tight.token_fields(ELEV[:1, :64]), "lowrank")
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value) and "\n" not in str(e2.value)
    with pytest.raises(ConfigError, match=r"^physics_bias.rank=0 must be an integer >= 1"):
        PhysicsBiasConfig(name="topoflow", rank=0)
    with pytest.raises(ConfigError, match=r"^physics_bias.tolerance=0.0 must be > 0"):
        PhysicsBiasConfig(name="topoflow", tolerance=0.0)
    with pytest.raises(ConfigError, match=r"^physics_bias.backend=lowrank cannot compute wind=pair_mean"):
        PhysicsBiasConfig(name="adaptive", backend="lowrank", wind="pair_mean")
    with pytest.raises(ValueError, match="rank 0 must be >= 1"):
        TopoFlowBias(rank=0)


def test_auto_picks_lowrank_on_cpu_within_tolerance_and_says_so_once(capsys: pytest.CaptureFixture[str]) -> None:
    q, k, v = (torch.randn(1, 2, N, 8) for _ in range(3))
    within, beyond, pair_mean = TopoFlowBias(), TopoFlowBias(tolerance=1e-4), AdaptiveBias()
    for _ in range(2):
        biased_attention(q, k, v, within, within.token_fields(ELEV[:1]), "auto")
        biased_attention(q, k, v, beyond, beyond.token_fields(ELEV[:1]), "auto")
        biased_attention(q, k, v, pair_mean, pair_mean.token_fields(ELEV[:1], U[:1], V[:1]), "auto")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3  # one announcement per definition, not per call
    assert lines[0].startswith(f"physics_bias.backend=auto: lowrank at {N} tokens (rank 16: bias error max")
    assert lines[1].startswith(f"physics_bias.backend=auto: dense at {N} tokens (lowrank not used:")
    assert "exceeds physics_bias.tolerance" in lines[1] and "not separable" in lines[2]
    assert [c[0] for c in within.backend_checks.values()] == ["lowrank"]
    assert attention.resolve_backend("auto", attention.DENSE_MAX_TOKENS + 1) == "chunked"  # the exact fallback


GRID = (16, 32)
SMALL = BackboneConfig(embed_dim=32, depth=2, decoder_depth=2, num_heads=4, drop_path=0.0, drop_rate=0.0)


def _forecaster(backend: str) -> Forecaster:
    stats = {name: {"mean": 1.0, "std": 2.0} for name in INPUT_VARIABLES}
    bias = TopoFlowBias(alpha_init=0.4)
    return Forecaster(
        INPUT_VARIABLES, POLLUTANTS, GRID, 2, SMALL, statistics=stats, physics_bias=bias, bias_blocks="all",
        attention_backend=backend, attention_chunk=48,
    )  # fmt: skip


def _batch() -> tuple[torch.Tensor, ...]:
    inputs = 10 * torch.rand(2, len(INPUT_VARIABLES), *GRID, generator=torch.Generator().manual_seed(1))
    inputs[:, INPUT_VARIABLES.index("elevation")] *= 300.0  # metres, up to 3 km
    return inputs, torch.tensor([12, 24]), torch.tensor([0.0, 6.0]), torch.tensor([1.0, 100.0])


def test_checkpoint_from_one_backend_runs_in_another_all_blocks() -> None:
    trained = _forecaster("chunked").train()
    opt = torch.optim.SGD(trained.parameters(), lr=0.5)
    for _ in range(2):  # a trained α, not the initial one
        opt.zero_grad()
        trained(*_batch()).square().mean().backward()
        opt.step()
    state = trained.state_dict()
    assert float(state["physics_bias.alpha"]) != 0.4
    outputs = {}
    for backend in ("chunked", "lowrank", "dense"):
        model = _forecaster(backend).eval()
        model.load_state_dict(state)  # same keys whatever the backend: α means the same thing
        with torch.no_grad():
            outputs[backend] = model(*_batch())
    torch.testing.assert_close(outputs["chunked"], outputs["dense"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outputs["lowrank"], outputs["dense"], atol=0.05, rtol=0.05)
    assert not torch.equal(outputs["lowrank"], outputs["dense"])
    lowrank = _forecaster("lowrank").train()
    lowrank.load_state_dict(state)
    lowrank(*_batch()).square().mean().backward()  # trains on, every block biased
    assert lowrank.get_parameter("physics_bias.alpha").grad.abs().item() > 0  # type: ignore[union-attr]


def test_ddp_two_ranks_match_one_process(tmp_path: Path) -> None:
    """lowrank and chunked under DDP (2 gloo ranks, bias in every block): the averaged gradient equals one
    process's on the whole batch, α's included."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.models.ddp_bias", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for backend in ddp_bias.BACKENDS:
        reference = ddp_bias.gradients(ddp_bias.model(backend), slice(0, 4))
        assert torch.equal(ranks[0][backend], ranks[1][backend])
        torch.testing.assert_close(ranks[0][backend], reference, atol=1e-6, rtol=1e-5)
        offset = 0  # α's entry in the flat gradient: a parameter DDP averages, one definition for every block
        for name, p in ddp_bias.model(backend).named_parameters():
            if name == "physics_bias.alpha":
                assert reference[offset].abs() > 0
            offset += p.numel()
