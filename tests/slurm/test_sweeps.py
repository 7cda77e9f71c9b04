"""aqnet-train on the local one-node SLURM: a sweep as one job array into an MLflow server, a single job without
-m, and a sweep submitted without holding the terminal."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.cli.conftest import BIN
from tests.launch.sweep_helpers import SHORT_JOB, aqnet_train, assert_complete, sweep_runs, tiny_store
from tests.slurm.conftest import REPO, SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_store(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """launchers/mlflow/server.sh on a free loopback port, as a multi-node sweep would use it."""
    root = tmp_path_factory.mktemp("server-root")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AQNET_ROOT": str(root), "MLFLOW_BIN": str(BIN / "mlflow")}
    server = REPO / "launchers" / "mlflow" / "server.sh"
    started = subprocess.run(["bash", str(server), "start", str(port)], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr
    yield f"http://127.0.0.1:{port}"
    subprocess.run(["bash", str(server), "stop"], env=env, check=False)


def _slurm_args(cluster: SlurmCluster) -> list[str]:
    return ["cluster=slurm", f"cluster.partition={cluster.partition}", "cluster.timeout_min=10"]


@pytest.mark.timeout(900)
def test_sweep_is_one_job_array_logging_into_a_server(
    slurm_cluster: SlurmCluster, store: Path, mlflow_server: str, tmp_path: Path
) -> None:
    """2 biases × 3 seeds: six concurrent SLURM array tasks into one MLflow server; nothing lost."""
    result = aqnet_train(
        tmp_path / "root",
        "-m",
        *_slurm_args(slurm_cluster),
        "physics_bias=none,topoflow",
        "seed=0,1,2",
        f"data.path={store}",
        f"logger.tracking_uri={mlflow_server}",
        "logger.experiment_name=array",
        *SHORT_JOB,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    parent, children = sweep_runs(mlflow_server, "array")
    assert_complete(mlflow_server, parent, children, 6)
    assert len({c.data.tags["slurm_array_job_id"] for c in children}) == 1  # one array
    assert sorted(c.data.tags["slurm_array_task_id"] for c in children) == [str(i) for i in range(6)]
    assert [c.data.params["choice.physics_bias"] for c in children] == ["none"] * 3 + ["topoflow"] * 3
    assert "physics/alpha" in children[-1].data.metrics and "physics/alpha" not in children[0].data.metrics
    assert "sacct" not in result.stderr  # the launcher's polling noise is filtered


@pytest.mark.timeout(600)
def test_a_single_job_goes_to_slurm_without_multirun(slurm_cluster: SlurmCluster, store: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = aqnet_train(root, *_slurm_args(slurm_cluster), "seed=3", f"data.path={store}", *SHORT_JOB)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    parent, (child,) = sweep_runs(uri, "quickstart")
    assert child.data.tags["slurm_job_id"] and child.data.params["seed"] == "3"
    assert Path(child.data.tags["run_dir"]).parent == root / "runs"


@pytest.mark.timeout(600)
def test_non_blocking_submission(slurm_cluster: SlurmCluster, store: Path, tmp_path: Path) -> None:
    """submit_sweep.sh returns at once with the sweep id; the launcher waits inside SLURM; the sweep completes."""
    root = tmp_path / "root"
    env = {**os.environ, "AQNET_ROOT": str(root), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AQNET_SUBMIT_TIME", None)
    command = ["aqnet-train", "-m", *_slurm_args(slurm_cluster), "seed=0", f"data.path={store}", *SHORT_JOB]
    started = time.monotonic()
    submitted = subprocess.run(
        ["bash", str(REPO / "launchers" / "slurm" / "submit_sweep.sh"), "-p", slurm_cluster.partition, "--", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert time.monotonic() - started < 30  # the terminal is back before any training happened
    sweep_id = submitted.stdout.split()[1]
    assert f"aqnet-compare --sweep {sweep_id}" in submitted.stdout
    uri = f"sqlite:///{root / 'mlflow.db'}"
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        if (root / "sweeps" / sweep_id / "mlflow_parent_run_id").exists():  # the store exists and is migrated
            client = mlflow.MlflowClient(uri)
            experiments = [e.experiment_id for e in client.search_experiments()]
            runs = client.search_runs(experiments, filter_string=f"tags.sweep_id = '{sweep_id}'") if experiments else []
            if runs and all(r.info.status == "FINISHED" for r in runs) and len(runs) == 2:
                break
        time.sleep(3)
    else:
        log = root / "sweeps" / sweep_id / "launcher.log"
        pytest.fail(f"sweep {sweep_id} did not finish; launcher log:\n{log.read_text() if log.exists() else '-'}")
    parent, (child,) = sweep_runs(uri, "quickstart")
    assert parent.data.tags["sweep_id"] == sweep_id and child.data.tags["run_id"] == f"{sweep_id}_0"
