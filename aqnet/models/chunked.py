"""The exact ``chunked`` backend as one autograd function: a fused forward, a chunk-by-chunk backward.

Forward: for each block of ``chunk`` query rows, the bias rows are built without a gradient (a detached mask, so
SDPA keeps its fused kernel — a mask that needs a gradient sends CPU SDPA to its unfused math path) and one fused
SDPA call gives those rows' output. Only q, k, v and the output are saved (O(N) memory); the forward runs once.

Backward, per chunk of rows (memory O(B · heads · chunk · N), never [N, N] per head): the chunk's scores
S = q kᵀ / sqrt(d) + bias are rebuilt, P = softmax(S), dP = dO vᵀ, dS = P ∘ (dP − rowsum(dO ∘ O)), then
dq = dS k / sqrt(d), dk += dSᵀ q / sqrt(d), dv += Pᵀ dO, and the bias parameters' gradient (α, β) is the bias rows'
vector-Jacobian product with Σ_heads dS (the rows rebuilt with a gradient, a small elementwise graph). α's gradient
needs P and dS per head whatever computes q/k/v's, and from them q/k/v's are three matmuls, so they come from the
same pass rather than from a fused backward that would rebuild P and dP again.

With attention dropout (not differentiable this way) the backend keeps its checkpointed form
(:func:`checkpointed_attention`), which runs each chunk's forward twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint


class _ChunkedAttention(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        bias_def: Any,
        fields: Mapping[str, Tensor],
        chunk: int,
        *params: Tensor,
    ) -> Tensor:
        n = q.shape[-2]
        out = torch.empty_like(q)
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            with torch.no_grad():
                bias = bias_def.pairwise(fields, rows).to(q.dtype)
            out[:, :, rows] = F.scaled_dot_product_attention(q[:, :, rows], k, v, attn_mask=bias)
        ctx.save_for_backward(q, k, v, out, *params)
        ctx.bias_def, ctx.fields, ctx.chunk = bias_def, fields, chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, out, *params = ctx.saved_tensors
        scale = q.shape[-1] ** -0.5
        n, chunk = q.shape[-2], ctx.chunk
        dq, dk, dv = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        dparams: list[Tensor | None] = [None] * len(params)
        trainable = [i for i, p in enumerate(params) if p.requires_grad]
        delta = (grad_out * out).sum(-1, keepdim=True)  # rowsum(dO ∘ O) [B, heads, N, 1]
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            with torch.enable_grad():
                bias = ctx.bias_def.pairwise(ctx.fields, rows)  # [B, 1, rows, N], a graph to α (and β)
            q_r, do_r = q[:, :, rows], grad_out[:, :, rows]
            p = torch.softmax(_scores(q_r, k, bias.detach().to(q.dtype), scale), dim=-1)
            dv.add_(p.transpose(-1, -2) @ do_r)
            ds = torch.matmul(do_r, v.transpose(-1, -2)).sub_(delta[:, :, rows]).mul_(p)  # dS, in place of dP
            del p
            dq[:, :, rows] = torch.matmul(ds, k).mul_(scale)
            dk.add_(ds.transpose(-1, -2) @ q_r, alpha=scale)
            if trainable and bias.requires_grad:
                wanted = [params[i] for i in trainable]
                grads = torch.autograd.grad(bias, wanted, ds.sum(1, keepdim=True).to(bias.dtype), allow_unused=True)
                for i, g in zip(trainable, grads, strict=True):
                    if g is not None:
                        dparams[i] = g if dparams[i] is None else dparams[i] + g
        return (dq, dk, dv, None, None, None, *dparams)


def _scores(q: Tensor, k: Tensor, bias: Tensor, scale: float) -> Tensor:
    """q kᵀ · scale + bias, [B, heads, rows, N] (bias broadcast over heads; the scale on the small q side)."""
    return torch.matmul(q * scale, k.transpose(-1, -2)).add_(bias)


def chunked_attention(
    q: Tensor, k: Tensor, v: Tensor, bias_def: Any, fields: Mapping[str, Tensor], chunk: int
) -> Tensor:
    """Exact biased attention over query chunks (module docstring), q/k/v [B, heads, N, d]."""
    params = list(bias_def.parameters()) if hasattr(bias_def, "parameters") else []
    detached = {name: f.detach() for name, f in fields.items()}
    return _ChunkedAttention.apply(q, k, v, bias_def, detached, chunk, *params)  # type: ignore[no-any-return]


def checkpointed_attention(
    q: Tensor, k: Tensor, v: Tensor, bias_def: Any, fields: Mapping[str, Tensor], chunk: int, dropout_p: float
) -> Tensor:
    """Exact, each chunk checkpointed (its bias rows rebuilt in backward): for attention dropout."""

    def one_chunk(q_rows: Tensor, k: Tensor, v: Tensor, start: int) -> Tensor:
        bias = bias_def.pairwise(fields, slice(start, start + q_rows.shape[-2])).to(q.dtype)
        return F.scaled_dot_product_attention(q_rows, k, v, attn_mask=bias, dropout_p=dropout_p)

    # Non-reentrant checkpoint: parameters captured by the definition (α, β) get gradients; RNG state is
    # restored on recompute, so dropout masks match between forward and backward.
    outs = [
        checkpoint(one_chunk, q[:, :, s : s + chunk], k, v, s, use_reentrant=False)  # type: ignore[arg-type]
        for s in range(0, q.shape[-2], chunk)
    ]
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-2)


__all__ = ["checkpointed_attention", "chunked_attention"]
