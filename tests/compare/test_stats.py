"""The comparison statistics against hand-computed values on small fixed examples, cross-checked with scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from aqnet.compare.stats import (
    Difference,
    Summary,
    adjust,
    benjamini_hochberg,
    block_length_for,
    diebold_mariano,
    holm,
    moving_block_bootstrap,
    paired_seed_difference,
    summarise,
    welch_difference,
)

CANDIDATE = [1.0, 2.0, 3.0, 4.0]
BASELINE = [1.5, 2.1, 3.9, 4.4]
P4 = [0.01, 0.04, 0.03, 0.005]


# --- summarise ---


def test_summarise_uses_sample_std() -> None:
    # mean = 10/4 = 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; var = 5/3; std = 1.290994...
    assert summarise(CANDIDATE) == Summary(mean=2.5, std=pytest.approx(math.sqrt(5 / 3)), n=4)


def test_summarise_single_run_has_nan_std() -> None:
    s = summarise([0.7])
    assert (s.mean, s.n) == (0.7, 1) and math.isnan(s.std)


# --- paired t ---


def test_paired_t_matches_hand_computation_and_scipy() -> None:
    # d = c - b = [-0.5, -0.1, -0.9, -0.4]; mean = -1.9/4 = -0.475
    # deviations -0.025, 0.375, -0.425, 0.075 -> squares 0.000625 + 0.140625 + 0.180625 + 0.005625 = 0.3275
    # sd = sqrt(0.3275/3) = 0.3304038; se = sd/sqrt(4) = 0.1652019; t = -0.475/0.1652019 = -2.8752697 (3 df)
    # t_{0.975,3} = 3.1824463 -> half width 0.5257462 -> CI [-1.0007462, 0.0507462]; p = 2 P(T3 > 2.87527) = 0.06377495
    r = paired_seed_difference(CANDIDATE, BASELINE)
    assert r.method == "paired-t" and r.n == 4
    assert r.mean == pytest.approx(-0.475)
    assert (r.ci_low, r.ci_high) == (pytest.approx(-1.0007462, abs=1e-6), pytest.approx(0.0507462, abs=1e-6))
    assert r.p_value == pytest.approx(0.06377495, abs=1e-7)
    ref = stats.ttest_rel(CANDIDATE, BASELINE)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    ci = ref.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == (pytest.approx(ci.low, rel=1e-12), pytest.approx(ci.high, rel=1e-12))


def test_paired_t_single_pair_gives_difference_without_ci() -> None:
    r = paired_seed_difference([0.8], [1.0])
    assert r.mean == pytest.approx(-0.2) and r.n == 1
    assert math.isnan(r.ci_low) and math.isnan(r.ci_high) and math.isnan(r.p_value)


def test_paired_t_constant_difference_has_undefined_test() -> None:
    r = paired_seed_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert r.mean == pytest.approx(-1.0) and math.isnan(r.p_value)


# --- Welch ---


def test_welch_matches_hand_computation_and_scipy() -> None:
    baseline = [1.5, 2.1, 3.9, 4.4, 6.1]
    # candidate: mean 2.5, var 5/3 -> var/n = 0.4166667; baseline: mean 3.6, var 3.41 -> var/n = 0.682
    # se = sqrt(0.4166667 + 0.682) = 1.0481730; t = -1.1/1.0481730 = -1.0494451
    # df = 1.0986667^2 / (0.4166667^2/3 + 0.682^2/4) = 1.2070684 / 0.1741514 = 6.9311453
    r = welch_difference(CANDIDATE, baseline)
    assert r.method == "welch-t" and r.n == 9
    assert r.mean == pytest.approx(-1.1)
    ref = stats.ttest_ind(CANDIDATE, baseline, equal_var=False)
    assert ref.df == pytest.approx(6.9311453, abs=1e-6)
    assert ref.statistic == pytest.approx(-1.0494451, abs=1e-6)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    half = stats.t.ppf(0.975, 6.9311453) * 1.0481730
    assert (r.ci_low, r.ci_high) == (pytest.approx(-1.1 - half, abs=1e-5), pytest.approx(-1.1 + half, abs=1e-5))
    ci = ref.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == (pytest.approx(ci.low, rel=1e-12), pytest.approx(ci.high, rel=1e-12))


def test_welch_with_one_run_in_a_group_has_no_test() -> None:
    r = welch_difference([1.0], [2.0, 3.0])
    assert r.mean == pytest.approx(-1.5) and math.isnan(r.p_value) and math.isnan(r.ci_low)


# --- Diebold–Mariano ---


def test_dm_horizon_1_matches_hand_computation() -> None:
    loss_c = [1.0, 2.0, 0.5, 1.5, 1.0]
    loss_b = [0.5, 1.0, 1.0, 0.5, 0.5]
    # d = [0.5, 1.0, -0.5, 1.0, 0.5], T = 5, mean 0.5; deviations 0, 0.5, -1, 0.5, 0 -> sum of squares 1.5
    # gamma0 = 1.5/5 = 0.3; DM = 0.5 / sqrt(0.3/5) = 2.0412415
    # HLN = sqrt((T + 1 - 2h + h(h-1)/T) / T) = sqrt(4/5) = 0.8944272 -> DM* = 1.8257419; p = 2 P(T4 > DM*) = 0.1419274
    r = diebold_mariano(loss_c, loss_b, horizon=1)
    assert r.method == "diebold-mariano" and r.n == 5 and r.mean == pytest.approx(0.5)
    assert r.p_value == pytest.approx(0.1419274, abs=1e-6)
    se = math.sqrt(0.3 / 5) / math.sqrt(0.8)
    half = stats.t.ppf(0.975, 4) * se
    assert (r.ci_low, r.ci_high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    # with h = 1 the HLN-corrected DM is exactly the one-sample t-test on d
    ref = stats.ttest_1samp(np.subtract(loss_c, loss_b), 0.0)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_dm_horizon_2_includes_lag_1_autocovariance() -> None:
    loss_b = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    loss_c = [2.0, 3.0, 4.0, 2.0, 1.0, 2.0, 4.0, 6.0]
    # d = [1, 2, 3, 1, -1, 0, 2, 4], T = 8, mean 1.5
    # deviations -0.5, 0.5, 1.5, -0.5, -2.5, -1.5, 0.5, 2.5; sum of squares 18 -> gamma0 = 18/8 = 2.25
    # lag-1 products: -0.25 + 0.75 - 0.75 + 1.25 + 3.75 - 0.75 + 1.25 = 5.25 -> gamma1 = 5.25/8 = 0.65625
    # lrv = 2.25 + 2 * 0.65625 = 3.5625; DM = 1.5 / sqrt(3.5625/8) = 2.2478071
    # HLN = sqrt((8 + 1 - 4 + 2/8) / 8) = sqrt(0.65625) = 0.8100926 -> DM* = 1.8209309; p = 2 P(T7 > DM*) = 0.1114165
    r = diebold_mariano(loss_c, loss_b, horizon=2)
    assert r.mean == pytest.approx(1.5) and r.n == 8
    assert r.p_value == pytest.approx(0.1114165, abs=1e-6)
    half = stats.t.ppf(0.975, 7) * math.sqrt(3.5625 / 8) / math.sqrt(0.65625)
    assert (r.ci_low, r.ci_high) == (pytest.approx(1.5 - half), pytest.approx(1.5 + half))
    # ignoring the autocovariance (h = 1) would give a different, smaller p
    assert diebold_mariano(loss_c, loss_b, horizon=1).p_value < r.p_value


def test_dm_falls_back_to_lag_0_when_long_run_variance_is_not_positive() -> None:
    # d = [0.5, 1.0, -0.5, 1.0, 0.5]: gamma0 = 0.3, lag-1 products 0 - 0.5 - 0.5 + 0 = -1 -> gamma1 = -0.2
    # lrv = 0.3 - 0.4 = -0.1 <= 0 -> use gamma0 = 0.3: DM = 2.0412415, HLN(h=2) = sqrt((5 + 1 - 4 + 2/5)/5) = sqrt(0.48)
    # DM* = 2.0412415 * 0.6928203 = sqrt(2); p = 2 P(T4 > 1.4142136) = 0.2301996
    with pytest.warns(RuntimeWarning, match="falling back to lag 0"):
        r = diebold_mariano([1.0, 2.0, 0.5, 1.5, 1.0], [0.5, 1.0, 1.0, 0.5, 0.5], horizon=2)
    assert r.p_value == pytest.approx(0.2301996, abs=1e-6)


# --- moving block bootstrap ---


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_bootstrap_is_deterministic_given_seed() -> None:
    x = np.random.default_rng(1).normal(size=60)
    a = moving_block_bootstrap(x, block_length=5, seed=3)
    assert a == moving_block_bootstrap(x, block_length=5, seed=3)
    assert a != moving_block_bootstrap(x, block_length=5, seed=4)
    assert a.method == "moving-block-bootstrap" and a.n == 60 and a.mean == pytest.approx(x.mean())
    assert a.ci_low < a.mean < a.ci_high


def test_bootstrap_matches_explicit_circular_block_resampling() -> None:
    # The prefix-sum implementation equals building each resample index by index from the same random starts.
    x = np.random.default_rng(2).normal(size=23)
    length, n_boot = 4, 500
    starts = np.random.default_rng(7).integers(0, 23, size=(n_boot, 6))  # ceil(23/4) = 6 blocks
    idx = ((starts[:, :, None] + np.arange(length)) % 23).reshape(n_boot, -1)[:, :23]
    means = x[idx].mean(axis=1)
    r = moving_block_bootstrap(x, block_length=length, n_boot=n_boot, seed=7)
    assert (r.ci_low, r.ci_high) == tuple(pytest.approx(q) for q in np.quantile(means, [0.025, 0.975]))
    count = np.count_nonzero(np.abs(means - x.mean()) >= abs(x.mean()))
    assert r.p_value == pytest.approx((count + 1) / (n_boot + 1))


def test_bootstrap_block_of_whole_series_only_rotates_it() -> None:
    # every circular block of length T is a rotation, so every bootstrap mean equals the sample mean
    r = moving_block_bootstrap([1.0, 2.0, 4.0], block_length=3, n_boot=99)
    assert r.ci_low == pytest.approx(7 / 3) and r.ci_high == pytest.approx(7 / 3)
    assert r.p_value == pytest.approx(1 / 100)  # no bootstrap mean deviates by |mean|: (0 + 1) / (99 + 1)


def test_bootstrap_shifted_series_is_significant() -> None:
    x = _ar1(200, 0.5, seed=5) + 1.0
    assert moving_block_bootstrap(x, block_length=10).p_value < 0.01


def test_bootstrap_zero_mean_symmetric_series_is_not_significant() -> None:
    z = np.random.default_rng(6).normal(size=100)
    assert moving_block_bootstrap(np.concatenate([z, -z]), block_length=5).p_value == 1.0  # mean exactly 0
    x = np.sin(np.linspace(0, 8 * np.pi, 120, endpoint=False)) + 0.1 * np.random.default_rng(8).normal(size=120)
    assert moving_block_bootstrap(x, block_length=15).p_value > 0.2


def test_bootstrap_block_1_on_iid_data_matches_normal_theory_width() -> None:
    x = np.random.default_rng(9).normal(size=400)
    r = moving_block_bootstrap(x, block_length=1, n_boot=4000)
    # iid bootstrap se of the mean is sd(ddof=0)/sqrt(n); normal-theory 95 % width 2 * 1.96 * se
    normal_width = 2 * 1.959964 * x.std() / math.sqrt(x.size)
    assert r.ci_high - r.ci_low == pytest.approx(normal_width, rel=0.1)


def test_bootstrap_longer_blocks_widen_ci_for_autocorrelated_errors() -> None:
    x = _ar1(400, 0.8, seed=10)
    iid = moving_block_bootstrap(x, block_length=1)
    blocked = moving_block_bootstrap(x, block_length=20)
    # AR(1) with phi = 0.8 inflates the variance of the mean by (1 + phi)/(1 - phi) = 9, i.e. the se by ~3
    assert (blocked.ci_high - blocked.ci_low) > 2 * (iid.ci_high - iid.ci_low)


# --- multiple testing ---


def test_holm_matches_hand_computation() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times m - j + 1 = 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04
    # running max -> 0.02, 0.03, 0.06, 0.06; back in input order -> [0.03, 0.06, 0.06, 0.02]
    np.testing.assert_allclose(holm(P4), [0.03, 0.06, 0.06, 0.02])


def test_bh_matches_hand_computation_and_scipy() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times m / j = 4, 2, 4/3, 1 -> 0.02, 0.02, 0.04, 0.04
    # running min from the largest -> unchanged; input order -> [0.02, 0.04, 0.04, 0.02]
    np.testing.assert_allclose(benjamini_hochberg(P4), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(benjamini_hochberg(P4), stats.false_discovery_control(P4))
    # monotonicity step matters: [0.01, 0.02, 0.025] -> 0.03, 0.03, 0.025 -> running min 0.025 everywhere
    np.testing.assert_allclose(benjamini_hochberg([0.01, 0.02, 0.025]), [0.025, 0.025, 0.025])


def test_adjustments_clip_at_one_and_keep_nan_out_of_the_count() -> None:
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # 2 * 0.5 = 1.0; max(1.0, 0.6) = 1.0
    with_nan = [0.01, np.nan, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm(with_nan), [0.03, np.nan, 0.06, 0.06, 0.02])  # m = 4, not 5
    np.testing.assert_allclose(benjamini_hochberg(with_nan), [0.02, np.nan, 0.04, 0.04, 0.02])
    assert np.isnan(holm([np.nan])).all() and holm([]).size == 0


def test_adjust_dispatches_and_names_allowed_methods() -> None:
    np.testing.assert_allclose(adjust(P4, "holm"), holm(P4))
    np.testing.assert_allclose(adjust(P4, "bh"), benjamini_hochberg(P4))
    np.testing.assert_allclose(adjust(P4, "none"), P4)
    with pytest.raises(ValueError, match="allowed methods: holm, bh, none"):
        adjust(P4, "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


# --- block length ---


@pytest.mark.parametrize(
    ("n_cases", "cases_per_day", "expected"),
    [
        (730, 2, 6),  # 3 days of 12-hourly inits
        (365, 1, 3),
        (365, 0.5, 2),  # 1.5 rounds half-up
        (8, 4, 4),  # 12 capped at 8 // 2
        (1, 4, 1),  # floor 1
    ],
)
def test_block_length_for(n_cases: int, cases_per_day: float, expected: int) -> None:
    assert block_length_for(n_cases, cases_per_day) == expected


# --- errors ---


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"same length .* got 4 and 3"):
        paired_seed_difference(CANDIDATE, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="same length"):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="values needs at least 1"):
        summarise([])
    with pytest.raises(ValueError, match=r"baseline has 2 non-finite \(NaN/inf\) value\(s\) out of 4"):
        paired_seed_difference(CANDIDATE, [1.0, np.nan, np.nan, 2.0])
    with pytest.raises(ValueError, match="loss_diff has 1 non-finite"):
        moving_block_bootstrap([0.1, np.inf, 0.2], block_length=1)
    with pytest.raises(ValueError, match="must be 1-D"):
        summarise([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"block_length must be in 1\.\.3"):
        moving_block_bootstrap([0.1, 0.2, 0.3], block_length=0)
    with pytest.raises(ValueError, match=r"block_length must be in 1\.\.3"):
        moving_block_bootstrap([0.1, 0.2, 0.3], block_length=4)
    with pytest.raises(ValueError, match=r"horizon must be in 1\.\.2"):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 2.0], horizon=3)
    with pytest.raises(ValueError, match="cases_per_day must be > 0"):
        block_length_for(100, 0)
    with pytest.raises(ValueError, match="confidence"):
        paired_seed_difference(CANDIDATE, BASELINE, confidence=95)


def test_results_are_frozen() -> None:
    r = paired_seed_difference(CANDIDATE, BASELINE)
    assert isinstance(r, Difference)
    with pytest.raises(AttributeError):
        r.mean = 0.0  # type: ignore[misc]
