"""Hydra callbacks (configured under hydra.callbacks in conf/config.yaml)."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from aqnet.errors import AqnetError, fail
from aqnet.paths import writable_root


class CheckOutputRoot(Callback):
    """Fail in one line before Hydra creates run directories under an output root that cannot be written.

    Hydra turns an exception raised in a callback into a warning and carries on, so this exits itself.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    @staticmethod
    def _check(config: DictConfig) -> None:
        try:
            writable_root(config.paths.root)
        except AqnetError as error:
            fail(str(error))
