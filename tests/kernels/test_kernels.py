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


@pytest.mark.parametrize("n", [1, 17, 5000])
def test_logit_log_prob_matches_naive(n, rng):
    X, y, _, beta = _logit_data(rng, n, 4, beta_scale=30.0)  # many probabilities near 0 or 1
    npt.assert_allclose(
        K.logit_log_prob(X, beta, y, np.empty(n)), naive.logit_log_prob(X, beta, y), rtol=1e-12
    )


def test_logit_log_prob_tail_is_exact():
    # p = expit(-800) underflows to 0, but log p = -800 (to rounding) is what a weight needs
    X = np.ones((2, 1))
    out = K.logit_log_prob(X, np.array([-800.0]), np.array([1.0, 0.0]), np.empty(2))
    npt.assert_allclose(out, [-800.0, 0.0], atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("n_rows", [0, 1, 7, 10_000])
def test_gather_column_matches_naive(dtype, n_rows, rng):
    source = (rng.normal(size=5000) * 100).astype(dtype)
    rows = rng.integers(0, 5000, size=n_rows)
    got = K.gather_column(source, rows, np.zeros((n_rows, 3)), 1)
    want = naive.gather_column(source, rows, np.zeros((n_rows, 3)), 1)
    npt.assert_array_equal(got, want)


@pytest.mark.parametrize("n_rows", [0, 1, 9, 40_000])
def test_product_design_matches_naive(n_rows, rng):
    # the caller's columns as they are: int64 (a placeholder first) and float64 tuples
    integers = (np.empty(0, np.int64), rng.integers(0, 60, n_rows), rng.integers(0, 2, n_rows))
    floats = (np.empty(0), rng.normal(size=n_rows))
    # columns: 1, v0, v0**2, v1:v0, v2**3:v0, v2**2 (v0, v1 integers 1, 2; v2 float 1)
    factors = [[], [(0, 1, 1)], [(0, 1, 2)], [(0, 2, 1), (0, 1, 1)], [(1, 1, 3), (0, 1, 1)],
               [(1, 1, 2)]]  # fmt: skip
    fstart = np.cumsum([0] + [len(f) for f in factors]).astype(np.int64)
    fkind, fvar, fpow = (np.array([t[i] for f in factors for t in f], dtype=np.int64)
                         for i in range(3))  # fmt: skip
    args = (integers, floats, fkind, fvar, fstart, fpow)
    got = K.product_design(np.empty((n_rows, len(factors))), *args)
    want = naive.product_design(np.empty((n_rows, len(factors))), *args)
    npt.assert_allclose(got, want, rtol=1e-15, atol=0)
    npt.assert_array_equal(got[:, :4], want[:, :4])  # integers and squares: exact
    if n_rows > 10:  # serial and parallel compilations: the same numbers
        serial = K.product_design.serial(np.empty((n_rows, len(factors))), *args)
        npt.assert_array_equal(serial, got)


@pytest.mark.parametrize("n_rows", [0, 1, 5, 63, 64, 65, 10_001])
@pytest.mark.parametrize("p", [0, 1, 4])
def test_column_abs_max_matches_naive(n_rows, p, rng):
    X = rng.normal(size=(n_rows, p)) * 10.0 ** rng.integers(-200, 200, size=p)
    w = np.where(rng.random(n_rows) < 0.3, 0.0, rng.exponential(size=n_rows))
    if n_rows > 5:
        X[np.flatnonzero(w == 0)[:1]] = 1e300  # a huge value on a zero-weight row is ignored
    npt.assert_array_equal(K.column_abs_max(X, w), naive.column_abs_max(X, w))
    npt.assert_array_equal(K.column_abs_max(X, np.zeros(n_rows)), np.zeros(p))
