"""Statistics core of ``aqnet-compare``: did a change (e.g. ``physics_bias=topoflow`` vs ``none``) lower forecast error?

Two levels of evidence, with different assumptions:

* across runs (seeds): :func:`paired_seed_difference` when both groups ran the same seeds, :func:`welch_difference`
  otherwise. Each run contributes one number (e.g. test RMSE), runs are assumed independent.
* across forecast cases within one pair of runs: :func:`moving_block_bootstrap` and :func:`diebold_mariano` on the
  per-init-time loss difference, which is autocorrelated, so both account for serial dependence.

Every difference is ``candidate - baseline``: for an error metric a negative mean means the candidate is better.
Inputs must be finite; drop or impute failed runs/cases before calling. All functions are pure numpy/scipy.
"""

from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

AdjustMethod = Literal["holm", "bh", "none"]
ADJUST_METHODS: tuple[str, ...] = ("holm", "bh", "none")


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof=1; NaN when ``n == 1``) and count of one group of values."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class Difference:
    """Estimated ``candidate - baseline`` difference with a confidence interval and a two-sided p-value (H0: 0).

    ``n`` is the number of observations behind the estimate: seed pairs, forecast cases, or total runs (Welch).
    ``ci_low``/``ci_high``/``p_value`` are NaN where the test is undefined (too few values, zero spread).
    """

    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    method: str


def _as_1d(values: ArrayLike, name: str, min_len: int = 1) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} value(s), got {arr.size}")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ValueError(f"{name} has {bad} non-finite (NaN/inf) value(s) out of {arr.size}; drop or impute them first")
    return arr


def _same_length(a: NDArray[np.float64], b: NDArray[np.float64], what: str) -> None:
    if a.size != b.size:
        raise ValueError(f"candidate and baseline must have the same length ({what}), got {a.size} and {b.size}")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _t_difference(mean: float, se: float, df: float, n: int, method: str, confidence: float) -> Difference:
    """CI ``mean ± t_{df} · se`` and two-sided p of ``mean / se``; NaN where ``se`` is zero or ``df`` undefined."""
    if not (math.isfinite(df) and df > 0 and se > 0):
        return Difference(mean, math.nan, math.nan, math.nan, n, method)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, df))
    return Difference(mean, mean - half, mean + half, min(p, 1.0), n, method)


def summarise(values: ArrayLike) -> Summary:
    """Mean, sample std (ddof=1) and n. ``std`` is NaN for a single value (callers warn "one run: no std")."""
    x = _as_1d(values, "values")
    std = float(x.std(ddof=1)) if x.size > 1 else math.nan
    return Summary(float(x.mean()), std, int(x.size))


def paired_seed_difference(candidate: ArrayLike, baseline: ArrayLike, confidence: float = 0.95) -> Difference:
    """Paired t-test on ``candidate[i] - baseline[i]`` over matched seeds (same order in both arrays).

    Assumes the per-seed differences are independent and roughly normal; with 3-5 seeds the test has little power,
    so read the CI, not just p. One pair gives the difference with NaN CI and p.
    """
    _check_confidence(confidence)
    c, b = _as_1d(candidate, "candidate"), _as_1d(baseline, "baseline")
    _same_length(c, b, "one value per matched seed")
    d = c - b
    n = int(d.size)
    if n == 1:
        return Difference(float(d[0]), math.nan, math.nan, math.nan, 1, "paired-t")
    se = float(d.std(ddof=1)) / math.sqrt(n)
    return _t_difference(float(d.mean()), se, n - 1, n, "paired-t", confidence)


def welch_difference(candidate: ArrayLike, baseline: ArrayLike, confidence: float = 0.95) -> Difference:
    """Welch's unequal-variance t-test on ``mean(candidate) - mean(baseline)``, for runs whose seeds do not match.

    Degrees of freedom by Welch–Satterthwaite. Assumes independent, roughly normal runs within each group; it ignores
    any seed pairing, so it is weaker than :func:`paired_seed_difference` when seeds do match. Needs two or more runs
    per group for a CI and p (NaN otherwise). ``n`` is the total number of runs.
    """
    _check_confidence(confidence)
    c, b = _as_1d(candidate, "candidate"), _as_1d(baseline, "baseline")
    mean = float(c.mean() - b.mean())
    n = int(c.size + b.size)
    if c.size < 2 or b.size < 2:
        return Difference(mean, math.nan, math.nan, math.nan, n, "welch-t")
    vc, vb = float(c.var(ddof=1)) / c.size, float(b.var(ddof=1)) / b.size
    denom = vc**2 / (c.size - 1) + vb**2 / (b.size - 1)
    df = (vc + vb) ** 2 / denom if denom > 0 else math.nan
    return _t_difference(mean, math.sqrt(vc + vb), df, n, "welch-t", confidence)


