"""Exact two-sample KS statistics of partitioned data, by branch and bound over value bins.

The in-memory statistic (``msm.diagnostics._balance.group_ks``) is, per group and covariate,
``max |F1(x) - F0(x)|`` over the data points ``x``, with ``F`` the arms' cumulative shares of
rows (unweighted) or of weight (weighted) at values ``<= x``.  Between data points ``F`` is
constant, so this is the supremum over all ``x``.

Each problem (group, covariate, unweighted or weighted) keeps a best value found and a list of
candidate intervals ``[lo, hi]`` of covariate values (at first ``[min, max]``), each with the
arms' masses below ``lo``.  A pass has every partition return, per candidate interval, each
bin's arm masses, row count and smallest and largest value (``bins`` fixed edges), or, for
small intervals, the rows themselves.  From a histogram the client gets exact values of the
statistic at each bin's largest value (``F`` there is the mass of the bins up to it), which
raise the best, and an upper bound within each bin (``F`` is monotone:
``max(F1(end) - F0(start), F0(end) - F1(start))``); bins whose bound does not exceed the best
are dropped, the others become intervals (snapped to their smallest and largest value).  Rows
fetched are sorted and the statistic evaluated at the last of each run of tied values, as in
memory.  The answer is exact (up to the order of floating-point sums) and usually needs a few
passes and few rows on the client; in the worst case (a bound that never prunes) it ends by
fetching the intervals left.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from msm._dask import quantiles
from msm._dask.partitions import compute_each

# source(partition, *args) -> (group number, treated (bool), weight, X) of the compared rows
Source = Callable[..., tuple]


def _split(part, source: Source, args: tuple, n_groups: int):
    group, treated, w, X = source(part, *args)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    return treated[order], w[order], X[order], bounds


def _pass(part, source: Source, args: tuple, n_groups: int, requests: list):
    """Per request ``(group, column, weighted, lo, hi, edges or None)``: bins or rows."""
    treated, w, X, bounds = _split(part, source, args, n_groups)
    out = []
    for group, column, weighted, lo, hi, edges in requests:
        rows = slice(bounds[group], bounds[group + 1])
        x = X[rows, column]
        inside = (x >= lo) & (x <= hi)
        x = x[inside]
        t = treated[rows][inside]
        m = w[rows][inside] if weighted else np.ones(x.size)
        if edges is None:
            out.append((x, t, m))
            continue
        n_bins = edges.size - 1
        j = quantiles.bin_of(x, edges)
        low = np.full(n_bins, np.inf)
        high = np.full(n_bins, -np.inf)
        np.minimum.at(low, j, x)
        np.maximum.at(high, j, x)
        out.append(
            (
                np.bincount(j, weights=m * t, minlength=n_bins),
                np.bincount(j, weights=m * ~t, minlength=n_bins),
                np.bincount(j, minlength=n_bins),
                low,
                high,
            )
        )
    return out


def ks_statistics(
    frame,
    source: Source,
    args: tuple,
    n_groups: int,
    n_columns: int,
    totals: dict[bool, np.ndarray],
    extent: tuple[np.ndarray, np.ndarray],
    *,
    bins: int | None = None,
    fetch_limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted and weighted KS statistics per group and column, ``(G, p)`` each.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        Passed partition by partition to ``source``.
    source : callable
        ``source(partition, *args) -> (group number, treated, weight, X)`` of the compared rows.
    args : tuple
        Extra arguments of ``source``.
    n_groups, n_columns : int
        ``G`` and ``p``.
    totals : dict
        ``{False: counts, True: weight sums}``, each ``(G, 2)`` (control, treated).
    extent : (ndarray, ndarray)
        Smallest and largest value per group and column, ``(G, p)`` each.
    bins, fetch_limit : int, optional
        Bins per interval and most rows fetched in a pass (defaults from
        ``msm._dask.quantiles``).

    Returns
    -------
    ks_u, ks_w : ndarray
        NaN where an arm has no rows (no positive weight), as in memory.
    """
    bins = quantiles.BINS if bins is None else bins
    fetch_limit = quantiles.FETCH_LIMIT if fetch_limit is None else fetch_limit
    lo_all, hi_all = extent
    result = {False: np.full((n_groups, n_columns), np.nan), True: None}
    result[True] = result[False].copy()
    best: dict[tuple, float] = {}
    # problem -> candidate intervals [lo, hi, mass1 below, mass0 below, rows, bound]
    candidates: dict[tuple, list] = {}
    for weighted in (False, True):
        for g in range(n_groups):
            t0, t1 = totals[weighted][g]
            if not (t0 > 0 and t1 > 0):
                continue
            for j in range(n_columns):
                key = (g, j, weighted)
                best[key] = 0.0
                rows = int(totals[False][g].sum())
                candidates[key] = [[lo_all[g, j], hi_all[g, j], 0.0, 0.0, rows, np.inf]]
    stuck: set[tuple] = set()
    for round_number in range(quantiles.MAX_ROUNDS + 2):
        for key in candidates:  # prune by the best so far
            candidates[key] = [c for c in candidates[key] if c[5] > best[key]]
        work = [(key, c) for key, cs in candidates.items() for c in cs]
        if not work:
            break
        budget, fetched = fetch_limit, set()
        last_round = round_number >= quantiles.MAX_ROUNDS
        for i in sorted(range(len(work)), key=lambda i: work[i][1][4]):
            key, c = work[i]
            if c[4] <= budget or last_round or (key, c[0], c[1]) in stuck or c[0] == c[1]:
                fetched.add(i)
                budget -= min(c[4], budget)
        per = min(bins, max(16, quantiles.HIST_BINS // max(len(work) - len(fetched), 1)))
        requests = []
        for i, ((g, j, weighted), c) in enumerate(work):
            edges = None if i in fetched else quantiles.bin_edges(c[0], c[1], per)
            requests.append((g, j, weighted, c[0], c[1], edges))
        results = [r for r in compute_each(_pass, frame, source, args, n_groups, requests) if r]
        for key in candidates:
            candidates[key] = []
        for i, ((g, j, weighted), c) in enumerate(work):
            key = (g, j, weighted)
            t0, t1 = totals[weighted][g]
            lo, hi, below1, below0 = c[:4]
            parts = [r[i] for r in results]
            if requests[i][5] is None:
                x = np.concatenate([p[0] for p in parts])
                t = np.concatenate([p[1] for p in parts])
                m = np.concatenate([p[2] for p in parts])
                order = np.argsort(x, kind="stable")
                x, t, m = x[order], t[order], m[order]
                last = np.ones(x.size, dtype=bool)
                last[:-1] = x[1:] != x[:-1]
                f1 = (below1 + np.cumsum(m * t)) / t1
                f0 = (below0 + np.cumsum(m * ~t)) / t0
                if x.size:
                    best[key] = max(best[key], float(np.max(np.abs(f1 - f0)[last])))
                continue
            s1 = np.sum([p[0] for p in parts], axis=0)
            s0 = np.sum([p[1] for p in parts], axis=0)
            count = np.sum([p[2] for p in parts], axis=0)
            low = np.min([p[3] for p in parts], axis=0)
            high = np.max([p[4] for p in parts], axis=0)
            cum1 = np.concatenate(([0.0], np.cumsum(s1)))
            cum0 = np.concatenate(([0.0], np.cumsum(s0)))
            start1, end1 = below1 + cum1[:-1], below1 + cum1[1:]
            start0, end0 = below0 + cum0[:-1], below0 + cum0[1:]
            filled = count > 0
            if filled.any():
                gaps = np.abs(end1 / t1 - end0 / t0)[filled]
                best[key] = max(best[key], float(np.max(gaps)))
            bound = np.maximum(end1 / t1 - start0 / t0, end0 / t0 - start1 / t1)
            for k in np.flatnonzero(filled & (low < high)):
                new = [float(low[k]), float(high[k]), start1[k], start0[k], int(count[k])]
                if (new[0], new[1]) == (lo, hi):
                    stuck.add((key, lo, hi))
                candidates[key].append([*new, float(bound[k])])
    for (g, j, weighted), value in best.items():
        result[weighted][g, j] = value
    return result[False], result[True]
