"""Loading runs for ``aqnet-compare``: the store (never created as a side effect), runs, grouping keys, metrics,
metric histories and the evaluation artifacts (``evaluation/test_cases.csv``, ``evaluation/test_error_maps.nc``).

Everything user-caused (no store, no runs, an unknown key or metric) is an :class:`~aqnet.errors.AqnetError`.
"""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from aqnet.compare.analysis import NOT_APPLICABLE, RMSE_RE
from aqnet.errors import AqnetError
from aqnet.variables import LEAD_HOURS, POLLUTANTS

FINISHED = "FINISHED"
EVALUATION = "evaluation"


@dataclass
class LoadedRuns:
    """Finished runs (one row each: run_id, seed, group, one column per --by key, every metric by its name) and
    the runs left out (run_id, status, group, reason), plus notes for the warnings table."""

    uri: str
    runs: pd.DataFrame
    excluded: pd.DataFrame
    keys: list[str]  # the param names grouped on, e.g. choice.physics_bias
    labels: list[str]  # the --by keys as typed
    notes: list[str] = field(default_factory=list)


def default_uri(root: Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def check_store(uri: str) -> None:
    """AqnetError unless ``uri`` names an existing store: MLflow would silently create an empty one otherwise."""
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise AqnetError(
                f"no MLflow store at {path}: train first (aqnet-train), or point at the runs with "
                "--root PATH, $AQNET_ROOT or --tracking-uri URI"
            )
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                found = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
        except sqlite3.Error as err:
            raise AqnetError(f"{path} is not a readable MLflow sqlite store ({err})") from None
        if found is None:
            raise AqnetError(
                f"{path} is not an MLflow store (no runs table); pass the mlflow.db that aqnet-train wrote"
            )
    elif scheme in ("", "file"):
        path = Path(urlparse(uri).path if scheme == "file" else uri)
        if not path.is_dir():
            raise AqnetError(f"no MLflow file store at {path}; pass --tracking-uri of an existing store")


def _close(word: str, candidates: Sequence[str], n: int = 5) -> str:
    found = difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.5)
    return ", ".join(found) if found else "none close"


