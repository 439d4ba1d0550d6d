"""Inverse-probability-of-treatment (and censoring) weights: ``iptw()`` and ``Weights``.

Data path: validate and sort once (``panel``), fit the treatment and censoring models on the
rows that inform them (``models``), turn each row's fitted probability of what happened into a
log factor, accumulate the factors within subject in log space (``_kernels``), exponentiate,
truncate, and hand everything back in the caller's row order.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from msm import _kernels
from msm._formula import Terms, parse_terms
from msm._warnings import DataWarning, warn
from msm.models import ModelInput, registry
from msm.panel import (  # resolve_weights and weight_exponent: msm.weights.* for users
    SHOWN_IDS,
    DataError,
    Panel,
    binary_values,
    build_panel,
    check_absorbing,
    check_columns_exist,
    check_finite,
    check_frame,
    check_numeric,
    describe_dtype,
)
from msm.panel import (
    resolve_weights as resolve_weights,
)
from msm.panel import (
    weight_exponent as weight_exponent,
)

Spec = str | Sequence[str] | None

SUMMARY_COLUMNS = ["n", "min", "p1", "median", "mean", "p99", "max", "sd", "ess", "n_truncated"]


def copy_on_write() -> bool:
    """Whether pandas gives a frame written in place new arrays (copy-on-write: pandas 3, or
    pandas 2 with ``pd.options.mode.copy_on_write = True``).  Without it an in-place write
    changes the arrays ``Weights`` keeps, so ``Weights.computed_on`` is always False there."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    try:
        return pd.get_option("mode.copy_on_write") is True
    except (KeyError, pd.errors.OptionError):
        return False


@dataclass(frozen=True, eq=False)
class Weights:
    """IP weights and everything needed to check them.

    Attributes
    ----------
    weights : pandas.Series
        Final weights (treatment x censoring, truncated if asked), aligned with the input
        data's index and row order.
    treatment_weights, censoring_weights : pandas.Series
        The two parts before truncation (censoring weights are 1 without ``censor=``).
    untruncated : pandas.Series
        Treatment x censoring weights before truncation.
    models : dict of str to fitted model
        The fitted models (``LogitFit``, ``CategoricalFit``, ``GaussianFit``, ``LearnerFit``),
        each with ``summary()``: ``"denominator"``, ``"numerator"`` (stabilized weights only),
        ``"censor_denominator"``, ``"censor_numerator"`` (with ``censor=``).  Per-time models
        (a mapping of time to formula, or ``by_time=True``) are one entry per time, the key
        naming the time column and value: ``"denominator[time=1]"``, ``"denominator[time=2]"``,
        ...; ``models_at(time)`` gives the models of one time.
    truncated : pandas.Series of bool
        Rows whose weight truncation changed.
    truncation_bounds : pandas.DataFrame or None
        The lower and upper bounds used (one row, or one per time with ``truncate_by``).

    Notes
    -----
    A Weights keeps a reference to (not a copy of) the DataFrame it was computed from, so that
    ``msm.glm(..., variance="stacked")`` can rebuild the weight models' designs.  Modifying
    that DataFrame afterwards changes what the stacked variance sees; recompute the weights.
    """

    models: dict[str, object]
    truncation_bounds: pd.DataFrame | None
    spec: WeightSpec = field(repr=False)
    categories: list | None  # treatment levels (multinomial, ordinal), code k is categories[k]
    n_censored: int
    panel: Panel = field(repr=False)
    # sorted order, one per part (denominator, ...): each row's factor from the model fitted
    # on it (per-time models: the model of its time)
    log_factors: dict[str, np.ndarray] = field(repr=False)
    fitted_rows: dict[str, np.ndarray] = field(repr=False)  # sorted-order masks per model key
    # the weights are kept once, as arrays; the Series are built when asked for
    final: np.ndarray = field(repr=False)  # caller order
    truncated_rows: np.ndarray = field(repr=False)  # caller order, bool
    log_treatment: np.ndarray = field(repr=False)  # sorted order, cumulative
    log_censoring: np.ndarray | None = field(repr=False)  # sorted order, cumulative
    untruncated_final: np.ndarray | None = field(repr=False)  # caller order; None: = final
    # what rebuilds each model's design (stacked variance): the frame iptw read (a reference,
    # not a copy) and formulaic's specs (the parsed right-hand sides are in ``spec``)
    data: pd.DataFrame | None = field(default=None, repr=False)
    design_specs: dict[str, object] = field(default_factory=dict, repr=False)
    # the columns iptw read and validated, as the frame's own Series (no copy): under pandas'
    # copy-on-write, any later change to the frame gives it new arrays (``computed_on``)
    columns_read: dict = field(default_factory=dict, repr=False)
    n_bounded: int = 0  # rows whose P(A = 1) the bound changed

    def computed_on(self, data: pd.DataFrame) -> bool:
        """Whether ``data`` is the frame these weights were computed on, unchanged since.

        Then ``data``'s id, time, treatment, censoring and model columns passed ``iptw``'s
        checks, and its sort (``panel``) and risk set (``risk_set``) hold: ``balance``,
        ``glm`` and the other consumers reuse them instead of validating and sorting again.
        A frame modified in place (``data.loc[...] = ...``, a column replaced) has new arrays
        under pandas' copy-on-write, so it is not recognised and is checked afresh.

        Examples
        --------
        >>> cohort = msm.datasets.simulate_panel(n_subjects=50, seed=1)
        >>> w = msm.iptw(cohort, id="id", time="time", treatment="a", denominator="l")
        >>> w.computed_on(cohort), w.computed_on(cohort.copy())
        (True, False)
        >>> cohort.loc[0, "l"] = 0.0
        >>> w.computed_on(cohort)
        False
        """
        if not copy_on_write() or data is not self.data or not data.index.equals(self.panel.index):
            return False
        for column, kept in self.columns_read.items():
            try:
                now = data[column]
            except KeyError:
                return False
            if not (
                isinstance(now, pd.Series)
                and len(now) == len(kept)
                and np.shares_memory(now.to_numpy(), kept.to_numpy())
            ):
                return False
        return True

    @cached_property
    def settings(self) -> dict:
        """What was asked for, as a dict (``spec.settings()``, the levels and censored count)."""
        return self.spec.settings(categories=self.categories, n_censored=self.n_censored)

    @property
    def terms(self) -> dict[str, Terms]:
        """The parsed right-hand side of each fitted model, by key."""
        return {key: self.spec.model(key).terms for key in self.models}

    @property
    def risk_set(self) -> np.ndarray:
        """Rows (caller order, bool) that inform the treatment models.

        With ``absorbing=True`` each subject's rows up to and including the first treated
        one; otherwise every row.
        """
        rows = np.zeros(self.panel.n_rows, dtype=bool)
        for m in self.spec.parts("denominator"):
            rows |= self.fitted_rows.get(m.key, False)
        return self.panel.unsort(rows)

    def models_at(self, time) -> dict[str, object]:
        """The per-time models fitted at ``time``, by part (``"denominator"``, ...).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> wide = pd.DataFrame({"id": range(60), "X_0": rng.normal(size=60),
        ...                      "A_1": rng.integers(0, 2, 60), "X_1": rng.normal(size=60),
        ...                      "A_2": rng.integers(0, 2, 60)})
        >>> long = msm.to_long(wide, id="id", treatment="A")
        >>> w = msm.iptw(long, id="id", time="time", treatment="A",
        ...              denominator={1: "X_lag1", 2: "X_lag1 + A_lag1"})
        >>> list(w.models), list(w.models_at(2))
        (['denominator[time=1]', 'denominator[time=2]'], ['denominator'])
        """
        return {
            m.part: self.models[m.key]
            for m in self.spec.models
            if m.time is not None and m.time == time and m.key in self.models
        }

    @cached_property
    def weights(self) -> pd.Series:
        return pd.Series(self.final, index=self.panel.index, name="weight", copy=False)

    @cached_property
    def treatment_weights(self) -> pd.Series:
        return self.panel.series(np.exp(self.log_treatment), "treatment_weight")

    @cached_property
    def censoring_weights(self) -> pd.Series:
        if self.log_censoring is None:
            return pd.Series(1.0, index=self.panel.index, name="censoring_weight")
        return self.panel.series(np.exp(self.log_censoring), "censoring_weight")

    @cached_property
    def untruncated(self) -> pd.Series:
        values = self.final if self.untruncated_final is None else self.untruncated_final
        return pd.Series(values, index=self.panel.index, name="untruncated_weight", copy=False)

    @cached_property
    def truncated(self) -> pd.Series:
        return pd.Series(self.truncated_rows, index=self.panel.index, name="truncated")

    @property
    def n_truncated(self) -> int:
        return int(self.truncated.sum())

    def summary(self, by: str | None = None) -> pd.DataFrame:
        """Weight summary: n, min, p1, median, mean, p99, max, sd, Kish ESS, n truncated.

        Parameters
        ----------
        by : {None, "time"}
            ``None``: one row for all rows; ``"time"``: one row per time value.

        Examples
        --------
        >>> cohort = msm.datasets.simulate_panel(n_subjects=200, seed=1)
        >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
        ...              denominator="x + l", numerator="x", absorbing=True)
        >>> list(w.summary().columns)[:4]
        ['n', 'min', 'p1', 'median']
        """
        values = self.final
        truncated = self.truncated_rows
        if by is None:
            return pd.DataFrame([summarize(values, truncated)], index=pd.Index(["all"]))
        if self.panel.time_name is None:
            raise ValueError("point-treatment weights (time=None) have no time: use summary()")
        if by not in {"time", self.panel.time_name}:
            raise ValueError(f"by must be None or 'time', got {by!r}")
        time = self.panel.unsort(self.panel.time)
        rows = {}
        for t in np.unique(time):
            mask = time == t
            rows[t] = summarize(values[mask], truncated[mask])
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = self.panel.time_name
        return table

    def extreme(self, k: int = 5) -> pd.DataFrame:
        """The ``k`` largest weights with their subject id and time."""
        values = self.weights.to_numpy()
        top = np.argsort(-values, kind="stable")[:k]
        ids = self.panel.unsort(self.panel.ids)
        columns = {self.panel.id_name: ids[top]}
        if self.panel.time_name is not None:  # a point treatment has no time
            columns[self.panel.time_name] = self.panel.unsort(self.panel.time)[top]
        columns["weight"] = values[top]
        return pd.DataFrame(columns, index=self.weights.index[top])

    def __repr__(self) -> str:
        s = self.settings
        kind = "stabilized" if s["stabilized"] else "unstabilized"
        target = _ESTIMAND_TEXT[s["estimand"]]
        if s["policy"] is not None:
            target = f"a stochastic plan, P(A = 1) = {s['policy']}"
        lines = [
            f"Weights: {kind} IPTW{', absorbing' if s['absorbing'] else ''}"
            f"{', with censoring' if s['censor'] else ''}; estimand {target}",
            f" - {self.panel.n_subjects} subjects, {self.panel.n_rows} rows, "
            + (
                "point treatment (one row each)"
                if self.panel.time_name is None
                else f"{self.panel.time_name} {_span(self.panel.time)}"
            ),
            f" - treatment {s['treatment']!r}: {s['model']}; denominator "
            + _rhs_text(s["denominator"])
            + (f"; numerator {_rhs_text(s['numerator'])}" if s["stabilized"] else ""),
        ]
        if self.spec.per_time:
            lines.extend(self._per_time_lines())
        if s["censor"] and "censor_denominator" not in self.models:
            lines.append(
                f" - censoring {s['censor']!r}: no subject censored; censoring weights are 1 "
                "(no censoring model fitted)"
            )
        elif s["censor"]:
            lines.append(
                f" - censoring {s['censor']!r}: {s['n_censored']} subjects censored; "
                f"denominator {_rhs_text(s['censor_denominator'])}"
            )
        if s["bound"] is not None:
            lines.append(
                f" - P(treatment = 1) bounded to {s['bound']}: {self.n_bounded} rows changed"
            )
        if s["truncate"] is not None:
            within = " within each time" if s["truncate_by"] else ""
            lines.append(
                f" - truncated at percentiles {tuple(s['truncate'])}{within}: "
                f"{self.n_truncated} rows changed"
            )
        lines.append(self.summary().to_string())
        return "\n".join(lines)

    def _per_time_lines(self) -> list[str]:
        """One line per time: each per-time model's right-hand side and rows."""
        lines = []
        times = list(dict.fromkeys(m.time for m in self.spec.models if m.time is not None))
        for t in times:
            parts = []
            for m in self.spec.models:
                if m.time is None or m.time != t:
                    continue
                fit = self.models.get(m.key)
                n = getattr(fit, "n", None)
                rows = f"{n} rows" if n is not None else "fitted"
                if fit is None:
                    rows = "nobody censored: not fitted" if m.censoring else "no rows at risk"
                parts.append(f"{m.part} {m.formula} ({rows})")
            lines.append(f"     {self.panel.time_name}={_time_text(t)}: " + "; ".join(parts))
        return lines


