"""Biased multi-head self-attention: the single place where attention scores are computed.

:func:`biased_attention` is the one interface later backends (query-chunked, FlexAttention, low-rank) plug into.
Bias semantics (DESIGN.md): query i is the receptor, key j the source; ``bias[..., i, j]`` is added to the score
of i attending to j before the softmax, so a large negative value removes source j from receptor i's view.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def biased_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None, dropout_p: float = 0.0) -> Tensor:
    """softmax(q kᵀ / sqrt(d) + bias) v for q, k, v [B, heads, N, d]; bias broadcasts to [B, heads, N, N].

    Uses ``scaled_dot_product_attention`` with the bias as a float mask, so PyTorch picks the fastest kernel
    that accepts it (flash attention when there is no bias).
    """
    if bias is not None:
        bias = bias.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)


class Attention(nn.Module):
    """ViT self-attention (timm layout: ``qkv`` with bias, ``proj``) taking an optional additive bias."""

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, attn_bias: Tensor | None = None) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, heads, N, d_head]
        out = biased_attention(q, k, v, attn_bias, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))
