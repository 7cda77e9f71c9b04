"""The ``finetune`` group's config (conf/finetune/*.yaml): where weights come from and how they are trained."""

from __future__ import annotations

from dataclasses import dataclass, field

from aqnet.errors import ConfigError

CHECKPOINTS = ("best", "last")  # which checkpoint of a run
STATISTICS = ("checkpoint", "recompute")  # normaliser statistics + climatology: from the checkpoint or recomputed


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

    def __post_init__(self) -> None:
        if self.which not in CHECKPOINTS:
            raise ConfigError(f"finetune.which={self.which!r} must be one of {CHECKPOINTS}")
        if self.statistics not in STATISTICS:
            raise ConfigError(f"finetune.statistics={self.statistics!r} must be one of {STATISTICS}")
        if self.max_new_keys < 0 or self.max_new_variables < 0:
            raise ConfigError("finetune.max_new_keys/max_new_variables must be >= 0")
        if self.name != "none" and not self.checkpoint:
            raise ConfigError(
                f"finetune={self.name} starts from a checkpoint: "
                "add finetune.checkpoint=<run dir | run id | MLflow run id>"
            )
