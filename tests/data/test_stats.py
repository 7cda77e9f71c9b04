from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aqnet.data import stats as stats_module
from aqnet.data.stats import load_or_compute_statistics
from aqnet.data.store import open_store
from tests.data.store_factory import canonical_fields, make_times

TRAIN = (2013, 2014, 2015, 2016)


def _truth(name: str) -> np.ndarray:
    times = make_times()
    _, _, fields = canonical_fields(times)
    values = fields[name].astype(np.float32).astype(np.float64)
    if values.ndim == 3:
        values = values[np.isin(times.astype("datetime64[Y]").astype(int) + 1970, TRAIN)]
    return values


def test_stats_match_numpy_on_training_years(canonical_store: Path, cache: Path) -> None:
    handle = open_store(canonical_store, ("pm25", "temp", "psfc", "elevation", "population"), cache_dir=cache)
    stats, clim = load_or_compute_statistics(handle, handle.variables, TRAIN, ("pm25", "temp"))
    for name in handle.variables:
        x = _truth(name)
        assert stats.mean[name] == pytest.approx(np.nanmean(x), rel=1e-9)
        assert stats.std[name] == pytest.approx(np.nanstd(x), rel=1e-6)
    for name in ("pm25", "population"):
        lx = np.log1p(np.clip(_truth(name), 0, None))
        assert stats.log_mean[name] == pytest.approx(np.nanmean(lx), rel=1e-9)
        assert stats.log_std[name] == pytest.approx(np.nanstd(lx), rel=1e-6)
    assert "temp" not in stats.log_mean
    # hour-of-day climatology, per pixel
    times = make_times()
    train_times = times[np.isin(times.astype("datetime64[Y]").astype(int) + 1970, TRAIN)]
    hours = train_times.astype("datetime64[h]").astype(int) % 24
    assert clim.hours.tolist() == [0, 6, 12, 18]
    x = _truth("pm25")
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(clim.at(6, "pm25"), np.nanmean(x[hours == 6], axis=0), rtol=1e-5)
    assert clim.values.shape == (4, 2, 8, 16)


def test_stats_are_cached(canonical_store: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = open_store(canonical_store, ("pm25", "u"), cache_dir=cache)
    first = load_or_compute_statistics(handle, ("pm25", "u"), TRAIN, ("pm25",))

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(stats_module, "compute_statistics", boom)
    again = load_or_compute_statistics(handle, ("u", "pm25"), TRAIN, ("pm25",))
    assert again[0] == first[0]
    np.testing.assert_array_equal(again[1].values, first[1].values)
    with pytest.raises(AssertionError, match="recomputed"):  # other training years -> other key
        load_or_compute_statistics(handle, ("pm25", "u"), (2013,), ("pm25",))
