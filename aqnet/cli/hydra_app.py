"""Running a Hydra app under aqnet's error contract.

Hydra reports composition errors (unknown key, wrong type, bad override) over several lines. aqnet's contract is
one line, `aqnet: error: ...`, and a non-zero exit, so Hydra's reporter is replaced while the app runs. A bug
(any other exception) still shows its traceback; HYDRA_FULL_ERROR=1 shows everything as Hydra would.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import hydra._internal.utils as hydra_utils
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from aqnet.config.resolvers import register_resolvers
from aqnet.config.schema import register_schema
from aqnet.errors import AqnetError, fail

F = TypeVar("F", bound=Callable[..., Any])

_NOISE = ("full_key:", "reference_type=", "object_type=", "To append to your config")


def _one_line(error: BaseException) -> str:
    parts: list[str] = []
    while error is not None:
        parts += [
            line.strip() for line in str(error).splitlines() if line.strip() and not line.strip().startswith(_NOISE)
        ]
        error = error.__cause__
    return " ".join(dict.fromkeys(parts)) + " (aqnet-train --cfg job prints every key)"


def _report(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except AqnetError as error:
        fail(str(error))
    except (HydraException, OmegaConfBaseException) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        fail(f"config: {_one_line(error)}")


def user_errors_as_one_line(task: F) -> F:
    """Wrap a Hydra task function: Hydra would add its own 'Error executing job' line to a raised AqnetError."""

    @functools.wraps(task)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except AqnetError as error:
            fail(str(error))

    return wrapped  # type: ignore[return-value]


def run_hydra_app(app: Callable[[], Any]) -> int:
    """Run a `@hydra.main` function with aqnet's schema, resolvers and one-line errors."""
    register_schema()
    register_resolvers()
    hydra_utils.run_and_report = _report  # Hydra looks it up by module global at call time
    try:
        app()
    except AqnetError as error:
        fail(str(error))
    return 0