def search(uri: str, sweep: str | None, experiment: str | None, filter_string: str | None) -> pd.DataFrame:
    """The matching runs as MLflow's search_runs frame (sweep parent runs, which hold no results, left out)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    check_store(uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    filters = [f"tags.sweep_id = '{sweep}'"] if sweep else []
    if filter_string:
        filters.append(filter_string)
    try:
        if experiment:
            found = client.get_experiment_by_name(experiment)
            if found is None:
                names = [e.name for e in client.search_experiments()]
                raise AqnetError(f"no MLflow experiment {experiment!r} in {uri}; closest: {_close(experiment, names)}")
            scope = {"experiment_ids": [found.experiment_id]}
        else:
            scope = {"search_all_experiments": True}
        frame = mlflow.search_runs(filter_string=" and ".join(filters), **scope)
    except MlflowException as err:
        first = str(err.message).splitlines()[0] if str(err.message) else type(err).__name__
        if err.error_code != "INVALID_PARAMETER_VALUE":  # connection refused, server errors
            raise AqnetError(f"cannot read the MLflow store {uri}: {first}") from None
        hint = " (metric names contain '/': quote them in backticks, e.g. metrics.`test/rmse_pm25_24h` < 10)"
        raise AqnetError(f"MLflow rejected the query in {uri}: {first}{hint if filter_string else ''}") from None
    except AqnetError:
        raise
    except Exception as err:  # connection refused, timeouts, a broken database
        raise AqnetError(f"cannot read the MLflow store {uri}: {type(err).__name__}: {err}") from None
    if frame.empty:
        where = [f"sweep {sweep!r}" if sweep else "", f"experiment {experiment!r}" if experiment else ""]
        where.append(f"filter {filter_string!r}" if filter_string else "")
        sweeps = _known_sweeps(client) if sweep else []
        hint = f"; known sweeps close to it: {_close(sweep, sweeps)}" if sweep else ""
        raise AqnetError(f"no runs match {' and '.join(w for w in where if w) or 'anything'} in {uri}{hint}")
    parents = set(frame.get("tags.mlflow.parentRunId", pd.Series(dtype=str)).dropna())
    return frame[~frame["run_id"].isin(parents)].reset_index(drop=True)


def _known_sweeps(client) -> list[str]:
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    return sorted({r.data.tags.get("sweep_id", "") for r in runs} - {"", "none"})


def resolve_keys(frame: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """``--by physics_bias`` → ``choice.physics_bias`` (a config group); a full param name is used as is."""
    params = [c.removeprefix("params.") for c in frame.columns if c.startswith("params.")]
    keys = []
    for key in by:
        if f"choice.{key}" in params:
            keys.append(f"choice.{key}")
        elif key in params:
            keys.append(key)
        else:
            names = params + [p.removeprefix("choice.") for p in params if p.startswith("choice.")]
            raise AqnetError(
                f"no run has the grouping key {key!r} (a config group or param); closest: {_close(key, names)}"
            )
    return keys


def _not_applicable(frame: pd.DataFrame, key: str) -> pd.Series:
    """Runs that lack a key of a config group because their option of that group does not have it
    (``physics_bias.direction`` when ``physics_bias=none``): not applicable, unlike a run that lacks the group."""
    group = f"params.choice.{key.split('.', 1)[0]}"
    if "." not in key or key.startswith("choice.") or group not in frame:
        return pd.Series(False, index=frame.index)
    return frame[f"params.{key}"].isna() & frame[group].notna()


def short_labels(labels: Sequence[str]) -> list[str]:
    """The --by keys as group labels name them: a key inside another --by key's group by its own part
    (``physics_bias.direction`` → ``direction`` beside ``physics_bias``)."""
    return [k.split(".", 1)[1] if "." in k and k.split(".", 1)[0] in labels else k for k in labels]


def group_label(labels: Sequence[str], values: Sequence[object]) -> str:
    """``physics_bias=topoflow, direction=up``."""
    return ", ".join(f"{k}={v}" for k, v in zip(short_labels(labels), values, strict=True))


def load(
    uri: str, sweep: str | None, experiment: str | None, filter_string: str | None, by: Sequence[str]
) -> LoadedRuns:
    """Search, resolve the --by keys, split finished runs from those left out (with the reason)."""
    frame = search(uri, sweep, experiment, filter_string)
    keys, labels = resolve_keys(frame, by), list(by)
    for key in keys:
        frame[f"params.{key}"] = frame[f"params.{key}"].mask(_not_applicable(frame, key), NOT_APPLICABLE)
    values = frame[[f"params.{k}" for k in keys]]
    missing = values.isna().any(axis=1)
    out = pd.DataFrame({"run_id": frame["run_id"], "status": frame["status"]})
    out["seed"] = frame.get("params.seed", pd.Series([None] * len(frame))).astype(object)
    for label, key in zip(labels, keys, strict=True):
        out[label] = frame[f"params.{key}"].astype(object)
    out["group"] = [
        None if miss else group_label(labels, row)
        for miss, row in zip(missing, values.itertuples(index=False), strict=True)
    ]
    metrics = frame[[c for c in frame.columns if c.startswith("metrics.")]]
    metrics.columns = [c.removeprefix("metrics.") for c in metrics.columns]
    out = pd.concat([out, metrics], axis=1)
    reasons = pd.Series("", index=out.index)
    reasons[out["status"] != FINISHED] = out["status"].map(lambda s: f"{s}: left out of the statistics")
    reasons[missing] = "lacks " + ", ".join(f"param {k}" for k in keys) + ": cannot be grouped"
    excluded = out.loc[reasons != "", ["run_id", "status", "group"]].assign(reason=reasons[reasons != ""])
    runs = out[reasons == ""].reset_index(drop=True)
    if runs.empty:
        raise AqnetError(f"none of the {len(out)} matching runs is FINISHED with every --by key; see their statuses")
    return LoadedRuns(uri, runs, excluded.reset_index(drop=True), keys, labels)


def select_metrics(runs: pd.DataFrame, requested: Sequence[str] | None) -> list[str]:
    """The requested metrics (each must be logged by some run), else every test/rmse_{pollutant}_{lead}h found."""
    logged = [c for c in runs.columns if "/" in c and runs[c].notna().any()]
    if requested:
        for name in requested:
            if name not in logged:
                raise AqnetError(f"metric {name!r} is not logged by the selected runs; closest: {_close(name, logged)}")
        return list(requested)
    order = {v: i for i, v in enumerate(POLLUTANTS)}
    found = [(m, RMSE_RE.match(m)) for m in logged]
    found = [(m, g) for m, g in found if g and g["var"] in order]
    if not found:
        raise AqnetError(
            f"the selected runs logged no test/rmse_<pollutant>_<lead>h metric (leads {list(LEAD_HOURS)}): did they "
            "reach the test step? Name metrics with --metric"
        )
    found.sort(key=lambda mg: (order[mg[1]["var"]], float(mg[1]["lead"])))
    return [m for m, _ in found]


def metric_history(uri: str, run_ids: Sequence[str], key: str) -> pd.DataFrame:
    """run_id, step, value of every logged value of ``key`` (empty when no run logged it)."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    rows = [(run_id, m.step, m.value) for run_id in run_ids for m in client.get_metric_history(run_id, key)]
    return pd.DataFrame(rows, columns=["run_id", "step", "value"])


def download_evaluation(uri: str, run_ids: Sequence[str], name: str, dest: Path) -> dict[str, Path]:
    """run_id → local copy of ``evaluation/<name>`` for the runs that logged it."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    found = {}
    for run_id in run_ids:
        listed = {a.path for a in client.list_artifacts(run_id, EVALUATION)}
        if f"{EVALUATION}/{name}" in listed:
            target = dest / run_id
            target.mkdir(parents=True, exist_ok=True)
            found[run_id] = Path(client.download_artifacts(run_id, f"{EVALUATION}/{name}", str(target)))
    return found
