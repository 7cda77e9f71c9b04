"""The results table (target × lead) a forecast run prints: the model's RMSE beside every reference, its skill
against the strongest one, and one line that says where the model does not beat it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text

from aqnet.tasks.forecast.metrics import skill
from aqnet.tasks.forecast.names import BASELINES
from aqnet.variables import POLLUTANTS

SHORT = {
    "persistence": "persistence",
    "climatology": "clim hour",
    "seasonal_climatology": "clim season",
    "damped_persistence": "damped pers.",
}


def results_rows(metrics: Mapping[str, float], split: str = "test") -> list[dict[str, object]]:
    """One row per (variable, lead) with a model RMSE: var, lead, model, each reference's RMSE (None when absent),
    ``best`` (the reference with the lowest RMSE), skill vs it and vs persistence. Canonical pollutants come first,
    in registry order; leads ascend."""
    pattern = re.compile(rf"^{re.escape(split)}/rmse_(?P<var>.+)_(?P<lead>[0-9.]+)h$")
    rows = []
    for key, value in metrics.items():
        m = pattern.match(key)
        if not m:
            continue
        suffix = f"{m['var']}_{m['lead']}h"
        refs = {name: metrics.get(f"{split}/{name}_rmse_{suffix}") for name in BASELINES}
        present = {k: v for k, v in refs.items() if v is not None and math.isfinite(v)}
        best = min(present, key=present.__getitem__) if present else None
        rows.append(
            {
                "var": m["var"],
                "lead": float(m["lead"]),
                "model": float(value),
                **refs,
                "best": best,
                "skill_best": float(skill(value, present[best])) if best and present[best] else None,
                "skill_persistence": float(skill(value, refs["persistence"])) if refs["persistence"] else None,
            }
        )
    order = {v: i for i, v in enumerate(POLLUTANTS)}
    rows.sort(key=lambda r: (order.get(r["var"], len(order)), r["var"], r["lead"]))
    return rows


def _fmt(x: object, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def verdict(rows: list[dict[str, object]]) -> str:
    """Where the model does not beat the strongest reference, said plainly (an honest summary line)."""
    scored = [r for r in rows if r["skill_best"] is not None]
    if not scored:
        return "no reference was scored"
    losing = [r for r in scored if r["skill_best"] <= 0]  # type: ignore[operator]
    pm25 = [r for r in scored if r["var"] == "pm25"]
    pm25_text = ""
    if pm25:
        pm25_won = all(r["skill_best"] > 0 for r in pm25)  # type: ignore[operator]
        pm25_text = f"PM2.5 at every lead: {'yes' if pm25_won else 'no'}; "
    won = len(scored) - len(losing)
    head = f"{pm25_text}the model beats the strongest reference in {won} of {len(scored)} target × lead"
    if not losing:
        return head + " pairs"
    worst = ", ".join(f"{r['var']} {r['lead']:g} h (vs {SHORT[str(r['best'])]})" for r in losing[:8])
    more = f" and {len(losing) - 8} more" if len(losing) > 8 else ""
    return f"{head} pairs; NOT at {worst}{more}"


def format_results_table(metrics: Mapping[str, float], split: str = "test") -> Group:
    """rich Table: rows target × lead; columns the model's and every reference's RMSE, and skill (1 − RMSE /
    RMSE_reference) vs the strongest reference of the row; then the verdict line."""
    rows = results_rows(metrics, split)
    shown = [b for b in BASELINES if any(r[b] is not None for r in rows)]
    table = Table(
        title=f"{split} RMSE (physical units); skill = 1 − RMSE / RMSE of the strongest reference of the row",
        caption="clim hour: hour-of-day climatology; clim season: hour of day × season; damped pers.: damped "
        "anomaly persistence (docs/evaluation.md)",
    )
    table.add_column("variable")
    table.add_column("lead", justify="right")
    table.add_column("model", justify="right")
    for name in shown:
        table.add_column(SHORT[name], justify="right")
    table.add_column("skill", justify="right")
    for r in rows:
        skill_text = _fmt(r["skill_best"])
        if r["skill_best"] is not None and r["skill_best"] <= 0:  # type: ignore[operator]
            skill_text = f"[bold red]{skill_text}[/]"
        table.add_row(
            str(r["var"]), f"{r['lead']:g}h", _fmt(r["model"]), *(_fmt(r[name]) for name in shown), skill_text
        )
    return Group(table, Text(verdict(rows)))
