"""The typed schema of one run (dataclasses registered in Hydra's ConfigStore).

conf/config.yaml starts its defaults list with `schema`, so every YAML option and every command-line override is
merged into these dataclasses: an unknown key or a wrong type fails at composition, before any data is read.
Checks that need more than a type (a patch that must divide the grid, lr > 0) live in aqnet.config.validate.
Keys that later features add belong here, not behind a `+` on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from aqnet.variables import INPUT_VARIABLES, LEAD_HOURS, POLLUTANTS


@dataclass
class PathsConfig:
    root: str = "aqnet-runs"  # absolute after composition; $AQNET_ROOT by default (conf/paths/default.yaml)


@dataclass
class DataConfig:
    path: str | None = None  # a zarr store; None → the built-in benchmark under paths.root/data
    benchmark: str | None = "tiny"  # tiny | small | full, used when path is None
    benchmark_seed: int = 0
    inputs: list[str] = field(default_factory=lambda: list(INPUT_VARIABLES))
    targets: list[str] = field(default_factory=lambda: list(POLLUTANTS))
    lead_hours: list[int] = field(default_factory=lambda: list(LEAD_HOURS))
    train_years: list[int] = field(default_factory=lambda: [2013, 2014, 2015, 2016])
    val_years: list[int] = field(default_factory=lambda: [2017])
    test_years: list[int] = field(default_factory=lambda: [2018])
    batch_size: int = 8
    num_workers: int = 2
    train_samples_per_epoch: int | None = None  # None: every valid (init, lead) pair once per epoch
    transform: str = "log1p"  # log1p | none: applied to heavy-tailed variables before standardising
    memory_limit_mb: float = 2048.0  # decode the store once into memory when its variables fit (per run)


@dataclass
class BackboneConfig:
    name: str = "climax_tiny"
    embed_dim: int = 64
    depth: int = 3
    decoder_depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    drop_rate: float = 0.0
    patch_size: int = 2
    predict: str = "anomaly"  # field (as ClimaX) | change (from the init state) | anomaly (from the climatology)


@dataclass
class EmbedConfig:
    name: str = "parallel"  # serial | parallel | wind_scan
    tokens: str = "parallel"  # the tokeniser: serial (one conv per variable) | parallel (one grouped conv)
    region: list[int] = field(default_factory=lambda: [2, 4])  # wind_scan: region in patches (rows, cols)
    order_encoding: str = "rank"  # wind_scan: rank (learned embedding of the scan rank) | none (order is inert)


@dataclass
class PhysicsBiasConfig:
    name: str = "none"  # none | topoflow | adaptive (aqnet/models/physics.py)
    direction: str = "source_higher"  # source_higher: -α·relu(e_j - e_i) (the seeds'); receptor_higher: upslope blocked
    alpha_init: float = 1.0
    height_scale_m: float = 1000.0  # topoflow: H in relu(Δe / H)
    clamp: float | None = -10.0  # topoflow: smooth floor of the bias; null = none
    wind: str = "pair_mean"  # adaptive: whose |w| modulates the bias: pair_mean | receptor | source
    beta_init: float = 0.3  # adaptive: 1 - β·sigmoid(|w| - 5 m/s)
    learn_beta: bool = False
    blocks: Any = field(default_factory=lambda: [0])  # block indices that carry the bias, or "all"
    backend: str = "auto"  # auto | dense (reference, small N) | chunked (exact, O(N·chunk) memory)
    chunk: int = 512  # query rows per chunk for the chunked backend
    control: str | None = None  # shuffled_elevation: same bias on permuted terrain (the study's control)


@dataclass
class FinetunePhaseConfig:
    name: str = "phase"
    trainable: list[str] = field(default_factory=lambda: [".*"])  # regexes on parameter names
    lr: float | None = None  # peak LR of every group in this phase; null: the optimiser's own
    steps: int | None = None  # length (one of steps / epochs; the last phase runs to the end)
    epochs: int | None = None


@dataclass
class FinetuneConfig:
    name: str = "none"
    checkpoint: str | None = None  # run dir | run id | MLflow run id | .ckpt; weights only (a new optimiser)
    which: str = "best"  # best | last checkpoint of a run
    strict: bool = False
    max_new_keys: int = 8  # non-strict: at most this many new parameter tensors
    max_new_variables: int = 0  # input variables without an embedding in the checkpoint
    statistics: str = "checkpoint"  # normaliser statistics + climatology: checkpoint | recompute
    allow_changes: list[str] = field(default_factory=list)  # config groups that may differ from the checkpoint's
    phases: list[FinetunePhaseConfig] = field(default_factory=list)


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
    cpus_per_task: int = 1
    mem_gb: int = 4
    array_parallelism: int = 64  # jobs of a sweep running at once
    setup: list[str] = field(default_factory=list)  # shell lines before each job (modules, environment)
    max_requeues: int = 3  # preempted / timed-out jobs checkpoint and requeue at most this many times


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    warmup_steps: int = 20
    min_lr_ratio: float = 0.05  # cosine floor as a fraction of lr
    physics_lr: float = 1e-2  # own group for physics parameters (alpha, beta): own LR, no weight decay


@dataclass
class TrainerConfig:
    max_steps: int = 300  # the budget is in optimiser steps, not wall-clock, so runs are reproducible
    max_epochs: int = -1
    val_check_interval: int = 100  # validate every N training batches (and at the end)
    limit_val_batches: int | None = None  # at most this many batches per validation; None = every sample
    limit_test_batches: int | None = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: float = 1.0
    precision: str = "32-true"
    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    early_stopping_patience: int = 0  # validations without improvement of val/loss before stopping; 0 = off
    log_every_n_steps: int = 10
    deterministic: bool = True


@dataclass
class LoggerConfig:
    name: str = "mlflow"  # mlflow | none
    experiment_name: str | None = None  # default: the experiment preset's name
    tracking_uri: str | None = None  # default: sqlite:///<paths.root>/mlflow.db


@dataclass
class RunConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    physics_bias: PhysicsBiasConfig = field(default_factory=PhysicsBiasConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    experiment: str = MISSING  # name of the experiment preset; the MLflow experiment unless logger says otherwise
    seed: int = 0
    run_id: str = MISSING  # submit time (UTC, microseconds) [+ _<job number>]; names runs/<run_id>/
    sweep_id: str | None = None  # the sweep's submit time in a multirun; names sweeps/<sweep_id>/
    resume_sweep: str | None = None  # rerun this sweep: finished jobs are skipped, interrupted ones resume


def register_schema() -> None:
    """Make the schema available to conf/config.yaml as the defaults entry `schema`."""
    ConfigStore.instance().store(name="schema", node=RunConfig)
