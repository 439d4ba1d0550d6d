"""``balance`` on a dask DataFrame: grouped moments per partition, reduced, then the same table.

Two passes, as the in-memory two-pass variances: sums per (time, arm) cell (counts, weights,
x and w x) give the means; then sums of squared deviations from those means give the
variances.  The SMD, variance ratio and table are the in-memory code
(``msm.diagnostics._balance``).  KS: exact, by branch and bound over value bins
(``msm._dask.ks``), with few rows brought to the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm._dask.ks import ks_statistics
from msm._dask.partitions import (
    arrange,
    check_columns,
    compute_each,
    partitions_of,
    persist_each,
    require_dask,
)
from msm._dask.weights import DaskWeights, final_weights, partition_weights
from msm._formula import parse_terms
from msm.diagnostics._balance import check_definitions, check_statistics, tabulate
from msm.diagnostics._inputs import is_level_name, resolve_inputs, time_groups


@dataclass(frozen=True)
class BalanceSpec:
    treatment: str | None
    covariates: object
    weights: object  # None, a column name, or (PartitionSpec, models) to recompute them from
    by: str | None
    id: str | None
    time: str | None
    absorbing: bool | None
    risk_set: bool | None
    from_rows: bool = False  # read a DaskWeights' persisted rows (aligned with the partitions)
    truncation: object = None  # the DaskWeights' truncation, with from_rows


@dataclass(eq=False)
class PreparedBalance:
    """One partition's compared rows, checked once (``msm.diagnostics._inputs``)."""

    keys: np.ndarray  # the partition's groups (times, or one group)
    group: np.ndarray  # each compared row's group among ``keys``
    values: np.ndarray | None  # each compared row's ``by`` value (None: one group)
    a: np.ndarray  # treated (0/1)
    w: np.ndarray
    X: np.ndarray
    names: list
    binary: np.ndarray
    n: int
    n_compared: int
    meta: tuple
    k: int = 0  # ``w`` is the partition's weights times 2**-k (its own exponent)


def prepare_inputs(pair, spec: BalanceSpec) -> PreparedBalance | None:
    """Check one partition's inputs as ``msm.balance`` does, once per call."""
    part, rows = pair
    if len(part) == 0:
        return None
    weights = spec.weights
    if spec.from_rows:
        weights = final_weights(rows, spec.truncation)
    elif isinstance(weights, tuple):
        weights = partition_weights(part, *weights)["weight"].to_numpy()
    inputs = resolve_inputs(
        part,
        treatment=spec.treatment,
        covariates=spec.covariates,
        weights=weights,
        time=spec.time,
        id=spec.id,
        absorbing=spec.absorbing,
        risk_set=spec.risk_set,
        by=spec.by,
        caller="balance",
    )
    if any(is_level_name(name) for name in inputs.names):
        raise NotImplementedError(
            "categorical covariates are not supported by the Dask balance yet (their levels "
            "may differ between partitions): make 0/1 columns, or use pandas"
        )
    mask = inputs.compared
    keys, group = time_groups(inputs.by_values, mask)
    return PreparedBalance(
        keys=keys,
        group=group,
        values=None if inputs.by_values is None else inputs.by_values[mask],
        a=inputs.a[mask].astype(np.int8),
        w=np.ascontiguousarray(inputs.w[mask]),
        X=np.ascontiguousarray(inputs.X[mask]),
        names=inputs.names,
        binary=inputs.binary,
        n=inputs.n,
        n_compared=int(mask.sum()),
        meta=(inputs.treatment, inputs.by, inputs.risk_set),
        k=inputs.weight_exponent,
    )


def _exponent(prep) -> int | None:
    return None if prep is None else prep.k


def _cells(prep: PreparedBalance, keys=None, k: int = 0):
    """Cell number (group * 2 + arm) of each compared row (groups among ``keys`` when given),
    and the weights times 2**-k (one exponent for every partition: exact, and the sums of
    all partitions add up)."""
    if keys is None:
        keys, group = prep.keys, prep.group
    elif prep.values is None:
        group = np.zeros(prep.a.size, dtype=np.int64)
    else:
        group = np.searchsorted(keys, prep.values).astype(np.int64)
    w = np.ldexp(prep.w, prep.k - k) if prep.k != k else prep.w
    return keys, group * 2 + prep.a.astype(np.int64), w, prep.X


