"""Partition layout and the distributed Newton pass.

Layout: every subject's rows must sit in one partition.  ``arrange`` checks this from the
smallest and largest id of each partition (one pass over the id column); when the ranges
overlap it shuffles the frame with ``sort_values(id)`` (rows with equal ids go to the same
partition), persists the result and checks again.  Within a partition rows may be in any
order: each partition is sorted by (id, time) by the in-memory ``msm.panel.build_panel``.

Fitting: ``fit_newton`` runs ``msm._glm.newton`` -- the in-memory iteration, its checks and
its warnings -- with a pass that runs ``msm._kernels.glm_irls_pass`` on every partition and
adds the results on the client in partition order, so the answer is the same on any
scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm import _kernels
from msm._glm import newton, start_intercept, suspects
from msm.panel import DataError

# build(partition) -> (X, y, w, offset, names), or None for an empty partition
Build = Callable[[pd.DataFrame], tuple | None]


def require_dask():
    """Import dask (and dask.dataframe), or an ImportError saying how to install it."""
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise ImportError('msm on a dask DataFrame needs dask: pip install "msm[dask]"') from exc
    return dask


def compute_each(function: Callable, frame, *args) -> list:
    """``function(partition, *args)`` on every partition; the results in partition order."""
    dask = require_dask()
    delayed = dask.delayed(function, pure=True)
    tasks = [delayed(part, *args) for part in frame.to_delayed()]
    return list(dask.compute(*tasks))


def check_columns(frame, columns: Sequence[str], role: str) -> None:
    """Every named column must be in the dask frame (DataError as in memory)."""
    missing = [c for c in dict.fromkeys(columns) if c is not None and c not in frame.columns]
    if missing:
        raise DataError(
            missing[0],
            f"column not found in data ({role}); missing: {', '.join(map(repr, missing))}; "
            f"available: {', '.join(map(repr, list(frame.columns)[:12]))}",
        )


def _id_range(part: pd.DataFrame, id: str) -> tuple:
    ids = part[id].dropna()
    if ids.empty:
        return (len(part), None, None)
    return (len(part), ids.min(), ids.max())


def _ranges_disjoint(ranges: list[tuple]) -> bool:
    spans = sorted((lo, hi) for _, lo, hi in ranges if lo is not None)
    return all(prev_hi < lo for (_, prev_hi), (lo, _) in zip(spans[:-1], spans[1:]))


@dataclass(frozen=True)
class Layout:
    """A frame whose subjects each sit in one partition."""

    frame: object  # dask DataFrame
    id: str
    shuffled: bool
    n_rows: int


def arrange(frame, id: str, columns: Sequence[str] | None = None) -> Layout:
    """Keep ``columns`` (all when None) and make sure no ``id`` spans two partitions.

    Shuffles with ``sort_values(id)`` (and persists) when the partitions' id ranges overlap.
    The caller's frame is not modified; row labels are kept.
    """
    check_columns(frame, [id], "id")
    if columns is not None:
        check_columns(frame, columns, "columns used")
        frame = frame[list(dict.fromkeys([id, *columns]))]
    ranges = compute_each(_id_range, frame[[id]], id)
    n_rows = int(sum(r[0] for r in ranges))
    if n_rows == 0:
        raise DataError(None, "data is empty (0 rows)")
    if _ranges_disjoint(ranges):
        return Layout(frame, id, False, n_rows)
    frame = frame.sort_values(id).persist()
    if not _ranges_disjoint(compute_each(_id_range, frame[[id]], id)):  # pragma: no cover
        raise DataError(id, "could not arrange the rows so each subject is in one partition")
    return Layout(frame, id, True, n_rows)


# ---------------------------------------------------------------------------------------------
# the distributed Newton pass


def _summary(part: pd.DataFrame, build: Build):
    built = build(part)
    if built is None:
        return None
    X, y, w, offset, names = built
    return {
        "names": list(names),
        "n": X.shape[0],
        "sw": float(w.sum()),
        "swy": float((w * y).sum()),
        "sy": float(y.sum()),
        "offset": bool(np.any(offset != 0.0)),
        "colsum": X.sum(axis=0),
        "colsq": (X * X).sum(axis=0),
    }


def _pass(part: pd.DataFrame, build: Build, beta: np.ndarray, family: int):
    built = build(part)
    if built is None:
        return None
    X, y, w, offset, _ = built
    return _kernels.glm_irls_pass(X, y, w, offset, beta, family, np.empty(X.shape[0]))


def reduce_passes(results: list) -> tuple:
    """Add the partitions' fused passes in partition order."""
    results = [r for r in results if r is not None]
    deviance = pearson = 0.0
    score = info = None
    mu_min, mu_max = np.inf, -np.inf
    for dev, pear, s, i, lo, hi in results:
        deviance += dev
        pearson += pear
        score = s.copy() if score is None else score + s
        info = i.copy() if info is None else info + i
        mu_min = min(mu_min, lo)
        mu_max = max(mu_max, hi)
    return deviance, pearson, score, info, mu_min, mu_max


