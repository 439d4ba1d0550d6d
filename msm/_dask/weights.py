"""``iptw`` on a dask DataFrame: distributed logistic fits, weights per partition.

Each partition runs the in-memory row checks and sort (``msm.weights.prepare_panel``), builds
each model's design on its rows (``msm._formula.design_rows``) and, with fitted coefficients,
the per-row log factors (``msm.models.logit.log_prob``) and their within-subject sums
(``msm.weights.accumulate``): the in-memory code.  Only the fitting differs: Newton steps
summed over partitions (``msm._dask.partitions.fit_newton``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from msm._dask.partitions import (
    Layout,
    arrange,
    check_columns,
    compute_each,
    fit_newton,
    require_dask,
)
from msm._dask.quantiles import type7_quantiles
from msm._formula import design_rows, parse_terms
from msm._glm import BINOMIAL
from msm.models.logit import LogitFit, log_prob
from msm.weights import (
    Spec,
    accumulate,
    apply_bounds,
    check_arguments,
    check_truncate,
    not_varying,
    prepare_panel,
    spec_text,
    summarize,
    warn_no_censoring,
)

TREATMENT_MODELS = ("denominator", "numerator")
WEIGHT_COLUMNS = ["weight", "treatment_weight", "censoring_weight"]


@dataclass(frozen=True)
class WeightSpec:
    """What a partition needs to rebuild the weights: plain values, cheap to send."""

    id: str
    time: str
    treatment: str
    censor: str | None
    absorbing: bool
    specs: dict  # model key -> (right-hand side, role)
    columns: tuple[str, ...]  # every column read
    truncation: Truncation | None = None  # bounds found by iptw(truncate=...)


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


def _prepared(part: pd.DataFrame, spec: WeightSpec):
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


def _model_rows(part: pd.DataFrame, spec: WeightSpec, key: str, prepared):
    """Rows of model ``key`` (sorted order mask), its design and outcome on them."""
    panel, a, _, treatment_rows, c = prepared
    rhs, role = spec.specs[key]
    terms = parse_terms(rhs, part, role)
    if key in TREATMENT_MODELS:
        rows, outcome = treatment_rows, a
    else:
        rows, outcome = np.ones(panel.n_rows, dtype=bool), c
    design = design_rows(terms, part, panel.order[rows])
    return rows, design, outcome[rows]


def build_model(part: pd.DataFrame, spec: WeightSpec, key: str):
    """``(X, y, w, offset, names)`` of model ``key`` on one partition (for ``fit_newton``)."""
    if len(part) == 0:
        return None
    _, design, y = _model_rows(part, spec, key, _prepared(part, spec))
    n = y.size
    return design.matrix, np.ascontiguousarray(y), np.ones(n), np.zeros(n), design.names


def _untruncated(part: pd.DataFrame, spec: WeightSpec, models: dict[str, LogitFit]):
    """Final weights before truncation, treatment and censoring weights, and time (caller order)."""
    if len(part) == 0:
        empty = np.empty(0)
        return empty, empty, empty, part[spec.time].to_numpy()
    prepared = _prepared(part, spec)
    panel = prepared[0]
    factors = {}
    for key, fit in models.items():
        rows, design, y = _model_rows(part, spec, key, prepared)
        # a censoring factor is P(uncensored) on every row, the censoring row included
        observed = y if key in TREATMENT_MODELS else np.zeros(y.size)
        values = np.zeros(panel.n_rows)
        values[rows] = log_prob(fit, design.matrix, observed)
        factors[key] = values
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
    return (
        panel.unsort(np.exp(log_total)),
        panel.unsort(np.exp(log_t)),
        censoring,
        panel.unsort(panel.time),
    )


def weight_source(part: pd.DataFrame, spec: WeightSpec, models: dict, by_time: bool):
    """Untruncated weights (and time) of one partition: the values truncation takes quantiles of."""
    final, _, _, time = _untruncated(part, spec, models)
    return final, time if by_time else None


def _truncated(part: pd.DataFrame, spec: WeightSpec, models: dict):
    """Final weights (truncated when ``spec.truncation``), the parts, untruncated, changed."""
    untruncated, treatment, censoring, time = _untruncated(part, spec, models)
    final, changed = untruncated, np.zeros(untruncated.size, dtype=bool)
    if spec.truncation is not None and untruncated.size:
        final, changed = apply_bounds(untruncated, *spec.truncation.bounds(time))
    return final, treatment, censoring, untruncated, changed


def partition_weights(
    part: pd.DataFrame, spec: WeightSpec, models: dict[str, LogitFit]
) -> pd.DataFrame:
    """Final (truncated if asked), treatment and censoring weights of one partition."""
    final, treatment, censoring, _, _ = _truncated(part, spec, models)
    return pd.DataFrame(
        {"weight": final, "treatment_weight": treatment, "censoring_weight": censoring},
        index=part.index,
    )


def partition_truncation(part: pd.DataFrame, spec: WeightSpec, models: dict) -> pd.DataFrame:
    """Final weights, weights before truncation and whether truncation changed each row."""
    final, _, _, untruncated, changed = _truncated(part, spec, models)
    return pd.DataFrame(
        {"weight": final, "untruncated_weight": untruncated, "truncated": changed},
        index=part.index,
    )


def _count_truncated(part: pd.DataFrame, spec: WeightSpec, models: dict) -> int:
    return int(_truncated(part, spec, models)[4].sum())


@dataclass(frozen=True, eq=False)
class DaskWeights:
    """IP weights of a dask DataFrame: fitted models on the client, weights lazy.

    Attributes
    ----------
    models : dict of str to LogitFit
        The fitted models, as ``Weights.models``.
    settings : dict
        As ``Weights.settings``.
    data : dask.dataframe.DataFrame
        The columns read, arranged so each subject sits in one partition (shuffled when the
        input was not; ``shuffled`` says which).
    weights, treatment_weights, censoring_weights : dask Series
        Lazy, aligned with ``data``'s partitions and labelled with the input's index.
        ``weights`` are truncated when ``truncate=`` was given; the parts are not (as in
        memory).
    untruncated, truncated : dask Series
        Lazy: the weights before truncation, and whether truncation changed each row.
    truncation_bounds : pandas.DataFrame or None
        The lower and upper bounds used (one row, or one per time with ``truncate_by``), equal
        to the in-memory ones.
    n_truncated : int
        Rows whose weight truncation changed.
    """

    models: dict[str, LogitFit]
    settings: dict
    data: object = field(repr=False)
    spec: WeightSpec = field(repr=False)
    shuffled: bool = False
    truncation_bounds: pd.DataFrame | None = None
    n_truncated: int = 0

    @property
    def frame(self):
        """Lazy dask DataFrame of ``weight``, ``treatment_weight``, ``censoring_weight``."""
        meta = pd.DataFrame({c: np.empty(0) for c in WEIGHT_COLUMNS})
        meta.index = self.data._meta.index
        return self.data.map_partitions(partition_weights, self.spec, self.models, meta=meta)

    @property
    def weights(self):
        return self.frame["weight"]

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
        return self.data.map_partitions(partition_truncation, self.spec, self.models, meta=meta)

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
        frame = self._truncation_frame()[["weight", "truncated"]].compute()
        values = frame["weight"].to_numpy()
        changed = frame["truncated"].to_numpy()
        if by is None:
            return pd.DataFrame([summarize(values, changed)], index=pd.Index(["all"]))
        time = self.data[self.spec.time].compute().to_numpy()
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
) -> DaskWeights:
    """``msm.iptw`` for a dask DataFrame: binary treatment, logistic models.

    Same arguments and numbers as in memory (to rounding); the weights stay lazy.  With
    ``truncate=`` the bounds are the exact in-memory percentiles, found by distributed
    selection (``msm._dask.quantiles``) without bringing the weights to the client.  Not
    supported here: other families and models, point treatments (``time=None``).
    ``start``, ``crossfit``, ``clip`` and ``seed`` concern other models and are ignored, as in
    memory.
    """
    check_arguments(
        id=id,
        time=time,
        treatment=treatment,
        censor=censor,
        start=start,
        absorbing=absorbing,
        censor_denominator=censor_denominator,
        censor_numerator=censor_numerator,
        crossfit=crossfit,
        clip=clip,
        seed=seed,
        convergence=convergence,
    )
    if convergence != "full":
        raise NotImplementedError("convergence='r' (R's IRLS path) is for in-memory data only")
    require_dask()
    check_truncate(truncate, truncate_by)
    if family != "binomial" or model not in (None, "logit"):
        raise NotImplementedError(
            "a dask DataFrame supports family='binomial' with model='logit' only; got "
            f"family={family!r}, model={model!r}"
        )
    if time is None:
        raise NotImplementedError("a dask DataFrame needs time= (point treatments: use pandas)")
    check_columns(data, [id, time, treatment], "id/time/treatment")
    if censor is not None:
        check_columns(data, [censor], "censor")
        censor_denominator = denominator if censor_denominator is None else censor_denominator
        censor_numerator = numerator if censor_numerator is None else censor_numerator
    stabilized = numerator is not None
    specs = {"denominator": (denominator, "treatment denominator")}
    if stabilized:
        specs["numerator"] = (numerator, "treatment numerator")
    if censor is not None:
        specs["censor_denominator"] = (censor_denominator, "censoring denominator")
        if stabilized:
            specs["censor_numerator"] = (censor_numerator, "censoring numerator")
    meta = data._meta
    terms = {key: parse_terms(rhs, meta, role) for key, (rhs, role) in specs.items()}
    columns = [id, time, treatment, *([censor] if censor else [])]
    for t in terms.values():
        columns.extend(t.columns)
    columns = list(dict.fromkeys(columns))
    layout: Layout = arrange(data, id, columns)
    spec = WeightSpec(
        id=id,
        time=time,
        treatment=treatment,
        censor=censor,
        absorbing=absorbing,
        specs=specs,
        columns=tuple(columns),
    )
    models = {}
    skipped: set = set()
    n_censored = 0
    for key, (rhs, role) in specs.items():
        censoring = key not in TREATMENT_MODELS
        if censoring and censor in skipped:
            continue
        outcome = censor if censoring else treatment
        name = f"{role} model"
        try:
            fit = fit_newton(
                layout.frame,
                partial(build_model, spec=spec, key=key),
                BINOMIAL,
                f"{name} for {outcome!r}",
                outcome,
                check=partial(
                    _check_varies,
                    column=outcome,
                    role=role,
                    absorbing=absorbing and not censoring,
                    censoring=censoring,
                ),
            )
        except _NoCensoring as none:  # as in memory: censoring weights 1, no model
            warn_no_censoring(censor, none.n_rows)
            skipped.add(censor)
            continue
        names = fit.names
        models[key] = LogitFit(
            name=name,
            outcome=outcome,
            formula=spec_text(rhs),
            params=pd.Series(fit.beta, index=names),
            cov=pd.DataFrame(fit.covariance, index=names, columns=names),
            n=fit.n,
            loglik=-0.5 * float(fit.last[0]),
            converged=fit.converged,
            n_iter=fit.n_iter,
            centring=fit.centring,
        )
        if key == "censor_denominator":
            n_censored = int(round(fit.sum_y))
    settings = {
        "treatment": treatment,
        "family": family,
        "model": "logit",
        "categories": None,
        "stabilized": stabilized,
        "absorbing": absorbing,
        "censor": censor,
        "n_censored": n_censored,
        "denominator": spec_text(denominator),
        "numerator": spec_text(numerator),
        "censor_denominator": spec_text(censor_denominator),
        "censor_numerator": spec_text(censor_numerator),
        "truncate": truncate,
        "truncate_by": truncate_by,
    }
    bounds, n_truncated = None, 0
    if truncate is not None:
        spec, bounds, n_truncated = _truncate(layout.frame, spec, models, truncate, truncate_by)
    return DaskWeights(
        models=models,
        settings=settings,
        data=layout.frame,
        spec=spec,
        shuffled=layout.shuffled,
        truncation_bounds=bounds,
        n_truncated=n_truncated,
    )


def _truncate(frame, spec: WeightSpec, models: dict, truncate, truncate_by):
    """Exact bounds (as ``msm.weights.truncate_weights``), the spec applying them, rows changed."""
    by_time = truncate_by is not None
    keys, (lower, upper) = type7_quantiles(
        frame,
        weight_source,
        (spec, models, by_time),
        [truncate[0] / 100.0, truncate[1] / 100.0],
        grouped=by_time,
    )
    spec = replace(spec, truncation=Truncation(keys=keys, lower=lower, upper=upper))
    if by_time:
        bounds = pd.DataFrame({"lower": lower, "upper": upper}, index=pd.Index(keys))
        bounds.index.name = spec.time
    else:
        bounds = pd.DataFrame({"lower": lower, "upper": upper}, index=pd.Index(["all"]))
    n_truncated = sum(compute_each(_count_truncated, frame, spec, models))
    return spec, bounds, int(n_truncated)