def _rhs_text(rhs) -> str:
    """A right-hand side in the printout: the formula, or "by time" for per-time models."""
    if isinstance(rhs, dict):
        return f"one model per time ({len(rhs)})"
    return str(rhs)


_ESTIMAND_TEXT = {
    "ATE": "ATE",
    "ATT": "ATT (treated 1, controls e/(1-e))",
    "ATC": "ATC (treated (1-e)/e, controls 1)",
    "ATO": "ATO overlap (treated 1-e, controls e)",
}


def _span(values: np.ndarray) -> str:
    return f"{values.min()}-{values.max()}"


def summarize(values: np.ndarray, truncated: np.ndarray) -> dict:
    """One row of ``Weights.summary``: n, quantiles, mean, sd, Kish ESS, rows truncated.

    Shared with the Dask front end (``msm._dask.weights``).
    """
    p1, median, p99 = np.percentile(values, [1, 50, 99])
    total = values.sum()
    return {
        "n": values.size,
        "min": values.min(),
        "p1": p1,
        "median": median,
        "mean": values.mean(),
        "p99": p99,
        "max": values.max(),
        "sd": values.std(ddof=1) if values.size > 1 else np.nan,
        "ess": total * total / np.dot(values, values),
        "n_truncated": int(truncated.sum()),
    }


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """One weight model to fit: which column it models, on which right-hand side, with what.

    Attributes
    ----------
    key : str
        ``"denominator"``, ``"numerator"``, ``"censor_denominator"`` or ``"censor_numerator"``
        for a model pooled over time; a model of one time adds the time:
        ``"denominator[time=2]"`` (the time column's name and value).
    role : str
        ``"treatment denominator"``, ``"treatment denominator (time=2)"``, ...: how messages
        call it.
    rhs : str or list of str
        The right-hand side as the user gave it.
    terms : Terms
        It parsed.
    outcome : str
        The modelled column (the treatment, or the censor column).
    kind : msm.models.registry.ModelKind
        The model kind that fits it.
    time : object
        The time value whose rows the model is fitted on; None for a model pooled over time.
    by_time : bool
        Before the data's times are known (``iptw(..., by_time=True)``): the one formula to
        fit separately at each time (``WeightSpec.at_times`` makes one model per time).
    """

    key: str
    role: str
    rhs: Spec
    terms: Terms
    outcome: Hashable
    kind: registry.ModelKind
    time: object = None
    by_time: bool = False

    @property
    def part(self) -> str:
        """``denominator``, ``numerator``, ``censor_denominator`` or ``censor_numerator``."""
        return self.key.split("[", 1)[0]

    @property
    def per_time(self) -> bool:
        """Fitted on the rows of one time (or, ``by_time``, to be at each time)."""
        return self.time is not None or self.by_time

    @property
    def censoring(self) -> bool:
        """A censoring model (of P(uncensored) on every row)."""
        return self.key.startswith("censor")

    @property
    def formula(self) -> str | None:
        return spec_text(self.rhs)


