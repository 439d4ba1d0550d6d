"""Grouped running sums over rows sorted by (subject, time).

A weight is a within-subject cumulative product of per-row factors.  It is accumulated as a
running sum of log factors, so hundreds of visits neither overflow nor underflow; the caller
exponentiates once at the end.
"""

from __future__ import annotations

import numba
import numpy as np

from msm._kernels._jit import jit


@jit(parallel=True)
def grouped_cumsum(values, starts, out):  # pragma: no cover - compiled
    """Running sum of ``values`` within each group ``starts[g]:starts[g + 1]``.

    ``values`` and ``out`` are float64 arrays of the same length, sorted by group;
    ``starts`` holds the group offsets (length n_groups + 1, first 0, last n).  Groups are
    independent, so threads write disjoint slices of ``out``.  ``out`` may be ``values``.
    """
    for g in numba.prange(starts.size - 1):
        running = 0.0
        for i in range(starts[g], starts[g + 1]):
            running += values[i]
            out[i] = running
    return out


def cumulative_log_weights(log_factors: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Within-subject running sums of ``log_factors`` (rows sorted by subject, time)."""
    log_factors = np.ascontiguousarray(log_factors, dtype=np.float64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    return grouped_cumsum(log_factors, starts, np.empty_like(log_factors))
