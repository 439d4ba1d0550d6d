"""Clone-censor-weight emulation of a target trial with grace periods (``clone_censor``).

Data path: validate the arguments and the rows once (``msm.panel``), keep each patient's
rows from time zero (the first eligible row) on, count intervals from it (``followup``,
0 at time zero), then for every strategy:

1. clone: every eligible patient gets a copy of its rows;
2. censor: the clone keeps the rows through the last interval where its observed treatment
   agrees with the strategy; the row where it stops agreeing is removed with its outcome
   (within an interval the order is covariates, then the treatment decision, then the
   outcome, so the deviation comes before that interval's outcome);
3. weight: a logistic model of starting treatment is fitted on the strategy's risk set, the
   rows untreated before them where the strategy prescribes the decision (``never``: every
   such row, including those where the outcome happens; ``start_within(g)``: the rows at
   interval g-1), and each kept row in it contributes 1 / P(the prescribed decision); a
   clone's weight at interval k is the product of its contributions through k.  So under
   ``start_within(g)`` only the clones that start at interval g-1 carry a weight, 1 /
   P(start at g-1 | untreated so far, history): the estimand is the regime "natural start in
   intervals 0..g-2, anyone still untreated starts at g-1".

Risk curves are weighted nonparametric cumulative incidences (one weighted hazard per
interval and strategy); the bootstrap resamples patients on the original data and re-runs
the whole emulation, never resampling clones.  The caller's frame is only read.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm import _kernels
from msm._formula import Terms, design_matrix, intercept_columns, parse_terms
from msm.models.logit import fit_logit, log_prob
from msm.panel import (
    DataError,
    binary_values,
    build_panel,
    check_columns_exist,
    check_finite,
    check_frame,
)
from msm.strategies import FREE, Strategy

__all__ = [
    "CloneCensor",
    "CloneCensorSpec",
    "CloneRows",
    "Decisions",
    "clone_censor",
    "check_grace_periods",
    "check_method",
    "check_times",
    "clone_censor_spec",
    "clone_frame",
    "clone_rows",
    "compute_clones",
    "constant_term_note",
    "loss_log_weights",
    "no_variation",
    "nonparametric_hazards",
    "pooled_hazards",
    "protocol_table",
    "risk_table",
    "strategy_decisions",
]

STRATEGY, FOLLOWUP, WEIGHT = "strategy", "followup", "weight"


def _offenders(ids) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in pd.unique(np.asarray(ids))]


def _grouped_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each group start (rows sorted by group), as float64:
    the weights kernel's, summed within each group (no differences of a running total over
    all groups, which would lose digits of the later groups' log weights)."""
    out = np.array(values, dtype=np.float64)
    return _kernels.grouped_cumsum(out, np.asarray(starts, dtype=np.int64), out)


def _starts_of(group: np.ndarray) -> np.ndarray:
    """Group offsets of a sorted array of group numbers."""
    if group.size == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(np.diff(group)) + 1
    return np.concatenate(([0], change, [group.size])).astype(np.int64)


