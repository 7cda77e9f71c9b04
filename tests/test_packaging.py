"""The package installs as a wheel that carries the Hydra config tree (conf/ → aqnet.conf)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("aqnet-*.whl")
    return found


def test_wheel_contains_config_tree(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*.yaml")}
    assert expected, "conf/ has no YAML files"
    missing = {f"aqnet/conf/{name}" for name in expected} - names
    assert not missing, f"wheel lacks {sorted(missing)}"


def test_installed_wheel_composes_config_outside_the_repo(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = f"""
import sys
sys.path.insert(0, {str(target)!r})
import aqnet
from aqnet.config import compose
assert aqnet.__file__.startswith({str(target)!r}), aqnet.__file__
print(compose(["data=benchmark_small"]).data.benchmark)
"""
    # Only the wheel's copy of aqnet is importable: the repo is neither on the path nor the working directory.
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "small"


def test_editable_install_finds_the_repo_config_tree() -> None:
    import importlib.resources

    import aqnet.conf

    assert Path(str(importlib.resources.files(aqnet.conf))).resolve() == (REPO / "conf").resolve()