def _first(prep, k: int):
    if prep is None:
        return None
    keys, key, w, X = _cells(prep, None, k)
    cells = 2 * keys.size
    sums = {
        "count": np.bincount(key, minlength=cells).astype(np.float64),
        "wsum": np.bincount(key, weights=w, minlength=cells),
        "w2sum": np.bincount(key, weights=w * w, minlength=cells),
        "x": np.stack([np.bincount(key, weights=x, minlength=cells) for x in X.T], axis=1),
        "wx": np.stack([np.bincount(key, weights=w * x, minlength=cells) for x in X.T], axis=1),
    }
    group = key // 2
    low = np.full((keys.size, X.shape[1]), np.inf)
    high = np.full((keys.size, X.shape[1]), -np.inf)
    np.minimum.at(low, group, X)
    np.maximum.at(high, group, X)
    return {
        "keys": keys,
        "sums": sums,
        "low": low,
        "high": high,
        "names": prep.names,
        "binary": prep.binary,
        "n": prep.n,
        "n_compared": prep.n_compared,
        "meta": prep.meta,
    }


def _second(prep, keys, mean_u, mean_w, k: int):
    if prep is None:
        return None
    _, key, w, X = _cells(prep, keys, k)
    cells = 2 * keys.size
    dev_u = X - mean_u[key]
    dev_w = X - mean_w[key]
    return (
        np.stack([np.bincount(key, weights=d * d, minlength=cells) for d in dev_u.T], axis=1),
        np.stack([np.bincount(key, weights=w * d * d, minlength=cells) for d in dev_w.T], axis=1),
    )


def _ks_rows(prep, keys, p: int, k: int = 0):
    """Group number, treated, weight and covariates of one partition's compared rows."""
    if prep is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), np.empty(0), np.empty((0, p))
    _, key, w, X = _cells(prep, keys, k)
    return key // 2, key % 2 == 1, w, np.asarray(X, dtype=np.float64)


