"""Each numba kernel against its naive numpy twin, on hand-written, edge and random inputs."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from msm import _kernels as K
from tests import naive


def make_groups(sizes, rng, scale=1.0):
    sizes = np.asarray(sizes, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    values = rng.normal(scale=scale, size=int(sizes.sum()))
    return values, starts


def test_grouped_cumsum_hand_written():
    values = np.array([1.0, 2.0, 3.0, 10.0, -1.0])
    starts = np.array([0, 3, 5])
    npt.assert_array_equal(
        K.grouped_cumsum(values, starts, np.empty(5)), [1.0, 3.0, 6.0, 10.0, 9.0]
    )


@pytest.mark.parametrize(
    "sizes", [[1], [7], [1, 1, 1], [0, 3], [5, 0, 1, 7], [400] * 3, list(range(1, 60))]
)
def test_grouped_cumsum_matches_naive(sizes, rng):
    values, starts = make_groups(sizes, rng, scale=50.0)  # exp() of these sums would overflow
    npt.assert_allclose(
        K.grouped_cumsum(values, starts, np.empty_like(values)),
        naive.grouped_cumsum(values, starts),
        rtol=1e-12,
        atol=1e-9,
    )


def test_grouped_cumsum_empty_input():
    out = K.grouped_cumsum(np.empty(0), np.array([0], dtype=np.int64), np.empty(0))
    assert out.size == 0


def test_log_space_survives_hundreds_of_extreme_factors():
    # 600 factors of 1e-3 would underflow a natural-scale product (1e-1800); in log space the
    # sum is exact enough to recover it.
    log_factors = np.full(600, np.log(1e-3))
    log_w = K.cumulative_log_weights(log_factors, np.array([0, 600]))
    npt.assert_allclose(log_w[-1], 600 * np.log(1e-3), rtol=1e-12)
    assert np.isfinite(log_w).all()


def test_grouped_cumsum_minus_infinity_stays_in_group():
    values = np.array([0.0, -np.inf, 1.0, 2.0])
    out = K.grouped_cumsum(values, np.array([0, 2, 4]), np.empty(4))
    assert out[1] == -np.inf
    npt.assert_array_equal(out[2:], [1.0, 3.0])


def _logit_data(rng, n, p, beta_scale=1.0, weights=True):
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))]) if p > 1 else np.ones((n, 1))
    beta = rng.normal(scale=beta_scale, size=p)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(float)
    w = rng.exponential(size=n) if weights else np.ones(n)
    return np.ascontiguousarray(X), y, w, beta


@pytest.mark.parametrize(
    ("n", "p"), [(1, 1), (1, 3), (2, 2), (100, 1), (1000, 4), (20_000, 6), (8192 * 3 + 1, 3)]
)
def test_logit_pass_matches_naive(n, p, rng):
    X, y, w, beta = _logit_data(rng, n, p)
    got = K.logit_loglik_score_hessian(X, y, w, beta)
    want = naive.logit_loglik_score_hessian(X, y, w, beta)
    for g, e in zip(got, want):
        npt.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("outcome", [0.0, 1.0])
def test_logit_pass_all_one_outcome(outcome, rng):
    X, _, w, beta = _logit_data(rng, 500, 3)
    y = np.full(500, outcome)
    for g, e in zip(
        K.logit_loglik_score_hessian(X, y, w, beta),
        naive.logit_loglik_score_hessian(X, y, w, beta),
    ):
        npt.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_logit_pass_extreme_probabilities(rng):
    # linear predictors of +-800: exp() overflows in a naive formula, the kernel must not
    X, y, w, _ = _logit_data(rng, 300, 3)
    beta = np.array([0.0, 400.0, -400.0])
    loglik, score, info, pmin, pmax = K.logit_loglik_score_hessian(X, y, w, beta)
    assert np.isfinite(loglik) and np.isfinite(score).all() and np.isfinite(info).all()
    want = naive.logit_loglik_score_hessian(X, y, w, beta)
    npt.assert_allclose(loglik, want[0], rtol=1e-10)
    npt.assert_allclose(score, want[1], rtol=1e-10, atol=1e-8)
    assert pmin < 1e-100 and pmax == 1.0


def test_logit_pass_zero_weights_drop_rows(rng):
    X, y, w, beta = _logit_data(rng, 400, 3)
    w[::2] = 0.0
    got = K.logit_loglik_score_hessian(X, y, w, beta)
    sub = naive.logit_loglik_score_hessian(X[1::2], y[1::2], w[1::2], beta)
    for g, e in zip(got[:3], sub[:3]):
        npt.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 17, 5000])
def test_logit_log_prob_and_predict_match_naive(n, rng):
    X, y, _, beta = _logit_data(rng, n, 4, beta_scale=30.0)  # many probabilities near 0 or 1
    npt.assert_allclose(
        K.logit_log_prob(X, beta, y, np.empty(n)), naive.logit_log_prob(X, beta, y), rtol=1e-12
    )
    npt.assert_allclose(
        K.logit_predict(X, beta, np.empty(n)), naive.logit_predict(X, beta), rtol=1e-12
    )


def test_logit_log_prob_tail_is_exact():
    # p = expit(-800) underflows to 0, but log p = -800 (to rounding) is what a weight needs
    X = np.ones((2, 1))
    out = K.logit_log_prob(X, np.array([-800.0]), np.array([1.0, 0.0]), np.empty(2))
    npt.assert_allclose(out, [-800.0, 0.0], atol=1e-300)


def test_logit_pass_same_numbers_on_any_thread_count(rng):
    import numba

    X, y, w, beta = _logit_data(rng, 50_000, 5)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = K.logit_loglik_score_hessian(X, y, w, beta)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = K.logit_loglik_score_hessian(X, y, w, beta)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        npt.assert_array_equal(a, b)
