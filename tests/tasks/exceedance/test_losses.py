"""The combo loss's parts on hand-computed examples, masking, ``pos_weight`` and pooling over batches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from aqnet.tasks.exceedance.losses import ComboLoss

LAT = torch.zeros(1)  # one latitude at the equator: every area weight is 1


def loss(weights=None, pos_weight=1.0, alpha=0.25, gamma=2.0, lat=LAT) -> ComboLoss:  # type: ignore[no-untyped-def]
    weights = weights or {"bce": 0.5, "dice": 0.3, "focal": 0.2}
    return ComboLoss(lat, weights, [pos_weight], [alpha], gamma)


def example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two pixels: p = σ(0) = 0.5 on an exceedance, p = σ(ln 3) = 0.75 on a non-exceedance."""
    logits = torch.tensor([0.0, math.log(3.0)]).reshape(1, 1, 1, 2)
    labels = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    return logits, labels, torch.ones_like(labels, dtype=torch.bool)


def test_parts_by_hand() -> None:
    total, parts = loss()(*example())
    bce = (-math.log(0.5) - math.log(0.25)) / 2
    # focal: α_t (1 − p_t)^γ (−log p_t): positive p_t = 0.5, α = 0.25; negative p_t = 0.25, α_t = 0.75
    focal = (0.25 * 0.5**2 * -math.log(0.5) + 0.75 * 0.75**2 * -math.log(0.25)) / 2
    dice = 1 - 2 * 0.5 / (0.5 + 0.75 + 1.0)
    assert float(parts["bce"]) == pytest.approx(bce, rel=1e-6)
    assert float(parts["focal"]) == pytest.approx(focal, rel=1e-6)
    assert float(parts["dice"]) == pytest.approx(dice, rel=1e-6)
    assert float(total) == pytest.approx(0.5 * bce + 0.3 * dice + 0.2 * focal, rel=1e-6)


def test_bce_with_pos_weight_is_torchs() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 1, 3, 4), (torch.rand(2, 1, 3, 4) > 0.7).float()
    ours = loss(pos_weight=4.0)(logits, labels, torch.ones_like(labels, dtype=torch.bool))[1]["bce"]
    theirs = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=torch.tensor([4.0]).reshape(1, 1, 1, 1))
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)


def test_focal_with_gamma_zero_is_alpha_weighted_bce() -> None:
    logits, labels, valid = example()
    focal = loss(alpha=0.5, gamma=0.0)(logits, labels, valid)[1]["focal"]
    assert float(focal) == pytest.approx(0.5 * (-math.log(0.5) - math.log(0.25)) / 2, rel=1e-6)


def test_masked_pixels_are_ignored_even_when_nan() -> None:
    logits, labels, valid = example()
    more_logits = torch.cat([logits, torch.tensor([[[[float("nan")]]]])], dim=-1)
    more_labels = torch.cat([labels, torch.ones(1, 1, 1, 1)], dim=-1)
    more_valid = torch.cat([valid, torch.zeros(1, 1, 1, 1, dtype=torch.bool)], dim=-1)
    more_logits.requires_grad_(True)
    total, parts = loss()(more_logits, more_labels, more_valid)
    reference_total, reference = loss()(*example())
    assert float(total.detach()) == pytest.approx(float(reference_total), rel=1e-6)
    assert {k: float(v.detach()) for k, v in parts.items()} == pytest.approx(
        {k: float(v) for k, v in reference.items()}
    )
    total.backward()
    assert more_logits.grad is not None and torch.isfinite(more_logits.grad).all()
    assert float(more_logits.grad[..., 2]) == 0.0


def test_dice_of_a_batch_without_exceedance_is_zero() -> None:
    logits = torch.randn(1, 1, 2, 2)
    parts = loss()(logits, torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bool))[1]
    assert float(parts["dice"]) == 0.0 and float(parts["bce"]) > 0


def test_area_weights_weigh_each_pixel_by_cos_lat() -> None:
    # rows at 0° and 60°: the 60° row counts half as much as the equator's
    logits = torch.tensor([[0.0], [math.log(3.0)]]).reshape(1, 1, 2, 1)
    labels = torch.tensor([[1.0], [0.0]]).reshape(1, 1, 2, 1)
    bce = loss(lat=torch.tensor([0.0, 60.0]))(logits, labels, torch.ones_like(labels, dtype=torch.bool))[1]["bce"]
    assert float(bce) == pytest.approx((1.0 * -math.log(0.5) + 0.5 * -math.log(0.25)) / 1.5, rel=1e-6)


def test_epoch_sums_pool_exactly() -> None:
    torch.manual_seed(1)
    fn = loss()
    logits, labels = torch.randn(4, 1, 3, 3), (torch.rand(4, 1, 3, 3) > 0.6).float()
    valid = torch.rand(4, 1, 3, 3) > 0.2
    halves = [fn.terms(logits[i : i + 2], labels[i : i + 2], valid[i : i + 2]) for i in (0, 2)]
    pooled = {k: halves[0][k] + halves[1][k] for k in halves[0]}
    total, _ = fn.combine(pooled)
    assert float(total) == pytest.approx(float(fn(logits, labels, valid)[0]), rel=1e-6)
