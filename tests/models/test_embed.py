"""Tokenisers (serial == parallel), variable aggregation (== nn.MultiheadAttention), sin-cos embeddings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aqnet.models.embed import (
    ParallelVariableEmbed,
    SerialVariableEmbed,
    VariableAggregation,
    copy_variable_embed,
    sincos_2d,
)
from aqnet.models.heads import unpatchify
from aqnet.variables import INPUT_VARIABLES


def test_serial_and_parallel_tokenisers_agree() -> None:
    torch.manual_seed(0)
    serial = SerialVariableEmbed(INPUT_VARIABLES, patch_size=2, embed_dim=16)
    parallel = ParallelVariableEmbed(INPUT_VARIABLES, patch_size=2, embed_dim=16)
    copy_variable_embed(serial, parallel)
    x = torch.randn(2, len(INPUT_VARIABLES), 8, 12)
    out_s = serial(x, INPUT_VARIABLES)
    out_p = parallel(x, INPUT_VARIABLES)
    assert out_p.shape == (2, len(INPUT_VARIABLES), 4 * 6, 16)
    torch.testing.assert_close(out_p, out_s, rtol=0, atol=1e-6)
    # A subset, in another order, selects the same per-variable projections.
    names = ("o3", "u", "elevation")
    sub = x[:, [INPUT_VARIABLES.index(n) for n in names]]
    torch.testing.assert_close(parallel(sub, names), serial(sub, names), rtol=0, atol=1e-6)
    torch.testing.assert_close(parallel(sub, names)[:, 1], out_s[:, 0], rtol=0, atol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        parallel(sub, ("nope", "u", "v"))


def test_variable_aggregation_equals_multihead_attention() -> None:
    torch.manual_seed(0)
    dim, heads = 32, 4
    reference = nn.MultiheadAttention(dim, heads, batch_first=True)
    ours = VariableAggregation(dim, heads)
    ours.load_state_dict(reference.state_dict())  # the keys match, so a ClimaX checkpoint maps by name
    query = torch.randn(10, 1, dim)
    tokens = torch.randn(10, 7, dim)
    expected, _ = reference(query, tokens, tokens)
    torch.testing.assert_close(ours(query, tokens), expected, rtol=0, atol=1e-5)


def test_sincos_2d_layout() -> None:
    emb = sincos_2d(16, 3, 5)
    assert emb.shape == (15, 16)
    # row-major tokens: first half depends on the column only, second half on the row only
    grid = emb.view(3, 5, 16)
    torch.testing.assert_close(grid[0, :, :8], grid[2, :, :8])
    torch.testing.assert_close(grid[:, 0, 8:], grid[:, 4, 8:])


def test_unpatchify_inverts_patch_layout() -> None:
    b, c, p, h, w = 2, 3, 2, 4, 6
    field = torch.randn(b, c, h, w)
    # patchify with layout (p, q, c), c fastest, then unpatchify must give the field back
    patches = field.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
    torch.testing.assert_close(unpatchify(patches, p, c, (h // p, w // p)), field)
