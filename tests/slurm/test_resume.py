"""Preemption-proof runs on the local SLURM: real signals (`scancel --signal=USR2`, `scontrol requeue`), a real
requeue, the same MLflow run continued, and the same final metrics as an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import mlflow
import pytest

from tests.cli.conftest import script
from tests.launch.sweep_helpers import uninterrupted_metrics
from tests.slurm.conftest import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
RUN = ["debug=fast", "trainer.max_steps=40", "trainer.val_check_interval=10", "trainer.log_every_n_steps=1"]


@pytest.fixture(scope="module")
def reference(tiny_benchmark: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """Test metrics of the same run, uninterrupted (in-process: the result does not depend on the launcher)."""
    return uninterrupted_metrics(
        tmp_path_factory.mktemp("reference"), *RUN, f"data.path={tiny_benchmark}", "logger=none"
    )


def _job_log(root: Path) -> Path | None:
    logs = sorted(root.glob("sweeps/*/.submitit/*/*_0_log.out"))
    return logs[0] if logs else None


def _interrupted_run(
    cluster: SlurmCluster, root: Path, store: Path, interrupt: list[str], *extra: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Launch on SLURM, wait until training is under way, interrupt with ``interrupt + [job id]``; return the
    launcher's result and the job's log."""
    root.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "AQNET_SUBMIT_TIME"}
    env.update(AQNET_ROOT=str(root), PYTHONUNBUFFERED="1")
    args = ["cluster=slurm", f"cluster.partition={cluster.partition}", f"data.path={store}", *RUN, *extra]
    launcher = subprocess.Popen(
        [script("aqnet-train"), *args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        log = _job_log(root)
        if log is not None and "step 8/40" in log.read_text():
            break
        time.sleep(0.2)
    else:
        launcher.kill()
        pytest.fail("the job never reached step 8:\n" + cluster.logs())
    job_id = log.parent.name  # submitit's folder: <array job>_<task>
    subprocess.run([*interrupt, job_id], check=True, env=os.environ, timeout=30)
    out, err = launcher.communicate(timeout=600)
    return subprocess.CompletedProcess(launcher.args, launcher.returncode, out, err), log.read_text()


def _single_run(root: Path) -> mlflow.entities.Run:
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (child,) = [r for r in runs if r.data.tags.get("aqnet_role") != "sweep"]
    return child


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("interrupt", "signal_name"),
    [(["scancel", "--signal=USR2"], "SIGUSR2"), (["scontrol", "requeue"], "SIGTERM")],
    ids=["usr2-timeout-warning", "scontrol-requeue"],
)
def test_interrupted_job_resumes_to_the_same_result(
    slurm_cluster: SlurmCluster,
    tiny_benchmark: Path,
    reference: dict[str, float],
    tmp_path: Path,
    interrupt: list[str],
    signal_name: str,
) -> None:
    result, log = _interrupted_run(slurm_cluster, tmp_path / "root", tiny_benchmark, interrupt)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + slurm_cluster.logs()
    assert f"{signal_name} received: saved" in log and "resuming run" in log, log[-3000:]
    run = _single_run(tmp_path / "root")
    run_dir = Path(run.data.tags["run_dir"])
    assert json.loads((run_dir / "finished.json").read_text()) == reference  # same weights, same metrics
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'root' / 'mlflow.db'}")
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert sorted(steps) == list(range(40)), steps  # one MLflow run, no step lost or logged twice
    assert run.info.status == "FINISHED"


@pytest.mark.timeout(600)
def test_requeue_limit_ends_the_run_failed(slurm_cluster: SlurmCluster, tiny_benchmark: Path, tmp_path: Path) -> None:
    result, log = _interrupted_run(
        slurm_cluster, tmp_path / "root", tiny_benchmark, ["scancel", "--signal=USR2"], "cluster.max_requeues=0"
    )
    assert result.returncode != 0
    run = _single_run(tmp_path / "root")
    assert run.info.status == "FAILED"
    assert "cluster.max_requeues=0 is used up" in run.data.tags["failure_reason"]
    assert Path(run.data.tags["run_dir"], "checkpoints", "last.ckpt").exists()  # resumable by hand
