"""CrossMAE's decoder (aqnet/models/crossmae.py): WeightedFeatureMaps, queries that never see each other."""

from __future__ import annotations

import pytest
import torch

from aqnet.models.crossmae import CrossDecoder, WeightedFeatureMaps

B, L, D_ENC, T = 2, 6, 16, 5


def maps(n: int = 4, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, L, D_ENC, generator=g) for _ in range(n)]


def decoder(wfm: bool, seed: int = 0) -> CrossDecoder:
    torch.manual_seed(seed)
    return CrossDecoder(D_ENC, num_maps=4, dim=8, depth=2, num_heads=2, out_dim=4, weighted_feature_maps=wfm).eval()


def test_feature_maps_mix_by_learned_weights_with_a_norm_per_block() -> None:
    wfm = WeightedFeatureMaps(num_maps=3, decoder_depth=2, dim=D_ENC)
    features = maps(3)
    at_init = wfm(features)
    assert len(at_init) == 2
    expected = torch.nn.functional.layer_norm(features[-1], (D_ENC,))
    assert all(torch.allclose(m, expected, atol=1e-6) for m in at_init)  # starts on the last layer
    with torch.no_grad():
        wfm.weights.copy_(torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 2.0]]))
    first, second = wfm(features)
    mix = 0.5 * features[0] + 0.5 * features[1]
    assert torch.allclose(first, torch.nn.functional.layer_norm(mix, (D_ENC,)), atol=1e-5)
    assert torch.allclose(second, expected, atol=1e-5)  # a scale of one map is undone by the norm
    with pytest.raises(ValueError, match="built for 3 maps, got 2"):
        wfm(features[:2])


def test_at_init_the_mix_computes_what_the_plain_decoder_computes() -> None:
    on, off = decoder(True), decoder(False)
    off.load_state_dict(on.state_dict(), strict=False)  # the shared parameters
    queries = torch.randn(B, T, 8)
    assert torch.allclose(on(maps(), queries), off(maps(), queries), atol=1e-6)


def test_the_mix_weights_learn() -> None:
    on = decoder(True).train()
    on(maps(), torch.randn(B, T, 8)).square().mean().backward()
    assert on.feature_maps is not None and on.feature_maps.weights.grad.abs().sum() > 0


def test_a_query_never_reads_another_query_and_padded_memory_is_ignored() -> None:
    dec, features = decoder(True), maps()
    queries = torch.randn(B, T, 8)
    out = dec(features, queries)
    changed = queries.clone()
    changed[:, 0] += 10.0
    again = dec(features, changed)
    assert not torch.allclose(out[:, 0], again[:, 0]) and torch.allclose(out[:, 1:], again[:, 1:], atol=1e-6)
    padding = torch.zeros(B, L, dtype=torch.bool)
    padding[:, -2:] = True  # the last two encoder tokens are padding
    noisy = [m.clone() for m in features]
    for m in noisy:
        m[:, -2:] = torch.randn(B, 2, D_ENC) * 100
    padded = dec(features, queries, padding)
    assert torch.allclose(padded, dec(noisy, queries, padding), atol=1e-5)
    assert not torch.allclose(padded, out)
