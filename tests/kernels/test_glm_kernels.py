"""GLM kernels against their naive numpy twins (tests/naive_glm.py): fixed, edge, random."""

from __future__ import annotations

import numba
import numpy as np
import numpy.testing as npt
import pytest

from msm import _kernels as K
from tests import naive_glm as naive

FAMILIES = {"gaussian": K.GAUSSIAN, "binomial": K.BINOMIAL, "poisson": K.POISSON}
CHUNK = 8192  # msm._kernels.glm.CHUNK_ROWS: sizes below straddle it


def kernel_pass(X, y, w, beta, family, offset=None):
    offset = np.zeros(len(y)) if offset is None else offset
    mu = np.full(len(y), np.nan)
    out = K.glm_irls_pass(X, y, w, offset, beta, family, mu)
    return (*out, mu)


def assert_pass_equal(got, want, rtol=1e-11):
    names = ["deviance", "pearson", "score", "information", "mu_min", "mu_max", "mu"]
    for name, a, b in zip(names, got, want, strict=True):
        scale = np.max(np.abs(np.where(np.isfinite(b), b, 0.0)), initial=0.0)
        npt.assert_allclose(a, b, rtol=rtol, atol=1e-12 * scale, err_msg=name)


def draw_outcome(rng, eta, family):
    """An outcome of the family with linear predictor ``eta`` (canonical link)."""
    if family == K.BINOMIAL:
        return (rng.random(eta.size) < 1 / (1 + np.exp(-eta))).astype(float)
    if family == K.POISSON:
        return rng.poisson(np.exp(eta)).astype(float)
    return eta + rng.normal(size=eta.size)


def make_data(rng, n, p, family, weight_scale=1.0):
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))]) if p > 0 else np.ones((n, 0))
    beta = rng.normal(scale=0.5, size=p)
    eta = X @ beta
    y = draw_outcome(rng, eta, family)
    w = rng.exponential(size=n) * weight_scale
    return np.ascontiguousarray(X), y, w, beta


# --- fixed cases, worked by hand --------------------------------------------------------------


def test_gaussian_pass_by_hand():
    X = np.array([[1.0, 0.0], [1.0, 1.0]])
    y = np.array([1.0, 3.0])
    w = np.array([1.0, 2.0])
    dev, pearson, score, info, lo, hi, mu = kernel_pass(X, y, w, np.zeros(2), K.GAUSSIAN)
    assert dev == pytest.approx(1.0 + 2.0 * 9.0)
    assert pearson == pytest.approx(19.0)
    npt.assert_allclose(score, [7.0, 6.0])
    npt.assert_allclose(info, [[3.0, 2.0], [2.0, 2.0]])
    npt.assert_array_equal(mu, [0.0, 0.0])


def test_binomial_pass_at_zero_by_hand():
    # mu = 1/2 everywhere: deviance 2 log 2 per unit weight, Pearson 1, information w / 4
    X = np.array([[1.0], [1.0], [1.0]])
    y = np.array([0.0, 1.0, 1.0])
    w = np.array([1.0, 2.0, 3.0])
    dev, pearson, score, info, lo, hi, mu = kernel_pass(X, y, w, np.zeros(1), K.BINOMIAL)
    assert dev == pytest.approx(6.0 * 2.0 * np.log(2.0))
    assert pearson == pytest.approx(6.0)
    npt.assert_allclose(score, [-0.5 + 1.0 + 1.5])
    npt.assert_allclose(info, [[6.0 / 4.0]])
    assert lo == hi == 0.5


def test_poisson_pass_by_hand():
    # beta = log 2: mu = 2; y = (0, 2, 5)
    X = np.ones((3, 1))
    y = np.array([0.0, 2.0, 5.0])
    w = np.ones(3)
    dev, pearson, score, info, *_ = kernel_pass(X, y, w, np.array([np.log(2.0)]), K.POISSON)
    want_dev = 2 * 2.0 + 0.0 + 2 * (5 * np.log(5 / 2) - 3)
    assert dev == pytest.approx(want_dev)
    assert pearson == pytest.approx((4 + 0 + 9) / 2)
    npt.assert_allclose(score, [-2.0 + 0.0 + 3.0])
    npt.assert_allclose(info, [[6.0]])


