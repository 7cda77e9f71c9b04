"""The output root and the fixed layout under it (DESIGN: Paths).

paths.root/
  mlflow.db, artifacts/          MLflow sqlite store and artifact root
  data/                          generated benchmark stores, statistics caches
  runs/<run_id>/                 one per job
  sweeps/<sweep_id>/             one per sweep
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "AQNET_ROOT"


def default_root() -> Path:
    """``$AQNET_ROOT`` if set, else ``./aqnet-runs``; always absolute."""
    return Path(os.environ.get(ROOT_ENV) or "aqnet-runs").expanduser().resolve()


def data_dir(root: Path | None = None) -> Path:
    return (root or default_root()) / "data"


def benchmark_store_path(size: str, seed: int, root: Path | None = None) -> Path:
    """Where ``aqnet-data synth`` puts the built-in benchmark store of a size and seed."""
    return data_dir(root) / f"benchmark_{size}_seed{seed}.zarr"


def cache_dir(root: Path | None = None) -> Path:
    """Writable cache (validation reports, normalisation statistics), keyed by store fingerprint inside."""
    return data_dir(root) / "cache"
