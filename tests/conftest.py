"""Suite-wide collection rules: under pytest-xdist (``-n auto --dist loadgroup``) the tests that share the one
local SLURM cluster run on one worker, one after another, while everything else spreads over the workers."""

from __future__ import annotations

from pathlib import Path

import pytest

SLURM_TESTS = Path(__file__).parent / "slurm"


@pytest.hookimpl(tryfirst=True)  # before xdist turns the group marker into the node id's @group suffix
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLURM_TESTS in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.xdist_group("slurm"))
