"""A progress report that reads well both in a terminal and in a SLURM log file.

In a terminal Lightning's rich bar is used. In a file, carriage-return bars become one enormous line, so instead a
plain line is printed every `every_n_steps`: step, epoch, loss, learning rate, speed and time left.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, RichProgressBar, TQDMProgressBar


class LineProgress(Callback):
    def __init__(self, every_n_steps: int = 10) -> None:
        self.every_n_steps = max(1, every_n_steps)
        self._started = 0.0
        self._last_step = -1
        self._total = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()
        self._total = trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        print(f"training: {self._total} steps", flush=True)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if step == self._last_step or (step % self.every_n_steps and step != self._total):
            return
        self._last_step = step
        elapsed = time.perf_counter() - self._started
        rate = step / elapsed if elapsed > 0 else 0.0
        left = (self._total - step) / rate if rate > 0 else float("nan")
        loss = trainer.callback_metrics.get("train/loss")
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        loss_text = f"{float(loss):.4f}" if loss is not None else "-"
        print(
            f"step {step}/{self._total} epoch {trainer.current_epoch} loss {loss_text} lr {lr:.2e} "
            f"{rate:.2f} steps/s elapsed {elapsed:.0f}s left {left:.0f}s",
            flush=True,
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and not trainer.sanity_checking:
            print(f"validation at step {trainer.global_step}: val/loss {float(loss):.4f}", flush=True)


def progress_callback(every_n_steps: int) -> Callback:
    """Rich bar on a terminal, plain lines otherwise (log files, SLURM)."""
    if sys.stdout.isatty():
        return RichProgressBar()
    return LineProgress(every_n_steps)


def uses_progress_bar(callback: Callback) -> bool:
    return isinstance(callback, RichProgressBar | TQDMProgressBar)
