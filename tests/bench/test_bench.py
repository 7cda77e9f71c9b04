"""`aqnet-bench` as a real subprocess: JSON lines, ratios, skip reasons, one-line errors. No timing asserts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).parent / "aqnet-bench"
ATTENTION_FIELDS = {"backend", "n_tokens", "mode", "device", "dtype", "batch", "heads", "head_dim", "bias", "chunk"}
MEASURED_FIELDS = {"median_s", "peak_mb", "peak_kind", "ratio_to_plain", "torch"}


def bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"{SCRIPT} is not installed (pip install -e .)"
    env = {**os.environ, "AQNET_ROOT": str(tmp_path / "root"), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def records(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every stdout line is one JSON object


def test_attention_lines_ratios_and_skips(tmp_path: Path) -> None:
    result = bench(
        tmp_path,
        *("attention", "--tokens", "256", "512", "--repeats", "2", "--heads", "2", "--head-dim", "16"),
        *("--chunk", "128", "--max-dense-tokens", "256", "--backends", "dense", "chunked", "lowrank", "flex"),
        *("--ranks", "4", "16"),
    )
    lines = records(result)
    summaries = [r for r in lines if "summary" in r]
    lines = [r for r in lines if "summary" not in r]
    by_case = {(r["n_tokens"], r["mode"], r["backend"], r.get("rank")): r for r in lines}
    assert len(by_case) == len(lines) == 2 * 2 * 6  # N x mode x (plain + 3 backends + lowrank at 2 ranks)
    for record in lines:
        assert record.keys() >= ATTENTION_FIELDS
        assert (record["device"], record["dtype"], record["bias"]) == ("cpu", "float32", "topoflow")
        assert record["chunk"] == 128
        if "skipped" in record:
            assert isinstance(record["skipped"], str) and record["skipped"]
            assert "median_s" not in record
            continue
        assert record.keys() >= MEASURED_FIELDS
        assert record["median_s"] > 0 and len(record["times_s"]) == 2
        assert record["peak_kind"] in ("cpu_rss_hwm", "unavailable")
        plain = by_case[(record["n_tokens"], record["mode"], "plain", None)]
        assert record["ratio_to_plain"] == pytest.approx(record["median_s"] / plain["median_s"], rel=1e-9)
        if record["peak_mb"] is not None and plain["peak_mb"] is not None:
            assert record["extra_peak_mb"] == pytest.approx(record["peak_mb"] - plain["peak_mb"], abs=0.11)
    # the K sweep: a coarser lowrank has a larger measured error
    for n in (256, 512):
        coarse, fine = by_case[(n, "fwd", "lowrank", 4)], by_case[(n, "fwd", "lowrank", 16)]
        assert coarse["bias_error_max"] > fine["bias_error_max"] > fine["bias_error_rms"] > 0
    assert {(s["backend"], s["mode"], s["rank"]) for s in summaries} >= {("chunked", "fwd+bwd", None)}
    for summary in summaries:
        assert summary["summary"] == "extra_memory_exponent" and summary["backend"] != "plain"
        assert summary["exponent"] is None or isinstance(summary["exponent"], float)

    skipped = {case[:3]: r["skipped"] for case, r in by_case.items() if "skipped" in r}
    assert set(skipped) == {
        (512, "fwd", "dense"),
        (512, "fwd+bwd", "dense"),
        (256, "fwd+bwd", "flex"),
        (512, "fwd+bwd", "flex"),
        (512, "fwd", "flex"),
    }
    assert "--max-dense-tokens 256" in skipped[(512, "fwd", "dense")]
    assert "no backward on CPU" in skipped[(256, "fwd+bwd", "flex")]
    assert "eager" in skipped[(512, "fwd", "flex")]

    # the Markdown table of these lines (launchers/gpu/bench.sh writes one): a row per measured record
    (tmp_path / "attention.jsonl").write_text(result.stdout)
    table = subprocess.run(
        [sys.executable, "-m", "aqnet.bench.table", str(tmp_path / "attention.jsonl")],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    rows = [line for line in table.splitlines() if line.startswith("| 256 ") or line.startswith("| 512 ")]
    assert len(rows) == len(lines) - len(skipped)
    assert "### Extra memory over plain" in table and "- N=512 fwd dense: dense materialises" in table


def test_step_compare_to_none(tmp_path: Path) -> None:
    result = bench(
        tmp_path,
        *("step", "--grid", "16x32", "backbone=climax_tiny", "physics_bias=topoflow", "--repeats", "1"),
        "--compare-to-none",
    )
    (record,) = records(result)
    assert record["overrides"] == ["backbone=climax_tiny", "physics_bias=topoflow"]
    assert (record["grid"], record["n_tokens"], record["backbone"]) == ("16x32", 8 * 16, "climax_tiny")
    assert (record["physics_bias"], record["bias_blocks"]) == ("topoflow", [0])
    assert record["params"] > 0 and record["median_s"] > 0 and record["no_bias_median_s"] > 0
    assert record["ratio_to_no_bias"] == pytest.approx(record["median_s"] / record["no_bias_median_s"], rel=1e-9)
    assert "peak_mb" in record and "no_bias_peak_mb" in record
    assert "mfu" not in record  # CUDA only


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("attention", "--tokens", "0"), "--tokens"),
        (("attention", "--backends", "sparse"), "--backends"),
        (("step", "--grid", "16by32"), "--grid"),
        (("step", "--grid", "15x32", "backbone=climax_tiny"), "patch_size"),
        (("step", "--grid", "16x32", "backbone=nope"), "backbone"),
    ],
)
def test_bad_argument_is_one_line_exit_2(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    result = bench(tmp_path, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aqnet: error: "), result.stderr
    assert fragment in lines[0]
