"""Biased multi-head self-attention: the single place where attention scores are computed.

:func:`biased_attention` is the one interface every backend plugs into. Bias semantics: query i is the receptor,
key j the source; ``bias[..., i, j]`` is added to the score of i attending to j before the softmax, so a large
negative value removes source j from receptor i's view.

A bias is either a materialised tensor (broadcastable to [B, heads, N, N]) or a *definition*
(:class:`PairwiseBias`, e.g. :mod:`aqnet.models.physics`) plus its per-token fields, which computes the bias for a
block of query rows on demand. Backends for definitions:
- ``dense``: builds the [B, 1, N, N] bias, one SDPA call (reference; small N).
- ``chunked``: exact; query chunks, one fused forward, a chunk-by-chunk backward (:mod:`aqnet.models.chunked`):
  peak memory O(B·H·chunk·N), never [B, H, N, N].
- ``lowrank``: the bias as K = ``rank`` receptor × source features appended to q and k, one fused SDPA call
  (:mod:`aqnet.models.lowrank`); approximate within a stated bound, its measured error checked against the
  definition's ``tolerance`` on the run's own terrain at the first call (refused above it).
- ``flex``: FlexAttention with the definition's ``score_mod`` (the same elementwise formula): compiled and fused on
  CUDA (forward and backward, O(N) memory); on CPU forward only (eager, for inference and tests), because
  FlexAttention has no CPU backward.
- ``auto``: the fastest backend within tolerance on the device: ``flex`` on CUDA; on CPU ``lowrank`` when the bias
  is separable and its measured error is within tolerance, else ``dense`` (N ≤ :data:`DENSE_MAX_TOKENS`) or
  ``chunked``. Said once per token count and device, on stderr.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aqnet.errors import ConfigError
from aqnet.models.chunked import checkpointed_attention, chunked_attention
from aqnet.models.config import BACKENDS
from aqnet.models.lowrank import bias_error, lowrank_attention

DENSE_MAX_TOKENS = 1024  # above this, auto never builds the full bias (8192 tokens: 7 GB per layer)


class BackendError(ConfigError, ValueError):
    """A backend that cannot compute this bias (one line for the CLI, a ValueError for Python callers)."""


@runtime_checkable
class PairwiseBias(Protocol):
    """A bias definition: per-token fields in, bias rows [B, 1, n_rows, N] (same for all heads) out; or the same
    bias as a FlexAttention ``score_mod``."""

    def pairwise(self, fields: Mapping[str, Tensor], rows: slice | None = None) -> Tensor: ...

    def score_mod(self, fields: Mapping[str, Tensor]) -> Callable[..., Tensor]: ...


def resolve_backend(backend: str, num_tokens: int) -> str:
    """The exact backend ``backend`` means at ``num_tokens`` tokens without measuring anything (``auto`` ->
    dense or chunked; :func:`choose_backend` may pick lowrank or flex instead)."""
    if backend not in BACKENDS:
        raise ValueError(f"attention backend {backend!r} is unknown; choose one of {BACKENDS}")
    if backend == "auto":
        return "dense" if num_tokens <= DENSE_MAX_TOKENS else "chunked"
    return backend


def _announce(message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:  # under DDP every rank decides alike; rank 0 says so
        print(message, file=sys.stderr, flush=True)


def _lowrank_verdict(bias_def: Any, fields: Mapping[str, Tensor]) -> tuple[str | None, str]:
    """(None or why lowrank is refused, what was measured), for a definition with ``low_rank_factors``."""
    if not hasattr(bias_def, "low_rank_factors"):
        return f"{type(bias_def).__name__} has no low-rank form", ""
    not_separable = bias_def.separable()
    if not_separable is not None:
        return not_separable, ""
    worst, rms = bias_error(bias_def, fields)
    measured = f"rank {bias_def.rank}: bias error max {worst:.4f}·α, RMS {rms:.5f}·α vs the exact bias"
    if worst > bias_def.tolerance:
        return (
            f"physics_bias.backend=lowrank: {measured} on this terrain exceeds physics_bias.tolerance="
            f"{bias_def.tolerance}; raise physics_bias.rank or the tolerance, or use backend=chunked (exact)"
        ), measured
    return None, measured


def choose_backend(bias_def: Any, fields: Mapping[str, Tensor], backend: str, q: Tensor, dropout_p: float) -> str:
    """The backend a call computes with (``auto`` and ``lowrank`` decided once per token count and device on the
    definition's ``backend_checks``, measured on the first call's fields: the run's own terrain)."""
    n = q.shape[-2]
    if backend not in ("auto", "lowrank"):
        return resolve_backend(backend, n)
    checks: dict[tuple[int, str], tuple[str, str]] | None = getattr(bias_def, "backend_checks", None)
    key = (n, q.device.type)
    if checks is not None and key in checks:
        return checks[key][0]
    if backend == "auto" and q.is_cuda and dropout_p == 0.0:
        decision, message = "flex", f"physics_bias.backend=auto: flex on {q.device.type} at {n} tokens (exact, fused)"
    elif checks is None:  # a definition without a low-rank form: the exact choice
        if backend == "lowrank":
            raise BackendError(f"physics_bias.backend=lowrank: {type(bias_def).__name__} has no low-rank form")
        return resolve_backend("auto", n)
    else:
        refused, measured = _lowrank_verdict(bias_def, fields)
        if backend == "lowrank":
            if refused is not None:
                raise BackendError(refused)
            decision, message = "lowrank", f"physics_bias.backend=lowrank at {n} tokens: {measured}"
        elif refused is None:
            decision, message = "lowrank", f"physics_bias.backend=auto: lowrank at {n} tokens ({measured})"
        else:
            decision = resolve_backend("auto", n)
            message = f"physics_bias.backend=auto: {decision} at {n} tokens (lowrank not used: {refused})"
    if checks is not None:
        checks[key] = (decision, message)
    _announce(message)
    return decision


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
    resolved = choose_backend(bias_def, fields, backend, q, dropout_p)
    if resolved == "lowrank":
        receptor, source = bias_def.low_rank_factors(fields)  # type: ignore[attr-defined]
        return lowrank_attention(q, k, v, receptor, source, dropout_p)
    if resolved == "flex":
        if dropout_p > 0:
            raise ValueError("attention backend 'flex' does not support attention dropout; use 'chunked'")
        return flex_attention(q, k, v, bias_def, fields)
    if resolved == "dense":
        bias = bias_def.pairwise(fields, None).to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if dropout_p > 0:
        return checkpointed_attention(q, k, v, bias_def, fields, chunk, dropout_p)
    return chunked_attention(q, k, v, bias_def, fields, chunk)


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
