"""The config tree composes into the typed schema; bad keys, types and values fail with a named key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from aqnet.config import compose, validate_config
from aqnet.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("_"))


@pytest.mark.parametrize(
    "override",
    [f"{group}={option.stem}" for group in GROUPS for option in sorted((CONF / group).glob("*.yaml"))],
)
def test_every_option_of_every_group_composes_and_validates(override: str) -> None:
    extra = {
        "data=zarr": ["data.path=/some/store.zarr"],
        "finetune=elevation": ["finetune.checkpoint=/some/run", "physics_bias=topoflow"],
        "cluster=lumi": ["cluster.account=project_1"],
        "scheduler=reduce_on_plateau": ["scheduler.warmup_steps=0"],  # the quickstart preset warms up
    }.get(override, [])
    cfg = compose([override, *extra])
    validate_config(cfg)


def test_default_is_the_quickstart_on_the_tiny_benchmark() -> None:
    cfg = compose()
    assert cfg.experiment == "quickstart"
    assert cfg.data.benchmark == "tiny" and cfg.data.path is None
    assert cfg.backbone.name == "climax_tiny" and cfg.embed.name == "parallel"
    assert Path(cfg.paths.root).is_absolute()


def test_paths_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AQNET_ROOT", str(tmp_path / "elsewhere"))
    assert compose().paths.root == str(tmp_path / "elsewhere")


def test_backbone_presets_match_topoflow_and_released_climax() -> None:
    base, big = compose(["backbone=climax_base"]).backbone, compose(["backbone=climax_1024"]).backbone
    assert (base.embed_dim, base.depth, base.num_heads) == (768, 6, 8)
    assert (big.embed_dim, big.depth, big.num_heads) == (1024, 8, 16)


@pytest.mark.parametrize(
    ("override", "named"),
    [("foo=1", "foo"), ("data.nope=3", "nope"), ("trainer.max_steps=abc", "trainer.max_steps")],
)
def test_unknown_keys_and_wrong_types_fail_at_composition(override: str, named: str) -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose([override])
    assert named in f"{info.value} {info.value.__cause__}"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["optim.lr=0"], "optim.lr"),
        (["optim.lr=-1e-3"], "optim.lr"),
        (["task.targets=[pm25,xco2]"], "xco2"),
        (["data.inputs=[u,v,pm10]", "task.targets=[pm25]"], "pm25"),
        (["data=zarr"], "data.path"),
        (["task.lead_hours=[]"], "task.lead_hours"),
        (["task.monitor=val/rmse_pm25_13h"], "val/rmse_pm25_12h"),  # not logged: the nearest one is named
        (["optim=sgd", "optim.momentum=0", "optim.nesterov=true"], "optim.nesterov"),
        (["scheduler.min_lr_ratio=2"], "scheduler.min_lr_ratio"),
        (["trainer.precision=16-mixed"], "trainer.precision=16-mixed"),
        (["trainer.precision=8-bit"], "trainer.precision"),
        (["trainer.gradient_clip_algorithm=percentile"], "trainer.gradient_clip_algorithm"),
        (["+callbacks.lr.logging_interval=step"], "callbacks.lr"),
        (["optim.layer_decay=1.5"], "optim.layer_decay"),
        (["scheduler=reduce_on_plateau"], "scheduler.warmup_steps=0"),
        (["backbone.embed_dim=130", "backbone.num_heads=4"], "backbone.num_heads"),
        (["embed.name=conv3d"], "embed.name"),
        (["trainer.max_steps=-1", "trainer.max_epochs=-1"], "trainer.max_steps"),
        (["physics_bias=topoflow", "physics_bias.direction=uphill"], "physics_bias.direction"),
        (["physics_bias=topoflow", "physics_bias.blocks=[0,9]"], "physics_bias.blocks"),
        (["physics_bias=topoflow", "physics_bias.blocks=some"], "physics_bias.blocks"),
        (["physics_bias=adaptive", "physics_bias.wind=upwind"], "physics_bias.wind"),
        (["physics_bias=topoflow", "physics_bias.control=random"], "physics_bias.control"),
        (["physics_bias=adaptive", "data.inputs=[elevation,pm25]", "task.targets=[pm25]"], "physics_bias=adaptive"),
        (
            ["finetune=elevation", "finetune.checkpoint=/a/run", "physics_bias=topoflow", "scheduler=onecycle"],
            "scheduler=onecycle",
        ),
    ],
)
def test_impossible_values_name_the_key(overrides: list[str], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")) as info:
        validate_config(compose(overrides))
    assert "\n" not in str(info.value)


def test_physics_bias_presets_follow_topoflow() -> None:
    topo, adaptive = compose(["physics_bias=topoflow"]).physics_bias, compose(["physics_bias=adaptive"]).physics_bias
    assert (topo.alpha_init, topo.clamp, list(topo.blocks), topo.direction) == (1.0, -10.0, [0], "source_higher")
    assert (adaptive.alpha_init, adaptive.beta_init, adaptive.clamp, adaptive.wind) == (0.2, 0.3, None, "pair_mean")
    validate_config(compose(["physics_bias=topoflow", "physics_bias.blocks=all"]))


def test_validation_returns_the_typed_run_with_each_group_option_as_its_class() -> None:
    from aqnet.models.specs.climax import ClimaXModel
    from aqnet.tasks.forecast import Forecast
    from aqnet.training.config import OneCycleConfig, SGDConfig

    run = validate_config(compose(["optim=sgd", "scheduler=onecycle"]))
    assert isinstance(run.task, Forecast) and isinstance(run.model, ClimaXModel)
    assert isinstance(run.optim, SGDConfig) and isinstance(run.scheduler, OneCycleConfig)
    assert run.task.mode == "min" and run.task.monitor == "val/loss"


@pytest.mark.parametrize(("override", "named"), [("task.lead=[12]", "lead"), ("optim.momentum=0.9", "momentum")])
def test_a_key_another_option_has_fails_at_composition(override: str, named: str) -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose([override])  # adamw has no momentum; the forecast task has no "lead"
    assert named in f"{info.value} {info.value.__cause__}"
