"""`aqnet-bench loader` as a real subprocess: its JSON fields and arithmetic (timings are reported, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_loader_lines_ratios_and_where_the_time_goes(store_maker, tmp_path: Path) -> None:
    stores = [store_maker("chunked.zarr", time_chunk=8), store_maker("frames.zarr", time_chunk=1)]
    env = {**os.environ, "AQNET_ROOT": str(tmp_path / "root"), "PYTHONUNBUFFERED": "1"}
    command = [str(Path(sys.executable).parent / "aqnet-bench"), "loader", "--store", *map(str, stores)]
    command += ["--samples", "24", "--batch", "4", "--workers", "0", "--repeats", "2"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["store"] for r in records] == [str(s) for s in stores]
    assert [r["time_chunk"] for r in records] == [8, 1]
    for r in records:
        assert (r["samples"], r["batch"], r["workers"], r["frames_per_sample"]) == (24, 4, 0, 17)
        for name in ("aqnet", "xbatcher", "raw"):
            assert r[f"{name}_samples_per_s"] == pytest.approx(24 / r[f"{name}_median_s"])
        assert r["ratio_to_xbatcher"] == pytest.approx(r["aqnet_samples_per_s"] / r["xbatcher_samples_per_s"])
        assert r["ratio_to_raw"] == pytest.approx(r["aqnet_samples_per_s"] / r["raw_samples_per_s"])
        assert r["zarr_calls_per_sample"] == pytest.approx(11 / 4)  # one call per dynamic variable per batch
        assert 0 < r["read_share"] <= 1 and len(r["load_average"]) == 3
    # frame chunks decode exactly the frames read; 8-step chunks decode at least one chunk per sample and variable
    assert (
        records[1]["chunks_per_sample"] <= 17
        and records[1]["decoded_mb_per_sample"] < records[0]["decoded_mb_per_sample"]
    )


def test_a_missing_store_is_one_line(tmp_path: Path) -> None:
    command = [str(Path(sys.executable).parent / "aqnet-bench"), "loader", "--store", str(tmp_path / "none.zarr")]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and result.stderr.strip().startswith("aqnet: error: --store")
    assert "none.zarr" in result.stderr and len(result.stderr.strip().splitlines()) == 1