@dataclass(frozen=True, repr=False)
class CloneCensor:
    """A clone-censor-weight emulation of a target trial (``msm.clone_censor``).

    Attributes
    ----------
    expanded : pandas.DataFrame
        One row per clone and interval kept: the id, ``strategy`` (its name),
        ``followup`` (intervals since time zero), the outcome, ``weight`` (the inverse
        probability of artificial censoring, cumulated through the interval), the treatment
        and the covariates of the censoring models.
    strategies : dict
        The strategies by name, in order.
    models : dict
        The censoring (treatment-initiation) model of each strategy that has one
        (``LogitFit``, by strategy name; the same fit for every strategy with
        ``initiation_model="shared"``).
    risk_sets : dict
        For each strategy, the positions (rows of the caller's frame) where its clones are
        weighted for the prescribed decision (its censoring model's rows, unless shared).
    loss_model : LogitFit or None
        The loss-to-follow-up model (None without ``censor``, with
        ``loss_denominator=False`` or when nobody is lost).
    loss_risk_set : numpy.ndarray
        The positions (rows of the caller's frame) the loss model is fitted on.
    notes : list of str
        Terms dropped from a model because they are constant on its risk set, and what is
        not modelled.
    n_eligible : int
        Patients with a time zero (each cloned into every strategy).
    protocol : pandas.DataFrame
        The protocol table of the emulated target trial.
    spec : CloneCensorSpec
        The checked arguments.
    """

    expanded: pd.DataFrame
    strategies: dict
    models: dict
    risk_sets: dict
    loss_model: object
    loss_risk_set: np.ndarray
    notes: list
    n_eligible: int
    protocol: pd.DataFrame
    spec: CloneCensorSpec
    _data: pd.DataFrame = field(repr=False)

    @property
    def id(self) -> Hashable:
        return self.spec.id

    @property
    def outcome(self) -> Hashable:
        return self.spec.outcome

    @property
    def followup_max(self) -> int | None:
        return self.spec.followup_max

    def hazards(
        self,
        method: str = "nonparametric",
        hazard_model: str | None = None,
        *,
        weighted: bool = True,
    ):
        """Weighted hazard per interval and strategy (index ``followup``).

        ``method="nonparametric"``: ``h_k = sum(weight * outcome) / sum(weight)`` over the
        clones of the strategy kept at interval k.  ``"pooled_logistic"``: the fitted
        probabilities of a weighted logistic model of the outcome on ``hazard_model`` (a
        right-hand side in ``followup`` only, default ``"followup + I(followup**2)"``),
        fitted separately on each strategy's clone rows.  ``weighted=False``: every kept
        clone row counts 1 (see ``risk_curves``).
        """
        method, terms = check_method(method, hazard_model, self.expanded)
        return _hazards(
            self.expanded, self.outcome, list(self.strategies), self._horizon(), method, terms,
            check_weighted(weighted),
        )  # fmt: skip

    def _horizon(self) -> int:
        if self.followup_max is not None:
            return self.followup_max
        return int(self.expanded[FOLLOWUP].max()) + 1 if len(self.expanded) else 0

    def risk_curves(
        self,
        times: Sequence[int] = (12, 24),
        *,
        method: str = "nonparametric",
        hazard_model: str | None = None,
        n_boot: int = 200,
        seed: int | None = 1,
        ci: bool = True,
        alpha: float = 0.05,
        n_jobs: int | None = 1,
        progress: bool = False,
        weighted: bool = True,
    ) -> pd.DataFrame:
        """Cumulative incidence per strategy at ``times``, their difference and ratio.

        The risk at time t is the weighted cumulative incidence over intervals 0 .. t-1
        since time zero, ``1 - prod_{k < t} (1 - h_k)`` with ``h_k`` the weighted hazard of
        ``hazards`` (nonparametric by default, or from a pooled logistic hazard model).  The
        difference and ratio are the first strategy against the second.

        Parameters
        ----------
        times : sequence of int
            Intervals since time zero (each at least 1 and at most ``followup_max``).
        method : {"nonparametric", "pooled_logistic"}
            The hazards (see ``hazards``).
        hazard_model : str, optional
            With ``method="pooled_logistic"``: the right-hand side in ``followup``.
        n_boot : int
            Bootstrap replicates (with ``ci``): patients are resampled from the original data
            with ``msm.bootstrap`` and the whole emulation (cloning, censoring, the censoring
            and loss models, the weights, the hazards) is re-run on each replicate.
        seed : int, optional
            Seed of the bootstrap.
        ci : bool
            Add ``std_error`` and percentile ``lower`` and ``upper`` bounds.
        alpha : float
            ``1 - alpha`` intervals.
        n_jobs : int, optional
            Worker processes of the bootstrap (1: this process).
        progress : bool
            Show the bootstrap's progress bar.
        weighted : bool
            Weight the clones (the default: the clone-censor-weight estimate).  ``False``
            counts every kept clone row once: the naive per-protocol analysis, artificial
            censoring without its inverse-probability weights, biased when who deviates from
            a strategy depends on prognosis (the sicker ``never()`` clones start treatment and
            are censored, so the ones kept are healthier).  For comparison only; the
            bootstrap re-runs the same unweighted analysis.

        Returns
        -------
        pandas.DataFrame
            Index (``time``, ``quantity``): each strategy's name, ``difference`` and
            ``ratio``; column ``estimate`` (and ``std_error``, ``lower``, ``upper``).
        """
        times = check_times(times, self.followup_max, self._horizon())
        method, terms = check_method(method, hazard_model, self.expanded)
        weighted = check_weighted(weighted)
        names = list(self.strategies)
        estimate = _risk_table(self.expanded, self.outcome, names, times, method, terms, weighted)
        table = estimate.to_frame("estimate")
        if not ci:
            return table
        if self._data is None:
            raise ValueError("this emulation keeps no data to bootstrap (a replicate's own)")
        from msm.inference import bootstrap

        spec = self.spec

        def statistic(frame: pd.DataFrame) -> pd.Series:
            cc = compute_clones(frame, spec, store=False)
            return _flat(
                _risk_table(cc.expanded, cc.outcome, names, times, method, terms, weighted)
            )

        boot = bootstrap(
            statistic,
            self._data,
            cluster=self.id,
            n_boot=n_boot,
            seed=seed,
            n_jobs=n_jobs,
            progress=progress,
            alpha=alpha,
        )
        keys = list(_flat(estimate).index)
        reps = boot.replicates[keys].to_numpy(dtype=np.float64)
        table["std_error"] = np.nanstd(reps, axis=0, ddof=1)
        table["lower"] = np.nanquantile(reps, alpha / 2, axis=0)
        table["upper"] = np.nanquantile(reps, 1 - alpha / 2, axis=0)
        return table

    @staticmethod
    def evalues(table: pd.DataFrame, *, true: float = 1.0) -> pd.DataFrame:
        """E-values of the risk ratios of a ``risk_curves`` table (``strategy_evalues``)."""
        return strategy_evalues(table, true=true)

    def __repr__(self) -> str:
        names = ", ".join(f"{k}: {v!r}" for k, v in self.strategies.items())
        counts = self.expanded.groupby(STRATEGY, sort=False).size()
        lines = [
            f"CloneCensor: {self.n_eligible} eligible patients cloned into {names}",
            "clone rows kept: "
            + ", ".join(f"{k} {int(counts.get(k, 0))}" for k in self.strategies),
            "",
            "protocol of the emulated target trial:",
            protocol_text(self.protocol),
        ]
        if self.notes:
            lines += ["", "notes:", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines)


