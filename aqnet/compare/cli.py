"""`aqnet-compare`: compare groups of MLflow runs on test error, with seed-level and case-level significance tests.

aqnet-compare --sweep ID --by physics_bias --baseline none
aqnet-compare --mlflow-experiment NAME --by physics_bias --by embed --metric test/rmse_pm25_24h --correction bh
aqnet-compare --mlflow-experiment NAME --by physics_bias --by physics_bias.control --pair topoflow,control=None \
    topoflow,control=shuffled_elevation
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from aqnet.errors import AqnetError, fail, run_cli
from aqnet.paths import default_root

if TYPE_CHECKING:  # the heavy modules load after the flags parse, so a typo fails at once
    import pandas as pd

    from aqnet.compare import report, runs


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every aqnet error (argparse adds a usage block)
        fail(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="aqnet-compare", description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--sweep", metavar="ID", help="runs whose tag sweep_id is ID")
    which.add_argument("--mlflow-experiment", metavar="NAME", help="runs of one MLflow experiment (default: all)")
    p.add_argument("--filter", metavar="EXPR", help="MLflow filter string, e.g. \"params.seed != '3'\"")
    p.add_argument(
        "--by", action="append", required=True, metavar="KEY", help="group by a config group or a param (repeatable)"
    )
    p.add_argument("--metric", action="append", metavar="NAME", help="default: every test/rmse_<pollutant>_<lead>h")
    against = p.add_mutually_exclusive_group()
    against.add_argument(
        "--baseline", metavar="VALUE", help="value of the first --by key to compare every group against (default: none)"
    )
    against.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("GROUP", "REFERENCE"),
        help="compare two groups directly, each a value of the first --by key or key=value[,key=value] "
        "(repeatable; instead of --baseline)",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="default: <root>/comparisons/<name>")
    p.add_argument("--tracking-uri", metavar="URI", help="default: sqlite:///<root>/mlflow.db")
    p.add_argument("--correction", choices=("holm", "bh", "none"), default="holm", help="p-value adjustment")
    p.add_argument("--root", type=Path, metavar="PATH", help="output root (default: $AQNET_ROOT, else ./aqnet-runs)")
    p.add_argument(
        "--map-group",
        action="append",
        metavar="SPEC",
        help="map only this group against its reference: a value of the first --by key, or key=value[,key=value] "
        "(repeatable; default: every compared group)",
    )
    p.add_argument("--map-lead", type=float, default=24.0, metavar="HOURS", help="lead of the map (default 24)")
    p.add_argument("--n-boot", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    return p


def _baseline(frame: pd.DataFrame, label: str, wanted: str | None) -> str:
    values = sorted(frame[label].astype(str).unique())
    if wanted is not None and wanted not in values:
        raise AqnetError(f"--baseline {wanted!r} is not a value of {label}; the runs have: {', '.join(values)}")
    return wanted if wanted is not None else ("none" if "none" in values else values[0])


def _pairs(
    loaded: runs.LoadedRuns, args: argparse.Namespace, warn: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], str]:
    """The (group, reference) pairs to test, and how they were chosen (for the header)."""
    from aqnet.compare import pairs

    if args.pair:
        chosen = pairs.explicit_pairs(loaded.runs, loaded.labels, args.pair)
        return chosen, "; ".join(f"{group} vs {reference}" for group, reference in chosen)
    base_value = _baseline(loaded.runs, loaded.labels[0], args.baseline)
    chosen = pairs.baseline_pairs(loaded.runs, loaded.labels, base_value)
    if not chosen:
        warn.append(("no comparison", f"no group differs from {loaded.labels[0]}={base_value} in that key alone"))
    return chosen, f"each group vs {loaded.labels[0]}={base_value}"


def _warnings(loaded: runs.LoadedRuns, metrics: list[str], summary: pd.DataFrame) -> list[tuple[str, str]]:
    rows = [(f"run {r.run_id[:12]} {r.status}", f"{r.group or '?'}: {r.reason}") for r in loaded.excluded.itertuples()]
    for group, part in summary[summary["n"] == 1].groupby("group"):
        rows.append((f"group {group}", f"one run: no std, no seed-level test ({len(part)} metrics)"))
    for metric in metrics:
        missing = int(loaded.runs[metric].isna().sum())
        if missing:
            rows.append((f"metric {metric}", f"not logged by {missing} of {len(loaded.runs)} runs"))
    return rows


def _case_losses(loaded: runs.LoadedRuns, tmp: Path, warn: list[tuple[str, str]]) -> pd.DataFrame | None:
    import pandas as pd

    from aqnet.compare import analysis, daily, runs
    from aqnet.evaluation import CASES_FILE, COUNTS_FILE, DAILY_FILE, read_cases

    ids, groups = list(loaded.runs["run_id"]), loaded.runs.set_index("run_id")["group"]
    files = runs.download_evaluation(loaded.uri, ids, CASES_FILE, tmp)
    counted = runs.download_evaluation(loaded.uri, ids, COUNTS_FILE, tmp / "counts")
    for run_id in ids:
        if run_id not in files and run_id not in counted:
            warn.append((f"run {run_id[:12]}", f"no evaluation/{CASES_FILE}: left out of the case-level test"))
    if not files and not counted:
        return None
    losses = []
    if files:
        frames = [read_cases(path).assign(run_id=run_id, group=groups[run_id]) for run_id, path in files.items()]
        cases = pd.concat(frames, ignore_index=True)
        losses.append(analysis.case_losses(cases[cases["source"] == "model"]))
    days = runs.download_evaluation(loaded.uri, ids, DAILY_FILE, tmp / "daily")
    if days:  # the daily scores' per-day series (runs of tasks or versions without them have none)
        frames = [pd.read_csv(path).assign(run_id=run_id, group=groups[run_id]) for run_id, path in days.items()]
        losses.append(daily.daily_case_values(pd.concat(frames, ignore_index=True)))
    if counted:  # per-case contingency counts (task=exceedance): CSI, POD, FAR and Brier per case
        frames = [pd.read_csv(path).assign(run_id=run_id, group=groups[run_id]) for run_id, path in counted.items()]
        losses.append(daily.case_count_values(pd.concat(frames, ignore_index=True)))
    return pd.concat(losses, ignore_index=True)


def _figures(
    loaded: runs.LoadedRuns,
    metrics: list[str],
    chosen: list[tuple[str, str]],
    comp: pd.DataFrame,
    args: argparse.Namespace,
    dirs: tuple[Path, Path],
    warn: list[tuple[str, str]],
) -> tuple[dict[str, Path], pd.DataFrame]:
    """The PNGs under ``dirs[0]`` (artifacts go to ``dirs[1]``) by title, and the region table of the mapped pairs;
    what cannot be drawn is warned."""
    from aqnet.compare import maps, plots, runs

    out, _ = dirs
    groups = dict(zip(loaded.runs["run_id"], loaded.runs["group"], strict=True))
    ids = list(groups)
    made = {
        "Learning curves (val/loss)": plots.learning_curves(
            runs.metric_history(loaded.uri, ids, "val/loss"), groups, out / "learning_curves.png"
        ),
        "Test RMSE by lead": plots.rmse_by_lead(loaded.runs, metrics, out / "rmse_by_lead.png"),
        "Difference from the reference by lead": plots.difference_by_lead(
            comp, sorted(set(groups.values())), out / "difference_by_lead.png"
        ),
        "α per run": plots.alpha_trajectories(
            runs.metric_history(loaded.uri, ids, "physics/alpha"), groups, out / "alpha.png"
        ),
    }
    drawn, regions = maps.difference_maps(loaded, chosen, args.map_lead, dirs, warn)
    figures = {title: path for title, path in made.items() if path is not None}
    return figures | drawn, regions


def _default_out(root: Path, args: argparse.Namespace) -> Path:
    name = args.sweep or args.mlflow_experiment or "all-runs"
    name = re.sub(r"[^A-Za-z0-9._=-]+", "_", f"{name}_by_{'+'.join(args.by)}")
    return root / "comparisons" / name


def _main() -> None:
    args = _parser().parse_args()
    if args.n_boot < 1:
        raise AqnetError(f"--n-boot must be >= 1, got {args.n_boot}")
    from aqnet.compare import analysis, report, runs
    from aqnet.compare.pairs import select_pairs

    root = args.root.expanduser().resolve() if args.root else default_root()
    uri = args.tracking_uri or runs.default_uri(root)
    loaded = runs.load(uri, args.sweep, args.mlflow_experiment, args.filter, args.by)
    metrics = runs.select_metrics(loaded.runs, args.metric)
    summary = analysis.summary_table(loaded.runs, metrics)
    warn = _warnings(loaded, metrics, summary)
    pairs, compared = _pairs(loaded, args, warn)
    mapped = select_pairs(loaded.runs, loaded.labels, pairs, args.map_group)  # a bad selector fails before compute
    if pairs and not mapped:
        warn.append(("no map", f"no compared group matches --map-group {' '.join(args.map_group)}"))
    out = (args.out or _default_out(root, args)).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aqnet-compare-") as tmp:
        losses = _case_losses(loaded, Path(tmp), warn) if pairs else None
        comp = analysis.comparisons(loaded.runs, metrics, pairs, losses, args.correction, args.n_boot)
        figures, regions = _figures(loaded, metrics, mapped, comp, args, (out, Path(tmp)), warn)
    n_tests = len(metrics)
    note = report.correction_line(args.correction, n_tests)
    meta = {
        "command": shlex.join(["aqnet-compare", *sys.argv[1:]]),
        "store": uri,
        "runs": f"{len(loaded.runs)} finished, {len(loaded.excluded)} left out",
        "grouped by": ", ".join(f"{lab} (param {key})" for lab, key in zip(loaded.labels, loaded.keys, strict=True)),
        "compared": compared,
        "correction": report.CORRECTIONS[args.correction],
        "case-level tests": f"studentized circular block bootstrap ({args.n_boot} resamples) and Diebold–Mariano "
        "(prewhitened Newey–West) on per-case MSE, windows chosen from the data, at least the lead plus one day",
    }
    warn_frame = report.warnings_frame(warn)
    comparison = report.Comparison(meta, summary, comp, warn_frame, note, figures, regions, args.map_lead)
    _print(comparison, report.write_all(out, comparison))


def _print(c: report.Comparison, written: list[Path]) -> None:
    from rich.console import Console

    from aqnet.compare import report

    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(f"[bold]aqnet-compare[/]  {c.meta['runs']}; {c.meta['compared']}; store {c.meta['store']}")
    console.print(
        report.rich_table(report.summary_wide(c.summary), "test metrics by group: mean ± std (n); ★ best", "metric")
    )
    view = report.comparison_view(c.comp)
    for (group, reference), part in view.groupby(["group", "vs"], sort=False):
        title = f"{group} vs {reference}"
        console.print(report.rich_table(part.drop(columns=["group", "vs"]).set_index("metric"), title, "metric"))
    console.print(c.note)
    for (group, reference), part in report.regions_view(c.regions).groupby(["group", "vs"], sort=False):
        title = f"Δ test RMSE by region, lead {c.map_lead:g} h: {group} − {reference}"
        console.print(report.rich_table(part.drop(columns=["group", "vs"]).set_index("region"), title, "region"))
    if not c.warn.empty:
        console.print(report.rich_table(c.warn.set_index("warning"), "warnings", "warning"))
    console.print("wrote " + ", ".join(str(p) for p in [*written, *c.figures.values()]))


def main() -> int:
    # An interactive comparison fails fast on an unreachable tracking server instead of retrying for minutes. Set
    # here, not on import: a process that imports aqnet.compare (a test, a notebook) and then launches training jobs
    # would hand them zero retries, and they would die on the first restart of the server.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return run_cli(_main)


if __name__ == "__main__":
    raise SystemExit(main())
