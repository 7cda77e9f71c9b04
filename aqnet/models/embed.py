"""Tokenisers, variable aggregation and fixed sin-cos / time embeddings (ClimaX, re-implemented).

Two tokenisers produce identical tokens from identical weights: :class:`SerialVariableEmbed` (one Conv2d per
variable, ClimaX keys ``token_embeds.{i}.proj.*``) and :class:`ParallelVariableEmbed` (one grouped convolution,
keys ``token_embeds.proj_weights`` / ``proj_biases``). Both hold the full variable tuple and select by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _indices(variables: Sequence[str], names: Sequence[str]) -> list[int]:
    index = {name: i for i, name in enumerate(variables)}
    missing = [n for n in names if n not in index]
    if missing:
        raise KeyError(f"tokeniser has no variable(s) {missing}; known: {list(variables)}")
    return [index[n] for n in names]


class _PatchProjection(nn.Module):
    """One variable's patch projection; a submodule named ``proj`` so keys read ``{i}.proj.weight`` as in ClimaX."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:  # [B, 1, H, W] -> [B, L, D]
        return self.proj(x).flatten(2).transpose(1, 2)


class SerialVariableEmbed(nn.ModuleList):
    """Per-variable Conv2d(1, D, p, p), applied one variable at a time. Output [B, V, L, D]."""

    def __init__(self, variables: Sequence[str], patch_size: int, embed_dim: int) -> None:
        super().__init__(_PatchProjection(patch_size, embed_dim) for _ in variables)
        self.variables: tuple[str, ...] = tuple(variables)
        self.patch_size = patch_size
        self.embed_dim = embed_dim

    def indices(self, names: Sequence[str]) -> list[int]:
        return _indices(self.variables, names)

    def forward(self, x: Tensor, names: Sequence[str]) -> Tensor:
        ids = self.indices(names)
        return torch.stack([self[i](x[:, k : k + 1]) for k, i in enumerate(ids)], dim=1)


class ParallelVariableEmbed(nn.Module):
    """All per-variable projections as one grouped convolution (groups = number of selected variables)."""

    def __init__(self, variables: Sequence[str], patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.variables: tuple[str, ...] = tuple(variables)
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        n = len(self.variables)
        self.proj_weights = nn.Parameter(torch.empty(n, embed_dim, 1, patch_size, patch_size))
        self.proj_biases = nn.Parameter(torch.zeros(n, embed_dim))
        nn.init.trunc_normal_(self.proj_weights, std=0.02)  # real values come from init.py; never leave garbage

    def indices(self, names: Sequence[str]) -> list[int]:
        return _indices(self.variables, names)

    def forward(self, x: Tensor, names: Sequence[str]) -> Tensor:
        ids = torch.tensor(self.indices(names), device=self.proj_weights.device)
        weight = self.proj_weights[ids].flatten(0, 1)  # [V*D, 1, p, p]
        bias = self.proj_biases[ids].flatten(0, 1)
        out = F.conv2d(x, weight, bias, stride=self.patch_size, groups=len(ids))  # [B, V*D, h, w]
        b, _, h, w = out.shape
        return out.view(b, len(ids), self.embed_dim, h * w).transpose(2, 3)  # [B, V, L, D]


VariableEmbed = SerialVariableEmbed | ParallelVariableEmbed


def build_variable_embed(kind: str, variables: Sequence[str], patch_size: int, embed_dim: int) -> VariableEmbed:
    if kind == "serial":
        return SerialVariableEmbed(variables, patch_size, embed_dim)
    if kind == "parallel":
        return ParallelVariableEmbed(variables, patch_size, embed_dim)
    raise ValueError(f"unknown embed {kind!r}; choose 'serial' or 'parallel'")


@torch.no_grad()
def copy_variable_embed(source: VariableEmbed, target: VariableEmbed) -> None:
    """Copy projection weights between tokenisers of either kind, matched by variable name."""
    for name in target.variables:
        si, ti = source.indices([name])[0], target.indices([name])[0]
        weight, bias = _get(source, si)
        _set(target, ti, weight, bias)


def _get(embed: VariableEmbed, i: int) -> tuple[Tensor, Tensor]:
    if isinstance(embed, SerialVariableEmbed):
        return embed[i].proj.weight, embed[i].proj.bias
    return embed.proj_weights[i], embed.proj_biases[i]


def _set(embed: VariableEmbed, i: int, weight: Tensor, bias: Tensor) -> None:
    if isinstance(embed, SerialVariableEmbed):
        embed[i].proj.weight.copy_(weight)
        embed[i].proj.bias.copy_(bias)
    else:
        embed.proj_weights[i].copy_(weight)
        embed.proj_biases[i].copy_(bias)


class VariableAggregation(nn.Module):
    """Cross-attention from one query per token to that token's V variable embeddings.

    Parameters are named like ``nn.MultiheadAttention`` (``in_proj_weight``, ``in_proj_bias``, ``out_proj``) so a
    ClimaX checkpoint's ``var_agg.*`` loads by name, but the computation goes through
    ``scaled_dot_product_attention``: ClimaX asks MHA for attention weights, which forbids the fused path.
    """

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention; init.py reseeds it

    def forward(self, query: Tensor, tokens: Tensor, visible: Tensor | None = None) -> Tensor:
        """query [N, Q, D], tokens [N, V, D] -> [N, Q, D] (key = value = tokens).

        ``visible`` [N, V] (masked pretraining): only visible tokens are attended to; a row with none visible
        gives zeros (it carries no content; the encoder still knows its position).
        """
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q = self._heads(F.linear(query, w_q, b_q))
        k = self._heads(F.linear(tokens, w_k, b_k))
        v = self._heads(F.linear(tokens, w_v, b_v))
        empty = None if visible is None else ~visible.any(dim=1)  # attend to all there (no NaN), drop the result
        allowed = None if visible is None else (visible | empty[:, None])[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # [N, heads, Q, d]
        out = self.out_proj(out.transpose(1, 2).flatten(2))
        return out if empty is None else out.masked_fill(empty[:, None, None], 0.0)

    def _heads(self, x: Tensor) -> Tensor:
        n, s, _ = x.shape
        return x.view(n, s, self.num_heads, self.embed_dim // self.num_heads).transpose(1, 2)


def sincos_1d(embed_dim: int, positions: Tensor) -> Tensor:
    """MAE-style 1-D sin-cos embedding: [len(positions), embed_dim], first half sin, second half cos."""
    if embed_dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dimension, got {embed_dim}")
    omega = torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_2d(embed_dim: int, grid_h: int, grid_w: int) -> Tensor:
    """MAE-style 2-D sin-cos embedding for a row-major (h, w) token grid: [h*w, embed_dim].

    Half of the channels encode the column (w) index and half the row (h) index, in that order, as MAE/ClimaX.
    """
    if embed_dim % 4:
        raise ValueError(f"2-D sin-cos embedding needs a dimension divisible by 4, got {embed_dim}")
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    return torch.cat([sincos_1d(embed_dim // 2, cols), sincos_1d(embed_dim // 2, rows)], dim=1)


def time_features(hour_of_day: Tensor, day_of_year: Tensor) -> Tensor:
    """(sin, cos) of hour of day (period 24 h) and day of year (period 365.25 d): [B] x2 -> [B, 4].

    Periodic, so the day-of-year origin (0- or 1-based) only shifts a phase.
    """
    hour = 2 * math.pi * hour_of_day.float() / 24.0
    day = 2 * math.pi * day_of_year.float() / 365.25
    return torch.stack([hour.sin(), hour.cos(), day.sin(), day.cos()], dim=-1)
