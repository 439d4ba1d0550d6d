"""Slow, obviously right twins of the trial-expansion kernels (``msm._kernels.trials``)."""

from __future__ import annotations

import numpy as np


def _trial_rows(t, end, stop):
    """The rows of the trial starting at row t: t, t+1, ... up to the first later stop."""
    rows = [t]
    for s in range(t + 1, end):
        if stop is not None and stop[s]:
            break
        rows.append(s)
    return rows


def trial_row_counts(eligible: np.ndarray, starts: np.ndarray, stop=None) -> np.ndarray:
    counts = []
    for g in range(starts.size - 1):
        rows = range(starts[g], starts[g + 1])
        counts.append(sum(len(_trial_rows(t, starts[g + 1], stop)) for t in rows if eligible[t]))
    return np.array(counts, dtype=np.int64)


def sequential_trials(eligible, starts, log_cumulative, stop=None):
    """Every (row s, trial start t) with t eligible, s >= t in t's subject; weight as a product.

    With ``stop``, trial t ends before the first row s > t with ``stop[s]``.  The weight is
    the product of the row factors exp(log factor) over t < row <= s, taken from the
    differences of ``log_cumulative``, multiplied out one factor at a time.
    """
    factors = np.exp(np.diff(log_cumulative, prepend=0.0))
    source, trial, weight = [], [], []
    for g in range(starts.size - 1):
        for t in range(starts[g], starts[g + 1]):
            if not eligible[t]:
                continue
            product = 1.0
            for s in _trial_rows(t, starts[g + 1], stop):
                if s > t:
                    product *= factors[s]
                source.append(s)
                trial.append(t)
                weight.append(product)
    return (
        np.array(source, dtype=np.int64),
        np.array(trial, dtype=np.int64),
        np.array(weight, dtype=np.float64),
    )


def per_protocol_keep(eligible, switch, treatment, starts):
    """TrialEmulation's ``censor_func`` state machine, transcribed flag for flag.

    Two regimes, 0 and 1 (never treated / treated at their start), each with a started and a
    stop flag; a row is deleted when neither regime is running at it (``eligible0_sw`` and
    ``eligible1_sw`` both 0).
    """
    keep = np.zeros(len(eligible), dtype=bool)
    for g in range(starts.size - 1):
        for i in range(starts[g], starts[g + 1]):
            if i == starts[g]:
                started0 = started1 = stop0 = stop1 = False
            if stop0 or stop1:
                started0 = started1 = stop0 = stop1 = False
            if not started0 and not started1 and eligible[i]:
                if treatment[i] == 0:
                    started0 = True
                else:
                    started1 = True
            if started0 and not stop0:
                in0, in1 = True, False
            elif started1 and not stop1:
                in0, in1 = False, True
            else:
                in0 = in1 = False
            if switch[i]:
                if eligible[i]:
                    if treatment[i] == 1:
                        started1, stop1, started0, stop0, in1 = True, False, False, False, True
                    else:
                        started0, stop0, started1, stop1, in0 = True, False, False, False, True
                else:
                    stop0, stop1 = started0, started1
            keep[i] = in0 or in1
    return keep


def stream_design(log_cumulative, starts, eligible, stop, values, y, vkind, vcol, fstart,
                  fvar, fpow, centre, intercept, lower, upper):  # fmt: skip
    """Twin of the streamed expansion (``msm._kernels.stream``): the design, outcome, weight
    and subject of every expanded row, materialized the slow way."""
    source, trial, weight = sequential_trials(eligible, starts, log_cumulative, stop)
    subject = np.searchsorted(starts, source, side="right") - 1
    p = len(fstart) - 1
    X = np.ones((source.size, p))
    for j in range(p):
        for k in range(fstart[j], fstart[j + 1]):
            v = fvar[k]
            if vkind[v] == 0:
                value = values[trial, vcol[v]]
            elif vkind[v] == 1:
                value = values[source, vcol[v]]
            else:
                value = values[source, vcol[v]] - values[trial, vcol[v]]
            X[:, j] *= value ** fpow[k]
        if j != intercept:
            X[:, j] -= centre[j]
    w = np.maximum(np.minimum(weight, upper), lower)
    return X, y[source], w, subject


def stream_pass(*args):
    """Twin of ``stream_pass`` (binomial): deviance, Pearson, score, information, mu range."""
    *design_args, scale, beta, _family = args
    X, y, w, _ = stream_design(*design_args)
    w = w * scale
    mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = -2.0 * np.where(y == 1, np.log(mu), np.log1p(-mu))
    pearson = (y - mu) ** 2 / (mu * (1.0 - mu))
    positive = w > 0
    return (
        float(np.sum(w * dev)),
        float(np.sum(w * pearson)),
        X.T @ (w * (y - mu)),
        (X * (w * mu * (1.0 - mu))[:, None]).T @ X,
        float(mu[positive].min(initial=np.inf)),
        float(mu[positive].max(initial=-np.inf)),
    )


def stream_scores(*args):
    """Twin of ``stream_scores``: per-subject sums of ``w (y - mu) x``."""
    *design_args, scale, beta, _family = args
    X, y, w, subject = stream_design(*design_args)
    mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
    r = w * scale * (y - mu)
    out = np.zeros((len(design_args[1]) - 1, X.shape[1]))
    np.add.at(out, subject, X * r[:, None])
    return out