@dataclass(frozen=True, eq=False)
class WeightSpec:
    """Every argument of ``iptw``, validated, with its formulas parsed: what to compute.

    Built once by ``weight_spec`` (before any row is read); both front ends compute the
    weights from it (``compute_weights`` on a pandas frame, ``msm._dask`` per partition), and
    ``Weights.spec`` keeps it.
    """

    id: Hashable
    time: Hashable | None
    treatment: Hashable
    censor: Hashable | None
    start: Hashable | None
    family: str
    model_given: object  # ``model=`` as given (a name, None or a classifier)
    kind: registry.ModelKind
    absorbing: bool
    truncate: tuple[float, float] | None
    truncate_by: str | None
    crossfit: int | None
    clip: float
    seed: object
    convergence: str
    models: tuple[ModelSpec, ...]
    estimand: str = "ATE"
    bound: tuple | None = None  # (lower, upper) on the denominator's P(A = 1), either None
    policy: object = None  # a stochastic plan: P(A = 1) under it, a number or data -> array

    @property
    def reweights(self) -> bool:
        """Weights other than the inverse probability of the treatment received (ATE)."""
        return self.estimand != "ATE" or self.bound is not None or self.policy is not None

    @property
    def point(self) -> bool:
        """A point treatment: one row per subject, no time column."""
        return self.time is None

    @property
    def stabilized(self) -> bool:
        return any(m.part == "numerator" for m in self.models)

    @property
    def per_time(self) -> bool:
        """Some model is fitted separately at each time (a mapping, or ``by_time=True``)."""
        return any(m.per_time for m in self.models)

    def parts(self, part: str) -> list[ModelSpec]:
        """The models of ``part`` (``"denominator"``, ...): one pooled, or one per time."""
        return [m for m in self.models if m.part == part]

    @property
    def censor_kind(self) -> registry.ModelKind:
        return registry.censoring_kind(self.kind)

    def model(self, key: str) -> ModelSpec:
        """The model spec of ``key`` (KeyError if it is not fitted)."""
        for m in self.models:
            if m.key == key:
                return m
        raise KeyError(key)

    def has(self, key: str) -> bool:
        return any(m.key == key for m in self.models)

    @property
    def columns(self) -> tuple:
        """The columns read on every row (and checked there): id, time, treatment, censor,
        start and the pooled models' columns.  A column read only by per-time models is
        checked on the rows of the times whose models read it (``columns_at``)."""
        named = [self.id, self.time, self.treatment, self.censor]
        named += [self.start] if self.kind.needs_start else []
        used = [c for c in named if c is not None]
        for m in self.models:
            if not m.per_time:
                used.extend(m.terms.columns)
        return tuple(used)

    def columns_at(self, time) -> tuple:
        """The columns read by the models of ``time`` only (not in ``columns``)."""
        every = set(self.columns)
        used = [c for m in self.models if m.time is not None and m.time == time
                for c in m.terms.columns]  # fmt: skip
        return tuple(c for c in dict.fromkeys(used) if c not in every)

    @property
    def all_columns(self) -> tuple:
        """Every column read: ``columns`` and the per-time models' columns."""
        used = list(self.columns) + [c for m in self.models for c in m.terms.columns]
        return tuple(dict.fromkeys(used))

    def at_times(self, times: np.ndarray) -> WeightSpec:
        """This spec with one model per time for every per-time part, on the data's times.

        ``times``: the data's time values (sorted, unique).  A ``by_time`` formula becomes
        one model per time; a mapping must give a formula for every time and no other
        (DataError naming the time column otherwise).  Each model's ``time`` is the data's
        own value and its key ``"denominator[time=2]"``.
        """
        if not self.per_time:
            return self
        models = []
        for part in MODEL_ROLES:
            given = self.parts(part)
            if not given or not given[0].per_time:
                models.extend(given)
                continue
            if given[0].by_time:
                formulas = {t: given[0] for t in times}
            else:
                formulas = _match_times(given, times, self.time, MODEL_ROLES[part])
            for t, m in formulas.items():
                label = f"{self.time}={_time_text(t)}"
                models.append(
                    replace(
                        m,
                        key=f"{part}[{label}]",
                        role=f"{MODEL_ROLES[part]} ({label})",
                        time=t,
                        by_time=False,
                    )
                )
        return replace(self, models=tuple(models))

    def fit_options(self) -> dict:
        """The options every fitter reads (``ModelInput.options``), a fresh dict."""
        return {
            "estimator": self.model_given,
            "crossfit": self.crossfit,
            "clip": self.clip,
            "seed": self.seed,
            "convergence": self.convergence,
        }

    def settings(self, *, categories=None, n_censored: int = 0) -> dict:
        """``Weights.settings``: what was asked for, in plain values.

        A per-time model's right-hand side is a dict {time: formula}.
        """
        rhs: dict = {}
        for m in self.models:
            if m.time is not None:
                rhs.setdefault(m.part, {})[_plain(m.time)] = m.formula
            else:
                rhs[m.part] = m.formula
        censoring = self.censor is not None
        return {
            "treatment": self.treatment,
            "family": self.family,
            "model": self.kind.label,
            "categories": categories,
            "stabilized": self.stabilized,
            "absorbing": self.absorbing,
            "censor": self.censor,
            "n_censored": n_censored,
            "denominator": rhs["denominator"],
            "numerator": rhs.get("numerator"),
            "censor_denominator": rhs.get("censor_denominator") if censoring else None,
            "censor_numerator": rhs.get("censor_numerator") if censoring else None,
            "truncate": self.truncate,
            "truncate_by": self.truncate_by,
            "estimand": self.estimand,
            "bound": self.bound,
            "policy": None if self.policy is None else _policy_text(self.policy),
        }


def _plain(value):
    """A time value as a plain Python value (a Timestamp for dates): dict keys and text."""
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value)
    return value.item() if isinstance(value, np.generic) else value


def _time_text(value) -> str:
    return str(_plain(value))


def _match_times(given: list[ModelSpec], times: np.ndarray, column, role: str) -> dict:
    """{data time: model} for the models of a mapping (``given``, keyed by the time asked).

    DataError naming the time column when a time of the data has no formula, or a time
    of the mapping is not in the data.
    """
    asked = {_plain(m.time): m for m in given}
    found, missing = {}, []
    for t in times:
        m = asked.pop(_plain(t), None)
        if m is None:
            missing.append(t)
        else:
            found[t] = m
    if missing:
        other = (
            f" (it gives {', '.join(map(repr, list(asked)[:SHOWN_IDS]))}, which are not times "
            "of the data)"
            if asked
            else ""
        )
        raise DataError(
            column,
            f"the {role} mapping has no formula for {column}={_listed(missing)}{other}: give "
            "one for every time in the data, or one formula with by_time=True to fit it "
            "separately at each time",
        )
    if asked:
        raise DataError(
            column,
            f"the {role} mapping gives formulas for {column}="
            f"{', '.join(map(repr, list(asked)[:SHOWN_IDS]))}, which the data do not have "
            f"(its times are {_listed(list(times))})",
        )
    return found


def _listed(values: list) -> str:
    shown = ", ".join(_time_text(v) for v in values[:SHOWN_IDS])
    return shown + (f", ... ({len(values)} in all)" if len(values) > SHOWN_IDS else "")


def _policy_text(policy) -> str:
    if callable(policy):
        return getattr(policy, "__name__", "a function of the data")
    return f"{float(policy):g}"


