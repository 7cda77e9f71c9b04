"""Outputs of ``aqnet-compare``: rich tables on the console, summary.md, summary.csv, comparisons.csv and report.html
(tables plus the PNGs embedded as data URIs, so the one file can be mailed or attached)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.table import Table

CORRECTIONS = {"holm": "Holm (family-wise error)", "bh": "Benjamini–Hochberg (false discovery rate)", "none": "none"}


def _num(x: object, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or x is pd.NA:
        return "–"
    return f"{x:.{digits}g}" if abs(float(x)) < 1e-2 and x != 0 else f"{x:.{digits}f}"


def _p(x: object) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.3f}" if x >= 0.001 else "<0.001"


def summary_cell(row: Mapping[str, object]) -> str:
    """``7.856 ± 0.012 (n=2)``, ``7.856 (n=1, no std)``; a leading ★ marks the best group."""
    if not row["n"]:
        return "not logged"
    text = f"{_num(row['mean'])} ± {_num(row['std'])} (n={row['n']})" if row["n"] > 1 else ""
    text = text or f"{_num(row['mean'])} (n=1, no std)"
    return ("★ " if row["best"] else "") + text


def summary_wide(summary: pd.DataFrame) -> pd.DataFrame:
    """metric × group of formatted cells, metrics in the order given."""
    cells = summary.assign(cell=[summary_cell(r) for r in summary.to_dict("records")])
    wide = cells.pivot(index="metric", columns="group", values="cell")
    return wide.reindex(list(dict.fromkeys(summary["metric"])))


def comparison_view(comp: pd.DataFrame) -> pd.DataFrame:
    """The comparisons as display strings: seed-level Δ, CI, adjusted p; case-level Δ, CI, adjusted p's."""
    rows = []
    for r in comp.to_dict("records"):
        note = "; ".join(str(n) for n in (r.get("note"), r.get("case_note")) if isinstance(n, str) and n)
        rows.append(
            {
                "group": r["group"],
                "vs": r["baseline"],
                "metric": r["metric"],
                "better": r.get("better") if isinstance(r.get("better"), str) else "",
                "Δ seeds": _num(r.get("diff")),
                "95% CI": f"[{_num(r.get('ci_low'))}, {_num(r.get('ci_high'))}]",
                "test": r.get("method", ""),
                "p (adj)": _p(r.get("p_seed_adj")),
                "cases": "–" if pd.isna(r.get("n_cases")) else str(int(r["n_cases"])),
                "Δ cases": _num(r.get("case_diff")),
                "bootstrap CI": f"[{_num(r.get('boot_low'))}, {_num(r.get('boot_high'))}]",
                "p boot (adj)": _p(r.get("p_boot_adj")),
                "p DM (adj)": _p(r.get("p_dm_adj")),
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def correction_line(method: str, n_tests: int) -> str:
    return (
        f"p-values adjusted with {CORRECTIONS[method]} across the {n_tests} pollutant × lead tests of each "
        "comparison (each test type separately); Δ = group − reference (negative = lower); better: the arm whose "
        "seed mean is better by the metric's direction (higher for skill, CSI, POD, ETS, correlations; closer to 0 "
        "for biases; lower for errors); Δ cases: the mean group − reference difference of the per-case series (the "
        "per-case MSE of an RMSE: < 0 favours the group; per-case values of CSI or another ratio score: read in its "
        "direction)"
    )


def regions_view(regions: pd.DataFrame) -> pd.DataFrame:
    """group, vs, region, then one column per variable: Δ RMSE (candidate − baseline) with its percentage, or with
    the pixel for the row of the largest change."""
    if regions.empty:
        return pd.DataFrame(columns=["group", "vs", "region"])
    cells = [
        f"{_num(r['diff'])} ({r['diff_pct']:+.1f}%)"
        if pd.isna(r["lat"])
        else f"{_num(r['diff'])} at {r['lat']:.1f}N {r['lon']:.1f}E"
        for r in regions.to_dict("records")
    ]
    wide = regions.assign(cell=cells).pivot_table(
        index=["group", "baseline", "region"], columns="variable", values="cell", aggfunc="first", sort=False
    )
    wide = wide.reindex(columns=list(dict.fromkeys(regions["variable"])))
    return wide.reset_index().rename(columns={"baseline": "vs"}).rename_axis(columns=None)


def rich_table(frame: pd.DataFrame, title: str, index: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    columns = ([index] if index else []) + [str(c) for c in frame.columns]
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=i == 0, overflow="fold")
    for key, row in frame.iterrows():
        table.add_row(*(([str(key)] if index else []) + ["" if pd.isna(v) else str(v) for v in row.tolist()]))
    return table


def warnings_frame(rows: Sequence[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["warning", "detail"])


def _md_table(frame: pd.DataFrame, index: str | None = None) -> str:
    if frame.empty:
        return "_none_\n"
    columns = ([index] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for key, row in frame.iterrows():
        cells = ([str(key)] if index else []) + ["" if pd.isna(v) else str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


REGIONS_NOTE = (
    "Δ RMSE = RMSE(group) − RMSE(baseline) over the valid pixels of each region (area-weighted, runs' MSE averaged "
    "per group; negative: the group is better), and the pixel where it changes most. Descriptive: no test."
)


@dataclass(frozen=True)
class Comparison:
    """What every report format shows: the header, the group table, the tests, the warnings and the figures."""

    meta: Mapping[str, str]
    summary: pd.DataFrame
    comp: pd.DataFrame
    warn: pd.DataFrame
    note: str
    figures: Mapping[str, Path]
    regions: pd.DataFrame  # maps.REGION_COLUMNS: Δ test RMSE per mapped pair, region and variable
    map_lead: float


def markdown(c: Comparison) -> str:
    head = "\n".join(f"- **{k}**: {v}" for k, v in c.meta.items())
    parts = [
        "# aqnet-compare\n",
        head + "\n",
        "## Groups (mean ± std over runs; ★ best)\n",
        _md_table(summary_wide(c.summary), index="metric"),
        "## Comparisons\n",
        c.note + "\n",
        _md_table(comparison_view(c.comp)),
        f"## Where the test RMSE changes (lead {c.map_lead:g} h)\n",
        REGIONS_NOTE + "\n",
        _md_table(regions_view(c.regions)),
        "## Warnings\n",
        _md_table(c.warn),
    ]
    return "\n".join(parts)


def _html_table(frame: pd.DataFrame, index: bool = False) -> str:
    if frame.empty:
        return "<p><em>none</em></p>"
    return frame.to_html(index=index, escape=True, na_rep="", border=0, classes="t")


def html_report(c: Comparison) -> str:
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in c.meta.items())
    images = "".join(
        f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' "
        f"src='data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}'/>"
        for title, path in c.figures.items()
    )
    style = (
        "body{font-family:sans-serif;margin:2em}table.t{border-collapse:collapse;font-size:13px}"
        "table.t td,table.t th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>aqnet-compare</title><style>{style}</style></head>"
        f"<body><h1>aqnet-compare</h1><ul>{items}</ul><h2>Groups (mean ± std over runs; ★ best)</h2>"
        f"{_html_table(summary_wide(c.summary), index=True)}<h2>Comparisons</h2><p>{html.escape(c.note)}</p>"
        f"{_html_table(comparison_view(c.comp))}<h2>Where the test RMSE changes (lead {c.map_lead:g} h)</h2>"
        f"<p>{html.escape(REGIONS_NOTE)}</p>{_html_table(regions_view(c.regions))}<h2>Warnings</h2>{_html_table(c.warn)}<h2>Figures</h2>{images}"
        "</body></html>"
    )


def write_all(out: Path, c: Comparison) -> list[Path]:
    """summary.md, summary.csv (groups), comparisons.csv (tests), regions.csv (where the error changes) and
    report.html under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.md", out / "summary.csv", out / "comparisons.csv", out / "report.html"]
    written.append(out / "regions.csv")
    c.regions.to_csv(written[4], index=False, float_format="%.6g")
    written[0].write_text(markdown(c), encoding="utf-8")
    c.summary.to_csv(written[1], index=False, float_format="%.6g")
    c.comp.to_csv(written[2], index=False, float_format="%.6g")
    written[3].write_text(html_report(c), encoding="utf-8")
    return written
