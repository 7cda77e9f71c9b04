"""The typed schema of one run (dataclasses registered in Hydra's ConfigStore).

conf/config.yaml starts its defaults list with `schema`, so every YAML option and every command-line override is
merged into these dataclasses: an unknown key or a wrong type fails at composition, before any data is read. The
groups whose options differ in their keys (task, model, optim, scheduler) are typed per option: each option's YAML
lists its own schema (``<option>_schema``), which :func:`register_schema` stores. Every config class checks its
own fields in ``__post_init__`` (run by :func:`aqnet.config.validate.validate`); checks that span groups live in
:mod:`aqnet.config.validate`. Each class is defined once, beside the code it configures; this module assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from aqnet.errors import ConfigError
from aqnet.finetune.config import FinetuneConfig
from aqnet.models.config import BackboneConfig, EmbedConfig, PhysicsBiasConfig
from aqnet.training.config import OPTIMIZERS, SCHEDULERS, TrainerConfig
from aqnet.variables import INPUT_VARIABLES, VARIABLES

TRANSFORMS = ("log1p", "none")
BENCHMARK_SIZES = ("tiny", "small", "full")


@dataclass
class PathsConfig:
    root: str = "aqnet-runs"  # absolute after composition; $AQNET_ROOT by default (conf/paths/default.yaml)


@dataclass
class DataConfig:
    path: str | None = None  # a zarr store; None → the built-in benchmark under paths.root/data
    benchmark: str | None = "tiny"  # tiny | small | full, used when path is None
    benchmark_seed: int = 0
    inputs: list[str] = field(default_factory=lambda: list(INPUT_VARIABLES))
    train_years: list[int] = field(default_factory=lambda: [2013, 2014, 2015, 2016])
    val_years: list[int] = field(default_factory=lambda: [2017])
    test_years: list[int] = field(default_factory=lambda: [2018])
    batch_size: int = 8
    num_workers: int = 2
    train_samples_per_epoch: int | None = None  # None: every valid (init, lead) pair once per epoch
    transform: str = "log1p"  # log1p | none: applied to heavy-tailed variables before standardising
    memory_limit_mb: float = 2048.0  # decode the store once into memory when its variables fit (per run)

    def __post_init__(self) -> None:
        if self.path is None and self.benchmark not in BENCHMARK_SIZES:
            raise ConfigError(
                f"data.path is not set and data.benchmark={self.benchmark!r} is not one of {list(BENCHMARK_SIZES)}; "
                "for your own store use data=zarr data.path=/path/to/store.zarr"
            )
        unknown = [v for v in self.inputs if v not in VARIABLES]
        if unknown:
            raise ConfigError(f"data.inputs names unknown variables {unknown}; known: {list(VARIABLES)}")
        if len(set(self.inputs)) != len(self.inputs):
            raise ConfigError(f"data.inputs has duplicates: {list(self.inputs)}")
        for split in ("train_years", "val_years", "test_years"):
            if not getattr(self, split):
                raise ConfigError(f"data.{split} is empty")
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"data.transform={self.transform!r} must be one of {list(TRANSFORMS)}")
        if self.batch_size < 1 or self.num_workers < 0:
            raise ConfigError(f"data.batch_size={self.batch_size} must be >= 1 and data.num_workers >= 0")

    def input_transforms(self) -> dict[str, str]:
        """Per input: log1p for heavy-tailed variables when ``transform=log1p``, else none (before standardising)."""
        return {
            name: "log1p" if self.transform == "log1p" and VARIABLES[name].heavy_tailed else "none"
            for name in self.inputs
        }


@dataclass
class ClusterConfig:
    """Where jobs run (conf/cluster/*.yaml); the SLURM keys feed hydra.launcher and the matching trainer keys."""

    name: str = "local"
    launcher: str = "basic"  # basic (in process) | submitit_local | submitit_slurm
    requires_account: bool = False  # the preset refuses to submit without a SLURM account
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    timeout_min: int = 60
    nodes: int = 1
    tasks_per_node: int = 1  # processes per node = GPUs per node under DDP (SLURM starts them, never torchrun)
    gpus_per_node: int = 0
    cpus_per_task: int | None = None  # CPUs per process; None (cluster=local): the CPU affinity (docs/clusters.md)
    mem_gb: int = 4
    array_parallelism: int = 64  # jobs of a sweep running at once
    setup: list[str] = field(default_factory=list)  # shell lines before each job (modules, environment)
    max_requeues: int = 3  # preempted / timed-out jobs checkpoint and requeue at most this many times


@dataclass
class LoggerConfig:
    name: str = "mlflow"  # mlflow | none
    experiment_name: str | None = None  # default: the experiment preset's name
    tracking_uri: str | None = None  # default: sqlite:///<paths.root>/mlflow.db

    def __post_init__(self) -> None:
        if self.name not in ("mlflow", "none"):
            raise ConfigError(f"logger.name={self.name!r} must be 'mlflow' or 'none'")


@dataclass
class RunConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    task: Any = MISSING  # conf/task/<name>.yaml, typed by aqnet/tasks/<name> (aqnet.tasks.base.Task)
    model: Any = MISSING  # conf/model/<name>.yaml, typed by aqnet.models.spec
    data: DataConfig = field(default_factory=DataConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    physics_bias: PhysicsBiasConfig = field(default_factory=PhysicsBiasConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    optim: Any = MISSING  # conf/optim/<name>.yaml: adamw | adam | sgd (aqnet.training.config)
    scheduler: Any = MISSING  # conf/scheduler/<name>.yaml: cosine | onecycle | reduce_on_plateau | ...
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    # extra Lightning callbacks by name, each a node with a _target_ (e.g. +callbacks.lr=...LearningRateMonitor)
    callbacks: dict[str, Any] = field(default_factory=dict)
    experiment: str = MISSING  # name of the experiment preset; the MLflow experiment unless logger says otherwise
    seed: int = 0
    run_id: str = MISSING  # submit time (UTC, microseconds) [+ _<job number>]; names runs/<run_id>/
    sweep_id: str | None = None  # the sweep's submit time in a multirun; names sweeps/<sweep_id>/
    resume_sweep: str | None = None  # rerun this sweep: finished jobs are skipped, interrupted ones resume


def register_schema() -> None:
    """Store the run's schema (`schema`, first in conf/config.yaml's defaults) and each typed group option's."""
    from aqnet.models.spec import register_model_schemas
    from aqnet.tasks.base import register_task_schemas

    store = ConfigStore.instance()
    store.store(name="schema", node=RunConfig)
    for group, options in (("optim", OPTIMIZERS), ("scheduler", SCHEDULERS)):
        for name, node in options.items():
            store.store(group=group, name=f"{name}_schema", node=node)
    register_task_schemas()
    register_model_schemas()


def typed_run_config(saved: dict[str, Any]) -> DictConfig:
    """A saved, resolved run config (a plain dict in the current layout, :func:`aqnet.config.upgrade.upgrade_config`)
    merged into the schema, each typed group's node by its option ``name`` — as composition would have typed it."""
    from aqnet.models.spec import model_specs
    from aqnet.tasks.base import task_specs

    options: dict[str, dict[str, type]] = {
        "task": task_specs(),  # type: ignore[dict-item]
        "model": model_specs(),  # type: ignore[dict-item]
        "optim": OPTIMIZERS,  # type: ignore[dict-item]
        "scheduler": SCHEDULERS,  # type: ignore[dict-item]
    }
    base = OmegaConf.structured(RunConfig)
    for group, specs in options.items():
        name = (saved.get(group) or {}).get("name")
        if name not in specs:
            raise ConfigError(f"{group}={name} is not an option of this aqnet version; it has {sorted(specs)}")
        base[group] = OmegaConf.structured(specs[name])
    return OmegaConf.merge(base, saved)  # type: ignore[return-value]
