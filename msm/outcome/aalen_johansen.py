"""Weighted cumulative incidence with competing events: ``cumulative_incidence`` and ``rmst``.

Data path: validate the columns (id, start, stop, event, group) and the rows of each subject
(``start < stop``, contiguous rows, an event only on a subject's last row, one group per
subject), resolve the weights, sort once by (group, subject, start) into a small frame of
codes, then per group run the Aalen-Johansen kernel (``msm._kernels.aalen_johansen``:
probabilities, infinitesimal-jackknife standard errors clustered by subject, and areas for
the restricted mean).  Equal to R's ``survfit(Surv(tstart, tstop, state) ~ group, weights=w,
id=id)`` (survival 3.8), confidence intervals included.  The patient bootstrap resamples the
small frame with ``msm.bootstrap``.  The caller's DataFrame is only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.stats

from msm import _kernels
from msm._glm import check_column_name
from msm.inference import BootstrapResults, bootstrap
from msm.inference.covariance import check_alpha
from msm.panel import (
    DataError,
    check_columns_exist,
    check_finite,
    check_frame,
    describe_dtype,
    offenders_of,
    resolve_weights,
    weight_exponent,
)

#: the name of the state everyone starts in
EVENT_FREE = "event-free"
#: R survfit's confidence-interval transforms (``conf.type``); ``"log"`` is its default
CONF_TYPES = ("log", "log-log", "plain", "logit", "arcsin")
CIS = ("ij", "bootstrap")
TABLE_COLUMNS = (
    "group", "state", "time", "probability", "std_err", "lower", "upper", "n_risk", "n_event",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the estimate of one resample (or of the data): arrays per group


@dataclass(frozen=True, eq=False)
class _Curve:
    times: np.ndarray
    pstate: np.ndarray  # (T, n_states + 1)
    std_err: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    area: np.ndarray  # (n_states + 1,), zeros without tau
    area_se: np.ndarray


def _curves(rows: pd.DataFrame, n_states: int, n_groups: int, origin: float, tau=np.inf):
    """One ``_Curve`` per group code ``0 .. n_groups - 1`` from the codes frame ``rows``.

    ``rows`` has the columns of ``_codes_frame``; it may be a bootstrap resample (a subject
    drawn twice is two subjects: the resampler relabels ``id``).  A group with no rows gets
    None.
    """
    group = rows["group"].to_numpy()
    out = []
    for g in range(n_groups):
        mask = group == g
        if not mask.any():
            out.append(None)
            continue
        part = rows[mask]
        start = part["start"].to_numpy(dtype=np.float64)
        stop = part["stop"].to_numpy(dtype=np.float64)
        state = part["state"].to_numpy(dtype=np.int64)
        last = part["last"].to_numpy(dtype=bool)
        w = part["w"].to_numpy(dtype=np.float64)
        ids, inverse = np.unique(part["id"].to_numpy(), return_inverse=True)
        first = np.full(ids.size, np.inf)
        np.minimum.at(first, inverse, start)
        rank = np.empty(ids.size, dtype=np.int64)  # subjects numbered in order of entry
        rank[np.argsort(first, kind="stable")] = np.arange(ids.size)
        subject = rank[inverse.reshape(-1)]
        times = np.unique(stop[(state > 0) | last])
        result = _kernels.aalen_johansen(
            start,
            stop,
            w,
            state,
            subject,
            np.argsort(start, kind="stable").astype(np.int64),
            np.argsort(stop, kind="stable").astype(np.int64),
            times,
            int(ids.size),
            int(n_states),
            float(origin),
            float(tau),
        )
        out.append(_Curve(times, *result))
    return out


def _at(curve: _Curve | None, times: np.ndarray, column: int) -> np.ndarray:
    """The right-continuous step function of ``curve``'s probabilities at ``times``."""
    if curve is None:
        raise ValueError("a group has no subjects in this resample")
    k = np.searchsorted(curve.times, times, side="right") - 1
    start = 1.0 if column == 0 else 0.0
    return np.where(k >= 0, curve.pstate[np.maximum(k, 0), column], start)


# ---------------------------------------------------------------------------------------------
# confidence intervals as R's survfit_confint(p, se, logse=FALSE, conf.type)


