"""``iptw`` on a dask DataFrame: distributed logistic fits, weights per partition.

Each partition is prepared once per call (``prepare_partition``): the in-memory row checks
and sort (``msm.weights.prepare_panel``) and every model's design on its rows
(``msm._formula.design_rows``), kept compactly on the workers (``msm._dask.partitions.
Columns``).  All the models are fitted together, one task per partition per Newton round
(``msm._dask.partitions.fit_models``), from the in-memory start.  With the coefficients each
partition computes its weights with the in-memory code (``msm.models.logit.log_prob``,
``msm.weights.accumulate``) once; they stay on the workers (``DaskWeights.rows``) for
truncation, ``msm.glm`` and ``msm.balance``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from msm._dask.partitions import (
    Columns,
    Layout,
    ModelTask,
    arrange,
    compact,
    compute_each,
    expand,
    fit_models,
    id_range,
    model_summaries,
    persist_each,
    ranges_disjoint,
    require_dask,
)
from msm._dask.quantiles import type7_quantiles
from msm._formula import design_rows, parse_terms
from msm._glm import BINOMIAL
from msm.models import registry
from msm.models.logit import LogitFit, log_prob
from msm.panel import DataError, Panel
from msm.weights import (
    Spec,
    WeightSpec,
    accumulate,
    apply_bounds,
    not_varying,
    prepare_panel,
    spec_text,
    summarize,
    warn_no_censoring,
    weight_spec,
)

TREATMENT_MODELS = ("denominator", "numerator")
WEIGHT_COLUMNS = ["weight", "treatment_weight", "censoring_weight"]


@dataclass(frozen=True)
class PartitionSpec:
    """What a partition computes: the core's ``WeightSpec`` and, once found, the bounds.

    ``weights`` is the spec ``msm.weights.weight_spec`` validated and parsed on the client
    (the same object the in-memory ``iptw`` computes from); the partitions read its columns
    and models.  ``truncation``: the bounds found by ``iptw(truncate=...)``.
    """

    weights: WeightSpec
    truncation: Truncation | None = None

    @property
    def id(self):
        return self.weights.id

    @property
    def time(self):
        return self.weights.time

    @property
    def treatment(self):
        return self.weights.treatment

    @property
    def censor(self):
        return self.weights.censor

    @property
    def absorbing(self) -> bool:
        return self.weights.absorbing

    @property
    def columns(self) -> tuple:
        """Every column read, once each."""
        return tuple(dict.fromkeys(self.weights.columns))

    @property
    def specs(self) -> dict:
        """Model key -> (right-hand side, role), in the order the models are fitted."""
        return {m.key: (m.rhs, m.role) for m in self.weights.models}


@dataclass(frozen=True, eq=False)
class Truncation:
    """Truncation bounds: one pair, or one per time value (``keys`` sorted)."""

    keys: np.ndarray | None  # time values with truncate_by="time"; None: one pair for all rows
    lower: np.ndarray
    upper: np.ndarray

    def bounds(self, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's lower and upper bound."""
        if self.keys is None:
            return np.full(time.size, self.lower[0]), np.full(time.size, self.upper[0])
        at = np.searchsorted(self.keys, time)
        return self.lower[at], self.upper[at]


def shrink(values: np.ndarray) -> np.ndarray:
    """Integer ``values`` in int32 when they fit (exact); anything else as given."""
    if values.dtype.kind in "iu" and values.size:
        if np.iinfo(np.int32).min <= values.min() and values.max() <= np.iinfo(np.int32).max:
            return values.astype(np.int32)
    return values


