"""Per-case test errors and error maps: hand-computed sums, file round trips, and the ForecastModule wiring."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aqnet.evaluation import (
    CASE_COLUMNS,
    CASES_FILE,
    MAPS_FILE,
    CaseErrors,
    ErrorMaps,
    TestEvaluation,
    read_cases,
    read_maps,
    write_cases,
)
from aqnet.tasks.forecast.module import ForecastModule
from tests.tasks.forecast.test_module import LAT as LAT_TASK
from tests.tasks.forecast.test_module import LEADS, OUT_NAMES, Oracle, TinyForecaster, climatology, loader, make_batches
from tests.tasks.forecast.test_module import trainer as make_trainer

LAT = torch.tensor([0.0, 60.0])  # cos: 1 and 0.5
NAMES = ("pm25", "co")
T0 = 1514764800  # 2018-01-01T00:00:00Z


def hand_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two samples, two variables, a 2×2 grid; errors and validity chosen so the sums are easy by hand."""
    target = torch.zeros(2, 2, 2, 2)
    pred = torch.zeros(2, 2, 2, 2)
    # sample 0, pm25: errors [[1, 2], [3, 4]] (rows = lat 0°, 60°), all valid
    pred[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # sample 0, co: error 10 everywhere, but only the lat-0 row is valid; the invalid target is NaN
    pred[0, 1] = 10.0
    target[0, 1, 1] = float("nan")
    # sample 1, pm25: error -2 everywhere, all valid; co: nothing valid
    pred[1, 0] = -2.0
    valid = torch.ones(2, 2, 2, 2, dtype=torch.bool)
    valid[0, 1, 1] = False
    valid[1, 1] = False
    init = torch.tensor([T0, T0 + 6 * 3600])
    lead = torch.tensor([24.0, 12.0])
    return pred, target, valid, init, lead


def test_case_errors_are_lat_weighted_sums_over_valid_pixels() -> None:
    metric = CaseErrors(NAMES, LAT)
    pred, target, valid, init, lead = hand_batch()
    metric.update(pred, target, valid, init, lead)
    state = metric.compute()
    # sample 0 pm25: 1·(1 + 4) + 0.5·(9 + 16) = 17.5 over weight 1·2 + 0.5·2 = 3
    # sample 0 co: 1·(100 + 100) = 200 over weight 2 (the NaN row is invalid)
    # sample 1 pm25: 4·3 = 12 over 3; co: no valid pixel → 0 over 0
    expected_sse = torch.tensor([[17.5, 200.0], [12.0, 0.0]], dtype=torch.float64)
    expected_w = torch.tensor([[3.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(state["sse"], expected_sse, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(state["weight"], expected_w, rtol=1e-6, atol=1e-6)
    assert state["init_time"].tolist() == init.tolist() and state["lead_hours"].tolist() == [24.0, 12.0]

    frame = metric.frame("model")
    assert list(frame.columns) == list(CASE_COLUMNS[:-1]) + ["rmse"]
    assert len(frame) == 3  # sample 1's co has no valid pixel: no row
    row = frame[(frame.variable == "pm25") & (frame.lead_hours == 24)].iloc[0]
    assert row.init_time == pd.Timestamp("2018-01-01T00:00:00Z")
    assert row.rmse == pytest.approx(math.sqrt(17.5 / 3))


def test_case_errors_accumulate_over_batches_and_reset() -> None:
    metric = CaseErrors(NAMES, LAT)
    pred, target, valid, init, lead = hand_batch()
    metric.update(pred, target, valid, init, lead)
    metric.update(pred, target, valid, init + 86400, lead)
    assert metric.compute()["sse"].shape == (4, 2)
    metric.reset()
    assert metric.frame("model").empty


def test_error_maps_sum_squared_errors_and_counts_per_lead_and_pixel() -> None:
    maps = ErrorMaps(NAMES, (12, 24), n_lat=2)  # n_lon left out: allocated at the first update
    pred, target, valid, _, lead = hand_batch()
    maps.update(pred, target, valid, lead)
    sse, count = maps.compute()
    assert sse.shape == (2, 2, 2, 2)
    # lead 24 (sample 0): pm25 errors² [[1, 4], [9, 16]]; co 100 on the valid row only
    torch.testing.assert_close(sse[0, 1], torch.tensor([[1.0, 4.0], [9.0, 16.0]], dtype=torch.float64))
    torch.testing.assert_close(sse[1, 1], torch.tensor([[100.0, 100.0], [0.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(count[1, 1], torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64))
    # lead 12 (sample 1): pm25 4 everywhere; co never valid
    torch.testing.assert_close(sse[0, 0], torch.full((2, 2), 4.0, dtype=torch.float64))
    assert float(count[1, 0].sum()) == 0.0
    with pytest.raises(ValueError, match="not all in"):
        maps.update(pred, target, valid, torch.tensor([6.0, 12.0]))


def test_files_round_trip(tmp_path: Path) -> None:
    evaluation = TestEvaluation(NAMES, (12, 24), LAT, lon=[100.0, 101.0], sources=("model", "persistence"))
    pred, target, valid, init, lead = hand_batch()
    evaluation.update("model", pred, target, valid, init, lead)
    evaluation.update("persistence", torch.zeros_like(pred), target, valid, init, lead)
    paths = evaluation.finish(tmp_path)
    assert [p.name for p in paths] == [CASES_FILE, MAPS_FILE]

    text = (tmp_path / CASES_FILE).read_text().splitlines()
    assert text[0] == ",".join(CASE_COLUMNS)
    assert text[1].startswith("2018-01-01T00:00:00Z,24")
    cases = read_cases(tmp_path / CASES_FILE)
    assert set(cases.source) == {"model", "persistence"} and len(cases) == 3 + 3
    model = cases[cases.source == "model"].set_index(["variable", "lead_hours"])
    assert model.loc[("co", 24.0), "sse"] == pytest.approx(200.0)
    assert model.loc[("co", 24.0), "rmse"] == pytest.approx(10.0)
    assert cases.init_time.dt.tz is not None
    write_cases(cases, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == (tmp_path / CASES_FILE).read_text()

    maps = read_maps(tmp_path / MAPS_FILE)
    assert maps.mse.dims == ("source", "variable", "lead_hours", "lat", "lon")
    assert maps.mse.attrs["units"] == "(µg m-3)^2"
    assert maps.lon.values.tolist() == [100.0, 101.0] and maps.lat.values.tolist() == [0.0, 60.0]
    lead24 = maps.mse.sel(source="model", lead_hours=24)
    np.testing.assert_allclose(lead24.sel(variable="pm25").values, [[1, 4], [9, 16]])
    assert np.isnan(lead24.sel(variable="co").values[1]).all()  # never valid: NaN, not 0
    assert float(maps["count"].sel(source="persistence", variable="pm25").sum()) == 8
    # finish() reset the states for the next test epoch
    assert evaluation.cases_frame().empty


def test_forecast_task_writes_cases_that_pool_to_its_test_metrics(tmp_path: Path) -> None:
    out = tmp_path / "evaluation"
    task = ForecastModule(TinyForecaster(), LAT_TASK, OUT_NAMES, LEADS, climatology(), evaluation_dir=out)
    tr = make_trainer(max_steps=2, limit_val_batches=1)
    tr.fit(task, loader(make_batches(2, 4, 0)), loader(make_batches(1, 4, 1)))
    assert not out.exists()  # validation records no cases
    (result,) = tr.test(task, loader(make_batches(3, 4, 2)))
    cases = read_cases(out / CASES_FILE)
    assert set(cases.source) == {"model", "persistence", "climatology"}
    assert len(cases[(cases.source == "model")]) == 3 * 4 * len(OUT_NAMES)  # every sample × variable
    pooled = cases.groupby(["source", "variable", "lead_hours"])[["sse", "weight"]].sum()
    for (source, var, lead), row in pooled.iterrows():
        prefix = "" if source == "model" else f"{source}_"
        expected = result[f"test/{prefix}rmse_{var}_{lead:g}h"]
        assert math.sqrt(row.sse / row.weight) == pytest.approx(expected, rel=1e-4)
    maps = read_maps(out / MAPS_FILE)
    assert maps.mse.shape == (3, len(OUT_NAMES), len(LEADS), LAT_TASK.numel(), 6)
    n_valid = sum(float(b.target_valid.sum()) for b in make_batches(3, 4, 2))
    assert float(maps["count"].sel(source="model").sum()) == n_valid


def test_a_perfect_model_has_zero_case_errors(tmp_path: Path) -> None:
    task = ForecastModule(Oracle(), LAT_TASK, OUT_NAMES, LEADS, climatology(), evaluation_dir=tmp_path)
    make_trainer().test(task, loader(make_batches(2, 4, 3)))
    cases = read_cases(tmp_path / CASES_FILE)
    assert cases[cases.source == "model"].rmse.max() < 1e-3
    assert cases[cases.source == "persistence"].rmse.min() > 0.1


def test_ranks_contribute_their_cases_and_maps(tmp_path: Path) -> None:
    """Two CPU processes (gloo): rank 0's files hold both ranks' cases (cat) and summed maps."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.evaluation.ddp_cases", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cases = read_cases(tmp_path / CASES_FILE)
    assert len(cases) == 2 and sorted(t.day for t in cases.init_time) == [1, 2]  # co: never valid, no rows
    assert set(cases.variable) == {"pm25"} and cases.sse.tolist() == pytest.approx([17.5, 17.5])
    maps = read_maps(tmp_path / MAPS_FILE)
    pm25 = maps.sel(source="model", variable="pm25", lead_hours=24)
    np.testing.assert_allclose(pm25["count"].values, 2.0)
    np.testing.assert_allclose(pm25.mse.values, [[1, 4], [9, 16]])
