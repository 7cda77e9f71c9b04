"""The fine-tune pipeline of one run: source → architecture check → load (with report) → freeze phases.

Fine-tuning takes weights only (a new optimiser, step 0); resuming an interrupted run is a different thing and
restores optimiser state and step (see docs/finetuning.md). :func:`adopt_architecture` runs before the config is
validated and reads only the checkpoint run's config sidecar; the weights are read when they are loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console

from aqnet.errors import ConfigError
from aqnet.finetune.phases import Phase, PhasePlan
from aqnet.finetune.source import RunReference, model_state, read_checkpoint, resolve_run

if TYPE_CHECKING:
    from torch import nn

    from aqnet.finetune.loading import LoadReport
    from aqnet.models.spec import ModelSpec
    from aqnet.tasks.base import Task


def architecture_keys(model: ModelSpec | type[ModelSpec], task: Task | type[Task]) -> dict[str, tuple[str, ...]]:
    """What "architecture" means when comparing a run with its checkpoint's run: config keys by group, the model's
    and the task's (``task.*``, compared only between runs of the same task)."""
    return {**model.architecture_keys, "task": task.architecture_keys}


@dataclass
class FinetuneSource:
    reference: RunReference
    choices: dict[str, str]  # config-group choices adopted from the checkpoint's run

    def state(self) -> dict[str, Any]:
        """The checkpoint's model weights (read safely, on CPU)."""
        return model_state(read_checkpoint(self.reference.checkpoint), self.reference.checkpoint)


def adopt_architecture(cfg: DictConfig, overrides: Sequence[str] = ()) -> FinetuneSource | None:
    """Resolve ``finetune.checkpoint`` and reconcile architectures — before the config is validated.

    The run adopts the checkpoint run's architecture for every key the command line did not set, except in the
    groups the plan lets change (``finetune.allow_changes``); a key set explicitly to another value is an error.
    So ``aqnet-train physics_bias=topoflow finetune=elevation finetune.checkpoint=<wind_scan run>`` fine-tunes a
    wind-scanning model without repeating ``embed=wind_scan``. The task's keys (e.g. a forecast's targets) are
    adopted only from a run of the same task: a pretraining run's targets never become a forecast's.
    """
    ft = cfg.finetune
    if not ft.checkpoint:  # validation refuses a plan without one
        return None
    reference = resolve_run(str(ft.checkpoint), Path(cfg.paths.root), ft.which)
    choices: dict[str, str] = {}
    source_cfg = reference.config()
    if source_cfg is not None:
        adopted = reconcile_architecture(cfg, source_cfg, list(ft.allow_changes), overrides, str(ft.checkpoint))
        choices = {g: c for g, c in reference.choices().items() if g in adopted}
    return FinetuneSource(reference, choices)


def _explicit_keys(overrides: Sequence[str]) -> set[str]:
    """Config keys (``group`` or ``group.key``) that command-line overrides set."""
    keys = set()
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~").replace("/", ".")
        keys.add(key)
    return keys


def reconcile_architecture(
    cfg: DictConfig, source: dict[str, Any], allowed: list[str], overrides: Sequence[str], origin: str
) -> set[str]:
    """Adopt the checkpoint's architecture keys into ``cfg``; returns the groups changed. One line names every
    key set explicitly to a value the plan does not allow."""
    explicit = _explicit_keys(overrides)
    current = OmegaConf.to_container(cfg, resolve=True)
    conflicts, adopted = [], set()
    same_task = source.get("task", {}).get("name") == cfg.task.name
    groups = architecture_keys(OmegaConf.get_type(cfg.model), OmegaConf.get_type(cfg.task))  # type: ignore[arg-type]
    for group, keys in groups.items():
        if group in allowed or (group == "task" and not same_task):
            continue
        for key in keys:
            mine, theirs = current.get(group, {}).get(key), source.get(group, {}).get(key)
            if key not in source.get(group, {}) or mine == theirs:
                continue
            if group in explicit or f"{group}.{key}" in explicit:
                conflicts.append(f"{group}.{key}: {theirs} → {mine}")
            else:
                with open_dict(cfg):
                    OmegaConf.update(cfg, f"{group}.{key}", theirs, merge=False)
                adopted.add(group)
    if conflicts:
        allows = ", ".join(allowed) if allowed else "no architecture change"
        raise ConfigError(
            f"finetune.checkpoint={origin} was trained with another architecture ({'; '.join(conflicts)}); "
            f"finetune={cfg.finetune.name} allows {allows}"
        )
    return adopted


def load_weights(cfg: DictConfig, model: nn.Module, source: FinetuneSource, run_dir: Path) -> LoadReport:
    """Load into ``model`` under the configured policy; print the report and keep it in the run directory."""
    from aqnet.finetune.loading import LoadPolicy, load_into

    ft = cfg.finetune
    policy = LoadPolicy(ft.strict, ft.max_new_keys, ft.max_new_variables, ft.statistics)
    report = load_into(model, source.state(), policy, str(source.reference.checkpoint))
    out = run_dir / "finetune"
    out.mkdir(parents=True, exist_ok=True)
    full = Console(record=True, width=140, file=open(os.devnull, "w"))  # noqa: SIM115  (recording only)
    full.print(report.table())
    (out / "load_report.txt").write_text(full.export_text() + f"weights: {report.summary()}\n")
    console = Console()
    if report.new or report.reshaped or report.dropped:  # the console shows what changed; the file everything
        console.print(report.table(include_loaded=False))
    console.print(f"weights from {source.reference.checkpoint}: {report.summary()} (table: {out / 'load_report.txt'})")
    return report


def phase_plan(cfg: DictConfig) -> PhasePlan | None:
    phases = cfg.finetune.phases
    if not phases:
        return None
    return PhasePlan([Phase(p.name, tuple(p.trainable), p.lr, p.steps, p.epochs) for p in phases])
