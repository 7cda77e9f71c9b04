"""The decoder of masked pretraining: CrossMAE's cross-attention blocks fed by WeightedFeatureMaps.

CrossMAE (Fu et al., 2024, "Rethinking Patch Dependence for Masked Autoencoders") decodes each masked token
independently: its query (a shared mask token plus the target's position and variable embedding) cross-attends to
the encoder's visible features, with no self-attention among the queries, so only the tokens that are reconstructed
cost decoder work. WeightedFeatureMaps lets decoder block j read its own learned linear mix of the encoder's layer
outputs (optionally the input tokens too), each mix with its own LayerNorm.

The mix starts one-hot on the encoder's last layer, so at initialisation ``weighted_feature_maps=true`` computes
exactly what ``false`` computes: the ablation of the two differs only by what training learns.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from aqnet.models.blocks import Mlp


class WeightedFeatureMaps(nn.Module):
    """[n_maps] encoder feature maps of [B, L, D] -> one normed mix per decoder block ([B, L, D] each)."""

    def __init__(self, num_maps: int, decoder_depth: int, dim: int) -> None:
        super().__init__()
        weights = torch.zeros(decoder_depth, num_maps)
        weights[:, -1] = 1.0  # start on the last encoder layer (what a decoder without the mix reads)
        self.weights = nn.Parameter(weights)
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(decoder_depth))

    def forward(self, maps: Sequence[Tensor]) -> list[Tensor]:
        if len(maps) != self.weights.shape[1]:
            raise ValueError(f"WeightedFeatureMaps was built for {self.weights.shape[1]} maps, got {len(maps)}")
        stacked = torch.stack(list(maps), dim=-1)  # [B, L, D, n_maps]
        mixed = stacked @ self.weights.t()  # [B, L, D, decoder_depth]
        return [norm(mixed[..., j]) for j, norm in enumerate(self.norms)]


class CrossBlock(nn.Module):
    """q + CrossAttn(LN(q), LN(memory)); q + MLP(LN(q)): queries read the encoder features, never each other."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, queries: Tensor, memory: Tensor, memory_padding: Tensor | None = None) -> Tensor:
        kv = self.norm_kv(memory)
        attended, _ = self.attn(self.norm_q(queries), kv, kv, key_padding_mask=memory_padding, need_weights=False)
        queries = queries + attended
        return queries + self.mlp(self.norm2(queries))


class CrossDecoder(nn.Module):
    """Reconstructs target tokens from the encoder's feature maps.

    ``maps``: the encoder's layer outputs ([B, L, D_enc] each; with ``weighted_feature_maps`` all of them, else
    only the last is read). ``query_embed``: [B, T, D_dec] position + variable embedding of the T target tokens.
    Returns [B, T, out_dim] (a token's p² values in normalised units).
    """

    def __init__(
        self,
        encoder_dim: int,
        num_maps: int,
        dim: int,
        depth: int,
        num_heads: int,
        out_dim: int,
        weighted_feature_maps: bool = True,
    ) -> None:
        super().__init__()
        self.feature_maps = WeightedFeatureMaps(num_maps, depth, encoder_dim) if weighted_feature_maps else None
        self.memory_norm = None if weighted_feature_maps else nn.LayerNorm(encoder_dim)  # as each mix has its own
        self.encoder_to_decoder = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(CrossBlock(dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.predict = nn.Linear(dim, out_dim)

    def forward(self, maps: Sequence[Tensor], query_embed: Tensor, memory_padding: Tensor | None = None) -> Tensor:
        if self.feature_maps is not None:
            memories = [self.encoder_to_decoder(m) for m in self.feature_maps(maps)]
        else:
            assert self.memory_norm is not None
            memories = [self.encoder_to_decoder(self.memory_norm(maps[-1]))] * len(self.blocks)
        x = self.mask_token + query_embed
        for block, memory in zip(self.blocks, memories, strict=True):
            x = block(x, memory, memory_padding)
        return self.predict(self.norm(x))
