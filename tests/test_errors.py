"""The error contract: one line on stderr, `aqnet: error: ...`, a non-zero exit, and nothing after it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from aqnet.errors import DataError, run_cli

class AbandonedAtShutdown:  # stands in for I/O abandoned mid-read (zarr's pending coroutines)
    def __del__(self):
        raise RuntimeError("Event loop is closed")

pending = AbandonedAtShutdown()

def main():
    raise DataError("variable 'temp' in store /x.zarr could not be read")

raise SystemExit(run_cli(main))
"""


def test_user_error_is_one_line_even_with_noise_at_shutdown() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["aqnet: error: variable 'temp' in store /x.zarr could not be read"]
