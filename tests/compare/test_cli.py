"""`aqnet-compare` as a subprocess against a real MLflow store filled by real (tiny) `aqnet-train` runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.cli.conftest import assert_one_line_error, script

pytestmark = pytest.mark.integration

SWEEP = ["-m", "physics_bias=none,topoflow", "seed=0,1", "debug=fast", "trainer.max_steps=4"]
SWEEP += ["trainer.val_check_interval=2", "trainer.limit_test_batches=8", "logger.experiment_name=cmp"]
# The default head adds to damped persistence and starts near it: 4 steps inside the quickstart's warm-up leave the
# two arms equal to float precision (no spread across seeds, no test). Full steps at once make them differ.
SWEEP += ["scheduler.warmup_steps=0", "optim.lr=0.01"]
PNGS = (
    "learning_curves.png",
    "rmse_by_lead.png",
    "difference_by_lead.png",
    "alpha.png",
    "rmse_difference_map_topoflow.png",
)


def run(name: str, *args: str, root: Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AQNET_ROOT": str(root), "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([script(name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_benchmark: Path) -> Path:
    """An output root holding a 2 × 2 sweep (physics_bias × seed) of finished debug runs."""
    root = tmp_path_factory.mktemp("cmp-root")
    result = run("aqnet-train", *SWEEP, f"data.path={tiny_benchmark}", root=root, cwd=root, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def compare(root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("aqnet-compare", *args, root=root, cwd=tmp_path)


def client(root: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def finished_runs(root: Path) -> list[mlflow.entities.Run]:
    c = client(root)
    runs = c.search_runs([c.get_experiment_by_name("cmp").experiment_id])
    return [r for r in runs if "choice.physics_bias" in r.data.params]


def test_runs_log_their_per_case_errors_and_maps(store: Path) -> None:
    runs = finished_runs(store)
    assert len(runs) == 4
    for r in runs:
        listed = {a.path for a in client(store).list_artifacts(r.info.run_id, "evaluation")}
        assert listed == {"evaluation/test_cases.csv", "evaluation/test_error_maps.nc", "evaluation/test_daily.csv"}


def test_compare_groups_writes_tables_and_figures(store: Path, tmp_path: Path) -> None:
    result = compare(store, tmp_path, "--mlflow-experiment", "cmp", "--by", "physics_bias", "--baseline", "none")
    out = store / "comparisons" / "cmp_by_physics_bias"  # the default --out
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    for fragment in ("physics_bias=none", "physics_bias=topoflow vs physics_bias=none", "test/rmse_pm25_24h", "★"):
        assert fragment in text, fragment
    assert "4 finished, 0 left out" in text and "(n=2)" in text and "Holm" in text and "paired-t" in text

    for name in ("summary.md", "summary.csv", "comparisons.csv", "report.html", "regions.csv"):
        assert (out / name).stat().st_size > 0, name
    for name in PNGS:
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(PNGS) and "Holm" in html

    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 24 and (summary["n"] == 2).all()
    assert summary.groupby("metric")["best"].sum().eq(1).all()
    # the group mean is the mean of what MLflow holds
    logged = [
        r.data.metrics["test/rmse_o3_48h"]
        for r in finished_runs(store)
        if r.data.params["choice.physics_bias"] == "none"
    ]
    row = summary[(summary.metric == "test/rmse_o3_48h") & (summary.group == "physics_bias=none")].iloc[0]
    assert row["mean"] == pytest.approx(sum(logged) / 2, rel=1e-5)

    comp = pd.read_csv(out / "comparisons.csv")
    assert len(comp) == 24 and set(comp["method"]) == {"paired-t"}
    assert (comp["n_cases"] == 8).all() and (comp["spacing_h"] == 6).all()
    # 8 cases are fewer than the lead plus one day at 6 h (6-20 cases): the windows are capped and the note says so
    assert (comp["block_length"] == 4).all() and (comp["dm_bandwidth"] == 6).all()
    assert comp["case_note"].str.contains("windows shorter than the lead plus one day").all()
    assert comp["p_boot"].between(0, 1).all() and (comp["p_boot_adj"] >= comp["p_boot"] - 1e-12).all()
    assert comp["p_dm"].notna().all()
    assert "## Comparisons" in (out / "summary.md").read_text()
    assert set(comp["better"]) <= {"group", "reference", "equal"}

    regions = pd.read_csv(out / "regions.csv")
    builtin = {"sichuan_basin", "north_china_plain", "yangtze_river_delta", "pearl_river_delta", "fenwei_plain"}
    assert set(regions["region"]) == {"domain", *builtin, "largest change"}
    assert (regions["lead_hours"] == 24).all() and len(regions) == 7 * 6
    rounded = (regions["rmse"] - regions["rmse_baseline"]).to_numpy()  # from 6 significant digits
    assert ((regions["diff"] - rounded).abs() <= 1e-5 * regions["rmse"]).all()
    assert "Δ test RMSE by region, lead 24 h: physics_bias=topoflow − physics_bias=none" in text


def test_keys_a_baseline_option_lacks_are_not_applicable(store: Path, tmp_path: Path) -> None:
    """physics_bias=none logs no physics_bias.direction: its runs group as n/a and stay the baseline of topoflow."""
    none_params = next(r.data.params for r in finished_runs(store) if r.data.params["choice.physics_bias"] == "none")
    assert "physics_bias.direction" not in none_params and none_params["physics_bias.name"] == "none"
    args = ["--mlflow-experiment", "cmp", "--by", "physics_bias", "--by", "physics_bias.direction"]
    args += ["--metric", "test/rmse_pm25_24h", "--out", str(tmp_path / "o")]
    result = compare(store, tmp_path, *args, "--map-group", "physics_bias.direction=source_higher")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 finished, 0 left out" in result.stdout
    comp = pd.read_csv(tmp_path / "o" / "comparisons.csv")
    assert comp[["group", "baseline"]].drop_duplicates().values.tolist() == [
        [
            "physics_bias=topoflow, direction=source_higher",
            "physics_bias=none, direction=n/a",
        ]
    ]
    assert (tmp_path / "o" / "rmse_difference_map_topoflow_source_higher.png").exists()
    bad = compare(store, tmp_path, *args, "--map-group", "physics_bias.dir=up")
    assert_one_line_error(bad, "--map-group 'physics_bias.dir=up'", "not a --by key")


def test_two_arms_compare_directly_either_way(store: Path, tmp_path: Path) -> None:
    """--pair GROUP REFERENCE: any two groups, here the plain model against TopoFlow, the reverse of the baseline."""
    args = ["--mlflow-experiment", "cmp", "--by", "physics_bias", "--metric", "test/rmse_pm25_24h"]
    forward = compare(store, tmp_path, *args, "--out", str(tmp_path / "f"))
    reverse = compare(store, tmp_path, *args, "--pair", "physics_bias=none", "topoflow", "--out", str(tmp_path / "r"))
    assert forward.returncode == 0 and reverse.returncode == 0, forward.stderr[-3000:] + reverse.stderr[-3000:]
    assert "physics_bias=none vs physics_bias=topoflow" in reverse.stdout
    f, r = (pd.read_csv(tmp_path / name / "comparisons.csv").iloc[0] for name in ("f", "r"))
    assert (r["group"], r["baseline"]) == ("physics_bias=none", "physics_bias=topoflow")
    for column in ("diff", "case_diff"):
        assert r[column] == pytest.approx(-f[column])
    assert r["p_seed"] == pytest.approx(f["p_seed"]) and r["p_dm"] == pytest.approx(f["p_dm"])
    assert {f["better"], r["better"]} == {"group", "reference"}
    assert (tmp_path / "r" / "rmse_difference_map_none.png").exists()


def test_sweep_selects_its_runs(store: Path, tmp_path: Path) -> None:
    (sweep_id,) = {r.data.tags["sweep_id"] for r in finished_runs(store)}
    args = ["--sweep", sweep_id, "--by", "physics_bias", "--metric", "test/rmse_pm25_24h", "--correction", "bh"]
    result = compare(store, tmp_path, *args, "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 finished" in result.stdout and "Benjamini" in result.stdout
    assert "1 pollutant × lead tests" in result.stdout
    assert_one_line_error(compare(store, tmp_path, "--sweep", "no-such-sweep", "--by", "physics_bias"), "no runs match")


def test_one_run_per_group_says_there_is_no_std(store: Path, tmp_path: Path) -> None:
    args = ["--mlflow-experiment", "cmp", "--filter", "params.seed = '0'", "--by", "physics_bias"]
    args += ["--metric", "test/rmse_pm25_24h", "--map-group", "adaptive", "--out", str(tmp_path / "o")]
    result = compare(store, tmp_path, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(n=1, no std)" in result.stdout and "one run: no std" in result.stdout
    assert "no compared group matches --map-group adaptive" in result.stdout
    assert not list((tmp_path / "o").glob("rmse_difference_map*.png"))


def test_failed_running_and_ungroupable_runs_are_listed_not_used(store: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    root.mkdir()
    shutil.copy(store / "mlflow.db", root / "mlflow.db")  # artifacts stay where the URIs point
    c = client(root)
    experiment = c.get_experiment_by_name("cmp").experiment_id
    running = c.create_run(experiment, tags={"sweep_id": "x"})  # a sweep still in progress
    c.log_param(running.info.run_id, "choice.physics_bias", "topoflow")
    failed = c.create_run(experiment)
    c.log_param(failed.info.run_id, "choice.physics_bias", "none")
    c.set_terminated(failed.info.run_id, "FAILED")
    stray = c.create_run(experiment)  # finished, with metrics, but no physics_bias choice
    c.log_metric(stray.info.run_id, "test/rmse_pm25_24h", 1.0)
    c.set_terminated(stray.info.run_id, "FINISHED")

    args = ["--mlflow-experiment", "cmp", "--by", "physics_bias", "--metric", "test/rmse_pm25_24h"]
    result = compare(root, tmp_path, *args, "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    assert "4 finished, 3 left out" in text
    assert "RUNNING: left out of the statistics" in text and "FAILED: left out" in text
    assert "lacks param choice.physics_bias" in text
    assert "(n=2)" in text


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--filter", "params.seed = '99'"], ["no runs match", "filter"]),
        (["--metric", "test/rmse_pm25_25h"], ["not logged", "closest: test/rmse_pm25_24h"]),
        (["--filter", "metrics.test/rmse_pm25_24h > 0"], ["MLflow rejected", "backticks"]),
        (["--baseline", "nothing"], ["--baseline 'nothing'", "none, topoflow"]),
        (["--pair", "adaptive", "none"], ["--pair 'adaptive' 'none'", "matches no group", "physics_bias=topoflow"]),
        (["--pair", "topoflow", "none", "--by", "seed"], ["'topoflow' matches 2 groups", "add key=value items"]),
        (["--pair", "seed=0", "none"], ["'seed' is not a --by key (physics_bias)"]),
        (["--pair", "none", "physics_bias=none"], ["both select physics_bias=none"]),
        (["--pair", "topoflow", "none", "--baseline", "none"], ["--baseline", "not allowed with argument --pair"]),
        (["--pair", "topoflow"], ["--pair", "expected 2 arguments"]),
    ],
    ids=[
        "no-runs",
        "unknown-metric",
        "bad-filter",
        "unknown-baseline",
        "pair-no-match",
        "pair-ambiguous",
        "pair-unknown-key",
        "pair-same-group",
        "pair-and-baseline",
        "pair-one-arm",
    ],
)
def test_bad_selection_is_one_line(store: Path, tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    result = compare(store, tmp_path, "--mlflow-experiment", "cmp", "--by", "physics_bias", *args)
    assert result.returncode == 2
    assert_one_line_error(result, *fragments)


def test_unknown_grouping_key_names_the_closest(store: Path, tmp_path: Path) -> None:
    result = compare(store, tmp_path, "--by", "physics_bais")
    assert_one_line_error(result, "grouping key 'physics_bais'", "physics_bias")
    result = compare(store, tmp_path, "--mlflow-experiment", "nope", "--by", "physics_bias")
    assert_one_line_error(result, "no MLflow experiment 'nope'")


def test_missing_or_foreign_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    empty = tmp_path / "empty-root"
    result = compare(empty, tmp_path, "--by", "physics_bias")
    assert_one_line_error(result, "no MLflow store at", str(empty / "mlflow.db"))
    assert not (empty / "mlflow.db").exists() and not empty.exists()

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mlflow.db").write_bytes(b"")
    result = compare(tmp_path, tmp_path, "--root", str(foreign), "--by", "physics_bias")
    assert_one_line_error(result, "not an MLflow store")
    assert (foreign / "mlflow.db").stat().st_size == 0  # untouched: no schema created

    result = compare(tmp_path, tmp_path, "--tracking-uri", "http://127.0.0.1:9", "--by", "physics_bias")
    assert_one_line_error(result, "cannot read the MLflow store http://127.0.0.1:9")


def test_bad_flags_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(compare(tmp_path, tmp_path, "--by", "x", "--correction", "sidak"), "invalid choice")
    assert_one_line_error(compare(tmp_path, tmp_path), "--by")
    both = compare(tmp_path, tmp_path, "--by", "x", "--sweep", "a", "--mlflow-experiment", "b")
    assert_one_line_error(both, "not allowed with")


def test_importing_the_comparison_leaves_the_retry_policy_alone() -> None:
    """Only the aqnet-compare command fails fast on a dead tracking server: a process that imports aqnet.compare and
    then launches training must hand its jobs MLflow's retries, or they die on the first restart of the server."""
    code = "import os, aqnet.compare.cli, aqnet.compare.runs, aqnet.compare.maps; print(sorted(os.environ))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP")}
    printed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in printed.stdout, printed.stdout