# --- random inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES.keys())
@pytest.mark.parametrize("n, p", [(1, 1), (2, 3), (57, 4), (CHUNK, 2), (CHUNK + 1, 5), (20000, 7)])
def test_irls_pass_matches_naive(family, n, p, rng):
    X, y, w, beta = make_data(rng, n, p, family)
    offset = rng.normal(scale=0.1, size=n)
    trial = beta + rng.normal(scale=0.3, size=p)  # away from the truth: non-trivial score
    got = kernel_pass(X, y, w, trial, family, offset)
    want = naive.glm_irls_pass(X, y, w, offset, trial, family)
    assert_pass_equal(got, want)


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES.keys())
def test_irls_pass_zero_weights_contribute_nothing(family, rng):
    X, y, w, beta = make_data(rng, 300, 3, family)
    w[::3] = 0.0
    got = kernel_pass(X, y, w, beta, family)
    kept = w > 0
    dropped = kernel_pass(np.ascontiguousarray(X[kept]), y[kept], w[kept], beta, family)
    for a, b in zip(got[:6], dropped[:6], strict=True):
        npt.assert_allclose(a, b, rtol=1e-12)
    assert_pass_equal(got, naive.glm_irls_pass(X, y, w, np.zeros(300), beta, family))


def test_irls_pass_all_weights_zero():
    X = np.ones((4, 2))
    dev, pearson, score, info, lo, hi, mu = kernel_pass(
        X, np.ones(4), np.zeros(4), np.zeros(2), K.BINOMIAL
    )
    assert dev == 0.0 and pearson == 0.0
    npt.assert_array_equal(score, 0.0)
    npt.assert_array_equal(info, 0.0)
    assert lo == np.inf and hi == -np.inf
    npt.assert_array_equal(mu, 0.5)  # means are still written for every row


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES.keys())
def test_irls_pass_huge_weights(family, rng):
    X, y, w, beta = make_data(rng, 1000, 4, family, weight_scale=1e12)
    w[:10] = 1e-12  # and tiny ones next to them
    got = kernel_pass(X, y, w, beta, family)
    assert_pass_equal(got, naive.glm_irls_pass(X, y, w, np.zeros(1000), beta, family))
    # scaling every weight scales every sum exactly (up to rounding)
    scaled = kernel_pass(X, y, w * 1e-12, beta, family)
    for a, b in zip(got[:4], scaled[:4], strict=True):
        npt.assert_allclose(np.asarray(a) * 1e-12, b, rtol=1e-12)


@pytest.mark.parametrize("eta", [-800.0, -40.0, -20.0, 20.0, 40.0, 800.0])
def test_binomial_extreme_probabilities(eta):
    # fitted probabilities that round to 0 or 1: deviance stays finite and exact
    X = np.ones((4, 1))
    y = np.array([0.0, 1.0, 0.25, 0.75])  # proportions, as quasibinomial allows
    w = np.array([1.0, 2.0, 3.0, 4.0])
    got = kernel_pass(X, y, w, np.array([eta]), K.BINOMIAL)
    want = naive.glm_irls_pass(X, y, w, np.zeros(4), np.array([eta]), K.BINOMIAL)
    assert_pass_equal(got, want)
    assert np.isfinite(got[0])
    # the right-tail deviance: 2 w log(1 + e^-|eta|) ~ 0 for a correctly predicted row
    one_row = kernel_pass(X[:1], np.array([float(eta > 0)]), np.ones(1), np.array([eta]), 1)
    assert one_row[0] == pytest.approx(2 * np.log1p(np.exp(-abs(eta))), rel=1e-12, abs=1e-300)
    assert 0.0 <= got[4] <= got[5] <= 1.0


@pytest.mark.parametrize("eta", [-700.0, -30.0, 30.0, 700.0])
def test_poisson_extreme_means(eta):
    X = np.ones((3, 1))
    y = np.array([0.0, 1.0, 40.0])
    w = np.ones(3)
    got = kernel_pass(X, y, w, np.array([eta]), K.POISSON)
    want = naive.glm_irls_pass(X, y, w, np.zeros(3), np.array([eta]), K.POISSON)
    assert_pass_equal(got, want)


