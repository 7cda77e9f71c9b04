"""Validation of a composed run config: once, before any data is read.

:func:`validate_config` turns the config into its typed objects (:class:`aqnet.config.schema.RunConfig`), which runs
every class's own checks (``__post_init__``), and then checks what spans groups: the task against the data, the
model against the data and trainer, fine-tuning against the optimiser and schedule. Each failure is one
ConfigError line naming the key and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping

from omegaconf import DictConfig, OmegaConf, open_dict

from aqnet.config.schema import RunConfig
from aqnet.errors import ConfigError
from aqnet.variables import VARIABLES

GPU_ONLY_PRECISIONS = ("16-mixed", "16-true", "transformer-engine")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate_config(cfg: DictConfig) -> RunConfig:
    """Validate a composed config (module docstring); returns its typed form."""
    _require(
        not OmegaConf.is_missing(cfg.data, "path"),
        "data=zarr needs the store's location: add data.path=/path/to/store.zarr",
    )
    run = typed(cfg)  # every node checks its own fields
    run.task.check(cfg)
    run.task.check_monitor()
    run.model.check(cfg)
    _validate_trainer(run)
    _validate_finetune(cfg, run)
    for name, node in run.callbacks.items():
        _require(
            isinstance(node, Mapping) and "_target_" in node,
            f"callbacks.{name} needs a _target_ (the callback class), e.g. "
            "+callbacks.lr._target_=lightning.pytorch.callbacks.LearningRateMonitor",
        )
    return run


def typed(cfg: DictConfig) -> RunConfig:
    """The config as its typed objects (each dataclass's ``__post_init__`` runs); a ``hydra`` node is left out."""
    if "hydra" in cfg:  # a launcher callback sees the config with Hydra's own settings
        cfg = cfg.copy()
        with open_dict(cfg):
            del cfg["hydra"]
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]


def _validate_trainer(run: RunConfig) -> None:
    trainer = run.trainer
    _require(
        trainer.precision not in GPU_ONLY_PRECISIONS or trainer.accelerator != "cpu",
        f"trainer.precision={trainer.precision} needs a GPU; on trainer.accelerator=cpu use 32-true or bf16-mixed",
    )


def _validate_finetune(cfg: DictConfig, run: RunConfig) -> None:
    from aqnet.finetune.plan import architecture_keys, phase_plan

    groups = list(architecture_keys(run.model, run.task))
    unknown = [g for g in run.finetune.allow_changes if g not in groups]
    _require(not unknown, f"finetune.allow_changes {unknown} are not among {groups}")
    plan = phase_plan(cfg)  # raises ConfigError for an impossible plan
    if plan is not None and any(p.lr is not None for p in plan.phases):
        _require(
            run.scheduler.closed_form,
            f"finetune phases with their own lr scale the schedule, which scheduler={run.scheduler.name} cannot "
            "take; use scheduler=cosine, constant, step or exponential",
        )


# Elevation in km (or normalised) under a "m" attribute stays inside the plausible metres; its relief gives it away.
MIN_RELIEF_M = 10.0


def validate_physical_ranges(ranges: Mapping[str, tuple[float, float] | None]) -> None:
    """Each variable's range in the store (canonical units) lies within its plausible range
    (:attr:`aqnet.variables.VariableSpec.plausible`), and elevation has at least ``MIN_RELIEF_M`` of relief: a
    store in other units than its attribute says is refused, whether or not a physics bias reads the variable."""
    for name, span in ranges.items():
        spec = VARIABLES.get(name)
        if span is None or spec is None or spec.plausible is None:
            continue
        (lo, hi), (low, high) = span, spec.plausible
        relief = name != "elevation" or hi - lo >= MIN_RELIEF_M
        _require(
            low <= lo and hi <= high and relief,
            f"variable {name!r} spans {lo:.4g}..{hi:.4g}, implausible for {spec.long_name} in {spec.units} (expected "
            f"within {low:g}..{high:g} {spec.units}"
            + (
                f" with at least {MIN_RELIEF_M:g} m of relief): not km or normalised values"
                if name == "elevation"
                else ")"
            )
            + "; fix the store's values or its units attribute",
        )
