"""Running a Hydra app under aqnet's error contract.

Hydra reports composition errors (unknown key, wrong type, bad override) over several lines. aqnet's contract is
one line, `aqnet: error: ...`, and a non-zero exit, so Hydra's reporter is replaced while the app runs. A bug
(any other exception) still shows its traceback; HYDRA_FULL_ERROR=1 shows everything as Hydra would.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
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
    app = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "aqnet-train"
    return " ".join(dict.fromkeys(parts)) + f" ({app} --cfg job prints every key)"


def _report(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except AqnetError as error:
        fail(str(error))
    except (HydraException, OmegaConfBaseException) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        fail(f"config: {_one_line(error)}")


def _in_multirun_job() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def user_errors_as_one_line(task: F) -> F:
    """Wrap a Hydra task function: Hydra would add its own 'Error executing job' line to a raised AqnetError."""

    @functools.wraps(task)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except AqnetError as error:
            if _in_multirun_job():
                raise  # the launcher records the failure (submitit writes no result for an exiting job) and reports it
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
    except ValueError as error:  # Hydra's own command-line checks, e.g. "--cfg" together with "-m"
        if "can be specified" not in str(error) or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        fail(f"command line: {error}")
    return 0
