"""Shared by the sweep tests: short-job overrides, an aqnet-train subprocess, and what a sweep left in MLflow (the
prebuilt tiny store is the session fixture ``tiny_benchmark`` of tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import mlflow

from tests.cli.conftest import script

SHORT_JOB = [
    "debug=fast",
    "trainer.max_steps=2",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
]


def aqnet_train(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    inherited = {k: v for k, v in os.environ.items() if k != "AQNET_SUBMIT_TIME"}  # each call its own identity
    full_env = {**inherited, "AQNET_ROOT": str(root), "PYTHONUNBUFFERED": "1", **(env or {})}
    root.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [script("aqnet-train"), *args], cwd=root, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def uninterrupted_metrics(root: Path, *args: str) -> dict[str, float]:
    """The final metrics (finished.json) of one uninterrupted in-process run: the reference a resumed run must match."""
    result = aqnet_train(root, *args)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (root / "runs").iterdir()
    return json.loads((run_dir / "finished.json").read_text())


def sweep_runs(uri: str, experiment: str) -> tuple[mlflow.entities.Run, list[mlflow.entities.Run]]:
    """(the sweep's parent run, its child runs by job number) in ``experiment``."""
    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r} in {uri}"
    runs = client.search_runs([found.experiment_id])
    parents = [r for r in runs if r.data.tags.get("aqnet_role") == "sweep"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    return parents[0], sorted(children, key=lambda r: int(r.data.tags["job_num"]))


def assert_complete(uri: str, parent: mlflow.entities.Run, children: list[mlflow.entities.Run], n: int) -> None:
    """Every job's run arrived whole: same params, every metric, the full train/loss history, a run dir each."""
    assert len(children) == n, [c.info.run_name for c in children]
    sweep_id = parent.data.tags["sweep_id"]
    client = mlflow.MlflowClient(uri)
    assert [c.data.tags["job_num"] for c in children] == [str(i) for i in range(n)]
    assert {c.info.status for c in children} == {"FINISHED"}
    assert len({c.data.tags["run_dir"] for c in children}) == n  # no two jobs shared a directory
    keys: dict[str, set[str]] = {}  # per physics_bias choice: a run without a bias logs none of its settings
    for child in children:
        assert child.data.tags["sweep_id"] == sweep_id
        assert child.data.tags["run_id"] == f"{sweep_id}_{child.data.tags['job_num']}"
        expected = keys.setdefault(child.data.params["choice.physics_bias"], set(child.data.params))
        assert set(child.data.params) == expected and len(expected) > 40
        assert {"test/rmse_pm25_24h", "val/loss", "test/persistence_rmse_o3_96h"} <= set(child.data.metrics)
        assert [m.step for m in client.get_metric_history(child.info.run_id, "train/loss")] == [0, 1]
        assert Path(child.data.tags["run_dir"], "checkpoints", "last.ckpt").exists()
        artifacts = {a.path: a for a in client.list_artifacts(child.info.run_id)}
        assert {"config.yaml", "checkpoints", "evaluation"} <= set(artifacts), sorted(artifacts)
        best = Path(child.data.tags["run_dir"], "checkpoints").glob("*.ckpt")
        logged = {Path(a.path).name: a.file_size for a in client.list_artifacts(child.info.run_id, "checkpoints")}
        assert logged and all(logged[p.name] == p.stat().st_size for p in best if p.name in logged)
