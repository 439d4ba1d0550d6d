"""Partition layout, partitions prepared once, and the distributed Newton pass.

Layout: every subject's rows must sit in one partition.  ``arrange`` checks this from the
smallest and largest id of each partition (one pass over the id column); when the ranges
overlap it shuffles the frame with ``sort_values(id)`` (rows with equal ids go to the same
partition), persists the result and checks again.  Within a partition rows may be in any
order: each partition is sorted by (id, time) by the in-memory ``msm.panel.build_panel``.

Prepared partitions: each front end validates (and sorts) every partition once per call and
keeps what its passes read with ``persist_each``: the design columns of every model, each in
the smallest dtype that holds its values bit for bit (``Columns``), so a pass rebuilds the
float64 design with numpy and no partition is read, validated or sorted twice.

Fitting: ``fit_models`` runs ``msm._glm.newton_iteration`` -- the in-memory iteration, its
checks and its warnings -- for several models at once: each round is one task per partition
that runs ``msm._kernels.glm_irls_pass`` for every model still iterating, and the client adds
the results in a fixed partition order, so the answer is the same on any scheduler.  Newton
starts where the in-memory fit starts: from the fit on the same subsample (the rows
``msm._glm.warm_start_rows`` takes in the in-memory row order, ``msm._glm.warm_start``) when
there are enough rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm import _kernels
from msm._glm import (
    BINOMIAL,
    POISSON,
    Centring,
    NeedsCentring,
    check_column_sizes,
    check_not_constant,
    inverse,
    map_back,
    newton_iteration,
    raise_monotone,
    suspects,
    uncentred_form,
    warm_start,
    warm_start_sample,
    warm_start_step,
    warm_start_stratified,
)
from msm.panel import DataError


def is_dask(data: object) -> bool:
    """True for a dask DataFrame (or Series), judged without importing dask."""
    return type(data).__module__.startswith("dask") and hasattr(data, "npartitions")


def require_dask():
    """Import dask (and dask.dataframe), or an ImportError saying how to install it."""
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise ImportError('msm on a dask DataFrame needs dask: pip install "msm[dask]"') from exc
    return dask


def partitions_of(source) -> list:
    """The partitions as delayed objects: a dask frame's, or a list of them (persisted).

    A frame's partitions are taken as laid out (``optimize_graph=False``): dask's optimizer
    fuses small parquet partitions by how many columns are read, and every call that reads
    a frame must see the same partitions, whichever of its columns it reads.
    """
    if isinstance(source, list | tuple):
        return list(source)
    return list(source.to_delayed(optimize_graph=False))


def compute_each(function: Callable, source, *args) -> list:
    """``function(partition, *args)`` on every partition; the results in partition order.

    ``source`` is a dask frame or a list of (persisted) delayed partitions (``persist_each``).
    """
    dask = require_dask()
    delayed = dask.delayed(function, pure=True)
    tasks = [delayed(part, *args) for part in partitions_of(source)]
    return list(dask.compute(*tasks))


def compute_with(function: Callable, source, arguments: list) -> list:
    """``function(partition, arguments[i])`` on partition i; the results in partition order."""
    dask = require_dask()
    delayed = dask.delayed(function, pure=True)
    tasks = [delayed(part, a) for part, a in zip(partitions_of(source), arguments)]
    return list(dask.compute(*tasks))


def persist_each(function: Callable, source, *args) -> list:
    """``function(partition, *args)`` on every partition, kept where it was computed.

    Returns delayed objects in partition order that later passes (``compute_each``) read
    without recomputing; on a distributed cluster they stay on the workers, and one lost
    with a worker is recomputed from the same inputs (the same numbers).
    """
    dask = require_dask()
    delayed = dask.delayed(function, pure=True)
    return list(dask.persist(*[delayed(part, *args) for part in partitions_of(source)]))


def check_columns(frame, columns: Sequence[str], role: str) -> None:
    """Every named column must be in the dask frame (DataError as in memory)."""
    missing = [c for c in dict.fromkeys(columns) if c is not None and c not in frame.columns]
    if missing:
        raise DataError(
            missing[0],
            f"column not found in data ({role}); missing: {', '.join(map(repr, missing))}; "
            f"available: {', '.join(map(repr, list(frame.columns)[:12]))}",
        )


def id_range(part: pd.DataFrame, id: str) -> tuple:
    """(rows, smallest id, largest id) of one partition."""
    ids = part[id].dropna()
    if ids.empty:
        return (len(part), None, None)
    return (len(part), ids.min(), ids.max())


def ranges_disjoint(ranges: list[tuple]) -> bool:
    """Whether no id range (``id_range``) overlaps another: each subject in one partition."""
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
    ranges = compute_each(id_range, frame[[id]], id)
    n_rows = int(sum(r[0] for r in ranges))
    if n_rows == 0:
        raise DataError(None, "data is empty (0 rows)")
    if ranges_disjoint(ranges):
        return Layout(frame, id, False, n_rows)
    frame = frame.sort_values(id).persist()
    if not ranges_disjoint(compute_each(id_range, frame[[id]], id)):  # pragma: no cover
        raise DataError(id, "could not arrange the rows so each subject is in one partition")
    return Layout(frame, id, True, n_rows)


# ---------------------------------------------------------------------------------------------
# columns kept compactly


@dataclass(frozen=True)
class Constant:
    """A column whose every value is the same float (the intercept, unit weights)."""

    value: float


def compact(values: np.ndarray):
    """``values`` (float64) as a ``Constant`` or in the smallest dtype that holds every value
    bit for bit (int8, int16, int32, float32 or float64): exact, and the persisted designs
    of a 0/1 treatment or a visit number take one byte a row."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    bits = values.view(np.int64)
    if values.size and np.all(bits == bits[0]):
        return Constant(float(values[0]))
    with np.errstate(invalid="ignore", over="ignore"):
        for dtype in (np.int8, np.int16, np.int32, np.float32):
            if values.size and not (-(2.0**31) <= values.min() and values.max() < 2.0**31):
                if dtype is not np.float32:
                    continue
            small = values.astype(dtype)
            if np.array_equal(small.astype(np.float64).view(np.int64), bits):
                return small
    return values


