"""Keep the console for what a user needs: progress lines, the results table, real warnings.

Lightning's INFO lines (accelerator summary, tips) still reach <run dir>/train.log through the root logger.
"""

from __future__ import annotations

import logging
import warnings

_NOISE = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # Lightning internals vs newer torch
    r".*overridden `transfer_batch_to_device` in `LightningModule`.*",  # intended: Batch.to moves named fields
    r".*The `srun` command is available on your system but is not used.*",  # SLURM installed, job run locally
    r".*resuming from a checkpoint that ended before the epoch ended.*",  # ours resumes mid-epoch exactly
    r".*Checkpoint directory .* exists and is not empty.*",  # a resumed run writes into its own directory
)


class _DropSacctNoise(logging.Filter):
    """submitit polls sacct; without SLURM accounting each poll logs a warning though the results arrive."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Bypassing sacct error" not in record.getMessage()


def quiet_launcher() -> None:
    """Keep the launching process's console to Hydra's job list and real problems."""
    logging.getLogger("submitit").addFilter(_DropSacctNoise())
    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)


def quiet_console() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            if type(handler) is logging.StreamHandler:
                log.removeHandler(handler)
        log.propagate = True
    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)
