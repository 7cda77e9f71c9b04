"""``task.compare_to``: a finished ``task=forecast`` run whose forecast fields, thresholded, are a reference.

The run is checked before any data is read (a forecast run, forecasting every pollutant at every lead of this
task, from inputs this run also has) and loaded strictly (:mod:`aqnet.inference.loading`); its network reads the
batch's inputs by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from aqnet.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from aqnet.inference.loading import OpenedRun
    from aqnet.tasks.exceedance import Exceedance


def opened_forecast(cfg: DictConfig, task: Exceedance) -> OpenedRun:
    """The run ``task.compare_to`` names (its best checkpoint and config), errors naming that key."""
    from aqnet.finetune.source import resolve_run
    from aqnet.inference.loading import OpenedRun, saved_config

    spec, root = str(task.compare_to), Path(cfg.paths.root)
    reference = resolve_run(spec, root, "best", key="task.compare_to")
    return OpenedRun(spec, root, "best", reference, saved_config(reference, spec))


def check_forecast_run(cfg: DictConfig, task: Exceedance) -> None:
    run = opened_forecast(cfg, task)
    key = f"task.compare_to={task.compare_to}"
    if run.cfg.task.name != "forecast":
        raise ConfigError(f"{key} is a task={run.cfg.task.name} run; it must be a task=forecast run")
    missing = [p for p in task.pollutants if p not in run.cfg.task.targets]
    if missing:
        raise ConfigError(f"{key} does not forecast {missing} (its task.targets: {list(run.cfg.task.targets)})")
    leads = [h for h in task.lead_hours if h not in run.cfg.task.lead_hours]
    if leads:
        raise ConfigError(f"{key} has no lead {leads} (its task.lead_hours: {list(run.cfg.task.lead_hours)})")
    absent = [v for v in run.cfg.data.inputs if v not in cfg.data.inputs]
    if absent:
        raise ConfigError(f"{key} reads inputs {absent} that this run's data.inputs lacks")


class InputsByName(nn.Module):
    """A forecast network fed the batch's inputs reordered to its own input names (frozen, eval mode)."""

    def __init__(self, network: nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.index = [input_names.index(n) for n in network.input_names]
        self.target_names = tuple(network.target_names)

    def train(self, mode: bool = True) -> InputsByName:  # always in eval mode (dropout off)
        super().train(False)
        return self

    def predict_physical(self, inputs: Tensor, *time: Tensor) -> Tensor:
        with torch.no_grad():
            return self.network.predict_physical(inputs[:, self.index], *time)


def load_forecast(cfg: DictConfig, task: Exceedance) -> Any:
    from aqnet.inference.loading import load_run, open_data

    run = opened_forecast(cfg, task)
    loaded = load_run(run, open_data(run.cfg, setup=False))
    return InputsByName(loaded.model, list(cfg.data.inputs))
