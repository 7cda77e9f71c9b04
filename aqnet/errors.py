"""User-facing errors.

Every error a user can cause is raised as an :class:`AqnetError` whose message is one line naming what is wrong,
where (which key, variable or file) and how to fix it. CLI entry points turn it into
``aqnet: error: <message>`` on stderr and a non-zero exit (see :func:`run_cli`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import NoReturn

EXIT_USER_ERROR = 2


class AqnetError(Exception):
    """An error caused by the user's input (config, data, paths); reported as one line, without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # always one line


class ConfigError(AqnetError):
    """A configuration key is unknown, mistyped or impossible."""


class DataError(AqnetError):
    """A data store, variable, unit or value is missing or invalid."""


def fail(message: str) -> NoReturn:
    """Print ``aqnet: error: <message>`` to stderr and exit with a non-zero status."""
    print(f"aqnet: error: {' '.join(str(message).split())}", file=sys.stderr)
    _quiet_shutdown()
    raise SystemExit(EXIT_USER_ERROR)


def _quiet_shutdown() -> None:
    """Keep the error to its one line while the interpreter exits.

    An error raised mid-read (a corrupt chunk) abandons I/O still in flight on zarr's background event loop; at
    shutdown Python would report each abandoned coroutine ("Exception ignored ... Event loop is closed").
    """
    sys.unraisablehook = lambda _unraisable: None
    warnings.simplefilter("ignore")


def run_cli(entry: Callable[[], int | None]) -> int:
    """Run a CLI entry point, turning :class:`AqnetError` into the one-line error contract."""
    try:
        return entry() or 0
    except AqnetError as err:
        fail(str(err))
    except KeyboardInterrupt:
        print("aqnet: interrupted", file=sys.stderr)
        return 130