def test_poisson_overflow_gives_infinite_deviance_not_nan():
    X = np.ones((2, 1))
    dev, *_ = kernel_pass(X, np.array([0.0, 3.0]), np.ones(2), np.array([800.0]), K.POISSON)
    assert dev == np.inf


def test_irls_pass_same_numbers_on_any_thread_count(rng):
    X, y, w, beta = make_data(rng, 5 * CHUNK + 17, 6, K.BINOMIAL)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kernel_pass(X, y, w, beta, K.BINOMIAL)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = kernel_pass(X, y, w, beta, K.BINOMIAL)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many, strict=True):
        npt.assert_array_equal(a, b)


# --- weighted cross-products ------------------------------------------------------------------


@pytest.mark.parametrize("n, p", [(0, 3), (1, 1), (5, 2), (CHUNK + 3, 4), (30000, 8)])
def test_weighted_crossprod_matches_naive(n, p, rng):
    X = rng.normal(size=(n, p))
    d = rng.exponential(size=n) ** 2
    d[::7] = 0.0
    npt.assert_allclose(
        K.weighted_crossprod(X, d), naive.weighted_crossprod(X, d), rtol=1e-11, atol=1e-12
    )


def test_weighted_crossprod_huge_values(rng):
    X = rng.normal(size=(100, 3)) * 1e6
    d = rng.exponential(size=100) * 1e20
    got = K.weighted_crossprod(X, d)
    npt.assert_allclose(got, naive.weighted_crossprod(X, d), rtol=1e-11)
    npt.assert_array_equal(got, got.T)


# --- per-cluster score sums -------------------------------------------------------------------


def cluster_case(rng, n, n_clusters, p, order="shuffled"):
    codes = rng.integers(0, n_clusters, size=n).astype(np.int64)
    if order == "sorted":
        codes = np.sort(codes)
    X = rng.normal(size=(n, p))
    r = rng.normal(size=n)
    return X, r, codes


@pytest.mark.parametrize("order", ["shuffled", "sorted"])
@pytest.mark.parametrize(
    "n, n_clusters, p",
    [(1, 1, 1), (1, 3, 2), (10, 1, 3), (10, 10, 2), (500, 40, 4), (CHUNK * 2 + 5, 700, 6)],
)
def test_cluster_score_sums_match_naive(order, n, n_clusters, p, rng):
    X, r, codes = cluster_case(rng, n, n_clusters, p, order)
    got = K.cluster_score_sums(X, r, codes, n_clusters)
    assert got.shape == (n_clusters, p)
    npt.assert_allclose(
        got, naive.cluster_score_sums(X, r, codes, n_clusters), rtol=1e-12, atol=1e-12
    )


def test_cluster_score_sums_by_hand():
    X = np.array([[1.0, 2.0], [1.0, -1.0], [1.0, 0.5], [1.0, 4.0]])
    r = np.array([1.0, 2.0, 3.0, -1.0])
    codes = np.array([2, 0, 2, 0])  # cluster 1 is empty
    got = K.cluster_score_sums(X, r, codes, 3)
    npt.assert_allclose(got, [[1.0, -6.0], [0.0, 0.0], [4.0, 3.5]])


def test_cluster_score_sums_each_row_its_own_cluster(rng):
    n = 257
    X = rng.normal(size=(n, 3))
    r = rng.normal(size=n)
    codes = rng.permutation(n).astype(np.int64)
    got = K.cluster_score_sums(X, r, codes, n)
    want = np.empty((n, 3))
    want[codes] = r[:, None] * X
    npt.assert_array_equal(got, want)  # one term per cluster: exact
    # and the meat U'U then equals X' diag(r^2) X
    npt.assert_allclose(got.T @ got, K.weighted_crossprod(X, r * r), rtol=1e-12)


def test_cluster_score_sums_ignore_row_order(rng):
    X, r, codes = cluster_case(rng, 3000, 97, 5)
    perm = rng.permutation(3000)
    a = K.cluster_score_sums(X, r, codes, 97)
    b = K.cluster_score_sums(np.ascontiguousarray(X[perm]), r[perm], codes[perm], 97)
    npt.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_cluster_score_sums_same_numbers_on_any_thread_count(rng):
    X, r, codes = cluster_case(rng, 4 * CHUNK, 300, 4)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = K.cluster_score_sums(X, r, codes, 300)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = K.cluster_score_sums(X, r, codes, 300)
    finally:
        numba.set_num_threads(before)
    npt.assert_array_equal(one, many)


