"""The output root and the fixed layout under it (docs/architecture.md, "Paths").

paths.root/
  mlflow.db, artifacts/          MLflow sqlite store and artifact root
  data/                          generated benchmark stores, statistics caches
  runs/<run_id>/                 one per job
  sweeps/<sweep_id>/             one per sweep
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from aqnet.errors import ConfigError

ROOT_ENV = "AQNET_ROOT"


def default_root() -> Path:
    """``$AQNET_ROOT`` if set, else ``./aqnet-runs``; always absolute."""
    return Path(os.environ.get(ROOT_ENV) or "aqnet-runs").expanduser().resolve()


def data_dir(root: Path | None = None) -> Path:
    return (root or default_root()) / "data"


def benchmark_store_path(size: str, seed: int, root: Path | None = None) -> Path:
    """Where ``aqnet-data synth`` puts the built-in benchmark store of a size and seed."""
    return data_dir(root) / f"benchmark_{size}_seed{seed}.zarr"


def store_location(data: Any, root: Path) -> Path:
    """The store a run reads: the config's ``data.path``, else the built-in benchmark's place under ``root`` (it may
    not exist yet; :func:`aqnet.builders.data_store` generates it)."""
    if data.path:
        return Path(data.path).expanduser().resolve()
    return benchmark_store_path(data.benchmark, data.benchmark_seed, root)


def cache_dir(root: Path | None = None) -> Path:
    """Writable cache (validation reports, normalisation statistics), keyed by store fingerprint inside."""
    return data_dir(root) / "cache"


def writable_root(root: str | Path) -> Path:
    """paths.root, created if needed; a ConfigError naming it if it cannot be written."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"paths.root={root} is not writable ({err.strerror or err}); "
            "set AQNET_ROOT or paths.root=<a writable directory>"
        ) from None
    return root
