"""The CLI fixtures (a scratch output root, console scripts as subprocesses) shared with tests/cli."""

from tests.cli.conftest import root, run_cli  # noqa: F401  (fixtures)