def weight_spec(
    data: pd.DataFrame,
    *,
    id,
    time,
    treatment,
    denominator: Spec,
    numerator: Spec = None,
    absorbing: bool = False,
    censor=None,
    censor_denominator: Spec = None,
    censor_numerator: Spec = None,
    truncate=None,
    truncate_by=None,
    family: str = "binomial",
    model=None,
    start=None,
    crossfit=None,
    clip: float = 1e-3,
    seed=None,
    convergence: str = "full",
    estimand: str = "ATE",
    bound=None,
    policy=None,
    by_time: bool = False,
    columns_only: bool = False,
) -> WeightSpec:
    """Validate ``iptw``'s arguments and parse its formulas on ``data``'s columns.

    Everything that can be checked without reading the rows: argument types and ranges
    (``check_arguments``), what the model kind supports (``msm.models.registry``), that the
    named columns exist, and the formulas.  ``data`` is only read for its columns and
    dtypes, so the Dask front end passes its frame's ``_meta`` (with ``columns_only=True``:
    no rows, and the empty-data check is the front end's).  Per-time models (a mapping of
    time to formula, or ``by_time=True``) are parsed here; their times are matched to the
    data's by ``WeightSpec.at_times`` once the rows are checked.

    Examples
    --------
    >>> cohort = msm.datasets.simulate_panel(n_subjects=50, seed=1)
    >>> spec = weight_spec(cohort, id="id", time="time", treatment="a",
    ...                    denominator="x + l", numerator="1", absorbing=True)
    >>> [m.key for m in spec.models], spec.kind.label, spec.columns
    (['denominator', 'numerator'], 'logit', ('id', 'time', 'a', 'x', 'l'))
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
    kind = registry.resolve(family, model)
    registry.check_iptw_options(
        kind, absorbing=absorbing, numerator=numerator, start=start, model=model
    )
    estimand, bound, policy = check_estimand(
        estimand, bound, policy, kind=kind, point=time is None, numerator=numerator
    )
    check_frame(data, columns_only=columns_only)
    check_truncate(truncate, truncate_by)
    named = [id, treatment] if time is None else [id, time, treatment]
    check_columns_exist(data, named, "id/time/treatment")
    if not isinstance(by_time, (bool, np.bool_)):
        raise TypeError(f"by_time must be True or False, got {by_time!r}")
    rhs = {"denominator": denominator}
    if numerator is not None:
        rhs["numerator"] = numerator
    per_time = bool(by_time) or any(isinstance(v, Mapping) for v in rhs.values())
    if per_time or isinstance(censor_denominator, Mapping) or isinstance(censor_numerator, Mapping):
        _check_per_time(time, kind, model)
    if censor is not None:
        check_columns_exist(data, [censor], "censor")
        if per_time and (
            censor_denominator is None or (numerator is not None and censor_numerator is None)
        ):
            raise ValueError(
                "with per-time treatment models, give the censoring models' right-hand sides "
                "(censor_denominator=" + (" and censor_numerator=" if numerator is not None
                else "") + "): one formula for a model pooled over time, or a mapping of "
                "time to formula for one model per time"
            )  # fmt: skip
        # the censoring models default to the treatment models' right-hand sides
        rhs["censor_denominator"] = (
            denominator if censor_denominator is None else censor_denominator
        )
        if numerator is not None:
            rhs["censor_numerator"] = numerator if censor_numerator is None else censor_numerator
    censoring = registry.censoring_kind(kind)
    models = []
    for key, given in rhs.items():
        role = MODEL_ROLES[key]
        censors = key.startswith("censor")
        common = {
            "outcome": censor if censors else treatment,
            "kind": censoring if censors else kind,
        }
        if isinstance(given, Mapping):
            if not given:
                raise ValueError(f"{key}= is an empty mapping: give a formula for each time")
            for t, formula in given.items():
                if isinstance(formula, Mapping) or formula is None:
                    raise TypeError(
                        f"{key}[{t!r}] must be a formula or a list of column names, got {formula!r}"
                    )
                at = f"{role} ({time}={t!r})"
                terms = parse_terms(formula, data, at)
                models.append(
                    ModelSpec(key=key, role=at, rhs=formula, terms=terms, time=t, **common)
                )
            continue
        split = bool(by_time) and not censors
        terms = parse_terms(given, data, role)
        models.append(
            ModelSpec(key=key, role=role, rhs=given, terms=terms, by_time=split, **common)
        )
    _check_not_self_predicted(models)
    if kind.needs_start:
        check_columns_exist(data, [start], "start")
    return WeightSpec(
        id=id,
        time=time,
        treatment=treatment,
        censor=censor,
        start=start if kind.needs_start else None,
        family=family,
        model_given=model,
        kind=kind,
        absorbing=bool(absorbing),
        truncate=truncate,
        truncate_by=truncate_by,
        crossfit=crossfit,
        clip=clip,
        seed=seed,
        convergence=convergence,
        models=tuple(models),
        estimand=estimand,
        bound=bound,
        policy=policy,
    )


def _check_per_time(time, kind: registry.ModelKind, model) -> None:
    """ValueError unless per-time models can be fitted: a time column, a kind that is not Cox."""
    if time is None:
        raise ValueError(
            "per-time models (a mapping of time to formula, or by_time=True) need time= (the "
            "time column); a point treatment (time=None) has one model"
        )
    if kind.needs_start:
        raise ValueError(
            f"model={model!r} models the hazard of treatment over all times at once; per-time "
            "models (a mapping, or by_time=True) are for the other kinds"
        )


ESTIMANDS = ("ATE", "ATT", "ATC", "ATO")


def check_estimand(estimand, bound, policy, *, kind, point: bool, numerator):
    """``estimand``, ``bound`` and ``policy`` of ``iptw``, checked (ValueError before any work).

    Estimands other than the ATE, and stochastic plans, are for a binary point treatment
    and unstabilized weights (WeightIt stabilizes only the ATE); bounds apply to any binary
    treatment model's fitted P(A = 1).
    """
    if not isinstance(estimand, str) or estimand.upper() not in ESTIMANDS:
        raise ValueError(f"estimand must be one of {list(ESTIMANDS)}, got {estimand!r}")
    estimand = estimand.upper()
    binary = kind.family == "binomial"
    # overlap weights for a multinomial treatment: (1 / p_a) / sum_k (1 / p_k), from the
    # multinomial logit's probabilities of every level
    multinomial_ato = estimand == "ATO" and kind.family == "multinomial" and kind.name == "logit"
    if estimand != "ATE" or policy is not None:
        what = f"estimand={estimand!r}" if policy is None else "policy="
        if not binary and not multinomial_ato:
            raise ValueError(
                f"{what} is defined here for a binary treatment (family='binomial'"
                + (", and the ATO for a multinomial logit" if policy is None else "")
                + f"); family={kind.family!r} supports the ATE"
            )
        if not point:
            raise ValueError(f"{what} is for a point treatment (time=None, one row per subject)")
        if numerator is not None:
            raise ValueError(
                f"{what} gives unstabilized weights (only the ATE is stabilized, as in "
                "WeightIt): drop numerator="
            )
    if policy is not None:
        if estimand != "ATE":
            raise ValueError("policy= replaces the estimand: leave estimand='ATE'")
        if not callable(policy):
            if isinstance(policy, bool) or not isinstance(policy, int | float | np.number):
                raise ValueError(
                    "policy must be the probability of treatment under the plan: a number in "
                    f"[0, 1] or a function of the data returning one per row, got {policy!r}"
                )
            if not 0 <= float(policy) <= 1:
                raise ValueError(f"policy must be a probability in [0, 1], got {policy!r}")
    if bound is not None:
        if not binary:
            raise ValueError(
                f"bound= bounds the fitted P(treatment = 1) of a binary treatment model; "
                f"family={kind.family!r} has none"
            )
        if not isinstance(bound, tuple | list) or len(bound) != 2:
            raise ValueError(f"bound must be (lower, upper), either None, got {bound!r}")
        lower, upper = bound
        for value in (lower, upper):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float | np.number)
                or not 0 < float(value) < 1
            ):
                raise ValueError(f"bound limits must be probabilities in (0, 1), got {bound!r}")
        if lower is not None and upper is not None and not lower < upper:
            raise ValueError(f"bound: lower must be below upper, got {bound!r}")
        if lower is None and upper is None:
            bound = None
        else:
            bound = (
                None if lower is None else float(lower),
                None if upper is None else float(upper),
            )
    return estimand, bound, policy


MODEL_ROLES = {
    "denominator": "treatment denominator",
    "numerator": "treatment numerator",
    "censor_denominator": "censoring denominator",
    "censor_numerator": "censoring numerator",
}


def iptw(
    data: pd.DataFrame,
    *,
    id: str,
    time: str | None,
    treatment: str,
    denominator: Spec | Mapping,
    numerator: Spec | Mapping = None,
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
) -> Weights:
    """Inverse-probability-of-treatment weights for a point or time-varying treatment.

    The treatment model ``P(A_t | covariates)`` is pooled over rows, or fitted separately at
    each time (``denominator={time: formula}``, or ``by_time=True``: WeightIt's
    ``weightitMSM``).  Each row's factor is the fitted probability (or, for a continuous
    treatment, density) of the treatment actually received; a subject's weight at time t is
    the product up to t of numerator over denominator factors, accumulated in log space.
    With ``absorbing=True`` (R ipw ``type="first"``) the models are fitted on rows up to and
    including each subject's first treated row, and later rows contribute a factor of 1;
    otherwise the treatment may switch on and off, and its history enters the models as
    lagged columns (``msm.to_long`` makes them from wide data).  A point treatment (one row
    per subject) takes the same path.

    Parameters
    ----------
    data : DataFrame
        Long person-time data, one row per subject-interval, in any row order.
    id, time : str
        Subject and time columns.  ``time=None`` for point-treatment data (one row each).
        Like ``treatment``, ``censor`` and ``start``, any hashable column label (a tuple
        names a column of MultiIndex columns, e.g. ``id=("id", "")``).
    treatment : str
        The treatment column: 0/1 (binomial), levels (multinomial, ordinal) or a dose
        (gaussian).
    denominator : str or list of str or dict
        Right-hand side of the denominator model: a formula (``"sex + age + I(t**2)"``) or a
        list of column names.  An intercept is always included.  A dict ``{time value:
        formula}`` fits one model per time, each on the rows of its time: every time of the
        data needs a formula, and no other time may be given (DataError naming the time
        column).  A column a time's formula reads need only be finite on that time's rows
        (a lag is missing at the first time).
    numerator : str or list of str or dict or None
        Right-hand side of the numerator model for stabilized weights (``"1"`` for the
        marginal distribution; a dict for one model per time, e.g. WeightIt's saturated
        numerators ``{1: "1", 2: "A_lag1", 3: "A_lag1 * A_lag2"}``); ``None`` gives
        unstabilized weights (not allowed for ``family="gaussian"``, whose unstabilized
        density weights have no scale).
    absorbing : bool
        Once treated, always treated (binary treatments).  A subject whose treatment goes
        from 1 back to 0 is an error.
    censor : str, optional
        0/1 column, 1 on a subject's last row if lost to follow-up there.  Censoring models
        are fitted on all rows and every row's factor is P(uncensored) (R ipw ``type="cens"``).
    censor_denominator, censor_numerator : str or list of str or dict, optional
        Censoring model right-hand sides; default to ``denominator`` and ``numerator``.  A
        censoring model is pooled over time unless given as a dict of time to formula
        (``by_time`` does not split it); with per-time treatment models they must be given.
    truncate : (float, float), optional
        Lower and upper percentiles, e.g. ``(1, 99)``: weights at or below the lower quantile
        become it, weights above the upper quantile become it (R ipw's rule; quantiles of type
        7, numpy's default).
    truncate_by : {None, "time"}
        ``"time"`` takes the quantiles within each time instead of over all rows.
    family : {"binomial", "multinomial", "ordinal", "gaussian"}
        The treatment's type.
    model : str or classifier, optional
        ``"logit"`` (default for binomial, multinomial and ordinal), ``"probit"`` (ordinal),
        ``"linear"`` (gaussian, the default there), ``"cox"`` (binomial, time to initiation;
        needs ``start``), or any scikit-learn classifier with ``predict_proba`` (binomial,
        multinomial), pooled with time as a feature.  Censoring models use the same model
        when it can model a binary outcome, else ``"logit"``.
    start : str, optional
        Interval start column, for ``model="cox"``.
    crossfit : int, optional
        For a scikit-learn model: K-fold cross-fitting by subject, so no row's probability
        comes from a model that saw that subject.
    clip : float
        For a scikit-learn model: probabilities are clipped to ``[clip, 1 - clip]``; the
        count is reported on the fitted model (``n_clipped``).
    seed : int, optional
        Seed for the cross-fitting folds.
    convergence : {"full", "r"}
        Logistic models: ``"full"`` iterates Newton to a step below 1e-10 (relative);
        ``"r"`` replays R's ``glm.fit`` (start, steps and its 1e-8 relative-deviance stopping
        rule), so coefficients, standard errors and weights equal R ipw's to rounding instead
        of to about 1e-7.
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        For a binary point treatment, with e = P(A = 1 | X) from the denominator model (as
        WeightIt defines them): ``"ATE"`` 1/e for the treated and 1/(1-e) for controls
        (stabilized with ``numerator=``); ``"ATT"`` 1 and e/(1-e) (zEpid's SMR weights
        standardized to the exposed); ``"ATC"`` (1-e)/e and 1; ``"ATO"`` (overlap) 1-e and
        e.  Only the ATE is stabilized.  A multinomial logit treatment model supports the
        ATE and ``"ATO"``: (1/p_a) / sum_k (1/p_k).
    bound : (lower, upper), optional
        Bounds on the denominator model's fitted P(A = 1) of a binary treatment (zEpid's
        g-bounds; asymmetric such as ``(0.2, 0.9)``, either may be None): probabilities below
        ``lower`` become ``lower``, above ``upper`` become ``upper``, before the weights are
        formed.  ``Weights.n_bounded`` counts the rows changed.
    policy : float or callable, optional
        A stochastic treatment plan (zEpid ``StochasticIPTW``), binary point treatment: the
        probability of treatment under the plan, a number or ``policy(data)`` returning one
        per row; the weights are ``(a p + (1-a)(1-p)) / P(A = a | X)`` (unstabilized), and
        ``msm.glm("y ~ 1", data, weights=w)`` estimates the mean outcome under the plan.
    by_time : bool
        Fit the treatment models (``denominator``, ``numerator``) given as one formula
        separately at each time, on that time's rows (each time's own coefficients), as a
        dict giving the same formula for every time would.  Not for ``model="cox"``.
        ``Weights.models`` then holds one model per time (``"denominator[time=2]"``).

    Returns
    -------
    Weights

    Examples
    --------
    >>> import msm
    >>> cohort = msm.datasets.simulate_panel(n_subjects=300, seed=1)
    >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
    ...              denominator="x + l + time", numerator="x + time", absorbing=True)
    >>> w.weights.index.equals(cohort.index)
    True
    >>> bool(abs(w.weights.mean() - 1) < 0.1)
    True

    One model per time, as WeightIt's ``weightitMSM`` fits them, on wide data made long by
    ``msm.to_long`` (the treatment switches on and off; its history enters as lags):

    >>> import pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> n = 400
    >>> wide = pd.DataFrame({"id": np.arange(n), "X_0": rng.normal(size=n)})
    >>> wide["A_1"] = (rng.random(n) < 1 / (1 + np.exp(-wide.X_0))).astype(int)
    >>> wide["X_1"] = wide.X_0 + wide.A_1 + rng.normal(size=n)
    >>> wide["A_2"] = (rng.random(n) < 1 / (1 + np.exp(-wide.X_1 + wide.A_1))).astype(int)
    >>> long = msm.to_long(wide, id="id", treatment="A")
    >>> w = msm.iptw(long, id="id", time="time", treatment="A",
    ...              denominator={1: "X_lag1", 2: "X_lag1 + A_lag1 + X_lag2"},
    ...              numerator={1: "1", 2: "A_lag1"})
    >>> list(w.models)
    ['denominator[time=1]', 'denominator[time=2]', 'numerator[time=1]', 'numerator[time=2]']
    >>> w.models["denominator[time=2]"].n
    400
    """
    spec = weight_spec(
        data,
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
    )
    return compute_weights(data, spec)


def compute_weights(data: pd.DataFrame, spec: WeightSpec) -> Weights:
    """The weights of ``spec`` on a pandas frame: every row check, the fits, the products.

    ``spec`` comes from ``weight_spec`` on this frame (or one with the same columns): its
    arguments are valid and its formulas parsed, so only the rows remain to be checked.
    """
    kind, censor, time_name = spec.kind, spec.censor, spec.time
    absorbing, stabilized, family = spec.absorbing, spec.stabilized, spec.family
    panel, a, categories, treatment_rows, c = prepare_panel(
        data,
        id=spec.id,
        time_name=time_name,
        treatment=spec.treatment,
        censor=censor,
        absorbing=absorbing,
        family=family,
        used=list(spec.columns),
        point=spec.point,
    )

    if spec.per_time:  # one model per time, and their columns checked on their rows
        spec = spec.at_times(np.unique(panel.time))
        check_finite_at_times(data, panel, spec)
    options = spec.fit_options()
    interval_start = None
    row_time = panel.time  # the time each model sees; model="cox": the interval end, numeric
    if kind.needs_start:
        interval_start, row_time = _interval_start(panel, data, spec.start)
        options["time_grid"] = np.unique(row_time)
    subject = panel.subject_of_row()
    log_factors: dict[str, np.ndarray] = {}  # by part: each row's factor from its model
    fitted_rows: dict[str, np.ndarray] = {}
    design_specs: dict[str, object] = {}
    models: dict[str, object] = {}

    def fit_and_score(model: ModelSpec, outcome, informing, levels=None):
        censoring = model.censoring
        rows = informing if model.time is None else informing & (panel.time == model.time)
        if model.time is not None and not (outcome[rows] if censoring else rows).any():
            # absorbing: every subject was treated before this time; or nobody is censored
            # at this time: nothing to model, its factors are 1
            return rows, np.zeros(int(rows.sum()))
        inp = ModelInput(
            role=model.role,
            outcome_name=model.outcome,
            formula=model.formula,
            terms=model.terms,
            data=data,
            rows=panel.order[rows],
            y=outcome[rows],
            time=row_time[rows],
            subject=subject[rows],
            start=None if interval_start is None else interval_start[rows],
            time_name=time_name,
            categories=levels,
            options=options,
        )
        check_varies(
            inp.y, model.outcome, model.role, absorbing=absorbing and not censoring, levels=levels
        )
        # a censoring factor is P(uncensored) on every row, the censoring row included
        observed = np.zeros(inp.y.size) if censoring else inp.y
        models[model.key], log_p = model.kind.fit(inp, observed)
        design_specs[model.key] = inp.design_spec
        fitted_rows[model.key] = rows
        return rows, log_p

    def fit_part(part, outcome, informing, levels=None, bound=None):
        """Each model of ``part``; the factors of all its rows, and the rows bounded."""
        factors = np.zeros(panel.n_rows)
        changed = 0
        for model in spec.parts(part):
            rows, log_p = fit_and_score(model, outcome, informing, levels)
            factors[rows] = log_p
            if bound is not None:
                factors, n = bound_probabilities(factors, a, rows, bound)
                changed += n
        log_factors[part] = factors
        return factors, changed

    log_denominator, n_bounded = fit_part("denominator", a, treatment_rows, categories, spec.bound)
    log_treatment = -log_denominator
    if spec.estimand == "ATO" and spec.family == "multinomial":
        log_treatment = multinomial_overlap(models["denominator"], log_denominator, treatment_rows)
    elif spec.estimand != "ATE" or spec.policy is not None:
        plan = None if spec.policy is None else _plan(spec.policy, data, panel)
        log_treatment = estimand_log_weights(log_denominator, a, spec.estimand, plan)
    if stabilized:
        log_treatment += fit_part("numerator", a, treatment_rows, categories)[0]

    n_censored = 0
    log_censoring = None
    if censor is not None and not c.any():
        warn_no_censoring(censor, panel.n_rows)
    elif censor is not None:
        n_censored = int(c.sum())
        all_rows = np.ones(panel.n_rows, dtype=bool)
        log_censoring = -fit_part("censor_denominator", c, all_rows)[0]
        if stabilized:
            log_censoring += fit_part("censor_numerator", c, all_rows)[0]

    log_treatment_w, log_censoring_w, log_total = accumulate(
        panel, log_treatment, log_censoring, spec.treatment
    )
    untruncated = panel.unsort(np.exp(log_total))
    final, truncated, bounds = untruncated, np.zeros(panel.n_rows, dtype=bool), None
    if spec.truncate is not None:
        caller_time = panel.unsort(panel.time) if spec.truncate_by else None
        final, truncated, bounds = truncate_weights(untruncated, spec.truncate, caller_time)
        if bounds is not None and spec.truncate_by:
            bounds.index.name = panel.time_name

    return Weights(
        models=models,
        truncation_bounds=bounds,
        spec=spec,
        categories=categories,
        n_censored=n_censored,
        panel=panel,
        log_factors=log_factors,
        fitted_rows=fitted_rows,
        final=final,
        truncated_rows=truncated,
        log_treatment=log_treatment_w,
        log_censoring=log_censoring_w,
        untruncated_final=None if spec.truncate is None else untruncated,
        data=data,
        design_specs=design_specs,
        columns_read={column: data[column] for column in spec.all_columns},
        n_bounded=n_bounded,
    )


def check_finite_at_times(data: pd.DataFrame, panel: Panel, spec: WeightSpec) -> None:
    """``check_finite`` of each per-time model's columns on the rows of its time.

    A column read only by the models of some times (a lag missing before the first time)
    must be finite on those times' rows only; DataError naming the column, the time and the
    ids otherwise.  Columns read on every row (``spec.columns``) are checked there already.
    """
    locate = data.columns.get_loc
    for t in np.unique(panel.time):
        columns = spec.columns_at(t)
        if not columns:
            continue
        rows = panel.order[panel.time == t]
        at = data.iloc[rows, [locate(c) for c in dict.fromkeys([spec.id, *columns])]]
        try:
            check_finite(at, columns, spec.id)
        except DataError as error:
            readers = [MODEL_ROLES[m.part] for m in spec.models
                       if m.time == t and error.column in m.terms.columns]  # fmt: skip
            raise DataError(
                error.column,
                f"at {spec.time}={_time_text(t)}, read by the {' and '.join(readers)} "
                f"model(s): {error.rule}",
                error.ids,
            ) from None


def bound_probabilities(log_p: np.ndarray, a: np.ndarray, rows: np.ndarray, bound: tuple):
    """log P(A = a) with P(A = 1) bounded to ``bound`` on ``rows``; the count changed."""
    lower, upper = bound
    e = np.where(a == 1, np.exp(log_p), -np.expm1(log_p))  # P(A = 1), accurate near 0 and 1
    bounded = np.clip(e, lower, upper)
    changed = rows & (bounded != e)
    out = log_p.copy()
    out[changed] = np.where(a[changed] == 1, np.log(bounded[changed]), np.log1p(-bounded[changed]))
    return out, int(changed.sum())


def estimand_log_weights(log_p: np.ndarray, a: np.ndarray, estimand: str, plan=None):
    """Each row's log weight for ``estimand`` (or the stochastic ``plan``) from log P(A = a).

    With e = P(A = 1): ATT 1 and e/(1-e), ATC (1-e)/e and 1, ATO 1-e and e (treated and
    controls); a plan p: (a p + (1-a)(1-p)) / P(A = a).
    """
    treated = a == 1
    log_other = np.log(-np.expm1(log_p))  # log P(A = 1 - a)
    with np.errstate(divide="ignore"):
        if plan is not None:
            return np.log(np.where(treated, plan, 1.0 - plan)) - log_p
    if estimand == "ATT":
        return np.where(treated, 0.0, log_other - log_p)
    if estimand == "ATC":
        return np.where(treated, log_other - log_p, 0.0)
    if estimand == "ATO":
        return log_other
    return -log_p


def multinomial_overlap(fit, log_p: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Log overlap weights of a multinomial treatment: log((1 / p_a) / sum_k (1 / p_k)), from
    the multinomial logit's probabilities of every level on its rows (sorted order)."""
    probabilities = np.asarray(fit.result.predict(), dtype=np.float64)  # the fitted rows
    out = np.zeros(log_p.size)
    with np.errstate(divide="ignore"):
        inverse_sum = np.log(np.sum(1.0 / probabilities, axis=1))
    out[rows] = -log_p[rows] - inverse_sum
    return out


