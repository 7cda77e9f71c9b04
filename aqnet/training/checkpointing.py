"""Checkpoints a job can be killed in the middle of writing, and the state an exact continuation needs.

- :class:`RotatingCheckpointIO`: every save is write-to-temp-then-rename (Lightning's own), and the previous
  ``last.ckpt`` is kept as ``last.prev.ckpt`` first, so a kill at any moment leaves a loadable checkpoint.
- :class:`ContinuationState`: stores the run id, the RNG states (torch, numpy, python) and the position in the
  epoch's sample order in every checkpoint, and restores them on resume. The order itself is a function of
  (seed, epoch) (:class:`~aqnet.data.samples.EpochSampler`), so the rest of the epoch can be replayed exactly.
- :func:`find_resume_checkpoint`: the checkpoint a restarted job continues from, with the fallbacks and refusals.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from aqnet.errors import DataError

LAST, PREVIOUS = "last.ckpt", "last.prev.ckpt"


class RotatingCheckpointIO(TorchCheckpointIO):
    """Keep the previous ``last.ckpt`` until the new one is completely written."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        if path.name == LAST and path.exists():
            os.replace(path, path.with_name(PREVIOUS))
        super().save_checkpoint(checkpoint, path, storage_options)


class ContinuationState(L.Callback):
    """Run id, RNG states and epoch position in each checkpoint; restored when a run resumes."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.resumed = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, idx: int) -> None:
        if self.resumed:
            # Lightning's restart heuristics can shift its logging step by one when the checkpoint was taken right
            # after a validation; the logging step counts optimizer steps, which the restored global step knows
            trainer.fit_loop.epoch_loop._batches_that_stepped = trainer.global_step
            self.resumed = False

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["aqnet"] = {
            "run_id": self.run_id,
            "epoch": trainer.current_epoch,
            "batches_done_in_epoch": trainer.fit_loop.epoch_loop.batch_progress.current.completed,
            "rng": {"torch": torch.get_rng_state(), "numpy": _numpy_state(), "python": random.getstate()},
        }

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        state = checkpoint.get("aqnet", {})
        if "rng" in state:
            torch.set_rng_state(state["rng"]["torch"])
            numpy = state["rng"]["numpy"]
            keys = numpy["keys"].numpy().astype(np.uint32)
            np.random.set_state((numpy["name"], keys, numpy["pos"], numpy["has_gauss"], numpy["cached"]))
            random.setstate(state["rng"]["python"])
        # our checkpoints are taken between steps, never inside a validation: the last validation was complete,
        # and Lightning must not treat the next one as the continuation of it (it would skip its batches)
        loops = checkpoint.get("loops", {}).get("fit_loop", {})
        progress = loops.get("epoch_loop.val_loop.batch_progress")
        if "aqnet" in checkpoint and progress is not None:
            progress["current"] = dict.fromkeys(progress["current"], 0)
            progress["is_last_batch"] = False
        # saved at a batch start, the next batch already counted as "ready": it was never trained, so the resumed
        # loop must start exactly at the completed count (else its batch index, and validation, shift by one)
        train_progress = loops.get("epoch_loop.batch_progress")
        if "aqnet" in checkpoint and train_progress is not None:
            for part in ("current", "total"):
                done = train_progress[part]["completed"]
                train_progress[part].update(ready=done, started=done, processed=done)
        self.resumed = "aqnet" in checkpoint
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "resume_at"):
            datamodule.resume_at = (int(state.get("epoch", 0)), int(state.get("batches_done_in_epoch", 0)))


def _numpy_state() -> dict[str, Any]:
    """numpy's global RNG state as plain values and a tensor, so checkpoints load with ``weights_only=True``."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": pos,
        "has_gauss": has_gauss,
        "cached": cached,
    }


def checkpoint_run_id(path: Path) -> str | None:
    """The run id stored in a checkpoint (None if it has none); raises if the file cannot be read. Memory-mapped:
    the tensors are not read here, since Lightning loads the same file again to resume."""
    content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return content.get("aqnet", {}).get("run_id")


def find_resume_checkpoint(run_dir: Path, run_id: str) -> tuple[Path | None, str | None]:
    """(checkpoint to resume from, a note for the user) for a job starting in ``run_dir``.

    No checkpoint: (None, None), a fresh start. A corrupt ``last.ckpt`` falls back to ``last.prev.ckpt`` and says
    so; a checkpoint written by another run is refused (one line), never silently continued.
    """
    directory = run_dir / "checkpoints"
    note = None
    for name in (LAST, PREVIOUS):
        path = directory / name
        if not path.exists():
            continue
        try:
            owner = checkpoint_run_id(path)
        except Exception as err:  # noqa: BLE001  (any unreadable file: try the previous one)
            note = f"{path} is unreadable ({type(err).__name__}); falling back to the previous checkpoint"
            continue
        if owner is not None and owner != run_id:
            raise DataError(
                f"{path} belongs to run {owner}, not to this run {run_id}; move it away or use another run directory"
            )
        return path, note if note else None
    if note:
        raise DataError(f"no loadable checkpoint to resume in {directory}: {note}")
    return None, None