@dataclass(eq=False)
class PreparedPanel:
    """One partition validated, sorted and reduced to what the fits and weights read.

    ``columns`` holds every model's design, outcome and rows (sorted order); ``order``
    (None when the rows came sorted), ``starts``, ``ids`` and ``time`` rebuild the panel.
    """

    n_rows: int
    index: pd.Index
    order: np.ndarray | None
    starts: np.ndarray
    ids: np.ndarray
    time: object  # compact sorted time (msm._dask.partitions.compact) or the raw values
    time_dtype: np.dtype
    columns: Columns
    first_id: object  # the first id in sorted order (None when empty)
    id_range: tuple = (0, None, None)  # rows, smallest and largest id (``id_range``)

    def panel(self, spec: PartitionSpec) -> Panel:
        """The in-memory panel of these rows (sorted order)."""
        order = np.arange(self.n_rows) if self.order is None else self.order.astype(np.int64)
        return Panel(
            order=order,
            starts=self.starts,
            index=self.index,
            ids=self.ids,
            time=self.sorted_time(),
            id_name=spec.id,
            time_name=spec.time,
            is_identity=self.order is None,
        )

    def sorted_time(self) -> np.ndarray:
        if isinstance(self.time, np.ndarray) and self.time.dtype == self.time_dtype:
            return self.time
        return expand(self.time, self.n_rows).astype(self.time_dtype)


def _prepared(part: pd.DataFrame, spec: PartitionSpec):
    return prepare_panel(
        part,
        id=spec.id,
        time_name=spec.time,
        treatment=spec.treatment,
        censor=spec.censor,
        absorbing=spec.absorbing,
        family="binomial",
        used=list(spec.columns),
    )


def prepare_partition(part: pd.DataFrame, spec: PartitionSpec) -> PreparedPanel:
    """Validate and sort one partition and build every model's design: once per call."""
    columns = Columns(len(part))
    if len(part) == 0:
        for key, (rhs, role) in spec.specs.items():
            names = design_rows(parse_terms(rhs, part, role), part, np.empty(0, np.int64)).names
            columns.add(key, np.empty((0, len(names))), names, np.empty(0))
        time = part[spec.time].to_numpy()
        return PreparedPanel(0, part.index, None, np.zeros(1, np.int64), np.empty(0), time,
                             time.dtype, columns, None, id_range(part, spec.id))  # fmt: skip
    panel, a, _, treatment_rows, c = _prepared(part, spec)
    # models on every row first, so a treatment model's columns can refer to theirs
    keys = sorted(spec.specs, key=lambda k: k in TREATMENT_MODELS)
    for key in keys:
        rhs, role = spec.specs[key]
        terms = parse_terms(rhs, part, role)
        if key in TREATMENT_MODELS:
            rows, outcome = treatment_rows, a
        else:
            rows, outcome = None, c
        positions = panel.order if rows is None else panel.order[rows]
        design = design_rows(terms, part, positions)
        y = outcome if rows is None else outcome[rows]
        columns.add(key, design.matrix, design.names, y, rows=rows)
    time = panel.time
    time_column = compact(time) if time.dtype.kind in "iuf" else time
    return PreparedPanel(
        n_rows=panel.n_rows,
        index=part.index,
        order=None if panel.is_identity else shrink(panel.order),
        starts=panel.starts,
        ids=shrink(panel.ids),
        time=time_column,
        time_dtype=time.dtype,
        columns=columns,
        first_id=panel.ids[0],
        id_range=id_range(part, spec.id),
    )


def partition_summary(prepared: PreparedPanel, keys: list[str]) -> tuple:
    """The partition's id range, its first id and its models' sums (``model_summaries``)."""
    if prepared.n_rows == 0:
        return prepared.id_range, None, {key: None for key in keys}
    return prepared.id_range, prepared.first_id, model_summaries(prepared, keys)


def _weights_of(prepared: PreparedPanel, spec: PartitionSpec, models: dict[str, LogitFit]):
    """Final weights before truncation, treatment and censoring weights (caller order)."""
    if prepared.n_rows == 0:
        empty = np.empty(0)
        return empty, empty, empty
    panel = prepared.panel(spec)
    factors = {}
    for key, fit in models.items():
        values = np.zeros(panel.n_rows)
        factors[key] = values
        built = prepared.columns.design(key)
        if built is None:  # no row of this partition informs the model
            continue
        X, y, _, _ = built
        rows = prepared.columns.rows(key)
        # a censoring factor is P(uncensored) on every row, the censoring row included
        observed = y if key in TREATMENT_MODELS else np.zeros(y.size)
        if rows is None:
            values[:] = log_prob(fit, X, observed)
        else:
            values[rows] = log_prob(fit, X, observed)
    log_treatment = -factors["denominator"]
    if "numerator" in factors:
        log_treatment += factors["numerator"]
    log_censoring = None
    if "censor_denominator" in factors:
        log_censoring = -factors["censor_denominator"]
        if "censor_numerator" in factors:
            log_censoring += factors["censor_numerator"]
    log_t, log_c, log_total = accumulate(panel, log_treatment, log_censoring, spec.treatment)
    censoring = np.ones(panel.n_rows) if log_c is None else panel.unsort(np.exp(log_c))
    return panel.unsort(np.exp(log_total)), panel.unsort(np.exp(log_t)), censoring


