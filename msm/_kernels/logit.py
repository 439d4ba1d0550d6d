"""Fused logistic-regression pass: log-likelihood, score and Hessian in one sweep over rows.

Rows are split into fixed-size chunks (independent of the thread count, so the sums are the
same numbers on any machine); each chunk accumulates its own partial sums and the partials are
added in chunk order afterwards.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from msm._kernels._jit import jit

CHUNK_ROWS = 8192


@jit
def _log1pexp(eta):  # pragma: no cover - compiled
    """log(1 + exp(eta)) without overflow."""
    if eta > 0.0:
        return eta + math.log1p(math.exp(-eta))
    return math.log1p(math.exp(eta))


@jit(parallel=True)
def logit_loglik_score_hessian(X, y, w, beta):  # pragma: no cover - compiled
    """Weighted logistic log-likelihood, score and observed information at ``beta``.

    Parameters: ``X`` (n, p) C-contiguous float64, ``y`` (n,) in {0, 1}, ``w`` (n,) row
    weights, ``beta`` (p,).  Returns ``(loglik, score, information)`` with
    ``loglik = sum w (y eta - log(1 + e^eta))``, ``score = X' w (y - mu)`` and
    ``information = X' diag(w mu (1 - mu)) X`` (the negative Hessian), and the smallest
    and largest fitted probability (for separation checks).
    """
    n, p = X.shape
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    part_ll = np.zeros(n_chunks)
    part_score = np.zeros((n_chunks, p))
    part_info = np.zeros((n_chunks, p, p))
    part_min = np.ones(n_chunks)
    part_max = np.zeros(n_chunks)
    for c in numba.prange(n_chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        ll = 0.0
        pmin = 1.0
        pmax = 0.0
        score = part_score[c]
        info = part_info[c]
        for i in range(lo, hi):
            eta = 0.0
            for j in range(p):
                eta += X[i, j] * beta[j]
            mu = 1.0 / (1.0 + math.exp(-eta))
            pmin = min(pmin, mu)
            pmax = max(pmax, mu)
            wi = w[i]
            ll += wi * (y[i] * eta - _log1pexp(eta))
            r = wi * (y[i] - mu)
            v = wi * mu * (1.0 - mu)
            for j in range(p):
                xij = X[i, j]
                score[j] += r * xij
                vx = v * xij
                for k in range(j + 1):
                    info[j, k] += vx * X[i, k]
        part_ll[c] = ll
        part_min[c] = pmin
        part_max[c] = pmax
    loglik = 0.0
    score = np.zeros(p)
    info = np.zeros((p, p))
    pmin = 1.0
    pmax = 0.0
    for c in range(n_chunks):  # fixed order: the same sums on any number of threads
        loglik += part_ll[c]
        score += part_score[c]
        info += part_info[c]
        pmin = min(pmin, part_min[c])
        pmax = max(pmax, part_max[c])
    for j in range(p):
        for k in range(j):
            info[k, j] = info[j, k]
    return loglik, score, info, pmin, pmax


@jit(parallel=True)
def logit_predict(X, beta, out):  # pragma: no cover - compiled
    """Linear predictor ``X @ beta`` row by row, in parallel (no temporary of size n x p)."""
    n, p = X.shape
    for i in numba.prange(n):
        eta = 0.0
        for j in range(p):
            eta += X[i, j] * beta[j]
        out[i] = eta
    return out


@jit(parallel=True)
def logit_log_prob(X, beta, y, out):  # pragma: no cover - compiled
    """Log-probability of the observed outcome, ``log P(Y = y_i | x_i)``, row by row.

    ``log p = -log(1 + e^-eta)`` and ``log(1 - p) = -log(1 + e^eta)``: exact in the tails
    where ``p`` rounds to 0 or 1.
    """
    n, p = X.shape
    for i in numba.prange(n):
        eta = 0.0
        for j in range(p):
            eta += X[i, j] * beta[j]
        if y[i] > 0.5:
            out[i] = -_log1pexp(-eta)
        else:
            out[i] = -_log1pexp(eta)
    return out