def expand(column, n: int, rows: np.ndarray | None = None) -> np.ndarray:
    """A ``compact`` column back as float64 (on ``rows`` of it when given)."""
    if isinstance(column, Constant):
        return np.full(n, column.value)
    values = column if rows is None else column[rows]
    return values.astype(np.float64)


class Columns:
    """Design columns of several models on one partition's rows, each stored once.

    A model's column equal (bit for bit) to a stored column of the same name over all rows
    is kept as a reference to it (sliced to the model's rows when rebuilt).
    """

    def __init__(self, n_rows: int):
        self.n_rows = n_rows
        self.full: dict[str, object] = {}  # name -> compact column over all rows
        self.models: dict[str, tuple] = {}  # key -> (rows or None, names, refs, y, w, offset)

    def add(self, key, X, names, y, rows=None, w=None, offset=None) -> None:
        """Keep model ``key``'s design ``X`` (on ``rows``, a boolean mask; None: all rows)."""
        refs = []
        for j, name in enumerate(names):
            values = np.ascontiguousarray(X[:, j])
            column = compact(values)
            if isinstance(column, Constant):
                refs.append(column)
                continue
            stored = self.full.get(name)
            if stored is not None and not isinstance(stored, Constant):
                whole = stored if rows is None else stored[rows]
                if np.array_equal(whole.astype(np.float64).view(np.int64), values.view(np.int64)):
                    refs.append(name)
                    continue
            if rows is None and stored is None:
                self.full[name] = column
                refs.append(name)
            else:
                refs.append(column)
        n = int(X.shape[0])
        self.models[key] = (
            rows,
            list(names),
            refs,
            compact(y),
            Constant(1.0) if w is None else w,
            Constant(0.0) if offset is None else compact(offset),
            n,
        )

    def rows(self, key):
        return self.models[key][0]

    def names(self, key) -> list[str]:
        return self.models[key][1]

    def outcome(self, key, exponent: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(y, w)`` of model ``key`` as float64 (``w`` times ``2**-exponent``)."""
        _, _, _, y, w, _, n = self.models[key]
        return expand(y, n), _weights(w, n, exponent)

    def design(self, key, exponent: int = 0) -> tuple | None:
        """``(X, y, w, offset)`` of model ``key`` as float64 arrays, or None without rows.

        ``w`` is the weights times ``2**-exponent`` (exact).
        """
        rows, names, refs, y, w, offset, n = self.models[key]
        if n == 0:
            return None
        X = np.empty((n, len(names)))
        for j, ref in enumerate(refs):
            if isinstance(ref, Constant):
                X[:, j] = ref.value
            elif isinstance(ref, str):
                column = self.full[ref]
                X[:, j] = column if rows is None else column[rows]
            else:
                X[:, j] = ref
        return X, expand(y, n), _weights(w, n, exponent), expand(offset, n)


def _weights(w, n: int, exponent: int) -> np.ndarray:
    w = expand(w, n) if isinstance(w, Constant) else np.ascontiguousarray(w, np.float64)
    return np.ldexp(w, -exponent) if exponent else w


# ---------------------------------------------------------------------------------------------
# the distributed Newton pass, for every model at once


def _summary(X, y, w, offset, names):
    positive = w > 0
    every = bool(positive.all())
    fitted = X if every else X[positive]
    wp = w if every else w[positive]
    unit = bool(np.all(wp == 1.0))
    colsum = X.sum(axis=0)
    colmin = fitted.min(axis=0) if fitted.shape[0] else None
    colmax = fitted.max(axis=0) if fitted.shape[0] else None
    if not X.shape[0]:
        ones = None
    elif every:  # a column of ones: its smallest and largest values are 1
        ones = (colmin == 1.0) & (colmax == 1.0)
    else:
        ones = np.all(X == 1.0, axis=0)
    return {
        "names": list(names),
        "n": X.shape[0],
        "sw": float(w.sum()),
        "swy": float((w * y).sum()),
        "swo": float((w * offset).sum()),
        "swexpo": float((w * np.exp(offset)).sum()),
        "swr": float((w * (y - offset)).sum()),
        "sy": float(y.sum()),
        "n_ypos": int(np.count_nonzero(y > 0)),  # for the warm start's subsample
        "colsum": colsum,
        "colsq": np.einsum("ij,ij->j", X, X),
        # the intercept: a column of ones (the in-memory engine's rule, msm._glm)
        "ones": ones,
        # for a design centred for accuracy: weighted column sums and ranges, w > 0 rows
        "n_pos": int(positive.sum()),
        "swpos": float(wp.sum()),
        "wcolsum": (colsum if every else fitted.sum(axis=0)) if unit else wp @ fitted,
        "colmin": colmin,
        "colmax": colmax,
    }


def model_summaries(prepared, keys: Sequence[str], exponents: dict | None = None) -> dict:
    """The sums ``fit_models`` starts from, for each model on one prepared partition.

    ``prepared.columns`` is the partition's ``Columns``; a model without rows there is
    summarised as having none (``n`` 0, its names still known).  ``exponents``: the
    weights of model ``key`` are taken times ``2**-exponents[key]``.
    """
    columns: Columns = prepared.columns
    out = {}
    for key in keys:
        built = columns.design(key, (exponents or {}).get(key, 0))
        if built is None:
            out[key] = {"names": columns.names(key), "n": 0}
        else:
            out[key] = _summary(*built, columns.names(key))
    return out


def _samples(prepared, takes: dict) -> dict:
    """The warm start's subsample of each model's rows here (``msm._glm.warm_start_sample``,
    from the partition's first row's position in the in-memory order)."""
    out = {}
    for key, (first, k, stratified, exponent) in takes.items():
        built = prepared.columns.design(key, exponent)
        out[key] = warm_start_sample(first, *built, k, stratified)
    return out


def newton_passes(prepared, requests: dict) -> dict:
    """One Newton round on one prepared partition: the fused pass of every model asked.

    ``requests`` maps a model to ``(beta, family, centring, exponent)``; the design is
    centred as the fit is (``centring``, else as built), the weights times
    ``2**-exponent``.
    """
    out = {}
    for key, (beta, family, centring, exponent) in requests.items():
        built = prepared.columns.design(key, exponent)
        if built is None:
            continue
        X, y, w, offset = built
        if centring is not None:
            X = centring.design(X)
        out[key] = _kernels.glm_irls_pass(X, y, w, offset, beta, family, np.empty(X.shape[0]))
    return out


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
    """A canonical-link GLM fitted over partitions (``fit_models``).

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


@dataclass(frozen=True)
class ModelTask:
    """One model for ``fit_models``: its key in the prepared partitions and how to fit it."""

    key: str
    family: int
    model_name: str
    outcome: str
    max_iter: int = 50
    tol: float = 1e-10
    exponent: int = 0  # fit on the weights times 2**-exponent
    # the outcome model, whose covariance is reported: a likelihood that turns monotone
    # (complete separation) is a DataError, as in memory (msm._glm.fit_glm)
    require_variance: bool = False


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


class _Model:
    """The client's state of one model in ``fit_models``."""

    def __init__(self, task: ModelTask, summaries: list[dict]):
        self.task = task
        name, outcome = task.model_name, task.outcome
        self.counts = [0 if s is None else s["n"] for s in summaries]
        summaries = [s for s in summaries if s is not None]
        if not summaries or sum(s["n"] for s in summaries) == 0:
            raise DataError(outcome, f"{name}: no rows to fit the model on")
        names = summaries[0]["names"]
        for s in summaries[1:]:
            if s["names"] != names:
                raise DataError(
                    None,
                    f"{name}: the partitions give different design columns ({names} and "
                    f"{s['names']}); categorical terms need the same levels in every "
                    "partition (use a numeric coding)",
                )
        rows = [s for s in summaries if s["n"] > 0]
        self.rows = rows
        total = {k: sum(s[k] for s in rows) for k in ("n", "sw", "swy", "swo", "swexpo", "swr")}
        ones = np.logical_and.reduce([s["ones"] for s in rows])
        self.intercept = int(np.argmax(ones)) if ones.any() else None
        self.names = names
        # the in-memory magnitude check, from the partitions' ranges on rows with w > 0
        fitted = [s for s in rows if s["n_pos"] > 0]
        if fitted:
            size = np.max([np.maximum(-s["colmin"], s["colmax"]) for s in fitted], axis=0)
            check_column_sizes(size, names, name, self.intercept)
        self.start = _start(task.family, names, self.intercept, total)
        n = self.n = total["n"]
        colsum = sum(s["colsum"] for s in rows)
        colsq = sum(s["colsq"] for s in rows)
        mean = colsum / n
        self.sd = (
            np.sqrt(np.maximum(colsq / n - mean * mean, 0.0)) if n > 1 else np.ones(len(names))
        )
        self.sum_y = float(sum(s["sy"] for s in rows))
        self.n_ypos = sum(s.get("n_ypos", 0) for s in rows)
        self.sample = None  # the warm start's subsample (X, y, w, offset), once gathered
        self.centring: Centring | None = None
        self.steps = None

    def takes(self) -> list:
        """Per partition (in order), its first row's position, the step, whether the
        subsample is stratified and the weights' exponent, or None (no warm start)."""
        k = warm_start_step(self.n)
        if k is None:
            return [None] * len(self.counts)
        stratified = warm_start_stratified(self.task.family, self.n_ypos)
        out, offset = [], 0
        for count in self.counts:
            out.append((offset, k, stratified, self.task.exponent) if count else None)
            offset += count
        return out

    def begin(self, centring: Centring | None = None) -> np.ndarray:
        """Start (or restart, centred) the Newton iteration; the first beta it asks for."""
        task, names = self.task, self.names
        self.centring = centring
        warm = None
        if self.sample is not None:
            X, y, w, offset = self.sample
            if centring is not None:
                X = centring.design(X)
            warm = warm_start(X, y, w, offset, task.family, names, task.model_name)
        self.steps = newton_iteration(
            self.start,
            names,
            task.model_name,
            task.family,
            warm=warm,
            suspects=lambda b: suspects(b, self.sd, names),
            max_iter=task.max_iter,
            tol=task.tol,
            intercept=self.intercept,
            shifted_ok=centring is None and self.intercept is not None,
            on_singular=(
                functools.partial(raise_monotone, lambda: self.sd, names, task.model_name)
                if task.require_variance
                else None
            ),
        )
        return next(self.steps)

    def centre(self) -> Centring:
        """The in-memory centre (weighted column means on the rows with w > 0), after the
        in-memory check for columns constant on those rows."""
        rows = [s for s in self.rows if s["n_pos"] > 0]
        names, intercept = self.names, self.intercept
        others = [j for j in range(len(names)) if j != intercept]
        low = np.min([s["colmin"] for s in rows], axis=0)
        high = np.max([s["colmax"] for s in rows], axis=0)
        n_fit = sum(s["n_pos"] for s in rows)
        check_not_constant(
            (high == low)[others], [names[j] for j in others], self.task.model_name, n_fit
        )
        centre = sum(s["wcolsum"] for s in rows) / sum(s["swpos"] for s in rows)
        centre[intercept] = 0.0
        return Centring(centre, intercept, np.zeros(len(names)))

    def result(self, done: tuple) -> NewtonFit:
        beta, last, converged, n_iter = done
        centring = None
        if self.centring is None:
            information, covariance = last[3], inverse(last[3])
        else:
            centring = Centring(self.centring.centre, self.intercept, beta, last[3])
            gamma = beta
            beta = gamma.copy()
            beta[self.intercept] -= centring.centre @ gamma
            A = centring.transform()
            information = uncentred_form(A, last[3])
            covariance = map_back(A, inverse(last[3]))
        return NewtonFit(
            beta=beta,
            last=last,
            converged=converged,
            n_iter=n_iter,
            names=self.names,
            n=self.n,
            sum_y=self.sum_y,
            information=information,
            covariance=covariance,
            centring=centring,
        )


def fit_models(
    prepared: list,
    tasks: Sequence[ModelTask],
    summaries: list[dict] | None = None,
    order: Sequence[int] | None = None,
) -> dict[str, NewtonFit]:
    """Fit canonical-link GLMs on prepared partitions, all models in the same passes.

    ``prepared`` are the persisted partitions (each with a ``columns`` attribute, a
    ``Columns`` holding every task's model); ``summaries`` their ``model_summaries``
    (computed here when None).
    ``order`` is the order of the partitions in the in-memory row order (default: as
    given): the warm start's subsample is taken in it, and the partitions' sums are
    added in it.  As in memory (``msm._glm.fit_glm``) Newton starts from the fit on that
    subsample when there are enough rows, else at zero with the intercept at the weighted
    mean outcome; the intercept is the design's column of ones, the rank is judged on the
    centred information, and a design with a covariate far from 0 relative to its spread
    (``l + 1e5``) is fitted centred at the weighted column means and transformed back.
    Each round is one task per partition serving every model still iterating.
    """
    order = list(range(len(prepared))) if order is None else list(order)
    if summaries is None:
        exponents = {t.key: t.exponent for t in tasks}
        summaries = compute_each(model_summaries, prepared, [t.key for t in tasks], exponents)
    models = {t.key: _Model(t, [summaries[i][t.key] for i in order]) for t in tasks}
    takes = [{} for _ in prepared]
    for key, model in models.items():
        for position, take in zip(order, model.takes()):
            if take is not None:
                takes[position][key] = take
    if any(takes):
        samples = compute_with(_samples, prepared, takes)
        for key, model in models.items():
            parts = [samples[i][key] for i in order if key in samples[i]]
            if parts:
                model.sample = tuple(np.concatenate(a) for a in zip(*parts))
    asked = {key: model.begin() for key, model in models.items()}
    done: dict[str, NewtonFit] = {}
    while asked:
        requests = {
            key: (beta, models[key].task.family, models[key].centring, models[key].task.exponent)
            for key, beta in asked.items()
        }
        passes = compute_each(newton_passes, prepared, requests)
        for key in list(asked):  # in the order of the tasks, as in memory
            model = models[key]
            reduced = reduce_passes([passes[i].get(key) for i in order])
            try:
                asked[key] = model.steps.send(reduced)
            except StopIteration as stop:
                done[key] = model.result(stop.value)
                del asked[key]
            except NeedsCentring:
                asked[key] = model.begin(model.centre())
    return {t.key: done[t.key] for t in tasks}