@dataclass(frozen=True, eq=False)
class NewtonFit:
    beta: np.ndarray
    last: tuple  # the reduced pass at beta
    converged: bool
    n_iter: int
    names: list[str]
    n: int  # rows fitted
    sum_y: float  # unweighted sum of the outcome


def fit_newton(
    frame,
    build: Build,
    family: int,
    model_name: str,
    outcome: str,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
    stacklevel: int = 2,
    check: Callable[[int, float], None] | None = None,
) -> NewtonFit:
    """Fit a canonical-link GLM on a dask frame by ``msm._glm.newton``, pass per partition.

    ``build(partition)`` returns the partition's ``(X, y, w, offset, names)`` as the in-memory
    path builds them.  Starts at zero with the intercept at the weighted mean outcome (the
    in-memory start; no subsample warm start), so the estimate is the in-memory one.
    ``check(n, sum_y)``, if given, sees the row count and outcome total of the first pass
    before any Newton step (and may raise).
    """
    summaries = [s for s in compute_each(_summary, frame, build) if s is not None]
    if not summaries or sum(s["n"] for s in summaries) == 0:
        raise DataError(outcome, f"{model_name}: no rows to fit the model on")
    if check is not None:
        check(sum(s["n"] for s in summaries), float(sum(s["sy"] for s in summaries)))
    names = summaries[0]["names"]
    for s in summaries[1:]:
        if s["names"] != names:
            raise DataError(
                None,
                f"{model_name}: the partitions give different design columns ({names} and "
                f"{s['names']}); categorical terms need the same levels in every partition "
                "(use a numeric coding)",
            )
    n = sum(s["n"] for s in summaries)
    sw = sum(s["sw"] for s in summaries)
    swy = sum(s["swy"] for s in summaries)
    start = np.zeros(len(names))
    if "Intercept" in names and sw > 0 and not any(s["offset"] for s in summaries):
        start[names.index("Intercept")] = start_intercept(
            family, np.array([swy / sw]), np.array([sw]), np.zeros(1)
        )
    colsum = sum(s["colsum"] for s in summaries)
    colsq = sum(s["colsq"] for s in summaries)
    mean = colsum / n
    sd = np.sqrt(np.maximum(colsq / n - mean * mean, 0.0)) if n > 1 else np.ones(len(names))

    def glm_pass(beta: np.ndarray) -> tuple:
        return reduce_passes(compute_each(_pass, frame, build, beta, family))

    beta, last, converged, n_iter = newton(
        glm_pass,
        start,
        names,
        model_name,
        family,
        suspects=lambda b: suspects(b, sd, names),
        max_iter=max_iter,
        tol=tol,
        stacklevel=stacklevel + 1,
    )
    return NewtonFit(
        beta=beta,
        last=last,
        converged=converged,
        n_iter=n_iter,
        names=names,
        n=n,
        sum_y=float(sum(s["sy"] for s in summaries)),
    )
