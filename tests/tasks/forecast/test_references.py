"""The strongest simple references: the hour × season climatology against numpy on a real store, damped anomaly
persistence recovering a known damping, and the daily-statistic scores on hand-worked days."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from aqnet.data.samples import SampleIndex
from aqnet.data.seasonal import SeasonalClimatology, compute_seasonal_climatology, day_of_year
from aqnet.data.store import open_store
from aqnet.errors import DataError
from aqnet.tasks.forecast.daily import DailyScores, contingency_scores, expected_days, local_days
from aqnet.tasks.forecast.references import DampedPersistence, SeasonalLookup, fit_damping
from tests.data.store_factory import make_store

DAY = 86_400


def test_seasonal_climatology_is_the_mean_of_the_training_frames_in_its_window_and_hour(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.zarr")  # 10-14 January of 2013-2018, 6-hourly
    handle = open_store(store, ["pm25"], cache_dir=tmp_path / "cache")
    clim = compute_seasonal_climatology(handle, ["pm25"], [2013, 2014], window_days=15, bins=12)
    assert clim.values.shape == (12, 4, 1, *handle.grid_shape)
    times = handle.times
    data = handle.canonical("pm25").values
    train = np.isin(times.astype("datetime64[Y]").astype(int) + 1970, [2013, 2014])
    at_six = train & (times.astype("datetime64[h]").astype(int) % 24 == 6)
    with np.errstate(invalid="ignore"):
        expected = np.nanmean(data[at_six], axis=0)
    january, six = 0, list(clim.hours).index(6)
    np.testing.assert_allclose(clim.values[january, six, 0], expected, rtol=1e-5, equal_nan=True)
    # a window without training frames (July) takes the nearest that has them (January's)
    np.testing.assert_array_equal(clim.values[6, six, 0], clim.values[0, six, 0])
    assert day_of_year(np.array(["2013-01-01T12"], dtype="datetime64[s]"))[0] == pytest.approx(1.5)


def _seasonal(level: float, shape: tuple[int, int] = (2, 3)) -> SeasonalLookup:
    values = np.full((12, 4, 1, *shape), level, np.float32)
    centres = 1.0 + (np.arange(12) + 0.5) * 365.25 / 12
    return SeasonalLookup(SeasonalClimatology(centres, 15.0, np.array([0, 6, 12, 18]), ("pm25",), values))


@dataclass
class _Pairs:
    """Training pairs whose anomaly decays by exactly ``phi`` from init to valid time."""

    index: SampleIndex
    phi: float
    level: float = 40.0

    def __getitem__(self, k: int) -> dict:
        g = torch.Generator().manual_seed(k)
        state = self.level + 10 * torch.randn(1, 2, 3, generator=g)
        lead = float(self.index.lead_hours[k])
        return {
            "inputs": state,
            "input_names": ("pm25",),
            "targets": self.level + self.phi * (state - self.level),
            "target_valid": torch.ones(1, 2, 3, dtype=torch.bool),
            "target_names": ("pm25",),
            "init_time": torch.tensor(k * 6 * 3600, dtype=torch.int64),
            "lead_hours": torch.tensor(lead),
        }


def _index(n: int, leads: tuple[int, ...]) -> SampleIndex:
    lead = np.repeat(np.array(leads), n)
    init = np.tile(np.arange(n), len(leads))
    return SampleIndex("train", init, init, lead)


def test_damped_persistence_recovers_a_known_damping_and_forecasts_with_it() -> None:
    seasonal = _seasonal(40.0)
    phi = fit_damping(_Pairs(_index(20, (12,)), phi=0.6), ["pm25"], [12], seasonal, torch.tensor([0.0, 30.0]))
    assert phi.shape == (1, 1) and phi[0, 0] == pytest.approx(0.6, abs=1e-6)
    reference = DampedPersistence(seasonal, ["pm25"], [12], phi)
    sample = _Pairs(_index(1, (12,)), phi=0.6)[0]

    @dataclass
    class Batch:
        inputs: torch.Tensor = sample["inputs"][None]
        input_names: tuple = ("pm25",)
        init_time: torch.Tensor = sample["init_time"].reshape(1)  # 1970-01-01 00 UTC
        lead_hours: torch.Tensor = torch.tensor([12.0])
        hour_of_day: torch.Tensor = torch.tensor([0.0])
        day_of_year: torch.Tensor = torch.tensor([1.0])

    pred, ok = reference(Batch(), ["pm25"])
    assert bool(ok.all()) and torch.allclose(pred[0], sample["targets"], atol=1e-4)
    assert dict(reference.state_dict())["prior.phi"].shape == (1, 1)  # φ travels with the module's checkpoint


def test_damping_names_a_lead_it_cannot_fit() -> None:
    with pytest.raises(DataError, match="lead 96 h"):
        fit_damping(_Pairs(_index(4, (12,)), 0.5), ["pm25"], [12, 96], _seasonal(40.0), torch.tensor([0.0, 1.0]))


def test_contingency_scores_by_hand() -> None:
    scores = contingency_scores(tp=3, fp=1, fn=2, tn=14)
    assert scores["csi"] == pytest.approx(3 / 6) and scores["pod"] == pytest.approx(3 / 5)
    assert scores["far"] == pytest.approx(1 / 4)
    random_hits = 4 * 5 / 20
    assert scores["ets"] == pytest.approx((3 - random_hits) / (6 - random_hits))
    assert np.isnan(contingency_scores(0, 0, 0, 10)["csi"])  # no event forecast or seen: undefined


def test_daily_scores_take_the_daily_means_of_the_forecasts_valid_on_the_day() -> None:
    # one local day (UTC+8) seen at lead 24 h through two samples; pixel 0 exceeds 75 in the observed daily mean,
    # pixel 1 only in the forecast one
    day0 = 17_000 * DAY - 8 * 3600  # local midnight
    init = torch.tensor([day0 - 24 * 3600 + 3 * 3600, day0 - 24 * 3600 + 15 * 3600])
    leads = torch.tensor([24.0, 24.0])
    truth = torch.tensor([[[[80.0, 70.0]]], [[[82.0, 60.0]]]])  # [B, V=1, H=1, W=2]
    model = torch.tensor([[[[70.0, 90.0]]], [[[70.0, 95.0]]]])
    valid = torch.ones_like(truth, dtype=torch.bool)
    expected = expected_days(init.numpy(), leads.numpy().astype(int), 8.0)
    assert expected == {(24.0, local_days(np.array([day0 + 3 * 3600]), 8.0)[0]): 2}
    daily = DailyScores(["pm25"], [24], torch.tensor([0.0]), ("model",), expected)
    daily.update({"model": model[:1]}, {"model": valid[:1]}, truth[:1], valid[:1], init[:1], leads[:1])
    assert daily.scores("test") == {}  # the day is not complete yet
    daily.update({"model": model[1:]}, {"model": valid[1:]}, truth[1:], valid[1:], init[1:], leads[1:])
    scores = daily.scores("test")
    assert scores["test/csi_pm25_daily_gt75_24h"] == 0.0 and scores["test/pod_pm25_daily_gt75_24h"] == 0.0
    assert scores["test/far_pm25_daily_gt75_24h"] == 1.0
    assert "test/csi_pm25_daily_gt150_24h" not in scores  # no event at 150: undefined, left out
    (row,) = daily.frame().to_dict("records")
    assert (row["pm25_gt75_tp"], row["pm25_gt75_fp"], row["pm25_gt75_fn"], row["pm25_gt75_tn"]) == (0, 1, 1, 0)


def test_mda8_is_the_largest_eight_hour_mean_of_the_day() -> None:
    hours = torch.arange(24.0)
    values = torch.tensor([10.0] * 10 + [50.0] * 6 + [10.0] * 8)[:, None, None, None]  # peak 10:00-15:00 local
    mda8 = DailyScores._mda8(values, hours)
    expected = max(np.mean(values[h : h + 8, 0, 0, 0].numpy()) for h in range(17))  # windows ending 8..24 h
    assert float(mda8) == pytest.approx(expected)  # 6 h at 50 + 2 h at 10 over 8 h
    assert float(mda8) == pytest.approx((6 * 50 + 2 * 10) / 8)


def test_two_ranks_with_whole_days_give_the_single_process_daily_scores(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.tasks.forecast import ddp_daily

    single = ddp_daily.daily()
    ddp_daily.feed(single, list(range(len(ddp_daily.INITS))))
    result = subprocess.run(
        [sys.executable, "-m", "tests.tasks.forecast.ddp_daily", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = json.loads((tmp_path / "ranks.json").read_text())
    assert ranks["days"] == len(single.frame()) == 4
    assert ranks["scores"] == pytest.approx(single.scores("test"))
    assert ranks["scores"]  # some score is defined
