"""The 16-job soak (not part of the default test run, it takes minutes): a 16-task SLURM array logging at once into
the authenticated tracking server, and the same 16 jobs into the sqlite store on local disk. Every run, param,
metric step and artifact must arrive, once. Run it with

    .venv/bin/python -m pytest -m soak tests/slurm/test_soak.py -s

(-s prints each sweep's jobs and wall time)."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import pytest

from tests.launch.sweep_helpers import SHORT_JOB, aqnet_train, assert_complete, sweep_runs
from tests.slurm.conftest import SlurmCluster
from tests.slurm.server_helpers import TrackingServer

pytestmark = [pytest.mark.slurm, pytest.mark.integration, pytest.mark.soak]
JOBS = 16


def _sweep(cluster: SlurmCluster, store: Path, root: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    result = aqnet_train(
        root,
        "-m",
        "cluster=slurm",
        f"cluster.partition={cluster.partition}",
        "cluster.timeout_min=30",
        "cluster.cpus_per_task=1",
        "seed=" + ",".join(str(s) for s in range(JOBS)),
        f"data.path={store}",
        "logger.experiment_name=soak",
        *SHORT_JOB,
        *extra,
        env=env,
        timeout=3000,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return time.monotonic() - started


def _assert_once(uri: str) -> None:
    """Every run complete, and no metric of the training loop logged twice: one entry per step (Lightning's own
    ``epoch`` counter is logged with each of its log calls, so a step may carry it twice, never at the same time).
    The end-of-run test/ metrics (hundreds, one value each) are checked for presence by ``assert_complete``."""
    parent, children = sweep_runs(uri, "soak")
    assert_complete(uri, parent, children, JOBS)
    client = mlflow.MlflowClient(uri)
    for child in children:
        for key in (k for k in child.data.metrics if not k.startswith("test/")):
            history = [(m.step, m.timestamp) for m in client.get_metric_history(child.info.run_id, key)]
            once = {step for step, _ in history} if key != "epoch" else set(history)
            assert len(once) == len(history), (child.info.run_name, key, history)


@pytest.mark.timeout(3600)
def test_sixteen_jobs_into_the_tracking_server(
    slurm_cluster: SlurmCluster, tiny_benchmark: Path, logged_in: TrackingServer, tmp_path: Path
) -> None:
    """The jobs inherit the credentials from the submitting environment."""
    uri = logged_in.uri
    wall = _sweep(slurm_cluster, tiny_benchmark, tmp_path / "root", f"logger.tracking_uri={uri}")
    _assert_once(uri)
    print(f"\nsoak: {JOBS} SLURM jobs into the tracking server in {wall:.0f} s; nothing lost or duplicated")


@pytest.mark.timeout(3600)
def test_sixteen_jobs_into_sqlite_on_local_disk(
    slurm_cluster: SlurmCluster, tiny_benchmark: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    wall = _sweep(slurm_cluster, tiny_benchmark, root)
    _assert_once(f"sqlite:///{root / 'mlflow.db'}")
    print(f"\nsoak: {JOBS} SLURM jobs into sqlite on local disk in {wall:.0f} s; nothing lost or duplicated")