@dataclass(eq=False)
class WeightRows:
    """One partition's weights before truncation and times, in the caller's row order."""

    index: pd.Index
    untruncated: np.ndarray
    time: object  # compact (msm._dask.partitions.compact) or raw
    time_dtype: np.dtype

    def times(self) -> np.ndarray:
        if isinstance(self.time, np.ndarray) and self.time.dtype == self.time_dtype:
            return self.time
        return expand(self.time, self.untruncated.size).astype(self.time_dtype)

    def truncated(self, truncation: Truncation | None) -> tuple[np.ndarray, np.ndarray]:
        """The final weights and whether truncation changed each row."""
        final = self.untruncated
        changed = np.zeros(final.size, dtype=bool)
        if truncation is not None and final.size:
            final, changed = apply_bounds(final, *truncation.bounds(self.times()))
        return final, changed


def weight_rows(prepared: PreparedPanel, spec: PartitionSpec, models: dict) -> WeightRows:
    """The weights of one prepared partition (kept on the workers by ``iptw``)."""
    untruncated = _weights_of(prepared, spec, models)[0]
    time = prepared.sorted_time()
    if prepared.n_rows:
        time = prepared.panel(spec).unsort(time)
    column = compact(time) if time.dtype.kind in "iuf" else time
    return WeightRows(prepared.index, untruncated, column, time.dtype)


def weight_source(rows: WeightRows, by_time: bool):
    """Untruncated weights (and time) of one partition: the values truncation takes quantiles of."""
    return rows.untruncated, rows.times() if by_time else None


def final_weights(rows: WeightRows, truncation: Truncation | None) -> np.ndarray:
    """One partition's final weights (truncated when ``truncation``), in the caller's order."""
    return rows.truncated(truncation)[0]


def _final_series(rows: WeightRows, truncation) -> pd.Series:
    return pd.Series(final_weights(rows, truncation), index=rows.index, name="weight")


def _truncation_table(rows: WeightRows, truncation) -> pd.DataFrame:
    final, changed = rows.truncated(truncation)
    return pd.DataFrame(
        {"weight": final, "untruncated_weight": rows.untruncated, "truncated": changed},
        index=rows.index,
    )


def _summary_rows(rows: WeightRows, truncation, by_time: bool):
    final, changed = rows.truncated(truncation)
    return final, changed, rows.times() if by_time else None


def partition_weights(
    part: pd.DataFrame, spec: PartitionSpec, models: dict[str, LogitFit]
) -> pd.DataFrame:
    """Final (truncated if asked), treatment and censoring weights of one raw partition."""
    untruncated, treatment, censoring = _weights_of(prepare_partition(part, spec), spec, models)
    final = untruncated
    if spec.truncation is not None and untruncated.size:
        final, _ = apply_bounds(untruncated, *spec.truncation.bounds(part[spec.time].to_numpy()))
    return pd.DataFrame(
        {"weight": final, "treatment_weight": treatment, "censoring_weight": censoring},
        index=part.index,
    )


def _count_truncated(rows: WeightRows, truncation) -> int:
    return int(rows.truncated(truncation)[1].sum())


