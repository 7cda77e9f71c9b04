"""Two-rank CPU DDP (gloo) through Lightning's SLURMEnvironment on the local SLURM: one MLflow run, and the same
train losses and test metrics as one process with the same global batch."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.data.store_factory import make_store
from tests.launch.sweep_helpers import aqnet_train, sweep_runs
from tests.slurm.conftest import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

# Float32 partial sums per rank instead of one sum (the loss's numerator and denominator, DDP's gradient all-reduce)
# and float64 metric sums added in another order: measured ≤ 1e-7 relative after the 4 AdamW steps of debug=fast.
# rtol 1e-5 keeps two orders of magnitude of margin and is far below what a real mismatch does (a per-rank instead
# of a global denominator, or a sample seen twice, moves the losses by percents). Every metric here is ≥ 0.01.
RTOL, ATOL = 1e-5, 1e-6
PER_RANK_BATCH = 4


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five days a year: the whole val and test splits are a few batches."""
    return make_store(tmp_path_factory.mktemp("data") / "ddp.zarr")


def _run(cluster: SlurmCluster, root: Path, store: Path, *args: str) -> tuple[mlflow.entities.Run, Path]:
    """One aqnet-train job on SLURM (debug=fast: 4 steps, validated once, on the whole val and test splits);
    (its run, its dir). Whole splits, because a batch limit applies per rank: two ranks' first batches are other
    cases than one process's first batches (each rank takes every other day of the split)."""
    result = aqnet_train(
        root,
        "cluster=slurm",
        f"cluster.partition={cluster.partition}",
        "cluster.timeout_min=10",
        "debug=fast",
        "trainer.val_check_interval=4",
        "trainer.limit_val_batches=null",
        "trainer.limit_test_batches=null",
        "data=zarr",
        f"data.path={store}",
        "logger.experiment_name=ddp",
        *args,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    parent, children = sweep_runs(uri, "ddp")  # a single SLURM job is a sweep of one: a parent and its job
    client = mlflow.MlflowClient(uri)
    everything = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(children) == 1 and len(everything) == 2, [r.info.run_name for r in everything]  # ONE job run
    (child,) = children
    assert child.info.status == "FINISHED"
    return child, Path(child.data.tags["run_dir"])


def _losses(root: Path, run: mlflow.entities.Run) -> list[tuple[int, float]]:
    history = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}").get_metric_history(run.info.run_id, "train/loss")
    return sorted((m.step, m.value) for m in history)


@pytest.mark.timeout(900)
def test_two_ranks_match_one_rank_with_the_same_global_batch(
    slurm_cluster: SlurmCluster, store: Path, tmp_path: Path
) -> None:
    two_root, one_root = tmp_path / "two", tmp_path / "one"
    two, two_dir = _run(slurm_cluster, two_root, store, "cluster.tasks_per_node=2", f"data.batch_size={PER_RANK_BATCH}")
    one, one_dir = _run(slurm_cluster, one_root, store, f"data.batch_size={2 * PER_RANK_BATCH}")

    # two processes of one SLURM job, ranked by Lightning's SLURM environment, over gloo
    logs = sorted(two_root.glob("sweeps/*/.submitit/*/*_log.out"))
    assert [p.name.split("_")[1] for p in logs] == ["0", "1"], logs  # task 0 and task 1 of one job
    for rank, log in enumerate(logs):
        assert f"distributed: global rank {rank} of world size 2 (SLURMEnvironment, gloo)" in log.read_text()
    train_log = (two_dir / "train.log").read_text()
    assert "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2" in train_log
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in train_log
    assert "distributed:" not in "".join(p.read_text() for p in one_root.glob("sweeps/*/.submitit/*/*_log.out"))
    assert two.data.params["trainer.devices"] == "2" and two.data.params["trainer.strategy"] == "ddp"

    # the logged train/loss is the global loss of the global batch, step by step
    two_losses, one_losses = _losses(two_root, two), _losses(one_root, one)
    assert [s for s, _ in two_losses] == [s for s, _ in one_losses] == [0, 1, 2, 3]
    np.testing.assert_allclose([v for _, v in two_losses], [v for _, v in one_losses], rtol=RTOL, atol=ATOL)

    # every final metric (test scores of the model and baselines, best val/loss)
    finals = [json.loads((d / "finished.json").read_text()) for d in (two_dir, one_dir)]
    assert finals[0].keys() == finals[1].keys() and len(finals[0]) > 100
    keys = sorted(finals[0])
    np.testing.assert_allclose([finals[0][k] for k in keys], [finals[1][k] for k in keys], rtol=RTOL, atol=ATOL)
    tests = sorted(k for k in one.data.metrics if k.startswith("test/"))
    assert tests and sorted(k for k in two.data.metrics if k.startswith("test/")) == tests
    np.testing.assert_allclose([two.data.metrics[k] for k in tests], [one.data.metrics[k] for k in tests], rtol=RTOL)

    # the same test cases, each once: the ranks' shards together are the one process's test batches
    key = ["init_time", "lead_hours", "variable", "source"]
    cases = [
        pd.read_csv(d / "evaluation" / "test_cases.csv").sort_values(key, ignore_index=True) for d in (two_dir, one_dir)
    ]
    assert not cases[0].duplicated(key).any()
    pd.testing.assert_frame_equal(cases[0][key], cases[1][key])
    np.testing.assert_allclose(cases[0]["sse"], cases[1]["sse"], rtol=RTOL)
