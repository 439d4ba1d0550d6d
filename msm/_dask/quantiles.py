"""Exact type-7 quantiles of a column spread over partitions, by distributed selection.

A type-7 quantile at probability ``p`` over ``n`` values is ``x_(k) + g (x_(k+1) - x_(k))``
with ``h = (n - 1) p``, ``k = floor(h)``, ``g = h - k`` (0-based order statistics), so it needs
two exact order statistics.  They are found without bringing the column to the client:

1. one pass: per group (time value, or one group), the count, minimum and maximum;
2. refinement rounds, one pass each: every order statistic still wanted sits in a value interval
   (at first ``[min, max]``) with a known number of values below it.  While the intervals
   fetched in a pass hold at most ``fetch_limit`` values in all, each partition returns its
   values in them and the client sorts them and picks the rank; for the other intervals each
   partition returns a histogram of its values in the interval over ``bins`` fixed edges
   (geometric for positive values; fewer bins when there are many intervals, at most
   ``HIST_BINS`` a pass) with each bin's smallest and largest value, and the client narrows
   the interval to those of the bin holding the rank.  An interval reduced to one value
   (ties) needs no further pass.

Every pass runs ``source(partition, *args) -> (values, groups or None)`` on each partition, so
the values (here, the weights) are recomputed rather than stored.  The result is exact: the
client ends with the very order statistics a full sort would give.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from msm._dask.partitions import compute_each
from msm.weights import interpolate_quantile, quantile_ranks

BINS = 4096
FETCH_LIMIT = 1_000_000  # values brought to the client in one pass, at most
HIST_BINS = 65_536  # histogram bins a partition returns in one pass, at most (per time: fewer)
MAX_ROUNDS = 64

# source(partition, *args) -> (float values, group keys or None), aligned
Source = Callable[..., tuple]


def column_source(part, value: str, group: str | None = None) -> tuple:
    """A column's values (and a grouping column's) as a ``source``."""
    values = part[value].to_numpy(dtype=np.float64)
    return values, None if group is None else part[group].to_numpy()


def _by_group(part, source: Source, args: tuple, keys: np.ndarray | None):
    """The partition's values sorted by global group number, and each group's slice."""
    values, groups = source(part, *args)
    values = np.asarray(values, dtype=np.float64)
    if keys is None or groups is None:
        codes = np.zeros(values.size, dtype=np.int64)
        n_groups = 1
    else:
        codes = np.searchsorted(keys, groups)
        n_groups = keys.size
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))
    return values[order], bounds


def _extent(part, source: Source, args: tuple, grouped: bool):
    """Group keys, counts, minima and maxima of one partition."""
    values, groups = source(part, *args)
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return None
    if not grouped:
        keys, codes = np.zeros(1, dtype=np.int64), np.zeros(values.size, dtype=np.int64)
    else:
        keys, codes = np.unique(groups, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sorted_values = values[order]
    counts = np.bincount(codes, minlength=keys.size)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return (
        keys,
        counts,
        np.minimum.reduceat(sorted_values, starts),
        np.maximum.reduceat(sorted_values, starts),
    )


def bin_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """Non-decreasing bin edges from ``lo`` to ``hi`` (geometric when both are positive)."""
    if lo > 0:
        edges = np.exp(np.linspace(np.log(lo), np.log(hi), bins + 1))
    else:
        edges = np.linspace(lo, hi, bins + 1)
    edges = np.clip(edges, lo, hi)
    edges[0], edges[-1] = lo, hi
    return np.maximum.accumulate(edges)


def bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin ``j`` of each value in ``[edges[0], edges[-1]]``: ``edges[j] <= v < edges[j+1]``."""
    j = np.searchsorted(edges, values, side="right") - 1
    return np.clip(j, 0, edges.size - 2)


def _round(part, source: Source, args: tuple, keys, requests: list):
    """Per interval request ``(group, lo, hi, edges or None)``: a histogram, or the values."""
    sorted_values, bounds = _by_group(part, source, args, keys)
    out = []
    for group, lo, hi, edges in requests:
        segment = sorted_values[bounds[group] : bounds[group + 1]]
        inside = segment[(segment >= lo) & (segment <= hi)]
        if edges is None:
            out.append(inside)
            continue
        j = bin_of(inside, edges)
        low = np.full(edges.size - 1, np.inf)
        high = np.full(edges.size - 1, -np.inf)
        np.minimum.at(low, j, inside)
        np.maximum.at(high, j, inside)
        out.append((np.bincount(j, minlength=edges.size - 1), low, high))
    return out


