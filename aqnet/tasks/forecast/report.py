"""A results table (pollutant × lead) from a flat DESIGN-named metrics dict, for the CLI to print."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from rich.table import Table

from aqnet.tasks.forecast.metrics import skill
from aqnet.variables import POLLUTANTS

COLUMNS: tuple[str, ...] = ("model", "persistence", "climatology", "skill_persistence")


def results_rows(metrics: Mapping[str, float], split: str = "test") -> list[dict[str, object]]:
    """One row per (variable, lead) with a model RMSE: var, lead, model, persistence, climatology RMSE (None when
    absent) and skill vs persistence. Canonical pollutants come first, in registry order; leads ascend."""
    pattern = re.compile(rf"^{re.escape(split)}/rmse_(?P<var>.+)_(?P<lead>[0-9.]+)h$")
    rows = []
    for key, value in metrics.items():
        m = pattern.match(key)
        if not m:
            continue
        var, lead = m["var"], m["lead"]
        suffix = f"{var}_{lead}h"
        pers = metrics.get(f"{split}/persistence_rmse_{suffix}")
        clim = metrics.get(f"{split}/climatology_rmse_{suffix}")
        sk = float(skill(value, pers)) if pers else None  # no skill against a missing or zero reference
        rows.append(
            {
                "var": var,
                "lead": float(lead),
                "model": float(value),
                "persistence": pers,
                "climatology": clim,
                "skill_persistence": sk,
            }
        )
    order = {v: i for i, v in enumerate(POLLUTANTS)}
    rows.sort(key=lambda r: (order.get(r["var"], len(order)), r["var"], r["lead"]))
    return rows


def _fmt(x: object, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def format_results_table(metrics: Mapping[str, float], split: str = "test") -> Table:
    """rich Table: rows pollutant × lead; columns model / persistence / climatology RMSE and skill vs persistence."""
    table = Table(title=f"{split} RMSE (physical units; skill = 1 − RMSE/RMSE_persistence)")
    table.add_column("variable")
    table.add_column("lead", justify="right")
    for col in ("RMSE model", "RMSE persistence", "RMSE climatology", "skill vs persistence"):
        table.add_column(col, justify="right")
    for r in results_rows(metrics, split):
        table.add_row(
            str(r["var"]),
            f"{r['lead']:g}h",
            _fmt(r["model"]),
            _fmt(r["persistence"]),
            _fmt(r["climatology"]),
            _fmt(r["skill_persistence"]),
        )
    return table
