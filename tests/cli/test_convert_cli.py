"""`aqnet-data convert` as a user runs it: end to end into training, and every bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli.conftest import Runner, assert_one_line_error
from tests.data.sources import cams_eac4, caqra_years, legacy_netcdf, station_csv, station_table
from tests.data.store_factory import snapshot

pytestmark = pytest.mark.integration


def test_convert_inspect_train_and_score_at_stations(run_cli: Runner, root: Path, tmp_path: Path) -> None:
    (tmp_path / "caqra").mkdir()
    caqra_years(tmp_path / "caqra", (2013, 2014, 2015), days=8)
    store = tmp_path / "converted.zarr"
    done = run_cli("aqnet-data", "convert", str(tmp_path / "caqra"), "--to", str(store))
    assert done.returncode == 0, done.stderr
    assert "wrote converted store" in done.stdout and "co: data_2013_china.zarr" in done.stdout
    shown = run_cli("aqnet-data", "inspect", str(store))
    assert shown.returncode == 0, shown.stderr
    assert "2013" in shown.stdout and "2015" in shown.stdout and "population" in shown.stdout
    trained = run_cli(
        "aqnet-train",
        "data=zarr",
        f"data.path={store}",
        "data.train_years=[2013]",
        "data.val_years=[2014]",
        "data.test_years=[2015]",
        "task.lead_hours=[12,24]",
        "debug=fast",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
    )
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    assert "test RMSE" in trained.stdout

    codes = ("1001A", "1002A", "9999A")
    days = [str(station_csv(tmp_path / f"sites_{d}.csv", d, codes)) for d in ("20150101", "20150102")]
    table = station_table(tmp_path / "sites.csv", codes)
    table.write_text(table.read_text().replace("116.2,39.7", "150.0,10.0"))  # one station outside the grid
    obs = tmp_path / "obs.zarr"
    done = run_cli("aqnet-data", "convert", *days, "--stations-table", str(table), "--to", str(obs))
    assert done.returncode == 0, done.stderr
    (run_dir,) = (root / "runs").iterdir()
    scored = run_cli("aqnet-eval", f"run={run_dir}", f"stations={obs}", "plots=false")
    assert scored.returncode == 0, scored.stdout[-2000:] + scored.stderr[-2000:]
    assert "test/stations RMSE" in scored.stdout and "scored 2 of 3 stations inside the grid" in scored.stdout
    metrics = json.loads(next((run_dir / "eval").glob("test_best_metrics.json")).read_text())["metrics"]
    for key in ("test/stations/rmse_pm25_12h", "test/stations/persistence_rmse_co_24h", "test/stations/bias_o3_24h"):
        assert np.isfinite(metrics[key]), key
    assert "test/stations/skill_persistence_pm25_12h" in metrics


def test_an_existing_aqnet_store_is_replaced_only_with_overwrite(run_cli: Runner, tmp_path: Path) -> None:
    (tmp_path / "caqra").mkdir()
    caqra_years(tmp_path / "caqra", (2013,), days=2)
    store = tmp_path / "out.zarr"
    assert run_cli("aqnet-data", "convert", str(tmp_path / "caqra"), "--to", str(store)).returncode == 0
    before = snapshot(store)
    assert_one_line_error(run_cli("aqnet-data", "convert", str(tmp_path / "caqra"), "--to", str(store)), "--overwrite")
    assert snapshot(store) == before
    again = run_cli("aqnet-data", "convert", str(tmp_path / "caqra"), "--to", str(store), "--overwrite")
    assert again.returncode == 0, again.stderr
    assert snapshot(store) != before and not list(tmp_path.glob(".out.zarr*"))


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    lat, lon = 30.0 + 0.75 * np.arange(12), 100.0 + 0.75 * np.arange(16)
    surface, model = cams_eac4(tmp_path, pd.date_range("2019-01-01", periods=4, freq="3h").values, lat, lon)
    legacy_netcdf(tmp_path / "era5_2020.nc", pd.date_range("2020-06-01", periods=4, freq="h"), 4, lat, lon)
    (tmp_path / "caqra").mkdir()
    (bad_units,) = caqra_years(tmp_path / "caqra", (2013,), days=1)
    import zarr

    zarr.open_array(bad_units / "co", mode="r+").attrs["units"] = "ppb"
    codes = ("1001A", "1002A")
    day = station_csv(tmp_path / "day.csv", "20190101", codes)
    odd = station_csv(tmp_path / "odd.csv", "20190102", codes, ("PM2.5", "PM1"))
    twice = pd.read_csv(station_csv(tmp_path / "twice.csv", "20190103", codes))
    pd.concat([twice, twice.iloc[[3]]]).to_csv(tmp_path / "twice.csv", index=False)
    (tmp_path / "blob.dat").write_bytes(b"\x00\x01binary junk" * 20)
    return {
        "surface": surface,
        "model": model,
        "era5_2020": tmp_path / "era5_2020.nc",
        "bad_units": tmp_path / "caqra",
        "day": day,
        "odd": odd,
        "twice": tmp_path / "twice.csv",
        "table": station_table(tmp_path / "sites.csv", codes),
        "blob": tmp_path / "blob.dat",
    }


CASES = {
    "unknown format": (["blob"], [], ["blob.dat", "unknown format", "GRIB", "station CSV"]),
    "variables map to nothing": (["<msl>"], [], ["regular_ll_msl.grib", "it has prmsl"]),
    "unit that cannot be converted": (["bad_units"], [], ["'co'", "'ppb'", "cannot be converted"]),
    "periods do not overlap": (["surface", "model", "era5_2020"], [], ["do not overlap", "2020-06-01"]),
    "grid does not cover --box": (["surface", "model"], ["--grid", "1", "--box", "30", "40", "95", "110"], ["cover"]),
    "unknown station type": (["odd"], ["--stations-table", "<table>"], ["odd.csv", "unknown type(s) PM1"]),
    "duplicated hour": (["twice"], ["--stations-table", "<table>"], ["twice.csv", "hour 0 of 20190103", "twice"]),
    "bad --step": (["surface", "model"], ["--step", "90min"], ["--step 90min"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_writes_nothing(
    case: str,
    run_cli: Runner,
    sources: dict[str, Path],
    ecmwf_samples: Path,
    tmp_path: Path,
) -> None:
    names, extra, fragments = CASES[case]
    known = {**sources, "<msl>": ecmwf_samples / "regular_ll_msl.grib"}
    args = [str(known[n]) for n in names] + [str(sources["table"]) if a == "<table>" else a for a in extra]
    out = tmp_path / "out.zarr"
    assert_one_line_error(run_cli("aqnet-data", "convert", *args, "--to", str(out)), *fragments)
    assert not out.exists() and not list(tmp_path.glob(".out.zarr*")) and not list(tmp_path.glob(".aqnet-convert-*"))


def test_an_existing_path_that_is_not_an_aqnet_store_is_never_touched(
    run_cli: Runner, sources: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "thesis"
    target.mkdir()
    (target / "chapter1.tex").write_text("do not lose me")
    before = snapshot(target)
    for extra in ([], ["--overwrite"]):
        result = run_cli("aqnet-data", "convert", str(sources["surface"]), "--to", str(target), *extra)
        assert_one_line_error(result, str(target), "not an aqnet store")
    assert snapshot(target) == before