@dataclass(frozen=True, eq=False)
class DaskWeights:
    """IP weights of a dask DataFrame: fitted models on the client, weights on the workers.

    Attributes
    ----------
    models : dict of str to LogitFit
        The fitted models, as ``Weights.models``.
    settings : dict
        As ``Weights.settings``.
    data : dask.dataframe.DataFrame
        The columns read, arranged so each subject sits in one partition (shuffled when the
        input was not; ``shuffled`` says which).
    rows : list
        Per partition of ``data``, its weights before truncation and times, computed once by
        ``iptw`` and kept (persisted) where they were computed; ``msm.glm`` and
        ``msm.balance`` read them instead of recomputing the weights.
    weights : dask Series
        Lazy (from ``rows``), aligned with ``data``'s partitions and labelled with the
        input's index; truncated when ``truncate=`` was given.
    treatment_weights, censoring_weights : dask Series
        Lazy, recomputed from ``data`` and the models when asked for; not truncated (as in
        memory).
    untruncated, truncated : dask Series
        Lazy (from ``rows``): the weights before truncation, and whether truncation changed
        each row.
    truncation_bounds : pandas.DataFrame or None
        The lower and upper bounds used (one row, or one per time with ``truncate_by``), equal
        to the in-memory ones.
    n_truncated : int
        Rows whose weight truncation changed.
    """

    models: dict[str, LogitFit]
    settings: dict
    data: object = field(repr=False)
    spec: PartitionSpec = field(repr=False)
    rows: list = field(repr=False, default_factory=list)
    source: str | None = field(repr=False, default=None)  # the input frame's dask name
    shuffled: bool = False
    truncation_bounds: pd.DataFrame | None = None
    n_truncated: int = 0

    def aligned_with(self, data) -> bool:
        """Whether ``data``'s partitions are those the weights were computed on (the same
        dask frame given to ``msm.iptw``, not shuffled): then ``rows`` line up with them."""
        return (
            not self.shuffled
            and self.source is not None
            and getattr(data, "_name", None) == self.source
            and data.npartitions == len(self.rows)
        )

    def _from_rows(self, function, meta):
        dask = require_dask()
        import dask.dataframe as dd

        make = dask.delayed(function, pure=True)
        parts = [make(r, self.spec.truncation) for r in self.rows]
        return dd.from_delayed(parts, meta=meta, verify_meta=False)

    @property
    def frame(self):
        """Lazy dask DataFrame of ``weight``, ``treatment_weight``, ``censoring_weight``."""
        meta = pd.DataFrame({c: np.empty(0) for c in WEIGHT_COLUMNS})
        meta.index = self.data._meta.index
        return self.data.map_partitions(partition_weights, self.spec, self.models, meta=meta)

    @property
    def weights(self):
        meta = pd.Series(np.empty(0), name="weight", index=self.data._meta.index)
        return self._from_rows(_final_series, meta)

    @property
    def treatment_weights(self):
        return self.frame["treatment_weight"]

    @property
    def censoring_weights(self):
        return self.frame["censoring_weight"]

    def _truncation_frame(self):
        meta = pd.DataFrame(
            {
                "weight": np.empty(0),
                "untruncated_weight": np.empty(0),
                "truncated": np.empty(0, dtype=bool),
            }
        )
        meta.index = self.data._meta.index
        return self._from_rows(_truncation_table, meta)

    @property
    def untruncated(self):
        return self._truncation_frame()["untruncated_weight"]

    @property
    def truncated(self):
        return self._truncation_frame()["truncated"]

    def summary(self, by: str | None = None) -> pd.DataFrame:
        """The in-memory ``Weights.summary``; brings the weights and flags (9 bytes a row) here.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> cohort = msm.datasets.simulate_panel(n_subjects=200, seed=1)
        >>> w = msm.iptw(dd.from_pandas(cohort, npartitions=2, sort=False), id="id",
        ...              time="time", treatment="a", denominator="x + l", numerator="x",
        ...              absorbing=True)
        >>> list(w.summary().columns)[:4]
        ['n', 'min', 'p1', 'median']
        """
        if by not in {None, "time", self.spec.time}:
            raise ValueError(f"by must be None or 'time', got {by!r}")
        parts = compute_each(_summary_rows, self.rows, self.spec.truncation, by is not None)
        values = np.concatenate([p[0] for p in parts])
        changed = np.concatenate([p[1] for p in parts])
        if by is None:
            return pd.DataFrame([summarize(values, changed)], index=pd.Index(["all"]))
        time = np.concatenate([p[2] for p in parts])
        rows = {t: summarize(values[time == t], changed[time == t]) for t in np.unique(time)}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = self.spec.time
        return table

    def __repr__(self) -> str:
        s = self.settings
        kind = "stabilized" if s["stabilized"] else "unstabilized"
        return (
            f"DaskWeights: {kind} IPTW{', absorbing' if s['absorbing'] else ''}"
            f"{', with censoring' if s['censor'] else ''}; {self.data.npartitions} partitions"
            f"{' (shuffled on ' + repr(self.spec.id) + ')' if self.shuffled else ''}; "
            f"models: {', '.join(self.models)}"
            + (
                f"; truncated at percentiles {tuple(s['truncate'])}"
                f"{' within each time' if s['truncate_by'] else ''}: "
                f"{self.n_truncated} rows changed"
                if s["truncate"] is not None
                else ""
            )
        )


