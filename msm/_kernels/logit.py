"""Per-row log-probabilities under a fitted logistic model (the treatment factors)."""

from __future__ import annotations

import numba

from msm._kernels._jit import SERIAL_ROWS, jit
from msm._kernels.glm import log1pexp


@jit(parallel=True, serial_below=SERIAL_ROWS)
def logit_log_prob(X, beta, y, out):  # pragma: no cover - compiled
    """Log-probability of the observed outcome, ``log P(Y = y_i | x_i)``, row by row.

    ``log p = -log(1 + e^-eta)`` and ``log(1 - p) = -log(1 + e^eta)``: exact in the tails
    where ``p`` rounds to 0 or 1.
    """
    n, p = X.shape
    for i in numba.prange(n):
        eta = 0.0
        for j in range(p):
            eta += X[i, j] * beta[j]
        if y[i] > 0.5:
            out[i] = -log1pexp(-eta)
        else:
            out[i] = -log1pexp(eta)
    return out
