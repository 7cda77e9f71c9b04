"""The studies under experiments/ run as their READMEs say: the script itself, at smoke-test size."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.conftest import BIN, assert_one_line_error

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SMOKE = ["debug=fast", "trainer.max_steps=2"]


def run_study(script: Path, root: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AQNET_ROOT": str(root), "SEEDS": "0", "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_elevation_ablation_runs_every_arm_and_compares_them_with_the_plain_model(
    tmp_path: Path, tiny_benchmark: Path
) -> None:
    script, root = REPO / "experiments" / "elevation_ablation" / "run.sh", tmp_path / "root"
    result = run_study(script, root, tmp_path, *SMOKE, f"data.path={tiny_benchmark}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    out = root / "comparison"
    comp = pd.read_csv(out / "comparisons.csv")
    pairs = comp[["group", "baseline"]].drop_duplicates()
    assert set(pairs["baseline"]) == {"physics_bias=none, direction=n/a, control=n/a"}
    arms = {g.replace("physics_bias=", "") for g in pairs["group"]}
    assert arms == {
        "topoflow, direction=source_higher, control=None",
        "topoflow, direction=receptor_higher, control=None",
        "topoflow, direction=source_higher, control=shuffled_elevation",
        "adaptive, direction=source_higher, control=None",
    }
    assert len(list(out.glob("rmse_difference_map_*.png"))) == 4 and (out / "alpha.png").exists()
    assert set(pd.read_csv(out / "regions.csv")["region"]) >= {"sichuan_basin", "domain"}

    store = (root / "mlflow.db").read_bytes()
    again = run_study(script, root, tmp_path, *SMOKE, f"data.path={tiny_benchmark}")
    assert_one_line_error(again, "mlflow.db exists", "AQNET_ROOT")
    assert (root / "mlflow.db").read_bytes() == store  # nothing ran, nothing was overwritten
