"""Sequential trials: the expansion of a cleaned panel into one trial per eligible row.

Rows are sorted by (subject, time), subject offsets in ``starts``.  A trial starts at every
row ``t`` with ``eligible[t]`` and holds the subject's rows ``s >= t``; its weight at row ``s``
is ``exp(C[s] - C[t])`` for ``C`` the within-subject running sum of log row factors, so it
is 1 at the trial's start row and the start row's own factor is never used.

Two passes: ``trial_row_counts`` counts the expanded rows of each subject, the caller turns
the counts into offsets, and ``expand_trials`` writes each subject's block of the output in
parallel (subjects are independent; blocks are disjoint).  Within a subject the output is
ordered by trial, then by row, so the whole output is sorted by (subject, trial, followup).
"""

from __future__ import annotations

import numba
import numpy as np

from msm._kernels._jit import SERIAL_ROWS, jit


@jit(parallel=True, serial_below=SERIAL_ROWS)
def trial_row_counts(eligible, starts):  # pragma: no cover - compiled
    """Expanded rows per subject: the sum over its eligible rows t of (rows from t to its end).

    ``eligible`` is a uint8 (or bool) array over the sorted rows; returns int64 counts, one
    per subject.
    """
    n_subjects = starts.size - 1
    counts = np.zeros(n_subjects, dtype=np.int64)
    for g in numba.prange(n_subjects):
        end = starts[g + 1]
        total = 0
        for t in range(starts[g], end):
            if eligible[t]:
                total += end - t
        counts[g] = total
    return counts


@jit(parallel=True, serial_below=SERIAL_ROWS)
def expand_trials(
    eligible, starts, offsets, log_cumulative, source, trial, weight
):  # pragma: no cover - compiled
    """Fill the expanded rows: source row, trial start row and weight of each.

    ``offsets`` (length n_subjects + 1) are the running sums of ``trial_row_counts``;
    ``source``, ``trial`` (int64) and ``weight`` (float64) have ``offsets[-1]`` entries.
    ``log_cumulative`` is the within-subject running sum of the log row factors.
    """
    for g in numba.prange(starts.size - 1):
        end = starts[g + 1]
        k = offsets[g]
        for t in range(starts[g], end):
            if not eligible[t]:
                continue
            base = log_cumulative[t]
            for s in range(t, end):
                source[k] = s
                trial[k] = t
                weight[k] = np.exp(log_cumulative[s] - base)
                k += 1
    return source, trial, weight


def sequential_trials(
    eligible: np.ndarray, starts: np.ndarray, log_cumulative: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source, trial, weight)`` of every expanded row (see the module docstring)."""
    eligible = np.ascontiguousarray(eligible, dtype=np.uint8)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    log_cumulative = np.ascontiguousarray(log_cumulative, dtype=np.float64)
    counts = trial_row_counts(eligible, starts)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    source = np.empty(n, dtype=np.int64)
    trial = np.empty(n, dtype=np.int64)
    weight = np.empty(n, dtype=np.float64)
    return expand_trials(eligible, starts, offsets, log_cumulative, source, trial, weight)