def balance(
    data,
    *,
    treatment: str | None = None,
    covariates,
    weights=None,
    by: str | None = None,
    id: str | None = None,
    time: str | None = None,
    absorbing: bool | None = None,
    risk_set: bool | None = None,
    stats: Sequence[str] = ("smd", "vr", "ks"),
    thresholds: dict[str, float | None] | None = None,
    binary: str = "std",
    sd_denominator: str = "pooled",
    weights_as: str = "cumulative",
    multivariate: bool = True,
):
    """``msm.balance`` for a dask DataFrame: SMD, variance ratio and KS, as in memory.

    ``weights`` is a ``DaskWeights``, a column name or None.  With a risk set (absorbing
    treatment) rows are arranged so each subject sits in one partition.
    """
    require_dask()
    stats, limits = check_statistics(stats, thresholds)  # the in-memory rule
    definitions = check_definitions(binary, sd_denominator, weights_as)
    if weights_as != "cumulative":
        raise NotImplementedError(
            "weights_as='final' is not supported by the Dask balance yet: use pandas"
        )
    label = None
    rows, truncation = None, None
    if isinstance(weights, DaskWeights):
        s = weights.settings
        treatment = treatment if treatment is not None else s["treatment"]
        id = id if id is not None else weights.spec.id
        time = time if time is not None else weights.spec.time
        absorbing = absorbing if absorbing is not None else s["absorbing"]
        label = f"{'stabilized' if s['stabilized'] else 'unstabilized'} IPTW"
        if weights.aligned_with(data):  # read the weights kept by iptw
            columns = []
            rows, truncation = weights.rows, weights.spec.truncation
            weights = None
        else:  # recompute them from their columns and models
            columns = list(weights.spec.columns)
            weights = (weights.spec, weights.models)
    elif isinstance(weights, str):
        label = f"column {weights!r}"
        columns = [weights]
    elif weights is None:
        columns = []
    else:
        raise TypeError("weights for a dask DataFrame must be DaskWeights, a column name or None")
    terms = parse_terms(covariates, data._meta, "balance covariates")
    categorical = [c for c in terms.columns if not pd.api.types.is_numeric_dtype(data._meta[c])]
    if categorical or "C(" in terms.text:
        raise NotImplementedError(
            "categorical covariates are not supported by the Dask balance yet (their levels "
            f"may differ between partitions{'; ' + repr(categorical) if categorical else ''}): "
            "make 0/1 columns, or use pandas"
        )
    columns += [c for c in (id, time, by, treatment) if c is not None] + list(terms.columns)
    check_columns(data, columns, "balance")
    needs_layout = id is not None and time is not None and (absorbing or risk_set)
    if needs_layout and rows is None:
        frame = arrange(data, id, columns).frame
    else:  # with the weights' rows: the layout iptw checked
        frame = data[list(dict.fromkeys(columns))]
    spec = BalanceSpec(
        treatment, covariates, weights, by, id, time, absorbing, risk_set, rows is not None,
        truncation,
    )  # fmt: skip
    # every partition checked once, its compared rows kept on the workers
    parts = partitions_of(frame)
    prepared = persist_each(
        prepare_inputs, [(p, None if rows is None else rows[i]) for i, p in enumerate(parts)], spec
    )

    exponents = [e for e in compute_each(_exponent, prepared) if e is not None]
    scale = max(exponents) if exponents else 0  # one power of two for every partition
    first = [r for r in compute_each(_first, prepared, scale) if r is not None]
    keys = np.unique(np.concatenate([r["keys"] for r in first]))
    p = len(first[0]["names"])
    cells = 2 * keys.size
    total = {k: np.zeros(cells) for k in ("count", "wsum", "w2sum")}
    total.update({k: np.zeros((cells, p)) for k in ("x", "wx")})
    low = np.full((keys.size, p), np.inf)
    high = np.full((keys.size, p), -np.inf)
    for r in first:  # partition order: the same sums on any scheduler
        at = np.searchsorted(keys, r["keys"])
        rows = (2 * at[:, None] + np.arange(2)).ravel()
        for k, v in r["sums"].items():
            total[k][rows] += v
        low[at] = np.minimum(low[at], r["low"])
        high[at] = np.maximum(high[at], r["high"])
    count, wsum, w2sum = total["count"], total["wsum"], total["w2sum"]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_u = total["x"] / count[:, None]
        mean_w = total["wx"] / wsum[:, None]
    second = [r for r in compute_each(_second, prepared, keys, mean_u, mean_w, scale) if r]
    ss_u = sum(r[0] for r in second)
    ss_w = sum(r[1] for r in second)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof_u = np.where(count > 1, count - 1.0, np.nan)
        dof_w = wsum - w2sum / wsum
        dof_w = np.where(dof_w > 0, dof_w, np.nan)
        var_u = ss_u / dof_u[:, None]
        var_w = ss_w / dof_w[:, None]
    g = keys.size
    moments = {
        "count": count.reshape(g, 2),
        "wsum": wsum.reshape(g, 2),
        "w2sum": w2sum.reshape(g, 2),
        "mean_u": mean_u.reshape(g, 2, p),
        "mean_w": mean_w.reshape(g, 2, p),
        "var_u": var_u.reshape(g, 2, p),
        "var_w": var_w.reshape(g, 2, p),
    }
    treatment, by_name, risk = first[0]["meta"]
    summary = _Summary(
        names=first[0]["names"],
        binary=np.logical_and.reduce([r["binary"] for r in first]),
        by=by_name,
        treatment=treatment,
        risk_set=risk,
        weights_label=label,
        n=sum(r["n"] for r in first),
        weight_exponent=scale,
    )
    ks = None
    if "ks" in stats:
        ks = ks_statistics(
            prepared,
            _ks_rows,
            (keys, p, scale),
            g,
            p,
            {False: moments["count"], True: moments["wsum"]},
            (low, high),
        )
    n_compared = sum(r["n_compared"] for r in first)
    return tabulate(
        summary, keys, moments, ks, stats, limits, n_compared, definitions, multivariate
    )


@dataclass(frozen=True)
class _Summary:
    names: list
    binary: np.ndarray
    by: str | None
    treatment: str
    risk_set: bool
    weights_label: str | None
    n: int
    weight_exponent: int = 0