def conf_int(p, se, alpha: float = 0.05, conf_type: str = "log") -> tuple[np.ndarray, np.ndarray]:
    """Pointwise ``1 - alpha`` limits for probabilities ``p`` with standard errors ``se``.

    R survival's ``survfit_confint(p, se, logse=FALSE, conf.type)``, the intervals of every
    ``survfit`` curve.  ``"log"`` (survfit's default): ``p exp(-/+ z se / p)``, the upper limit
    capped at 1; ``"log-log"``, ``"logit"`` and ``"arcsin"`` transform ``p`` the same way,
    ``"plain"`` is ``p -/+ z se`` within [0, 1].  Where ``se`` is 0 both limits are ``p``;
    where the transform is undefined (``p`` = 0 for ``"log"``, 0 or 1 for ``"log-log"``) and
    ``se`` is not 0 they are NaN, as in R.

    Examples
    --------
    >>> lower, upper = conf_int(np.array([0.5, 0.0]), np.array([0.1, 0.0]))
    >>> np.round(lower, 4).tolist(), np.round(upper, 4).tolist()
    ([0.3379, 0.0], [0.74, 0.0])
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    p = np.asarray(p, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    z = scipy.stats.norm.ppf(1.0 - check_alpha(alpha) / 2.0)
    zero = se == 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        se_log = np.where(zero, 0.0, se / p)  # the standard error of log(p)
        if conf_type == "plain":
            return np.maximum(p - z * se, 0.0), np.minimum(p + z * se, 1.0)
        if conf_type == "log":
            x = np.where(p == 0, np.nan, p)
            lower = np.where(zero, p, np.exp(np.log(x) - z * se_log))
            upper = np.where(zero, p, np.exp(np.log(x) + z * se_log))
            return lower, np.minimum(upper, 1.0)
        if conf_type == "log-log":
            x = np.where((p == 0) | (p == 1), np.nan, p)
            step = z * se_log / np.log(x)
            lower = np.where(zero, p, np.exp(-np.exp(np.log(-np.log(x)) - step)))
            upper = np.where(zero, p, np.exp(-np.exp(np.log(-np.log(x)) + step)))
            return lower, upper
        if conf_type == "logit":
            x = np.where(p == 0, np.nan, p)
            step = z * se_log * (1.0 + x / (1.0 - x))
            logit = np.log(p / (1.0 - p))
            lower = np.where(zero, p, 1.0 - 1.0 / (1.0 + np.exp(logit - step)))
            upper = np.where(zero, p, 1.0 - 1.0 / (1.0 + np.exp(logit + step)))
            return lower, upper
        x = np.where(p == 0, np.nan, p)  # arcsin
        step = 0.5 * z * se_log * np.sqrt(x / (1.0 - x))
        root = np.arcsin(np.sqrt(x))
        return (
            np.sin(np.maximum(0.0, root - step)) ** 2,
            np.sin(np.minimum(np.pi / 2.0, root + step)) ** 2,
        )


# ---------------------------------------------------------------------------------------------
# the results


@dataclass(frozen=True, eq=False)
class CumulativeIncidence:
    """Weighted Aalen-Johansen curves: the probability of each state by time, per group.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: one row per group, state and output time, sorted so, with columns

        - ``group``: the value of ``by`` (``"all"`` without ``by``);
        - ``state``: ``"event-free"`` (no event yet) or a competing event's state, a
          categorical in the order of ``states``;
        - ``time``: the stop times of the group's event rows and of each subject's last row;
        - ``probability``: the probability of being in the state at ``time`` (for an event
          state, its cumulative incidence);
        - ``std_err``: its infinitesimal-jackknife standard error, clustered by subject;
        - ``lower``, ``upper``: the ``1 - alpha`` interval (``conf_type`` on the standard
          error, or the bootstrap percentiles with ``ci="bootstrap"``);
        - ``n_risk``: the weighted number at risk at ``time`` (rows with
          ``start < time <= stop``);
        - ``n_event``: the weight of the events into the state at ``time`` (for
          ``"event-free"``: of all events at ``time``).
    states : tuple of str
        ``"event-free"`` and the event states, in order.
    groups : tuple
        The groups, in order (sorted values of ``by``, or its categories).
    n_subjects : pandas.Series
        Subjects per group.
    origin : float
        Where every curve starts (probability 1 event-free): the earliest start time.
    alpha, conf_type, ci : as given
    by, id, start, stop, event : str
        What was estimated.
    bootstrap : BootstrapResults or None
        The replicates of ``ci="bootstrap"`` (each entry a row of ``table``).
    """

    table: pd.DataFrame
    states: tuple[str, ...]
    groups: tuple
    n_subjects: pd.Series
    origin: float
    alpha: float
    conf_type: str
    ci: str
    by: str | None
    id: str
    start: str
    stop: str
    event: str
    bootstrap: BootstrapResults | None = field(default=None, repr=False)
    _rows: pd.DataFrame = field(default=None, repr=False)

    @property
    def n_states(self) -> int:
        """Competing event states (not counting ``"event-free"``)."""
        return len(self.states) - 1

    def rmst(
        self,
        tau: float,
        *,
        reference=None,
        alpha: float | None = None,
        ci: str = "ij",
        n_boot: int = 200,
        seed=None,
        n_jobs: int | None = 1,
    ) -> pd.DataFrame:
        """Restricted mean time event-free, and lost to each cause, up to ``tau``; see
        :func:`rmst`."""
        return rmst(
            self, tau, reference=reference, alpha=alpha, ci=ci, n_boot=n_boot, seed=seed,
            n_jobs=n_jobs,
        )  # fmt: skip

    def __repr__(self) -> str:
        groups = ", ".join(f"{g!r} ({n})" for g, n in self.n_subjects.items())
        interval = (
            f"{self.conf_type} transform of the IJ standard error"
            if self.ci == "ij"
            else f"bootstrap percentiles ({self.bootstrap.n_succeeded} replicates)"
        )
        last = self.table.groupby(["group", "state"], observed=True, sort=False).tail(1)
        shown = last.drop(columns=["n_event"]).to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        )
        return "\n".join(
            [
                f"Cumulative incidence (Aalen-Johansen), states {list(self.states)}",
                f" - groups (subjects): {groups}",
                f" - {100 * (1 - self.alpha):g}% intervals: {interval}",
                " - at each group's last time:",
                shown,
            ]
        )


# ---------------------------------------------------------------------------------------------
# the public functions


def cumulative_incidence(
    data: pd.DataFrame,
    *,
    id: str,
    start: str,
    stop: str,
    event: str,
    weights=None,
    by: str | None = None,
    states: dict | None = None,
    alpha: float = 0.05,
    conf_type: str = "log",
    ci: str = "ij",
    n_boot: int = 200,
    seed=None,
    n_jobs: int | None = 1,
) -> CumulativeIncidence:
    """Weighted cumulative incidence of competing events (Aalen-Johansen), per group.

    On counting-process rows ``(start, stop]`` with a weight per row (time-varying IP
    weights), the probability of being event-free and the cumulative incidence of each
    competing event by time, with infinitesimal-jackknife standard errors clustered by
    subject: R's ``survfit(Surv(start, stop, state) ~ by, weights=w, id=id)`` (survival 3.8).

    At each output time ``t`` the weighted number at risk is ``n0(t)``, the sum of the
    weights of the rows with ``start < t <= stop`` (a row ending at ``t`` is at risk at
    ``t``: events come before censoring; a row ``(t-1, t]`` followed by ``(t, t+1]`` is not a
    censoring, each row counts with its own weight), and ``d_k(t)`` is the weight of the rows
    ending at ``t`` in state ``k``.  Then ``P(event-free, t) = P(event-free, t-) (1 - sum_k
    d_k / n0)`` and ``F_k(t) = F_k(t-) + P(event-free, t-) d_k / n0``: all events at ``t``
    in one step.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per subject-interval, any row order.  Not modified.
    id : str
        Subject column: the unit the standard errors are clustered by (and the bootstrap
        resamples).
    start, stop : str
        Numeric interval ends, ``start < stop``.  A subject's rows must be contiguous (each
        starts where the previous one stopped), as ``survfit`` requires; a subject may enter
        late (its first ``start`` after the others').
    event : str
        What happens at ``stop``: 0 for nothing (the subject continues on its next row, or is
        censored if it is its last row), any other number for the competing event of that
        code (the state is named by the value: ``1`` -> ``"1"``).  Or a pandas Categorical
        whose first category means no event and whose other categories are the states, as
        R's ``factor(state)``.  The states are absorbing: an event must be on a subject's last
        row.
    weights : Weights, Series, str, array-like or None
        A weight per row (``msm.panel.resolve_weights``' rules: a ``Weights`` from
        ``msm.iptw``, a Series matched by index label, a column name, or an array), ``>= 0``.
        Each row counts with its own weight, so the weights may change over a subject's
        follow-up.  The standard errors are sampling-weight ones: multiplying every weight by
        a constant does not change them.
    by : str, optional
        Group column (constant within subject): one curve per value, in sorted order (or in
        the order of a Categorical's categories).
    states : dict, optional
        Names for the states, keyed by event value (or category): ``{1: "remission",
        2: "failure"}``.
    alpha : float
        ``1 - alpha`` intervals.
    conf_type : {"log", "log-log", "plain", "logit", "arcsin"}
        The transform of the IJ interval, as ``survfit``'s ``conf.type``; its default
        ``"log"`` is ``p exp(-/+ z se / p)`` for every state's probability (see
        :func:`conf_int`).
    ci : {"ij", "bootstrap"}
        ``"bootstrap"``: the interval is the percentile interval of a patient bootstrap
        (``msm.bootstrap``, ``n_boot`` replicates from ``seed``, ``n_jobs`` processes): whole
        subjects resampled, each replicate's curves read at the table's times.  The weights
        are held fixed; to re-estimate them in every replicate, run ``msm.iptw`` and
        ``cumulative_incidence`` inside ``msm.bootstrap`` yourself.
    n_boot, seed, n_jobs
        For ``ci="bootstrap"`` (as ``msm.bootstrap``).

    Returns
    -------
    CumulativeIncidence
        ``.table`` holds the tidy curves; ``.rmst(tau)`` the restricted mean times.

    Raises
    ------
    DataError
        A column is missing, has missing values or is not numeric; a row has
        ``stop <= start``; a subject's rows overlap or leave a gap; an event is on a row that
        the subject continues after; a subject is in two groups; an event value is negative
        or text; bad weights.

    Notes
    -----
    The standard error of each probability is ``sqrt(sum_g U_g(t)**2)`` with ``U_g`` subject
    ``g``'s infinitesimal-jackknife influence, built by the recursion of R's
    ``survfitAJ`` (``../shared/conformance/cif/README.md``; ``msm._kernels.aalen_johansen``).
    With one event type the event-free curve is the weighted Kaplan-Meier estimate and the
    standard error the IJ (robust) one, not Greenwood's, which treats weights as counts.
    The work is of order event times x subjects, as in R.

    Examples
    --------
    >>> d = pd.DataFrame({"id": [1, 2, 2, 3, 4], "start": [0, 0, 1, 0, 0],
    ...                   "stop": [1, 1, 2, 3, 2], "event": [1, 0, 2, 0, 1]})
    >>> fit = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event")
    >>> fit.states
    ('event-free', '1', '2')
    >>> t = fit.table
    >>> print(t[t["state"] == "1"][["time", "probability"]].to_string(index=False))
     time  probability
      1.0         0.25
      2.0         0.50
      3.0         0.50
    """
    _check_options(alpha, conf_type, ci)
    names = {"id": id, "start": start, "stop": stop, "event": event, "by": by}
    for argument, value in names.items():
        if value is None and argument != "by":
            raise TypeError(f"{argument} must be the name of a column, got None")
        check_column_name(value, argument)
    check_frame(data)
    used = [c for c in (id, start, stop, event, by) if c is not None]
    check_columns_exist(data, used, "id/start/stop/event/by")
    for first, second in (
        ("id", "start"), ("id", "stop"), ("id", "event"), ("start", "stop"), ("start", "event"),
        ("stop", "event"), ("by", "start"), ("by", "stop"), ("by", "event"),
    ):  # fmt: skip
        if names[first] is not None and names[first] == names[second]:
            raise DataError(
                names[first],
                f"given as both {first}= and {second}=; they must be different columns",
            )
    check_finite(data, used, id)
    start_values = _times(data, start, "start")
    stop_values = _times(data, stop, "stop")
    codes, state_names = _event_codes(data, event, id, states)
    w = resolve_weights(data, weights)
    if by is None:
        group_codes, groups = np.zeros(len(data), dtype=np.int64), ("all",)
    else:
        group_codes, uniques = pd.factorize(data[by], sort=True)
        groups = tuple(v.item() if isinstance(v, np.generic) else v for v in uniques)
    rows = _codes_frame(
        data, id, start, stop, event, by, start_values, stop_values, codes, group_codes, w
    )
    origin = float(start_values.min())
    n_states = len(state_names) - 1
    curves = _curves(rows, n_states, len(groups), origin)
    k = int(rows.attrs["weight_exponent"])
    table, codes_of_table = _table(curves, groups, state_names, k)
    n_subjects = pd.Series(
        [int(rows.loc[rows["group"] == g, "id"].nunique()) for g in range(len(groups))],
        index=pd.Index(groups, name=by), name="n_subjects",
    )  # fmt: skip
    boot = None
    if ci == "ij":
        lower, upper = conf_int(table["probability"], table["std_err"], alpha, conf_type)
    else:
        boot = _bootstrap_curves(
            rows, table, codes_of_table, n_states, len(groups), origin, alpha, n_boot, seed,
            n_jobs,
        )  # fmt: skip
        limits = boot.conf_int(alpha)
        lower, upper = limits["lower"].to_numpy(), limits["upper"].to_numpy()
    table["lower"] = lower
    table["upper"] = upper
    table = table[list(TABLE_COLUMNS)]
    table.attrs.update(origin=origin, by=by, alpha=float(alpha), ci=ci)
    return CumulativeIncidence(
        table=table,
        states=tuple(state_names),
        groups=groups,
        n_subjects=n_subjects,
        origin=origin,
        alpha=float(alpha),
        conf_type=conf_type,
        ci=ci,
        by=by,
        id=id,
        start=start,
        stop=stop,
        event=event,
        bootstrap=boot,
        _rows=rows,
    )


def rmst(
    fit: CumulativeIncidence,
    tau: float,
    *,
    reference=None,
    alpha: float | None = None,
    ci: str = "ij",
    n_boot: int = 200,
    seed=None,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Restricted mean time event-free (RMST) and lost to each cause, up to ``tau``.

    The area under each curve of ``fit`` from its origin (the earliest start time) to
    ``tau``: under the event-free curve, the restricted mean event-free time (RMST); under a
    cause's cumulative incidence, the restricted mean time lost to that cause (RMTL).  Per
    group they add up to ``tau - origin``.  Standard errors are infinitesimal-jackknife ones:
    subject ``g``'s influence on an area is the integral of its influence ``U_g`` on the
    curve over the same steps (R's ``std.auc`` of a multi-state ``survfit``), clustered by
    subject.

    Parameters
    ----------
    fit : CumulativeIncidence or DataFrame
        From :func:`cumulative_incidence`, or the risk curves of :func:`msm.risk_curves`
        (indexed by regime and time, column ``risk``: see ``discrete_rmst``).
    tau : float
        The horizon: greater than the origin, and at most every group's last time (the
        curves are not estimated beyond their follow-up).
    reference : optional
        The group the others are compared with (default: the first group).
    alpha : float, optional
        ``1 - alpha`` intervals (default: the fit's).
    ci : {"ij", "bootstrap"}
        ``"ij"``: ``estimate -/+ z std_err``; ``"bootstrap"``: percentiles of a patient
        bootstrap (``n_boot`` replicates from ``seed``, in ``n_jobs`` processes), weights held
        fixed.

    Returns
    -------
    pandas.DataFrame
        One row per group and state: ``group``, ``state``, ``measure`` (``"rmst"`` for the
        event-free state, ``"rmtl"`` for a cause), ``estimate``, ``std_err``, ``lower``,
        ``upper``, and with two or more groups ``difference`` (the group's estimate minus the
        reference group's), ``diff_std_err`` (groups are independent: the variances add),
        ``diff_lower``, ``diff_upper``.  The reference group's differences are 0 with no
        interval.  ``std_err`` is the IJ one whatever ``ci``.

    Examples
    --------
    >>> d = pd.DataFrame({"id": [1, 2, 3, 4], "start": 0.0, "stop": [1.0, 2.0, 3.0, 4.0],
    ...                   "event": [1, 1, 2, 1]})
    >>> fit = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event")
    >>> table = msm.rmst(fit, tau=3.0)  # no censoring: the mean of min(T, 3)
    >>> print(table[["state", "measure", "estimate"]].to_string(index=False))
         state measure  estimate
    event-free    rmst      2.25
             1    rmtl      0.75
             2    rmtl      0.00
    """
    if isinstance(fit, pd.DataFrame) and "risk" in fit.columns and fit.index.nlevels == 2:
        if ci != "ij" or alpha is not None:
            raise ValueError(
                "risk curves carry no standard errors: for an interval, compute rmst inside "
                "msm.bootstrap (the whole analysis per replicate)"
            )
        return discrete_rmst(fit, tau, reference=reference)
    if not isinstance(fit, CumulativeIncidence):
        raise TypeError(
            "rmst() takes the result of msm.cumulative_incidence or of msm.risk_curves, got "
            f"{type(fit).__name__}"
        )
    alpha = fit.alpha if alpha is None else check_alpha(alpha)
    if ci not in CIS:
        raise ValueError(f"ci must be one of {CIS}, got {ci!r}")
    numbers = int | float | np.integer | np.floating
    if isinstance(tau, bool | np.bool_) or not isinstance(tau, numbers):
        raise TypeError(f"tau must be a number, got {type(tau).__name__}")
    tau = float(tau)
    last = fit.table.groupby("group", sort=False)["time"].max()
    if not (np.isfinite(tau) and tau > fit.origin):
        raise ValueError(f"tau must be a finite time after the origin {fit.origin:g}, got {tau}")
    if tau > last.min():
        raise ValueError(
            f"tau={tau:g} is beyond the follow-up of group {last.idxmin()!r} (last time "
            f"{last.min():g}): the curves are not estimated there; choose tau <= {last.min():g}"
        )
    groups = list(fit.groups)
    if reference is None:
        reference = groups[0]
    elif reference not in groups:
        raise ValueError(f"reference {reference!r} is not one of the groups {groups}")
    ref = groups.index(reference)
    width = len(fit.states)
    curves = _curves(fit._rows, width - 1, len(groups), fit.origin, tau)
    estimate = np.array([c.area for c in curves])  # (groups, states)
    std_err = np.array([c.area_se for c in curves])
    z = scipy.stats.norm.ppf(1.0 - alpha / 2.0)
    table = pd.DataFrame(
        {
            "group": np.repeat(np.array(groups, dtype=object), width),
            "state": pd.Categorical(np.tile(fit.states, len(groups)), categories=fit.states),
            "measure": np.tile(["rmst"] + ["rmtl"] * (width - 1), len(groups)),
            "estimate": estimate.reshape(-1),
            "std_err": std_err.reshape(-1),
        }
    )
    difference = (estimate - estimate[ref]).reshape(-1)
    diff_se = np.sqrt(std_err**2 + std_err[ref] ** 2)
    diff_se[ref] = 0.0
    diff_se = diff_se.reshape(-1)
    if ci == "ij":
        half = z * std_err.reshape(-1)
        lower, upper = estimate.reshape(-1) - half, estimate.reshape(-1) + half
        diff_lower, diff_upper = difference - z * diff_se, difference + z * diff_se
    else:
        replicates = _bootstrap_areas(fit, tau, n_boot, seed, n_jobs)  # (B, groups, states)
        lower, upper = _percentiles(replicates.reshape(len(replicates), -1), alpha)
        diffs = replicates - replicates[:, ref : ref + 1, :]
        diff_lower, diff_upper = _percentiles(diffs.reshape(len(diffs), -1), alpha)
    table["lower"] = np.asarray(lower)
    table["upper"] = np.asarray(upper)
    if len(groups) > 1:
        is_ref = np.repeat(np.arange(len(groups)) == ref, width)
        table["difference"] = difference
        table["diff_std_err"] = diff_se
        table["diff_lower"] = np.where(is_ref, np.nan, diff_lower)
        table["diff_upper"] = np.where(is_ref, np.nan, diff_upper)
    table.attrs.update(tau=tau, reference=reference, origin=fit.origin, ci=ci)
    return table


# ---------------------------------------------------------------------------------------------
# the bootstrap


def _bootstrap_curves(
    rows, table, codes, n_states, n_groups, origin, alpha, n_boot, seed, n_jobs
) -> BootstrapResults:
    """Patient bootstrap of every entry of ``table`` (the curves read at its times)."""
    entries = []  # (group code, state column, times) per curve of the table, in table order
    columns = table["state"].cat.codes.to_numpy()
    for (g, s), positions in (
        pd.Series(np.arange(len(table))).groupby([codes, columns], sort=False).groups.items()
    ):
        entries.append((int(g), int(s), table["time"].to_numpy()[np.asarray(positions)]))

    def curves_at_table_times(frame):
        fitted = _curves(frame, n_states, n_groups, origin)
        return pd.Series(np.concatenate([_at(fitted[g], t, s) for g, s, t in entries]))

    return bootstrap(
        curves_at_table_times, rows, cluster="id", n_boot=n_boot, seed=seed, n_jobs=n_jobs,
        progress=False, alpha=alpha,
    )  # fmt: skip


def _bootstrap_areas(fit: CumulativeIncidence, tau: float, n_boot, seed, n_jobs) -> np.ndarray:
    """Replicates of the areas to ``tau``: (successful replicates, groups, states)."""
    n_groups, width = len(fit.groups), len(fit.states)

    def areas(frame):
        fitted = _curves(frame, width - 1, n_groups, fit.origin, tau)
        if any(c is None for c in fitted):
            raise ValueError("a group has no subjects in this resample")
        return pd.Series(np.concatenate([c.area for c in fitted]))

    boot = bootstrap(
        areas, fit._rows, cluster="id", n_boot=n_boot, seed=seed, n_jobs=n_jobs, progress=False
    )
    return boot.replicates.to_numpy().reshape(-1, n_groups, width)


def _percentiles(values: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Columnwise ``alpha/2`` and ``1 - alpha/2`` quantiles (``BootstrapResults.conf_int``)."""
    values = np.where(np.isfinite(values), values, np.nan)
    lower, upper = np.nanquantile(values, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return lower, upper


# ---------------------------------------------------------------------------------------------
# validation and the codes frame


def _check_options(alpha, conf_type, ci) -> None:
    check_alpha(alpha)
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    if ci not in CIS:
        raise ValueError(f"ci must be one of {CIS}, got {ci!r}")


def _times(data: pd.DataFrame, column: str, role: str) -> np.ndarray:
    dtype = data[column].dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        hint = (
            f"; convert it, e.g. days since baseline with (data[{column!r}] - origin).dt.days"
            if pd.api.types.is_datetime64_any_dtype(dtype)
            else f"; convert it, e.g. pd.to_numeric(data[{column!r}])"
        )
        raise DataError(column, f"{role} time must be numeric, got {describe_dtype(dtype)}{hint}")
    return data[column].to_numpy(dtype=np.float64)


def _event_codes(data: pd.DataFrame, event: str, id: str, states) -> tuple[np.ndarray, list]:
    """State code per row (0 = no event, 1 .. K) and the state names (event-free first)."""
    values = data[event]
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = list(dtype.categories)
        codes = values.cat.codes.to_numpy().astype(np.int64)
        keys = categories[1:]
    elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        numbers = values.to_numpy(dtype=np.float64)
        negative = numbers < 0
        if negative.any():
            ids, what = offenders_of(data, negative, id)
            raise DataError(
                event,
                "event values must be 0 (no event) or a positive code of the competing "
                f"event; found {', '.join(f'{v:g}' for v in pd.unique(numbers[negative])[:5])}",
                ids,
                what=what,
            )
        keys_float = np.unique(numbers[numbers != 0])
        codes = np.searchsorted(keys_float, numbers) + 1
        codes[numbers == 0] = 0
        keys = [int(v) if float(v).is_integer() else float(v) for v in keys_float]
    else:
        raise DataError(
            event,
            f"event must be numeric codes (0 = no event, 1, 2, ... the competing events) or a "
            f"pandas Categorical whose first category means no event; got "
            f"{describe_dtype(dtype)}",
        )
    names = [f"{k:g}" if isinstance(k, float) else str(k) for k in keys]
    if states is not None:
        if not isinstance(states, dict):
            raise TypeError(f"states must be a dict of event value -> name, got {states!r}")
        unknown = [k for k in states if k not in keys]
        if unknown:
            raise ValueError(f"states names event values {unknown} not in {event!r} ({keys})")
        names = [str(states.get(k, name)) for k, name in zip(keys, names, strict=True)]
    if EVENT_FREE in names or len(set(names)) < len(names):
        raise ValueError(
            f"state names must be distinct and not {EVENT_FREE!r}; got {names} (use states=)"
        )
    return np.asarray(codes, dtype=np.int64), [EVENT_FREE, *names]


def _codes_frame(data, id, start, stop, event, by, start_values, stop_values, codes, group, w):
    """The validated rows as codes, sorted by (group, id, start): the estimator's input.

    Columns ``id`` (subject code), ``start``, ``stop``, ``state``, ``group`` (code), ``w``
    (the weights times ``2**-k``, ``attrs["weight_exponent"] = k``: exact, so the estimates do
    not depend on the weights' scale) and ``last`` (the subject's last row).
    """
    bad = ~(stop_values > start_values)
    if bad.any():
        ids, what = offenders_of(data, bad, id)
        raise DataError(
            stop,
            f"every interval needs {start} < {stop}; {int(bad.sum())} row(s) have "
            f"{stop} <= {start}",
            ids,
            what=what,
        )
    id_codes, _ = pd.factorize(data[id])
    order = np.lexsort((start_values, id_codes))
    ids = id_codes[order]
    s, e = start_values[order], stop_values[order]
    same = ids[1:] == ids[:-1]
    id_values = data[id].to_numpy()[order]

    def offenders(mask):
        return list(pd.unique(id_values[1:][mask]))

    overlap = same & (s[1:] < e[:-1])
    if overlap.any():
        raise DataError(
            start,
            f"a subject's rows overlap: a row starts before the previous one stops (each "
            f"subject's ({start}, {stop}] intervals must be disjoint)",
            offenders(overlap),
        )
    gap = same & (s[1:] > e[:-1])
    if gap.any():
        raise DataError(
            start,
            "a subject's rows leave a gap: a row starts after the previous one stopped (R's "
            "survfit refuses gaps too); give the subject contiguous rows, or split it into "
            "two ids if it truly leaves and re-enters the risk set",
            offenders(gap),
        )
    state = codes[order]
    continues = same & (state[:-1] > 0)
    if continues.any():
        raise DataError(
            event,
            "an event is on a row the subject continues after: the competing events are "
            "absorbing, so a subject's event must be on its last row (drop the rows after it)",
            offenders(continues),
        )
    groups = group[order]
    moves = same & (groups[1:] != groups[:-1])
    if moves.any():
        raise DataError(
            by,
            "the group changes within a subject: each subject belongs to one curve",
            offenders(moves),
        )
    last = np.ones(order.size, dtype=bool)
    last[:-1] = ~same
    k = weight_exponent(w)
    rows = pd.DataFrame(
        {
            "id": ids.astype(np.int64),
            "start": s,
            "stop": e,
            "state": state,
            "group": groups.astype(np.int64),
            "w": np.ldexp(w[order], -k) if k else w[order],
            "last": last,
        }
    )
    # sorted by (group, id, start): group first, stable
    rows = rows.iloc[np.argsort(rows["group"].to_numpy(), kind="stable")].reset_index(drop=True)
    rows.attrs["weight_exponent"] = k
    return rows


def _table(curves, groups, state_names, k: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The tidy table (without limits), sorted by group, state, time; each row's group code."""
    parts = []
    for g, curve in enumerate(curves):
        T = curve.times.size
        for s, name in enumerate(state_names):
            parts.append(
                pd.DataFrame(
                    {
                        "group_code": g,
                        "state": name,
                        "time": curve.times,
                        "probability": curve.pstate[:, s],
                        "std_err": curve.std_err[:, s],
                        "n_risk": np.ldexp(curve.n_risk, k),
                        "n_event": np.ldexp(curve.n_event[:, s], k),
                    },
                    index=pd.RangeIndex(T),
                )
            )
    table = pd.concat(parts, ignore_index=True)
    codes = table.pop("group_code").to_numpy()
    table.insert(0, "group", pd.Index(list(groups)).take(codes).to_numpy())
    table["state"] = pd.Categorical(table["state"], categories=state_names)
    return table, codes


def discrete_rmst(curves: pd.DataFrame, tau, *, reference=None) -> pd.DataFrame:
    """Restricted mean event-free time under each regime from discrete-time risk curves.

    ``curves``: ``msm.risk_curves`` output, indexed by (regime, time) with ``risk`` = P(event
    in an interval up to and including the one labelled t), intervals one time unit long
    with the event at the interval's end.  The event-free time restricted to ``tau``
    intervals from the first label t0 is the number of intervals entered event-free:
    ``RMST = sum_{k = t0}^{t0 + tau - 1} (1 - F(k - 1))`` with ``F(t0 - 1) = 0``, F the
    probability of any event by k, and the time lost is ``tau - RMST``.  With competing
    events (``risk_curves(..., competing=..., handling="total")``: columns ``<cause>_risk``)
    F sums every cause's cumulative incidence and each cause's restricted mean time lost is
    reported (``rmtl_<cause>``; the event of interest's is ``rmtl``).  No standard errors:
    put the whole analysis, weights included, in ``msm.bootstrap`` for intervals.

    Returns
    -------
    pandas.DataFrame
        One row per regime: ``regime``, ``rmst``, ``rmtl`` (time lost to the event of
        interest; with competing events also ``rmtl_<cause>``), ``difference`` (RMST minus
        the reference regime's; default the last, as ``risk_curves`` compares).

    Examples
    --------
    >>> index = pd.MultiIndex.from_product([["always", "never"], [0, 1, 2]],
    ...                                    names=["regime", "month"])
    >>> curves = pd.DataFrame({"risk": [0.1, 0.2, 0.3, 0.2, 0.4, 0.5]}, index=index)
    >>> discrete_rmst(curves, tau=3).round(2)
       regime  rmst  rmtl  difference
    0  always   2.7   0.3         0.3
    1   never   2.4   0.6         0.0
    """
    numbers = int | float | np.integer | np.floating
    if isinstance(tau, bool | np.bool_) or not isinstance(tau, numbers) or tau <= 0:
        raise ValueError(f"tau must be a positive number of intervals, got {tau!r}")
    if float(tau) != int(tau):
        raise ValueError(f"tau counts whole intervals of discrete-time curves, got {tau!r}")
    tau = int(tau)
    handling = curves.attrs.get("handling")
    causes = list(curves.attrs.get("competing", [])) if handling == "total" else []
    regimes = list(dict.fromkeys(curves.index.get_level_values(0)))
    if reference is None:
        reference = regimes[-1]
    elif reference not in regimes:
        raise ValueError(f"reference {reference!r} is not one of the regimes {regimes}")
    rows = []
    for regime in regimes:
        part = curves.loc[regime].sort_index()
        times = part.index.to_numpy(dtype=np.float64)
        if times.size < tau or np.any(np.diff(times[:tau]) != 1.0):
            raise ValueError(
                f"regime {regime!r}: rmst needs the first {tau} consecutive time labels of the "
                f"curves (one per interval), got {list(part.index[: tau + 1])}"
            )
        risks = {"": part["risk"].to_numpy(dtype=np.float64)[:tau]}
        for cause in causes:
            risks[cause] = part[f"{cause}_risk"].to_numpy(dtype=np.float64)[:tau]
        total = sum(risks.values())
        before = np.concatenate(([0.0], total[:-1]))  # any event by the start of each interval
        row = {"regime": regime, "rmst": float(np.sum(1.0 - before))}
        for cause, risk in risks.items():
            start = np.concatenate(([0.0], risk[:-1]))
            # time lost to a cause: the intervals after it happened, within the horizon
            row["rmtl" if cause == "" else f"rmtl_{cause}"] = float(np.sum(start))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["difference"] = table["rmst"] - float(table.loc[regimes.index(reference), "rmst"])
    return table
