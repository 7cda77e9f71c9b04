from tests.cli.conftest import root, run_cli  # noqa: F401  (the CLI fixtures, shared)
