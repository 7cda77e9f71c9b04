"""Pre-norm ViT blocks with stochastic depth, named like timm's so ClimaX's ``blocks.{i}.*`` keys load."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from aqnet.models.attention import Attention, PairwiseBias


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample, rescaling the kept ones."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Block(nn.Module):
    """x + DropPath(Attn(LN(x), bias)); x + DropPath(MLP(LN(x)))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop: float = 0.0,
        drop_path: float = 0.0,
        backend: str = "auto",
        chunk: int = 512,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=True, proj_drop=drop, backend=backend, chunk=chunk)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path2 = DropPath(drop_path)

    def forward(
        self, x: Tensor, attn_bias: PairwiseBias | Tensor | None = None, fields: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        """x [B, N, D]; attn_bias broadcastable to [B, heads, N, N], or a bias definition evaluated on ``fields``
        (see :func:`aqnet.models.attention.biased_attention`), added to the scores before softmax."""
        x = x + self.drop_path1(self.attn(self.norm1(x), attn_bias, fields))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


def drop_path_rates(drop_path: float, depth: int) -> list[float]:
    """Stochastic-depth rate per block, rising linearly from 0 to ``drop_path`` (as ClimaX/timm)."""
    if depth == 1:
        return [0.0]
    return [drop_path * i / (depth - 1) for i in range(depth)]
