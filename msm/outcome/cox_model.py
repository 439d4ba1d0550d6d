"""Weighted Cox proportional hazards MSM on counting-process rows: ``cox()`` and ``CoxResults``.

Data path: validate the columns the model reads (start, stop, event, covariates, cluster),
resolve the weights, build the design matrix without intercept (``msm._formula``), then fit
with the engine in ``msm._survival`` (Newton-Raphson on numba risk-set sweeps) and take the
clustered sandwich from its weighted dfbeta residuals, as R's
``coxph(Surv(start, stop, event) ~ x + cluster(id), weights = w)``.  Row order does not matter
and the caller's DataFrame is only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from msm._formula import design_matrix, intercept_columns, parse_terms
from msm._glm import check_column_name, check_fit_options
from msm._survival import TIES, CoxFit, fit_cox
from msm.inference import (
    CoefficientResults,
    CovarianceEstimator,
    SandwichParts,
    covariance_estimator,
    standard_errors,
)
from msm.panel import (
    DataError,
    binary_column,
    check_columns_exist,
    check_finite_by,
    check_frame,
    offenders_of,
    resolve_weights,
    weight_exponent,
)
from msm.weights import spec_text

#: the estimators of msm.inference a Cox fit offers (``variance=``, ``with_variance``)
VARIANCES = ("robust", "cr0", "cr1", "model", "bootstrap")


@dataclass(frozen=True, eq=False, repr=False)  # printing: CoefficientResults
class CoxResults(CoefficientResults):
    """A fitted weighted Cox proportional hazards model.

    The coefficient table comes from ``msm.inference.CoefficientResults``: ``bse``,
    ``zvalues``, ``pvalues`` (standard normal), ``conf_int(alpha)`` (log hazard ratios),
    ``exp_params`` and ``exp_conf_int(alpha)`` (the same as ``hazard_ratios`` and
    ``hazard_ratio_conf_int``), ``summary(alpha)``, and ``cov_for(variance)`` /
    ``with_variance(variance)`` for another covariance estimator without refitting
    (``"robust"``, ``"cr1"``, ``"model"``, or ``Bootstrap(boot)``).

    Attributes
    ----------
    params : pandas.Series
        Log hazard ratios, labelled with the design's term names.
    cov : pandas.DataFrame
        Their covariance under the estimator named by ``variance``.
    variance : str
        ``"robust"``: the sandwich of R's ``coxph(... + cluster(id))`` (clustered by
        ``cluster``, or each row its own cluster); ``"model"``: the inverse information;
        ``"cr1"``: the robust one times ``G/(G-1)``; ``"bootstrap"``.
    covariance_estimator : msm.inference.CovarianceEstimator
        The estimator itself (``describe()`` gives the footer line).
    sandwich_parts : msm.inference.SandwichParts
        Information (the bread is its inverse), meat (the cross-product of the per-cluster
        sums of the weighted score residuals) and counts, for other variance estimators.
    naive_cov, robust_cov : pandas.DataFrame
        The model-based and the robust covariance (``robust_cov`` is None when it was not
        asked for: no ``cluster`` and ``variance="model"``).  ``naive_cov`` is R's
        ``se(coef)``: the weights are case counts (weight 2 = two copies of the row), so
        multiplying every weight by ``c`` divides it by ``c``; ``robust_cov`` does not change.
    ties : {"efron", "breslow"}
    start, stop, event, covariates : str
        What was modelled.
    n_rows : int
        Rows given.
    nobs : int
        Rows with positive weight (the rows that inform the fit).
    n_events : int
        Events among them; ``n_event_times`` distinct event times.
    n_clusters : int or None
        Clusters with a positive-weight row (None without ``cluster``).
    cluster : str or None
    sum_weights : float
    loglik, loglik_null : float
        Weighted partial log-likelihood at the estimate and at 0.
    converged : bool
    n_iter : int
        Newton iterations.
    """

    exp_columns: ClassVar[tuple[str, str, str]] = ("hazard_ratio", "hr_lower", "hr_upper")
    variances: ClassVar[tuple[str, ...]] = VARIANCES
    variance_note: ClassVar[str] = (
        " (msm has no stacked variance for Cox models: use msm.bootstrap; the (n-1)/(n-k) "
        "factor of 'cr1s' is a linear-regression one)"
    )

    params: pd.Series
    cov: pd.DataFrame
    variance: str
    covariance_estimator: CovarianceEstimator
    ties: str
    start: str
    stop: str
    event: str
    covariates: str
    n_rows: int
    nobs: int
    n_events: int
    n_event_times: int
    n_clusters: int | None
    cluster: str | None
    sum_weights: float
    loglik: float
    loglik_null: float
    converged: bool
    n_iter: int
    sandwich_parts: SandwichParts = field(repr=False)
    _fit: CoxFit = field(repr=False)
    _index: pd.Index = field(repr=False)

    # --- the two covariances R reports --------------------------------------------------------

    @cached_property
    def naive_cov(self) -> pd.DataFrame:
        """Model-based covariance, the inverse information (R's ``se(coef)``)."""
        return self.cov_for("model")

    @cached_property
    def robust_cov(self) -> pd.DataFrame | None:
        """Robust covariance (R's ``robust se``), or None when not asked for (no ``cluster``
        and ``variance="model"``)."""
        if self.cluster is None and self.variance == "model":
            return None
        return self.cov_for("robust")

    @cached_property
    def naive_bse(self) -> pd.Series:
        """Model-based standard errors (R's ``se(coef)`` without ``cluster()``)."""
        return standard_errors(self.naive_cov)

    @cached_property
    def robust_bse(self) -> pd.Series | None:
        """Robust standard errors (R's ``robust se``), or None when not computed."""
        return None if self.robust_cov is None else standard_errors(self.robust_cov)

    @property
    def evalue_scale(self) -> str:
        """A Cox model's coefficients are log hazard ratios."""
        return "HR"

    @property
    def hazard_ratios(self) -> pd.Series:
        """``exp(params)``."""
        return self.exp_params.rename("hazard_ratio")

    def hazard_ratio_conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals for the hazard ratios: ``exp`` of ``conf_int(alpha)``.

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> frame = pd.DataFrame({"x": rng.normal(size=300), "start": 0.0, "event": 1})
        >>> frame["stop"] = rng.exponential(1 / np.exp(0.5 * frame["x"]))
        >>> fit = cox(frame, start="start", stop="stop", event="event", covariates="x")
        >>> ci = fit.hazard_ratio_conf_int(0.1)  # 90% intervals
        >>> ci.columns.tolist(), bool(ci.loc["x", "lower"] < np.exp(0.5) < ci.loc["x", "upper"])
        (['lower', 'upper'], True)
        """
        return self.exp_conf_int(alpha)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Coefficient table as a DataFrame.

        Columns ``estimate, std_error, z, p_value, lower, upper, hazard_ratio, hr_lower,
        hr_upper`` (intervals at level ``1 - alpha``), and ``naive_std_error`` when the
        standard errors are not the model-based ones.
        """
        table = self.coefficient_table(alpha)
        if self.variance != "model":
            table["naive_std_error"] = self.naive_bse
        return table

    # --- more from the fit -------------------------------------------------------------------

    def baseline_hazard(self, centered: bool = True) -> pd.DataFrame:
        """Baseline hazard at the distinct event times, as R's ``basehaz(fit, centered)``.

        Columns ``time``, ``hazard`` (the increment) and ``cumhaz``.  ``centered=True`` gives
        the hazard at the covariate means (unweighted, over the rows given), ``False`` at 0.
        Efron's tie-corrected estimator for ``ties="efron"``, Breslow's otherwise.
        """
        center = None if centered else np.zeros(self.params.size)
        base = self._fit.baseline_hazard(center)
        return pd.DataFrame({"time": base.times, "hazard": base.hazard, "cumhaz": base.cumhaz})

    def dfbeta(self) -> pd.DataFrame:
        """Weighted dfbeta residuals per row (R's ``residuals(fit, type="dfbeta")``).

        One row per input row, in the caller's order and index; their cross-product summed
        within clusters is ``robust_cov``.
        """
        return pd.DataFrame(
            self._fit.dfbeta(), index=self._index, columns=self.params.index, copy=False
        )

    # --- printing ---------------------------------------------------------------------------

    repr_columns = ("estimate", "std_error", "hazard_ratio", "p_value")

    def header_lines(self) -> list[str]:
        zero = self.n_rows - self.nobs
        rows = f"{self.nobs} rows" + (f" (+{zero} with weight 0)" if zero else "")
        clusters = f", {self.n_clusters} clusters" if self.n_clusters is not None else ""
        status = "converged" if self.converged else "NOT converged"
        return [
            f"Cox PH ({self.ties} ties): Surv({self.start}, {self.stop}, {self.event}) ~ "
            f"{self.covariates}",
            f" - {rows}{clusters}, {self.n_events} events at {self.n_event_times} times, "
            f"sum of weights {self.sum_weights:.6g}",
            f" - {status} in {self.n_iter} Newton iterations; partial log-likelihood "
            f"{self.loglik:.6g} (null {self.loglik_null:.6g})",
        ]


def cox(
    data: pd.DataFrame,
    *,
    start: str,
    stop: str,
    event: str,
    covariates: str | Sequence[str],
    weights=None,
    cluster: str | None = None,
    ties: str = "efron",
    variance: str | None = None,
    max_iter: int = 30,
    tol: float = 1e-10,
) -> CoxResults:
    """Weighted Cox proportional hazards model on ``(start, stop]`` rows: the Cox MSM.

    The partial likelihood of R's ``coxph(Surv(start, stop, event) ~ covariates, weights=)``
    with late entry (a row is at risk at t when ``start < t <= stop``), Efron's or Breslow's
    handling of tied event times, maximised by Newton-Raphson with step halving to full
    convergence.  With ``cluster`` the standard errors are the robust (sandwich) ones of
    ``coxph(... + cluster(id))``: the cross-product of the per-cluster sums of the weighted
    dfbeta residuals.  With IP weights, use them: the model-based variance treats the weights
    as frequencies.

    Parameters
    ----------
    data : pandas.DataFrame
        Counting-process rows, one per subject-interval, in any order.  Not modified.
    start, stop : str
        Interval start and end columns (numeric, ``start < stop`` on every row).
    event : str
        0/1 (or bool) column: 1 when the event happens at ``stop``.
    covariates : str or list of str
        Right-hand side: a formula (``"haartind + sex"``, ``"C(arm) + I(age/10)"``) or a list
        of columns.  A Cox model has no intercept: the formula's is dropped.
    weights : Weights, Series, str, array-like or None
        Weights: a ``Weights`` from ``msm.iptw`` or a pandas Series (both matched to
        ``data``'s rows by index label), a column name, or an array (by position, one value
        per row); see ``msm.weights.resolve_weights`` for the rules.  Rows with weight 0 do
        not inform the fit.  Estimates and the robust variance do not change when every
        weight is multiplied by the same constant (the fit is computed on the weights times
        a power of two that brings their mean near 1); the model-based variance treats the
        weights as case counts, as R does.
    cluster : str or None
        Column identifying clusters (subjects) for the robust variance.
    ties : {"efron", "breslow"}
        Handling of tied event times; Efron's is R's default.
    variance : {"robust", "cr1", "model"}, a CovarianceEstimator, or None
        Standard errors to report (an estimator of ``msm.inference``; ``fit.with_variance``
        switches later without refitting).  None: ``"robust"`` with ``cluster``, else
        ``"model"``.  ``"robust"`` (also ``"cr0"``) is R's ``coxph(... + cluster(id))``
        sandwich, with no small-sample factor; without ``cluster`` each row is its own
        cluster.  ``"cr1"`` is it times ``G/(G-1)``.  ``"model"`` is the inverse information,
        R's ``se(coef)``: the weights are case counts, so integer weights give the standard
        errors of the duplicated rows, and multiplying every weight by ``c`` divides the
        variance by ``c``.  With IP weights use ``"robust"`` (or ``Bootstrap(boot)`` via
        ``with_variance``); there is no ``"stacked"`` variance for a Cox model.
    max_iter : int
        Newton iterations before giving up (``ConvergenceWarning``).
    tol : float
        Converged when the next Newton step is below ``tol * (1 + max |beta|)`` in every
        coefficient.

    Returns
    -------
    CoxResults

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from msm.outcome import cox
    >>> rng = np.random.default_rng(1)
    >>> n = 300
    >>> frame = pd.DataFrame({"id": np.arange(n), "x": rng.integers(0, 2, n)})
    >>> frame["time"] = rng.exponential(1 / np.exp(-0.5 * frame["x"]))
    >>> frame["start"] = 0.0
    >>> frame["event"] = 1
    >>> fit = cox(frame, start="start", stop="time", event="event", covariates="x",
    ...           cluster="id")
    >>> fit.variance, bool(fit.hazard_ratios["x"] < 1)
    ('robust', True)
    >>> fit.conf_int().columns.tolist()
    ['lower', 'upper']
    """
    max_iter, tol, _ = check_fit_options(max_iter, tol)  # before any work
    for argument, value in (("start", start), ("stop", stop), ("event", event)):
        if value is None:
            raise TypeError(f"{argument} must be the name of a column, got None")
        check_column_name(value, argument)
    check_column_name(cluster, "cluster")
    check_frame(data)
    if not isinstance(ties, str) or ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(map(repr, TIES))}; got ties={ties!r}")
    if variance is None:
        variance = "robust" if cluster is not None else "model"
    estimator = covariance_estimator(variance, VARIANCES, CoxResults.variance_note)
    if cluster is not None and not isinstance(cluster, str):
        raise TypeError(f"cluster must be a column name, got {type(cluster).__name__}")
    roles = {start: "start", stop: "stop", event: "event"}
    check_columns_exist(data, [start, stop, event], "start/stop/event")
    named = {"start": start, "stop": stop, "event": event}
    for first, second in (("start", "stop"), ("start", "event"), ("stop", "event")):
        if named[first] == named[second]:
            raise DataError(
                named[first],
                f"given as both {first}= and {second}=; they must be different columns",
            )
    if cluster is not None:
        check_columns_exist(data, [cluster], "cluster")
    terms = parse_terms(covariates, data, "covariates")
    if event in terms.columns:
        raise DataError(
            event,
            f"the covariates {spec_text(covariates)!r} read the event column {event!r}, the "
            "outcome the model is for; remove it from covariates=",
        )
    used = [start, stop, event, *terms.columns]
    check_finite_by(data, used, cluster)

    start_values = _numeric(data, start, roles[start])
    stop_values = _numeric(data, stop, roles[stop])
    _check_intervals(data, start, stop, start_values, stop_values, cluster)
    event_values = _event_values(data, event, cluster)
    w = resolve_weights(data, weights)

    design = design_matrix(terms, data)
    intercept = intercept_columns(design)  # by position: a column called "Intercept" stays
    keep = [j for j in range(len(design.names)) if j not in intercept]
    if not keep:
        raise DataError(
            None,
            f"covariates {covariates!r} give no covariate columns (a Cox model has no "
            "intercept, so at least one covariate is needed)",
        )
    X = np.ascontiguousarray(design.matrix[:, keep])
    names = [design.names[j] for j in keep]

    # Fit on the weights times a power of two that brings their mean near 1 (exact; the
    # identity for weights whose mean is near 1), so that neither sum w nor sum w**2 under-
    # or overflows: the estimates and the robust variance do not depend on the scale.
    k = weight_exponent(w)
    w_fit = np.ldexp(w, -k) if k else w
    fit = fit_cox(
        start_values,
        stop_values,
        event_values,
        X,
        names,
        w_fit,
        ties,
        name=f"Cox model for {event!r}",
        event_name=event,
        max_iter=max_iter,
        tol=tol,
    )
    shift = float(np.sum(w_fit * event_values)) * np.log(2.0) * k  # see _loglik_as_given
    n_clusters = None
    codes = None
    if cluster is not None:
        codes, uniques = pd.factorize(data[cluster].to_numpy())
        positive = w > 0
        n_clusters = len(uniques) if positive.all() else int(np.unique(codes[positive]).size)
    parts = SandwichParts(
        names=names,
        information=fit.information,
        meat=fit.meat(codes),  # of the weighted score residuals, summed by cluster
        n_obs=fit.n,
        n_clusters=fit.n if n_clusters is None else n_clusters,
        cluster=cluster,
        # R's se(coef) treats the weights as case counts: dispersion 1 on the scale given,
        # so the model-based variance is I(w)^-1 = 2^-k I(w_fit)^-1
        dispersion=float(np.ldexp(1.0, -k)),
        dispersion_label="the weights as case counts, as coxph's se(coef)",
        weight_scale=float(np.ldexp(1.0, -k)),
        model="cox",
    )
    return CoxResults(
        params=pd.Series(fit.params, index=names, name="coef"),
        cov=pd.DataFrame(estimator.cov(parts), index=names, columns=names),
        variance=estimator.name,
        covariance_estimator=estimator,
        ties=ties,
        start=start,
        stop=stop,
        event=event,
        covariates=terms.text if isinstance(covariates, str) else " + ".join(names),
        n_rows=len(data),
        nobs=fit.n,
        n_events=fit.n_events,
        n_event_times=fit.n_event_times,
        n_clusters=n_clusters,
        cluster=cluster,
        sum_weights=float(np.ldexp(fit.sum_weights, k)),
        loglik=_loglik_as_given(fit.loglik, k, shift),
        loglik_null=_loglik_as_given(fit.loglik_null, k, shift),
        converged=fit.converged,
        n_iter=fit.n_iter,
        sandwich_parts=parts,
        _fit=fit,
        _index=data.index,
    )


