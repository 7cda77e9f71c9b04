"""A finished run rebuilt from its own saved config: ``config.yaml`` → task → data module → model → strict load.

The current defaults (conf/config.yaml) never enter: the run's resolved config sidecar (brought to the current
layout by :func:`aqnet.config.upgrade.upgrade_config`) is merged into the typed schema (which only fills keys a
newer aqnet added) and the model is built from it by the same builders as ``aqnet-train``. Weights load strictly
(every key, every shape), so a config that does not describe the checkpoint is an error, never a silently
half-loaded model. The normaliser statistics and the climatology prior are buffers, so they come from the
checkpoint too. What ``aqnet-eval`` and ``aqnet-predict`` then do is the run's task's
(:meth:`aqnet.tasks.base.Task.evaluate` / :meth:`~aqnet.tasks.base.Task.predict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aqnet.config.schema import typed_run_config
from aqnet.config.upgrade import upgrade_config
from aqnet.errors import ConfigError, DataError
from aqnet.finetune.source import CHECKPOINTS, RunReference, model_state, read_checkpoint, resolve_run
from aqnet.paths import store_location

if TYPE_CHECKING:  # Lightning-heavy: imported where used, so that a wrong argument is answered at once
    import lightning as L
    from torch import nn

    from aqnet.tasks.base import Task


@dataclass(frozen=True)
class OpenedRun:
    """A finished run found and its config read: every cheap check done, nothing loaded yet."""

    spec: str  # what the user passed as run=
    root: Path
    which: str  # best | last
    reference: RunReference
    cfg: DictConfig  # the run's own resolved config, typed

    @property
    def task(self) -> Task:
        return OmegaConf.to_object(self.cfg.task)  # type: ignore[return-value]


@dataclass
class LoadedRun:
    reference: RunReference
    cfg: DictConfig  # the run's own resolved config
    datamodule: L.LightningDataModule
    model: nn.Module  # eval mode, on CPU, weights loaded strictly
    global_step: int  # the checkpoint's optimiser step

    @property
    def run_dir(self) -> Path:
        assert self.reference.run_dir is not None
        return self.reference.run_dir

    @property
    def run_id(self) -> str:
        return str(self.cfg.run_id)

    def mlflow_run_id(self) -> str | None:
        """The run's MLflow run id (its ``mlflow_run_id`` file), None for a run trained with logger=none."""
        path = self.run_dir / "mlflow_run_id"
        if not path.is_file():
            return None
        return path.read_text().strip() or None

    def tracking_uri(self, root: Path) -> str | None:
        """Where the run was tracked: its config's store, else the one under ``root`` (a moved output root)."""
        from aqnet.tracking import store as tracking

        uri = tracking.tracking_uri(self.cfg)
        candidates = [uri, f"sqlite:///{root / 'mlflow.db'}"] if uri.startswith("sqlite:///") else [uri]
        for candidate in candidates:
            if not candidate.startswith("sqlite:///") or Path(candidate.removeprefix("sqlite:///")).is_file():
                return candidate
        return None


def check_which(which: str) -> str:
    if which not in CHECKPOINTS:
        raise ConfigError(
            f"checkpoint={which}: must be one of {', '.join(CHECKPOINTS)} (the run's checkpoints/<name>.ckpt); "
            "for another file pass run=<path to the .ckpt>"
        )
    return which


def require_run(cfg: DictConfig) -> None:
    """``run=`` is given (Hydra would report a missing mandatory value over two lines)."""
    if OmegaConf.is_missing(cfg, "run") or not str(cfg.run).strip():
        raise ConfigError("run= is required: a run directory, a run id under paths.root/runs or an MLflow run id")


def saved_config(reference: RunReference, spec: str) -> DictConfig:
    """The run's ``config.yaml``, typed by the current schema; one line if there is none or it does not fit."""
    path = reference.run_dir / "config.yaml" if reference.run_dir is not None else None
    if path is None or not path.is_file():
        where = f"{reference.checkpoint} is not inside a run directory" if path is None else f"{path} is missing"
        raise ConfigError(
            f"run={spec}: the run's saved config is needed to rebuild the model, but {where}; "
            "pass the directory of an aqnet-train run"
        )
    try:
        return typed_run_config(upgrade_config(yaml.safe_load(path.read_text())))
    except ConfigError as err:
        raise ConfigError(f"run={spec}: {path} does not fit this aqnet version: {err}") from None
    except (yaml.YAMLError, OmegaConfBaseException, ValueError, AttributeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"run={spec}: {path} does not fit this aqnet version's config schema: {first}") from None


def open_run(spec: str, root: Path, which: str) -> OpenedRun:
    """The checkpoint ``spec`` names and the run's config: every cheap check, before any data is read."""
    check_which(which)
    reference = resolve_run(str(spec), root, which, key="run")
    return OpenedRun(str(spec), root, which, reference, saved_config(reference, str(spec)))


def store_path(cfg: DictConfig) -> Path | None:
    """The run's data store if it exists already (a benchmark not generated yet: None), found without Lightning."""
    path = store_location(cfg.data, Path(cfg.paths.root))
    return path if path.exists() else None


def open_data(cfg: DictConfig, batch_size: int | None = None, setup: bool = True) -> L.LightningDataModule:
    """The run's data module (its store, splits and statistics, as its task defines samples). ``setup`` builds
    every split's dataset (what evaluation needs); without it only the store is opened and the statistics read
    (enough to forecast)."""
    from aqnet import builders

    if batch_size is not None:
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size} must be >= 1")
        cfg.data.batch_size = int(batch_size)
    datamodule = builders.build_task(cfg).datamodule(cfg, builders.data_store(cfg))
    if setup:
        datamodule.setup("test")
    else:
        datamodule.prepare_data()
    return datamodule


def load_strict(model: nn.Module, path: Path, spec: str) -> int:
    """Load the checkpoint's weights into ``model`` with ``strict=True``; returns its global step."""
    content = read_checkpoint(path)
    state = model_state(content, path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        detail = detail[:400] + (" …" if len(detail) > 400 else "")
        raise DataError(
            f"run={spec}: {path} does not fit the model the run's config.yaml describes (strict load): {detail}"
        ) from None
    return int(content.get("global_step", 0) or 0)


def load_run(run: OpenedRun, datamodule: L.LightningDataModule) -> LoadedRun:
    """The model the run's config describes, its checkpoint loaded strictly, in eval mode."""
    from aqnet import builders

    model = builders.build_model(run.cfg, run.task, datamodule)
    step = load_strict(model, run.reference.checkpoint, run.spec)
    return LoadedRun(run.reference, run.cfg, datamodule, model.eval(), step)
