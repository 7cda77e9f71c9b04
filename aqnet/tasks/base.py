"""The task interface: the plug-in point of aqnet (docs/architecture.md, "Tasks").

A task is a kind of experiment — forecasting, exceedance warnings, masked pretraining, ... — and adding one is one
package ``aqnet/tasks/<name>/`` plus one ``conf/task/<name>.yaml``; nothing else is edited. The package's
``__init__`` defines one subclass of :class:`Task`: a dataclass that is at once the typed schema of
``cfg.task`` (registered in Hydra's ConfigStore as ``<name>_schema``, which the YAML lists in its defaults, so
unknown keys and wrong types fail at composition) and the builder of the run's pieces:

- :meth:`Task.datamodule` — what one sample is (inputs, targets, leads | intervals | a single state);
- :meth:`Task.model_io` — what the model (conf/model) must read and produce;
- :meth:`Task.module` — the LightningModule: loss, metrics, baselines;
- :attr:`Task.monitor` and :meth:`Task.higher_is_better` — the metric that selects checkpoints, stops early and
  drives ReduceLROnPlateau, and which way is better (aqnet-compare ranks by the same rule);
- :attr:`Task.architecture_keys` — ``task.*`` keys that shape the model (adopted when fine-tuning a run of the same
  task, never from another task);
- :meth:`Task.report` — the table printed at the end of a run;
- :meth:`Task.evaluate` / :meth:`Task.predict` — what ``aqnet-eval`` / ``aqnet-predict`` do with a finished run.

Keep the package's ``__init__`` light (dataclasses, no torch at module level): every CLI call imports it to
register the schema. Heavy imports belong inside the methods.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from omegaconf import MISSING

from aqnet.errors import ConfigError

if TYPE_CHECKING:
    import lightning as L
    from omegaconf import DictConfig
    from rich.console import RenderableType

    from aqnet.data.stats import Climatology, Statistics
    from aqnet.finetune.phases import PhasePlan
    from aqnet.inference.loading import LoadedRun

MODES = ("min", "max")


@dataclass(frozen=True)
class ModelIO:
    """What a model reads and produces, by variable name, as the task defines it (see conf/model)."""

    inputs: tuple[str, ...]  # input variables, physical units, in channel order
    outputs: tuple[str, ...]  # output channels, in order (a forecast's targets, an exceedance's logits, ...)
    grid_shape: tuple[int, int]
    statistics: Statistics  # normalisation statistics of the training years
    transforms: Mapping[str, str]  # per input: "log1p" | "none" before standardising
    climatology: Climatology | None = None  # training-years climatology of the outputs (an anomaly prior)
    output_is_field: bool = True  # outputs are physical fields of the named variables (normalised like them)
    # damped anomaly persistence of the outputs (a prior): the hour × season climatology, φ [outputs, leads], leads
    damping: tuple[Any, Any, tuple[float, ...]] | None = None


@dataclass
class Task(ABC):
    """Base of every task config (see the module docstring). Subclasses are dataclasses with their own keys."""

    _target_: str = MISSING
    name: str = MISSING
    monitor: str = "val/loss"  # the metric that selects the best checkpoint (mode from higher_is_better)

    architecture_keys: ClassVar[tuple[str, ...]] = ()
    # name tokens of this task's higher-is-better scores beyond the common ones (aqnet.evaluation.direction)
    higher_is_better_tokens: ClassVar[frozenset[str]] = frozenset()

    def check(self, cfg: DictConfig) -> None:
        """Checks across this task's keys and the rest of the run's config (before any data is read)."""
        return None

    # -- building a run -------------------------------------------------------------------------------------------
    @abstractmethod
    def datamodule(self, cfg: DictConfig, store: Path) -> L.LightningDataModule:
        """The data module of this task's samples from the store at ``store``."""

    @abstractmethod
    def model_io(self, cfg: DictConfig, datamodule: L.LightningDataModule) -> ModelIO:
        """What the model must read and produce, once the data module is set up."""

    @abstractmethod
    def module(
        self,
        cfg: DictConfig,
        model: Any,
        datamodule: L.LightningDataModule,
        run_dir: Path | None = None,
        phases: PhasePlan | None = None,
    ) -> L.LightningModule:
        """The LightningModule that trains ``model``; with ``run_dir`` its test epoch may write per-case files."""

    def check_data(self, cfg: DictConfig, datamodule: L.LightningDataModule) -> None:
        """Checks that need the opened store (grid, value ranges), before the model is built."""
        return None

    # -- metrics ----------------------------------------------------------------------------------------------------
    @abstractmethod
    def metric_names(self, split: str) -> list[str]:
        """Every metric the module logs for ``split`` (val, test): the monitor must be one of the val ones."""

    def higher_is_better(self, metric: str) -> bool:
        """Whether a larger value of ``metric`` is better (losses and errors: no); the rule aqnet-compare uses."""
        from aqnet.evaluation.direction import direction

        return direction(metric, self.higher_is_better_tokens) == "higher"

    @property
    def mode(self) -> str:
        return "max" if self.higher_is_better(self.monitor) else "min"

    def check_monitor(self) -> None:
        known = self.metric_names("val")
        if self.monitor not in known:
            from difflib import get_close_matches

            near = get_close_matches(self.monitor, known, n=1)
            hint = f"; did you mean {near[0]}?" if near else f"; e.g. {', '.join(known[:4])}"
            raise ConfigError(f"task.monitor={self.monitor} is not a metric task={self.name} logs{hint}")

    # -- the end of a run and finished runs ---------------------------------------------------------------------------
    @abstractmethod
    def report(self, metrics: Mapping[str, float], split: str = "test") -> RenderableType:
        """What the console shows at the end of a run (a rich table)."""

    def evaluate(self, run: LoadedRun, **options: Any) -> Any:
        raise ConfigError(f"aqnet-eval does not support task={self.name} runs yet")

    def predict(self, run: LoadedRun, **options: Any) -> Any:
        raise ConfigError(f"aqnet-predict does not support task={self.name} runs yet")


# -- discovery -------------------------------------------------------------------------------------------------------
def _spec_of(package: str) -> type[Task]:
    module = importlib.import_module(package)
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Task) and obj.__module__.startswith(package)
    ]
    if len(found) != 1:
        names = [c.__name__ for c in found]
        raise ConfigError(f"task package {package} must define exactly one subclass of aqnet.tasks.base.Task: {names}")
    return found[0]


def task_specs() -> dict[str, type[Task]]:
    """Every task: name (its package under aqnet/tasks/) → its config class."""
    import aqnet.tasks

    return {
        info.name: _spec_of(f"aqnet.tasks.{info.name}")
        for info in pkgutil.iter_modules(aqnet.tasks.__path__)
        if info.ispkg and not info.name.startswith("_")
    }


def register_task_schemas() -> None:
    """Store each task's schema as ``task/<name>_schema`` (conf/task/<name>.yaml lists it in its defaults)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, spec in task_specs().items():
        store.store(group="task", name=f"{name}_schema", node=spec)
