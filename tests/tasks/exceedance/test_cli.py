"""``task=exceedance`` through the real console scripts on a small store: a two-seed sweep of the U-Net-FiLM
(tracked, with its plots and per-case counts), aqnet-compare's case-level test of CSI, aqnet-eval / aqnet-predict,
and ``model=climax`` fine-tuned from a ClimaX forecaster."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
import xarray as xr

from tests.cli.conftest import script
from tests.data.store_factory import make_store

pytestmark = pytest.mark.integration

SHORT = ["trainer.max_steps=4", "trainer.val_check_interval=2", "trainer.log_every_n_steps=1"]
SHORT += ["scheduler.warmup_steps=1", "data.num_workers=0", "task.lead_hours=[12,24]"]
UNET = ["task=exceedance", "model=unet_film", "model.width=4", "model.depth=2"]
PLOTS = ("reliability.png", "performance.png", "csi_by_lead.png", "probability_maps.png")


class Root:
    def __init__(self, root: Path, store: Path) -> None:
        self.root, self.store = root, store
        self.client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")

    def cli(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AQNET_ROOT": str(self.root), "PYTHONUNBUFFERED": "1"}
        env.pop("HYDRA_FULL_ERROR", None)
        return subprocess.run(
            [script(name), *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=900
        )

    def train(self, *args: str, sweep: bool = False) -> subprocess.CompletedProcess[str]:
        flags = ["-m"] if sweep else []
        result = self.cli("aqnet-train", *flags, "data=zarr", f"data.path={self.store}", *SHORT, *args)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    def runs(self, experiment: str) -> list[mlflow.entities.Run]:
        found = self.client.get_experiment_by_name(experiment)
        runs = [] if found is None else self.client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'")
        return [r for r in runs if "run_dir" in r.data.tags]  # the jobs, not a sweep's parent run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Root:
    """A sweep over two seeds: auto loss weights, the decision threshold optimised on validation."""
    root = tmp_path_factory.mktemp("root")
    store = make_store(tmp_path_factory.mktemp("data") / "store.zarr")
    out = Root(root, store)
    out.train(
        *UNET, "seed=0,1", "task.loss.pos_weight=auto", "task.loss.focal_alpha=auto",
        "task.decision_threshold=optimise_on_val", "logger.experiment_name=exceedance", sweep=True,
    )  # fmt: skip
    return out


def _run_dir(run: mlflow.entities.Run) -> Path:
    return Path(run.data.tags["run_dir"])


def test_the_sweep_logs_the_loss_parts_scores_references_and_plots(trained: Root) -> None:
    runs = trained.runs("exceedance")
    assert len(runs) == 2 and {r.data.params["seed"] for r in runs} == {"0", "1"}
    for run in runs:
        metrics = set(run.data.metrics)
        assert {"train/loss", "train/loss_bce", "train/loss_dice", "train/loss_focal", "val/loss"} <= metrics
        for source in ("", "persistence_", "climatology_"):
            for score in ("csi", "ets", "pod", "far", "f1", "brier", "bss", "ap"):
                assert f"test/{source}{score}_pm25_gt75_12h" in metrics or score in ("far",), (source, score)
        assert "test/csi_pm25_gt150_24h" in metrics and "val/csi_pm25_gt75_24h" in metrics
        assert run.data.metrics["test/climatology_bss_pm25_gt75_12h"] == pytest.approx(0.0, abs=1e-9)
        evaluation = _run_dir(run) / "evaluation"
        assert all((evaluation / "plots" / name).stat().st_size > 1000 for name in PLOTS)
        logged = {a.path for a in trained.client.list_artifacts(run.info.run_id, "evaluation/plots")}
        assert {f"evaluation/plots/{name}" for name in PLOTS} <= logged
        # the per-case counts sum to the logged CSI (a ratio of sums over the cases)
        counts = pd.read_csv(evaluation / "test_case_counts.csv")
        for source, prefix in (("model", ""), ("persistence", "persistence_")):
            part = counts[(counts.source == source) & (counts.lead_hours == 12)]
            tp, fp, fn = (part[f"pm25_gt75_{c}"].sum() for c in ("tp", "fp", "fn"))
            assert run.data.metrics[f"test/{prefix}csi_pm25_gt75_12h"] == pytest.approx(tp / (tp + fp + fn), rel=1e-6)
            brier = part["pm25_gt75_brier"].sum() / part["pm25_gt75_weight"].sum()
            assert run.data.metrics[f"test/{prefix}brier_pm25_gt75_12h"] == pytest.approx(brier, rel=1e-6)
        # calibration and decision thresholds travel in the checkpoint
        state = torch.load(_run_dir(run) / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
        assert state["platt"].shape == (2, 2, 2) and state["decision"].shape == (2, 2)
        assert ((state["decision"] > 0) & (state["decision"] < 1)).all()


def test_compare_tests_csi_case_by_case_higher_is_better(trained: Root, tmp_path: Path) -> None:
    out = tmp_path / "comparison"
    metric = "test/csi_pm25_gt75_12h"
    result = trained.cli("aqnet-compare", "--by", "seed", "--metric", metric, "--baseline", "0", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = pd.read_csv(out / "comparisons.csv").to_dict("records")
    assert row["metric"] == metric and row["n_cases"] > 3
    # the per-case pseudo-values average to each run's CSI: the case-level difference is the score difference
    assert row["case_diff"] == pytest.approx(row["diff"], abs=1e-6)
    assert row["better"] == ("group" if row["mean"] > row["mean_baseline"] else "reference")


def test_eval_and_predict_write_scores_and_probabilities(trained: Root, tmp_path: Path) -> None:
    run = next(r for r in trained.runs("exceedance") if r.data.params["seed"] == "0")
    run_dir = _run_dir(run)
    result = trained.cli("aqnet-eval", f"run={run_dir}", "split=val", "log_to_mlflow=false")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    scored = json.loads((run_dir / "eval" / "val_best_metrics.json").read_text())["metrics"]
    assert "val/persistence_csi_pm25_gt75_12h" in scored and "val/bss_pm25_gt75_24h" in scored
    # the test split again: the numbers of the training run's own test epoch
    result = trained.cli("aqnet-eval", f"run={run_dir}", "log_to_mlflow=false", "plots=false")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    again = json.loads((run_dir / "eval" / "test_best_metrics.json").read_text())["metrics"]
    finished = json.loads((run_dir / "finished.json").read_text())
    for name in ("test/csi_pm25_gt75_12h", "test/brier_pm25_gt150_24h", "test/ap_pm25_gt75_24h"):
        assert again[name] == pytest.approx(finished[name], rel=1e-9)

    out = tmp_path / "warn.nc"
    result = trained.cli("aqnet-predict", f"run={run_dir}", "init_time=2018-01-10T06:00", f"out={out}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with xr.open_dataset(out) as ds:
        assert set(ds.data_vars) == {"pm25_gt75", "pm25_gt150"} and ds["pm25_gt75"].attrs["units"] == "1"
        assert ds.sizes["lead_time"] == 2 and float(ds["pm25_gt75"].min()) >= 0 and float(ds["pm25_gt75"].max()) <= 1


def test_climax_logit_head_fine_tuned_from_a_forecaster_and_compared_to_it(trained: Root) -> None:
    trained.train("task=forecast", "task.targets=[pm25]", "logger.experiment_name=forecaster")
    (source,) = trained.runs("forecaster")
    forecaster = str(_run_dir(source))
    args = ["task=exceedance", "model=climax", f"finetune.checkpoint={forecaster}", f"task.compare_to={forecaster}"]
    result = trained.train(*args, "logger.experiment_name=vit")
    assert "reshaped" in result.stdout and "CSI forecast" in result.stdout
    (run,) = trained.runs("vit")
    report = (_run_dir(run) / "finetune" / "load_report.txt").read_text()
    assert "new outputs: initialised" in report and "blocks.0" in report
    # the forecaster's thresholded fields are scored as a reference beside the model
    assert {"test/forecast_csi_pm25_gt75_12h", "test/forecast_bss_pm25_gt150_24h"} <= set(run.data.metrics)
