"""Sequential trials: the expansion of a cleaned panel into one trial per eligible row.

Rows are sorted by (subject, time), subject offsets in ``starts``.  A trial starts at every
row ``t`` with ``eligible[t]`` and holds the subject's rows ``s >= t``; its weight at row ``s``
is ``exp(C[s] - C[t])`` for ``C`` the within-subject running sum of log row factors, so it
is 1 at the trial's start row and the start row's own factor is never used.  With a ``stop``
flag (per protocol: the row's treatment differs from the previous row's), a trial ends before
the first row ``s > t`` of its subject with ``stop[s]``: the first deviation from the
treatment assigned at ``t`` (a stop at the start row itself does not end the trial).

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
def trial_row_counts(eligible, starts, stop):  # pragma: no cover - compiled
    """Expanded rows per subject: the sum over its eligible rows t of the rows of trial t.

    Trial t holds the rows from t to the row before the first later row with ``stop`` (or to
    the subject's end).  ``eligible`` and ``stop`` are uint8 (or bool) arrays over the sorted
    rows; returns int64 counts, one per subject.
    """
    n_subjects = starts.size - 1
    counts = np.zeros(n_subjects, dtype=np.int64)
    for g in numba.prange(n_subjects):
        limit = starts[g + 1]  # the first row after t that trial t does not hold
        total = 0
        for t in range(starts[g + 1] - 1, starts[g] - 1, -1):
            if eligible[t]:
                total += limit - t
            if stop[t]:
                limit = t
        counts[g] = total
    return counts


@jit(parallel=True, serial_below=SERIAL_ROWS)
def expand_trials(
    eligible, starts, stop, offsets, log_cumulative, source, trial, weight
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
                if s > t and stop[s]:
                    break
                source[k] = s
                trial[k] = t
                weight[k] = np.exp(log_cumulative[s] - base)
                k += 1
    return source, trial, weight


def sequential_trials(
    eligible: np.ndarray,
    starts: np.ndarray,
    log_cumulative: np.ndarray,
    stop: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source, trial, weight)`` of every expanded row (see the module docstring).

    ``stop`` None: every trial runs to its subject's last row (intention to treat).
    """
    eligible = np.ascontiguousarray(eligible, dtype=np.uint8)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    log_cumulative = np.ascontiguousarray(log_cumulative, dtype=np.float64)
    if stop is None:
        stop = np.zeros(eligible.size, dtype=np.uint8)
    else:
        stop = np.ascontiguousarray(stop, dtype=np.uint8)
    counts = trial_row_counts(eligible, starts, stop)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    source = np.empty(n, dtype=np.int64)
    trial = np.empty(n, dtype=np.int64)
    weight = np.empty(n, dtype=np.float64)
    return expand_trials(eligible, starts, stop, offsets, log_cumulative, source, trial, weight)


@jit(parallel=True, serial_below=SERIAL_ROWS)
def per_protocol_rows(eligible, switch, starts, keep):  # pragma: no cover - compiled
    """Per-protocol row deletion (TrialEmulation's ``censor_func``): ``keep`` per sorted row.

    Walking each subject's rows: a regime starts at an eligible row when none is running; a
    switch at an eligible row starts a new regime (the row is kept); a switch at a
    non-eligible row ends the running regime after that row (kept); rows outside a regime
    are deleted (``keep`` 0) until the next eligible row.  ``eligible``, ``switch`` and
    ``keep`` (the output) are uint8 arrays over the sorted rows.
    """
    for g in numba.prange(starts.size - 1):
        running = False
        ending = False
        for i in range(starts[g], starts[g + 1]):
            if ending:
                running = False
                ending = False
            if eligible[i]:
                running = True  # a new regime (a switch here starts one too)
            keep[i] = 1 if running else 0
            if switch[i] and not eligible[i] and running:
                ending = True
    return keep


def per_protocol_keep(eligible: np.ndarray, switch: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The rows kept by the per-protocol row deletion (``per_protocol_rows``), as bools."""
    eligible = np.ascontiguousarray(eligible, dtype=np.uint8)
    switch = np.ascontiguousarray(switch, dtype=np.uint8)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    keep = np.empty(eligible.size, dtype=np.uint8)
    return per_protocol_rows(eligible, switch, starts, keep).view(bool)
