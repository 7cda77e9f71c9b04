"""`aqnet-train` end to end as a subprocess: the run directory, the MLflow record, reproducibility."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.cli.conftest import script

pytestmark = pytest.mark.integration

FAST = ["debug=fast", "trainer.max_steps=6", "trainer.val_check_interval=3"]


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output root for the module, so the tiny benchmark is generated once and then reused."""
    return tmp_path_factory.mktemp("root")


def train(root: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AQNET_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [script("aqnet-train"), *FAST, *overrides], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def runs(root: Path, experiment: str = "quickstart") -> list[mlflow.entities.Run]:
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])


def test_a_run_leaves_its_directory_and_mlflow_record(shared_root: Path) -> None:
    result = train(shared_root, "seed=0")
    assert "generating the tiny benchmark" in result.stdout
    assert "test RMSE" in result.stdout and "persistence" in result.stdout
    # not a terminal: plain progress lines that read well in a log file, no carriage-return bars
    assert "step 6/6 epoch 0 loss" in result.stdout and "validation at step 3: val/loss" in result.stdout
    assert "\r" not in result.stdout
    assert f"sqlite:///{shared_root / 'mlflow.db'}" in result.stdout
    assert re.search(r"^run took \d+ min \d\d s \(data, training, test and report\)$", result.stdout, re.M)

    (run,) = runs(shared_root)
    run_dir = Path(run.data.tags["run_dir"])
    assert run_dir.parent == shared_root / "runs"
    for name in ("config.yaml", ".hydra/config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "train.log"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "mlflow_run_id").read_text().strip() == run.info.run_id
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["paths"]["root"] == str(shared_root) and saved["seed"] == 0  # resolved, plain YAML

    params = run.data.params
    assert len(params) >= 20
    assert params["choice.physics_bias"] == "none" and params["choice.backbone"] == "climax_tiny"
    assert params["backbone.embed_dim"] == "64" and params["data.benchmark"] == "tiny"
    assert set(run.data.tags) >= {"git_sha", "aqnet_version", "sweep_id", "job_num"}
    metrics = run.data.metrics
    for name in (
        "train/loss",
        "val/loss",
        "test/loss",
        "test/rmse_pm25_12h",
        "test/mae_o3_96h",
        "test/bias_co_48h",
        "test/persistence_rmse_pm25_24h",
        "test/climatology_rmse_no2_48h",
        "val/rmse_pm10_96h",
    ):
        assert name in metrics, name
    artifacts = {
        a.path for a in mlflow.MlflowClient(f"sqlite:///{shared_root / 'mlflow.db'}").list_artifacts(run.info.run_id)
    }
    assert "config.yaml" in artifacts and "checkpoints" in artifacts


def test_the_same_seed_gives_the_same_metrics(shared_root: Path) -> None:
    train(shared_root, "seed=7", "data.num_workers=2")
    train(shared_root, "seed=7", "data.num_workers=2")
    train(shared_root, "seed=8", "data.num_workers=2")
    *_, first, second, other = runs(shared_root)
    tests = [{k: v for k, v in r.data.metrics.items() if k.startswith("test/")} for r in (first, second, other)]
    assert tests[0] and tests[0] == tests[1]
    assert tests[0]["test/rmse_pm25_24h"] != tests[2]["test/rmse_pm25_24h"]


def test_logger_none_tracks_nothing(shared_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "quiet"
    result = train(root, "logger=none", f"data.path={shared_root / 'data' / 'benchmark_tiny_seed0.zarr'}")
    assert "test RMSE" in result.stdout and "MLflow" not in result.stdout
    assert not (root / "mlflow.db").exists()


def test_topoflow_run_learns_alpha_in_its_own_group(shared_root: Path) -> None:
    train(shared_root, "physics_bias=topoflow", "logger.experiment_name=physics")
    (run,) = runs(shared_root, "physics")
    assert run.data.params["choice.physics_bias"] == "topoflow"
    assert run.data.params["physics_bias.direction"] == "source_higher"
    alpha = run.data.metrics["physics/alpha"]
    assert alpha != 1.0  # moved from its initial value: it receives gradient and has its own LR


@pytest.mark.parametrize(
    "overrides",
    [
        ["physics_bias=adaptive", "embed=wind_scan", "physics_bias.learn_beta=true"],
        ["physics_bias=topoflow", "physics_bias.blocks=all"],
        ["physics_bias=topoflow", "physics_bias.direction=receptor_higher", "physics_bias.control=shuffled_elevation"],
    ],
    ids=["adaptive+wind_scan", "topoflow-all-blocks", "receptor_higher-shuffled"],
)
def test_physics_variants_train_and_plot_their_bias(shared_root: Path, overrides: list[str]) -> None:
    experiment = "physics_" + "_".join(o.split("=")[-1] for o in overrides)
    train(shared_root, *overrides, f"logger.experiment_name={experiment}")
    (run,) = runs(shared_root, experiment)
    assert "physics/alpha" in run.data.metrics and "test/rmse_pm25_24h" in run.data.metrics
    assert ("physics/beta" in run.data.metrics) == ("physics_bias.learn_beta=true" in overrides)
    client = mlflow.MlflowClient(f"sqlite:///{shared_root / 'mlflow.db'}")
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == ["plots/physics_bias_footprints.png"]
    png = Path(run.data.tags["run_dir"]) / "plots" / "physics_bias_footprints.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