# --- non-canonical links (Fisher scoring) ----------------------------------------------------

LINKS = {"identity": K.IDENTITY, "log": K.LOG, "logit": K.LOGIT, "probit": K.PROBIT,
         "cloglog": K.CLOGLOG}  # fmt: skip


def link_kernel_pass(X, y, w, beta, family, link, offset=None):
    offset = np.zeros(len(y)) if offset is None else offset
    mu, factor = np.full(len(y), np.nan), np.full(len(y), np.nan)
    out = K.glm_link_pass(X, y, w, offset, beta, family, link, mu, factor)
    return (*out, mu, factor)


def link_data(rng, n, family, link):
    """A design and coefficients whose means are inside the family's range."""
    x = rng.uniform(-1, 1, size=n)
    X = np.ascontiguousarray(np.column_stack([np.ones(n), x, rng.integers(0, 2, n)]))
    if family == K.POISSON:
        beta = np.array([2.0, 0.5, 1.0]) if link == K.IDENTITY else np.array([0.3, 0.4, -0.2])
        y = rng.poisson(np.maximum(X @ beta, 0.1) if link == K.IDENTITY else np.exp(X @ beta))
        return X, y.astype(float), beta
    beta = {
        K.IDENTITY: [0.4, 0.1, 0.2],
        K.LOG: [-1.2, 0.3, 0.4],
        K.LOGIT: [-0.2, 0.8, 0.5],
        K.PROBIT: [-0.1, 0.6, 0.3],
        K.CLOGLOG: [-0.7, 0.5, 0.4],
    }[link]
    mu = naive.link_mean(X @ np.array(beta), link)[0]
    return X, (rng.random(n) < mu).astype(float), np.array(beta)


CASES = [(K.BINOMIAL, link) for link in LINKS.values()] + [
    (K.POISSON, K.IDENTITY), (K.POISSON, K.LOG)]  # fmt: skip


@pytest.mark.parametrize(("family", "link"), CASES)
@pytest.mark.parametrize("n", [1, 9, CHUNK + 3])
def test_link_pass_matches_naive(family, link, n, rng):
    X, y, beta = link_data(rng, n, family, link)
    w = rng.exponential(size=n)
    w[::5] = 0.0
    got = link_kernel_pass(X, y, w, beta, family, link)
    want = naive.glm_link_pass(X, y, w, np.zeros(n), beta, family, link)
    assert got[6] == want[6] == 0
    assert_pass_equal(got[:6] + got[7:8], want[:6] + want[7:8])
    npt.assert_allclose(got[8], want[8], rtol=1e-11)


@pytest.mark.parametrize(("family", "link"), [(K.BINOMIAL, K.IDENTITY), (K.BINOMIAL, K.LOG),
                                              (K.POISSON, K.IDENTITY)])  # fmt: skip
def test_link_pass_counts_means_outside_the_range(family, link, rng):
    n = 40
    X, y, beta = link_data(rng, n, family, link)
    beta = {K.IDENTITY: [0.4, 1.0, 0.3], K.LOG: [-0.5, 1.0, 0.5]}[link]
    beta = np.array([-1.0, 2.0, 0.0]) if family == K.POISSON else np.array(beta)
    w = np.ones(n)
    w[0] = 0.0
    got = link_kernel_pass(X, y, w, beta, family, link)
    want = naive.glm_link_pass(X, y, w, np.zeros(n), beta, family, link)
    assert got[6] == want[6] > 0  # some means left the range; zero-weight rows not counted
    assert_pass_equal(got[:6] + got[7:8], want[:6] + want[7:8])


def test_link_pass_logit_equals_canonical_pass(rng):
    X, y, w, beta = make_data(rng, 500, 3, K.BINOMIAL)
    link = link_kernel_pass(X, y, w, beta, K.BINOMIAL, K.LOGIT)
    canonical = kernel_pass(X, y, w, beta, K.BINOMIAL)
    assert_pass_equal(link[:6] + link[7:8], canonical, rtol=1e-10)
    npt.assert_allclose(link[8], 1.0, rtol=1e-12)  # mu' / V = 1: canonical


