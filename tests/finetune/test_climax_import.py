"""ClimaX checkpoint import: checkpoints built here in ClimaX's key layout (``net.`` prefix), never its code."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import Tensor

from aqnet.errors import DataError
from aqnet.finetune.climax_import import (
    CLIMAX_DEFAULT_VARIABLES,
    ClimaxImportError,
    _main,
    import_climax,
    load_climax_state,
)
from aqnet.models.climax import BackboneConfig, Forecaster, ModelConfigError

D, P, IMG = 16, 2, (8, 16)  # 4x8 tokens
# ClimaX's order differs from the model's; land_sea_mask and geopotential_500 have no aqnet counterpart
CKPT_VARS = [
    "land_sea_mask",
    "10m_v_component_of_wind",
    "geopotential_500",
    "2m_temperature",
    "orography",
    "10m_u_component_of_wind",
]
INPUTS = ("u", "v", "temp", "elevation", "pm25")


def climax_state(
    variables: list[str] | tuple[str, ...],
    parallel: bool,
    dim: int = D,
    tokens: tuple[int, int] = (4, 8),
    depth: int = 1,
    decoder_depth: int = 1,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Random tensors named and shaped as ClimaX's state dict (without the ``net.`` prefix)."""
    gen = torch.Generator().manual_seed(seed)
    keys: dict[str, tuple[int, ...]] = {
        "var_embed": (1, len(variables), dim),
        "var_query": (1, 1, dim),
        "pos_embed": (1, tokens[0] * tokens[1], dim),
        "var_agg.in_proj_weight": (3 * dim, dim),
        "var_agg.in_proj_bias": (3 * dim,),
        "var_agg.out_proj.weight": (dim, dim),
        "var_agg.out_proj.bias": (dim,),
        "lead_time_embed.weight": (dim, 1),
        "lead_time_embed.bias": (dim,),
        "norm.weight": (dim,),
        "norm.bias": (dim,),
    }
    for b in range(depth):
        for name, shape in {
            "norm1.weight": (dim,),
            "norm1.bias": (dim,),
            "attn.qkv.weight": (3 * dim, dim),
            "attn.qkv.bias": (3 * dim,),
            "attn.proj.weight": (dim, dim),
            "attn.proj.bias": (dim,),
            "norm2.weight": (dim,),
            "norm2.bias": (dim,),
            "mlp.fc1.weight": (4 * dim, dim),
            "mlp.fc1.bias": (4 * dim,),
            "mlp.fc2.weight": (dim, 4 * dim),
            "mlp.fc2.bias": (dim,),
        }.items():
            keys[f"blocks.{b}.{name}"] = shape
    for k in range(decoder_depth):
        keys[f"head.{2 * k}.weight"], keys[f"head.{2 * k}.bias"] = (dim, dim), (dim,)
    last = 2 * decoder_depth
    keys[f"head.{last}.weight"], keys[f"head.{last}.bias"] = (len(variables) * P * P, dim), (len(variables) * P * P,)
    if parallel:
        keys["token_embeds.proj_weights"] = (len(variables), dim, 1, P, P)
        keys["token_embeds.proj_biases"] = (len(variables), dim)
    else:
        for i in range(len(variables)):
            keys[f"token_embeds.{i}.proj.weight"], keys[f"token_embeds.{i}.proj.bias"] = (dim, 1, P, P), (dim,)
    return {k: torch.randn(shape, generator=gen) for k, shape in keys.items()}


def save_lightning(state: dict[str, Tensor], path: Path) -> Path:
    torch.save({"state_dict": {f"net.{k}": v for k, v in state.items()}, "epoch": 3, "hyper_parameters": {}}, path)
    return path


def model(
    inputs: tuple[str, ...] = INPUTS,
    targets: tuple[str, ...] = ("temp", "u"),
    embed: str = "parallel",
    img: tuple[int, int] = IMG,
    depth: int = 1,
) -> Forecaster:
    backbone = BackboneConfig(embed_dim=D, depth=depth, decoder_depth=1, num_heads=2, drop_path=0.0, drop_rate=0.0)
    return Forecaster(inputs, targets, img, P, backbone, embed=embed)


def token_weight(m: Forecaster, name: str) -> Tensor:
    i = m.token_embeds.indices([name])[0]
    return m.token_embeds[i].proj.weight if m.embed_kind == "serial" else m.token_embeds.proj_weights[i]


def ckpt_weight(state: dict[str, Tensor], i: int) -> Tensor:
    return (
        state["token_embeds.proj_weights"][i]
        if "token_embeds.proj_weights" in state
        else state[f"token_embeds.{i}.proj.weight"]
    )


