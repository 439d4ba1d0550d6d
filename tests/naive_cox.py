"""Slow, obviously right twins of the Cox kernels in ``msm/_kernels/cox.py``, same names.

Each loops over the distinct event times and, at each, builds the risk set from scratch with a
boolean mask over all rows: O(n x event times).  The sort orders the kernels take are accepted
and ignored.
"""

from __future__ import annotations

import numpy as np


def _event_times(stop, event):
    return np.unique(stop[event != 0])


def _efron_steps(risk_mask, dead_mask, w, r, X, efron):
    """The (weight, S0, S1, S2) of each Efron step at one event time (one step for Breslow)."""
    wr = w * r
    s0 = wr[risk_mask].sum()
    s1 = (wr[risk_mask, None] * X[risk_mask]).sum(axis=0)
    s2 = (wr[risk_mask, None, None] * X[risk_mask, :, None] * X[risk_mask, None, :]).sum(axis=0)
    d = int(dead_mask.sum())
    wd = w[dead_mask].sum()
    if not efron or d == 1:
        return [(wd, s0, s1, s2, 0.0)]
    s0d = wr[dead_mask].sum()
    s1d = (wr[dead_mask, None] * X[dead_mask]).sum(axis=0)
    s2d = (wr[dead_mask, None, None] * X[dead_mask, :, None] * X[dead_mask, None, :]).sum(axis=0)
    return [(wd / d, s0 - k / d * s0d, s1 - k / d * s1d, s2 - k / d * s2d, k / d) for k in range(d)]


def cox_loglik_score_information(
    start, stop, event, X, w, beta, order_stop=None, order_start=None, efron=True
):
    eta = X @ beta
    r = np.exp(eta)
    p = X.shape[1]
    loglik = 0.0
    score = np.zeros(p)
    info = np.zeros((p, p))
    times = _event_times(stop, event)
    for t in times:
        at_risk = (start < t) & (stop >= t)
        dead = (stop == t) & (event != 0)
        loglik += np.sum(w[dead] * eta[dead])
        score += (w[dead, None] * X[dead]).sum(axis=0)
        for weight, s0, s1, s2, _ in _efron_steps(at_risk, dead, w, r, X, efron):
            mean = s1 / s0
            loglik -= weight * np.log(s0)
            score -= weight * mean
            info += weight * (s2 / s0 - np.outer(mean, mean))
    return loglik, score, info, times.size


def cox_score_residuals(
    start, stop, event, X, w, beta, order_stop=None, order_start=None, efron=True
):
    """U_i = sum over event times t in (start_i, stop_i] of (x_i - xbar) (dN_i - r_i dLambda)."""
    r = np.exp(X @ beta)
    resid = np.zeros_like(X, dtype=float)
    for t in _event_times(stop, event):
        at_risk = (start < t) & (stop >= t)
        dead = (stop == t) & (event != 0)
        steps = _efron_steps(at_risk, dead, w, r, X, efron)
        d = len(steps)
        for weight, s0, s1, _, down in steps:
            mean = s1 / s0
            haz = weight / s0
            # an event row is still "present" at the k-th Efron step with probability 1 - k/d
            presence = np.where(dead, 1.0 - down, 1.0) * at_risk
            resid -= (presence * r * haz)[:, None] * (X - mean)
            resid[dead] += (X[dead] - mean) / d
    return resid


def cox_baseline_hazard(
    start, stop, event, X, w, beta, order_stop=None, order_start=None, efron=True
):
    r = np.exp(X @ beta)
    times = _event_times(stop, event)
    increments = np.empty(times.size)
    for m, t in enumerate(times):
        at_risk = (start < t) & (stop >= t)
        dead = (stop == t) & (event != 0)
        steps = _efron_steps(at_risk, dead, w, r, X, efron)
        increments[m] = sum(weight / s0 for weight, s0, *_ in steps)
    return times, increments
