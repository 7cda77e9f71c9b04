"""MLflow tracking of a job's run (docs/clusters.md, "MLflow for many jobs").

The store (:mod:`aqnet.tracking.store`) is sqlite at <paths.root>/mlflow.db with artifacts under
<paths.root>/artifacts, created once under a lock (concurrent jobs race on sqlite's schema migration otherwise), or
a tracking server. Params are the resolved config flattened with `.`
plus `choice.<group>=<option>` for every config-group choice; tags carry git sha, aqnet version, sweep id, job num.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only
from mlflow.entities import Param
from omegaconf import DictConfig, OmegaConf

import aqnet
from aqnet.tracking.store import artifact_location, ensure_store, experiment_name, git_sha, tracking_uri
from aqnet.tracking.sweeps import parent_run_id

__all__ = ["log_artifact", "log_artifacts", "make_logger", "mlflow_env_hint", "run_params", "tracking_uri"]

SLURM_TAGS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT")
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # progress bars spam log files


def flatten(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), str(node)[:MAX_PARAM_CHARS]


def run_params(cfg: DictConfig, choices: Mapping[str, str | None]) -> dict[str, str]:
    """The flattened config and the choices. Without a physics bias its settings are unused and left out, so that a
    run without physics shows no direction or α (and ``aqnet-compare`` reads them as not applicable)."""
    params = dict(flatten(OmegaConf.to_container(cfg, resolve=True)))
    if cfg.physics_bias.name == "none":
        params = {k: v for k, v in params.items() if not k.startswith("physics_bias.") or k == "physics_bias.name"}
    params.update(
        {
            f"choice.{group}": str(option)
            for group, option in choices.items()
            if not group.startswith("hydra") and group not in ("schema",)
        }
    )
    return params


def make_logger(
    cfg: DictConfig, run_dir: Path, choices: Mapping[str, str | None], job_num: int, sweep_id: str | None
) -> MLFlowLogger | None:
    """An MLFlowLogger whose run already carries params and tags, and the resolved config as an artifact.

    Only rank 0 talks to MLflow: under DDP every other rank gets no logger at all (it neither opens the store nor
    creates a run; Lightning logs from rank 0 only anyway, and nothing on the other ranks needs the run id). The
    rank is Lightning's, read from the launcher's environment (SLURM_PROCID under SLURM) before the trainer exists.
    """
    if rank_zero_only.rank != 0:
        return None
    root = Path(cfg.paths.root)
    uri = tracking_uri(cfg)
    ensure_store(uri, root)
    tags = {
        "git_sha": git_sha(),
        "aqnet_version": aqnet.__version__,
        "job_num": str(job_num),
        "run_id": cfg.run_id,
        "sweep_id": sweep_id or "none",
        "run_dir": str(run_dir),
        "torch_num_threads": str(torch.get_num_threads()),  # as sized from the allocation (aqnet.utils.threads)
    }
    parent = parent_run_id(cfg)
    if parent:
        tags["mlflow.parentRunId"] = parent
    tags.update({k.lower(): v for k, v in os.environ.items() if k in SLURM_TAGS})
    record = run_dir / "mlflow_run_id"
    resumed = record.read_text().strip() if record.exists() else None  # a requeued job continues its own run
    logger = MLFlowLogger(
        run_id=resumed,
        experiment_name=experiment_name(cfg),
        tracking_uri=uri,
        run_name=cfg.run_id,
        tags=tags,
        artifact_location=artifact_location(cfg),
        log_model=False,
    )
    if resumed:  # a resumed run has its params already
        return logger
    client, run_id = logger.experiment, logger.run_id

    params = [Param(k, v) for k, v in sorted(run_params(cfg, choices).items())]
    for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=params[start : start + 100])
    client.log_artifact(run_id, str(run_dir / "config.yaml"))
    (run_dir / "mlflow_run_id").write_text(run_id + "\n")
    return logger


def log_artifact(logger: MLFlowLogger | None, path: Path, artifact_path: str | None = None) -> None:
    if logger is not None and rank_zero_only.rank == 0 and path.exists():
        logger.experiment.log_artifact(logger.run_id, str(path), artifact_path)


def log_artifacts(logger: MLFlowLogger | None, directory: Path, artifact_path: str | None = None) -> None:
    """Every file under ``directory`` as artifacts under ``artifact_path`` (rank 0; nothing if it is absent)."""
    if logger is not None and rank_zero_only.rank == 0 and directory.is_dir():
        logger.experiment.log_artifacts(logger.run_id, str(directory), artifact_path)


def mlflow_env_hint(uri: str) -> str:
    """The command that opens the store in the MLflow UI."""
    return f"mlflow ui --backend-store-uri {uri}"
