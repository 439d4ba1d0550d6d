"""Diagnostics kernels against their naive twins: hand-written, edge and seeded random inputs."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from msm import _kernels as K
from tests import naive_diagnostics as naive


def offsets(sizes) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


# --- history codes ----------------------------------------------------------------------------


def test_history_nodes_hand_written():
    # subject 1: 0 1 1; subject 2: 0 1 0; subject 3: 1
    a = np.array([0, 1, 1, 0, 1, 0, 1], dtype=np.float64)
    starts = offsets([3, 3, 1])
    out = np.empty(7, dtype=np.int64)
    n_nodes = K.history_nodes(a, starts, out)
    # (), (0,), (0,1) | (), (0,), (0,1) | ()
    npt.assert_array_equal(out, [0, 1, 2, 0, 1, 2, 0])
    assert n_nodes == 6  # (), (0), (0,1), (0,1,1), (0,1,0), (1)


@pytest.mark.parametrize("sizes", [[1], [0, 2], [5], [1, 1, 1], [3, 0, 4, 2], [10] * 40])
def test_history_nodes_matches_naive(sizes, rng):
    starts = offsets(sizes)
    a = rng.integers(0, 2, int(starts[-1])).astype(np.float64)
    out = np.empty(a.size, dtype=np.int64)
    n_nodes = K.history_nodes(a, starts, out)
    expected, n_expected = naive.history_nodes(a, starts)
    npt.assert_array_equal(out, expected)
    assert n_nodes == n_expected


def test_history_nodes_empty():
    out = np.empty(0, dtype=np.int64)
    assert K.history_nodes(np.empty(0), offsets([]), out) == 1


def test_recent_history_hand_written():
    a = np.array([1, 0, 1, 1], dtype=np.float64)
    out = np.empty(4, dtype=np.int64)
    K.recent_history(a, offsets([4]), np.int64(2), out)
    # lengths 0, 1, 2, 2; bits: -, 1, (1,0)->0b10, (0,1)->0b01
    npt.assert_array_equal(out, [0, 1 * 4 + 1, 2 * 4 + 2, 2 * 4 + 1])


@pytest.mark.parametrize("k", [0, 1, 3, 8])
@pytest.mark.parametrize("sizes", [[1], [6], [0, 3, 12], [7] * 30])
def test_recent_history_matches_naive(k, sizes, rng):
    starts = offsets(sizes)
    a = rng.integers(0, 2, int(starts[-1])).astype(np.float64)
    out = np.empty(a.size, dtype=np.int64)
    K.recent_history(a, starts, np.int64(k), out)
    npt.assert_array_equal(out, naive.recent_history(a, starts, k))


# --- stratified mean differences --------------------------------------------------------------


def strata_inputs(sizes, rng, n_times=5, n_codes=3, p=2, weight_scale=1.0, compared_share=0.8):
    """Random panel (subjects with increasing times) and strata as the glue code builds them."""
    starts = offsets(sizes)
    n = int(starts[-1])
    time_index = np.empty(n, dtype=np.int64)
    for g in range(len(sizes)):
        m = sizes[g]
        time_index[starts[g] : starts[g + 1]] = np.sort(rng.choice(n_times, m, replace=False))
    X = rng.normal(size=(n, p)) * 3.0
    X[:, -1] = rng.integers(0, 2, n)  # a 0/1 covariate too
    w = np.exp(rng.normal(scale=weight_scale, size=n))
    arm = rng.integers(0, 2, n).astype(np.int64)
    codes = rng.integers(0, n_codes, n)
    compared = np.flatnonzero(rng.random(n) < compared_share)
    key = time_index[compared] * n_codes + codes[compared]
    order = np.argsort(key, kind="stable")
    rows = compared[order].astype(np.int64)
    key = key[order]
    bounds = np.flatnonzero(key[1:] != key[:-1]) + 1
    stratum_starts = np.concatenate(([0], bounds, [rows.size])).astype(np.int64)
    stratum_time = time_index[rows[stratum_starts[:-1]]] if rows.size else np.empty(0, np.int64)
    time_strata = np.searchsorted(stratum_time, np.arange(n_times + 1)).astype(np.int64)
    subject_start = np.repeat(starts[:-1], np.diff(starts)).astype(np.int64)
    return X, w, arm, time_index, subject_start, rows, stratum_starts, time_strata


def check_against_naive(args, n_lags):
    got = K.stratified_mean_differences(*args, np.int64(n_lags))
    expected = naive.stratified_mean_differences(*args, n_lags)
    names = ["diff_u", "size_u", "diff_w", "size_w", "n_strata", "count", "sx", "sxx"]
    for name, g, e in zip(names, got, expected, strict=True):
        npt.assert_allclose(g, e, rtol=1e-10, atol=1e-9, err_msg=name)


@pytest.mark.parametrize(
    "sizes", [[1], [5], [1, 1, 1], [2, 0, 3], [5] * 8, list(np.arange(1, 6)) * 10]
)
@pytest.mark.parametrize("n_lags", [1, 2, 5])
def test_stratified_mean_differences_matches_naive(sizes, n_lags, rng):
    check_against_naive(strata_inputs(sizes, rng), n_lags)


def test_stratified_mean_differences_huge_weights(rng):
    args = strata_inputs([5] * 20, rng, weight_scale=30.0)  # weights up to ~e^100
    check_against_naive(args, 3)


def test_stratified_mean_differences_no_compared_rows(rng):
    args = strata_inputs([3, 4], rng, compared_share=0.0)
    got = K.stratified_mean_differences(*args, np.int64(2))
    assert all(not np.any(x) for x in got)


def test_stratified_mean_differences_hand_written():
    # one time, one stratum; rows: treated x=3 (w=1), untreated x=1 (w=1) and x=2 (w=3)
    X = np.array([[3.0], [1.0], [2.0]])
    w = np.array([1.0, 1.0, 3.0])
    arm = np.array([1, 0, 0], dtype=np.int64)
    time_index = np.zeros(3, dtype=np.int64)
    subject_start = np.arange(3, dtype=np.int64)  # three one-row subjects
    rows = np.arange(3, dtype=np.int64)
    out = K.stratified_mean_differences(
        X,
        w,
        arm,
        time_index,
        subject_start,
        rows,
        np.array([0, 3]),
        np.array([0, 1]),
        np.int64(1),
    )
    diff_u, size_u, diff_w, size_w, n_strata = out[:5]
    npt.assert_allclose(diff_u[0, 0, 0] / size_u[0, 0], 3.0 - 1.5)
    npt.assert_allclose(diff_w[0, 0, 0] / size_w[0, 0], 3.0 - 1.75)
    assert n_strata[0, 0] == 1
