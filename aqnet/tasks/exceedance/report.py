"""The results table an exceedance run prints: per channel × lead the model's CSI beside each reference's, its
ETS, Brier skill against the climatological probability and average precision."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rich.table import Table

from aqnet.tasks.exceedance.names import MODEL, metric_name


def _cell(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.3f}"


def results_table(
    metrics: Mapping[str, float],
    channels: Sequence[str],
    lead_hours: Sequence[float],
    baselines: Sequence[str],
    split: str = "test",
) -> Table:
    table = Table(title=f"{split}: exceedance warnings (CSI at the decision threshold; BSS vs climatology)")
    for column in ("channel", "lead", "CSI", *(f"CSI {b}" for b in baselines), "ETS", "POD", "FAR", "BSS", "AP"):
        table.add_column(column, justify="left" if column == "channel" else "right")
    for channel in channels:
        for lead in lead_hours:

            def get(score: str, source: str = MODEL, channel: str = channel, lead: float = lead) -> float | None:
                return metrics.get(metric_name(split, score, channel, lead, source))

            table.add_row(
                channel,
                f"{float(lead):g} h",
                _cell(get("csi")),
                *(_cell(get("csi", b)) for b in baselines),
                _cell(get("ets")),
                _cell(get("pod")),
                _cell(get("far")),
                _cell(get("bss")),
                _cell(get("ap")),
            )
    return table
