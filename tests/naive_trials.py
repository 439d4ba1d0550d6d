"""Slow, obviously right twins of the trial-expansion kernels (``msm._kernels.trials``)."""

from __future__ import annotations

import numpy as np


def trial_row_counts(eligible: np.ndarray, starts: np.ndarray) -> np.ndarray:
    counts = []
    for g in range(starts.size - 1):
        rows = range(starts[g], starts[g + 1])
        counts.append(sum(starts[g + 1] - t for t in rows if eligible[t]))
    return np.array(counts, dtype=np.int64)


def sequential_trials(eligible, starts, log_cumulative):
    """Every (row s, trial start t) with t eligible, s >= t in t's subject; weight as a product.

    The weight is the product of the row factors exp(log factor) over t < row <= s, taken
    from the differences of ``log_cumulative``, multiplied out one factor at a time.
    """
    factors = np.exp(np.diff(log_cumulative, prepend=0.0))
    source, trial, weight = [], [], []
    for g in range(starts.size - 1):
        for t in range(starts[g], starts[g + 1]):
            if not eligible[t]:
                continue
            product = 1.0
            for s in range(t, starts[g + 1]):
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
