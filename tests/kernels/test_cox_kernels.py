"""Cox risk-set kernels against their naive O(n^2) twins, hand-worked cases and calculus."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

import msm._kernels as K
from tests import naive_cox as naive

KERNELS = ["cox_loglik_score_information", "cox_score_residuals", "cox_baseline_hazard"]


def orders(start, stop):
    return np.argsort(-stop).astype(np.int64), np.argsort(-start).astype(np.int64)


def call(name, module, data, beta, efron):
    start, stop, event, X, w = data
    order_stop, order_start = orders(start, stop)
    return getattr(module, name)(start, stop, event, X, w, beta, order_stop, order_start, efron)


def make_data(rng, kind: str, n: int = 120, p: int = 3):
    """Counting-process rows of several shapes; covariates centred as the engine does."""
    if kind == "continuous":  # one row per subject, no ties at all
        start = np.zeros(n)
        stop = rng.exponential(1.0, n)
        event = (rng.random(n) < 0.6).astype(float)
    elif kind == "ties":  # integer times: many tied events, starts tied with stops
        start = rng.integers(0, 6, n).astype(float)
        stop = start + rng.integers(1, 4, n)
        event = (rng.random(n) < 0.5).astype(float)
    elif kind == "late_entry":  # subjects with several rows, gaps and late entry
        rows = []
        subject = 0
        while len(rows) < n:
            t = float(rng.integers(0, 5))
            for _ in range(rng.integers(1, 5)):
                dt = float(rng.integers(1, 4))
                rows.append((t, t + dt, float(rng.random() < 0.25)))
                t += dt + float(rng.integers(0, 2))  # sometimes a gap (not at risk)
            subject += 1
        start, stop, event = (np.array(c) for c in zip(*rows[:n]))
    elif kind == "one_event":
        start = rng.uniform(0, 1, n)
        stop = start + rng.uniform(0.1, 2, n)
        event = np.zeros(n)
        event[rng.integers(n)] = 1.0
    elif kind == "all_tied":  # every row an event, all at the same time
        start = np.zeros(n)
        stop = np.full(n, 2.0)
        event = np.ones(n)
    elif kind == "tied_and_censored_same_time":
        start = np.zeros(n)
        stop = rng.integers(1, 4, n).astype(float)
        event = (rng.random(n) < 0.5).astype(float)
    else:  # pragma: no cover
        raise ValueError(kind)
    X = rng.normal(size=(n, p))
    X -= X.mean(axis=0)
    w = rng.uniform(0.2, 3.0, n)
    return start, stop, event, np.ascontiguousarray(X), w


KINDS = ["continuous", "ties", "late_entry", "one_event", "all_tied", "tied_and_censored_same_time"]


def assert_same(a, b, rtol=1e-10, atol=1e-11):
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, rtol, atol)
    else:
        npt.assert_allclose(a, b, rtol=rtol, atol=atol)


# --- hand-worked cases -----------------------------------------------------------------------


def test_loglik_by_hand_breslow_and_efron():
    # beta = 0, unit weights: risk scores 1.  Rows (start, stop]: at t=2 rows 0, 1, 2 are at
    # risk (row 3 enters at 2) and rows 0, 1 die; at t=4 rows 2, 3 are at risk and row 3 dies.
    start = np.array([0.0, 0.0, 1.0, 2.0])
    stop = np.array([2.0, 2.0, 4.0, 4.0])
    event = np.array([1.0, 1.0, 0.0, 1.0])
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    w = np.ones(4)
    beta = np.zeros(1)
    o1, o2 = orders(start, stop)
    breslow = K.cox_loglik_score_information(start, stop, event, X, w, beta, o1, o2, False)
    efron = K.cox_loglik_score_information(start, stop, event, X, w, beta, o1, o2, True)
    # Breslow: two deaths over a risk set of 3, one over 2
    npt.assert_allclose(breslow[0], -(2 * np.log(3) + np.log(2)), rtol=1e-14)
    # Efron: second tied death sees 3 - 1/2 * 2 = 2
    npt.assert_allclose(efron[0], -(np.log(3) + np.log(2) + np.log(2)), rtol=1e-14)
    # Breslow score: (0 + 1) - 2 * mean(0, 1, 2) + 3 - mean(2, 3)
    npt.assert_allclose(breslow[1], [1.0 - 2.0 + 3.0 - 2.5], rtol=1e-14)
    assert breslow[3] == efron[3] == 2
    times, increments = K.cox_baseline_hazard(start, stop, event, X, w, beta, o1, o2, False)
    npt.assert_allclose(times, [2.0, 4.0])
    npt.assert_allclose(increments, [2 / 3, 1 / 2], rtol=1e-14)  # Nelson-Aalen
    times, increments = K.cox_baseline_hazard(start, stop, event, X, w, beta, o1, o2, True)
    npt.assert_allclose(increments, [1 / 3 + 1 / 2, 1 / 2], rtol=1e-14)


def test_row_entering_at_an_event_time_is_not_at_risk_then():
    # row 1 starts exactly when row 0 dies: (start, stop] excludes it from that risk set
    start = np.array([0.0, 1.0])
    stop = np.array([1.0, 2.0])
    event = np.array([1.0, 1.0])
    X = np.array([[0.5], [-0.5]])
    o1, o2 = orders(start, stop)
    loglik, score, info, _ = K.cox_loglik_score_information(
        start, stop, event, X, np.ones(2), np.array([0.7]), o1, o2, True
    )
    assert loglik == pytest.approx(0.0, abs=1e-15)  # each death alone in its risk set
    assert score[0] == pytest.approx(0.0, abs=1e-15)
    assert info[0, 0] == pytest.approx(0.0, abs=1e-15)


# --- kernel vs naive twin --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("efron", [True, False], ids=["efron", "breslow"])
@pytest.mark.parametrize("name", KERNELS)
def test_kernel_matches_naive(name, kind, efron, rng):
    data = make_data(rng, kind)
    beta = rng.normal(scale=0.5, size=data[3].shape[1])
    assert_same(call(name, K, data, beta, efron), call(name, naive, data, beta, efron))


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("p", [1, 6])
def test_kernel_matches_naive_other_widths(name, p, rng):
    data = make_data(rng, "late_entry", n=200, p=p)
    beta = rng.normal(scale=0.3, size=p)
    assert_same(call(name, K, data, beta, True), call(name, naive, data, beta, True))


@pytest.mark.parametrize("name", KERNELS)
def test_huge_and_tiny_weights(name, rng):
    start, stop, event, X, _ = make_data(rng, "ties", n=150)
    w = np.exp(rng.uniform(-12, 12, start.size))  # weights over ten orders of magnitude
    data = (start, stop, event, X, w)
    beta = rng.normal(scale=0.5, size=X.shape[1])
    assert_same(call(name, K, data, beta, True), call(name, naive, data, beta, True), rtol=1e-8)


@pytest.mark.parametrize("name", KERNELS)
def test_single_row(name):
    data = (np.zeros(1), np.ones(1), np.ones(1), np.array([[0.3, -1.0]]), np.array([2.0]))
    beta = np.array([0.4, 0.1])
    assert_same(call(name, K, data, beta, True), call(name, naive, data, beta, True))


# --- properties that do not need the twin ----------------------------------------------------


def numerical_gradient(f, beta, h=1e-6):
    grad = []
    for j in range(beta.size):
        step = np.zeros_like(beta)
        step[j] = h
        grad.append((f(beta + step) - f(beta - step)) / (2 * h))
    return np.array(grad)


@pytest.mark.parametrize("kind", ["ties", "late_entry", "all_tied"])
@pytest.mark.parametrize("efron", [True, False], ids=["efron", "breslow"])
def test_score_and_information_are_derivatives(kind, efron, rng):
    data = make_data(rng, kind, n=80)
    beta = rng.normal(scale=0.5, size=data[3].shape[1])
    result = call("cox_loglik_score_information", K, data, beta, efron)

    def loglik(b):
        return call("cox_loglik_score_information", K, data, b, efron)[0]

    def score(b):
        return call("cox_loglik_score_information", K, data, b, efron)[1]

    npt.assert_allclose(result[1], numerical_gradient(loglik, beta), rtol=1e-6, atol=1e-6)
    npt.assert_allclose(result[2], -numerical_gradient(score, beta).T, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("efron", [True, False], ids=["efron", "breslow"])
def test_weighted_score_residuals_sum_to_the_score(kind, efron, rng):
    data = make_data(rng, kind)
    beta = rng.normal(scale=0.5, size=data[3].shape[1])
    score = call("cox_loglik_score_information", K, data, beta, efron)[1]
    resid = call("cox_score_residuals", K, data, beta, efron)
    npt.assert_allclose((data[4][:, None] * resid).sum(axis=0), score, rtol=1e-9, atol=1e-9)


def test_row_order_does_not_matter(rng):
    data = make_data(rng, "late_entry", n=150)
    beta = rng.normal(scale=0.5, size=3)
    perm = rng.permutation(150)
    shuffled = tuple(a[perm] for a in data)
    a = call("cox_loglik_score_information", K, data, beta, True)
    b = call("cox_loglik_score_information", K, shuffled, beta, True)
    assert_same(a, b)
    ra = call("cox_score_residuals", K, data, beta, True)
    rb = call("cox_score_residuals", K, shuffled, beta, True)
    npt.assert_allclose(ra[perm], rb, rtol=1e-10, atol=1e-12)
    assert_same(
        call("cox_baseline_hazard", K, data, beta, True),
        call("cox_baseline_hazard", K, shuffled, beta, True),
    )


def test_efron_equals_breslow_without_ties(rng):
    data = make_data(rng, "continuous")
    beta = rng.normal(scale=0.5, size=3)
    for name in KERNELS:
        assert_same(call(name, K, data, beta, True), call(name, K, data, beta, False))


def test_efron_differs_from_breslow_with_ties(rng):
    data = make_data(rng, "all_tied", n=20)
    beta = rng.normal(scale=0.5, size=3)
    efron = call("cox_loglik_score_information", K, data, beta, True)[0]
    breslow = call("cox_loglik_score_information", K, data, beta, False)[0]
    assert efron > breslow + 1.0  # Efron's denominators are smaller


def test_shifting_covariates_changes_nothing_but_the_baseline(rng):
    start, stop, event, X, w = make_data(rng, "ties")
    beta = rng.normal(scale=0.5, size=3)
    shift = np.array([3.0, -2.0, 10.0])
    moved = (start, stop, event, np.ascontiguousarray(X + shift), w)
    base = (start, stop, event, X, w)
    a = call("cox_loglik_score_information", K, base, beta, True)
    b = call("cox_loglik_score_information", K, moved, beta, True)
    assert_same(a, b, rtol=1e-9, atol=1e-9)
    assert_same(
        call("cox_score_residuals", K, base, beta, True),
        call("cox_score_residuals", K, moved, beta, True),
        rtol=1e-8,
        atol=1e-9,
    )
    times_a, inc_a = call("cox_baseline_hazard", K, base, beta, True)
    times_b, inc_b = call("cox_baseline_hazard", K, moved, beta, True)
    npt.assert_array_equal(times_a, times_b)
    npt.assert_allclose(inc_b, inc_a * np.exp(-shift @ beta), rtol=1e-10)


def test_scaling_weights(rng):
    # loglik(c w) = c loglik(w) - c (sum of event weights) log c; score and information scale
    data = make_data(rng, "ties")
    start, stop, event, X, w = data
    beta = rng.normal(scale=0.5, size=3)
    c = 7.5
    a = call("cox_loglik_score_information", K, data, beta, True)
    b = call("cox_loglik_score_information", K, (start, stop, event, X, c * w), beta, True)
    npt.assert_allclose(b[0], c * a[0] - c * np.sum(w * event) * np.log(c), rtol=1e-12)
    npt.assert_allclose(b[1], c * a[1], rtol=1e-10, atol=1e-10)
    npt.assert_allclose(b[2], c * a[2], rtol=1e-10)


def test_integer_weights_equal_duplicated_rows_breslow(rng):
    start, stop, event, X, _ = make_data(rng, "late_entry", n=60)
    w = rng.integers(1, 4, start.size).astype(float)
    beta = rng.normal(scale=0.5, size=3)
    rep = np.repeat(np.arange(start.size), w.astype(int))
    weighted = call("cox_loglik_score_information", K, (start, stop, event, X, w), beta, False)
    copies = (start[rep], stop[rep], event[rep], np.ascontiguousarray(X[rep]), np.ones(rep.size))
    duplicated = call("cox_loglik_score_information", K, copies, beta, False)
    assert_same(weighted, duplicated)
