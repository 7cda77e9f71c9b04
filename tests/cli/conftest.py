"""Run aqnet's console scripts as real subprocesses, each with its own output root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.data.ecmwf import ecmwf_samples  # noqa: F401  (real ECMWF GRIB files for the convert tests)

BIN = Path(sys.executable).parent


def script(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"console script {name} is not installed (pip install -e .)"
    return found


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "aqnet-root"


@pytest.fixture
def run_cli(root: Path, tmp_path: Path) -> Runner:
    """run_cli("aqnet-train", "seed=1", env={...}) → CompletedProcess; cwd is a scratch dir, AQNET_ROOT=root."""

    def run(
        name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "AQNET_ROOT": str(root), "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("HYDRA_FULL_ERROR", None)
        return subprocess.run(
            [script(name), *args], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=timeout
        )

    return run


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Non-zero exit and exactly one line on stderr, `aqnet: error: ...`, naming every fragment."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aqnet: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]
