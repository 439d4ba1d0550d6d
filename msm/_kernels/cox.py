"""Cox risk-set sums on counting-process ``(start, stop]`` rows with late entry and case weights.

Row i is at risk at time t when ``start[i] < t <= stop[i]``; it has an event at t when also
``stop[i] == t`` and ``event[i] == 1``.  Every kernel makes one sweep over the rows in
descending time, given two orders computed once outside the kernels (``np.argsort``):

- ``order_stop``: row indices by ``stop``, descending;
- ``order_start``: row indices by ``start``, descending.

Walking down the distinct stop times t, the rows with ``start >= t`` first leave the running
risk-set sums (they entered earlier, since their stop is later than t), then the rows with
``stop == t`` join them, and the tied events among those are scored.  One sweep is O(n p^2)
after the O(n log n) sorts; no kernel looks at pairs of rows.  Leaving rows are subtracted
from running sums: the caller centres the covariates (as R's ``coxph`` does) so that the
subtraction stays well conditioned, and the sums are reset to exactly zero whenever the risk
set empties.

Ties at an event time with ``d`` events: with case weights ``w``, risk scores
``r = exp(x b)``, risk-set sums ``S0 = sum w r``, ``S1 = sum w r x``, ``S2 = sum w r x x'``
and the same sums over the tied events only (``S0d``, ``S1d``, ``S2d``),

- Breslow: every tied event sees the whole risk set, and the time's terms are weighted by the
  events' total weight;
- Efron: the k-th of the d tied events (k = 0 .. d-1) sees the risk set with each tied event
  down-weighted by ``1 - k/d`` (``S0 - (k/d) S0d``, ...), and each of the d terms carries the
  mean case weight of the tied events (as R's ``survival`` does).

Each kernel has a plain numpy O(n^2) twin of the same name in ``tests/naive_cox.py``.
"""

from __future__ import annotations

import math

import numpy as np

from msm._kernels._jit import jit


@jit
def _linear(X, i, beta):  # pragma: no cover - compiled
    """``x_i . beta``."""
    e = 0.0
    for j in range(beta.size):
        e += X[i, j] * beta[j]
    return e


@jit
def _add_row(X, i, wr, sign, s1, s2):  # pragma: no cover - compiled
    """``s1 += sign wr x_i`` and the lower triangle of ``s2 += sign wr x_i x_i'``."""
    p = s1.size
    for j in range(p):
        xj = sign * wr * X[i, j]
        s1[j] += xj
        for k in range(j + 1):
            s2[j, k] += xj * X[i, k]


@jit
def _add_row1(X, i, wr, sign, s1):  # pragma: no cover - compiled
    """``s1 += sign wr x_i``."""
    for j in range(s1.size):
        s1[j] += sign * wr * X[i, j]