def order_statistics(
    frame,
    source: Source,
    args: tuple,
    keys: np.ndarray | None,
    wanted: dict[tuple[int, int], tuple[float, float, int]],
    *,
    bins: int | None = None,
    fetch_limit: int | None = None,
) -> dict[tuple[int, int], float]:
    """Exact order statistics by distributed selection.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        Passed partition by partition to ``source``.
    source : callable
        ``source(partition, *args) -> (values, groups or None)``.
    args : tuple
        Extra arguments of ``source`` (plain values, sent to every task).
    keys : ndarray or None
        Sorted group keys (``None``: one group).
    wanted : dict
        ``(group number, 0-based rank) -> (group minimum, group maximum, group size)``.
    bins : int, optional
        Histogram bins per refinement (default ``BINS``).
    fetch_limit : int, optional
        Most values brought to the client in one pass (default ``FETCH_LIMIT``).

    Returns
    -------
    dict
        ``(group number, rank) -> value``.
    """
    bins = BINS if bins is None else bins
    fetch_limit = FETCH_LIMIT if fetch_limit is None else fetch_limit
    # per target: [lo, hi, values below lo, values in [lo, hi]]
    state = {t: [lo, hi, 0, n] for t, (lo, hi, n) in wanted.items()}
    found: dict[tuple[int, int], float] = {}
    stuck: set[tuple] = set()
    for round_number in range(MAX_ROUNDS + 2):
        for t, (lo, hi, _, _) in state.items():
            if t not in found and lo == hi:
                found[t] = lo
        pending = [t for t in state if t not in found]
        if not pending:
            return found
        intervals: dict[tuple, None] = {}
        for t in pending:
            lo, hi, _, n_in = state[t]
            intervals[(t[0], lo, hi, n_in)] = None
        # fetch the smallest intervals while the pass brings at most fetch_limit values
        budget, fetched = fetch_limit, set()
        for group, lo, hi, n_in in sorted(intervals, key=lambda i: i[3]):
            if n_in <= budget or round_number == MAX_ROUNDS or (group, lo, hi) in stuck:
                fetched.add((group, lo, hi))
                budget -= n_in
        # and keep each partition's histograms small: HIST_BINS bins a pass in all
        n_split = max(len(intervals) - len(fetched), 1)
        per = min(bins, max(16, HIST_BINS // n_split))
        requests = []
        for group, lo, hi, _ in intervals:
            edges = None if (group, lo, hi) in fetched else bin_edges(lo, hi, per)
            requests.append((group, lo, hi, edges))
        results = [r for r in compute_each(_round, frame, source, args, keys, requests) if r]
        for i, (group, lo, hi, edges) in enumerate(requests):
            parts = [r[i] for r in results]
            targets = [t for t in pending if t[0] == group and state[t][:2] == [lo, hi]]
            if edges is None:
                values = np.sort(np.concatenate(parts)) if parts else np.empty(0)
                for t in targets:
                    found[t] = float(values[t[1] - state[t][2]])
                continue
            counts = np.sum([c for c, _, _ in parts], axis=0)
            low = np.min([lo_ for _, lo_, _ in parts], axis=0)
            high = np.max([hi_ for _, _, hi_ in parts], axis=0)
            cumulative = np.cumsum(counts)
            for t in targets:
                below = state[t][2]
                j = int(np.searchsorted(cumulative, t[1] - below, side="right"))
                # the bin's smallest and largest value: ties end as one value, no pass
                new = [float(low[j]), float(high[j])]
                if new == [lo, hi]:
                    stuck.add((group, lo, hi))
                new_below = below + (int(cumulative[j - 1]) if j > 0 else 0)
                state[t] = [*new, new_below, int(counts[j])]
    raise RuntimeError("order statistics: selection did not converge")  # pragma: no cover


def type7_quantiles(
    frame,
    source: Source,
    args: tuple,
    probabilities: Sequence[float],
    *,
    grouped: bool,
    bins: int | None = None,
    fetch_limit: int | None = None,
) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """Exact type-7 quantiles of ``source``'s values over all partitions, or per group.

    Equal to ``msm.weights.truncate_weights``'s quantiles: ``np.quantile`` over all values
    (``grouped=False``) and ``msm.weights._grouped_quantiles`` within groups.

    Parameters
    ----------
    frame, source, args
        As in :func:`order_statistics`.
    probabilities : sequence of float
        In ``[0, 1]``.
    grouped : bool
        Quantiles within each group of ``source``'s second output.
    bins, fetch_limit : int, optional
        As in :func:`order_statistics`.

    Returns
    -------
    keys : ndarray or None
        The sorted group keys (``None`` when not grouped).
    quantiles : list of ndarray
        One array per probability, one value per group (a single value when not grouped).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> frame = dd.from_pandas(pd.DataFrame({"w": [3.0, 1.0, 2.0, 5.0]}), npartitions=2)
    >>> type7_quantiles(frame, column_source, ("w",), [0.5], grouped=False)
    (None, [array([2.5])])
    """
    extents = [e for e in compute_each(_extent, frame, source, args, grouped) if e is not None]
    if not extents:
        raise ValueError("no values to take quantiles of")
    keys = np.unique(np.concatenate([e[0] for e in extents]))
    counts = np.zeros(keys.size, dtype=np.int64)
    mins = np.full(keys.size, np.inf)
    maxs = np.full(keys.size, -np.inf)
    for part_keys, c, lo, hi in extents:
        at = np.searchsorted(keys, part_keys)
        counts[at] += c
        mins[at] = np.minimum(mins[at], lo)
        maxs[at] = np.maximum(maxs[at], hi)
    ranks = [quantile_ranks(counts, q) for q in probabilities]
    wanted = {}
    for _, below, above in ranks:
        for g in range(keys.size):
            for r in (int(below[g]), int(above[g])):
                wanted[(g, r)] = (float(mins[g]), float(maxs[g]), int(counts[g]))
    found = order_statistics(
        frame,
        source,
        args,
        keys if grouped else None,
        wanted,
        bins=bins,
        fetch_limit=fetch_limit,
    )
    quantiles = []
    for h, below, above in ranks:
        v_lo = np.array([found[(g, int(r))] for g, r in enumerate(below)])
        v_hi = np.array([found[(g, int(r))] for g, r in enumerate(above)])
        if grouped:
            quantiles.append(interpolate_quantile(v_lo, v_hi, h, below))
        else:
            # np.quantile's own interpolation between the two order statistics: on [x_k,
            # x_k+1] at h - k it takes the same steps as np.quantile on all n values at p
            pair = np.array([v_lo[0], v_hi[0]])
            quantiles.append(np.atleast_1d(np.quantile(pair, h[0] - below[0])))
    return (keys if grouped else None), quantiles
