"""Six jobs at once through submitit's local launcher into one sqlite store: nothing lost, one parent run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.launch.sweep_helpers import SHORT_JOB, aqnet_train, assert_complete, sweep_runs

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
def test_six_concurrent_jobs_into_one_sqlite_store(tmp_path: Path, tiny_benchmark: Path) -> None:
    store, root = tiny_benchmark, tmp_path / "root"
    result = aqnet_train(
        root,
        "-m",
        "cluster=submitit_local",
        "seed=0,1,2,3,4,5",
        f"data.path={store}",
        "logger.experiment_name=concurrent",
        *SHORT_JOB,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    parent, children = sweep_runs(uri, "concurrent")
    assert_complete(uri, parent, children, 6)
    assert parent.info.status == "FINISHED"
    (sweep_dir,) = (root / "sweeps").iterdir()
    assert sweep_dir.name == parent.data.tags["sweep_id"]
    assert (sweep_dir / "mlflow_parent_run_id").read_text().strip() == parent.info.run_id
