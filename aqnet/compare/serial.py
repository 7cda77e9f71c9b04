"""Case-level tests of ``aqnet-compare``: is the mean of a serially dependent loss-difference series zero?

``d_t = loss_candidate[t] - loss_baseline[t]`` over T forecast cases in init-time order. Consecutive cases share
weather regimes and, at leads longer than the init step, overlapping valid windows, so ``d_t`` is autocorrelated
(at 24 h lead on 6-hourly inits the autocorrelation is still about 0.4 a day apart) and the test has to estimate
how far that dependence reaches. Both tests choose their window from the data, never below a floor in cases
(:func:`dependence_floor`: the lead plus one day):

* :func:`diebold_mariano`: the mean over its long-run standard error, :func:`long_run_variance` — Newey–West
  (Bartlett kernel) after AR(1) prewhitening (Andrews & Monahan 1992), the bandwidth by Newey & West (1994), as
  ``arch.covariance.kernel.Bartlett`` implements it — with the Harvey–Leybourne–Newbold (1997) correction for the
  forecast horizon, referred to a t distribution with the kernel estimate's equivalent degrees of freedom.
* :func:`circular_block_bootstrap`: the studentized circular block bootstrap (Politis & Romano 1992; Götze & Künsch
  1996) of ``arch.bootstrap.CircularBlockBootstrap``, the block twice Politis & White's (2004, corrected by Patton,
  Politis & White 2009) length as ``arch.bootstrap.optimal_block_length`` estimates it.

Both keep their false-rejection rate near the nominal level on simulated AR(1) nulls (docs/comparing-runs.md gives
the rates; tests/compare/test_serial_null.py checks them), where a fixed two-case window rejects 29% at φ = 0.8.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from aqnet.compare.stats import Difference, as_1d, check_confidence, same_length

MAX_AR1 = 0.97  # Andrews & Monahan's bound: a prewhitening filter closer to a unit root explodes the recolouring
BARTLETT_DF = 1.5  # equivalent df of a Bartlett spectral estimate at frequency 0: 1.5 T / (bandwidth + 1)
BLOCK_FACTOR = 2  # times Politis–White: their length is MSE-optimal for the variance, too short for a test's size
POLITIS_WHITE_MIN_CASES = 11  # arch's estimate needs 5 lags and more cases than that


def horizon_cases(lead_hours: float, spacing_hours: float) -> int:
    """Forecast horizon in cases, at least 1: ``ceil(lead / init spacing)`` cases share part of a valid window."""
    _check_hours(lead_hours, spacing_hours)
    return max(1, math.ceil(lead_hours / spacing_hours - 1e-9))


def dependence_floor(lead_hours: float, spacing_hours: float, extra_hours: float = 24.0) -> int:
    """The shortest window (cases) either test may use: the lead plus one day of cases, ``ceil((lead + 24 h) /
    spacing)``. Errors of forecasts whose valid windows overlap are correlated, and so are those a weather regime
    apart; the data-driven choices can only lengthen it."""
    _check_hours(lead_hours, spacing_hours)
    return max(1, math.ceil((lead_hours + extra_hours) / spacing_hours - 1e-9))


def _check_hours(lead_hours: float, spacing_hours: float) -> None:
    if not lead_hours >= 0:
        raise ValueError(f"lead_hours must be >= 0, got {lead_hours}")
    if not spacing_hours > 0:
        raise ValueError(f"spacing_hours (the init-time step) must be > 0, got {spacing_hours}")


@dataclass(frozen=True)
class LongRunVariance:
    """The long-run variance of a series (``T · Var(mean)`` in the limit) and how it was estimated."""

    value: float
    bandwidth: float  # Bartlett bandwidth (lags) on the prewhitened series
    ar1: float  # the prewhitening AR(1) coefficient
    df: float  # equivalent degrees of freedom of the estimate

    def __post_init__(self) -> None:
        if not self.value >= 0:
            raise ValueError(f"a long-run variance must be >= 0, got {self.value}")


def long_run_variance(x: ArrayLike, min_bandwidth: float = 0.0) -> LongRunVariance:
    """Prewhitened Newey–West estimate of the long-run variance of ``x`` (Andrews & Monahan 1992).

    An AR(1) fitted to the demeaned series (coefficient bias-adjusted by Kendall's ``(1 + 3ρ) / T`` and kept within
    ±0.97) takes out most of the persistence; the residuals get a Bartlett-kernel estimate with Newey–West's (1994)
    automatic bandwidth, at least ``min_bandwidth`` lags, and are recoloured by ``1 / (1 - ρ)²``. Without the
    prewhitening a data-chosen Bartlett window is still too short for a strongly persistent series (12% false
    rejections at φ = 0.8 and T = 365). ``df = 1.5 T / (bandwidth + 1)``, at most T − 1: the variance estimate is
    noisy, so its t statistic has heavier tails than t with T − 1 df (Priestley 1981, §6.2.4).
    """
    from arch.covariance.kernel import Bartlett

    d = as_1d(x, "x", min_len=3)
    t = d.size
    dev = d - d.mean()
    lagged = float(dev[:-1] @ dev[:-1])
    if lagged == 0.0:
        return LongRunVariance(0.0, 0.0, 0.0, t - 1.0)
    rho = float(dev[1:] @ dev[:-1]) / lagged
    rho = min(max(rho + (1 + 3 * rho) / t, -MAX_AR1), MAX_AR1)
    resid = dev[1:] - rho * dev[:-1]
    bandwidth = min(max(Bartlett(resid, center=False).bandwidth, float(min_bandwidth)), resid.size - 1.0)
    kernel = Bartlett(resid, bandwidth=bandwidth, center=False)
    value = max(float(np.squeeze(kernel.cov.long_run)), 0.0) / (1 - rho) ** 2
    return LongRunVariance(value, bandwidth, rho, min(t - 1.0, BARTLETT_DF * t / (bandwidth + 1)))


def diebold_mariano(
    loss_candidate: ArrayLike,
    loss_baseline: ArrayLike,
    horizon: int = 1,
    min_bandwidth: float = 0.0,
    confidence: float = 0.95,
) -> Difference:
    """Diebold–Mariano test of equal expected loss on ``d = loss_candidate - loss_baseline`` (T cases in time order).

    ``DM = mean(d) / sqrt(lrv / T)`` with the prewhitened Newey–West long-run variance of :func:`long_run_variance`
    (bandwidth at least ``min_bandwidth``, e.g. :func:`dependence_floor`), times the Harvey–Leybourne–Newbold factor
    ``sqrt((T + 1 - 2h + h(h-1)/T) / T)`` for the forecast horizon h in cases (as R's ``forecast::dm.test`` applies
    it); two-sided p from t with the estimate's equivalent df. The CI ``mean ± t · sqrt(lrv / T) / HLN`` excludes 0
    exactly when p < 1 - confidence. ``window`` is the bandwidth used. Needs 1 <= h < T and T >= 3.
    """
    check_confidence(confidence)
    c, b = as_1d(loss_candidate, "loss_candidate", 3), as_1d(loss_baseline, "loss_baseline", 3)
    same_length(c, b, "one loss per forecast case")
    d = c - b
    t = int(d.size)
    h = operator.index(horizon)
    if not 1 <= h < t:
        raise ValueError(f"horizon must be in 1..{t - 1} (fewer than the {t} cases), got {h}")
    lrv = long_run_variance(d, min_bandwidth)
    hln = math.sqrt((t + 1 - 2 * h + h * (h - 1) / t) / t)
    se = math.sqrt(lrv.value / t) / hln
    mean = float(d.mean())
    if not se > 0:
        return Difference(mean, math.nan, math.nan, math.nan, t, "diebold-mariano", lrv.bandwidth)
    half = float(sps.t.ppf(0.5 + confidence / 2, lrv.df)) * se
    p = min(1.0, float(2 * sps.t.sf(abs(mean) / se, lrv.df)))
    return Difference(mean, mean - half, mean + half, p, t, "diebold-mariano", lrv.bandwidth)


def bootstrap_block_length(x: ArrayLike, min_length: int = 1) -> int:
    """Twice Politis & White's circular-bootstrap block length (``arch.bootstrap.optimal_block_length``), rounded up,
    at least ``min_length`` and at most T // 2 (two blocks, so resamples differ).

    Politis–White minimise the mean squared error of the bootstrap variance; a test needs less bias than that: with
    their length the studentized bootstrap falsely rejects 8-11% of AR(1) nulls at φ = 0.8 (T = 150-365), with twice
    it 5-6% (docs/comparing-runs.md). Below 11 cases there is too little to estimate it from: the floor decides.
    """
    from arch.bootstrap import optimal_block_length

    d = as_1d(x, "x", min_len=2)
    floor = operator.index(min_length)
    if floor < 1:
        raise ValueError(f"min_length must be >= 1, got {floor}")
    measurable = d.size >= POLITIS_WHITE_MIN_CASES and np.ptp(d) > 0
    chosen = float(optimal_block_length(d)["circular"].iloc[0]) if measurable else 1.0
    length = max(math.ceil(BLOCK_FACTOR * chosen - 1e-9), floor, 1)
    return max(1, min(length, d.size // 2))


def _batch_variance(samples: NDArray[np.float64], length: int) -> NDArray[np.float64]:
    """Variance of the mean of each row from its consecutive blocks of ``length`` (the last one may be shorter): the
    blocks a circular bootstrap resample is made of, so it studentizes that resample (Götze & Künsch 1996)."""
    t = samples.shape[1]
    starts = np.arange(0, t, length)
    sums = np.add.reduceat(samples, starts, axis=1)
    sizes = np.diff(np.append(starts, t))
    means = samples.mean(axis=1, keepdims=True)
    return ((sums - sizes * means) ** 2).sum(axis=1) / t**2


def _circular_variance(x: NDArray[np.float64], length: int) -> float:
    """The circular block bootstrap's exact variance of the mean, ``Σ_{|k|<L} (1 - |k|/L) γ_k / T`` with circular
    autocovariances γ_k: the standard error that studentizes the observed mean."""
    dev = x - x.mean()
    spectrum = np.abs(np.fft.rfft(dev)) ** 2
    gamma = np.fft.irfft(spectrum, n=x.size)[:length] / x.size
    weights = 1 - np.arange(length) / length
    return float(gamma[0] + 2 * (weights[1:] @ gamma[1:])) / x.size


def circular_block_bootstrap(
    loss_diff: ArrayLike,
    block_length: int | None = None,
    min_block: int = 1,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Difference:
    """Studentized circular block bootstrap test of ``mean(loss_diff) = 0`` (cases in init-time order).

    ``arch``'s circular block bootstrap resamples blocks of ``block_length`` consecutive cases with the series
    wrapped around its end (default :func:`bootstrap_block_length`, at least ``min_block``). Each resample's mean
    is studentized by the spread of its own blocks and the observed mean by the bootstrap's exact variance, so the
    reference distribution carries the uncertainty of the variance too. p (H0: mean 0) = ``(#{|t*| >= |t|} + 1) /
    (n_boot + 1)``, never below ``1 / (n_boot + 1)``; CI: the symmetric bootstrap-t interval ``mean ± q · se``.
    Deterministic for a given ``seed``. ``window`` is the block length.
    """
    from arch.bootstrap import CircularBlockBootstrap

    check_confidence(confidence)
    x = as_1d(loss_diff, "loss_diff", min_len=2)
    t = int(x.size)
    if operator.index(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    length = bootstrap_block_length(x, min_block) if block_length is None else operator.index(block_length)
    if not 1 <= length <= t:
        raise ValueError(f"block_length must be in 1..{t} (the series length), got {length}")
    mean = float(x.mean())
    se = math.sqrt(max(_circular_variance(x, length), 0.0))
    if not se > 0:
        return Difference(mean, math.nan, math.nan, math.nan, t, "circular-block-bootstrap", length)
    resamples = CircularBlockBootstrap(length, x, seed=seed).apply(lambda y: y, n_boot)
    spread = np.sqrt(_batch_variance(resamples, length))
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample of identical blocks has no spread
        t_star = np.nan_to_num(np.abs(resamples.mean(axis=1) - mean) / spread, nan=0.0, posinf=np.inf)
    p = (int(np.count_nonzero(t_star >= abs(mean) / se)) + 1) / (n_boot + 1)
    half = float(np.quantile(t_star, confidence, method="inverted_cdf")) * se  # an order statistic: |t*| may be inf
    return Difference(mean, mean - half, mean + half, p, t, "circular-block-bootstrap", length)
