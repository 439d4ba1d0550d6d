"""``iptw`` on a dask DataFrame: distributed logistic fits, weights per partition.

Each partition runs the in-memory row checks and sort (``msm.weights.prepare_panel``), builds
each model's design on its rows (``msm._formula.design_rows``) and, with fitted coefficients,
the per-row log factors (``msm.models.logit.log_prob``) and their within-subject sums
(``msm.weights.accumulate``): the in-memory code.  Only the fitting differs: Newton steps
summed over partitions (``msm._dask.partitions.fit_newton``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from msm._dask.partitions import Layout, arrange, check_columns, fit_newton, require_dask
from msm._formula import design_rows, parse_terms
from msm._glm import BINOMIAL
from msm.models.logit import LogitFit, _inverse, log_prob
from msm.weights import Spec, _spec_text, _summarize, accumulate, prepare_panel

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


def partition_weights(
    part: pd.DataFrame, spec: WeightSpec, models: dict[str, LogitFit]
) -> pd.DataFrame:
    """Final, treatment and censoring weights of one partition (its rows, its index)."""
    if len(part) == 0:
        return pd.DataFrame({c: np.empty(0) for c in WEIGHT_COLUMNS}, index=part.index)
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
    return pd.DataFrame(
        {
            "weight": panel.unsort(np.exp(log_total)),
            "treatment_weight": panel.unsort(np.exp(log_t)),
            "censoring_weight": censoring,
        },
        index=part.index,
    )


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
    """

    models: dict[str, LogitFit]
    settings: dict
    data: object = field(repr=False)
    spec: WeightSpec = field(repr=False)
    shuffled: bool = False
    truncation_bounds: None = None

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

    def summary(self, by: str | None = None) -> pd.DataFrame:
        """The in-memory ``Weights.summary``; brings the weights (8 bytes a row) to the client.

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
        values = self.weights.compute().to_numpy()
        none = np.zeros(values.size, dtype=bool)
        if by is None:
            return pd.DataFrame([_summarize(values, none)], index=pd.Index(["all"]))
        if by not in {"time", self.spec.time}:
            raise ValueError(f"by must be None or 'time', got {by!r}")
        time = self.data[self.spec.time].compute().to_numpy()
        rows = {t: _summarize(values[time == t], none[time == t]) for t in np.unique(time)}
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
        )


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
) -> DaskWeights:
    """``msm.iptw`` for a dask DataFrame: binary treatment, logistic models.

    Same arguments and numbers as in memory (to rounding); the weights stay lazy.  Not
    supported here: truncation (exact quantiles need the whole weight column), other
    families and models, point treatments (``time=None``).  ``start``, ``crossfit``,
    ``clip`` and ``seed`` concern other models and are ignored, as in memory.
    """
    require_dask()
    if truncate is not None or truncate_by is not None:
        raise NotImplementedError(
            "truncate= is not supported for a dask DataFrame: the percentiles must be exact, "
            "which needs every weight in one place; compute w.weights and truncate them with "
            "msm.weights.truncate_weights if they fit in memory"
        )
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
    n_censored = 0
    for key, (rhs, role) in specs.items():
        outcome = treatment if key in TREATMENT_MODELS else censor
        name = f"{role} model"
        fit = fit_newton(
            layout.frame,
            partial(build_model, spec=spec, key=key),
            BINOMIAL,
            f"{name} for {outcome!r}",
            outcome,
            stacklevel=3,
        )
        names = fit.names
        models[key] = LogitFit(
            name=name,
            outcome=outcome,
            formula=_spec_text(rhs),
            params=pd.Series(fit.beta, index=names),
            cov=pd.DataFrame(_inverse(fit.last[3]), index=names, columns=names),
            n=fit.n,
            loglik=-0.5 * float(fit.last[0]),
            converged=fit.converged,
            n_iter=fit.n_iter,
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
        "denominator": _spec_text(denominator),
        "numerator": _spec_text(numerator),
        "censor_denominator": _spec_text(censor_denominator),
        "censor_numerator": _spec_text(censor_numerator),
        "truncate": None,
        "truncate_by": None,
    }
    return DaskWeights(
        models=models, settings=settings, data=layout.frame, spec=spec, shuffled=layout.shuffled
    )
