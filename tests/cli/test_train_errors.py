"""`aqnet-train` turns every user error into one line and a non-zero exit, before compute, writing nothing over."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Runner, assert_one_line_error
from tests.data.store_factory import corrupt_chunk, make_store, snapshot

FAST = ["debug=fast", "logger=none"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["foo=1"], "foo is not a key"),
        (["data.nope=3"], "data.nope is not a key"),
        (["trainer.max_steps=abc"], "trainer.max_steps"),
        (["backbone=climax_huge"], "climax_huge"),
        (["task.targets=[pm25,xco2]"], "xco2"),
        (["data.inputs=[u,v,temp,pm10]", "task.targets=[pm25]"], "pm25"),
        (["optim.lr=0"], "optim.lr"),
        (["optim.lr=-0.001"], "optim.lr"),
        (["data=zarr"], "data.path"),
        (["physics_bias=topoflow", "physics_bias.backend=flex"], "physics_bias.backend=flex"),
        (["physics_bias=topoflow", "data.inputs=[u,v,temp,pm25]", "task.targets=[pm25]"], "elevation"),
        (["embed=wind_scan", "data.inputs=[temp,elevation,pm25]", "task.targets=[pm25]"], "'u', 'v'"),
        (["embed=wind_scan", "embed.region=[0,4]"], "embed.region"),
        (["physics_bias=topoflow", "physics_bias.blocks=[7]"], "physics_bias.blocks"),
        (["physics_bias=adaptive", "physics_bias.backend=lowrank"], "cannot compute wind=pair_mean"),
        (["physics_bias=topoflow", "physics_bias.rank=0"], "physics_bias.rank=0"),
    ],
)
def test_config_errors(run_cli: Runner, root: Path, overrides: list[str], named: str) -> None:
    assert_one_line_error(run_cli("aqnet-train", *overrides, *FAST), named)
    assert not (root / "data").exists(), "no benchmark may be generated for a config that is wrong"


def test_unwritable_output_root(run_cli: Runner, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    result = run_cli("aqnet-train", *FAST, env={"AQNET_ROOT": str(blocker / "root")})
    assert_one_line_error(result, "paths.root", "not writable")
    assert blocker.read_text() == "keep me"


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("stores") / "good.zarr", days=6)


def test_patch_not_dividing_the_grid(run_cli: Runner, good_store: Path) -> None:
    result = run_cli("aqnet-train", "data=zarr", f"data.path={good_store}", "backbone.patch_size=3", *FAST)
    assert_one_line_error(result, "backbone.patch_size=3", "8x16")


@pytest.mark.parametrize(
    ("factor", "overrides"),
    [(1e-3, ["physics_bias=topoflow"]), (1e-3, ["physics_bias=adaptive"]), (0.0004, ["physics_bias=topoflow"])],
)
def test_implausible_elevation_is_named(run_cli: Runner, tmp_path: Path, factor: float, overrides: list[str]) -> None:
    """Elevation in km (or normalised) under a 'm' attribute would turn the bias into noise: say so."""
    store = make_store(tmp_path / "km.zarr", days=6, scale={"elevation": factor})
    result = run_cli("aqnet-train", "data=zarr", f"data.path={store}", *overrides, *FAST)
    assert_one_line_error(result, "'elevation'", "not km or normalised")


def test_wind_in_knots_times_ten_is_named(run_cli: Runner, tmp_path: Path) -> None:
    store = make_store(tmp_path / "wind.zarr", days=6, scale={"u": 100.0})
    result = run_cli("aqnet-train", "data=zarr", f"data.path={store}", "embed=wind_scan", "embed.region=[1,1]", *FAST)
    assert_one_line_error(result, "'u'", "-150..150 m s-1")


@pytest.mark.parametrize(
    ("store_kwargs", "named"),
    [
        ({"scale": {"elevation": 1e-3}}, ["'elevation'", "-500..9000 m", "not km or normalised"]),  # no physics bias
        ({"units": {"temp": "degC"}}, ["'temp'", "150..350 K"]),  # kelvin values labelled degC
    ],
    ids=["elevation-km", "temp-K-as-degC"],
)
def test_every_input_outside_its_plausible_range_is_named(
    run_cli: Runner, tmp_path: Path, store_kwargs: dict, named: list[str]
) -> None:
    """Bias or not: a variable whose values are in other units than its attribute says is refused, in one line."""
    store = make_store(tmp_path / "units.zarr", days=6, **store_kwargs)
    before = snapshot(store)
    result = run_cli("aqnet-train", "data=zarr", f"data.path={store}", *FAST)
    assert_one_line_error(result, *named)
    assert snapshot(store) == before


def test_scan_region_not_tiling_the_token_grid(run_cli: Runner, good_store: Path) -> None:
    scan = ["embed=wind_scan", "embed.region=[3,4]"]
    result = run_cli("aqnet-train", "data=zarr", f"data.path={good_store}", *scan, *FAST)
    assert_one_line_error(result, "embed.region=[3, 4]", "4x8")


DEFECTS: dict[str, tuple[dict, str]] = {
    "missing variable": ({"variables": ("u", "v", "pm25", "mask")}, "temp"),
    "unconvertible unit": ({"units": {"so2": "kg kg-1"}}, "so2"),
    "all-NaN field": ({"all_nan": "rh"}, "'rh'"),
    "inf field": ({"inf_var": "v"}, "'v'"),
    "duplicated times": ({"duplicate_time": True}, "duplicated times"),
    "unsorted times": ({"unsorted_time": True}, "unsorted times"),
    "split year absent": ({"years": (2013, 2014, 2015, 2016, 2017)}, "2018"),
    "lead longer than the data": ({"days": 3}, "96 h"),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_store_defects_reach_the_user_as_one_line(run_cli: Runner, tmp_path: Path, defect: str) -> None:
    kwargs, named = DEFECTS[defect]
    store = make_store(tmp_path / "store.zarr", **kwargs)
    before = snapshot(store)
    result = run_cli("aqnet-train", "data=zarr", f"data.path={store}", *FAST)
    assert_one_line_error(result, named, str(store))
    assert snapshot(store) == before


def test_corrupt_chunk_names_store_and_variable(run_cli: Runner, tmp_path: Path) -> None:
    store = make_store(tmp_path / "store.zarr", days=6)
    corrupt_chunk(store, "temp")
    before = snapshot(store)
    result = run_cli("aqnet-train", "data=zarr", f"data.path={store}", *FAST)
    assert_one_line_error(result, "'temp'", str(store))
    assert snapshot(store) == before


@pytest.mark.parametrize("kind", ["missing", "not zarr"])
def test_store_path_problems(run_cli: Runner, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nowhere.zarr"
    if kind == "not zarr":
        path.mkdir()
        (path / "notes.txt").write_text("not a store")
    result = run_cli("aqnet-train", "data=zarr", f"data.path={path}", *FAST)
    assert_one_line_error(result, str(path))
    if kind == "not zarr":
        assert (path / "notes.txt").read_text() == "not a store"


def test_conflicting_hydra_flags_are_one_line(run_cli: Runner) -> None:
    assert_one_line_error(run_cli("aqnet-train", "-m", "--cfg", "job", "seed=0,1"), "command line", "--cfg")
