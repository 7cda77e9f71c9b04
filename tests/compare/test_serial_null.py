"""The case-level tests keep their size: on simulated loss differences with no true difference, AR(1) with φ = 0, 0.5
and 0.8 per case, each rejects at 5% in at most 7% of the series (and at least 3%: a test that never rejects would
pass the upper bound by doing nothing). The same harness fails the fixed two-case window the Diebold–Mariano test
had before, and a fixed two-case bootstrap block, so it can tell a bad method.

Series: 160 cases, the length of the elevation ablation's test set, at the benchmark's 6-hourly init step and a
24 h lead (horizon 4 cases, windows at least 8). Fixed seeds: the rates below are exact for this code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal, stats

from aqnet.compare import serial

CASES, SPACING_H, LEAD_H = 160, 6.0, 24.0
HORIZON, FLOOR = serial.horizon_cases(LEAD_H, SPACING_H), serial.dependence_floor(LEAD_H, SPACING_H)
DM_SERIES, BOOT_SERIES, BOOT_RESAMPLES = 2000, 400, 99  # 99 resamples: p <= 0.05 is an exact 5% Monte Carlo test
PHIS = (0.0, 0.5, 0.8)
MAX_RATE, MIN_RATE = 0.07, 0.03


def null_series(phi: float, n_series: int, seed: int) -> np.ndarray:
    """``n_series`` stationary AR(1) series of ``CASES`` values with mean 0, one per row."""
    e = np.random.default_rng(seed).normal(size=(n_series, CASES))
    e[:, 0] /= math.sqrt(1 - phi**2)
    return signal.lfilter([1.0], [1.0, -phi], e, axis=1)


def fixed_window_dm_p(d: np.ndarray, horizon: int = 2) -> float:
    """The Diebold–Mariano test aqnet-compare had: a rectangular window of horizon − 1 lags, t with T − 1 df."""
    t = d.size
    dev = d - d.mean()
    gamma = [dev[k:] @ dev[: t - k] / t for k in range(horizon)]
    lrv = gamma[0] + 2 * sum(gamma[1:])
    lrv = lrv if lrv > 0 else gamma[0]
    hln = math.sqrt((t + 1 - 2 * horizon + horizon * (horizon - 1) / t) / t)
    return float(2 * stats.t.sf(abs(d.mean()) / math.sqrt(lrv / t) * hln, t - 1))


def dm_rate(series: np.ndarray) -> float:
    zeros = np.zeros(CASES)
    p = [serial.diebold_mariano(d, zeros, HORIZON, min_bandwidth=FLOOR).p_value for d in series]
    return float(np.mean(np.asarray(p) < 0.05))


def boot_rate(series: np.ndarray, block_length: int | None = None) -> float:
    p = [
        serial.circular_block_bootstrap(d, block_length, FLOOR, n_boot=BOOT_RESAMPLES, seed=i).p_value
        for i, d in enumerate(series)
    ]
    return float(np.mean(np.asarray(p) <= 0.05))


@pytest.mark.parametrize("phi", PHIS)
def test_diebold_mariano_keeps_its_size(phi: float) -> None:
    rate = dm_rate(null_series(phi, DM_SERIES, seed=100 + int(10 * phi)))
    assert MIN_RATE <= rate <= MAX_RATE, f"φ = {phi}: {rate:.3f} of {DM_SERIES} null series rejected at 5%"


@pytest.mark.parametrize("phi", PHIS)
def test_block_bootstrap_keeps_its_size(phi: float) -> None:
    rate = boot_rate(null_series(phi, BOOT_SERIES, seed=200 + int(10 * phi)))
    assert MIN_RATE <= rate <= MAX_RATE, f"φ = {phi}: {rate:.3f} of {BOOT_SERIES} null series rejected at 5%"


def test_the_harness_fails_a_too_short_window() -> None:
    series = null_series(0.8, DM_SERIES, seed=108)
    old = float(np.mean([fixed_window_dm_p(d) < 0.05 for d in series]))
    assert old > 0.2, f"the fixed two-case window rejected only {old:.3f}"
    short_blocks = boot_rate(series[:BOOT_SERIES], block_length=2)
    assert short_blocks > 0.15, f"two-case blocks rejected only {short_blocks:.3f}"
