"""`aqnet-eval` and `aqnet-predict` as subprocesses on one short run of the tiny benchmark."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import xarray as xr
import yaml
from omegaconf import OmegaConf

from tests.cli.conftest import assert_one_line_error, script
from tests.launch.sweep_helpers import aqnet_train

pytestmark = pytest.mark.integration

# not the default backbone (climax_tiny: embed_dim 64, depth 3): a tool that built the model from today's
# defaults instead of the run's saved config would fail the strict load
ARCHITECTURE = ["backbone.embed_dim=32", "backbone.depth=2"]
INIT = "2018-01-05T06:00"  # a test-split time of the tiny benchmark; valid times up to +96 h stay in the store
POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co", "o3")
RANGE = "2013-01-01T00 … 2018-10-15T18"  # the tiny benchmark's time axis, as errors name it


class Run:
    def __init__(self, root: Path, store: Path, run_dir: Path) -> None:
        self.root, self.store, self.dir = root, store, run_dir
        self.id = run_dir.name
        self.mlflow_id = (run_dir / "mlflow_run_id").read_text().strip()
        self.client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")

    def cli(self, name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AQNET_ROOT": str(self.root), "PYTHONUNBUFFERED": "1"}
        env.pop("HYDRA_FULL_ERROR", None)
        return subprocess.run(
            [script(name), *args], cwd=cwd or self.root, env=env, capture_output=True, text=True, timeout=600
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_benchmark: Path) -> Run:
    root = tmp_path_factory.mktemp("root")
    store = tiny_benchmark
    result = aqnet_train(root, "debug=fast", "trainer.max_steps=4", f"data.path={store}", *ARCHITECTURE)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (run_dir,) = (root / "runs").iterdir()
    return Run(root, store, run_dir)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


# -- aqnet-eval ------------------------------------------------------------------------------------------------------
def test_eval_prints_logs_to_the_same_run_and_plots(run: Run) -> None:
    experiment = run.client.get_run(run.mlflow_id).info.experiment_id
    runs_before = len(run.client.search_runs([experiment]))
    # the run's own config: its backbone (not today's default) and its data; limit 2 = what its training tested
    out = _ok(run.cli("aqnet-eval", f"run={run.id}", "limit_batches=2"))
    assert "test RMSE" in out and "pm25" in out and "96h" in out
    assert "test/sichuan_basin RMSE" in out and "test/north_china_plain RMSE" in out
    assert f"MLflow run {run.mlflow_id}" in out

    assert len(run.client.search_runs([experiment])) == runs_before  # no new MLflow run
    mlrun = run.client.get_run(run.mlflow_id)
    metrics, tags = mlrun.data.metrics, mlrun.data.tags
    for name in (
        "test/rmse_pm25_24h",
        "test/mae_o3_96h",
        "test/bias_co_12h",
        "test/persistence_rmse_no2_48h",
        "test/climatology_rmse_so2_24h",
        "test/skill_persistence_pm10_24h",
        "test/skill_climatology_pm25_12h",
        "test/sichuan_basin/rmse_pm25_24h",
        "test/north_china_plain/persistence_rmse_o3_12h",
        "test/sichuan_basin/skill_persistence_co_48h",
    ):
        assert name in metrics, name
    assert tags["eval.test.checkpoint"] == str(run.dir / "checkpoints" / "best.ckpt")
    assert tags["eval.test.global_step"].isdigit()
    # training's test epoch (best checkpoint, 2 batches) and this evaluation scored the same model on the same
    # samples: the metric's history holds both values, and they agree
    history = run.client.get_metric_history(run.mlflow_id, "test/rmse_pm25_24h")
    assert len(history) == 2
    assert history[0].value == pytest.approx(history[1].value, rel=1e-5)
    regional = run.client.get_metric_history(run.mlflow_id, "test/sichuan_basin/rmse_pm25_24h")
    assert len(regional) == 1 and regional[0].value != pytest.approx(metrics["test/rmse_pm25_24h"])

    files = sorted(p.name for p in (run.dir / "eval").iterdir())
    assert files == ["test_best_case_2018-01-01T00_24h.png", "test_best_metrics.json", "test_best_rmse_by_lead.png"]
    for png in (run.dir / "eval").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    record = json.loads((run.dir / "eval" / "test_best_metrics.json").read_text())
    for name in ("test/rmse_pm25_24h", "test/sichuan_basin/mae_o3_96h"):  # the run's value is the evaluation's
        assert metrics[name] == pytest.approx(record["metrics"][name], rel=1e-6)
    artifacts = {a.path for a in run.client.list_artifacts(run.mlflow_id, "eval")}
    assert {f"eval/{name}" for name in files} <= artifacts


def test_eval_uses_the_runs_config_not_the_command_line(run: Run) -> None:
    saved = OmegaConf.load(run.dir / "config.yaml")
    assert saved.backbone.embed_dim == 32 and saved.backbone.depth == 2  # what the eval above rebuilt
    # the run's architecture and data cannot be overridden from aqnet-eval: its keys are the tool's own
    result = run.cli("aqnet-eval", f"run={run.id}", "backbone.embed_dim=64")
    assert_one_line_error(result, "backbone")


# -- aqnet-predict ---------------------------------------------------------------------------------------------------
def _direct_forecast(run: Run, init: np.datetime64, which: str = "best") -> dict[int, np.ndarray]:
    """lead → [V, H, W]: the Forecaster built here from the run's config, fed by the training data module."""
    from aqnet import builders
    from aqnet.config.schema import typed_run_config
    from aqnet.data.batch import collate_batch

    cfg = typed_run_config(yaml.safe_load((run.dir / "config.yaml").read_text()))
    task = builders.build_task(cfg)
    dm = task.datamodule(cfg, Path(cfg.data.path))
    dm.setup("test")
    model = builders.build_model(cfg, task, dm)
    state = torch.load(run.dir / "checkpoints" / f"{which}.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    model.eval()
    data = dm.datasets["test"]
    init_s = init.astype("datetime64[s]").astype(np.int64)
    out = {}
    for k in np.flatnonzero(data.times[data.index.init_index] == init_s):
        batch = collate_batch([data[int(k)]])
        with torch.no_grad():
            pred = model.predict_physical(batch.inputs, batch.lead_hours, batch.hour_of_day, batch.day_of_year)
        out[int(data.index.lead_hours[k])] = pred[0].clamp_min(0).numpy()
    return out


def _check_cf(ds: xr.Dataset, run: Run) -> None:
    assert ds.attrs["Conventions"] == "CF-1.8"
    assert ds.attrs["source"].startswith("aqnet ") and "aqnet-predict" in ds.attrs["history"]
    assert ds.attrs["aqnet_run_id"] == run.id and ds.attrs["mlflow_run_id"] == run.mlflow_id
    assert ds.attrs["git_sha"] == run.client.get_run(run.mlflow_id).data.tags["git_sha"]
    assert set(ds.data_vars) == set(POLLUTANTS)
    for name in POLLUTANTS:
        var = ds[name]
        assert var.dims == ("init_time", "lead_time", "lat", "lon") and var.dtype == np.float32
        assert var.attrs["units"] == "µg m-3" and var.attrs["standard_name"].startswith("mass_concentration_of_")
        assert var.attrs["long_name"]
        values = var.values
        assert np.isfinite(values).all() and (values >= 0).all()
    assert np.issubdtype(ds.lead_time.dtype, np.timedelta64)
    assert list(ds.lead_time.values / np.timedelta64(1, "h")) == [12, 24, 48, 96]
    assert ds.lead_time.attrs["standard_name"] == "forecast_period"
    assert ds.init_time.attrs["standard_name"] == "forecast_reference_time"
    assert ds.valid_time.dims == ("init_time", "lead_time") and ds.valid_time.attrs["standard_name"] == "time"
    np.testing.assert_array_equal(ds.valid_time.values, ds.init_time.values[:, None] + ds.lead_time.values[None, :])
    assert ds.lat.attrs["units"] == "degrees_north" and ds.lat.attrs["axis"] == "Y"
    assert ds.lon.attrs["units"] == "degrees_east" and ds.lon.attrs["axis"] == "X"
    assert ds.sizes["lat"] == 32 and ds.sizes["lon"] == 64 and (np.diff(ds.lat.values) > 0).all()


def test_predict_netcdf_matches_the_forecaster(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "forecast.nc"
    printed = _ok(run.cli("aqnet-predict", f"run={run.dir}", f"init_time={INIT}", f"out={out}", cwd=tmp_path))
    assert str(out) in printed and [p.name for p in tmp_path.iterdir()] == ["forecast.nc"]  # no temp file left
    with xr.open_dataset(out) as ds:
        _check_cf(ds, run)
        assert ds.attrs["checkpoint"] == str(run.dir / "checkpoints" / "best.ckpt")
        assert ds.sizes["init_time"] == 1 and str(ds.init_time.values[0])[:16] == INIT
        expected = _direct_forecast(run, np.datetime64(INIT))
        assert sorted(expected) == [12, 24, 48, 96]
        for j, lead in enumerate((12, 24, 48, 96)):
            got = np.stack([ds[name].values[0, j] for name in POLLUTANTS])
            np.testing.assert_allclose(got, expected[lead], rtol=1e-5, atol=1e-4)


def test_predict_zarr_range_by_mlflow_id_and_overwrite(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "forecast.zarr"
    args = [f"run={run.mlflow_id}", "checkpoint=last", "init_times=2018-01-05T00:00:2018-01-05T18:00", f"out={out}"]
    _ok(run.cli("aqnet-predict", *args))
    with xr.open_zarr(out) as ds:
        _check_cf(ds, run)
        assert ds.attrs["checkpoint"] == str(run.dir / "checkpoints" / "last.ckpt")
        assert [str(t)[:13] for t in ds.init_time.values] == [f"2018-01-05T{h:02d}" for h in (0, 6, 12, 18)]
        expected = _direct_forecast(run, np.datetime64("2018-01-05T12:00"), which="last")
        got = np.stack([ds[name].values[2, 1] for name in POLLUTANTS])  # init 12 UTC, lead 24 h
        np.testing.assert_allclose(got, expected[24], rtol=1e-5, atol=1e-4)
    # an existing output is refused (and left as it was) unless overwrite=true
    refused = run.cli("aqnet-predict", *args[:2], f"init_time={INIT}", f"out={out}")
    assert_one_line_error(refused, f"out={out}", "exists", "overwrite=true")
    assert xr.open_zarr(out).sizes["init_time"] == 4
    _ok(run.cli("aqnet-predict", *args[:2], f"init_time={INIT}", f"out={out}", "overwrite=true"))
    assert xr.open_zarr(out).sizes["init_time"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.zarr"]


# -- bad input: one line each ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tool", "args", "fragments"),
    [
        ("aqnet-eval", [], ["run= is required"]),
        ("aqnet-eval", ["run=20990101T000000000000Z"], ["run=20990101T000000000000Z", "no such", "run id"]),
        ("aqnet-eval", ["run={run}", "checkpoint=other"], ["checkpoint=other", "best, last"]),
        ("aqnet-eval", ["run={run}", "+regions.arctic={{lat:[80,85],lon:[0,10]}}"], ["regions.arctic", "no cell"]),
        ("aqnet-eval", ["run={run}", "+regions.persistence={{lat:[30,35],lon:[110,115]}}"], ["regions.persistence"]),
        ("aqnet-predict", ["run={run}", "init_time=2030-01-01"], ["init_time=2030-01-01", "outside", RANGE]),
        ("aqnet-predict", ["run={run}", "init_times=2019-01-01:2019-12-31"], ["2019-12-31", "selects no time", RANGE]),
        ("aqnet-predict", ["run={run}", "init_time=2018-01-05", "out=f.csv"], ["out=f.csv", "unsupported suffix"]),
    ],
    ids=[
        "no-run",
        "unknown-run",
        "bad-checkpoint",
        "region-off-grid",
        "region-named-like-a-reference",
        "init-outside-store",
        "empty-range",
        "bad-suffix",
    ],
)
def test_bad_input_is_one_line(run: Run, tool: str, args: list[str], fragments: list[str], tmp_path: Path) -> None:
    result = run.cli(tool, *(a.format(run=run.id) for a in args), cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_run_without_checkpoint(run: Run, tmp_path: Path) -> None:
    bare = tmp_path / "bare-run"
    bare.mkdir()
    shutil.copy(run.dir / "config.yaml", bare / "config.yaml")
    result = run.cli("aqnet-predict", f"run={bare}", f"init_time={INIT}", cwd=tmp_path)
    assert_one_line_error(result, f"run={bare}", "no best checkpoint")


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aqnet.inference.output import forecast_dataset, write_dataset

    values = np.full((1, 2, 6, 3, 4), -1.0, dtype=np.float32)
    ds = forecast_dataset(
        values,
        np.array(["2018-01-05T06"], "datetime64[s]"),
        [12, 24],
        np.arange(3.0),
        np.arange(4.0),
        POLLUTANTS,
        {"Conventions": "CF-1.8"},
    )
    target = tmp_path / "forecast.nc"
    target.write_bytes(b"old")

    def broken(self: xr.Dataset, path: Path, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(ds, target, "netcdf", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.nc"] and target.read_bytes() == b"old"


def test_clamp_only_concentrations() -> None:
    from aqnet.inference.predict import clamp_concentrations

    pred = torch.full((1, 3, 2, 2), -1.0)
    out = clamp_concentrations(pred, ["pm25", "temp", "o3"])
    assert out[:, 0].eq(0).all() and out[:, 1].eq(-1).all() and out[:, 2].eq(0).all()
