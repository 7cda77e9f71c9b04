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


def test_paired_blocking_variants_compare_and_climate(run_cli: Runner, tmp_path: Path) -> None:
    on, off = tmp_path / "on.zarr", tmp_path / "off.zarr"
    for path, mode in ((on, "on"), (off, "off")):
        made = run_cli("aqnet-data", "synth", "--size", "tiny", "--blocking", mode, "--out", str(path))
        assert made.returncode == 0 and f"blocking {mode}" in made.stdout, made.stderr
        assert xr.open_zarr(path).attrs["aqnet_blocking"] == mode
    compared = run_cli("aqnet-data", "compare-variants", str(on), str(off))
    assert compared.returncode == 0, compared.stderr
    ratio = float(compared.stdout.split("ratio = ")[1].split()[0])
    assert ratio >= 0.3 and "blocking=on" in compared.stdout and "blocking=off" in compared.stdout
    climate = run_cli("aqnet-data", "inspect", "--climate", str(on))
    assert climate.returncode == 0, climate.stderr
    for expected in ("North China Plain", "Yangtze River Delta", "Pearl River Delta", "Sichuan Basin", "Fenwei Plain",
                     "lag1", "MDA8"):  # fmt: skip
        assert expected in climate.stdout

    before = snapshot(on)
    bad = run_cli("aqnet-data", "synth", "--size", "tiny", "--blocking", "medium", "--out", str(on))
    assert_one_line_error(bad, "medium", "off, on, strong")
    assert snapshot(on) == before  # nothing overwritten
    fresh = tmp_path / "never.zarr"
    assert_one_line_error(run_cli("aqnet-data", "synth", "--blocking", "x", "--out", str(fresh)), "'x'")
    assert not fresh.exists()


def test_climate_of_a_store_without_its_variables_or_seasons(run_cli: Runner, tmp_path: Path) -> None:
    from tests.data.store_factory import make_store

    short = make_store(tmp_path / "short.zarr")  # five January days
    assert_one_line_error(run_cli("aqnet-data", "inspect", "--climate", str(short)), "summer", "short.zarr")
    no_ozone = make_store(tmp_path / "no_o3.zarr", variables=("pm25", "no2", "u", "v"))
    assert_one_line_error(run_cli("aqnet-data", "inspect", "--climate", str(no_ozone)), "o3", "no_o3.zarr")


def test_stations_of_the_benchmark_as_a_user_writes_them(run_cli: Runner, tiny_benchmark: Path, tmp_path: Path) -> None:
    out = tmp_path / "stations.zarr"
    made = run_cli("aqnet-data", "stations", str(tiny_benchmark), "--to", str(out), "--noise", "0.1")
    assert made.returncode == 0, made.stderr
    assert f"wrote station store {out}" in made.stdout and "stations x 1440 times" in made.stdout
    assert xr.open_zarr(out, consolidated=False).attrs["aqnet_store"] == "stations"
    before = snapshot(out)
    assert_one_line_error(run_cli("aqnet-data", "stations", str(tiny_benchmark), "--to", str(out)), "--overwrite")
    assert_one_line_error(
        run_cli("aqnet-data", "stations", str(tmp_path / "none.zarr"), "--to", str(tmp_path / "s.zarr")),
        "none.zarr is not an aqnet benchmark store",
    )
    assert_one_line_error(
        run_cli("aqnet-data", "stations", str(tiny_benchmark), "--to", str(tmp_path / "s.zarr"), "--noise", "-1"),
        "--noise -1.0",
    )
    assert snapshot(out) == before and not (tmp_path / "s.zarr").exists()
