"""An interrupted run resumes in its own directory and ends exactly where an uninterrupted one does.

The signal path is the one SLURM uses (SIGTERM, as from `scontrol requeue`); here it is sent by the test to a job
that believes it runs under SLURM, so the mechanism is exercised without a cluster. tests/slurm covers the
same through real SLURM signals and requeues.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import mlflow
import pytest

from tests.cli.conftest import script
from tests.launch.sweep_helpers import aqnet_train, uninterrupted_metrics

pytestmark = pytest.mark.integration
RUN = ["debug=fast", "trainer.max_steps=24", "trainer.val_check_interval=8", "trainer.log_every_n_steps=1"]


@pytest.fixture(scope="module")
def reference(tiny_benchmark: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """Test metrics of the same run, uninterrupted (shared by both interruption points)."""
    return uninterrupted_metrics(tmp_path_factory.mktemp("reference"), *RUN, f"data.path={tiny_benchmark}")


def _interrupt_at(root: Path, store: Path, step: int, submit_time: str) -> None:
    """Start the run, SIGTERM it after ``step`` steps (and that step's validation, if any), wait for its
    checkpoint, then kill it as SLURM would."""
    env = {
        **os.environ,
        "AQNET_ROOT": str(root),
        "AQNET_SUBMIT_TIME": submit_time,
        "SLURM_JOB_ID": "4242",
        "PYTHONUNBUFFERED": "1",
    }
    root.mkdir(parents=True, exist_ok=True)
    job = subprocess.Popen(
        [script("aqnet-train"), *RUN, f"data.path={store}"], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    assert job.stdout is not None
    lines = []
    for line in job.stdout:
        lines.append(line)
        if line.startswith(f"step {step}/") or line.startswith(f"validation at step {step}:"):
            job.send_signal(signal.SIGTERM)
        if "SIGTERM received: saved" in line:
            break
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=60)
    assert any("SIGTERM received: saved" in line for line in lines), "".join(lines[-20:])


@pytest.mark.timeout(900)
@pytest.mark.parametrize("interrupt", [8, 11], ids=["right-after-a-validation", "mid-interval"])
def test_resumed_run_matches_an_uninterrupted_one(
    tmp_path: Path, tiny_benchmark: Path, reference: dict[str, float], interrupt: int
) -> None:
    submit_time = "20260101T000000000000Z"
    _interrupt_at(tmp_path / "b", tiny_benchmark, interrupt, submit_time)
    resumed = aqnet_train(tmp_path / "b", *RUN, f"data.path={tiny_benchmark}", env={"AQNET_SUBMIT_TIME": submit_time})
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert f"resuming run {submit_time} from" in resumed.stdout
    run_dir = tmp_path / "b" / "runs" / submit_time

    got = json.loads((run_dir / "finished.json").read_text())
    assert got == reference  # the same weights at the end give the same test metrics, to the last bit

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'b' / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])  # one run, continued
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert steps == list(range(24)), steps  # nothing lost, nothing logged twice
    val_steps = [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")]
    assert len(val_steps) == len(set(val_steps)) == 3
    assert run.info.status == "FINISHED"