def moving_block_bootstrap(
    loss_diff: ArrayLike, block_length: int, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
) -> Difference:
    """Block bootstrap of the mean of a per-case loss difference series (cases in init-time order).

    Variant: circular block bootstrap (Politis & Romano 1992), i.e. Künsch's moving block bootstrap with overlapping
    blocks of ``block_length`` consecutive cases and the series wrapped around its end, so every case is equally
    likely to be drawn and the bootstrap mean is centred on the sample mean. ``ceil(T / L)`` blocks are drawn with
    uniform random starts and the resample is cut to length T. CI: percentiles of the bootstrap means. p (H0: mean 0):
    ``(#{|mean*_b - mean| >= |mean|} + 1) / (n_boot + 1)``, so it is never below ``1 / (n_boot + 1)``.

    Assumes the series is stationary and its dependence dies out within about ``block_length`` cases (see
    :func:`block_length_for`). Too short a block understates the uncertainty; percentile intervals are also
    somewhat too narrow for small T (a few dozen cases). Deterministic for a given ``seed``.
    """
    _check_confidence(confidence)
    x = _as_1d(loss_diff, "loss_diff", min_len=2)
    t = int(x.size)
    length = operator.index(block_length)
    if not 1 <= length <= t:
        raise ValueError(f"block_length must be in 1..{t} (the series length), got {length}")
    if operator.index(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    # Sums of every circular block of `length` cases, and of the shorter last block, from one prefix sum.
    cs = np.concatenate(([0.0], np.cumsum(np.concatenate((x, x[:length])))))
    starts_all = np.arange(t)
    n_blocks = -(-t // length)
    tail = t - (n_blocks - 1) * length  # length of the last (possibly partial) block, 1..length
    full_sums = cs[starts_all + length] - cs[starts_all]
    tail_sums = cs[starts_all + tail] - cs[starts_all]
    starts = np.random.default_rng(seed).integers(0, t, size=(n_boot, n_blocks))
    boot_means = (full_sums[starts[:, :-1]].sum(axis=1) + tail_sums[starts[:, -1]]) / t
    mean = float(x.mean())
    alpha = 1.0 - confidence
    low, high = np.quantile(boot_means, [alpha / 2, 1 - alpha / 2])
    count = int(np.count_nonzero(np.abs(boot_means - mean) >= abs(mean)))
    p = (count + 1) / (n_boot + 1)
    return Difference(mean, float(low), float(high), float(p), t, "moving-block-bootstrap")


def diebold_mariano(
    loss_candidate: ArrayLike, loss_baseline: ArrayLike, horizon: int = 1, confidence: float = 0.95
) -> Difference:
    """Diebold–Mariano test of equal expected loss, with the Harvey–Leybourne–Newbold (1997) correction.

    ``d_t = loss_candidate[t] - loss_baseline[t]`` over T cases in time order. Long-run variance: the standard DM
    rectangular (truncated, unweighted) estimate ``γ0 + 2 Σ_{k=1}^{h-1} γk`` with autocovariances ``γk`` divided
    by T, as h-step forecast errors are MA(h-1). If it is not positive (possible for h >= 2), it falls back to
    ``γ0`` alone (lag 0) and emits a RuntimeWarning. Statistic ``DM = mean / sqrt(lrv / T)`` times
    ``sqrt((T + 1 - 2h + h(h-1)/T) / T)``, referred to a t distribution with T-1 df (two-sided p). The CI inverts
    that same corrected statistic, ``mean ± t · sqrt(lrv / T) / HLN``, so it excludes 0 exactly when p < 1 -
    confidence; for h = 1 test and CI equal a one-sample t-test on d.

    Assumes d_t is covariance-stationary with dependence confined to h-1 lags; if errors are correlated over
    longer spans (synoptic regimes) use :func:`moving_block_bootstrap` with a longer block. Needs 1 <= h < T.
    """
    _check_confidence(confidence)
    c, b = _as_1d(loss_candidate, "loss_candidate", 2), _as_1d(loss_baseline, "loss_baseline", 2)
    _same_length(c, b, "one loss per forecast case")
    d = c - b
    t = int(d.size)
    h = operator.index(horizon)
    if not 1 <= h < t:
        raise ValueError(f"horizon must be in 1..{t - 1} (fewer than the {t} cases), got {h}")
    dev = d - d.mean()
    gamma = [float(dev[k:] @ dev[: t - k]) / t for k in range(h)]
    lrv = gamma[0] + 2.0 * sum(gamma[1:])
    if lrv <= 0.0 and h > 1:
        warnings.warn(
            f"diebold_mariano: long-run variance {lrv:.3g} <= 0 with horizon {h}; falling back to lag 0",
            RuntimeWarning,
            stacklevel=2,
        )
        lrv = gamma[0]
    hln = math.sqrt((t + 1 - 2 * h + h * (h - 1) / t) / t)
    se = math.sqrt(lrv / t) / hln if lrv > 0 else 0.0
    return _t_difference(float(d.mean()), se, t - 1, t, "diebold-mariano", confidence)


def _p_array(p_values: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    finite = p[~np.isnan(p)]
    if np.any((finite < 0) | (finite > 1)):
        raise ValueError(f"p_values must lie in [0, 1] (NaN allowed), got {finite[(finite < 0) | (finite > 1)]}")
    return p


def _ranked(p_values: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]]:
    """The p-values, an all-NaN output of the same shape, and the indices of the non-NaN ones in ascending order."""
    p = _p_array(p_values)
    idx = np.flatnonzero(~np.isnan(p))
    return p, np.full_like(p, np.nan), idx[np.argsort(p[idx], kind="stable")]


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm step-down adjusted p-values (family-wise error control, any dependence between tests).

    NaN entries stay NaN and do not count towards the number of tests m. Sorted ascending, the i-th smallest
    (1-based) becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``.
    """
    p, out, order = _ranked(p_values)
    m = order.size
    if m:
        scaled = (m - np.arange(m)) * p[order]
        out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def benjamini_hochberg(p_values: ArrayLike) -> NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (false-discovery-rate control; valid for independent or positively
    dependent tests). NaN entries stay NaN and are excluded from m. The i-th smallest becomes
    ``min_{j>=i} min(1, m p_(j) / j)``.
    """
    p, out, order = _ranked(p_values)
    m = order.size
    if m:
        scaled = m * p[order] / np.arange(1, m + 1)
        out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def adjust(p_values: ArrayLike, method: AdjustMethod = "holm") -> NDArray[np.float64]:
    """Adjust p-values for multiple comparisons: ``"holm"``, ``"bh"`` (Benjamini–Hochberg) or ``"none"``."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return _p_array(p_values).copy()
    raise ValueError(f"unknown p-value adjustment {method!r}; allowed methods: {', '.join(ADJUST_METHODS)}")


def block_length_for(n_cases: int, cases_per_day: float, days: float = 3.0) -> int:
    """Default bootstrap block length: about ``days`` (3) days of cases, capped at ``n_cases // 2``, at least 1.

    Forecast errors stay correlated while the same weather regime persists (synoptic time scales, ~2-5 days:
    stagnant high pressure, frontal passages), so blocks must span a few days to keep that dependence inside a block.
    The cap keeps at least two blocks so resamples differ. ``round`` is half-up: 1.5 cases -> 2.
    """
    n = operator.index(n_cases)
    if n < 1:
        raise ValueError(f"n_cases must be >= 1, got {n}")
    if not cases_per_day > 0:
        raise ValueError(f"cases_per_day must be > 0, got {cases_per_day}")
    if not days > 0:
        raise ValueError(f"days must be > 0, got {days}")
    length = max(1, math.floor(days * cases_per_day + 0.5))
    return max(1, min(length, n // 2))
