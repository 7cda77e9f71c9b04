"""Biased attention and ViT blocks: zero bias == no bias, large negative bias removes a source."""

from __future__ import annotations

import math

import torch

from aqnet.models.attention import biased_attention
from aqnet.models.blocks import Block, drop_path_rates


def _reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    return scores.softmax(-1) @ v


def test_biased_attention_matches_explicit_softmax() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 8, generator=g) for _ in range(3))
    bias = torch.randn(2, 1, 9, 9, generator=g)  # same for every head, broadcast
    torch.testing.assert_close(biased_attention(q, k, v, bias), _reference(q, k, v, bias), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(biased_attention(q, k, v), _reference(q, k, v, None), atol=1e-5, rtol=1e-5)


def test_zero_bias_equals_no_bias() -> None:
    torch.manual_seed(0)
    block = Block(16, 4, drop=0.0, drop_path=0.0).eval()
    x = torch.randn(2, 10, 16)
    torch.testing.assert_close(block(x, attn_bias=torch.zeros(1, 1, 10, 10)), block(x), atol=1e-6, rtol=0)


def test_large_negative_bias_removes_a_source() -> None:
    torch.manual_seed(0)
    block = Block(16, 4, drop=0.0, drop_path=0.0).eval()
    x = torch.randn(1, 10, 16)
    hidden = [7, 8, 9]  # sources (keys) no receptor may attend to
    bias = torch.zeros(1, 1, 10, 10)
    bias[..., hidden] = -1e9
    changed = x.clone()
    changed[:, hidden] += 5 * torch.randn(1, 3, 16)
    visible = slice(0, 7)
    # Receptors 0..6 see only sources 0..6, so changing 7..9 leaves their outputs untouched.
    torch.testing.assert_close(block(changed, bias)[:, visible], block(x, bias)[:, visible], atol=1e-5, rtol=0)
    assert not torch.allclose(block(changed)[:, visible], block(x)[:, visible], atol=1e-3)


def test_bias_receives_gradient() -> None:
    torch.manual_seed(0)
    block = Block(16, 4, drop=0.0, drop_path=0.0)
    alpha = torch.tensor([0.5], requires_grad=True)
    field = torch.randn(10)
    bias = -alpha * torch.relu(field[None, :] - field[:, None])  # receptor i, source j
    block(torch.randn(2, 10, 16), bias).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().item() > 0


def test_drop_path_rises_linearly() -> None:
    assert drop_path_rates(0.1, 1) == [0.0]
    rates = drop_path_rates(0.3, 4)
    assert rates[0] == 0.0 and math.isclose(rates[-1], 0.3)
    assert all(b > a for a, b in zip(rates, rates[1:], strict=False))
