"""Biased multi-head self-attention: the single place where attention scores are computed.

:func:`biased_attention` is the one interface every backend plugs into. Bias semantics (DESIGN.md): query i is
the receptor, key j the source; ``bias[..., i, j]`` is added to the score of i attending to j before the
softmax, so a large negative value removes source j from receptor i's view.

A bias is either a materialised tensor (broadcastable to [B, heads, N, N]) or a *definition*
(:class:`PairwiseBias`, e.g. :mod:`aqnet.models.physics`) plus its per-token fields, which computes the bias for a
block of query rows on demand. Backends for definitions:
- ``dense``: builds the [B, 1, N, N] bias, one SDPA call (reference; small N).
- ``chunked``: exact; loops over query chunks, builds only that chunk's bias rows, and checkpoints each chunk so
  the backward pass recomputes it instead of storing it: peak memory O(B·H·chunk·N), never [B, H, N, N].
- ``auto``: ``dense`` for N ≤ :data:`DENSE_MAX_TOKENS`, else ``chunked``.
- ``flex``: FlexAttention with the definition's ``score_mod`` (the same elementwise formula): compiled and fused on
  CUDA (forward and backward, O(N) memory); on CPU forward only (eager, for inference and tests), because
  FlexAttention has no CPU backward. Not chosen by ``auto``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from functools import cache
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

BACKENDS = ("auto", "dense", "chunked", "flex")
DENSE_MAX_TOKENS = 1024  # above this, auto never builds the full bias (8192 tokens: 7 GB per layer)


@runtime_checkable
class PairwiseBias(Protocol):
    """A bias definition: per-token fields in, bias rows [B, 1, n_rows, N] (same for all heads) out; or the same
    bias as a FlexAttention ``score_mod``."""

    def pairwise(self, fields: Mapping[str, Tensor], rows: slice | None = None) -> Tensor: ...

    def score_mod(self, fields: Mapping[str, Tensor]) -> Callable[..., Tensor]: ...


def resolve_backend(backend: str, num_tokens: int) -> str:
    """The backend ``backend`` means at ``num_tokens`` tokens (``auto`` -> dense or chunked)."""
    if backend not in BACKENDS:
        raise ValueError(f"attention backend {backend!r} is unknown; choose one of {BACKENDS}")
    if backend == "auto":
        return "dense" if num_tokens <= DENSE_MAX_TOKENS else "chunked"
    return backend


@cache
def _compiled_flex_attention() -> Callable[..., Tensor]:
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def flex_attention(q: Tensor, k: Tensor, v: Tensor, bias_def: PairwiseBias, fields: Mapping[str, Tensor]) -> Tensor:
    """FlexAttention with ``bias_def.score_mod``: fused kernel on CUDA; eager forward only on CPU."""
    if q.is_cuda:
        return _compiled_flex_attention()(q, k, v, score_mod=bias_def.score_mod(fields))
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        raise ValueError(
            "attention backend 'flex' cannot train on CPU (FlexAttention has no CPU backward); "
            "use physics_bias.backend=chunked, or train on a GPU"
        )
    from torch.nn.attention.flex_attention import flex_attention as eager_flex

    with warnings.catch_warnings():  # eager CPU use is deliberate (inference, tests): no compile hint needed
        warnings.simplefilter("ignore", UserWarning)
        return eager_flex(q, k, v, score_mod=bias_def.score_mod(fields))


def biased_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias_def: PairwiseBias | Tensor | None = None,
    fields: Mapping[str, Tensor] | None = None,
    backend: str = "auto",
    chunk: int = 512,
    dropout_p: float = 0.0,
) -> Tensor:
    """softmax(q kᵀ / sqrt(d) + bias) v for q, k, v [B, heads, N, d] -> [B, heads, N, d].

    ``bias_def``: None (plain attention, fastest SDPA kernel), a tensor broadcastable to [B, heads, N, N] (used
    as an SDPA float mask whatever ``backend`` says: it is already materialised), or a :class:`PairwiseBias`
    evaluated on ``fields`` with ``backend`` and ``chunk`` (query rows per chunk).
    """
    if bias_def is None or isinstance(bias_def, Tensor):
        bias = None if bias_def is None else bias_def.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
    if fields is None:
        raise ValueError("a bias definition needs its per-token fields")
    n = q.shape[-2]
    resolved = resolve_backend(backend, n)
    if resolved == "flex":
        if dropout_p > 0:
            raise ValueError("attention backend 'flex' does not support attention dropout; use 'chunked'")
        return flex_attention(q, k, v, bias_def, fields)
    if resolved == "dense":
        bias = bias_def.pairwise(fields, None).to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")

    def one_chunk(q_rows: Tensor, k: Tensor, v: Tensor, start: int) -> Tensor:
        # Bias rows are built inside the checkpoint so backward recomputes them rather than keeping them.
        bias = bias_def.pairwise(fields, slice(start, start + q_rows.shape[-2])).to(q.dtype)
        return F.scaled_dot_product_attention(q_rows, k, v, attn_mask=bias, dropout_p=dropout_p)

    # Non-reentrant checkpoint: parameters captured by the definition (α, β) get gradients; RNG state is
    # restored on recompute, so dropout masks match between forward and backward.
    outs = [
        checkpoint(one_chunk, q[:, :, s : s + chunk], k, v, s, use_reentrant=False)  # type: ignore[arg-type]
        for s in range(0, n, chunk)
    ]
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-2)


class Attention(nn.Module):
    """ViT self-attention (timm layout: ``qkv`` with bias, ``proj``) taking an optional additive bias."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        backend: str = "auto",
        chunk: int = 512,
    ) -> None:
        super().__init__()
        self.backend, self.chunk = backend, chunk  # how a bias definition is evaluated (biased_attention)
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(
        self, x: Tensor, attn_bias: PairwiseBias | Tensor | None = None, fields: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, heads, N, d_head]
        drop = self.attn_drop if self.training else 0.0
        out = biased_attention(q, k, v, attn_bias, fields, self.backend, self.chunk, dropout_p=drop)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))
