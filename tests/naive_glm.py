"""Slow, obviously right numpy twins of the GLM kernels in ``msm/_kernels/glm.py``."""

from __future__ import annotations

import numpy as np
import scipy.special
import scipy.stats

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


IDENTITY, LOG, LOGIT, PROBIT, CLOGLOG = 0, 1, 2, 3, 4
EPS = np.finfo(float).eps  # R's .Machine$double.eps
PROBIT_THRESH = -scipy.stats.norm.ppf(EPS)  # R's binomial()$linkinv for probit


def link_mean(eta, link):
    """``(mu, dmu/deta)`` as R's ``binomial()`` / ``poisson()`` family objects compute them."""
    eta = np.asarray(eta, dtype=float)
    if link == IDENTITY:
        return eta.copy(), np.ones_like(eta)
    if link == LOG:
        return np.exp(eta), np.exp(eta)
    if link == LOGIT:
        mu = scipy.special.expit(eta)
        return mu, mu * (1 - mu)
    if link == PROBIT:
        mu = scipy.stats.norm.cdf(np.clip(eta, -PROBIT_THRESH, PROBIT_THRESH))
        return mu, np.maximum(scipy.stats.norm.pdf(eta), EPS)
    mu = np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)
    e = np.minimum(eta, 700.0)
    return mu, np.maximum(np.exp(e) * np.exp(-np.exp(e)), EPS)


def glm_link_pass(X, y, w, offset, beta, family, link):
    """Fisher-scoring pass: deviance, Pearson chi2, score, expected information, min and max
    mu, rows outside the range (positive weights only), mu, mu' / V(mu)."""
    eta = X @ beta + offset
    mu, d = link_mean(eta, link)
    if family == BINOMIAL:
        inside = (mu > 0) & (mu < 1)
        v = np.where(inside, mu * (1 - mu), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = 2 * (
                np.where(y > 0, y * np.log(y / mu), 0.0)
                + np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
            )
    elif family == POISSON:
        inside = (mu > 0) & np.isfinite(mu)
        v = np.where(inside, mu, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = 2 * (np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))
    else:
        inside = np.isfinite(mu)
        v = np.ones_like(mu)
        unit = (y - mu) ** 2
    factor = d / v
    used = (w > 0) & inside
    pearson = np.sum(w[used] * ((y - mu) ** 2 / v)[used])
    deviance = np.sum(w[used] * unit[used])
    score = X[used].T @ (w * (y - mu) * factor)[used]
    info = (X[used] * (w * d * factor)[used][:, None]).T @ X[used]
    mu_used = mu[used]
    return (
        deviance,
        pearson,
        score,
        info,
        mu_used.min(initial=np.inf),
        mu_used.max(initial=-np.inf),
        int(np.sum((w > 0) & ~inside)),
        mu,
        factor,
    )
