"""Loading across architecture changes: by variable name, reordered, subset, new keys, grid change, policies."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from aqnet.errors import ConfigError, DataError
from aqnet.finetune.loading import LoadPolicy, load_into
from aqnet.finetune.source import model_state, read_checkpoint, resolve_run
from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.physics import TopoFlowBias

BACKBONE = BackboneConfig(embed_dim=32, depth=2, decoder_depth=1, num_heads=4, drop_path=0.0, drop_rate=0.0)
INPUTS = ("u", "v", "temp", "elevation", "pm25", "o3")
TARGETS = ("pm25", "o3")


def _model(inputs=INPUTS, targets=TARGETS, grid=(16, 32), seed: int = 0, **kwargs: object) -> Forecaster:
    stats = {n: {"mean": float(i), "std": 1.0 + i} for i, n in enumerate(inputs)}
    return Forecaster(inputs, targets, grid, 2, BACKBONE, seed=seed, statistics=stats, **kwargs)  # type: ignore[arg-type]


def _row(model: Forecaster, name: str) -> torch.Tensor:
    i = model.input_names.index(name)
    if model.embed_kind == "parallel":
        return model.token_embeds.proj_weights[i]
    return model.token_embeds[i].proj.weight


def test_same_architecture_loads_everything_as_is() -> None:
    source, target = _model(seed=1), _model(seed=2)
    report = load_into(target, source.state_dict(), LoadPolicy(strict=True), "src")
    assert not report.new and not report.dropped and not report.reshaped
    for key, value in source.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(target.state_dict()[key], value), key


def test_new_physics_key_is_reported_and_kept() -> None:
    source, target = _model(seed=1), _model(seed=2, physics_bias=TopoFlowBias())
    report = load_into(target, source.state_dict(), LoadPolicy(), "src")
    assert report.new == [("physics_bias.alpha", (1,))]
    assert target.physics_bias.alpha.item() == 1.0  # its initial value, not garbage
    torch.testing.assert_close(target.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    with pytest.raises(ConfigError, match="strict loading.*1 new"):
        load_into(_model(seed=3, physics_bias=TopoFlowBias()), source.state_dict(), LoadPolicy(strict=True), "src")
    with pytest.raises(ConfigError, match="max_new_keys=0.*physics_bias.alpha"):
        load_into(_model(seed=3, physics_bias=TopoFlowBias()), source.state_dict(), LoadPolicy(max_new_keys=0), "s")


def test_variables_match_by_name_across_order_layout_and_subset() -> None:
    source = _model(embed="serial", seed=1)
    reordered = ("o3", "elevation", "pm25", "temp", "v")  # "u" dropped, another order, parallel layout
    target = _model(inputs=reordered, embed="parallel", seed=2)
    report = load_into(target, source.state_dict(), LoadPolicy(), "src")
    for name in reordered:
        torch.testing.assert_close(_row(target, name), _row(source, name))
        j, i = target.input_names.index(name), source.input_names.index(name)
        torch.testing.assert_close(target.var_embed[0, j], source.var_embed[0, i])
        assert target.normaliser.mean[j] == source.normaliser.mean[i]  # statistics from the checkpoint, by name
    assert report.dropped_variables == ["u"] and not report.new_variables
    assert {k for k, *_ in report.reshaped} >= {"token_embeds.proj_weights", "var_embed", "normaliser.mean"}


def test_a_new_variable_is_counted_against_the_policy() -> None:
    source = _model(seed=1)
    more = (*INPUTS, "population")
    with pytest.raises(ConfigError, match=r"\['population'\].*max_new_variables=0"):
        load_into(_model(inputs=more), source.state_dict(), LoadPolicy(), "src")
    report = load_into(_model(inputs=more), source.state_dict(), LoadPolicy(max_new_variables=1), "src")
    assert report.new_variables == ["population"]


def test_position_embedding_is_interpolated_to_a_new_grid() -> None:
    source, target = _model(seed=1), _model(grid=(32, 64), seed=2)
    report = load_into(target, source.state_dict(), LoadPolicy(statistics="recompute"), "src")
    assert ("pos_embed", (1, 128, 32), (1, 512, 32), "interpolated to the new token grid") in report.reshaped
    assert target.pos_embed.shape == (1, 512, 32)
    # a smooth sin-cos field interpolated to twice the grid keeps its values at matching positions (roughly)
    coarse = source.pos_embed.reshape(8, 16, 32)
    fine = target.pos_embed.detach().reshape(16, 32, 32)
    assert (fine[::2, ::2] - coarse).abs().mean() < (coarse.abs().mean() * 0.5)


def test_head_rows_follow_the_target_names() -> None:
    source = _model(seed=1)
    target = _model(targets=("o3",), seed=2)
    load_into(target, source.state_dict(), LoadPolicy(), "src")
    x = torch.randn(1, 8 * 16, 32)
    torch.testing.assert_close(target.head(x)[:, 0], source.head(x)[:, 1])  # o3 was the second target


def test_statistics_can_be_recomputed() -> None:
    source, target = _model(seed=1), _model(seed=2)
    with torch.no_grad():
        source.normaliser.mean += 100.0
    mean_before = target.normaliser.mean.clone()
    load_into(target, source.state_dict(), LoadPolicy(statistics="recompute"), "src")
    assert torch.equal(target.normaliser.mean, mean_before)


def test_unrelated_and_mismatched_checkpoints_are_errors() -> None:
    target = _model()
    with pytest.raises(ConfigError, match="nothing in the checkpoint matches"):
        load_into(target, {"encoder.weight": torch.zeros(3, 3)}, LoadPolicy(), "other.ckpt")
    wider = Forecaster(INPUTS, TARGETS, (16, 32), 2, BackboneConfig(embed_dim=64, depth=2, num_heads=4))
    with pytest.raises(ConfigError, match=r"shape \[.*64.*\] in the checkpoint"):
        load_into(target, wider.state_dict(), LoadPolicy(), "wide.ckpt")


def test_reading_checkpoints_safely(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(DataError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(tmp_path / "text.ckpt")

    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "executed",))

    with open(tmp_path / "evil.ckpt", "wb") as f:
        pickle.dump({"state_dict": Boom()}, f)
    torch.save({"state_dict": {"x": Boom()}}, tmp_path / "evil2.ckpt")
    for name in ("evil.ckpt", "evil2.ckpt"):
        with pytest.raises(DataError):
            read_checkpoint(tmp_path / name)
    assert not (tmp_path / "executed").exists(), "a pickle was executed"
    torch.save({"state_dict": {"model.pos_embed": torch.zeros(1)}}, tmp_path / "ok.ckpt")
    assert set(model_state(read_checkpoint(tmp_path / "ok.ckpt"), tmp_path / "ok.ckpt")) == {"pos_embed"}


def test_resolving_run_references(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20260101T000000000000Z"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert resolve_run(str(run), tmp_path, "last").checkpoint.name == "last.ckpt"
    assert resolve_run(run.name, tmp_path, "last").run_dir == run.resolve()
    with pytest.raises(ConfigError, match=r"no best checkpoint.*\['last.ckpt'\]"):
        resolve_run(run.name, tmp_path, "best")
    with pytest.raises(ConfigError, match="no such checkpoint file, run directory"):
        resolve_run("nowhere", tmp_path)
    with pytest.raises(ConfigError, match="no MLflow store"):
        resolve_run("0123456789abcdef0123456789abcdef", tmp_path)
    assert not (tmp_path / "mlflow.db").exists()
