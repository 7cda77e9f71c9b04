"""The model group (conf/model/*.yaml): which network a task trains, built from the task's :class:`ModelIO`.

Each option is one dataclass subclassing :class:`ModelSpec` in its own module of :mod:`aqnet.models.specs` (the
typed schema of ``cfg.model``, registered as ``model/<name>_schema``); ``_target_`` names the network class it
builds. Adding a model: that module, the network's module, and ``conf/model/<name>.yaml``. A model may be
described by top-level config groups too (``model=climax`` reads ``backbone``, ``embed`` and ``physics_bias``),
named in its :attr:`ModelSpec.architecture_keys` so fine-tuning knows which keys define the architecture. Light on
purpose: torch is imported only inside :meth:`ModelSpec.build`.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from omegaconf import MISSING

from aqnet.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from torch import nn

    from aqnet.tasks.base import ModelIO


@dataclass
class ModelSpec(ABC):
    _target_: str = MISSING
    name: str = MISSING

    # config keys, by group, that define the network's architecture (adopted from a fine-tune checkpoint's run)
    architecture_keys: ClassVar[dict[str, tuple[str, ...]]] = {}

    @abstractmethod
    def build(self, cfg: DictConfig, io: ModelIO) -> nn.Module:
        """The network for ``io``, its parameters initialised from ``cfg.seed``."""

    def check(self, cfg: DictConfig) -> None:
        """Checks across this model's config and the rest of the run's (before any data is read)."""
        return None

    def layers(self, model: nn.Module) -> tuple[Callable[[str], int], int]:
        """(parameter name → layer index in 0..n, n) for layer-wise LR decay."""
        raise ConfigError(f"optim.layer_decay: model={self.name} does not say which layer a parameter is in")


def trains_on_gpu(cfg: DictConfig) -> bool:
    accelerator = cfg.trainer.accelerator
    if accelerator in ("gpu", "cuda"):
        return True
    if accelerator == "auto":
        import torch

        return torch.cuda.is_available()
    return False


def model_specs() -> dict[str, type[ModelSpec]]:
    """Every model option: name → its config class (each module of :mod:`aqnet.models.specs` defines one)."""
    import aqnet.models.specs as package

    found: dict[str, type[ModelSpec]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ModelSpec) and obj.__module__ == module.__name__:
                found[obj.name] = obj  # type: ignore[index]
    return found


def register_model_schemas() -> None:
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, spec in model_specs().items():
        store.store(group="model", name=f"{name}_schema", node=spec)