class _NoCensoring(Exception):
    """No row of the censoring column is 1 (raised by ``_check_varies``, caught in ``iptw``)."""

    def __init__(self, n_rows: int):
        super().__init__(n_rows)
        self.n_rows = n_rows


def _check_varies(n: int, sum_y: float, *, column, role, absorbing, censoring) -> None:
    """The in-memory ``check_varies`` from a model's row count and outcome total (0/1)."""
    if censoring and sum_y == 0:
        raise _NoCensoring(n)
    if sum_y == 0 or sum_y == n:
        raise not_varying(column, role, n, int(sum_y > 0), absorbing=absorbing)


def iptw(
    data,
    *,
    id: str,
    time: str | None,
    treatment: str,
    denominator: Spec,
    numerator: Spec = None,
    absorbing: bool = False,
    censor: str | None = None,
    censor_denominator: Spec = None,
    censor_numerator: Spec = None,
    truncate: tuple[float, float] | None = None,
    truncate_by: str | None = None,
    family: str = "binomial",
    model=None,
    start: str | None = None,
    crossfit: int | None = None,
    clip: float = 1e-3,
    seed: int | None = None,
    convergence: str = "full",
    estimand: str = "ATE",
    bound: tuple | None = None,
    policy=None,
    by_time: bool = False,
) -> DaskWeights:
    """``msm.iptw`` for a dask DataFrame: binary treatment, logistic models.

    Same arguments and numbers as in memory (to rounding); the weights stay lazy.  With
    ``truncate=`` the bounds are the exact in-memory percentiles, found by distributed
    selection (``msm._dask.quantiles``) without bringing the weights to the client.  Not
    supported here: other families and models, point treatments (``time=None``), per-time
    models (a mapping of time to formula, or ``by_time=True``).
    ``start``, ``crossfit``, ``clip`` and ``seed`` concern other models and are ignored, as in
    memory.
    """
    require_dask()
    # the core's validation and parsing, on the frame's metadata (no rows are read)
    core = weight_spec(
        data._meta,
        id=id,
        time=time,
        treatment=treatment,
        denominator=denominator,
        numerator=numerator,
        absorbing=absorbing,
        censor=censor,
        censor_denominator=censor_denominator,
        censor_numerator=censor_numerator,
        truncate=truncate,
        truncate_by=truncate_by,
        family=family,
        model=model,
        start=start,
        crossfit=crossfit,
        clip=clip,
        seed=seed,
        convergence=convergence,
        estimand=estimand,
        bound=bound,
        policy=policy,
        by_time=by_time,
        columns_only=True,
    )
    registry.require_front_end(  # from the capability table
        "dask",
        core.kind,
        point_treatment=core.point,
        convergence_r=convergence == "r",
        bound=core.bound is not None,
        per_time=core.per_time,
    )
    spec = PartitionSpec(core)
    specs, columns = spec.specs, list(spec.columns)
    # every partition validated, sorted and its designs built once, kept on the workers; the
    # layout is checked on the way (the id ranges), and shuffled only when subjects span
    # partitions
    keys = list(specs)
    layout = Layout(data[columns], id, False, 0)
    prepared = persist_each(prepare_partition, layout.frame, spec)
    summaries = compute_each(partition_summary, prepared, keys)
    if not ranges_disjoint([r for r, _, _ in summaries]):
        layout = arrange(data, id, columns)
        prepared = persist_each(prepare_partition, layout.frame, spec)
        summaries = compute_each(partition_summary, prepared, keys)
    if sum(r[0] for r, _, _ in summaries) == 0:
        raise DataError(None, "data is empty (0 rows)")
    order = in_memory_order([first for _, first, _ in summaries])
    summaries = [s for _, _, s in summaries]
    tasks = []
    n_censored = 0
    for key, (_, role) in specs.items():
        censoring = key not in TREATMENT_MODELS
        outcome = censor if censoring else treatment
        present = [s[key] for s in summaries if s[key] is not None]
        n = sum(s["n"] for s in present)
        sum_y = float(sum(s["sy"] for s in present if s["n"]))
        try:
            _check_varies(
                n,
                sum_y,
                column=outcome,
                role=role,
                absorbing=absorbing and not censoring,
                censoring=censoring,
            )
        except _NoCensoring as none:  # as in memory: censoring weights 1, no model
            warn_no_censoring(censor, none.n_rows)
            break  # the censoring models come last
        tasks.append(ModelTask(key, BINOMIAL, f"{role} model for {outcome!r}", outcome))
        if key == "censor_denominator":
            n_censored = int(round(sum_y))
    # one pass over the partitions per Newton round serves every model
    fits = fit_models(prepared, tasks, summaries, order)
    models = {}
    for task in tasks:
        fit = fits[task.key]
        rhs, role = specs[task.key]
        names = fit.names
        models[task.key] = LogitFit(
            name=f"{role} model",
            outcome=task.outcome,
            formula=spec_text(rhs),
            params=pd.Series(fit.beta, index=names),
            cov=pd.DataFrame(fit.covariance, index=names, columns=names),
            n=fit.n,
            loglik=-0.5 * float(fit.last[0]),
            converged=fit.converged,
            n_iter=fit.n_iter,
            centring=fit.centring,
        )
    settings = core.settings(n_censored=n_censored)
    # the weights, once; the prepared designs are released when iptw returns
    rows = persist_each(weight_rows, prepared, spec, models)
    del prepared
    bounds, n_truncated = None, 0
    if truncate is not None:
        spec, bounds, n_truncated = _truncate(rows, spec, truncate, truncate_by)
    return DaskWeights(
        models=models,
        settings=settings,
        data=layout.frame,
        spec=spec,
        rows=rows,
        source=None if layout.shuffled else data._name,
        shuffled=layout.shuffled,
        truncation_bounds=bounds,
        n_truncated=n_truncated,
    )


