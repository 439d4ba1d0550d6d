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
from functools import partial

import numpy as np
import pandas as pd

from msm import _kernels
from msm._glm import (
    BINOMIAL,
    POISSON,
    Centring,
    NeedsCentring,
    check_not_constant,
    inverse,
    map_back,
    newton,
    suspects,
    uncentred_form,
)
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
    positive = w > 0
    fitted = X[positive]
    wp = w[positive]
    return {
        "names": list(names),
        "n": X.shape[0],
        "sw": float(w.sum()),
        "swy": float((w * y).sum()),
        "swo": float((w * offset).sum()),
        "swexpo": float((w * np.exp(offset)).sum()),
        "swr": float((w * (y - offset)).sum()),
        "sy": float(y.sum()),
        "colsum": X.sum(axis=0),
        "colsq": (X * X).sum(axis=0),
        # the intercept: a column of ones (the in-memory engine's rule, msm._glm)
        "ones": np.all(X == 1.0, axis=0) if X.shape[0] else None,
        # for a design centred for accuracy: weighted column sums and ranges, w > 0 rows
        "n_pos": int(positive.sum()),
        "swpos": float(wp.sum()),
        "wcolsum": (fitted * wp[:, None]).sum(axis=0),
        "colmin": fitted.min(axis=0) if fitted.shape[0] else None,
        "colmax": fitted.max(axis=0) if fitted.shape[0] else None,
    }


def _pass(part: pd.DataFrame, build: Build, beta: np.ndarray, family: int):
    built = build(part)
    if built is None:
        return None
    X, y, w, offset, _ = built
    return _kernels.glm_irls_pass(X, y, w, offset, beta, family, np.empty(X.shape[0]))


def centred_build(part: pd.DataFrame, build: Build, centring: Centring):
    """``build(part)`` with its design centred as ``centring`` says (the fit's design)."""
    built = build(part)
    if built is None:
        return None
    X, y, w, offset, names = built
    return centring.design(X), y, w, offset, names


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
    """A canonical-link GLM fitted over partitions (``fit_newton``).

    ``beta``, ``information`` and ``covariance`` (the inverse information) are of the design
    as built; ``last`` is the reduced pass at the estimate on the design the fit was computed
    on: centred when ``centring`` is set (a covariate far from 0 relative to its spread, as
    in memory), in which case ``centring`` holds the centred coefficients and information.
    """

    beta: np.ndarray
    last: tuple  # the reduced pass at beta (deviance, pearson, score, information, ...)
    converged: bool
    n_iter: int
    names: list[str]
    n: int  # rows fitted
    sum_y: float  # unweighted sum of the outcome
    information: np.ndarray
    covariance: np.ndarray
    centring: Centring | None = None


def _start(family: int, names: list[str], intercept: int | None, s: dict) -> np.ndarray:
    """The in-memory start (``msm._glm.start_intercept``) from the partitions' sums."""
    start = np.zeros(len(names))
    if intercept is None or not s["sw"] > 0:
        return start
    total = s["sw"]
    if family == BINOMIAL:
        ybar = s["swy"] / total
        start[intercept] = float(np.log(ybar / (1.0 - ybar)) - s["swo"] / total)
    elif family == POISSON:
        start[intercept] = float(np.log(s["swy"] / s["swexpo"]))
    else:
        start[intercept] = float(s["swr"] / total)
    return start


def fit_newton(
    frame,
    build: Build,
    family: int,
    model_name: str,
    outcome: str,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
    check: Callable[[int, float], None] | None = None,
) -> NewtonFit:
    """Fit a canonical-link GLM on a dask frame by ``msm._glm.newton``, pass per partition.

    ``build(partition)`` returns the partition's ``(X, y, w, offset, names)`` as the in-memory
    path builds them.  Starts at zero with the intercept at the weighted mean outcome (the
    in-memory start; no subsample warm start), so the estimate is the in-memory one.  As in
    memory (``msm._glm.fit_glm``) the intercept is the design's column of ones, the rank is
    judged on the centred information, and a design with a covariate far from 0 relative to
    its spread (``l + 1e5``) is fitted centred at the weighted column means and transformed
    back.  ``check(n, sum_y)``, if given, sees the row count and outcome total of the first
    pass before any Newton step (and may raise).
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
    summaries = [s for s in summaries if s["n"] > 0]
    total = {k: sum(s[k] for s in summaries) for k in ("n", "sw", "swy", "swo", "swexpo", "swr")}
    ones = np.logical_and.reduce([s["ones"] for s in summaries])
    intercept = int(np.argmax(ones)) if ones.any() else None
    start = _start(family, names, intercept, total)
    n = total["n"]
    colsum = sum(s["colsum"] for s in summaries)
    colsq = sum(s["colsq"] for s in summaries)
    mean = colsum / n
    sd = np.sqrt(np.maximum(colsq / n - mean * mean, 0.0)) if n > 1 else np.ones(len(names))

    def run(fit_build: Build, shifted_ok: bool) -> tuple:
        def glm_pass(beta: np.ndarray) -> tuple:
            return reduce_passes(compute_each(_pass, frame, fit_build, beta, family))

        return newton(
            glm_pass,
            start,
            names,
            model_name,
            family,
            suspects=lambda b: suspects(b, sd, names),
            max_iter=max_iter,
            tol=tol,
            intercept=intercept,
            shifted_ok=shifted_ok,
        )

    centring = None
    try:
        beta, last, converged, n_iter = run(build, intercept is not None)
        information, covariance = last[3], inverse(last[3])
    except NeedsCentring:
        centring = _centring(summaries, names, intercept, model_name)
        gamma, last, converged, n_iter = run(
            partial(centred_build, build=build, centring=centring), False
        )
        centring = Centring(centring.centre, intercept, gamma, last[3])
        beta = gamma.copy()
        beta[intercept] -= centring.centre @ gamma
        A = centring.transform()
        information = uncentred_form(A, last[3])
        covariance = map_back(A, inverse(last[3]))
    return NewtonFit(
        beta=beta,
        last=last,
        converged=converged,
        n_iter=n_iter,
        names=names,
        n=n,
        sum_y=float(sum(s["sy"] for s in summaries)),
        information=information,
        covariance=covariance,
        centring=centring,
    )


def _centring(summaries: list[dict], names: list[str], intercept: int, model_name: str):
    """The in-memory centre (weighted column means on the rows with w > 0), after the
    in-memory check for columns constant on those rows."""
    rows = [s for s in summaries if s["n_pos"] > 0]
    others = [j for j in range(len(names)) if j != intercept]
    low = np.min([s["colmin"] for s in rows], axis=0)
    high = np.max([s["colmax"] for s in rows], axis=0)
    n_fit = sum(s["n_pos"] for s in rows)
    check_not_constant((high == low)[others], [names[j] for j in others], model_name, n_fit)
    centre = sum(s["wcolsum"] for s in rows) / sum(s["swpos"] for s in rows)
    centre[intercept] = 0.0
    return Centring(centre, intercept, np.zeros(len(names)))