@pytest.mark.parametrize("ckpt_kind", ["serial", "parallel"])
@pytest.mark.parametrize("embed", ["serial", "parallel"])
def test_variables_map_by_name_into_either_layout(tmp_path: Path, ckpt_kind: str, embed: str) -> None:
    state = climax_state(CKPT_VARS, parallel=ckpt_kind == "parallel")
    m = model(embed=embed)
    pm25_before = token_weight(m, "pm25").clone()
    report = import_climax(save_lightning(state, tmp_path / "c.ckpt"), m, CKPT_VARS)
    expected = {"u": 5, "v": 1, "temp": 3, "elevation": 4}  # aqnet name -> row in the checkpoint
    assert report.mapped == {a: CKPT_VARS[i] for a, i in expected.items()}
    for name, i in expected.items():
        assert torch.equal(token_weight(m, name), ckpt_weight(state, i))
        assert torch.equal(m.var_embed[0, m.token_embeds.indices([name])[0]], state["var_embed"][0, i])
    assert torch.equal(token_weight(m, "pm25"), pm25_before)
    assert report.unmapped_climax == ["land_sea_mask", "geopotential_500"]
    assert report.new_variables == ["pm25"]


def test_shared_keys_copied_and_aqnet_only_parts_kept(tmp_path: Path) -> None:
    state = climax_state(CKPT_VARS, parallel=False, depth=2)  # one block more than the model
    m = model()
    time_before, mean_before = m.time_embed.weight.clone(), m.normaliser.mean.clone()
    report = import_climax(save_lightning(state, tmp_path / "c.ckpt"), m, CKPT_VARS)
    sd = m.state_dict()
    for key in (
        "blocks.0.attn.qkv.weight",
        "var_agg.in_proj_weight",
        "var_query",
        "lead_time_embed.weight",
        "norm.bias",
    ):
        assert torch.equal(sd[key], state[key]), key
        assert key in report.loaded
    assert torch.equal(sd["head.0.weight"], state["head.0.weight"])
    assert torch.equal(m.time_embed.weight, time_before) and torch.equal(m.normaliser.mean, mean_before)
    assert {"time_embed.weight", "time_embed.bias", "normaliser.mean", "normaliser.std"} <= set(report.new)
    assert not set(report.loaded) & set(report.new)
    # the extra block and the token embeddings of unmapped variables are dropped; var_embed and head reshaped
    assert "blocks.1.attn.qkv.weight" in report.dropped
    assert {"token_embeds.0.proj.weight", "token_embeds.2.proj.bias"} <= set(report.dropped)
    assert "token_embeds.1.proj.weight" not in report.dropped
    assert report.reshaped["var_embed"] == ((1, 6, D), (1, 5, D))
    assert report.reshaped["head.2.weight"] == ((6 * P * P, D), (2 * P * P, D))
    text = report.table()
    assert "land_sea_mask" in text and "time_embed.weight" in text and "blocks.* (12)" in text


def test_head_last_layer_sliced_by_target_name(tmp_path: Path) -> None:
    state = climax_state(CKPT_VARS, parallel=True)
    m = model(targets=("pm25", "u", "temp"))
    pm25_rows = m.head[2].weight.view(P * P, 3, D)[:, 0].clone()
    report = import_climax(save_lightning(state, tmp_path / "c.ckpt"), m, CKPT_VARS)
    src_w = state["head.2.weight"].view(P * P, len(CKPT_VARS), D)  # rows (p, q, variable), variable fastest
    src_b = state["head.2.bias"].view(P * P, len(CKPT_VARS))
    own_w, own_b = m.head[2].weight.view(P * P, 3, D), m.head[2].bias.view(P * P, 3)
    for j, i in ((1, 5), (2, 3)):  # u is ClimaX row 5, temp row 3
        assert torch.equal(own_w[:, j], src_w[:, i]) and torch.equal(own_b[:, j], src_b[:, i])
    assert torch.equal(own_w[:, 0], pm25_rows)
    assert report.new_head_targets == ["pm25"]


def test_pos_embed_copied_as_is_when_grid_unchanged(tmp_path: Path) -> None:
    state = climax_state(CKPT_VARS, parallel=True)
    m = model()
    report = import_climax(save_lightning(state, tmp_path / "c.ckpt"), m, CKPT_VARS)
    assert torch.equal(m.pos_embed, state["pos_embed"]) and "pos_embed" not in report.reshaped


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_pos_embed_interpolated_to_the_model_grid(mode: str) -> None:
    state = climax_state(CKPT_VARS, parallel=True, tokens=(2, 4))  # 8 tokens: a 2:1 grid, as ClimaX's
    state["pos_embed"] = torch.linspace(-1, 1, D).expand(1, 8, D).clone()  # constant over the grid
    m = model(img=(16, 32))  # 8x16 tokens
    report = import_climax(state, m, CKPT_VARS, interpolation=mode)
    assert report.reshaped["pos_embed"] == ((1, 8, D), (1, 128, D))
    torch.testing.assert_close(m.pos_embed, torch.linspace(-1, 1, D).expand(1, 128, D))


