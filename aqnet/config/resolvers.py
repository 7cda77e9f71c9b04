"""OmegaConf resolvers used by conf/: absolute paths and the run identity."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

from omegaconf import OmegaConf


def absolute_path(path: str) -> str:
    return str(Path(path).expanduser().resolve())


@cache
def submit_time_id() -> str:
    """UTC submit time to the microsecond, fixed once per process so every reference agrees."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("aqnet.abspath", absolute_path, replace=True)
    OmegaConf.register_new_resolver("aqnet.submit_time", submit_time_id, replace=True)
