"""Concurrency-safe creation of shared things: a file lock plus write-to-temp-then-rename.

Used wherever concurrent jobs may create the same output (a benchmark store, a statistics cache, the MLflow schema):
the first job builds it into a temporary sibling and renames it into place; the others wait on the lock and then
find it done. A failed build leaves no partial output and never touches an existing one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<target>.lock`` (created beside the target)."""
    lock_path = target.with_name(target.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``, on failure delete it.

    The caller must hold :func:`file_lock` (or otherwise know it is alone) and must have checked that ``target``
    does not exist yet: an existing target is never replaced.
    """
    if target.exists():
        raise FileExistsError(f"{target} exists; refusing to replace it")
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
