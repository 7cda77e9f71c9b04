"""The MLflow parent run of a sweep, and how each job finds it (docs/clusters.md, "Identity")."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

from aqnet.tracking.store import artifact_location, ensure_store, experiment_name, git_sha, tracking_uri

PARENT_ENV = "AQNET_MLFLOW_PARENT_RUN_ID"
PARENT_FILE = "mlflow_parent_run_id"


def start_sweep_run(cfg: DictConfig, sweep_dir: Path) -> str:
    """Create (or reopen, for a rerun of the same sweep) the sweep's parent run; export its id to the jobs."""
    import mlflow

    from aqnet.config.resolvers import submit_time_id

    uri, sweep_id = tracking_uri(cfg), submit_time_id()  # the launching process: the jobs' sweep_id
    ensure_store(uri, Path(cfg.paths.root), launching=True)
    client = mlflow.MlflowClient(uri)
    record = sweep_dir / PARENT_FILE
    if record.exists():  # the same sweep launched again (resume): keep one parent
        run_id = record.read_text().strip()
        client.update_run(run_id, status="RUNNING")
    else:
        name = experiment_name(cfg)
        experiment = client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(name, artifact_location=artifact_location(cfg))
        )
        tags = {"sweep_id": sweep_id, "git_sha": git_sha(), "sweep_dir": str(sweep_dir), "aqnet_role": "sweep"}
        run_id = client.create_run(experiment_id, run_name=f"sweep {sweep_id}", tags=tags).info.run_id
        sweep_dir.mkdir(parents=True, exist_ok=True)
        record.write_text(run_id + "\n")
    os.environ[PARENT_ENV] = run_id
    return run_id


def end_sweep_run(cfg: DictConfig) -> None:
    """Mark the parent FINISHED once the launcher returns (every job has ended; their own status is per run)."""
    import mlflow

    run_id = os.environ.get(PARENT_ENV)
    if run_id:
        mlflow.MlflowClient(tracking_uri(cfg)).set_terminated(run_id, "FINISHED")


def parent_run_id(cfg: DictConfig) -> str | None:
    """The parent run of this job's sweep: from the environment, else from the sweep directory; None if no sweep."""
    if cfg.sweep_id is None:
        return None
    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    record = Path(cfg.paths.root) / "sweeps" / str(cfg.sweep_id) / PARENT_FILE
    return record.read_text().strip() if record.exists() else None