def test_link_mean_clamps_as_r():
    # R: binomial("probit")$linkinv(10) = 1 - 2^-52-ish, $mu.eta(40) = .Machine$double.eps
    mu, d = K.link_mean(40.0, K.PROBIT)
    assert 0.0 < mu < 1.0 and d == np.finfo(float).eps
    mu, d = K.link_mean(5.0, K.CLOGLOG)
    assert mu == 1.0 - np.finfo(float).eps and d == np.finfo(float).eps
    mu, d = K.link_mean(-40.0, K.CLOGLOG)
    assert mu == np.finfo(float).eps


# --- rows in runs with constant columns (glm_block_pass) ---------------------------------------


def blocked_data(rng, n_blocks, family, p_constant=5, q=2, max_rows=40):
    """A trial-sequence-like design: per run, constant columns (an intercept first) and q
    columns that vary from row to row; some empty runs and zero weights."""
    sizes = rng.integers(0, max_rows + 1, size=n_blocks)
    starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    n = int(starts[-1])
    run = np.repeat(np.arange(n_blocks), sizes)
    z = np.column_stack([np.ones(n_blocks), rng.normal(size=(n_blocks, p_constant - 1))])
    u = rng.normal(size=(n, q))
    X = np.ascontiguousarray(np.column_stack([z[run][:, :2], u[:, :1], z[run][:, 2:], u[:, 1:]]))
    constant = np.array([0, 1, *range(3, 3 + p_constant - 2)], dtype=np.int64)
    varying = np.array([2, *range(3 + p_constant - 2, X.shape[1])], dtype=np.int64)
    beta = rng.normal(scale=0.3, size=X.shape[1])
    eta = X @ beta
    y = draw_outcome(rng, eta, family)
    w = rng.exponential(size=n)
    w[::5] = 0.0
    return X, y, w, beta, starts, constant, varying


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES.keys())
@pytest.mark.parametrize("n_blocks", [1, 3, 300, 2000])
def test_block_pass_matches_naive(family, n_blocks, rng):
    X, y, w, beta, starts, constant, varying = blocked_data(rng, n_blocks, family)
    n = X.shape[0]
    offset = rng.normal(scale=0.1, size=n)
    trial = beta + rng.normal(scale=0.3, size=beta.size)
    mu = np.full(n, np.nan)
    got = K.glm_block_pass(X, y, w, offset, trial, family, mu, starts, constant, varying)
    want = naive.glm_irls_pass(X, y, w, offset, trial, family)
    assert_pass_equal((*got, mu), want)
    if n > 0:  # serial and parallel compilations: the same numbers
        mu2 = np.empty(n)
        args = (X, y, w, offset, trial, family)
        serial = K.glm_block_pass.serial(*args, mu2, starts, constant, varying)
        parallel = K.glm_block_pass.parallel(*args, np.empty(n), starts, constant, varying)
        for a, b in zip(serial, parallel, strict=True):
            npt.assert_array_equal(a, b)


def test_constant_columns(rng):
    X, *_, starts, constant, varying = blocked_data(rng, 50, K.GAUSSIAN, max_rows=6)
    got = K.constant_columns(X, starts)
    want = np.zeros(X.shape[1], dtype=bool)
    want[constant] = True
    npt.assert_array_equal(got, want)
    b = int(np.flatnonzero(np.diff(starts) >= 2)[-1])  # the last run of two rows or more
    X[starts[b] + 1, 1] += 1.0  # its second row steps off in column 1
    npt.assert_array_equal(K.constant_columns(X, starts), want & (np.arange(X.shape[1]) != 1))
    one_run = np.array([0, X.shape[0]], dtype=np.int64)
    assert K.constant_columns(X, one_run).tolist() == [True] + [False] * (X.shape[1] - 1)


def test_constant_columns_serial_and_parallel(rng):
    X, *_, starts, constant, _ = blocked_data(rng, 3000, K.GAUSSIAN)
    b = int(np.flatnonzero(np.diff(starts) >= 2)[-1])  # the last run of two rows or more
    X[starts[b] + 1, 3] = np.nan  # NaN is never constant
    want = np.zeros(X.shape[1], dtype=bool)
    want[constant] = True
    want[3] = False
    npt.assert_array_equal(K.constant_columns.serial(X, starts), want)
    npt.assert_array_equal(K.constant_columns.parallel(X, starts), want)
