"""Suite-wide collection rules for pytest-xdist (``-n auto --dist loadgroup``): each test module runs on one
worker, in order (modules share their module-scoped fixtures, e.g. a trained run, and some tests build on the
module's earlier ones), and the tests that share the one local SLURM cluster all run on one worker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

SLURM_TESTS = Path(__file__).parent / "slurm"


@pytest.hookimpl(tryfirst=True)  # before xdist turns the group marker into the node id's @group suffix
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path))
        group = "slurm" if SLURM_TESTS in path.parents else path.stem
        item.add_marker(pytest.mark.xdist_group(group))
    # The SLURM group is the largest unit of work (~30 min of one worker, much of it waiting on the scheduler):
    # handed out first, it runs beside the rest instead of finishing alone at the end. Stable: module order holds.
    items.sort(key=lambda item: SLURM_TESTS not in Path(str(item.path)).parents)


def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    # Runs on the controller. xdist groups by the node id's @suffix; a pytest that ignores the suffix (9.2 with
    # xdist 3.8) scatters a module's tests and starts the one SLURM cluster on several workers at once: refuse.
    if node.config.getvalue("dist") == "loadgroup" and ids and not any("@" in node_id for node_id in ids):
        pytest.exit(
            "--dist loadgroup has no effect with this pytest/pytest-xdist pair (node ids lack the @group suffix): "
            "install the versions the dev extra of pyproject.toml allows",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(autouse=True)
def _grad_mode_is_left_as_found() -> Any:
    # Tests of one module share a worker process with many others: one that leaves autograd switched off breaks
    # every later backward() on that worker with "does not require grad", far from the cause. Name the culprit.
    import torch

    yield
    if not torch.is_grad_enabled():
        torch.set_grad_enabled(True)
        pytest.fail("this test left torch's grad mode disabled (a no_grad/inference_mode that was never exited)")


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in tiny benchmark, generated once per session and read (never written) by every test that trains
    on it. Under xdist all workers share it: their base temp dirs sit in one folder of this session, and the
    generator's own lock lets one worker build it while the others wait."""
    from aqnet.data.synthetic import write_benchmark

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return write_benchmark(shared / "benchmark_tiny_seed0.zarr", size="tiny")
