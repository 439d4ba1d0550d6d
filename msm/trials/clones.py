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
from msm._formula import design_matrix, intercept_columns, parse_terms
from msm.models.logit import fit_logit, log_prob
from msm.panel import (
    DataError,
    binary_values,
    build_panel,
    check_columns_exist,
    check_finite,
    check_frame,
)
from msm.strategies import FREE, StartWithin, Strategy

__all__ = ["CloneCensor", "clone_censor"]

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
        (``LogitFit``, by strategy name).
    risk_sets : dict
        For each strategy, the positions (rows of the caller's frame) its censoring model is
        fitted on.
    notes : list of str
        Terms dropped from a censoring model because they are constant on its risk set,
        and what is not modelled (loss to follow-up).
    n_eligible : int
        Patients with a time zero (each cloned into every strategy).
    protocol : pandas.DataFrame
        The protocol table of the emulated target trial.
    """

    expanded: pd.DataFrame
    strategies: dict
    models: dict
    risk_sets: dict
    notes: list
    n_eligible: int
    protocol: pd.DataFrame
    id: Hashable
    outcome: Hashable
    followup_max: int | None
    _data: pd.DataFrame = field(repr=False)
    _arguments: dict = field(repr=False)

    def hazards(self) -> pd.DataFrame:
        """Weighted hazard per interval and strategy (index ``followup``).

        ``h_k = sum(weight * outcome) / sum(weight)`` over the clones of the strategy kept at
        interval k.
        """
        return _hazards(self.expanded, self.outcome, list(self.strategies), self._horizon())

    def _horizon(self) -> int:
        if self.followup_max is not None:
            return self.followup_max
        return int(self.expanded[FOLLOWUP].max()) + 1 if len(self.expanded) else 0

    def risk_curves(
        self,
        times: Sequence[int] = (12, 24),
        *,
        n_boot: int = 200,
        seed: int | None = 1,
        ci: bool = True,
        alpha: float = 0.05,
        n_jobs: int | None = 1,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Cumulative incidence per strategy at ``times``, their difference and ratio.

        The risk at time t is the weighted nonparametric cumulative incidence over intervals
        0 .. t-1 since time zero, ``1 - prod_{k < t} (1 - h_k)`` with ``h_k`` the weighted
        hazard of ``hazards``.  The difference and ratio are the first strategy against the
        second.

        Parameters
        ----------
        times : sequence of int
            Intervals since time zero (each at least 1 and at most ``followup_max``).
        n_boot : int
            Bootstrap replicates (with ``ci``): patients are resampled from the original data
            with ``msm.bootstrap`` and the whole emulation (cloning, censoring, the censoring
            models, the weights) is re-run on each replicate.
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

        Returns
        -------
        pandas.DataFrame
            Index (``time``, ``quantity``): each strategy's name, ``difference`` and
            ``ratio``; column ``estimate`` (and ``std_error``, ``lower``, ``upper``).
        """
        times = _check_times(times, self.followup_max, self._horizon())
        estimate = _risk_table(self.expanded, self.outcome, list(self.strategies), times)
        table = estimate.to_frame("estimate")
        if not ci:
            return table
        from msm.inference import bootstrap

        arguments = self._arguments

        def statistic(frame: pd.DataFrame) -> pd.Series:
            cc = _compute(frame, **arguments, store=False)
            return _flat(_risk_table(cc.expanded, cc.outcome, list(cc.strategies), times))

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
        reps = boot.replicates.to_numpy(dtype=np.float64)
        keys = list(_flat(estimate).index)
        reps = pd.DataFrame(reps, columns=list(boot.replicates.columns))[keys].to_numpy()
        table["std_error"] = np.nanstd(reps, axis=0, ddof=1)
        table["lower"] = np.nanquantile(reps, alpha / 2, axis=0)
        table["upper"] = np.nanquantile(reps, 1 - alpha / 2, axis=0)
        return table

    def __repr__(self) -> str:
        names = ", ".join(f"{k}: {v!r}" for k, v in self.strategies.items())
        counts = self.expanded.groupby(STRATEGY, sort=False).size()
        lines = [
            f"CloneCensor: {self.n_eligible} eligible patients cloned into {names}",
            "clone rows kept: "
            + ", ".join(f"{k} {int(counts.get(k, 0))}" for k in self.strategies),
            "",
            "protocol of the emulated target trial:",
            self.protocol.to_string(),
        ]
        if self.notes:
            lines += ["", "notes:", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines)


def _flat(table: pd.Series) -> pd.Series:
    return pd.Series(table.to_numpy(), index=[f"{t}|{q}" for t, q in table.index], dtype=np.float64)


def _check_times(times, followup_max: int | None, horizon: int) -> list[int]:
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


def _hazards(expanded, outcome, names, horizon) -> pd.DataFrame:
    index = pd.Index(np.arange(horizon), name=FOLLOWUP)
    out = {}
    for name in names:
        rows = expanded[expanded[STRATEGY] == name]
        w = rows[WEIGHT].to_numpy()
        k = rows[FOLLOWUP].to_numpy()
        y = rows[outcome].to_numpy(dtype=np.float64)
        events = np.bincount(k, weights=w * y, minlength=horizon)[:horizon]
        at_risk = np.bincount(k, weights=w, minlength=horizon)[:horizon]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(at_risk > 0, events / at_risk, np.nan)
    return pd.DataFrame(out, index=index)


def _risk_table(expanded, outcome, names, times) -> pd.Series:
    horizon = max(times)
    h = _hazards(expanded, outcome, names, horizon)
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


def _protocol(strategies, eligible, treatment, outcome, time, followup_max, censor, formula):
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
    rows = {
        "eligibility": f"rows with {eligible!r} = 1; time zero = each patient's first eligible "
        f"row ({time!r})",
        "treatment strategies": described,
        "assignment": "each eligible patient is cloned into every strategy at time zero "
        "(emulated randomization: no confounding at assignment)",
        "follow-up start": "time zero (interval 0), for every strategy",
        "follow-up end": end + "; a clone is censored at the interval where its treatment "
        f"({treatment!r}) stops agreeing with its strategy (that interval removed)",
        "outcome": f"{outcome!r} (first occurrence, intervals counted from time zero)",
        "causal contrast": contrast,
        "analysis": "clone-censor-weight: inverse probability of artificial censoring "
        f"(logistic models of starting treatment on each strategy's risk set, {formula!r}); "
        "weighted nonparametric cumulative incidence; patient bootstrap",
    }
    return pd.DataFrame({"specification": list(rows.values())}, index=pd.Index(rows, name="item"))


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
    followup_max: int | None = None,
) -> CloneCensor:
    """Emulate a target trial by cloning, artificial censoring and weighting.

    Every eligible patient is cloned into every strategy at time zero (its first row with
    ``eligible`` = 1); intervals count from it (``followup`` 0 at time zero; rows must be
    consecutive intervals).  Within an interval the order is covariates, then the treatment
    decision, then the outcome.  A clone is artificially censored at the interval where its
    observed treatment stops agreeing with its strategy, and that interval's row and outcome
    are removed: the ``never()`` clone loses the row where treatment starts; the
    ``start_within(g)`` clone loses interval g-1 if it does not start by then.

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

    Parameters
    ----------
    data : pandas.DataFrame
        Person-interval rows.  Not modified.
    id, time, treatment, outcome, eligible : str
        Columns: subject, interval (consecutive integers), treatment (0/1, absorbing),
        outcome (0/1, the last row of a patient when 1) and eligibility (0/1).
    strategies : dict of str to Strategy
        The strategies by name (``msm.start_within(g)``, ``msm.never()``, ...).  The
        difference and ratio of ``risk_curves`` are the first against the second.
    censor_denominator : str or list of str
        Right-hand side of the censoring models (formula or columns).  ``followup``
        (intervals since time zero) may be used.
    censor : str, optional
        0/1 loss to follow-up: 1 on a patient's last row when no interval follows (the
        row's outcome is observed, as in ``simulate_jdm``; rows after it are an error).
        Loss is not weighted for yet: the estimates assume it is non-informative.
    followup_max : int, optional
        Keep intervals 0 .. followup_max - 1 since time zero.

    Returns
    -------
    CloneCensor

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
    """
    arguments = dict(
        id=id,
        time=time,
        treatment=treatment,
        outcome=outcome,
        eligible=eligible,
        strategies=strategies,
        censor_denominator=censor_denominator,
        censor=censor,
        followup_max=followup_max,
    )
    return _compute(data, **arguments, store=True)


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


