"""The headline: fine-tune a finished `aqnet-train embed=wind_scan` run with the elevation bias, end to end."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import torch

from tests.cli.conftest import assert_one_line_error
from tests.launch.sweep_helpers import aqnet_train

pytestmark = pytest.mark.integration
FAST = ["debug=fast", "trainer.max_steps=4"]


@pytest.fixture(scope="module")
def wind_run(tmp_path_factory: pytest.TempPathFactory, tiny_benchmark: Path) -> tuple[Path, Path, Path]:
    """(root, store, run dir) of a finished wind-scanning run."""
    root = tmp_path_factory.mktemp("root")
    store = tiny_benchmark
    result = aqnet_train(root, "embed=wind_scan", f"data.path={store}", "logger.experiment_name=wind", *FAST)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (run_dir,) = (root / "runs").iterdir()
    return root, store, run_dir


def _weights(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _finetune(wind_run: tuple[Path, Path, Path], phase1_steps: int, *extra: str):
    """The headline command, with the plan's 2-epoch phase 1 shortened to ``phase1_steps`` optimizer steps."""
    root, store, source = wind_run
    headline = ["physics_bias=topoflow", "finetune=elevation", f"finetune.checkpoint={source}"]
    phase1 = ["finetune.phases.0.epochs=null", f"finetune.phases.0.steps={phase1_steps}"]
    return aqnet_train(root, *headline, *phase1, f"data.path={store}", *extra, *FAST)


def test_headline_elevation_finetune(wind_run: tuple[Path, Path, Path]) -> None:
    root, store, source = wind_run
    result = _finetune(wind_run, 2, "logger.experiment_name=finetune")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "1 new" in out and "physics_bias.alpha" in out  # the console table lists what changed
    assert "fine-tune phase 1/2 'block0_and_physics' from step 0" in out
    assert "fine-tune phase 2/2 'everything' from step 2" in out and "lr 1e-05" in out
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("finetune").experiment_id])
    assert run.data.params["choice.embed"] == "wind_scan" and run.data.params["embed.name"] == "wind_scan"
    assert run.data.params["finetune.checkpoint"] == str(source)
    assert [m.value for m in client.get_metric_history(run.info.run_id, "finetune/phase")] == [1.0, 2.0]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "finetune")] == ["finetune/load_report.txt"]
    report = (Path(run.data.tags["run_dir"]) / "finetune" / "load_report.txt").read_text()
    assert "physics_bias.alpha" in report and "wind_scan.rank_embed" in report and "0 dropped" in report


def test_phase_one_leaves_frozen_weights_bit_identical(wind_run: tuple[Path, Path, Path]) -> None:
    root, store, source = wind_run
    result = _finetune(wind_run, 100, "logger=none")  # the whole 4-step budget stays in phase 1
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = Path(result.stdout.split("run directory: ")[1].split()[0])
    before, after = _weights(source / "checkpoints" / "best.ckpt"), _weights(run_dir / "checkpoints" / "last.ckpt")
    trained = [k for k in after if k.startswith("blocks.0.") and not torch.equal(after[k], before[k])]
    assert trained, "block 0 did not train in phase 1"
    assert after["physics_bias.alpha"].item() != 1.0
    for key in ("blocks.1.attn.qkv.weight", "pos_embed", "token_embeds.proj_weights", "head.2.weight"):
        assert torch.equal(after[key], before[key]), f"{key} changed while frozen"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["finetune=elevation"], "finetune.checkpoint"),
        (["finetune=elevation", "finetune.checkpoint=/no/such/run"], "/no/such/run"),
        (["finetune=elevation", "finetune.checkpoint=0123456789abcdef0123456789abcdef"], "unknown MLflow run id"),
        (["finetune=elevation", "embed=parallel", "finetune.checkpoint={source}"], "embed.name: wind_scan → parallel"),
        (["finetune.checkpoint={source}", "backbone.embed_dim=32"], "backbone.embed_dim: 64 → 32"),
        (["finetune=elevation", "finetune.checkpoint={source}/train.log"], "not a readable PyTorch checkpoint"),
    ],
    ids=["no-checkpoint", "missing", "unknown-mlflow-id", "other-embed", "other-width", "not-a-checkpoint"],
)
def test_finetune_errors(wind_run: tuple[Path, Path, Path], overrides: list[str], named: str) -> None:
    root, store, source = wind_run
    args = [o.replace("{source}", str(source)) for o in overrides]
    runs_before = set((root / "runs").iterdir())
    result = aqnet_train(root, "physics_bias=topoflow", *args, f"data.path={store}", "logger=none", *FAST)
    assert_one_line_error(result, named)
    new_dirs = set((root / "runs").iterdir()) - runs_before
    assert all(not (d / "checkpoints").exists() for d in new_dirs), "nothing trained"
