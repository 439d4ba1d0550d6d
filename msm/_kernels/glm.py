"""Weighted GLM kernels: one fused IRLS/Newton pass, per-cluster score sums, weighted Gram.

``glm_irls_pass`` is for canonical links, where the observed and expected information
coincide and a row's score is ``w_i (y_i - mu_i) x_i``; family codes ``GAUSSIAN`` (identity),
``BINOMIAL`` (logit), ``POISSON`` (log).  ``glm_link_pass`` is Fisher scoring for any link
(codes ``IDENTITY``, ``LOG``, ``LOGIT``, ``PROBIT``, ``CLOGLOG``): a row's score is
``w_i (y_i - mu_i) mu'_i / V(mu_i) x_i`` and the information is the expected one.

Rows are split into fixed-size chunks (independent of the thread count); each chunk keeps its
own partial sums and the partials are added in chunk order, so every result is the same number
on any machine and any number of threads.  Within a chunk, rows are added in blocks of 8
summed in a fixed order.  Per-cluster sums use a stable counting sort of the rows by cluster
code and give each cluster to exactly one thread: no shared buffers, no races, and each
cluster's sum taken in row order.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from msm._kernels._jit import SERIAL_ROWS, jit

CHUNK_ROWS = 8192
BLOCK_ROWS = 8  # rows summed together before they touch the accumulators

GAUSSIAN = 0
BINOMIAL = 1
POISSON = 2


@jit
def log1pexp(eta):  # pragma: no cover - compiled
    """log(1 + exp(eta)) without overflow."""
    if eta > 0.0:
        return eta + math.log1p(math.exp(-eta))
    return math.log1p(math.exp(eta))


@jit
def _xlogx(x):  # pragma: no cover - compiled
    """x log x with 0 log 0 = 0."""
    if x > 0.0:
        return x * math.log(x)
    return 0.0


@jit
def glm_row(y, eta, family):  # pragma: no cover - compiled
    """Mean, variance function, unit deviance and unit Pearson residual^2 of one row."""
    if family == BINOMIAL:
        # one exp and one log1p per row: e = e^-|eta| is in (0, 1] and never overflows
        e = math.exp(-abs(eta))
        log1p_e = math.log1p(e)
        if eta >= 0.0:
            mu = 1.0 / (1.0 + e)
            one_minus_mu = e / (1.0 + e)
            minus_log_mu = log1p_e  # log(1 + e^-eta)
            minus_log_1m_mu = eta + log1p_e  # log(1 + e^eta)
            odds_inverse = e  # (1 - mu) / mu = e^-eta
        else:
            mu = e / (1.0 + e)
            one_minus_mu = 1.0 / (1.0 + e)
            minus_log_mu = log1p_e - eta
            minus_log_1m_mu = log1p_e
            odds_inverse = 1.0 / e
        # deviance 2 [y log y + (1 - y) log(1 - y) - y log mu - (1 - y) log(1 - mu)] and
        # Pearson (y - mu)^2 / (mu (1 - mu)) = y^2 e^-eta - 2 y (1 - y) + (1 - y)^2 e^eta,
        # skipping terms whose factor is 0 (no 0 * inf): exact in the tails
        # y log y + (1 - y) log(1 - y) is 0 for a 0/1 outcome: skip its log
        dev = 0.0 if (y == 0.0 or y == 1.0) else _xlogx(y) + _xlogx(1.0 - y)
        pearson = -2.0 * y * (1.0 - y)
        if y != 0.0:
            dev += y * minus_log_mu
            pearson += y * y * odds_inverse
        if y != 1.0:
            dev += (1.0 - y) * minus_log_1m_mu
            pearson += (1.0 - y) * (1.0 - y) / odds_inverse
        return mu, mu * one_minus_mu, 2.0 * dev, pearson
    if family == POISSON:
        mu = math.exp(eta)
        if y > 0.0:
            dev = 2.0 * (y * (math.log(y) - eta) - (y - mu))
            pearson = y * y / mu - 2.0 * y + mu  # (y - mu)^2 / mu
        else:
            dev = 2.0 * mu
            pearson = mu
        return mu, mu, dev, pearson
    r = y - eta
    return eta, 1.0, r * r, r * r


@jit
def add_linear_predictors(X, i, m, beta, etas):  # pragma: no cover - compiled
    """``etas[t] += X[i + t] @ beta`` for the block of rows ``i .. i + m - 1`` (m <=
    BLOCK_ROWS), the rows side by side, column by column (a fixed order)."""
    for j in range(X.shape[1]):
        bj = beta[j]
        for t in range(m):
            etas[t] += X[i + t, j] * bj


@jit
def accumulate_block(X, i, m, a, b, score, info):  # pragma: no cover - compiled
    """Add rows ``i .. i + m - 1`` (m <= BLOCK_ROWS) to ``score`` and ``info``.

    ``score[j] += sum_t a[t] X[i+t, j]`` and, on the lower triangle,
    ``info[j, k] += sum_t b[t] X[i+t, j] X[i+t, k]``.  A full block of 8 rows is summed in
    a fixed tree before touching the accumulators: 8x fewer loads and stores of ``info``
    (which bound the one-row-at-a-time loop) and the same numbers on every run.
    """
    p = X.shape[1]
    if m == BLOCK_ROWS:
        for j in range(p):
            x0 = X[i, j]
            x1 = X[i + 1, j]
            x2 = X[i + 2, j]
            x3 = X[i + 3, j]
            x4 = X[i + 4, j]
            x5 = X[i + 5, j]
            x6 = X[i + 6, j]
            x7 = X[i + 7, j]
            score[j] += ((a[0] * x0 + a[1] * x1) + (a[2] * x2 + a[3] * x3)) + (
                (a[4] * x4 + a[5] * x5) + (a[6] * x6 + a[7] * x7)
            )
            b0 = b[0] * x0
            b1 = b[1] * x1
            b2 = b[2] * x2
            b3 = b[3] * x3
            b4 = b[4] * x4
            b5 = b[5] * x5
            b6 = b[6] * x6
            b7 = b[7] * x7
            for k in range(j + 1):
                info[j, k] += (
                    (b0 * X[i, k] + b1 * X[i + 1, k]) + (b2 * X[i + 2, k] + b3 * X[i + 3, k])
                ) + ((b4 * X[i + 4, k] + b5 * X[i + 5, k]) + (b6 * X[i + 6, k] + b7 * X[i + 7, k]))
        return
    for t in range(m):
        row = i + t
        for j in range(p):
            xj = X[row, j]
            score[j] += a[t] * xj
            bx = b[t] * xj
            for k in range(j + 1):
                info[j, k] += bx * X[row, k]


@jit
def add_chunks(
    part_dev, part_pearson, part_score, part_info, part_min, part_max
):  # pragma: no cover - compiled
    """A fused pass's result from its chunks' partial sums, added in chunk order (the same
    numbers on any number of threads): ``(deviance, pearson_chi2, score, information,
    mu_min, mu_max)``, the information made symmetric from its lower triangle."""
    n_chunks, p = part_score.shape
    deviance = 0.0
    pearson_chi2 = 0.0
    score = np.zeros(p)
    info = np.zeros((p, p))
    mu_min = np.inf
    mu_max = -np.inf
    for c in range(n_chunks):
        deviance += part_dev[c]
        pearson_chi2 += part_pearson[c]
        score += part_score[c]
        info += part_info[c]
        mu_min = min(mu_min, part_min[c])
        mu_max = max(mu_max, part_max[c])
    for j in range(p):
        for k in range(j):
            info[k, j] = info[j, k]
    return deviance, pearson_chi2, score, info, mu_min, mu_max


@jit(parallel=True, serial_below=SERIAL_ROWS)
def glm_irls_pass(X, y, w, offset, beta, family, mu_out):  # pragma: no cover - compiled
    """One fused pass of weighted IRLS/Newton for a canonical-link GLM at ``beta``.

    Parameters: ``X`` (n, p) C-contiguous float64, ``y`` (n,), ``w`` (n,) prior weights
    (>= 0), ``offset`` (n,), ``beta`` (p,), ``family`` one of ``GAUSSIAN``, ``BINOMIAL``,
    ``POISSON``, ``mu_out`` (n,) receives the fitted means.

    Returns ``(deviance, pearson_chi2, score, information, mu_min, mu_max)`` (the last two
    over rows with positive weight; +-inf when there are none) with
    ``deviance = sum w d(y, mu)``, ``pearson_chi2 = sum w (y - mu)^2 / V(mu)``,
    ``score = X' w (y - mu)`` and ``information = X' diag(w V(mu)) X`` (the negative
    Hessian of the log-likelihood; for the gaussian family with unit dispersion).
    """
    n, p = X.shape
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    part_dev = np.zeros(n_chunks)
    part_pearson = np.zeros(n_chunks)
    part_score = np.zeros((n_chunks, p))
    part_info = np.zeros((n_chunks, p, p))
    part_min = np.full(n_chunks, np.inf)
    part_max = np.full(n_chunks, -np.inf)
    for c in numba.prange(n_chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        dev = 0.0
        pearson = 0.0
        mu_min = np.inf
        mu_max = -np.inf
        score = part_score[c]
        info = part_info[c]
        resid = np.empty(BLOCK_ROWS)  # w (y - mu) of the block's rows
        varw = np.empty(BLOCK_ROWS)  # w V(mu)
        etas = np.empty(BLOCK_ROWS)
        for i in range(lo, hi, BLOCK_ROWS):
            m = min(BLOCK_ROWS, hi - i)
            for t in range(m):
                etas[t] = offset[i + t]
            add_linear_predictors(X, i, m, beta, etas)
            for t in range(m):
                row = i + t
                mu, v, d, r2 = glm_row(y[row], etas[t], family)
                mu_out[row] = mu
                wi = w[row]
                if wi == 0.0:  # a zero-weight row adds nothing (and no 0 * inf)
                    resid[t] = 0.0
                    varw[t] = 0.0
                    continue
                mu_min = min(mu_min, mu)
                mu_max = max(mu_max, mu)
                dev += wi * d
                pearson += wi * r2
                resid[t] = wi * (y[row] - mu)
                varw[t] = wi * v
            accumulate_block(X, i, m, resid, varw, score, info)
        part_dev[c] = dev
        part_pearson[c] = pearson
        part_min[c] = mu_min
        part_max[c] = mu_max
    return add_chunks(part_dev, part_pearson, part_score, part_info, part_min, part_max)


BLOCKS_PER_CHUNK = 256  # row blocks per chunk of glm_block_pass (fixed: thread-independent)


@jit(parallel=True, serial_below=SERIAL_ROWS)
def constant_columns(X, starts):  # pragma: no cover - compiled
    """Which columns of ``X`` hold one value on each run of rows ``starts[b] ..
    starts[b + 1] - 1`` (a bool per column; NaN is never constant).  One pass along the
    rows (a row-major matrix read column by column would stride through it p times), in
    the fixed chunks of runs of ``glm_block_pass``."""
    n, p = X.shape
    n_blocks = starts.size - 1
    n_chunks = (n_blocks + BLOCKS_PER_CHUNK - 1) // BLOCKS_PER_CHUNK
    part = np.ones((n_chunks, p), dtype=np.bool_)
    for c in numba.prange(n_chunks):
        flags = part[c]
        for b in range(c * BLOCKS_PER_CHUNK, min(n_blocks, (c + 1) * BLOCKS_PER_CHUNK)):
            lo = starts[b]
            for i in range(lo, starts[b + 1]):
                for j in range(p):
                    if not X[i, j] == X[lo, j]:
                        flags[j] = False
    out = np.ones(p, dtype=np.bool_)
    for c in range(n_chunks):
        for j in range(p):
            out[j] = out[j] and part[c, j]
    return out


@jit(parallel=True, serial_below=SERIAL_ROWS)
def glm_block_pass(
    X, y, w, offset, beta, family, mu_out, starts, constant, varying
):  # pragma: no cover - compiled
    """``glm_irls_pass`` for rows in runs on which the columns ``constant`` are constant.

    ``starts`` (blocks + 1) bound the runs (every row in one); ``constant`` and
    ``varying`` (int64) split the columns.  A run's rows share ``z = X[start, constant]``,
    so their information ``sum w V x x'`` is assembled from the run's sums of ``w V``,
    ``w V u`` and ``w V u u'`` over the varying part ``u``, and the score from those of
    ``w (y - mu)`` and ``w (y - mu) u``: with q varying columns of p a row costs about
    q (q + 3) / 2 + 2 multiply-adds after its linear predictor instead of p (p + 3) / 2.
    The sequential trials' MSM (constant over a trial: the intercept, ``assigned``,
    ``trial`` and the baseline covariates; varying: the follow-up terms) has 2 of 7.
    Same returns as ``glm_irls_pass``; runs are split into fixed chunks of
    ``BLOCKS_PER_CHUNK`` and the partial sums added in chunk order, so the numbers do not
    depend on the number of threads.
    """
    n, p = X.shape
    n_blocks = starts.size - 1
    pc = constant.size
    q = varying.size
    n_chunks = (n_blocks + BLOCKS_PER_CHUNK - 1) // BLOCKS_PER_CHUNK
    part_dev = np.zeros(n_chunks)
    part_pearson = np.zeros(n_chunks)
    part_score = np.zeros((n_chunks, p))
    part_info = np.zeros((n_chunks, p, p))
    part_min = np.full(n_chunks, np.inf)
    part_max = np.full(n_chunks, -np.inf)
    # each chunk's running sums over a run, in a row of their own padded to whole cache
    # lines: small arrays allocated inside the loop may share a line between the threads,
    # which then take turns at every row (the pass ran no faster on two threads than one)
    width = (q * (q + 2) + 7) // 8 * 8 + 8
    scratch = np.zeros((n_chunks, width))
    for c in numba.prange(n_chunks):
        dev = 0.0
        pearson = 0.0
        mu_min = np.inf
        mu_max = -np.inf
        score = part_score[c]
        info = part_info[c]
        su = scratch[c, :q]  # sum over the run of w V u
        ru = scratch[c, q : 2 * q]  # of w (y - mu) u
        suu = scratch[c, 2 * q : q * (q + 2)].reshape((q, q))  # of w V u u' (lower triangle)
        for b in range(c * BLOCKS_PER_CHUNK, min(n_blocks, (c + 1) * BLOCKS_PER_CHUNK)):
            lo = starts[b]
            hi = starts[b + 1]
            if hi <= lo:
                continue
            eta_z = 0.0
            for a in range(pc):
                eta_z += X[lo, constant[a]] * beta[constant[a]]
            s0 = 0.0
            r0 = 0.0
            su[:] = 0.0
            suu[:, :] = 0.0
            ru[:] = 0.0
            for i in range(lo, hi):
                eta = offset[i] + eta_z
                for a in range(q):
                    eta += X[i, varying[a]] * beta[varying[a]]
                mu, v, d, r2 = glm_row(y[i], eta, family)
                mu_out[i] = mu
                wi = w[i]
                if wi == 0.0:  # a zero-weight row adds nothing (and no 0 * inf)
                    continue
                mu_min = min(mu_min, mu)
                mu_max = max(mu_max, mu)
                dev += wi * d
                pearson += wi * r2
                resid = wi * (y[i] - mu)
                varw = wi * v
                s0 += varw
                r0 += resid
                for a in range(q):
                    xa = X[i, varying[a]]
                    ru[a] += resid * xa
                    bx = varw * xa
                    su[a] += bx
                    for e in range(a + 1):
                        suu[a, e] += bx * X[i, varying[e]]
            # the run's sums into the lower triangle of the information, and the score
            for a in range(pc):
                ja = constant[a]
                za = X[lo, ja]
                score[ja] += za * r0
                for e in range(a + 1):
                    je = constant[e]
                    value = s0 * za * X[lo, je]
                    if ja >= je:
                        info[ja, je] += value
                    else:
                        info[je, ja] += value
                for e in range(q):
                    je = varying[e]
                    value = za * su[e]
                    if ja >= je:
                        info[ja, je] += value
                    else:
                        info[je, ja] += value
            for a in range(q):
                ja = varying[a]
                score[ja] += ru[a]
                for e in range(a + 1):
                    je = varying[e]
                    if ja >= je:
                        info[ja, je] += suu[a, e]
                    else:
                        info[je, ja] += suu[a, e]
        part_dev[c] = dev
        part_pearson[c] = pearson
        part_min[c] = mu_min
        part_max[c] = mu_max
    return add_chunks(part_dev, part_pearson, part_score, part_info, part_min, part_max)


@jit(parallel=True, serial_below=SERIAL_ROWS)
def weighted_crossprod(X, d):  # pragma: no cover - compiled
    """``X' diag(d) X`` for (n, p) ``X`` and (n,) ``d``, in fixed row chunks.

    With ``d = r^2`` (``r_i`` a row's score multiplier) this is the meat of the sandwich when
    every row is its own cluster, without forming the (n, p) score rows.
    """
    n, p = X.shape
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    part = np.zeros((n_chunks, p, p))
    for c in numba.prange(n_chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        unused = np.zeros(p)
        zeros = np.zeros(BLOCK_ROWS)
        for i in range(lo, hi, BLOCK_ROWS):
            m = min(BLOCK_ROWS, hi - i)
            accumulate_block(X, i, m, zeros, d[i : i + m], unused, part[c])
    out = np.zeros((p, p))
    for c in range(n_chunks):
        out += part[c]
    for j in range(p):
        for k in range(j):
            out[k, j] = out[j, k]
    return out


@jit
def _rows_by_cluster(codes, n_clusters):  # pragma: no cover - compiled
    """Stable counting sort: cluster offsets (G + 1) and the rows of each cluster in order.

    When the codes are already non-decreasing the order is the identity (returned as an
    empty array, meaning "row k is row k").
    """
    n = codes.size
    starts = np.zeros(n_clusters + 1, dtype=np.int64)
    is_sorted = True
    for i in range(n):
        starts[codes[i] + 1] += 1
        if i > 0 and codes[i] < codes[i - 1]:
            is_sorted = False
    for g in range(n_clusters):
        starts[g + 1] += starts[g]
    if is_sorted:
        return starts, np.empty(0, dtype=np.int64)
    fill = starts[:-1].copy()
    rows = np.empty(n, dtype=np.int64)
    for i in range(n):
        g = codes[i]
        rows[fill[g]] = i
        fill[g] += 1
    return starts, rows


@jit(parallel=True, serial_below=SERIAL_ROWS)
def cluster_score_sums(X, r, codes, n_clusters):  # pragma: no cover - compiled
    """Per-cluster sums of score rows ``r_i x_i``: a (G, p) array.

    ``X`` (n, p), ``r`` (n,) each row's score multiplier (``w (y - mu)`` for a canonical GLM),
    ``codes`` (n,) int64 cluster codes in ``0 .. n_clusters - 1``, in any order.  Each cluster
    is summed by one thread over its rows in row order, so results do not depend on the
    number of threads.
    """
    n, p = X.shape
    starts, rows = _rows_by_cluster(codes, n_clusters)
    identity = rows.size == 0
    out = np.zeros((n_clusters, p))
    for g in numba.prange(n_clusters):
        acc = out[g]
        for k in range(starts[g], starts[g + 1]):
            i = k if identity else rows[k]
            ri = r[i]
            for j in range(p):
                acc[j] += ri * X[i, j]
    return out


# ---------------------------------------------------------------------------------------------
# non-canonical links (Fisher scoring)

IDENTITY = 0
LOG = 1
LOGIT = 2
PROBIT = 3
CLOGLOG = 4

DOUBLE_EPS = 2.220446049250313e-16  # R's .Machine$double.eps
# R's binomial()$linkinv for probit clamps eta to +-thresh, thresh = -qnorm(.Machine$double.eps)
PROBIT_THRESH = 8.125890664701906
SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327


@jit
def link_mean(eta, link):  # pragma: no cover - compiled
    """``(mu, dmu/deta)`` of one linear predictor under ``link``, as R's ``family`` objects.

    Probit and cloglog are clamped as R's ``binomial()`` clamps them (``linkinv`` and
    ``mu.eta`` kept away from 0 and 1 by ``.Machine$double.eps``), so a fitted probability is
    never exactly 0 or 1 and the working weights stay positive.
    """
    if link == IDENTITY:
        return eta, 1.0
    if link == LOG:
        mu = math.exp(eta)
        return mu, mu
    if link == LOGIT:
        e = math.exp(-abs(eta))
        if eta >= 0.0:
            mu = 1.0 / (1.0 + e)
            return mu, mu * (e / (1.0 + e))
        mu = e / (1.0 + e)
        return mu, mu / (1.0 + e)
    if link == PROBIT:
        clamped = min(max(eta, -PROBIT_THRESH), PROBIT_THRESH)
        mu = 0.5 * math.erfc(-clamped * SQRT_HALF)
        return mu, max(INV_SQRT_2PI * math.exp(-0.5 * eta * eta), DOUBLE_EPS)
    # CLOGLOG: mu = 1 - exp(-exp(eta))
    mu = max(min(-math.expm1(-math.exp(eta)), 1.0 - DOUBLE_EPS), DOUBLE_EPS)
    capped = min(eta, 700.0)
    return mu, max(math.exp(capped) * math.exp(-math.exp(capped)), DOUBLE_EPS)


@jit
def link_row(y, eta, family, link):  # pragma: no cover - compiled
    """Mean, ``dmu/deta``, variance function, unit deviance, unit Pearson residual^2 and
    whether the mean is inside the family's range (binomial (0, 1), poisson (0, inf))."""
    mu, d = link_mean(eta, link)
    if family == BINOMIAL:
        if not (0.0 < mu < 1.0):
            return mu, d, 1.0, 0.0, 0.0, False
        v = mu * (1.0 - mu)
        dev = 0.0
        if y > 0.0:
            dev += y * math.log(y / mu)
        if y < 1.0:
            dev += (1.0 - y) * math.log((1.0 - y) / (1.0 - mu))
        r = y - mu
        return mu, d, v, 2.0 * dev, r * r / v, True
    if family == POISSON:
        if not (0.0 < mu < math.inf):
            return mu, d, 1.0, 0.0, 0.0, False
        if y > 0.0:
            dev = 2.0 * (y * math.log(y / mu) - (y - mu))
        else:
            dev = 2.0 * mu
        r = y - mu
        return mu, d, mu, dev, r * r / mu, True
    r = y - mu
    return mu, d, 1.0, r * r, r * r, math.isfinite(mu)


