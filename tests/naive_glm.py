"""Slow, obviously right numpy twins of the GLM kernels in ``msm/_kernels/glm.py``."""

from __future__ import annotations

import numpy as np
import scipy.special

GAUSSIAN, BINOMIAL, POISSON = 0, 1, 2


def _mean_variance(eta: np.ndarray, family: int) -> tuple[np.ndarray, np.ndarray]:
    if family == BINOMIAL:
        mu = scipy.special.expit(eta)
        return mu, mu * scipy.special.expit(-eta)
    if family == POISSON:
        mu = np.exp(eta)
        return mu, mu
    return eta, np.ones_like(eta)


def _unit_deviance(y: np.ndarray, eta: np.ndarray, mu: np.ndarray, family: int) -> np.ndarray:
    if family == BINOMIAL:  # 2 [loglik(saturated) - loglik(fitted)]
        saturated = scipy.special.xlogy(y, y) + scipy.special.xlogy(1 - y, 1 - y)
        minus_log_mu = np.logaddexp(0.0, -eta)  # -log(mu), exact in the tails
        minus_log_1m_mu = np.logaddexp(0.0, eta)  # -log(1 - mu)
        return 2.0 * (saturated + y * minus_log_mu + (1 - y) * minus_log_1m_mu)
    if family == POISSON:
        return 2.0 * (scipy.special.xlogy(y, y) - y * eta - (y - mu))
    return (y - mu) ** 2


def _unit_pearson(y: np.ndarray, eta: np.ndarray, family: int) -> np.ndarray:
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if family == BINOMIAL:
            # (y - mu)^2 / (mu (1 - mu)) with (1 - mu) / mu = e^-eta, mu / (1 - mu) = e^eta
            a = np.where(y != 0, y * y * np.exp(-eta), 0.0)
            b = np.where(y != 1, (1 - y) ** 2 * np.exp(eta), 0.0)
            return a + b - 2 * y * (1 - y)
        if family == POISSON:
            mu = np.exp(eta)
            return np.where(y > 0, ((y - mu) / np.sqrt(mu)) ** 2, mu)
        return (y - eta) ** 2


def glm_irls_pass(X, y, w, offset, beta, family):
    """Deviance, Pearson chi2, score, information, min and max mu (positive weights), mu."""
    eta = X @ beta + offset
    mu, v = _mean_variance(eta, family)
    used = w > 0
    deviance = np.sum(w[used] * _unit_deviance(y, eta, mu, family)[used])
    pearson = np.sum(w[used] * _unit_pearson(y, eta, family)[used])
    score = X[used].T @ (w * (y - mu))[used]
    info = (X[used] * (w * v)[used][:, None]).T @ X[used]
    mu_used = mu[used]
    return (
        deviance,
        pearson,
        score,
        info,
        mu_used.min(initial=np.inf),
        mu_used.max(initial=-np.inf),
        mu,
    )


def weighted_crossprod(X, d):
    return (X * d[:, None]).T @ X


def cluster_score_sums(X, r, codes, n_clusters):
    out = np.zeros((n_clusters, X.shape[1]))
    np.add.at(out, codes, r[:, None] * X)
    return out
