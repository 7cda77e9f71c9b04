"""`resume_sweep=<id>` reruns a sweep under its identity: finished jobs are skipped, an interrupted one resumes."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from tests.launch.sweep_helpers import SHORT_JOB, aqnet_train

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
def test_rerunning_a_sweep_skips_finished_jobs_and_resumes_the_rest(tmp_path: Path, tiny_benchmark: Path) -> None:
    store, root = tiny_benchmark, tmp_path / "root"
    sweep = ["-m", "seed=0,1", f"data.path={store}", "logger.experiment_name=rerun", *SHORT_JOB]
    first = aqnet_train(root, *sweep)
    assert first.returncode == 0, first.stderr[-2000:]
    (sweep_dir,) = (root / "sweeps").iterdir()
    sweep_id = sweep_dir.name
    job1 = root / "runs" / f"{sweep_id}_1"
    (job1 / "finished.json").unlink()  # job 1 "was interrupted": its checkpoint stays, it has not finished

    rerun = aqnet_train(root, *sweep, f"resume_sweep={sweep_id}")
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert f"run {sweep_id}_0 already finished; skipped" in rerun.stdout
    assert f"resuming run {sweep_id}_1 from" in rerun.stdout
    assert (job1 / "finished.json").exists()
    assert sorted(p.name for p in (root / "runs").iterdir()) == [f"{sweep_id}_0", f"{sweep_id}_1"]
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("rerun").experiment_id])
    assert len([r for r in runs if r.data.tags.get("aqnet_role") == "sweep"]) == 1  # the same parent run
    assert len([r for r in runs if r.data.tags.get("aqnet_role") != "sweep"]) == 2  # no new job runs
