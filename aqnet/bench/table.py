"""Markdown tables from `aqnet-bench` JSON lines: ``python -m aqnet.bench.table results.jsonl ... > table.md``.

One table per command: attention (N, mode, dtype, backend, rank, median / min seconds, × plain, extra peak MiB,
measured low-rank bias error), step (backbone, grid, bias blocks, backend, seconds with and without the bias,
× no bias, MFU), and the fitted extra-memory exponents. Skipped records are listed with their reasons.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-2 else f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]


def markdown(records: list[dict[str, Any]]) -> str:
    """The tables of ``records`` (any mix of attention, step and summary records)."""
    out: list[str] = []
    attention = [r for r in records if r.get("command") == "attention" and "median_s" in r]
    if attention:
        out += ["### Attention layer", ""]
        out += _table(
            ["N", "mode", "dtype", "device", "backend", "K", "median s", "min s", "× plain", "extra MiB", "err·α"],
            [
                (r["n_tokens"], r["mode"], r["dtype"], r["device_name"], r["backend"], r.get("rank"), r["median_s"],
                 r["min_s"], r["ratio_to_plain"], r.get("extra_peak_mb"), r.get("bias_error_max"))
                for r in attention
            ],
        ) + [""]  # fmt: skip
    summaries = [r for r in records if r.get("summary") == "extra_memory_exponent"]
    if summaries:
        out += ["### Extra memory over plain, fitted exponent (MiB ∝ N^exponent)", ""]
        out += _table(
            ["backend", "K", "mode", "N", "extra MiB", "exponent"],
            [
                (s["backend"], s["rank"], s["mode"], ", ".join(map(str, s["n_tokens"])),
                 ", ".join(_fmt(m, 4) for m in s["extra_peak_mb"]), s["exponent"])
                for s in summaries
            ],
        ) + [""]  # fmt: skip
    steps = [r for r in records if r.get("command") == "step"]
    if steps:
        out += ["### Training step", ""]
        out += _table(
            ["backbone", "grid (tokens)", "bias blocks", "backend", "precision", "no bias s", "bias s", "× no bias",
             "MFU"],
            [
                (r["backbone"], f"{r['grid']} ({r['n_tokens']})", r["bias_blocks"] or "none",
                 r["attention_backend"], r["precision"], r.get("no_bias_median_s"), r["median_s"],
                 r.get("ratio_to_no_bias"), r.get("mfu"))
                for r in steps
            ],
        ) + [""]  # fmt: skip
    skipped = [r for r in records if "skipped" in r]
    if skipped:
        out += ["Skipped:", ""] + [f"- N={r['n_tokens']} {r['mode']} {r['backend']}: {r['skipped']}" for r in skipped]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    records = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line.strip()]
    print(markdown(records), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