def _loglik_as_given(loglik: float, k: int, shift: float) -> float:
    """The partial log-likelihood for weights ``2**k w`` from the one fitted with ``w``.

    Each event term ``w_i (eta_i - log sum_j w_j r_j)`` has its risk-set sum scaled by
    ``2**k`` too, so ``loglik(2**k w) = 2**k (loglik(w) - k log(2) sum_events w_i)``;
    ``shift`` is ``k log(2) sum_events w_i``.
    """
    if k == 0:
        return float(loglik)
    return float(np.ldexp(loglik - shift, k))


# ---------------------------------------------------------------------------------------------
# validation


def _numeric(data: pd.DataFrame, column: str, role: str) -> np.ndarray:
    values = data[column]
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise DataError(
            column,
            f"{role} time must be numeric, got dtype {dtype}; convert it, e.g. days since "
            f"baseline with (data[{column!r}] - origin).dt.days",
        )
    return values.to_numpy(dtype=np.float64)


def _check_intervals(data, start, stop, start_values, stop_values, cluster) -> None:
    bad = ~(stop_values > start_values)
    if bad.any():
        offenders, what = offenders_of(data, bad, cluster)
        raise DataError(
            stop,
            f"every interval needs {start} < {stop}; {int(bad.sum())} row(s) have "
            f"{stop} <= {start} (find them with data[data[{stop!r}] <= data[{start!r}]])",
            offenders,
            what=what,
        )


def _event_values(data: pd.DataFrame, event: str, cluster: str | None) -> np.ndarray:
    y = binary_column(data, event, "event", cluster)
    if not y.any():
        raise DataError(event, "no events (event is 0 on every row): nothing to model")
    return y