@jit(parallel=True, serial_below=SERIAL_ROWS)
def glm_link_pass(X, y, w, offset, beta, family, link, mu_out, factor_out):  # pragma: no cover
    """One fused Fisher-scoring pass of a weighted GLM with any link at ``beta``.

    As ``glm_irls_pass``, with ``link`` one of ``IDENTITY``, ``LOG``, ``LOGIT``, ``PROBIT``,
    ``CLOGLOG``: ``score = X' w (y - mu) mu' / V(mu)`` (the score of the log-likelihood) and
    ``information = X' diag(w mu'^2 / V(mu)) X`` (the EXPECTED information, Fisher scoring's
    and R's working weights), ``mu' = dmu/deta``.  ``mu_out`` receives the fitted means and
    ``factor_out`` each row's ``mu' / V(mu)`` (its score row is ``w (y - mu) factor x``).

    Returns ``(deviance, pearson_chi2, score, information, mu_min, mu_max, n_outside)``:
    ``n_outside`` counts rows with positive weight whose mean is outside the family's range
    (R's ``validmu``: binomial (0, 1), poisson (0, inf)); they add nothing to the sums.
    """
    n, p = X.shape
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    part_dev = np.zeros(n_chunks)
    part_pearson = np.zeros(n_chunks)
    part_score = np.zeros((n_chunks, p))
    part_info = np.zeros((n_chunks, p, p))
    part_min = np.full(n_chunks, np.inf)
    part_max = np.full(n_chunks, -np.inf)
    part_outside = np.zeros(n_chunks, dtype=np.int64)
    for c in numba.prange(n_chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        dev = 0.0
        pearson = 0.0
        mu_min = np.inf
        mu_max = -np.inf
        outside = 0
        score = part_score[c]
        info = part_info[c]
        resid = np.empty(BLOCK_ROWS)  # w (y - mu) mu' / V
        varw = np.empty(BLOCK_ROWS)  # w mu'^2 / V
        etas = np.empty(BLOCK_ROWS)
        for i in range(lo, hi, BLOCK_ROWS):
            m = min(BLOCK_ROWS, hi - i)
            for t in range(m):
                etas[t] = offset[i + t]
            add_linear_predictors(X, i, m, beta, etas)
            for t in range(m):
                row = i + t
                mu, d, v, unit_dev, r2, inside = link_row(y[row], etas[t], family, link)
                mu_out[row] = mu
                factor = d / v
                factor_out[row] = factor
                wi = w[row]
                resid[t] = 0.0
                varw[t] = 0.0
                if wi == 0.0:
                    continue
                if not inside:
                    outside += 1
                    continue
                mu_min = min(mu_min, mu)
                mu_max = max(mu_max, mu)
                dev += wi * unit_dev
                pearson += wi * r2
                resid[t] = wi * (y[row] - mu) * factor
                varw[t] = wi * d * factor
            accumulate_block(X, i, m, resid, varw, score, info)
        part_dev[c] = dev
        part_pearson[c] = pearson
        part_min[c] = mu_min
        part_max[c] = mu_max
        part_outside[c] = outside
    deviance, pearson_chi2, score, info, mu_min, mu_max = add_chunks(
        part_dev, part_pearson, part_score, part_info, part_min, part_max
    )
    return deviance, pearson_chi2, score, info, mu_min, mu_max, int(part_outside.sum())
