"""The seed-level statistics and p-value adjustments against hand-computed values, cross-checked with scipy and
statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from aqnet.compare.stats import Difference, Summary, adjust, paired_seed_difference, summarise, welch_difference

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


# --- multiple testing ---


def test_holm_matches_hand_computation_and_statsmodels() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times m - j + 1 = 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04
    # running max -> 0.02, 0.03, 0.06, 0.06; back in input order -> [0.03, 0.06, 0.06, 0.02]
    np.testing.assert_allclose(adjust(P4, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(adjust(P4, "holm"), multipletests(P4, method="holm")[1])


def test_bh_matches_hand_computation_and_scipy() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times m / j = 4, 2, 4/3, 1 -> 0.02, 0.02, 0.04, 0.04
    # running min from the largest -> unchanged; input order -> [0.02, 0.04, 0.04, 0.02]
    np.testing.assert_allclose(adjust(P4, "bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust(P4, "bh"), stats.false_discovery_control(P4))
    # monotonicity step matters: [0.01, 0.02, 0.025] -> 0.03, 0.03, 0.025 -> running min 0.025 everywhere
    np.testing.assert_allclose(adjust([0.01, 0.02, 0.025], "bh"), [0.025, 0.025, 0.025])


def test_adjustments_clip_at_one_and_keep_nan_out_of_the_count() -> None:
    np.testing.assert_allclose(adjust([0.5, 0.6], "holm"), [1.0, 1.0])  # 2 * 0.5 = 1.0; max(1.0, 0.6) = 1.0
    with_nan = [0.01, np.nan, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust(with_nan, "holm"), [0.03, np.nan, 0.06, 0.06, 0.02])  # m = 4, not 5
    np.testing.assert_allclose(adjust(with_nan, "bh"), [0.02, np.nan, 0.04, 0.04, 0.02])
    assert np.isnan(adjust([np.nan], "holm")).all() and adjust([], "bh").size == 0


def test_adjust_names_allowed_methods() -> None:
    np.testing.assert_allclose(adjust(P4, "none"), P4)
    with pytest.raises(ValueError, match="allowed methods: holm, bh, none"):
        adjust(P4, "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust([0.5, 1.5], "holm")


# --- errors ---


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"same length .* got 4 and 3"):
        paired_seed_difference(CANDIDATE, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="values needs at least 1"):
        summarise([])
    with pytest.raises(ValueError, match=r"baseline has 2 non-finite \(NaN/inf\) value\(s\) out of 4"):
        paired_seed_difference(CANDIDATE, [1.0, np.nan, np.nan, 2.0])
    with pytest.raises(ValueError, match="must be 1-D"):
        summarise([[1.0, 2.0]])
    with pytest.raises(ValueError, match="confidence"):
        paired_seed_difference(CANDIDATE, BASELINE, confidence=95)


def test_results_are_frozen() -> None:
    r = paired_seed_difference(CANDIDATE, BASELINE)
    assert isinstance(r, Difference)
    with pytest.raises(AttributeError):
        r.mean = 0.0  # type: ignore[misc]