def _compute(
    data,
    *,
    id,
    time,
    treatment,
    outcome,
    eligible,
    strategies,
    censor_denominator,
    censor,
    followup_max,
    store: bool,
) -> CloneCensor:
    check_frame(data)
    strategies = _check_strategies(strategies)
    if followup_max is not None and (
        isinstance(followup_max, bool)
        or not isinstance(followup_max, (int, np.integer))
        or followup_max < 1
    ):
        raise ValueError(f"followup_max must be a positive integer, got {followup_max!r}")
    for name, s in strategies.items():
        if isinstance(s, StartWithin) and followup_max is not None and s.grace > followup_max:
            raise ValueError(
                f"strategy {name!r}: the grace period ({s.grace} intervals) is longer than "
                f"the follow-up (followup_max={followup_max})"
            )
    columns = [id, time, treatment, outcome, eligible] + ([censor] if censor is not None else [])
    check_columns_exist(data, columns, "clone_censor")
    for name in (STRATEGY, FOLLOWUP, WEIGHT):
        if name in data.columns:
            raise DataError(
                name,
                f"the data has a column named {name!r}, which clone_censor creates; rename it",
            )
    check_finite(data, columns, id)
    panel = build_panel(data, id, time)

    def binary(column, role):
        return binary_values(panel, panel.sort(data[column].to_numpy()), column, role)

    a = binary(treatment, "treatment")
    y = binary(outcome, "outcome")
    e = binary(eligible, "eligible")
    c = np.zeros_like(a) if censor is None else binary(censor, "censor")
    if not e.any():
        raise DataError(eligible, f"no row is eligible (all {e.size} rows are 0): no trial")
    starts = panel.starts
    subject = panel.subject_of_row()
    eligible_so_far = _grouped_cumsum(e, starts) > 0
    rows = np.flatnonzero(eligible_so_far)  # sorted positions from time zero on
    sub = subject[rows]
    sub_starts = _starts_of(sub)
    t_sorted = panel.time[rows].astype(np.float64) if panel.time is not None else None
    if t_sorted is None:  # pragma: no cover - build_panel always records time
        t_sorted = panel.sort(data[time].to_numpy())[rows].astype(np.float64)
    t0 = np.repeat(t_sorted[sub_starts[:-1]], np.diff(sub_starts))
    followup_f = t_sorted - t0
    rank = np.arange(rows.size) - np.repeat(sub_starts[:-1], np.diff(sub_starts))
    gaps = followup_f != rank
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
    if followup_max is not None:
        within = followup < followup_max
        rows, sub, followup = rows[within], sub[within], followup[within]
        a_r, y_r, c_r = a_r[within], y_r[within], c_r[within]
        sub_starts = _starts_of(sub)
    longest = int(followup.max()) + 1
    for name, s in strategies.items():
        if isinstance(s, StartWithin) and s.grace > longest:
            raise DataError(
                time,
                f"strategy {name!r}: the grace period ({s.grace} intervals) is longer than the "
                f"longest follow-up in the data ({longest} intervals from time zero)",
            )
    caller_rows = panel.order[rows]  # positions into the caller's frame
    frame = data.iloc[caller_rows].reset_index(drop=True)
    frame[FOLLOWUP] = followup
    terms = parse_terms(censor_denominator, frame, "censoring model (censor_denominator)")
    covariates = [c_ for c_ in terms.columns if c_ not in (FOLLOWUP, id, outcome, treatment)]
    treated_before = (_grouped_cumsum(a_r, sub_starts) - a_r) > 0
    treated = a_r == 1
    ids_r = frame[id].to_numpy()

    pieces, models, risk_sets, notes = [], {}, {}, []
    for name, strategy in strategies.items():
        rx = np.asarray(strategy.prescription(followup, treated_before)).astype(np.int64)
        agrees = (rx == FREE) | (rx == treated)
        deviations = _grouped_cumsum((~agrees).astype(np.float64), sub_starts)
        follows = deviations == 0
        follows_before = (deviations - (~agrees)) == 0
        risk = follows_before & ~treated_before & (rx != FREE)
        log_factor = np.zeros(rows.size)
        if risk.any():
            fit, p_start = _censoring_model(frame, terms, risk, a_r, name, notes, treatment)
            models[name] = fit
            risk_sets[name] = caller_rows[risk]
            prescribed = np.where(rx[risk] == 1, p_start, 1.0 - p_start)
            kept_risk = follows[risk]
            contribution = np.zeros(risk.sum())
            contribution[kept_risk] = -np.log(prescribed[kept_risk])
            log_factor[risk] = contribution
        else:
            risk_sets[name] = caller_rows[risk]
        log_weight = _grouped_cumsum(np.where(follows, log_factor, 0.0), sub_starts)
        keep = follows
        piece = pd.DataFrame(
            {
                id: ids_r[keep],
                STRATEGY: name,
                FOLLOWUP: followup[keep],
                outcome: y_r[keep].astype(np.int64),
                WEIGHT: np.exp(log_weight[keep]),
                treatment: a_r[keep].astype(np.int64),
            }
        )
        for col in covariates:
            piece[col] = frame[col].to_numpy()[keep]
        pieces.append(piece)
    if censor is not None:
        notes.append(
            f"loss to follow-up ({censor!r}) is not weighted for: "
            "loss is assumed non-informative (a censoring-by-loss weight is planned)"
        )
    expanded = pd.concat(pieces, ignore_index=True)
    expanded[STRATEGY] = pd.Categorical(expanded[STRATEGY], categories=list(strategies))
    formula = terms.text
    protocol = _protocol(
        strategies, eligible, treatment, outcome, time, followup_max, censor, formula
    )
    arguments = dict(
        id=id,
        time=time,
        treatment=treatment,
        outcome=outcome,
        eligible=eligible,
        strategies=strategies,
        censor_denominator=censor_denominator,
        censor=censor,
        followup_max=followup_max,
    )
    return CloneCensor(
        expanded=expanded,
        strategies=strategies,
        models=models,
        risk_sets=risk_sets,
        notes=notes,
        n_eligible=int(sub_starts.size - 1),
        protocol=protocol,
        id=id,
        outcome=outcome,
        followup_max=followup_max,
        _data=data if store else None,
        _arguments=arguments,
    )


def _censoring_model(frame, terms, risk, a_r, name, notes, treatment):
    """Logistic model of starting treatment on the risk set; constant terms dropped."""
    design = design_matrix(terms, frame.loc[risk])
    X, names = design.matrix, list(design.names)
    intercept = set(intercept_columns(design))
    keep = []
    for j, term in enumerate(names):
        if j not in intercept and np.ptp(X[:, j]) == 0 and X.shape[0] > 0:
            notes.append(
                f"strategy {name!r}: term {term!r} is constant ({X[0, j]:g}) on the censoring "
                f"model's risk set ({X.shape[0]} rows) and was dropped"
            )
            continue
        keep.append(j)
    X, names = X[:, keep], [names[j] for j in keep]
    y = a_r[risk]
    if y.min() == y.max():
        raise DataError(
            treatment,
            f"strategy {name!r}: treatment does not vary on the {y.size} rows of its censoring "
            f"model's risk set (all {int(y[0])}): the probability of following the strategy "
            "cannot be modelled",
        )
    fit = fit_logit(
        X, y, names, name=f"censoring model of strategy {name!r}", outcome=str(treatment)
    )
    p = np.exp(log_prob(fit, X, np.ones(y.size)))
    return fit, p
