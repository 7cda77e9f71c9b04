"""`task=forecast` keeps its numbers: test metrics of short runs against values recorded before the task refactor.

The reference file was written by this module (``python -m tests.tasks.forecast.test_regression``) at commit
130bf85, before tasks and models became plug-ins, and is never rewritten by the test. Three configurations cover
the paths the refactor moved: the default forecaster, wind scanning with the TopoFlow bias, and the adaptive bias.
The store is the test suite's own synthetic store (not the benchmark generator, which may change on its own).

On the machine that recorded them the values are reproduced bit for bit; the tolerance only absorbs float
differences between CPU kernels of other machines (a behaviour change after 8 optimiser steps moves metrics by far
more than 1e-5 relative).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import script
from tests.data.store_factory import make_store

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).with_name("forecast_reference_metrics.json")
COMMON = ["trainer.max_steps=8", "trainer.val_check_interval=4", "data.num_workers=0", "logger.name=none"]
COMMON += ["backbone.predict=anomaly"]  # the default head when the reference was recorded (damped is now)
CASES: dict[str, list[str]] = {
    "default": [],
    # recorded when auto meant dense at these 512 tokens (auto now picks lowrank on CPU): pinned to that exact path
    "wind_scan_topoflow": ["embed=wind_scan", "physics_bias=topoflow", "physics_bias.backend=dense"],
    "adaptive": ["physics_bias=adaptive", "physics_bias.backend=chunked", "physics_bias.chunk=8"],
}
RTOL = 1e-5


def run_case(root: Path, store: Path, overrides: list[str]) -> dict[str, float]:
    env = {**os.environ, "AQNET_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    cmd = [script("aqnet-train"), "data=zarr", f"data.path={store}", *COMMON, *overrides]
    result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (finished,) = (root / "runs").glob("*/finished.json")
    metrics = json.loads(finished.read_text())
    finished.unlink()  # the next case of the same root must find only its own
    return {k: v for k, v in metrics.items() if k.startswith("test/")}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("regression") / "store.zarr")


@pytest.mark.parametrize("case", sorted(CASES))
def test_forecast_metrics_match_the_recorded_reference(case: str, store: Path, tmp_path: Path) -> None:
    expected = json.loads(REFERENCE.read_text())[case]
    got = run_case(tmp_path, store, CASES[case])
    assert set(expected) <= set(got), sorted(set(expected) - set(got))[:5]  # new scores may be added
    off = {k: (got[k], v) for k, v in expected.items() if abs(got[k] - v) > RTOL * max(abs(v), 1e-12)}
    assert not off, f"{len(off)} of {len(expected)} test metrics changed, e.g. {list(off.items())[:3]}"


def main() -> None:
    """Record the reference (run once, before a refactor; never from the test)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store_path = make_store(Path(tmp) / "store.zarr")
        out = {}
        for case, overrides in CASES.items():
            root = Path(tmp) / case
            root.mkdir()
            out[case] = run_case(root, store_path, overrides)
    REFERENCE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE} ({sum(map(len, out.values()))} metrics)", file=sys.stderr)


if __name__ == "__main__":
    main()
