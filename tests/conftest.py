"""Suite-wide collection rules for pytest-xdist (``-n auto --dist loadgroup``): each test module runs on one
worker, in order (modules share their module-scoped fixtures, e.g. a trained run, and some tests build on the
module's earlier ones), and the tests that share the one local SLURM cluster all run on one worker."""

from __future__ import annotations

from pathlib import Path

import pytest

SLURM_TESTS = Path(__file__).parent / "slurm"


@pytest.hookimpl(tryfirst=True)  # before xdist turns the group marker into the node id's @group suffix
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path))
        group = "slurm" if SLURM_TESTS in path.parents else path.stem
        item.add_marker(pytest.mark.xdist_group(group))
