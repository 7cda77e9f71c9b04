"""Keep the console for what a user needs: progress lines, the results table, real warnings.

Lightning's INFO lines (accelerator summary, tips) still reach <run dir>/train.log through the root logger.
"""

from __future__ import annotations

import logging
import warnings

_NOISE = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # Lightning internals vs newer torch
    r".*overridden `transfer_batch_to_device` in `LightningModule`.*",  # intended: Batch.to moves named fields
)


def quiet_console() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            if type(handler) is logging.StreamHandler:
                log.removeHandler(handler)
        log.propagate = True
    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)
