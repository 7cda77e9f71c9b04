"""Running a Hydra app under aqnet's error contract.

Hydra reports composition errors (unknown key, wrong type, bad override) over several lines. aqnet's contract is
one line, `aqnet: error: ...`, and a non-zero exit, so Hydra's reporter is replaced while the app runs. A bug
(any other exception) still shows its traceback; HYDRA_FULL_ERROR=1 shows everything as Hydra would.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from difflib import get_close_matches
from pathlib import Path
from typing import Any, TypeVar

import hydra._internal.utils as hydra_utils
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

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


def _chain(error: BaseException | None) -> list[BaseException]:
    out = []
    while error is not None:
        out.append(error)
        error = error.__cause__
    return out


def _nearest(wanted: str, known: list[str]) -> str:
    near = get_close_matches(wanted, known, n=1, cutoff=0.6)
    return f"; did you mean {near[0]}?" if near else ""


def did_you_mean(error: BaseException) -> str | None:
    """One line for a mistyped group option or key, naming the nearest valid one (None: not such an error)."""
    for err in _chain(error):
        if isinstance(err, MissingConfigException) and err.missing_cfg_file and "/" in err.missing_cfg_file:
            group, option = err.missing_cfg_file.rsplit("/", 1)
            options = [o for o in err.options or [] if not o.endswith("_schema")]
            choices = [f"{group}={o}" for o in options]
            return (
                f"{group}={option} is not an option of the {group} group{_nearest(f'{group}={option}', choices)} "
                f"(options: {', '.join(options)})"
            )
        if isinstance(err, ConfigAttributeError | ConfigKeyError) and dataclasses.is_dataclass(err.object_type):
            full = str(err.full_key)
            parent = full.rsplit(".", 1)[0] + "." if "." in full else ""
            keys = [f"{parent}{f.name}" for f in dataclasses.fields(err.object_type) if not f.name.startswith("_")]
            where = f"the {parent[:-1]} group" if parent else "the config"
            return f"{full} is not a key of {where}{_nearest(full, keys)}"
    return None


def _report(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except AqnetError as error:
        fail(str(error))
    except (HydraException, OmegaConfBaseException) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        fail(f"config: {did_you_mean(error) or _one_line(error)}")


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


def run_hydra_app(app: Callable[[], Any], config_name: str = "config") -> int:
    """Run a `@hydra.main` function (its primary config ``config_name``) with aqnet's schema, resolvers, one-line
    errors and a fast ``--help``."""
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        from aqnet.cli.help import print_help

        print_help(config_name)  # without composing every group option (Hydra's own help takes seconds)
        return 0
    try:
        register_schema()  # imports every task package: a broken one is named here
    except AqnetError as error:
        fail(str(error))
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
