"""Bad ``task=exceedance`` / ``model=unet_film`` input: one line naming the key, a non-zero exit, before compute."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Runner, assert_one_line_error
from tests.data.store_factory import make_store

pytestmark = pytest.mark.integration

FAST = ["task=exceedance", "model=unet_film", "debug=fast", "logger=none"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["task.thresholds.pm25=[75,0]"], "task.thresholds.pm25"),
        (["task.thresholds.pm25=[-5]"], "must be > 0"),
        (["data.inputs=[u,v,temp,pm10]"], "task.pollutants ['pm25'] are not among data.inputs"),
        (["task.pollutants=[pm25,xco2]"], "xco2"),
        (["task.loss.dice=-0.1"], "negative"),
        (["task.loss.bce=0", "task.loss.dice=0", "task.loss.focal=0"], "all 0"),
        (["task.loss.focal_gamma=-1"], "task.loss.focal_gamma=-1"),
        (["task.loss.focal_alpha=1.5"], "task.loss.focal_alpha=1.5"),
        (["task.loss.focal_alpha=often"], "task.loss.focal_alpha"),
        (["task.loss.pos_weight=0"], "task.loss.pos_weight"),
        (["task.decision_threshold=1.2"], "task.decision_threshold"),
        (["task.statistic=weekly"], "task.statistic"),
        (["task.monitor=val/accuracy"], "task.monitor=val/accuracy"),
        (["task.monitor=val/csi_pm25_gt80_24h"], "did you mean val/csi_pm25_gt"),
        (["task.monitor=val/persistence_csi_pm25_gt75_24h"], "task.monitor"),  # references: test only
        (["model.depth=9"], "model.depth"),
    ],
)
def test_config_errors(run_cli: Runner, root: Path, overrides: list[str], named: str) -> None:
    assert_one_line_error(run_cli("aqnet-train", *FAST, *overrides), named)
    assert not (root / "data").exists(), "no benchmark may be generated for a config that is wrong"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("stores") / "store.zarr")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["task.thresholds.pm25=[75,5000]"], "['pm25_gt5000'] never exceeded in the training years"),
        (["model.depth=4"], "8x16"),  # a 16-pixel multiple on an 8-row grid: the U-Net cannot pad it
    ],
)
def test_data_errors_before_compute(run_cli: Runner, store: Path, overrides: list[str], named: str) -> None:
    result = run_cli("aqnet-train", *FAST, "data=zarr", f"data.path={store}", *overrides)
    line = assert_one_line_error(result, named)
    assert "training:" not in result.stdout, line  # no training step was taken