@jit
def cox_loglik_score_information(
    start, stop, event, X, w, beta, order_stop, order_start, efron
):  # pragma: no cover - compiled
    """Weighted Cox partial log-likelihood, score and information at ``beta``.

    Parameters
    ----------
    start, stop : float64 (n,)
        Interval ends, ``start < stop``.
    event : float64 (n,)
        1.0 for an event at ``stop``, else 0.0.
    X : float64 (n, p), C-contiguous
        Covariates (centred by the caller for accuracy; the results do not depend on it).
    w : float64 (n,)
        Case weights, >= 0.
    beta : float64 (p,)
    order_stop, order_start : int64 (n,)
        Row indices by ``stop`` descending and by ``start`` descending.
    efron : bool
        Efron's tie correction (else Breslow's).

    Returns
    -------
    loglik : float
    score : float64 (p,)
    information : float64 (p, p)
        Minus the Hessian of ``loglik``.
    n_event_times : int
        Distinct event times.
    """
    n, p = X.shape
    wrisk = np.empty(n)  # w exp(x b), filled as rows join (a row leaves after it joined)
    s0 = 0.0
    s1 = np.zeros(p)
    s2 = np.zeros((p, p))
    s1d = np.zeros(p)
    s2d = np.zeros((p, p))
    wx_d = np.zeros(p)
    mean = np.zeros(p)
    loglik = 0.0
    score = np.zeros(p)
    info = np.zeros((p, p))
    n_at_risk = 0
    n_times = 0
    i_stop = 0
    i_start = 0
    while i_stop < n:
        t = stop[order_stop[i_stop]]
        # rows that entered at or after t are not at risk at t
        while i_start < n and start[order_start[i_start]] >= t:
            i = order_start[i_start]
            i_start += 1
            wr = wrisk[i]
            s0 -= wr
            _add_row(X, i, wr, -1.0, s1, s2)
            n_at_risk -= 1
        if n_at_risk == 0:  # empty risk set: drop the rounding residue of the subtractions
            s0 = 0.0
            for j in range(p):
                s1[j] = 0.0
                for k in range(j + 1):
                    s2[j, k] = 0.0
        # rows with stop == t join; the tied events among them are summed apart
        deaths = 0  # the tied-event sums s1d, s2d, wx_d are zero here (reset after use)
        wsum_d = 0.0
        weta_d = 0.0
        s0d = 0.0
        while i_stop < n and stop[order_stop[i_stop]] == t:
            i = order_stop[i_stop]
            i_stop += 1
            eta = _linear(X, i, beta)
            wr = w[i] * math.exp(eta)
            wrisk[i] = wr
            s0 += wr
            _add_row(X, i, wr, 1.0, s1, s2)
            n_at_risk += 1
            if event[i] != 0.0:
                deaths += 1
                wsum_d += w[i]
                weta_d += w[i] * eta
                s0d += wr
                _add_row(X, i, wr, 1.0, s1d, s2d)
                for j in range(p):
                    wx_d[j] += w[i] * X[i, j]
        if deaths == 0:
            continue
        n_times += 1
        loglik += weta_d
        for j in range(p):
            score[j] += wx_d[j]
        if efron and deaths > 1:
            meanw = wsum_d / deaths
            for m in range(deaths):
                f = m / deaths
                den = s0 - f * s0d
                loglik -= meanw * math.log(den)
                for j in range(p):
                    mean[j] = (s1[j] - f * s1d[j]) / den
                    score[j] -= meanw * mean[j]
                for j in range(p):
                    for k in range(j + 1):
                        info[j, k] += meanw * ((s2[j, k] - f * s2d[j, k]) / den - mean[j] * mean[k])
        else:
            loglik -= wsum_d * math.log(s0)
            for j in range(p):
                mean[j] = s1[j] / s0
                score[j] -= wsum_d * mean[j]
            for j in range(p):
                for k in range(j + 1):
                    info[j, k] += wsum_d * (s2[j, k] / s0 - mean[j] * mean[k])
        for j in range(p):  # reset here, not on every block: most blocks have no event
            s1d[j] = 0.0
            wx_d[j] = 0.0
            for k in range(j + 1):
                s2d[j, k] = 0.0
    for j in range(p):
        for k in range(j):
            info[k, j] = info[j, k]
    return loglik, score, info, n_times


