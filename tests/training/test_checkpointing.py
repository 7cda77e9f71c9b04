"""Checkpoints survive a kill mid-write; resume picks the right file, falls back, refuses a foreign one."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from aqnet.errors import DataError
from aqnet.training.checkpointing import RotatingCheckpointIO, find_resume_checkpoint

WRITER = """
import sys, torch
from pathlib import Path
from aqnet.training.checkpointing import RotatingCheckpointIO
io, path = RotatingCheckpointIO(), Path(sys.argv[1])
big = torch.zeros(64 * 2**20 // 4)  # 64 MB per save: slow enough to be killed in the middle
step = 0
while True:
    step += 1
    io.save_checkpoint({"aqnet": {"run_id": "run-a"}, "step": step, "big": big}, path)
    print(step, flush=True)
"""


def _save(path: Path, run_id: str, step: int) -> None:
    RotatingCheckpointIO().save_checkpoint({"aqnet": {"run_id": run_id}, "step": step}, path)


def test_the_previous_last_checkpoint_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    path.parent.mkdir()
    _save(path, "run-a", 1)
    _save(path, "run-a", 2)
    assert torch.load(path, weights_only=True)["step"] == 2
    assert torch.load(path.with_name("last.prev.ckpt"), weights_only=True)["step"] == 1


@pytest.mark.timeout(120)
def test_a_kill_during_a_save_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    path = run_dir / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    while int(writer.stdout.readline() or 0) < 2:  # two complete saves: last and last.prev exist
        pass
    time.sleep(0.05)  # well inside the next 64 MB write
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    found, note = find_resume_checkpoint(run_dir, "run-a")
    assert found is not None
    content = torch.load(found, weights_only=True)
    assert content["step"] >= 1 and content["big"].numel() == 64 * 2**20 // 4


def test_resume_falls_back_and_refuses_foreign_checkpoints(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    assert find_resume_checkpoint(tmp_path, "run-a") == (None, None)  # a fresh start
    _save(checkpoints / "last.ckpt", "run-a", 1)
    _save(checkpoints / "last.ckpt", "run-a", 2)
    (checkpoints / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    found, note = find_resume_checkpoint(tmp_path, "run-a")
    assert found == checkpoints / "last.prev.ckpt" and "unreadable" in (note or "")
    _save(checkpoints / "last.ckpt", "run-b", 3)
    with pytest.raises(DataError, match="belongs to run run-b, not to this run run-a"):
        find_resume_checkpoint(tmp_path, "run-a")
