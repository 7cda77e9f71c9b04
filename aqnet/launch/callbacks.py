"""Hydra callbacks (configured under hydra.callbacks in conf/config.yaml); they run in the launching process.

Hydra turns an exception raised in a callback into a warning and carries on, so a failed check exits itself with
one line (nothing has been submitted yet at that point).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from aqnet.errors import AqnetError, fail
from aqnet.launch.cluster import check_cluster
from aqnet.paths import writable_root


class CheckBeforeLaunch(Callback):
    """The output root is writable, the config is valid and the cluster preset can submit — before any job starts."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    @staticmethod
    def _check(config: DictConfig) -> None:
        from aqnet.config.validate import validate_config

        try:
            writable_root(config.paths.root)
            validate_config(config)
            check_cluster(config)
        except AqnetError as error:
            fail(str(error))


class SweepParentRun(Callback):
    """An MLflow parent run per sweep (tagged sweep_id); every job's run becomes its child.

    Created once in the launching process, which also creates the store under its lock before any job writes.
    The id reaches the jobs through the environment (inherited by local processes and SLURM jobs) and through
    ``sweeps/<sweep_id>/mlflow_parent_run_id`` (for reruns of the sweep).
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.logger.name != "mlflow":
            return
        from aqnet.tracking.sweeps import start_sweep_run

        try:  # e.g. a tracking server that refuses the credentials: nothing is submitted
            start_sweep_run(config, Path(str(config.hydra.sweep.dir)))
        except AqnetError as error:
            fail(str(error))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.logger.name != "mlflow":
            return
        from aqnet.tracking.sweeps import end_sweep_run

        end_sweep_run(config)
