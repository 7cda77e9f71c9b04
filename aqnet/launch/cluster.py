"""Checks of a cluster preset, made in the launching process before anything is submitted."""

from __future__ import annotations

import shutil

from omegaconf import DictConfig

from aqnet.errors import ConfigError

LAUNCHERS = ("basic", "submitit_local", "submitit_slurm")


def check_cluster(cfg: DictConfig, submitting: bool = True) -> None:
    """One ConfigError line for a preset that cannot submit: no SLURM tools (when ``submitting``), no account,
    inconsistent devices."""
    cluster, trainer = cfg.cluster, cfg.trainer
    if cluster.launcher not in LAUNCHERS:
        raise ConfigError(f"cluster.launcher={cluster.launcher!r} must be one of {LAUNCHERS}")
    _check_cpus(cfg)
    if cluster.launcher == "basic":
        return
    if submitting and cluster.launcher == "submitit_slurm" and shutil.which("sbatch") is None:
        raise ConfigError(
            f"cluster={cluster.name} submits with sbatch, which is not on PATH: load or install the SLURM client "
            "(launchers/slurm/install.sh starts a local one), or use cluster=submitit_local / cluster=local"
        )
    if cluster.requires_account and not cluster.account:
        raise ConfigError(
            f"cluster={cluster.name} needs a SLURM account: export AQNET_SLURM_ACCOUNT=<project> "
            "or pass cluster.account=<project>"
        )
    for key in ("nodes", "tasks_per_node", "timeout_min"):
        if cluster[key] < 1:
            raise ConfigError(f"cluster.{key}={cluster[key]} must be >= 1")
    if trainer.devices != cluster.tasks_per_node or trainer.num_nodes != cluster.nodes:
        raise ConfigError(
            f"trainer.devices={trainer.devices} / trainer.num_nodes={trainer.num_nodes} must equal "
            f"cluster.tasks_per_node={cluster.tasks_per_node} / cluster.nodes={cluster.nodes}: SLURM starts one "
            "process per device; set the cluster keys and leave the trainer's to the preset"
        )
    if cluster.gpus_per_node and cluster.gpus_per_node != cluster.tasks_per_node:
        raise ConfigError(
            f"cluster.gpus_per_node={cluster.gpus_per_node} must equal cluster.tasks_per_node="
            f"{cluster.tasks_per_node} (one process per GPU)"
        )


def _check_cpus(cfg: DictConfig) -> None:
    """The allocation holds the data workers (one CPU each) and at least one CPU of compute."""
    cpus, workers = cfg.cluster.cpus_per_task, cfg.data.num_workers
    if cpus is None:  # a local run: its CPU affinity (aqnet.utils.threads warns if the workers fill it)
        return
    if cpus < 1:
        raise ConfigError(f"cluster.cpus_per_task={cpus} must be >= 1")
    if workers + 1 > cpus:
        raise ConfigError(
            f"data.num_workers={workers} needs cluster.cpus_per_task >= {workers + 1} (one CPU per data worker and "
            f"one for compute), got {cpus}: raise cluster.cpus_per_task or lower data.num_workers"
        )