@jit
def cox_score_residuals(
    start, stop, event, X, w, beta, order_stop, order_start, efron
):  # pragma: no cover - compiled
    """Per-row score residuals ``U_i`` at ``beta``, unweighted, as R's ``residuals(type="score")``.

    ``U_i = int (x_i - xbar(t)) dM_i(t)`` over the row's interval, with
    ``dM_i(t) = dN_i(t) - r_i dLambda(t)`` and Efron's tie correction when asked: a tied event
    contributes ``x_i`` minus the average of the d Efron means, and its expected part at the
    k-th Efron step is down-weighted by ``1 - k/d``.  ``sum_i w_i U_i`` is the score.  Each
    row's residual is touched twice, when it joins and when it leaves the risk set, through
    running sums ``C = sum dLambda`` and ``XH = sum xbar dLambda``.

    Same parameters as ``cox_loglik_score_information``; returns float64 (n, p).
    """
    n, p = X.shape
    risk = np.empty(n)  # exp(x b), filled as rows join (a row leaves after it joined)
    resid = np.zeros((n, p))
    s0 = 0.0
    s1 = np.zeros(p)
    s1d = np.zeros(p)
    mean = np.zeros(p)
    cumhaz = 0.0
    xhaz = np.zeros(p)
    mh1 = 0.0
    mh2 = np.zeros(p)
    mh3 = np.zeros(p)
    n_at_risk = 0
    i_stop = 0
    i_start = 0
    while i_stop < n:
        t = stop[order_stop[i_stop]]
        while i_start < n and start[order_start[i_start]] >= t:
            i = order_start[i_start]
            i_start += 1
            wr = w[i] * risk[i]
            s0 -= wr
            _add_row1(X, i, wr, -1.0, s1)
            n_at_risk -= 1
            for j in range(p):  # leave: the expected part accrued while at risk
                resid[i, j] -= risk[i] * (X[i, j] * cumhaz - xhaz[j])
        if n_at_risk == 0:
            s0 = 0.0
            for j in range(p):
                s1[j] = 0.0
        deaths = 0  # s1d is zero here (reset after use)
        wsum_d = 0.0
        s0d = 0.0
        first = i_stop
        while i_stop < n and stop[order_stop[i_stop]] == t:
            i = order_stop[i_stop]
            i_stop += 1
            risk[i] = math.exp(_linear(X, i, beta))
            wr = w[i] * risk[i]
            s0 += wr
            _add_row1(X, i, wr, 1.0, s1)
            n_at_risk += 1
            for j in range(p):  # join: remember the running sums
                resid[i, j] += risk[i] * (X[i, j] * cumhaz - xhaz[j])
            if event[i] != 0.0:
                deaths += 1
                wsum_d += w[i]
                s0d += wr
                _add_row1(X, i, wr, 1.0, s1d)
        if deaths == 0:
            continue
        if efron and deaths > 1:
            meanw = wsum_d / deaths
            mh1 = 0.0
            mh2[:] = 0.0
            mh3[:] = 0.0
            for m in range(deaths):
                f = m / deaths
                den = s0 - f * s0d
                haz = meanw / den
                cumhaz += haz
                mh1 += haz * f
                for j in range(p):
                    mean[j] = (s1[j] - f * s1d[j]) / den
                    xhaz[j] += mean[j] * haz
                    mh2[j] += mean[j] * haz * f
                    mh3[j] += mean[j] / deaths
            for q in range(first, i_stop):
                i = order_stop[q]
                if event[i] != 0.0:
                    for j in range(p):
                        resid[i, j] += (X[i, j] - mh3[j]) + risk[i] * (X[i, j] * mh1 - mh2[j])
        else:
            haz = wsum_d / s0
            cumhaz += haz
            for j in range(p):
                mean[j] = s1[j] / s0
                xhaz[j] += mean[j] * haz
            for q in range(first, i_stop):
                i = order_stop[q]
                if event[i] != 0.0:
                    for j in range(p):
                        resid[i, j] += X[i, j] - mean[j]
        for j in range(p):
            s1d[j] = 0.0
    while i_start < n:  # rows still at risk below the first event time
        i = order_start[i_start]
        i_start += 1
        for j in range(p):
            resid[i, j] -= risk[i] * (X[i, j] * cumhaz - xhaz[j])
    return resid


@jit
def cox_baseline_hazard(
    start, stop, event, X, w, beta, order_stop, order_start, efron
):  # pragma: no cover - compiled
    """Baseline hazard increments at the distinct event times, at covariates 0.

    Breslow: ``dLambda(t) = sum_d w / S0``.  Efron (R's ``ctype=2``):
    ``dLambda(t) = sum_{k<d} meanw / (S0 - (k/d) S0d)``.  The risk scores are ``exp(X b)``, so
    centring ``X`` at ``c`` gives the hazard at covariates ``c``.

    Same parameters as ``cox_loglik_score_information``; returns ``(times, increments)``,
    float64 arrays in ascending time.
    """
    n, p = X.shape
    wrisk = np.empty(n)  # w exp(x b), filled as rows join (a row leaves after it joined)
    times = np.empty(n)
    increments = np.empty(n)
    s0 = 0.0
    n_at_risk = 0
    n_times = 0
    i_stop = 0
    i_start = 0
    while i_stop < n:
        t = stop[order_stop[i_stop]]
        while i_start < n and start[order_start[i_start]] >= t:
            i = order_start[i_start]
            i_start += 1
            s0 -= wrisk[i]
            n_at_risk -= 1
        if n_at_risk == 0:
            s0 = 0.0
        deaths = 0
        wsum_d = 0.0
        s0d = 0.0
        while i_stop < n and stop[order_stop[i_stop]] == t:
            i = order_stop[i_stop]
            i_stop += 1
            wr = w[i] * math.exp(_linear(X, i, beta))
            wrisk[i] = wr
            s0 += wr
            n_at_risk += 1
            if event[i] != 0.0:
                deaths += 1
                wsum_d += w[i]
                s0d += wr
        if deaths == 0:
            continue
        if efron and deaths > 1:
            meanw = wsum_d / deaths
            haz = 0.0
            for m in range(deaths):
                haz += meanw / (s0 - (m / deaths) * s0d)
        else:
            haz = wsum_d / s0
        times[n_times] = t
        increments[n_times] = haz
        n_times += 1
    return times[:n_times][::-1].copy(), increments[:n_times][::-1].copy()