def _plan(policy, data: pd.DataFrame, panel: Panel) -> np.ndarray:
    """The plan's P(A = 1) per row, sorted like the panel."""
    if not callable(policy):
        return np.full(panel.n_rows, float(policy))
    values = policy(data)
    try:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(
            "policy(data) must return the plan's probability of treatment per row (numbers), "
            f"got {type(values).__name__}"
        ) from None
    if values.size != len(data):
        raise ValueError(
            f"policy(data) returned {values.size} values for {len(data)} rows: one per row"
        )
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        raise ValueError(
            f"policy(data) must return probabilities in [0, 1]; {int(bad.sum())} are not "
            f"(rows {list(data.index[bad][:5])})"
        )
    return panel.sort(values)


def prepare_panel(
    data: pd.DataFrame,
    *,
    id: str,
    time_name: str | None,
    treatment: str,
    censor: str | None,
    absorbing: bool,
    family: str,
    used: list[str],
    point: bool = False,
) -> tuple[Panel, np.ndarray, list | None, np.ndarray, np.ndarray | None]:
    """Every check on the rows before a model is fitted, and the sorted arrays they give.

    Shared by ``iptw`` and the per-partition work of a distributed frame (``msm._dask``).
    Returns the panel, the sorted treatment values and levels, the rows that inform the
    treatment models (the risk set of an absorbing treatment) and the sorted censoring
    indicator (None without ``censor``).  A point treatment (``point=True``,
    ``time_name=None``) gets a panel with ``time_name=None`` and every time 0.
    """
    check_finite(data, used, id)
    if point:
        panel = point_panel(data, id)
    else:
        panel = build_panel(data, id, time_name)
    a, categories = treatment_values(panel, data[treatment], treatment, family)
    if absorbing:
        check_absorbing(panel, a, treatment)
        # rows up to and including the first treated row: nothing treated before this row
        treated_before = _kernels.cumulative_log_weights(a, panel.starts) - a
        treatment_rows = treated_before == 0.0
    else:
        treatment_rows = np.ones(panel.n_rows, dtype=bool)
    c = None
    if censor is not None:
        c = binary_values(panel, panel.sort(data[censor].to_numpy()), censor, "censor")
        _check_censor_last(panel, c, censor)
    return panel, a, categories, treatment_rows, c


