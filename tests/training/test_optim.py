"""Optimiser parameter groups, layer-wise LR decay, and each LR schedule against torch's own scheduler."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aqnet.errors import ConfigError
from aqnet.training.config import (
    AdamConfig,
    AdamWConfig,
    ConstantConfig,
    CosineConfig,
    ExponentialConfig,
    OneCycleConfig,
    SGDConfig,
    StepConfig,
)
from aqnet.training.optim import GROUP_NAMES, build_optimizer, classify_parameters, param_groups


class _Bias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(0.5))
        self.beta = nn.Parameter(torch.tensor(1.0))


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.qkv = nn.Linear(4, 12)
        self.bias = _Bias()  # an attention-bias module, named like the real one (blocks.0.attn.bias.alpha)


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(2, 4, 2, stride=2)
        self.pos_embed = nn.Parameter(torch.zeros(1, 3, 4))
        self.var_embed = nn.Parameter(torch.zeros(1, 2, 4))
        self.var_query = nn.Parameter(torch.zeros(1, 1, 4))
        self.table = nn.Embedding(5, 4)
        self.blocks = nn.ModuleList([nn.ModuleDict({"attn": _Block()})])
        self.physics_gate = nn.Linear(4, 1)
        self.head = nn.Linear(4, 2)
        self.betas_like = nn.Linear(4, 4)  # "beta" as a prefix is not a physics parameter
        self.agg = nn.MultiheadAttention(4, 1)  # in_proj_weight is a weight matrix outside any Linear
        self.proj_weights = nn.Parameter(torch.zeros(3, 4, 1, 2, 2))  # per-variable patch conv weights
        self.proj_biases = nn.Parameter(torch.zeros(3, 4))


def _names(groups):
    return {g: {n for n, _ in ps} for g, ps in groups.items()}


def test_parameters_are_classified_by_role():
    groups = _names(classify_parameters(_Toy()))
    assert groups["decay"] == {
        "patch.weight",
        "blocks.0.attn.qkv.weight",
        "head.weight",
        "betas_like.weight",
        "agg.in_proj_weight",
        "agg.out_proj.weight",
        "proj_weights",
    }
    assert groups["physics"] == {
        "blocks.0.attn.bias.alpha",
        "blocks.0.attn.bias.beta",
        "physics_gate.weight",
        "physics_gate.bias",
    }
    assert {
        "pos_embed",
        "var_embed",
        "var_query",
        "table.weight",
        "patch.bias",
        "blocks.0.attn.norm.weight",
        "blocks.0.attn.norm.bias",
        "blocks.0.attn.qkv.bias",
        "head.bias",
        "proj_biases",
        "agg.in_proj_bias",
    } <= groups["no_decay"]
    every = set().union(*groups.values())
    assert every == {n for n, _ in _Toy().named_parameters()}
    assert sum(map(len, groups.values())) == len(every)  # each parameter exactly once


def test_optimizer_groups_have_their_own_lr_and_decay():
    cfg = AdamWConfig(lr=1e-3, weight_decay=0.1, physics_lr=1e-2)
    opt = build_optimizer(_Toy(), cfg)
    by_name = {g["name"]: g for g in opt.param_groups}
    assert [g["name"] for g in opt.param_groups] == list(GROUP_NAMES)
    assert by_name["decay"]["weight_decay"] == 0.1 and by_name["decay"]["lr"] == 1e-3
    assert by_name["no_decay"]["weight_decay"] == 0.0 and by_name["no_decay"]["lr"] == 1e-3
    assert by_name["physics"]["weight_decay"] == 0.0 and by_name["physics"]["lr"] == 1e-2


def test_only_the_decay_group_shrinks_under_zero_gradient():
    model = _Toy()
    for p in model.parameters():
        nn.init.constant_(p, 1.0)
    opt = build_optimizer(model, AdamWConfig(lr=0.1, weight_decay=0.5))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(model.head.weight, torch.full_like(model.head.weight, 1 - 0.1 * 0.5))
    for p in (
        model.head.bias,
        model.pos_embed,
        model.blocks[0]["attn"].norm.weight,
        model.blocks[0]["attn"].bias.alpha,
    ):
        assert torch.equal(p, torch.ones_like(p))


def test_empty_physics_group_is_kept_and_steps():
    model = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    opt = build_optimizer(model, AdamWConfig())
    assert [len(g["params"]) for g in opt.param_groups] == [1, 3, 0]
    model(torch.randn(4, 3)).sum().backward()
    opt.step()


def test_schedule_warms_up_linearly_then_follows_the_cosine():
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, AdamWConfig(lr=1.0, physics_lr=2.0))
    sched = CosineConfig(warmup_steps=4, min_lr_ratio=0.1).make(opt, 12)
    lrs = []
    for _ in range(15):
        lrs.append(opt.param_groups[0]["lr"])
        assert opt.param_groups[2]["lr"] == pytest.approx(2 * lrs[-1])  # physics follows the same shape
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert lrs[8] == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the cosine
    assert lrs[12] == pytest.approx(0.1) and lrs[14] == pytest.approx(0.1)  # floor after max_steps
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:], strict=False))


def _curve(make_scheduler, steps: int, lr: float = 0.5) -> list[float]:
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = make_scheduler(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


TOTAL = 40


@pytest.mark.parametrize(
    ("ours", "torch_own"),
    [
        (
            CosineConfig(warmup_steps=5, min_lr_ratio=0.1),
            lambda o: torch.optim.lr_scheduler.SequentialLR(
                o,
                [
                    torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / 5, end_factor=1.0, total_iters=4),
                    torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL - 5, eta_min=0.05),
                ],
                milestones=[5],
            ),
        ),
        (StepConfig(step_size=7, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
        (ExponentialConfig(gamma=0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
        (
            ConstantConfig(warmup_steps=0, factor_after=0.3),
            lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=0.3, total_iters=10**9),
        ),
        (
            OneCycleConfig(pct_start=0.25),
            lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=TOTAL, pct_start=0.25),
        ),
    ],
    ids=["cosine", "step", "exponential", "constant", "onecycle"],
)
def test_each_schedule_follows_torchs_own_scheduler(ours, torch_own) -> None:
    expected = _curve(torch_own, TOTAL)
    got = _curve(lambda o: ours.make(o, TOTAL), TOTAL)
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_schedule_keys_are_checked_by_their_config() -> None:
    assert CosineConfig(warmup_steps=0).factor(0, 10) == pytest.approx(1.0)
    assert CosineConfig(warmup_steps=0, min_lr_ratio=0.0).factor(10, 10) == pytest.approx(0.0)
    for bad in (
        lambda: CosineConfig(min_lr_ratio=1.5),
        lambda: CosineConfig(warmup_steps=-1),
        lambda: StepConfig(step_size=0),
        lambda: CosineConfig(interval="hour"),
        lambda: OneCycleConfig(pct_start=1.0),
    ):
        with pytest.raises(ConfigError):
            bad()


@pytest.mark.parametrize(
    ("config", "kind"),
    [(AdamWConfig(), torch.optim.AdamW), (AdamConfig(), torch.optim.Adam), (SGDConfig(nesterov=True), torch.optim.SGD)],
)
def test_each_optimiser_is_torchs_own_with_its_settings(config, kind) -> None:
    opt = build_optimizer(_Toy(), config)
    assert type(opt) is kind and [g["name"] for g in opt.param_groups] == list(GROUP_NAMES)
    if isinstance(config, SGDConfig):
        assert opt.defaults["momentum"] == 0.9 and opt.defaults["nesterov"] is True
    with pytest.raises(ConfigError, match="nesterov"):
        SGDConfig(momentum=0.0, nesterov=True)


def test_layer_decay_scales_each_layer_and_keeps_physics_at_its_own_lr() -> None:
    model = _Toy()

    def layer_of(name: str) -> int:
        return 1 if name.startswith("blocks.") else 2 if name.startswith("head.") else 0

    groups = param_groups(model, AdamWConfig(lr=1.0, physics_lr=0.1, layer_decay=0.5), (layer_of, 2))
    lr = {g["name"]: g["lr"] for g in groups}
    assert lr["decay_layer0"] == pytest.approx(0.25) and lr["decay_layer1"] == 0.5 and lr["decay_layer2"] == 1.0
    assert lr["physics"] == pytest.approx(0.1)
    names = {g["name"]: set(g["param_names"]) for g in groups}
    assert "head.weight" in names["decay_layer2"] and "blocks.0.attn.qkv.weight" in names["decay_layer1"]
    assert "patch.weight" in names["decay_layer0"]
    every = [n for g in groups for n in g["param_names"]]
    assert sorted(every) == sorted(n for n, _ in model.named_parameters())  # each parameter exactly once
