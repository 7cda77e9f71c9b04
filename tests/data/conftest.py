"""Fixtures: small synthetic stores (see store_factory), a private cache dir per test, real ECMWF GRIB files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.data.ecmwf import ecmwf_samples  # noqa: F401  (real ECMWF GRIB files, downloaded once)
from tests.data.store_factory import make_store


@pytest.fixture(scope="session")
def canonical_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A well-formed store shared by read-only tests (never modified)."""
    return make_store(tmp_path_factory.mktemp("stores") / "canonical.zarr")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def store_maker(tmp_path: Path) -> Callable[..., Path]:
    """make(name, **defects) -> path of a fresh store under this test's tmp dir."""

    def make(name: str = "store.zarr", **kwargs: Any) -> Path:
        return make_store(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Small tensor ops run fastest (and far more predictably on a loaded machine) on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
