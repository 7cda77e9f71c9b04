"""aqnet-train on the local one-node SLURM: a sweep as one job array into an MLflow server, a single job without
-m, and a sweep submitted without holding the terminal."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import mlflow
import pytest

from tests.cli.conftest import BIN
from tests.launch.sweep_helpers import SHORT_JOB, aqnet_train, assert_complete, sweep_runs
from tests.slurm.conftest import REPO, SlurmCluster
from tests.slurm.server_helpers import TrackingServer

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
FROM_THE_FILE = {"MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": ""}  # not this process's credentials


def _slurm_args(cluster: SlurmCluster, cpus: int = 1) -> list[str]:
    """1 CPU per job by default (no data workers under debug=fast): the local SLURM runs a whole array at once."""
    part = f"cluster.partition={cluster.partition}"
    return ["cluster=slurm", part, "cluster.timeout_min=10", f"cluster.cpus_per_task={cpus}"]


@pytest.mark.timeout(900)
def test_sweep_is_one_job_array_logging_into_a_server(
    slurm_cluster: SlurmCluster, tiny_benchmark: Path, logged_in: TrackingServer, tmp_path: Path
) -> None:
    """2 biases × 3 seeds: six concurrent SLURM array tasks into one authenticated MLflow server; nothing lost. The
    jobs read the credentials from the server's file; under umask 027 nothing they write is open to others."""
    tracking_server, root = logged_in, tmp_path / "root"
    previous = os.umask(0o027)  # sbatch hands the submitting umask to the jobs
    try:
        result = aqnet_train(
            root,
            "-m",
            *_slurm_args(slurm_cluster),
            "physics_bias=none,topoflow",
            "seed=0,1,2",
            f"data.path={tiny_benchmark}",
            f"logger.tracking_uri={tracking_server.uri}",
            "logger.experiment_name=array",
            *SHORT_JOB,
            env={"AQNET_MLFLOW_CREDENTIALS": str(tracking_server.credentials_file), **FROM_THE_FILE},
        )
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    parent, children = sweep_runs(tracking_server.uri, "array")
    assert_complete(tracking_server.uri, parent, children, 6)
    assert len({c.data.tags["slurm_array_job_id"] for c in children}) == 1  # one array
    assert sorted(c.data.tags["slurm_array_task_id"] for c in children) == [str(i) for i in range(6)]
    assert [c.data.params["choice.physics_bias"] for c in children] == ["none"] * 3 + ["topoflow"] * 3
    assert "physics/alpha" in children[-1].data.metrics and "physics/alpha" not in children[0].data.metrics
    assert "sacct" not in result.stderr  # the launcher's polling noise is filtered
    password = tracking_server.credentials()["MLFLOW_TRACKING_PASSWORD"]
    assert (tracking_server.credentials_file.stat().st_mode & 0o777) == 0o600
    written = [p for p in root.rglob("*") if not p.is_symlink()]
    assert [p for p in written if p.stat().st_mode & 0o007] == []  # no wider than the umask
    logs = [tracking_server.log, *(p for p in written if p.is_file() and p.suffix in (".out", ".err", ".log"))]
    assert len(logs) > 6 and not [p for p in logs if password in p.read_text(errors="replace")]


@pytest.mark.timeout(600)
def test_a_single_job_goes_to_slurm_without_multirun(
    slurm_cluster: SlurmCluster, tiny_benchmark: Path, tmp_path: Path
) -> None:
    """... and sizes its threads from its allocation: 3 CPUs, 1 data worker -> 2 intra-op threads (read in the job)."""
    root = tmp_path / "root"
    slurm = [*_slurm_args(slurm_cluster, cpus=3), "data.num_workers=1"]
    result = aqnet_train(root, *slurm, "seed=3", f"data.path={tiny_benchmark}", *SHORT_JOB)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    parent, (child,) = sweep_runs(uri, "quickstart")
    assert child.data.tags["slurm_job_id"] and child.data.params["seed"] == "3"
    assert Path(child.data.tags["run_dir"]).parent == root / "runs"
    assert child.data.tags["torch_num_threads"] == "2"
    (log,) = (root / "sweeps").glob("*/.submitit/*/*_0_log.out")
    decision = "threads: 2 intra-op (torch, BLAS, OpenMP) + 1 data worker(s) x 1 thread, of 3 CPU(s) from SLURM"
    assert log.read_text().count(decision) == 1


@pytest.mark.timeout(600)
def test_non_blocking_submission(slurm_cluster: SlurmCluster, tiny_benchmark: Path, tmp_path: Path) -> None:
    """submit_sweep.sh returns at once with the sweep id; the launcher waits inside SLURM; the sweep completes."""
    root = tmp_path / "root"
    env = {**os.environ, "AQNET_ROOT": str(root), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AQNET_SUBMIT_TIME", None)
    command = ["aqnet-train", "-m", *_slurm_args(slurm_cluster), "seed=0", f"data.path={tiny_benchmark}", *SHORT_JOB]
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
        if (root / "sweeps" / sweep_id / "mlflow_parent_run_id").exists():  # the tiny_benchmark exists and is migrated
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
