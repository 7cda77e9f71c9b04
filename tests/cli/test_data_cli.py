"""`aqnet-data synth` and `aqnet-data inspect`, run as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from tests.cli.conftest import Runner, assert_one_line_error
from tests.data.store_factory import snapshot

pytestmark = pytest.mark.integration


def test_synth_default_location_then_inspect(run_cli: Runner, root: Path) -> None:
    made = run_cli("aqnet-data", "synth", "--size", "tiny")
    assert made.returncode == 0, made.stderr
    store = root / "data" / "benchmark_tiny_seed0.zarr"
    assert str(store) in made.stdout and "wrote in" in made.stdout
    ds = xr.open_zarr(store)
    assert ds.attrs["aqnet_size"] == "tiny" and ds.sizes["lat"] == 32 and ds.sizes["lon"] == 64

    again = run_cli("aqnet-data", "synth", "--size", "tiny")
    assert again.returncode == 0 and "reused existing" in again.stdout

    shown = run_cli("aqnet-data", "inspect", str(store))
    assert shown.returncode == 0, shown.stderr
    for expected in ("pm25", "µg m-3", "elevation", "2013", "2018", "NaN"):
        assert expected in shown.stdout


def test_synth_refuses_to_overwrite_something_else(run_cli: Runner, tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.tex").write_text("do not lose me")
    before = snapshot(target)
    assert_one_line_error(run_cli("aqnet-data", "synth", "--out", str(target)), str(target))
    assert snapshot(target) == before


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["synth", "--size", "huge"], "huge"),
        (["synth", "--seed", "one"], "--seed"),
        (["inspect"], "store"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_arguments_are_one_line(run_cli: Runner, args: list[str], named: str) -> None:
    assert_one_line_error(run_cli("aqnet-data", *args), named)


def test_inspect_a_missing_or_foreign_path(run_cli: Runner, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("aqnet-data", "inspect", str(tmp_path / "none.zarr")), "none.zarr")
    (tmp_path / "plain").mkdir()
    assert_one_line_error(run_cli("aqnet-data", "inspect", str(tmp_path / "plain")), "plain")