def point_panel(data: pd.DataFrame, id: str) -> Panel:
    """The panel of point-treatment data: one row per subject, sorted by id, no time column.

    Its ``time_name`` is None and its ``time`` all 0 (as float), so nothing downstream sees
    a time column the caller did not give.  DataError when a subject has more than one row.
    """
    ids = data[id]
    if ids.duplicated().any():
        dup = pd.unique(ids[ids.duplicated()])
        raise DataError(id, "with time=None each subject must have exactly one row", dup)
    # build_panel's sort on (id, a constant time): the same order as for a one-visit panel
    frame = pd.DataFrame({"id": ids.to_numpy(), "time": np.zeros(len(data))}, index=data.index)
    return replace(build_panel(frame, "id", "time"), id_name=id, time_name=None)


def accumulate(
    panel: Panel, log_treatment: np.ndarray, log_censoring: np.ndarray | None, column: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Within-subject running sums of the per-row log factors (sorted order, in place).

    Returns the cumulative log treatment and censoring weights and their sum; DataError
    when a weight leaves the floating-point range.
    """
    log_treatment_w = _kernels.grouped_cumsum(log_treatment, panel.starts, log_treatment)
    log_total = log_treatment_w
    log_censoring_w = None
    if log_censoring is not None:
        log_censoring_w = _kernels.grouped_cumsum(log_censoring, panel.starts, log_censoring)
        log_total = log_treatment_w + log_censoring_w
    _check_representable(panel, log_total, column)
    return log_treatment_w, log_censoring_w, log_total


def treatment_values(
    panel: Panel, column_values: pd.Series, column: str, family: str
) -> tuple[np.ndarray, list | None]:
    """Sorted treatment values as float64 (0/1, category codes, or doses) and the levels."""
    raw = panel.sort(column_values.to_numpy())
    if family == "binomial":
        return binary_values(panel, raw, column, "treatment"), None
    if family == "gaussian":
        if not pd.api.types.is_numeric_dtype(column_values.dtype):
            raise DataError(
                column,
                f"a gaussian treatment must be numeric, got {describe_dtype(column_values.dtype)}",
            )
        return raw.astype(np.float64), None
    dtype = column_values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if family == "ordinal" and not dtype.ordered:
            raise DataError(
                column, "an ordinal treatment must be numeric or an ordered Categorical"
            )
        levels = [c for c in dtype.categories if c in set(pd.unique(raw))]
    else:
        if family == "ordinal" and not pd.api.types.is_numeric_dtype(dtype):
            raise DataError(
                column,
                f"an ordinal treatment must be numeric or an ordered Categorical, got {dtype}",
            )
        levels = pd.unique(raw).tolist()
        try:
            levels = sorted(levels)
        except TypeError:  # levels of different kinds (numbers and text) have no order
            kinds = sorted({type(v).__name__ for v in levels})
            raise DataError(
                column,
                f"a {family} treatment's levels must be all numbers or all text, got a mix "
                f"of {', '.join(kinds)} ({', '.join(map(repr, levels[:SHOWN_IDS]))}); convert "
                f"the column to one type, e.g. data[{column!r}].astype(str), or give the "
                "order as a Categorical",
            ) from None
    # a single level is reported by check_varies, with the rows of the model it leaves empty
    codes = pd.Categorical(raw, categories=levels).codes.astype(np.float64)
    return codes, levels


def _interval_start(panel: Panel, data: pd.DataFrame, start: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted interval starts and ends (the rows' times) as numbers, for ``model="cox"``.

    Datetime start and time are measured in days since the earliest start (a Cox model
    depends on the order of the times only, so any origin and unit give the same weights).
    Each start must lie before its row's time.
    """
    check_numeric(data, start, "interval start")
    begin, end = data[start], data[panel.time_name]
    dated = [pd.api.types.is_datetime64_any_dtype(c.dtype) for c in (begin, end)]
    if dated[0] != dated[1]:
        kinds = ["datetime" if d else "numeric" for d in dated]
        raise DataError(
            start,
            f"interval start {start!r} is {kinds[0]} but time {panel.time_name!r} is "
            f"{kinds[1]}; give both as datetimes or both as numbers (e.g. days since baseline, "
            f"(data[{start!r}] - origin).dt.days)",
        )
    if dated[0]:
        try:
            origin = begin.min()
            begin = (begin - origin) / pd.Timedelta(days=1)
            end = (end - origin) / pd.Timedelta(days=1)
        except TypeError as exc:  # time zone aware against naive
            raise DataError(
                start,
                f"interval start {start!r} and time {panel.time_name!r} cannot be compared "
                f"({exc}); give both with the same time zone, or both without one",
            ) from None
    values = panel.sort(begin.to_numpy(dtype=np.float64))
    stop = panel.sort(end.to_numpy(dtype=np.float64))
    bad = values >= stop
    if bad.any():
        raise DataError(
            start,
            f"interval start must be before the row's time ({panel.time_name!r}, the interval "
            f"end); {int(bad.sum())} row(s) are not",
            list(pd.unique(panel.ids[bad])),
        )
    return values, stop


def check_arguments(
    *,
    id,
    time,
    treatment,
    censor=None,
    start=None,
    absorbing=False,
    censor_denominator=None,
    censor_numerator=None,
    crossfit=None,
    clip=1e-3,
    seed=None,
    convergence="full",
) -> None:
    """The arguments of ``iptw`` that are not data, checked before any column is read.

    TypeError for a value of the wrong type, ValueError for one out of range, DataError
    (a ValueError naming the column) when one column is given two roles.  Shared by both
    front ends.

    Examples
    --------
    >>> check_arguments(id="id", time="t", treatment="a", seed=-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be None or a non-negative integer, got -1
    """
    roles = {"id": id, "time": time, "treatment": treatment, "censor": censor, "start": start}
    seen: dict = {}
    for role, column in roles.items():
        if column is None:
            continue
        if role in ("id", "treatment") and not _is_label(column):
            raise TypeError(f"{role} must be a column name, got {type(column).__name__}")
        if not _is_label(column):
            raise TypeError(f"{role} must be a column name or None, got {type(column).__name__}")
        if column in seen:
            raise DataError(
                column,
                f"given as both {seen[column]}= and {role}=; they must be different columns",
            )
        seen[column] = role
    if not isinstance(absorbing, (bool, np.bool_)):
        raise TypeError(f"absorbing must be True or False, got {absorbing!r}")
    if censor is None:
        given = [
            name
            for name, value in (
                ("censor_denominator", censor_denominator),
                ("censor_numerator", censor_numerator),
            )
            if value is not None
        ]
        if given:
            raise ValueError(f"{' and '.join(given)} given without censor= (the censoring column)")
    if not _is_real(clip) or not 0.0 <= clip < 0.5:
        raise ValueError(
            "clip must be a number with 0 <= clip < 0.5 (probabilities are clipped to "
            f"[clip, 1 - clip]), got {clip!r}"
        )
    if crossfit is not None and (
        isinstance(crossfit, (bool, np.bool_))
        or not isinstance(crossfit, numbers.Integral)
        or crossfit < 1
    ):
        raise ValueError(
            "crossfit must be None or a whole number of folds >= 2 (1: no cross-fitting), "
            f"got {crossfit!r}"
        )
    if seed is not None and not isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be None or a non-negative integer, got {seed!r}")
        if seed < 0:
            raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    if not isinstance(convergence, str) or convergence not in ("full", "r"):
        raise ValueError(f"convergence must be 'full' or 'r', got {convergence!r}")


def _is_label(value) -> bool:
    """A plausible column label: any hashable value but a boolean (not a list or frame).

    A string, a number, or a tuple naming a column of MultiIndex columns.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Hashable):
        return False
    try:
        hash(value)  # a tuple holding a list is not hashable after all
    except TypeError:
        return False
    return True


def _is_real(value) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, (bool, np.bool_))
        and bool(np.isfinite(value))
    )


def _check_not_self_predicted(models: list[ModelSpec]) -> None:
    """No treatment model may read the treatment column, no censoring model the censor column.

    A formula given with a left-hand side (``"a ~ x + l"``) must name the column its model
    models: the treatment for treatment models, the censor column for censoring models.
    """
    for m in models:
        column, rhs = m.outcome, m.rhs
        if isinstance(rhs, str) and "~" in rhs:
            lhs = rhs.split("~")[0].strip().strip("`").strip()
            if lhs and lhs != str(column):
                raise DataError(
                    column,
                    f"the {m.role} formula {rhs!r} has left-hand side {lhs!r}, but this model "
                    f"models {column!r}; give the right-hand side only, e.g. "
                    f"{rhs.split('~')[-1].strip()!r}",
                )
        if column in m.terms.columns:
            raise DataError(
                column,
                f"the {m.role} model {m.formula!r} reads {column!r}, the column it "
                "models; remove it from the right-hand side",
            )


def check_varies(
    y: np.ndarray, column: str, role: str, *, absorbing: bool = False, levels: list | None = None
) -> None:
    """DataError unless the modelled column takes two or more values on the model's rows.

    ``y`` is the outcome on the rows that inform the model (0/1, category codes into
    ``levels``, or a dose).  Every family's model is checked here, before it is fitted, so
    the message says what is true (nothing to model) instead of what a solver trips on.
    """
    if y.size and np.all(y == y[0]):
        value = y[0]
        if levels is not None:
            value = levels[int(value)]
        elif float(value).is_integer():
            value = int(value)
        raise not_varying(column, role, y.size, value, absorbing=absorbing)


def warn_no_censoring(column: str, n_rows: int) -> None:
    """DataWarning: ``censor=`` names a column that is 0 on every row (no model is fitted)."""
    warn(
        f"column {column!r}: no subject is censored (all {n_rows} rows are 0): the "
        "censoring weights are 1 and no censoring model is fitted",
        DataWarning,
    )


def not_varying(column: str, role: str, n: int, value, *, absorbing: bool = False) -> DataError:
    """The DataError for a modelled column constant (``value``) on the ``n`` rows of a model."""
    rows = "1 row that informs" if n == 1 else f"{n} rows that inform"
    value = value.item() if isinstance(value, np.generic) else value
    where = (
        "; with absorbing=True these are each subject's rows up to and including the first "
        "treated one"
        if absorbing
        else ""
    )
    return DataError(
        column,
        f"does not vary on the {rows} the {role} model (all {value!r}{where}): there is "
        "nothing to model",
    )


def spec_text(spec: Spec) -> str | None:
    """A right-hand side as text: a formula as given, a list of columns joined by ``+``."""
    if spec is None or isinstance(spec, str):
        return spec
    return " + ".join(map(str, spec))


def check_truncate(truncate, truncate_by) -> None:
    """ValueError unless ``truncate`` is (lower, upper) percentiles and ``truncate_by`` valid.

    Shared with the Dask front end (``msm._dask.weights``).
    """
    if truncate is not None:
        pair = (
            not isinstance(truncate, (str, bytes))
            and np.ndim(truncate) == 1
            and len(truncate) == 2
            and all(_is_real(v) for v in truncate)
        )
        if not pair or not (0 <= truncate[0] < truncate[1] <= 100):
            raise ValueError(
                "truncate must be (lower, upper) percentiles with 0 <= lower < upper <= 100, "
                f"got {truncate!r}"
            )
        if truncate[1] <= 1:
            raise ValueError(
                f"truncate={tuple(truncate)!r} are percentiles on 0-100, so the upper bound "
                f"would be the {truncate[1]:g}th percentile and cap about "
                f"{100 - truncate[1]:g}% of the weights; for the 1st and 99th percentiles "
                "(R ipw's trunc=0.01) pass truncate=(1, 99)"
            )
    if truncate_by not in (None, "time"):
        raise ValueError(f"truncate_by must be None or 'time', got {truncate_by!r}")
    if truncate_by is not None and truncate is None:
        raise ValueError(
            f"truncate_by={truncate_by!r} says how to truncate, but truncate= is None (no "
            "truncation); pass truncate=(lower, upper) percentiles, e.g. (1, 99)"
        )


# log of the largest double: a weight above exp(709.78) cannot be represented
_MAX_LOG_WEIGHT = np.log(np.finfo(np.float64).max)


def _check_representable(panel: Panel, log_weights: np.ndarray, column: str) -> None:
    if -_MAX_LOG_WEIGHT < log_weights.min() and log_weights.max() < _MAX_LOG_WEIGHT:
        return
    too_big = np.abs(log_weights) >= _MAX_LOG_WEIGHT
    raise DataError(
        column,
        f"{int(too_big.sum())} weight(s) exceed the floating-point range (|log w| > "
        f"{_MAX_LOG_WEIGHT:.0f}): the treatment or censoring model predicts what happened "
        "with probability near 0 at many visits; check the models for separation, or "
        "shorten follow-up",
        list(pd.unique(panel.ids[too_big])),
    )


def _check_censor_last(panel: Panel, c: np.ndarray, column: str) -> None:
    early = (c == 1.0) & ~panel.last_rows()
    if early.any():
        raise DataError(
            column,
            "censoring indicator may be 1 only on a subject's last row",
            list(pd.unique(panel.ids[early])),
        )


def truncate_weights(
    weights: np.ndarray, percentiles: tuple[float, float], groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """R ipw's truncation: ``w <= q_lo`` becomes ``q_lo``, ``w > q_hi`` becomes ``q_hi``.

    Quantiles are of type 7 (numpy's default), over all rows or within each group.
    Returns the truncated weights, a mask of rows that changed, and the bounds.
    """
    lo, hi = percentiles[0] / 100.0, percentiles[1] / 100.0
    if groups is None:
        q_lo, q_hi = np.quantile(weights, [lo, hi])
        lower = np.full(weights.size, q_lo)
        upper = np.full(weights.size, q_hi)
        bounds = pd.DataFrame({"lower": [q_lo], "upper": [q_hi]}, index=pd.Index(["all"]))
    else:
        keys, inverse = np.unique(groups, return_inverse=True)
        q_lo, q_hi = _grouped_quantiles(weights, inverse, keys.size, lo, hi)
        lower, upper = q_lo[inverse], q_hi[inverse]
        bounds = pd.DataFrame({"lower": q_lo, "upper": q_hi}, index=pd.Index(keys))
    out, changed = apply_bounds(weights, lower, upper)
    return out, changed, bounds


def apply_bounds(
    weights: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The truncation rule given each row's bounds: the new weights and the rows changed.

    ``w <= lower`` becomes ``lower`` and ``w > upper`` becomes ``upper`` (R ipw).  Shared by
    ``truncate_weights`` and the dask path, which finds the bounds by distributed selection.

    Examples
    --------
    >>> apply_bounds(np.array([0.5, 1.0, 9.0]), np.full(3, 0.5), np.full(3, 2.0))
    (array([0.5, 1. , 2. ]), array([False, False,  True]))
    """
    out = np.where(weights <= lower, lower, np.where(weights > upper, upper, weights))
    return out, out != weights


def quantile_ranks(counts: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Type-7 position ``h = (n - 1) q`` and the 0-based ranks of the order statistics around it.

    Returns ``(h, below, above)`` with ``below = floor(h)`` and ``above = min(below + 1, n - 1)``
    for each group size ``n`` in ``counts``.
    """
    h = (counts - 1) * q
    below = np.floor(h).astype(np.int64)
    above = np.minimum(below + 1, counts - 1)
    return h, below, above


def interpolate_quantile(v_lo, v_hi, h, below):
    """Type-7 quantile from its two order statistics (as within groups in memory)."""
    return v_lo + (h - below) * (v_hi - v_lo)


def _grouped_quantiles(values, group, n_groups, *qs):
    """Type-7 quantiles within groups, all groups at once (one sort)."""
    order = np.lexsort((values, group))
    sorted_values = values[order]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    result = []
    for q in qs:
        h, below, above = quantile_ranks(counts, q)
        v_lo = sorted_values[starts + below]
        v_hi = sorted_values[starts + above]
        result.append(interpolate_quantile(v_lo, v_hi, h, below))
    return result
