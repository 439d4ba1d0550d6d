"""Gathering rows of a column straight into a column of a row-major design matrix."""

from __future__ import annotations

import numba

from msm._kernels._jit import jit


@jit(parallel=True)
def gather_column(source, rows, out, j):  # pragma: no cover - compiled
    """``out[i, j] = source[rows[i]]`` for every i (``source`` any numeric 1-d array)."""
    for i in numba.prange(rows.size):
        out[i, j] = source[rows[i]]
    return out
