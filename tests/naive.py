"""Slow, obviously right twins of the numba kernels, with the same names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.special


def grouped_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    groups = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    return pd.Series(values).groupby(groups, sort=False).cumsum().to_numpy()


def logit_loglik_score_hessian(X, y, w, beta):
    eta = X @ beta
    mu = scipy.special.expit(eta)
    loglik = np.sum(w * (y * eta - np.logaddexp(0.0, eta)))
    score = X.T @ (w * (y - mu))
    info = (X * (w * mu * (1.0 - mu))[:, None]).T @ X
    return loglik, score, info, mu.min(initial=1.0), mu.max(initial=0.0)


def logit_predict(X, beta):
    return X @ beta


def logit_log_prob(X, beta, y):
    eta = X @ beta
    return np.where(y > 0.5, -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta))