def strategy_evalues(table: pd.DataFrame, *, true: float = 1.0) -> pd.DataFrame:
    """The E-value of each time's risk ratio (first strategy over the second) in a
    ``risk_curves`` table, and of its interval's limit nearest ``true`` (with ``ci``).

    How strongly an unmeasured confounder would have to be associated with both following
    the strategies and the outcome to explain the ratio away (``msm.evalue``, risk-ratio
    scale).

    Returns
    -------
    pandas.DataFrame
        Index ``time``: ``ratio``, ``lower``, ``upper`` (missing without a CI), ``evalue``,
        ``evalue_ci``.

    Examples
    --------
    >>> index = pd.MultiIndex.from_tuples([(12, "w3"), (12, "never"), (12, "difference"),
    ...                                    (12, "ratio")], names=["time", "quantity"])
    >>> table = pd.DataFrame({"estimate": [0.36, 0.19, 0.17, 1.9],
    ...                       "lower": [0.3, 0.15, 0.1, 1.5], "upper": [0.42, 0.23, 0.24, 2.5]},
    ...                      index=index)
    >>> strategy_evalues(table).round(2)
          ratio  lower  upper  evalue  evalue_ci
    time
    12      1.9    1.5    2.5    3.21       2.37
    """
    from msm.inference.evalue import ratio_evalues

    if "estimate" not in table.columns or "quantity" not in (table.index.names or []):
        raise ValueError("strategy_evalues takes a CloneCensor.risk_curves table")
    ratios = table.xs("ratio", level="quantity")
    rows = {}
    for time, row in ratios.iterrows():
        lower = row.get("lower", np.nan)
        upper = row.get("upper", np.nan)
        has_ci = np.isfinite(lower) and np.isfinite(upper)
        point, ci = ratio_evalues(float(row["estimate"]), float(lower) if has_ci else None,
                                  float(upper) if has_ci else None, true=true)  # fmt: skip
        rows[time] = {
            "ratio": float(row["estimate"]),
            "lower": lower,
            "upper": upper,
            "evalue": point,
            "evalue_ci": ci,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "time"
    return out


def protocol_text(protocol: pd.DataFrame, width: int = 100) -> str:
    """The protocol table as text, one item per paragraph: the item's name, then its
    specification wrapped to ``width`` columns (the specifications are long)."""
    import textwrap

    lines = []
    for item, text in protocol["specification"].items():
        wrapped = textwrap.wrap(str(text), width - 24) or [""]
        lines.append(f"{item:<22}  {wrapped[0]}")
        lines += [" " * 24 + rest for rest in wrapped[1:]]
    return "\n".join(lines)


def _flat(table: pd.Series) -> pd.Series:
    return pd.Series(table.to_numpy(), index=[f"{t}|{q}" for t, q in table.index], dtype=np.float64)


def check_times(times, followup_max: int | None, horizon: int) -> list[int]:
    if isinstance(times, (int, np.integer)):
        times = [times]
    times = list(times)
    if not times:
        raise ValueError("times must hold at least one time")
    for t in times:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
            raise ValueError(f"times must be positive integers (intervals), got {t!r}")
        if t > horizon:
            limit = f"followup_max={followup_max}" if followup_max else f"{horizon} intervals"
            raise ValueError(f"time {t} is beyond the follow-up ({limit})")
    return [int(t) for t in times]


HAZARD_METHODS = ("nonparametric", "pooled_logistic")
DEFAULT_HAZARD_MODEL = "followup + I(followup**2)"


def check_method(method, hazard_model, expanded) -> tuple[str, Terms | None]:
    if not isinstance(method, str) or method not in HAZARD_METHODS:
        raise ValueError(
            f"method must be 'nonparametric' or 'pooled_logistic', got method={method!r}"
        )
    if method == "nonparametric":
        if hazard_model is not None:
            raise ValueError("hazard_model needs method='pooled_logistic'")
        return method, None
    text = DEFAULT_HAZARD_MODEL if hazard_model is None else hazard_model
    terms = parse_terms(text, expanded.iloc[:0], "hazard model (hazard_model)")
    other = [c for c in terms.columns if c != FOLLOWUP]
    if other:
        raise ValueError(
            f"hazard_model may use only {FOLLOWUP!r} (the hazard of each strategy is "
            f"marginal over the covariates); it uses {other}"
        )
    return method, terms


def check_weighted(weighted) -> bool:
    """``weighted=`` of the risk curves: True or False (ValueError)."""
    if not isinstance(weighted, (bool, np.bool_)):
        raise ValueError(f"weighted must be True or False, got {weighted!r}")
    return bool(weighted)


def nonparametric_hazards(events: np.ndarray, at_risk: np.ndarray) -> np.ndarray:
    """``h_k = sum(weight * outcome) / sum(weight)`` per interval (NaN where none at risk)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(at_risk > 0, events / at_risk, np.nan)


def pooled_hazards(fit, terms: Terms, seen: np.ndarray, horizon: int) -> np.ndarray:
    """The pooled-logistic hazards at intervals 0 .. horizon-1, NaN after the last interval
    with clones at risk (``seen``: intervals with rows)."""
    grid = pd.DataFrame({FOLLOWUP: np.arange(horizon)})
    X = design_matrix(terms, grid).matrix
    h = np.exp(log_prob(fit, X, np.ones(horizon)))
    return np.where(np.arange(horizon) <= np.flatnonzero(seen).max(), h, np.nan)


def _hazards(expanded, outcome, names, horizon, method="nonparametric", terms=None, weighted=True):
    index = pd.Index(np.arange(horizon), name=FOLLOWUP)
    out = {}
    for name in names:
        rows = expanded[expanded[STRATEGY] == name]
        w = rows[WEIGHT].to_numpy() if weighted else np.ones(len(rows))
        k = rows[FOLLOWUP].to_numpy()
        y = rows[outcome].to_numpy(dtype=np.float64)
        if method == "pooled_logistic":
            design = design_matrix(terms, rows)
            fit = fit_logit(
                design.matrix, y, list(design.names), weights=w,
                name=f"hazard model of strategy {name!r}", outcome=str(outcome),
                formula=terms.text,
            )  # fmt: skip
            # no prediction beyond the last interval with clones at risk
            seen = np.bincount(k, minlength=horizon)[:horizon] > 0
            out[name] = pooled_hazards(fit, terms, seen, horizon)
            continue
        events = np.bincount(k, weights=w * y, minlength=horizon)[:horizon]
        at_risk = np.bincount(k, weights=w, minlength=horizon)[:horizon]
        out[name] = nonparametric_hazards(events, at_risk)
    return pd.DataFrame(out, index=index)


def _risk_table(expanded, outcome, names, times, method="nonparametric", terms=None, weighted=True):
    h = _hazards(expanded, outcome, names, max(times), method, terms, weighted)
    return risk_table(h, names, times)


def risk_table(h: pd.DataFrame, names: list, times: list) -> pd.Series:
    """Risk per strategy at ``times`` (and difference and ratio) from the hazards ``h``."""
    # after the last interval with clones at risk the hazard is unknown: risk stays NaN
    risk = 1.0 - np.cumprod(1.0 - h.to_numpy(), axis=0)
    values = {}
    for t in times:
        r = risk[t - 1]
        for j, name in enumerate(names):
            values[(t, name)] = r[j]
        if len(names) >= 2:
            values[(t, "difference")] = r[0] - r[1]
            values[(t, "ratio")] = r[0] / r[1] if r[1] != 0 else np.nan
    s = pd.Series(values, dtype=np.float64)
    s.index = s.index.set_names(["time", "quantity"])
    return s


def protocol_table(spec: CloneCensorSpec) -> pd.DataFrame:
    strategies, followup_max, censor = spec.strategies, spec.followup_max, spec.censor
    names = list(strategies)
    described = "; ".join(
        f"{k}: {getattr(s, 'description', repr(s))} ({s!r})" for k, s in strategies.items()
    )
    end = (
        f"the first of: the outcome, {followup_max} intervals (0..{followup_max - 1})"
        if followup_max
        else "the first of: the outcome, the end of the data"
    )
    end += f", loss to follow-up ({censor!r})" if censor is not None else ""
    contrast = (
        f"per-protocol effect: risk under {names[0]!r} minus (and over) risk under {names[1]!r}"
        if len(names) >= 2
        else f"per-protocol risk under {names[0]!r}"
    )
    models = (
        "one shared logistic model of starting treatment"
        if spec.initiation_model == "shared"
        else "logistic models of starting treatment on each strategy's risk set"
    )
    analysis = (
        f"clone-censor-weight: inverse probability of artificial censoring ({models}, "
        f"{spec.initiation.text!r})"
    )
    if spec.loss is not None:
        analysis += f" and of loss to follow-up (logistic, {spec.loss.text!r})"
    elif censor is not None:
        analysis += "; loss to follow-up not weighted for (assumed non-informative)"
    analysis += "; weighted cumulative incidence; patient bootstrap"
    rows = {
        "eligibility": f"rows with {spec.eligible!r} = 1; time zero = each patient's first "
        f"eligible row ({spec.time!r})",
        "treatment strategies": described,
        "assignment": "each eligible patient is cloned into every strategy at time zero "
        "(emulated randomization: no confounding at assignment)",
        "follow-up start": "time zero (interval 0), for every strategy",
        "follow-up end": end + "; a clone is censored at the interval where its treatment "
        f"({spec.treatment!r}) stops agreeing with its strategy (that interval removed)",
        "outcome": f"{spec.outcome!r} (first occurrence, intervals counted from time zero)",
        "causal contrast": contrast,
        "analysis": analysis,
    }
    return pd.DataFrame({"specification": list(rows.values())}, index=pd.Index(rows, name="item"))


INITIATION_MODELS = ("per_strategy", "shared")


@dataclass(frozen=True)
class CloneCensorSpec:
    """The arguments of ``clone_censor``, checked once, with the formulas parsed."""

    id: Hashable
    time: Hashable
    treatment: Hashable
    outcome: Hashable
    eligible: Hashable
    strategies: dict
    initiation: Terms  # the artificial-censoring (treatment initiation) models' right side
    censor: Hashable | None
    loss: Terms | None  # the loss-to-follow-up model's right side (None: not weighted)
    followup_max: int | None
    initiation_model: str

    @property
    def columns(self) -> list:
        """The columns of the data the emulation reads (``followup`` is made, not read)."""
        named = [self.id, self.time, self.treatment, self.outcome, self.eligible]
        named += [self.censor] if self.censor is not None else []
        models = [*self.initiation.columns, *(self.loss.columns if self.loss else ())]
        return list(dict.fromkeys(named + [c for c in models if c != FOLLOWUP] + self.dynamic))

    @property
    def dynamic(self) -> list:
        """The columns the dynamic strategies read (``start_when``'s indications)."""
        return list(dict.fromkeys(c for s in self.strategies.values() for c in s.columns))


def clone_censor_spec(
    data: pd.DataFrame,
    *,
    id: Hashable,
    time: Hashable,
    treatment: Hashable,
    outcome: Hashable,
    eligible: Hashable,
    strategies: Mapping[str, Strategy],
    censor_denominator: str | Sequence[str] | None,
    censor: Hashable | None = None,
    loss_denominator: str | Sequence[str] | None | bool = None,
    followup_max: int | None = None,
    initiation_model: str = "per_strategy",
    columns_only: bool = False,
) -> CloneCensorSpec:
    """Check the arguments of ``clone_censor`` against ``data``'s columns; parse formulas.

    ``columns_only``: ``data`` stands for the columns of a larger frame (a Dask frame's
    ``_meta``), so it may have no rows.
    """
    check_frame(data, columns_only=columns_only)
    strategies = _check_strategies(strategies)
    if followup_max is not None and (
        isinstance(followup_max, bool)
        or not isinstance(followup_max, (int, np.integer))
        or followup_max < 1
    ):
        raise ValueError(f"followup_max must be a positive integer, got {followup_max!r}")
    for name, s in strategies.items():
        if followup_max is not None and (s.last_prescribed or 0) + 1 > followup_max:
            raise ValueError(
                f"strategy {name!r}: the grace period ({s.last_prescribed + 1} intervals) is "
                f"longer than the follow-up (followup_max={followup_max})"
            )
    if not isinstance(initiation_model, str) or initiation_model not in INITIATION_MODELS:
        raise ValueError(
            "initiation_model must be 'per_strategy' (one censoring model per strategy, on "
            "its own risk set) or 'shared' (one model of starting treatment on every row "
            f"untreated before), got {initiation_model!r}"
        )
    if censor is None and loss_denominator not in (None, False):
        raise ValueError("loss_denominator needs censor= (the 0/1 loss-to-follow-up column)")
    columns = [id, time, treatment, outcome, eligible] + ([censor] if censor is not None else [])
    check_columns_exist(data, columns, "clone_censor")
    for name, s in strategies.items():
        check_columns_exist(data, list(s.columns), f"strategy {name!r} ({s!r})")
    repeated = [c for c in dict.fromkeys(columns) if columns.count(c) > 1]
    if repeated:
        raise DataError(
            repeated[0],
            "id, time, treatment, outcome, eligible and censor must be different columns; "
            f"{repeated[0]!r} is given for more than one of them",
        )
    for name in (STRATEGY, FOLLOWUP, WEIGHT):
        if name in data.columns:
            raise DataError(
                name,
                f"the data has a column named {name!r}, which clone_censor creates; rename it",
            )
    # the models may use followup (intervals since time zero), which the emulation makes
    header = data.iloc[:0].assign(**{FOLLOWUP: np.zeros(0, dtype=np.int64)})
    initiation = parse_terms(censor_denominator, header, "censoring model (censor_denominator)")
    if treatment in initiation.columns or outcome in initiation.columns:
        raise DataError(
            treatment if treatment in initiation.columns else outcome,
            "censor_denominator models starting treatment given the history before the "
            "decision: it cannot use the treatment or the outcome of the same interval",
        )
    loss = None
    if censor is not None and loss_denominator is not False:
        if loss_denominator is None or loss_denominator is True:
            # the history up to the loss: the initiation model's terms and the treatment
            loss_denominator = (
                f"{initiation.text} + {treatment}"
                if isinstance(censor_denominator, str) or censor_denominator is None
                else [*censor_denominator, treatment]
            )
        loss = parse_terms(loss_denominator, header, "loss-to-follow-up model (loss_denominator)")
        if outcome in loss.columns or censor in loss.columns:
            raise DataError(
                outcome if outcome in loss.columns else censor,
                "loss_denominator models loss after the interval's outcome given the history: "
                "it cannot use the outcome or the censoring column",
            )
    return CloneCensorSpec(
        id=id,
        time=time,
        treatment=treatment,
        outcome=outcome,
        eligible=eligible,
        strategies=strategies,
        initiation=initiation,
        censor=censor,
        loss=loss,
        followup_max=None if followup_max is None else int(followup_max),
        initiation_model=initiation_model,
    )


def clone_censor(
    data: pd.DataFrame,
    *,
    id: Hashable,
    time: Hashable,
    treatment: Hashable,
    outcome: Hashable,
    eligible: Hashable,
    strategies: Mapping[str, Strategy],
    censor_denominator: str | Sequence[str] | None,
    censor: Hashable | None = None,
    loss_denominator: str | Sequence[str] | None | bool = None,
    followup_max: int | None = None,
    initiation_model: str = "per_strategy",
) -> CloneCensor:
    """Emulate a target trial by cloning, artificial censoring and weighting.

    Every eligible patient is cloned into every strategy at time zero (its first row with
    ``eligible`` = 1); intervals count from it (``followup`` 0 at time zero; rows must be
    consecutive intervals).  Within an interval the order is covariates, then the treatment
    decision, then the outcome, then loss to follow-up.  A clone is artificially censored at
    the interval where its observed treatment stops agreeing with its strategy, and that
    interval's row and outcome are removed: the ``never()`` clone loses the row where
    treatment starts; the ``start_within(g)`` clone loses interval g-1 if it does not start
    by then.

    The censoring weights: one logistic model of starting treatment per strategy, fitted on
    its risk set, the rows untreated before them where the strategy prescribes the decision
    (``never``: every row untreated before it, including rows where the outcome happens;
    ``start_within(g)``: only the rows at interval g-1 untreated before).  A clone's weight
    at interval k is the product, over its rows through k in the risk set, of 1 / P(the
    prescribed decision | history).  Under ``start_within(g)`` only the clones that start at
    interval g-1 carry a weight, 1 / P(start at g-1 | untreated so far, history); clones
    that started earlier have weight 1 (the estimand: natural start in intervals 0..g-2,
    anyone still untreated starts at g-1).  A term constant on a risk set (``followup`` at
    g-1) is dropped from that model with a note; the fitted probabilities do not change.
    With ``initiation_model="shared"`` one model of starting treatment is fitted on every
    row untreated before it (each patient once, from time zero) and every strategy takes
    its probabilities from it.

    Loss to follow-up (``censor``) is weighted for too: a logistic model of loss after
    interval k (``loss_denominator``; by default the censoring model's terms and the
    treatment) on the rows where a loss can end follow-up (no outcome at k, a row or a loss
    recorded after k, and k before the last interval of ``followup_max``), and each row of a
    patient (and so of all its clones) carries 1 / P(not lost | history) for every interval
    before it.  The weight of a clone's row is the product of the two.

    Parameters
    ----------
    data : pandas.DataFrame
        Person-interval rows.  Not modified.  A Dask DataFrame too (each patient's rows in
        one partition, else it is shuffled by id): the result is then a ``DaskCloneCensor``
        with the same models, weights and risk curves, whose clone rows are computed per
        partition (lazily); its patient bootstrap is not available (docs/dask.md).
    id, time, treatment, outcome, eligible : str
        Columns: subject, interval (consecutive integers), treatment (0/1, absorbing),
        outcome (0/1, the last row of a patient when 1) and eligibility (0/1).
    strategies : dict of str to Strategy
        The strategies by name (``msm.start_within(g)``, ``msm.never()``, combinations such
        as ``msm.never(before=1) & msm.start_within(3)``).  The difference and ratio of
        ``risk_curves`` are the first against the second.
    censor_denominator : str or list of str
        Right-hand side of the censoring (treatment initiation) models (formula or
        columns).  ``followup`` (intervals since time zero) may be used.
    censor : str, optional
        0/1 loss to follow-up: 1 on a patient's last row when no interval follows (the
        row's outcome is observed, as in ``simulate_jdm``; rows after it are an error).
    loss_denominator : str or list of str or False, optional
        Right-hand side of the loss-to-follow-up model; default the censoring model's terms
        plus the treatment.  ``False``: loss is not weighted for (assumed non-informative;
        said in the notes).
    followup_max : int, optional
        Keep intervals 0 .. followup_max - 1 since time zero.
    initiation_model : {"per_strategy", "shared"}
        One censoring model per strategy on its own risk set (the default), or one shared
        model of starting treatment.

    Returns
    -------
    CloneCensor

    Raises
    ------
    DataError
        Naming the column (and the ids): a column not in the data, a missing value in a
        column used, treatment, outcome, eligible or censor not 0/1, no eligible row,
        intervals that are not consecutive, rows after the outcome or after loss, a grace
        period longer than the follow-up in the data, a model that uses the treatment or
        outcome it must precede, or treatment that does not vary on a censoring model's
        risk set.
    ValueError
        Strategies that are not a dict of names to strategies, a grace period longer than
        ``followup_max``, an unknown ``initiation_model``.

    Examples
    --------
    >>> import msm
    >>> data = msm.datasets.simulate_jdm(n_patients=400, months=18, seed=3, eligible=True)
    >>> cc = msm.clone_censor(data, id="id", time="month", treatment="ivig",
    ...                       outcome="quiescence", eligible="eligible",
    ...                       strategies={"IVIG within 3": msm.start_within(3),
    ...                                   "no IVIG": msm.never()},
    ...                       censor_denominator="pga + cmas + prednisone + followup",
    ...                       censor="lost", followup_max=12)
    >>> sorted(cc.expanded["strategy"].unique())
    ['IVIG within 3', 'no IVIG']
    >>> rc = cc.risk_curves(times=[6, 12], ci=False)
    >>> list(rc.loc[12].index)
    ['IVIG within 3', 'no IVIG', 'difference', 'ratio']
    >>> list(cc.protocol.index)[:3]
    ['eligibility', 'treatment strategies', 'assignment']
    >>> cc.loss_model.outcome
    'lost'
    """
    spec = clone_censor_spec(
        data,
        id=id,
        time=time,
        treatment=treatment,
        outcome=outcome,
        eligible=eligible,
        strategies=strategies,
        censor_denominator=censor_denominator,
        censor=censor,
        loss_denominator=loss_denominator,
        followup_max=followup_max,
        initiation_model=initiation_model,
    )
    return compute_clones(data, spec)


def _check_strategies(strategies) -> dict:
    if not isinstance(strategies, Mapping) or not strategies:
        raise ValueError(
            "strategies must be a non-empty dict of names to strategies, e.g. "
            "{'treat within 3': msm.start_within(3), 'never': msm.never()}"
        )
    for name, s in strategies.items():
        if not isinstance(name, str):
            raise ValueError(f"strategy names must be strings, got {name!r}")
        if not isinstance(s, Strategy):
            raise ValueError(
                f"strategy {name!r} must be a strategy such as msm.start_within(3) or "
                f"msm.never(), got {s!r}"
            )
    return dict(strategies)


@dataclass(frozen=True, eq=False)
class CloneRows:
    """Each eligible patient's rows from time zero on (within ``followup_max``), sorted.

    ``caller_rows`` are positions into the caller's frame; ``starts`` the patients' offsets;
    ``frame`` the caller's rows there with ``followup`` added (what the models read);
    ``lost_possible``: rows after which a loss to follow-up can end the patient's rows.
    """

    caller_rows: np.ndarray
    starts: np.ndarray
    followup: np.ndarray
    treated: np.ndarray
    treated_before: np.ndarray
    outcome: np.ndarray
    lost: np.ndarray
    lost_possible: np.ndarray
    ids: np.ndarray
    frame: pd.DataFrame
    since: dict = field(default_factory=dict)  # dynamic columns: intervals since first 1

    @property
    def n_patients(self) -> int:
        return int(self.starts.size - 1)


def clone_rows(data: pd.DataFrame, spec: CloneCensorSpec, *, whole: bool = True) -> CloneRows:
    """Validate the rows ``spec`` reads and keep each patient's from time zero on.

    ``whole=False``: ``data`` is one partition of a larger frame (whole patients), so the
    checks over all the data (some row eligible, ``check_grace_periods``) are the caller's.
    """
    id, time, outcome, censor = spec.id, spec.time, spec.outcome, spec.censor
    check_finite(data, spec.columns, id)
    panel = build_panel(data, id, spec.time)

    def binary(column, role):
        return binary_values(panel, panel.sort(data[column].to_numpy()), column, role)

    a = binary(spec.treatment, "treatment")
    y = binary(outcome, "outcome")
    e = binary(spec.eligible, "eligible")
    c = np.zeros_like(a) if censor is None else binary(censor, "censor")
    if whole and not e.any():
        raise DataError(spec.eligible, f"no row is eligible (all {e.size} rows are 0): no trial")
    eligible_so_far = _grouped_cumsum(e, panel.starts) > 0
    rows = np.flatnonzero(eligible_so_far)  # sorted positions from time zero on
    sub = panel.subject_of_row()[rows]
    sub_starts = _starts_of(sub)
    t_sorted = panel.time[rows].astype(np.float64)
    t0 = np.repeat(t_sorted[sub_starts[:-1]], np.diff(sub_starts))
    rank = np.arange(rows.size) - np.repeat(sub_starts[:-1], np.diff(sub_starts))
    gaps = (t_sorted - t0) != rank
    if gaps.any():
        raise DataError(
            time,
            "intervals must be consecutive integers from time zero on (a row for every "
            "interval until the last)",
            ids=_offenders(panel.ids[rows][gaps]),
        )
    followup = rank.astype(np.int64)
    a_r, y_r, c_r = a[rows], y[rows], c[rows]
    events_before = _grouped_cumsum(y_r, sub_starts) - y_r
    if (events_before > 0).any():
        raise DataError(
            outcome,
            "rows after a patient's first outcome (from time zero on): follow-up must end "
            "at the outcome",
            ids=_offenders(panel.ids[rows][events_before > 0]),
        )
    lost_before = _grouped_cumsum(c_r, sub_starts) - c_r
    if (lost_before > 0).any():
        raise DataError(
            censor,
            "rows after loss to follow-up (censor = 1 must be a patient's last row)",
            ids=_offenders(panel.ids[rows][lost_before > 0]),
        )
    # a loss can end follow-up after interval k when k has no outcome and the patient's
    # rows go on after k or end in a loss (a last row without either is the end of the
    # data: administrative, not a loss), and k is not the last interval kept
    last = np.zeros(rows.size, dtype=bool)
    last[sub_starts[1:] - 1] = True
    lost_possible = (y_r == 0) & (~last | (c_r == 1))
    if spec.followup_max is not None:
        lost_possible &= followup < spec.followup_max - 1
        within = followup < spec.followup_max
        rows, sub, followup = rows[within], sub[within], followup[within]
        a_r, y_r, c_r, lost_possible = a_r[within], y_r[within], c_r[within], lost_possible[within]
        sub_starts = _starts_of(sub)
    if whole:
        check_grace_periods(spec, int(followup.max()) + 1)
    caller_rows = panel.order[rows]
    frame = data.iloc[caller_rows].reset_index(drop=True)
    frame[FOLLOWUP] = followup
    since = {}
    for column in spec.dynamic:
        flag = binary(column, "strategy indication")[rows] == 1
        since[column] = _intervals_since_first(flag, followup, sub_starts)
    return CloneRows(
        caller_rows=caller_rows,
        starts=sub_starts,
        followup=followup,
        treated=a_r == 1,
        treated_before=(_grouped_cumsum(a_r, sub_starts) - a_r) > 0,
        outcome=y_r,
        lost=c_r,
        lost_possible=lost_possible,
        ids=frame[id].to_numpy(),
        frame=frame,
        since=since,
    )


def check_grace_periods(spec: CloneCensorSpec, longest: int) -> None:
    """Every strategy's grace period fits in the longest follow-up (intervals) in the data."""
    for name, s in spec.strategies.items():
        if (s.last_prescribed or 0) + 1 > longest:
            raise DataError(
                spec.time,
                f"strategy {name!r}: the grace period ({s.last_prescribed + 1} intervals) is "
                f"longer than the longest follow-up in the data ({longest} intervals from "
                "time zero)",
            )


def _intervals_since_first(flag: np.ndarray, followup: np.ndarray, starts: np.ndarray):
    """Within each patient: intervals since ``flag`` was first True (-1 before)."""
    never = np.iinfo(np.int64).max
    at = np.where(flag, followup, never)
    first = np.minimum.reduceat(at, starts[:-1]) if at.size else at
    first = np.repeat(first, np.diff(starts))
    return np.where(followup >= first, followup - first, -1)


@dataclass(frozen=True, eq=False)
class Decisions:
    """Where a strategy's clones follow it, and its censoring model's risk set.

    ``follows``: the clone still follows the strategy through the row (kept);
    ``risk``: the rows where the strategy prescribes the decision to a clone untreated
    before and following it before (the censoring model's rows); ``prescribed``: 0/1 there.
    """

    follows: np.ndarray
    risk: np.ndarray
    prescribed: np.ndarray


def strategy_decisions(rows: CloneRows, strategy: Strategy) -> Decisions:
    """The clones of ``strategy``: which rows they keep, where they are weighted."""
    since = {c: rows.since[c] for c in strategy.columns} or None
    rx = np.asarray(strategy.prescription(rows.followup, rows.treated_before, since))
    rx = rx.astype(np.int64)
    agrees = (rx == FREE) | (rx == rows.treated)
    deviations = _grouped_cumsum((~agrees).astype(np.float64), rows.starts)
    follows = deviations == 0
    follows_before = (deviations - (~agrees)) == 0
    risk = follows_before & ~rows.treated_before & (rx != FREE)
    return Decisions(follows=follows, risk=risk, prescribed=rx[risk])


def compute_clones(data: pd.DataFrame, spec: CloneCensorSpec, *, store: bool = True):
    """Clone, censor and weight ``data`` as ``spec`` says (``clone_censor``'s work)."""
    rows = clone_rows(data, spec)
    treatment = spec.treatment
    a_r = rows.treated.astype(np.float64)
    notes: list[str] = []
    decisions = {name: strategy_decisions(rows, s) for name, s in spec.strategies.items()}
    models, risk_sets, p_start = {}, {}, {}
    if spec.initiation_model == "shared":
        untreated = ~rows.treated_before
        fit, p = _censoring_model(
            rows.frame, spec.initiation, untreated, a_r, "shared initiation model", notes,
            treatment,
        )  # fmt: skip
        p_all = np.full(untreated.size, np.nan)
        p_all[untreated] = p
        for name, d in decisions.items():
            risk_sets[name] = rows.caller_rows[d.risk]
            if d.risk.any():
                models[name] = fit
                p_start[name] = p_all[d.risk]
    else:
        for name, d in decisions.items():
            risk_sets[name] = rows.caller_rows[d.risk]
            if d.risk.any():
                models[name], p_start[name] = _censoring_model(
                    rows.frame, spec.initiation, d.risk, a_r,
                    f"censoring model of strategy {name!r}", notes, treatment,
                )  # fmt: skip
    loss_model, loss_risk, loss_log = _loss_weights(rows, spec, notes)
    expanded = clone_frame(rows, spec, decisions, p_start, loss_log)
    return CloneCensor(
        expanded=expanded,
        strategies=dict(spec.strategies),
        models=models,
        risk_sets=risk_sets,
        loss_model=loss_model,
        loss_risk_set=loss_risk,
        notes=notes,
        n_eligible=rows.n_patients,
        protocol=protocol_table(spec),
        spec=spec,
        _data=data if store else None,
    )


def clone_frame(
    rows: CloneRows, spec: CloneCensorSpec, decisions: dict, p_start: dict, loss_log: np.ndarray
) -> pd.DataFrame:
    """The clones' rows (``CloneCensor.expanded``) from each strategy's ``decisions``, the
    fitted P(start) on its risk set (``p_start``, by strategy; absent: weight 1) and each
    row's log loss weight."""
    treatment, outcome = spec.treatment, spec.outcome
    covariates = [
        c_
        for c_ in dict.fromkeys(
            [*spec.initiation.columns, *(spec.loss.columns if spec.loss else ())]
        )
        if c_ not in (FOLLOWUP, spec.id, outcome, treatment)
    ]
    pieces = []
    for name, d in decisions.items():
        log_factor = np.zeros(rows.followup.size)
        if name in p_start:
            prescribed = np.where(d.prescribed == 1, p_start[name], 1.0 - p_start[name])
            kept = d.follows[d.risk]
            contribution = np.zeros(prescribed.size)
            contribution[kept] = -np.log(prescribed[kept])
            log_factor[d.risk] = contribution
        log_weight = _grouped_cumsum(np.where(d.follows, log_factor, 0.0), rows.starts)
        log_weight += loss_log
        keep = d.follows
        piece = pd.DataFrame(
            {
                spec.id: rows.ids[keep],
                STRATEGY: name,
                FOLLOWUP: rows.followup[keep],
                outcome: rows.outcome[keep].astype(np.int64),
                WEIGHT: np.exp(log_weight[keep]),
                treatment: rows.treated[keep].astype(np.int64),
            }
        )
        for col in covariates:
            piece[col] = rows.frame[col].to_numpy()[keep]
        pieces.append(piece)
    expanded = pd.concat(pieces, ignore_index=True)
    expanded[STRATEGY] = pd.Categorical(expanded[STRATEGY], categories=list(spec.strategies))
    return expanded


def _loss_weights(rows: CloneRows, spec: CloneCensorSpec, notes: list):
    """The loss model, its risk set (caller positions) and each row's log loss weight."""
    zero = np.zeros(rows.followup.size)
    none = rows.caller_rows[:0]
    if spec.censor is None:
        return None, none, zero
    if spec.loss is None:
        notes.append(loss_note(spec, lost=None))
        return None, none, zero
    risk = rows.lost_possible
    lost = rows.lost[risk]
    if not lost.any():
        notes.append(loss_note(spec, lost=False))
        return None, rows.caller_rows[risk], zero
    design = design_matrix(spec.loss, rows.frame.loc[risk])
    names = list(design.names)
    X = _drop_constant(design, names, "the loss-to-follow-up model", notes)
    fit = fit_logit(
        X[0], lost.astype(np.float64), X[1], name="loss-to-follow-up model",
        outcome=str(spec.censor), formula=spec.loss.text,
    )  # fmt: skip
    log_stay = log_prob(fit, X[0], np.zeros(lost.size))
    return fit, rows.caller_rows[risk], loss_log_weights(rows, risk, log_stay)


def loss_note(spec: CloneCensorSpec, *, lost: bool | None) -> str:
    """The note when loss is not weighted for (``lost=None``) or nobody is lost (False)."""
    if lost is None:
        return (
            f"loss to follow-up ({spec.censor!r}) is not weighted for (loss_denominator="
            "False): loss is assumed non-informative"
        )
    return (
        f"no patient is lost ({spec.censor!r} is 0 on every row where a loss could end "
        "follow-up): no loss-to-follow-up weights"
    )


def loss_log_weights(rows: CloneRows, risk: np.ndarray, log_stay: np.ndarray) -> np.ndarray:
    """Each row's log loss weight: -log P(not lost after k | history) (``log_stay`` on the
    rows ``risk``) summed over the intervals before it."""
    factor = np.zeros(rows.followup.size)
    factor[risk] = -log_stay
    inclusive = _grouped_cumsum(factor, rows.starts)
    return inclusive - factor


def constant_term_note(model: str, term: str, value: float, n: int) -> str:
    """The note for a term constant (``value``) on a model's ``n`` rows, dropped."""
    return (
        f"{model}: term {term!r} is constant ({value:g}) on its risk set ({n} rows) and was dropped"
    )


def no_variation(treatment, model: str, n: int, value: int) -> DataError:
    """The DataError for treatment constant (``value``) on a censoring model's ``n`` rows."""
    return DataError(
        treatment,
        f"{model}: treatment does not vary on the {n} rows of its risk set (all "
        f"{value}): the probability of following the strategy cannot be modelled",
    )


def _drop_constant(design, names, model: str, notes: list):
    """The design without terms constant on its rows (noted); the intercept stays."""
    X = design.matrix
    intercept = set(intercept_columns(design))
    keep = []
    for j, term in enumerate(names):
        if j not in intercept and X.shape[0] > 0 and np.ptp(X[:, j]) == 0:
            notes.append(constant_term_note(model, term, X[0, j], X.shape[0]))
            continue
        keep.append(j)
    return np.ascontiguousarray(X[:, keep]), [names[j] for j in keep]


def _censoring_model(frame, terms, risk, a_r, model, notes, treatment):
    """Logistic model of starting treatment on the risk set; constant terms dropped."""
    design = design_matrix(terms, frame.loc[risk])
    X, names = _drop_constant(design, list(design.names), model, notes)
    y = a_r[risk]
    if y.min() == y.max():
        raise no_variation(treatment, model, y.size, int(y[0]))
    fit = fit_logit(X, y, names, name=model, outcome=str(treatment), formula=terms.text)
    p = np.exp(log_prob(fit, X, np.ones(y.size)))
    return fit, p
