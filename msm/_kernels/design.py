"""Row-major design matrices: gathering rows of a column into one, products of variables, and
column magnitudes."""

from __future__ import annotations

import numba
import numpy as np

from msm._kernels._jit import SERIAL_ROWS, jit


@jit(parallel=True, serial_below=SERIAL_ROWS)
def gather_column(source, rows, out, j):  # pragma: no cover - compiled
    """``out[i, j] = source[rows[i]]`` for every i (``source`` any numeric 1-d array)."""
    for i in numba.prange(rows.size):
        out[i, j] = source[rows[i]]
    return out


@jit(parallel=True, serial_below=SERIAL_ROWS)
def column_abs_max(X, w):  # pragma: no cover - compiled
    """``max |X[i, j]|`` over the rows with ``w[i] > 0``, per column (0 where there are none).

    One pass over a row-major matrix, in row blocks reduced at the end: numpy's
    ``X.max(axis=0)`` strides down the columns and takes several times longer.
    """
    n, p = X.shape
    n_blocks = min(n, 64)
    partial = np.zeros((max(n_blocks, 1), p))
    for b in numba.prange(n_blocks):
        for i in range(b * n // n_blocks, (b + 1) * n // n_blocks):
            if w[i] > 0.0:
                for j in range(p):
                    value = abs(X[i, j])
                    if value > partial[b, j]:
                        partial[b, j] = value
    out = np.zeros(p)
    for b in range(n_blocks):
        for j in range(p):
            if partial[b, j] > out[j]:
                out[j] = partial[b, j]
    return out


@jit(parallel=True, serial_below=SERIAL_ROWS)
def product_design(out, integers, floats, fkind, fvar, fstart, fpow):  # pragma: no cover - compiled
    """Fill the row-major ``out`` (n, p; first, so that its rows choose the serial or the
    parallel compilation) with products of powers of variables, row by row.

    The variables are the caller's own columns, not copied into one matrix: ``integers`` a
    tuple of int64 arrays and ``floats`` of float64 arrays (each of n values, or a first
    placeholder of none: neither tuple may be empty).  Factor ``k`` is variable ``fvar[k]``
    of ``integers`` (``fkind[k] == 0``) or of ``floats`` (1), to the power ``fpow[k]``;
    column ``j`` is the product, in order, of factors ``fstart[j] .. fstart[j + 1] - 1`` (1
    for an empty product: an intercept); a square is ``x * x``, as numpy's.  Writing whole
    rows is several times faster than assigning ``out[:, j]`` column by column, which
    strides through the matrix once per column.
    """
    n, p = out.shape
    for i in numba.prange(n):
        for j in range(p):
            x = 1.0
            for k in range(fstart[j], fstart[j + 1]):
                if fkind[k] == 0:
                    value = float(integers[fvar[k]][i])
                else:
                    value = floats[fvar[k]][i]
                e = fpow[k]
                if e == 2:
                    value = value * value
                elif e != 1:
                    value = value ** float(e)
                x *= value
            out[i, j] = x
    return out