def in_memory_order(first_ids: list) -> list[int]:
    """The partitions in the in-memory row order: by their smallest id (numeric ids, which
    the in-memory sort orders by value), else as given; empty partitions last."""
    present = [i for i, v in enumerate(first_ids) if v is not None]
    empty = [i for i, v in enumerate(first_ids) if v is None]
    if present and all(isinstance(first_ids[i], numbers.Number) for i in present):
        present.sort(key=lambda i: first_ids[i])
    return present + empty


def _truncate(rows: list, spec: PartitionSpec, truncate, truncate_by):
    """Exact bounds (as ``msm.weights.truncate_weights``), the spec applying them, rows changed."""
    by_time = truncate_by is not None
    keys, (lower, upper) = type7_quantiles(
        rows,
        weight_source,
        (by_time,),
        [truncate[0] / 100.0, truncate[1] / 100.0],
        grouped=by_time,
    )
    truncation = Truncation(keys=keys, lower=lower, upper=upper)
    spec = replace(spec, truncation=truncation)
    if by_time:
        bounds = pd.DataFrame({"lower": lower, "upper": upper}, index=pd.Index(keys))
        bounds.index.name = spec.time
    else:
        bounds = pd.DataFrame({"lower": lower, "upper": upper}, index=pd.Index(["all"]))
    n_truncated = sum(compute_each(_count_truncated, rows, truncation))
    return spec, bounds, int(n_truncated)
