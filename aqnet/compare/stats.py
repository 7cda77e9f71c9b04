"""Statistics core of ``aqnet-compare``: did a change (e.g. ``physics_bias=topoflow`` vs ``none``) lower forecast error?

Two levels of evidence, with different assumptions:

* across runs (seeds): :func:`paired_seed_difference` when both groups ran the same seeds, :func:`welch_difference`
  otherwise. Each run contributes one number (e.g. test RMSE), runs are assumed independent.
* across forecast cases within one pair of groups: :mod:`aqnet.compare.serial` (Diebold–Mariano and a block
  bootstrap on the per-init-time loss difference, which is autocorrelated).

Every difference is ``candidate - baseline``: for an error metric a negative mean means the candidate is better.
Inputs must be finite; drop or impute failed runs/cases before calling. p-values of a family are adjusted by
:func:`adjust` (Holm from statsmodels, Benjamini–Hochberg from scipy).
"""

from __future__ import annotations

import math
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
    ``window`` is the dependence window a case-level test used (Diebold–Mariano bandwidth or bootstrap block, in
    cases); NaN for the seed-level tests.
    """

    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    method: str
    window: float = math.nan


def as_1d(values: ArrayLike, name: str, min_len: int = 1) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} value(s), got {arr.size}")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ValueError(f"{name} has {bad} non-finite (NaN/inf) value(s) out of {arr.size}; drop or impute them first")
    return arr


def same_length(a: NDArray[np.float64], b: NDArray[np.float64], what: str) -> None:
    if a.size != b.size:
        raise ValueError(f"candidate and baseline must have the same length ({what}), got {a.size} and {b.size}")


def check_confidence(confidence: float) -> None:
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
    x = as_1d(values, "values")
    std = float(x.std(ddof=1)) if x.size > 1 else math.nan
    return Summary(float(x.mean()), std, int(x.size))


def paired_seed_difference(candidate: ArrayLike, baseline: ArrayLike, confidence: float = 0.95) -> Difference:
    """Paired t-test on ``candidate[i] - baseline[i]`` over matched seeds (same order in both arrays).

    Assumes the per-seed differences are independent and roughly normal; with 3-5 seeds the test has little power,
    so read the CI, not just p. One pair gives the difference with NaN CI and p.
    """
    check_confidence(confidence)
    c, b = as_1d(candidate, "candidate"), as_1d(baseline, "baseline")
    same_length(c, b, "one value per matched seed")
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
    check_confidence(confidence)
    c, b = as_1d(candidate, "candidate"), as_1d(baseline, "baseline")
    mean = float(c.mean() - b.mean())
    n = int(c.size + b.size)
    if c.size < 2 or b.size < 2:
        return Difference(mean, math.nan, math.nan, math.nan, n, "welch-t")
    vc, vb = float(c.var(ddof=1)) / c.size, float(b.var(ddof=1)) / b.size
    denom = vc**2 / (c.size - 1) + vb**2 / (b.size - 1)
    df = (vc + vb) ** 2 / denom if denom > 0 else math.nan
    return _t_difference(mean, math.sqrt(vc + vb), df, n, "welch-t", confidence)


def _p_array(p_values: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    finite = p[~np.isnan(p)]
    if np.any((finite < 0) | (finite > 1)):
        raise ValueError(f"p_values must lie in [0, 1] (NaN allowed), got {finite[(finite < 0) | (finite > 1)]}")
    return p


def adjust(p_values: ArrayLike, method: AdjustMethod = "holm") -> NDArray[np.float64]:
    """Adjust p-values for multiple comparisons: ``"holm"`` (step-down, family-wise error under any dependence;
    statsmodels), ``"bh"`` (Benjamini–Hochberg false discovery rate, valid for independent or positively dependent
    tests; scipy) or ``"none"``. NaN entries (tests that could not run) stay NaN and do not count in the family."""
    if method not in ADJUST_METHODS:
        raise ValueError(f"unknown p-value adjustment {method!r}; allowed methods: {', '.join(ADJUST_METHODS)}")
    p = _p_array(p_values)
    out = p.copy()
    tested = ~np.isnan(p)
    if method == "none" or not tested.any():
        return out
    if method == "holm":
        from statsmodels.stats.multitest import multipletests

        out[tested] = multipletests(p[tested], method="holm")[1]
    else:
        out[tested] = stats.false_discovery_control(p[tested], method="bh")
    return out
