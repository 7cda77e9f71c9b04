"""aqnet.compare.serial: the windows, the prewhitened Newey–West variance, Diebold–Mariano and the studentized
circular block bootstrap, each against a direct computation of what it claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
from arch.bootstrap import CircularBlockBootstrap, optimal_block_length
from scipy import signal, stats

from aqnet.compare import serial


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).normal(size=n)
    e[0] /= math.sqrt(1 - phi**2)  # start in the stationary distribution
    return signal.lfilter([1.0], [1.0, -phi], e)


@pytest.mark.parametrize(
    ("lead", "spacing", "horizon", "floor"),
    [(24, 6, 4, 8), (12, 6, 2, 6), (96, 6, 16, 20), (24, 24, 1, 2), (6, 12, 1, 3), (0, 6, 1, 4)],
)
def test_windows_in_cases(lead: float, spacing: float, horizon: int, floor: int) -> None:
    assert serial.horizon_cases(lead, spacing) == horizon
    assert serial.dependence_floor(lead, spacing) == floor  # lead + 24 h, in cases


def test_windows_name_bad_hours() -> None:
    with pytest.raises(ValueError, match="spacing_hours .* must be > 0"):
        serial.dependence_floor(24, 0)
    with pytest.raises(ValueError, match="lead_hours must be >= 0"):
        serial.horizon_cases(-6, 6)


def by_hand(x: np.ndarray, min_bandwidth: float) -> tuple[float, float, float]:
    """Andrews–Monahan prewhitening, Newey–West (1994) bandwidth and Bartlett weights, written out."""
    t = x.size
    dev = x - x.mean()
    rho = (dev[1:] @ dev[:-1]) / (dev[:-1] @ dev[:-1])
    rho = float(np.clip(rho + (1 + 3 * rho) / t, -0.97, 0.97))  # Kendall's bias adjustment
    e = dev[1:] - rho * dev[:-1]
    n = e.size
    gamma = np.array([e[j:] @ e[: n - j] / n for j in range(n)])
    lags = math.ceil(4 * (n / 100) ** (2 / 9))
    s0 = gamma[0] + 2 * gamma[1 : lags + 1].sum()
    s1 = 2 * (np.arange(1, lags + 1) * gamma[1 : lags + 1]).sum()
    bandwidth = min(max(1.1447 * ((s1 / s0) ** 2 * n) ** (1 / 3), min_bandwidth), n - 1)
    j = np.arange(1, int(bandwidth) + 1)
    lrv = gamma[0] + 2 * ((1 - j / (bandwidth + 1)) * gamma[j]).sum()
    return lrv / (1 - rho) ** 2, bandwidth, rho


@pytest.mark.parametrize("min_bandwidth", [0.0, 12.0])
def test_long_run_variance_is_prewhitened_newey_west(min_bandwidth: float) -> None:
    x = ar1(300, 0.6, seed=1) + 0.3 * np.random.default_rng(2).normal(size=300)
    lrv = serial.long_run_variance(x, min_bandwidth)
    value, bandwidth, rho = by_hand(x, min_bandwidth)
    assert (lrv.value, lrv.bandwidth, lrv.ar1) == pytest.approx((value, bandwidth, rho), rel=1e-10)
    assert lrv.df == pytest.approx(min(299, 1.5 * 300 / (bandwidth + 1)))
    assert lrv.bandwidth >= min_bandwidth


def test_long_run_variance_of_a_long_ar1_is_the_theoretical_one() -> None:
    # AR(1), unit innovations: long-run variance 1 / (1 - phi)^2 = 25 at phi = 0.8; the sample mean's variance is 25/T
    lrv = serial.long_run_variance(ar1(40_000, 0.8, seed=3))
    assert lrv.value == pytest.approx(25.0, rel=0.1)
    assert serial.long_run_variance(ar1(40_000, 0.0, seed=4)).value == pytest.approx(1.0, rel=0.05)


def test_long_run_variance_caps_the_window_at_the_series() -> None:
    lrv = serial.long_run_variance(ar1(8, 0.5, seed=5), min_bandwidth=20)
    assert lrv.bandwidth == 6  # 7 residuals: at most 6 lags
    assert serial.long_run_variance(np.ones(10)).value == 0.0


def test_dm_is_the_mean_over_its_long_run_standard_error() -> None:
    c = ar1(200, 0.5, seed=6) + 0.2
    b = np.zeros(200)
    r = serial.diebold_mariano(c, b, horizon=4, min_bandwidth=8)
    lrv = serial.long_run_variance(c, 8)
    hln = math.sqrt((200 + 1 - 8 + 4 * 3 / 200) / 200)  # Harvey–Leybourne–Newbold, h = 4
    se = math.sqrt(lrv.value / 200) / hln
    assert r.method == "diebold-mariano" and r.n == 200 and r.window == lrv.bandwidth >= 8
    assert r.mean == pytest.approx(c.mean())
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(c.mean()) / se, lrv.df))
    half = stats.t.ppf(0.975, lrv.df) * se
    assert (r.ci_low, r.ci_high) == pytest.approx((c.mean() - half, c.mean() + half))
    assert (r.p_value < 0.05) == (r.ci_low > 0 or r.ci_high < 0)
    # a longer horizon shrinks the statistic (HLN), so p grows
    assert serial.diebold_mariano(c, b, horizon=16, min_bandwidth=8).p_value > r.p_value


def test_dm_finds_a_real_difference_and_not_a_zero_one() -> None:
    shifted = ar1(400, 0.8, seed=7) + 1.5  # 1.5 = 0.3 long-run standard deviations
    assert serial.diebold_mariano(shifted, np.zeros(400), min_bandwidth=8).p_value < 0.01
    z = np.random.default_rng(8).normal(size=100)
    assert serial.diebold_mariano(np.concatenate([z, -z]), np.zeros(200)).p_value == pytest.approx(1.0)
    constant = serial.diebold_mariano(np.full(10, 2.0), np.ones(10))
    assert constant.mean == 1.0 and math.isnan(constant.p_value)


def test_dm_names_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        serial.diebold_mariano([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"horizon must be in 1\.\.2"):
        serial.diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 2.0], horizon=3)
    with pytest.raises(ValueError, match="loss_candidate needs at least 3"):
        serial.diebold_mariano([1.0, 2.0], [1.0, 2.0])


def test_block_length_is_twice_politis_white_within_the_floor_and_two_blocks() -> None:
    x = ar1(365, 0.8, seed=9)
    politis_white = float(optimal_block_length(x)["circular"].iloc[0])
    assert serial.bootstrap_block_length(x) == math.ceil(2 * politis_white)
    assert serial.bootstrap_block_length(x, min_length=100) == 100
    assert serial.bootstrap_block_length(x[:20], min_length=100) == 10  # T // 2
    assert serial.bootstrap_block_length(np.ones(30)) == 2  # no dependence to measure: the shortest block, doubled
    assert serial.bootstrap_block_length(x[:10], min_length=3) == 3  # too short for Politis–White: the floor


def test_bootstrap_studentizes_arch_resamples_by_their_blocks() -> None:
    x = ar1(50, 0.5, seed=10) + 0.3
    length, n_boot = 7, 300
    r = serial.circular_block_bootstrap(x, block_length=length, n_boot=n_boot, seed=11)
    resamples = CircularBlockBootstrap(length, x, seed=11).apply(lambda y: y, n_boot)
    t_star = []
    for y in resamples:  # blocks of 7, the last one 1 long: 50 = 7 * 7 + 1
        sums = [y[i : i + length].sum() - len(y[i : i + length]) * y.mean() for i in range(0, 50, length)]
        t_star.append(abs(y.mean() - x.mean()) / math.sqrt(sum(s**2 for s in sums) / 50**2))
    dev = x - x.mean()
    circular = [dev @ np.roll(dev, -k) / 50 for k in range(length)]
    se = math.sqrt((circular[0] + 2 * sum((1 - k / length) * circular[k] for k in range(1, length))) / 50)
    count = np.count_nonzero(np.asarray(t_star) >= abs(x.mean()) / se)
    assert r.p_value == pytest.approx((count + 1) / (n_boot + 1))
    half = np.quantile(t_star, 0.95, method="inverted_cdf") * se
    assert (r.ci_low, r.ci_high) == pytest.approx((x.mean() - half, x.mean() + half))
    assert r.method == "circular-block-bootstrap" and r.window == length and r.n == 50


def test_bootstrap_is_deterministic_and_uses_the_chosen_block() -> None:
    x = ar1(120, 0.6, seed=12)
    a = serial.circular_block_bootstrap(x, min_block=8, seed=3)
    assert a == serial.circular_block_bootstrap(x, min_block=8, seed=3)
    assert a != serial.circular_block_bootstrap(x, min_block=8, seed=4)
    assert a.window == serial.bootstrap_block_length(x, 8) and a.ci_low < a.mean < a.ci_high


def test_bootstrap_finds_a_real_difference_and_not_a_zero_one() -> None:
    assert serial.circular_block_bootstrap(ar1(400, 0.8, seed=13) + 1.5, min_block=8).p_value < 0.01
    z = np.random.default_rng(14).normal(size=100)
    assert serial.circular_block_bootstrap(np.concatenate([z, -z]), block_length=5).p_value == 1.0  # mean exactly 0
    assert math.isnan(serial.circular_block_bootstrap(np.ones(12)).p_value)  # no spread: no test


def test_bootstrap_names_bad_input() -> None:
    with pytest.raises(ValueError, match="loss_diff has 1 non-finite"):
        serial.circular_block_bootstrap([0.1, np.inf, 0.2], block_length=1)
    for length in (0, 4):
        with pytest.raises(ValueError, match=r"block_length must be in 1\.\.3"):
            serial.circular_block_bootstrap([0.1, 0.2, 0.3], block_length=length)
    with pytest.raises(ValueError, match="n_boot must be >= 1"):
        serial.circular_block_bootstrap([0.1, 0.2, 0.3], n_boot=0)