def test_pos_embed_grid_not_inferable_needs_source_grid() -> None:
    state = climax_state(CKPT_VARS, parallel=True, tokens=(3, 4))
    with pytest.raises(ModelConfigError, match="source_grid"):
        import_climax(state, model(), CKPT_VARS)
    report = import_climax(state, model(), CKPT_VARS, source_grid=(3, 4))
    assert report.reshaped["pos_embed"] == ((1, 12, D), (1, 32, D))


def test_prediction_does_not_depend_on_variable_order(tmp_path: Path) -> None:
    path = save_lightning(climax_state(CKPT_VARS, parallel=False), tmp_path / "c.ckpt")
    a, b = model(("u", "v", "temp", "elevation")), model(("elevation", "temp", "v", "u"))
    for m in (a, b):
        import_climax(path, m, CKPT_VARS)
        m.double().eval()  # float64: only the order of summation differs between the two models
    x = torch.randn(2, 4, *IMG, dtype=torch.float64)
    args = (torch.tensor([24.0, 48.0], dtype=torch.float64), torch.tensor([0, 6]), torch.tensor([1, 180]))
    with torch.no_grad():
        torch.testing.assert_close(a(x, *args), b(x[:, [3, 2, 1, 0]], *args))


def test_released_variables_by_default_and_extra_aliases() -> None:
    state = climax_state(CLIMAX_DEFAULT_VARIABLES, parallel=True)
    m = model(("u", "v", "temp", "elevation", "lat2d", "rh"))
    report = import_climax(state, m, aliases={"relative_humidity_925": "rh"})
    assert report.mapped == {
        "elevation": "orography",
        "lat2d": "lattitude",
        "temp": "2m_temperature",
        "u": "10m_u_component_of_wind",
        "v": "10m_v_component_of_wind",
        "rh": "relative_humidity_925",
    }
    assert len(report.unmapped_climax) == 48 - 6 and report.new_variables == []
    assert (
        "rh" not in import_climax(state, model(("u", "rh"), ("u",))).mapped
    )  # pressure-level RH is not near-surface rh


def test_older_channel_naming_loads(tmp_path: Path) -> None:
    state = climax_state(CKPT_VARS, parallel=True)
    old = {k.replace("var_", "channel_"): v for k, v in state.items()}
    m = model()
    import_climax(save_lightning(old, tmp_path / "c.ckpt"), m, CKPT_VARS)
    assert torch.equal(m.var_query, state["var_query"])


class _Payload:
    marker: Path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))  # creates the marker file when unpickled


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ClimaxImportError, match="does not exist"):
        import_climax(tmp_path / "missing.ckpt", model())
    payload = _Payload()
    payload.marker = tmp_path / "executed"
    torch.save({"state_dict": {"net.x": payload}}, tmp_path / "evil.ckpt")
    with pytest.raises(DataError, match="weights_only"):
        load_climax_state(tmp_path / "evil.ckpt")
    pickle_path = tmp_path / "evil.pkl"
    pickle_path.write_bytes(pickle.dumps({"state_dict": payload}))  # a bare pickle, not torch's zip format
    with pytest.raises(ClimaxImportError, match="cannot be loaded safely"):
        import_climax(pickle_path, model())
    assert not payload.marker.exists()
    pickle.loads(pickle_path.read_bytes())["state_dict"].close()  # the payload is live: plain unpickling runs it
    assert payload.marker.exists()
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        import_climax(tmp_path / "junk.ckpt", model())
    unrelated = save_lightning({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.ckpt")
    with pytest.raises(ClimaxImportError, match="not a ClimaX checkpoint"):
        import_climax(unrelated, model())
    levels = ["geopotential_500", "temperature_850"]
    with pytest.raises(ClimaxImportError, match="maps onto"):
        import_climax(climax_state(levels, parallel=True), model(), levels)
    with pytest.raises(ModelConfigError, match="climax_variables"):
        import_climax(climax_state(levels, parallel=True), model())
    with pytest.raises(ModelConfigError, match="embed_dim"):
        import_climax(climax_state(CKPT_VARS, parallel=True, dim=8), model(), CKPT_VARS)


def test_cli_saves_imported_tensors_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # conf/backbone/climax_tiny: 64 dims, depth 3, decoder depth 2; the checkpoint has the released 48 variables
    state = climax_state(CLIMAX_DEFAULT_VARIABLES, parallel=False, dim=64, tokens=(8, 16), depth=3, decoder_depth=2)
    ckpt = save_lightning(state, tmp_path / "c.ckpt")
    out = tmp_path / "converted.pt"
    args = [str(ckpt), "--out", str(out), "--backbone", "climax_tiny", "--img-size", "32", "64"]
    assert _main(args) == 0
    assert "orography -> elevation" in capsys.readouterr().out
    converted = torch.load(out, weights_only=True)
    assert converted["pos_embed"].shape == (1, 16 * 32, 64)  # interpolated from 8x16 tokens
    assert "blocks.2.mlp.fc2.weight" in converted and not any(k.startswith("normaliser.") for k in converted)
