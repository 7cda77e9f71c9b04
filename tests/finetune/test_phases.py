"""Freeze phases: frozen parameters stay bit-identical (no decay, no momentum), phase LRs, plan validation."""

from __future__ import annotations

import pytest
import torch

from aqnet.errors import ConfigError
from aqnet.finetune.phases import Phase, PhasePlan
from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.physics import TopoFlowBias
from aqnet.training.config import AdamWConfig, ConstantConfig
from aqnet.training.optim import build_optimizer
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS

PLAN = [
    Phase("block0_and_physics", (r"^blocks\.0\.", r"(^|\.)(alpha|beta)$"), steps=3),
    Phase("everything", (".*",), lr=1e-5),
]


def _setup() -> tuple[Forecaster, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, PhasePlan]:
    backbone = BackboneConfig(embed_dim=32, depth=2, decoder_depth=1, num_heads=4, drop_path=0.0, drop_rate=0.0)
    model = Forecaster(INPUT_VARIABLES, POLLUTANTS, (8, 16), 2, backbone, physics_bias=TopoFlowBias())
    cfg = AdamWConfig(lr=1e-3, weight_decay=0.1, physics_lr=1e-2)
    optimizer = build_optimizer(model, cfg)
    plan = PhasePlan(PLAN)
    scheduler = ConstantConfig().make(optimizer, 10, plan.lr_factor)
    return model, optimizer, scheduler, plan


def _step(model: Forecaster, optimizer: torch.optim.Optimizer, scheduler, step: int, plan: PhasePlan) -> None:
    plan.apply(model, step)
    g = torch.Generator().manual_seed(step)
    inputs = 100 * torch.rand(2, len(INPUT_VARIABLES), 8, 16, generator=g)
    out = model(inputs, torch.tensor([12.0, 24.0]), torch.tensor([0.0, 6.0]), torch.tensor([1.0, 100.0]))
    optimizer.zero_grad(set_to_none=True)
    out.square().mean().backward()
    optimizer.step()
    scheduler.step()


def test_frozen_parameters_stay_bit_identical_then_all_train() -> None:
    model, optimizer, scheduler, plan = _setup()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(3):
        _step(model, optimizer, scheduler, step, plan)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in before if n.startswith("blocks.0.")} | {"physics_bias.alpha"}
    for name, param in model.named_parameters():
        if name in trainable:
            assert not torch.equal(param, before[name]), f"{name} did not train in phase 1"
        else:
            assert torch.equal(param, before[name]), f"{name} changed while frozen (decay or momentum leaked)"
            assert param not in optimizer.state or not optimizer.state[param], f"{name} has optimizer state"
    after_phase1 = {n: p.detach().clone() for n, p in model.named_parameters()}
    _step(model, optimizer, scheduler, 3, plan)
    assert all(p.requires_grad for p in model.parameters())
    assert not torch.equal(model.head[-1].weight, after_phase1["head.2.weight"])
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-5, 1e-5, 1e-5])  # phase 2: lr 1e-5


def test_phase_lr_factor_and_boundaries() -> None:
    plan = PhasePlan([Phase("a", (".*",), epochs=2), Phase("b", (".*",), lr=1e-5)])
    assert plan.index_at(10**6) == 0  # epochs unknown until training starts: still phase a
    plan.resolve(steps_per_epoch=50)
    assert (plan.index_at(99), plan.index_at(100)) == (0, 1)
    assert plan.lr_factor(0, 1e-3) == 1.0 and plan.lr_factor(100, 1e-3) == pytest.approx(1e-2)


@pytest.mark.parametrize(
    ("phases", "message"),
    [
        ([], "empty"),
        ([Phase("a", (".*",)), Phase("b", (".*",))], "exactly one of steps or epochs"),
        ([Phase("a", ("(unclosed",), steps=1), Phase("b", (".*",))], "bad pattern"),
        ([Phase("a", (".*",), lr=-1.0)], "lr=-1.0"),
    ],
)
def test_impossible_plans_are_refused(phases: list[Phase], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PhasePlan(phases)


def test_a_phase_that_matches_nothing_is_refused() -> None:
    model, *_ = _setup()
    with pytest.raises(ConfigError, match="matches no parameter"):
        PhasePlan([Phase("none", ("^nothing$",))]).apply(model, 0)
