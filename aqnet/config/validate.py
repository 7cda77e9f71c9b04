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


# Plausible ranges of the physical fields the physics reads (elevation in metres above sea level, wind in m/s): a
# store in km or with normalised values would silently turn the bias into noise.
ELEVATION_RANGE_M = (-500.0, 9000.0)
MIN_RELIEF_M = 10.0
MAX_WIND_MS = 150.0


def physics_fields(cfg: DictConfig) -> list[str]:
    """The physical inputs the configured physics reads: elevation for a bias, u and v for wind."""
    bias, embed = cfg.physics_bias.name, cfg.embed.name
    fields = ["elevation"] if bias != "none" else []
    return fields + (["u", "v"] if bias == "adaptive" or embed == "wind_scan" else [])


def validate_physical_ranges(cfg: DictConfig, ranges: Mapping[str, tuple[float, float] | None]) -> None:
    """The store's elevation / wind ranges (canonical units) must be plausible for the physics that reads them."""
    if "elevation" in ranges and ranges["elevation"] is not None:
        lo, hi = ranges["elevation"]
        _require(
            ELEVATION_RANGE_M[0] <= lo and hi <= ELEVATION_RANGE_M[1] and hi - lo >= MIN_RELIEF_M,
            f"variable 'elevation' spans {lo:.4g}..{hi:.4g}, implausible for metres above sea level (expected within "
            f"{ELEVATION_RANGE_M[0]:g}..{ELEVATION_RANGE_M[1]:g} m with at least {MIN_RELIEF_M:g} m of relief): "
            f"physics_bias={cfg.physics_bias.name} needs elevation in metres, not km or normalised values; "
            "fix the store's values or its units attribute",
        )
    for name in ("u", "v"):
        if ranges.get(name) is not None:
            lo, hi = ranges[name]  # type: ignore[misc]
            _require(
                max(abs(lo), abs(hi)) <= MAX_WIND_MS,
                f"variable {name!r} spans {lo:.4g}..{hi:.4g}, implausible for wind in m/s (|{name}| <= "
                f"{MAX_WIND_MS:g}); fix the store's values or its units attribute",
            )
