"""Kernels for history-aware balance (Jackson 2016): history strata and grouped moments.

Rows are sorted by (subject, time) with subject offsets ``starts``.  A treatment history is
the sequence of 0/1 treatments on a subject's earlier rows; strata are integer codes, never
string keys.
"""

from __future__ import annotations

import numba
import numpy as np

from msm._kernels._jit import jit


@jit
def history_nodes(a, starts, out):  # pragma: no cover - compiled
    """Code of each row's full treatment history: a node of the trie of 0/1 sequences.

    ``a`` holds 0/1 treatments (float64) sorted by (subject, time).  Row ``i`` gets the node
    of the sequence of treatments on its subject's rows before ``i``: every subject's first
    row is node 0 (empty history), and two rows share a node exactly when their subjects'
    earlier treatment sequences are equal.  Nodes are numbered in order of first appearance;
    returns the number of nodes.  Sequential (nodes are allocated globally); O(n).
    """
    n = a.size
    children = np.full((n + 1, 2), -1, dtype=np.int64)
    n_nodes = 1
    for g in range(starts.size - 1):
        node = 0
        for i in range(starts[g], starts[g + 1]):
            out[i] = node
            branch = 1 if a[i] > 0.5 else 0
            child = children[node, branch]
            if child < 0:
                child = n_nodes
                children[node, branch] = child
                n_nodes += 1
            node = child
    return n_nodes


@jit(parallel=True)
def recent_history(a, starts, k, out):  # pragma: no cover - compiled
    """Code of each row's last ``k`` treatments (fewer on a subject's first ``k`` rows).

    With ``m = min(k, rows before i)`` earlier rows, the code is ``m * 2**k + bits``, where
    ``bits`` holds those ``m`` treatments, the most recent in the lowest bit.  ``k = 0`` gives
    code 0 everywhere.  Subjects are independent, so threads write disjoint slices.
    """
    full = np.int64(1) << k
    for g in numba.prange(starts.size - 1):
        bits = np.int64(0)
        m = np.int64(0)
        for i in range(starts[g], starts[g + 1]):
            out[i] = m * full + bits
            if k > 0:
                bits = ((bits << 1) | (1 if a[i] > 0.5 else 0)) & (full - 1)
                if m < k:
                    m += 1
    return out


@jit(parallel=True)
def stratified_mean_differences(
    X, w, arm, time_index, subject_start, rows, stratum_starts, time_strata, n_lags
):  # pragma: no cover - compiled
    """Mean differences in history strata, averaged over strata, for every (time, lag).

    Inputs (rows sorted by subject, then time):

    - ``X`` (n, p) covariates, ``w`` (n,) weights, ``arm`` (n,) 0/1 treatment (int64),
      ``time_index`` (n,) index of each row's time among the sorted distinct times,
      ``subject_start`` (n,) the offset of each row's subject's first row.
    - ``rows``: the compared rows, grouped by stratum; stratum ``h`` is
      ``rows[stratum_starts[h]:stratum_starts[h + 1]]`` and all its rows share one time.
    - ``time_strata`` (T + 1,): the strata of time index ``t`` are
      ``time_strata[t]:time_strata[t + 1]``.
    - ``n_lags``: lags ``d = 0 .. n_lags - 1``; lag ``d`` pairs a compared row at time index
      ``t`` with its own subject's row at time index ``t - d`` (if there is one).

    For each stratum and lag where both arms have rows, the unweighted and weighted
    differences in covariate means (treated minus untreated) enter sums weighted by the
    stratum's row count and by its sum of weights.  Returns, indexed ``[t, d]``:

    ``diff_u`` (T, L, p) sum of n_h * D_h; ``size_u`` (T, L) sum of n_h;
    ``diff_w`` (T, L, p) sum of W_h * D^w_h; ``size_w`` (T, L) sum of W_h;
    ``n_strata`` (T, L) strata with both arms; and, over all compared rows at (t, d),
    unweighted per-arm moments for the SD: ``count`` (T, L, 2), ``sx`` and ``sxx``
    (T, L, 2, p).  Times run in parallel; each writes only its own ``[t]`` slices.
    """
    p = X.shape[1]
    n_times = time_strata.size - 1
    diff_u = np.zeros((n_times, n_lags, p))
    size_u = np.zeros((n_times, n_lags))
    diff_w = np.zeros((n_times, n_lags, p))
    size_w = np.zeros((n_times, n_lags))
    n_strata = np.zeros((n_times, n_lags), dtype=np.int64)
    count = np.zeros((n_times, n_lags, 2))
    sx = np.zeros((n_times, n_lags, 2, p))
    sxx = np.zeros((n_times, n_lags, 2, p))
    for t in numba.prange(n_times):
        h_cnt = np.zeros((n_lags, 2))
        h_w = np.zeros((n_lags, 2))
        h_sx = np.zeros((n_lags, 2, p))
        h_swx = np.zeros((n_lags, 2, p))
        for h in range(time_strata[t], time_strata[t + 1]):
            top = -1  # largest lag touched in this stratum: only those entries are reset
            for r in range(stratum_starts[h], stratum_starts[h + 1]):
                i = rows[r]
                g = arm[i]
                wi = w[i]
                j = i
                while j >= subject_start[i]:
                    d = time_index[i] - time_index[j]
                    if d >= n_lags:
                        break
                    if d > top:
                        top = d
                    h_cnt[d, g] += 1.0
                    h_w[d, g] += wi
                    count[t, d, g] += 1.0
                    for k in range(p):
                        x = X[j, k]
                        h_sx[d, g, k] += x
                        h_swx[d, g, k] += wi * x
                        sx[t, d, g, k] += x
                        sxx[t, d, g, k] += x * x
                    j -= 1
            for d in range(top + 1):
                n0 = h_cnt[d, 0]
                n1 = h_cnt[d, 1]
                if n0 > 0.0 and n1 > 0.0:
                    n_strata[t, d] += 1
                    size_u[t, d] += n0 + n1
                    for k in range(p):
                        diff_u[t, d, k] += (n0 + n1) * (h_sx[d, 1, k] / n1 - h_sx[d, 0, k] / n0)
                    w0 = h_w[d, 0]
                    w1 = h_w[d, 1]
                    if w0 > 0.0 and w1 > 0.0:
                        size_w[t, d] += w0 + w1
                        for k in range(p):
                            diff_w[t, d, k] += (w0 + w1) * (
                                h_swx[d, 1, k] / w1 - h_swx[d, 0, k] / w0
                            )
                for g in range(2):
                    h_cnt[d, g] = 0.0
                    h_w[d, g] = 0.0
                    for k in range(p):
                        h_sx[d, g, k] = 0.0
                        h_swx[d, g, k] = 0.0
    return diff_u, size_u, diff_w, size_w, n_strata, count, sx, sxx
