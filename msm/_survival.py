"""Weighted Cox proportional hazards on counting-process ``(start, stop]`` rows: the engine.

Private: used by ``msm.outcome.cox_model`` (the Cox MSM) and by the Cox treatment and censoring
models (R ipw's ``family="survival"``).  Plain arrays in; no DataFrames, no formulas.

- ``fit_cox`` maximises the weighted partial likelihood (Efron or Breslow ties) by
  Newton-Raphson with step halving, to full convergence.  Covariates are centred at their
  column means first, as R's ``coxph`` does: the estimates do not change, the risk-set sums
  stay accurate.
- ``CoxFit.robust_cov`` is the sandwich of R's ``coxph(... + cluster(id), weights=w)``:
  ``D' D`` with ``D`` the per-cluster sums of the weighted dfbeta residuals
  ``w_i U_i V`` (``U_i`` the score residuals, ``V`` the model-based covariance), i.e.
  ``V B V`` with the meat ``B = S' S`` (``CoxFit.meat``) of the per-cluster sums ``S`` of
  ``w_i U_i``: the bread is ``V = information^-1``.
- ``CoxFit.baseline_hazard`` is R's ``basehaz(fit, centered=TRUE)``: the cumulative hazard at
  the covariate means, with Efron's tie correction (``survfit`` ``ctype=2``) for an Efron fit and
  Breslow's estimator otherwise, as a right-continuous step function of time.

Rows with weight 0 are dropped before fitting, so that such a row is exactly a row that is
absent (it would otherwise still count as a tied event in Efron's correction).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from msm import _kernels
from msm._glm import check_magnitude
from msm._warnings import ConvergenceWarning, warn
from msm.panel import DataError

TIES = ("efron", "breslow")


@dataclass(frozen=True, eq=False)
class BaselineHazard:
    """A baseline cumulative hazard: a right-continuous step function of time.

    Attributes
    ----------
    times : ndarray
        Distinct event times, ascending.
    hazard : ndarray
        Hazard increment at each event time.
    cumhaz : ndarray
        Cumulative hazard at each event time (``cumsum(hazard)``).
    center : ndarray
        Covariate values at which this is the hazard (the column means for R's
        ``basehaz(fit, centered=TRUE)``).
    """

    times: np.ndarray
    hazard: np.ndarray
    cumhaz: np.ndarray
    center: np.ndarray

    def __call__(self, t) -> np.ndarray:
        """Cumulative hazard at times ``t``: sum of the increments at event times ``<= t``."""
        t = np.asarray(t, dtype=np.float64)
        k = np.searchsorted(self.times, t, side="right")
        return np.concatenate(([0.0], self.cumhaz))[k]

    def increments(self, grid) -> np.ndarray:
        """Cumulative hazard gained over each step of an increasing time grid.

        ``H(grid[0])`` for the first point, then ``H(grid[k]) - H(grid[k - 1])``: what R's
        ipw (``family="survival"``) takes as the hazard of an interval ending at ``grid[k]``,
        with the grid the sorted unique times of the data.
        """
        grid = np.asarray(grid, dtype=np.float64)
        if grid.ndim != 1 or np.any(np.diff(grid) <= 0):
            raise ValueError("grid must be a 1-d array of strictly increasing times")
        return np.diff(self(grid), prepend=0.0)


@dataclass(frozen=True, eq=False)
class _CoxData:
    """The fitting rows (weight > 0), sorted by stop time descending, covariates centred.

    Sorting once makes the kernels' joining sweep sequential in memory, and the leaving sweep
    (by start time, stable, so ties keep the stop order) nearly so.
    """

    start: np.ndarray
    stop: np.ndarray
    event: np.ndarray
    X: np.ndarray  # centred at CoxFit.means
    w: np.ndarray
    order_stop: np.ndarray  # 0 .. n-1: the rows are already in that order
    order_start: np.ndarray
    rows: np.ndarray  # position among the rows given of each sorted row
    n_given: int

    def args(self, beta: np.ndarray, efron: bool) -> tuple:
        return (
            self.start,
            self.stop,
            self.event,
            self.X,
            self.w,
            beta,
            self.order_stop,
            self.order_start,
            efron,
        )

    def to_given(self, values: np.ndarray) -> np.ndarray:
        """Per-row values (sorted rows) back in the order given; 0 for dropped rows."""
        out = np.zeros((self.n_given, *values.shape[1:]))
        out[self.rows] = values
        return out


@dataclass(frozen=True, eq=False)
class CoxFit:
    """A fitted weighted Cox model (engine level: arrays, not pandas).

    Attributes
    ----------
    name : str
        Which model this is, for messages (``"Cox MSM"``, ``"treatment denominator"``).
    names : list of str
        Covariate names.
    params : ndarray
        Log hazard ratios.
    cov : ndarray
        Model-based covariance, the inverse of the information at ``params``.
    loglik, loglik_null : float
        Partial log-likelihood at ``params`` and at 0.
    score : ndarray
        Score at ``params`` (about 0 when converged).
    converged : bool
    n_iter : int
        Newton iterations.
    ties : {"efron", "breslow"}
    n, n_events, n_event_times : int
        Rows with positive weight, events among them, distinct event times.
    sum_weights : float
    means : ndarray
        Unweighted column means of the covariates over the rows given (R's ``fit$means``).
    warnings : tuple of str
        Messages of the warnings issued while fitting.
    information : ndarray
        The information (minus the Hessian of the weighted log partial likelihood) at
        ``params``; ``cov`` is its inverse.
    """

    name: str
    names: list[str]
    params: np.ndarray
    cov: np.ndarray
    loglik: float
    loglik_null: float
    score: np.ndarray
    converged: bool
    n_iter: int
    ties: str
    n: int
    n_events: int
    n_event_times: int
    sum_weights: float
    means: np.ndarray
    warnings: tuple[str, ...] = ()
    data: _CoxData = field(default=None, repr=False)
    information: np.ndarray | None = field(default=None, repr=False)

    @property
    def bse(self) -> np.ndarray:
        """Model-based standard errors."""
        return np.sqrt(np.diag(self.cov))

    def _weighted_score_residuals(self) -> np.ndarray:
        """``w_i U_i`` for the fitting rows, in the engine's sorted order."""
        d = self.data
        resid = _kernels.cox_score_residuals(*d.args(self.params, self.ties == "efron"))
        resid *= d.w[:, None]
        return resid

    def score_residuals(self) -> np.ndarray:
        """Per-row score residuals ``U_i`` (unweighted; ``sum w_i U_i`` is the score).

        One row per row given to ``fit_cox``, in that order; rows with weight 0 get 0.
        R's ``residuals(fit, type="score")``.
        """
        d = self.data
        resid = _kernels.cox_score_residuals(*d.args(self.params, self.ties == "efron"))
        return d.to_given(resid)

    def dfbeta(self) -> np.ndarray:
        """Weighted dfbeta residuals ``w_i U_i V``, as R's ``residuals(type="dfbeta")``.

        R's default for ``dfbeta`` is ``weighted=TRUE``; these are the rows of the sandwich.
        One row per row given, in that order; rows with weight 0 get 0.
        """
        return self.data.to_given(_times_matrix(self._weighted_score_residuals(), self.cov))

    def meat(self, cluster: np.ndarray | None = None) -> np.ndarray:
        """``S' S``: the cross-product of the per-cluster sums ``S`` of ``w_i U_i``.

        The meat of the sandwich (the bread is ``cov``, the inverse information).

        Parameters
        ----------
        cluster : ndarray, optional
            Cluster labels, one per row given to ``fit_cox``; ``None`` makes every row its own
            cluster (R's ``robust=TRUE`` without ``cluster()``).
        """
        d = self.data
        S = self._weighted_score_residuals()
        if cluster is not None:
            codes, n_clusters = _cluster_codes(cluster, d.n_given)
            codes = codes[d.rows]
            S = np.column_stack(
                [
                    np.bincount(codes, weights=S[:, j], minlength=n_clusters)
                    for j in range(S.shape[1])
                ]
            )
        return S.T @ S

    def robust_cov(self, cluster: np.ndarray | None = None) -> np.ndarray:
        """Sandwich covariance ``D' D`` of R's ``coxph(... + cluster(id), weights=)``.

        ``D`` holds the per-cluster sums of the weighted dfbeta residuals; computed as
        ``V (S' S) V`` with ``S`` the per-cluster sums of ``w_i U_i`` (``meat(cluster)``).

        Parameters
        ----------
        cluster : ndarray, optional
            Cluster labels, one per row given to ``fit_cox``; ``None`` makes every row its own
            cluster (R's ``robust=TRUE`` without ``cluster()``).
        """
        cov = self.cov @ self.meat(cluster) @ self.cov
        return (cov + cov.T) / 2.0

    def baseline_hazard(self, center: np.ndarray | None = None) -> BaselineHazard:
        """Baseline cumulative hazard at covariates ``center`` (default: the column means).

        Efron's tie-corrected estimator for an Efron fit (R's ``survfit`` ``ctype=2``),
        Breslow's for a Breslow fit; with the default centre this is R's
        ``basehaz(fit, centered=TRUE)``, and ``center=0`` gives ``centered=FALSE``.
        """
        d = self.data
        times, hazard = _kernels.cox_baseline_hazard(*d.args(self.params, self.ties == "efron"))
        if center is None:
            center = self.means
        else:
            center = np.broadcast_to(np.asarray(center, dtype=np.float64), self.means.shape)
            hazard = hazard * np.exp(np.dot(center - self.means, self.params))
        return BaselineHazard(times, hazard, np.cumsum(hazard), np.array(center, dtype=float))

    def risk_score(self, X: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
        """``exp((x - center) b)`` per row (``center`` defaults to the column means).

        With ``baseline_hazard(center)`` this gives each row's cumulative hazard:
        ``H(t | x) = H_0(t) * risk_score(x)``.
        """
        center = self.means if center is None else np.asarray(center, dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:  # a 1-d array of one covariate (an (n, 0) array is the null model)
            X = X.reshape(-1, self.params.size)
        return np.exp((X - center) @ self.params)


def _cluster_codes(cluster, n: int) -> tuple[np.ndarray, int]:
    """Integer codes 0 .. G-1 of the cluster labels, and G."""
    cluster = np.asarray(cluster)
    if cluster.shape != (n,):
        raise ValueError(f"cluster must have one label per row ({n}), got shape {cluster.shape}")
    if np.issubdtype(cluster.dtype, np.integer) and cluster.size and cluster.min() >= 0:
        if cluster.max() < 2 * n:  # already small codes (pd.factorize output, say)
            return cluster.astype(np.int64, copy=False), int(cluster.max()) + 1
    uniques, codes = np.unique(cluster, return_inverse=True)
    return codes.astype(np.int64).reshape(n), len(uniques)


def _times_matrix(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` for tall ``A`` and tiny ``B``, column by column (numpy's matmul is slow there)."""
    out = np.zeros((A.shape[0], B.shape[1]))
    for j in range(A.shape[1]):
        for k in range(B.shape[1]):
            out[:, k] += A[:, j] * B[j, k]
    return out


def fit_cox(
    start: np.ndarray,
    stop: np.ndarray,
    event: np.ndarray,
    X: np.ndarray,
    names: list[str],
    weights: np.ndarray | None = None,
    ties: str = "efron",
    *,
    name: str = "Cox model",
    event_name: str = "event",
    init: np.ndarray | None = None,
    max_iter: int = 30,
    tol: float = 1e-10,
) -> CoxFit:
    """Weighted Cox proportional hazards fit on ``(start, stop]`` rows.

    Newton-Raphson with step halving (a step never lowers the partial log-likelihood), until
    the next Newton step is below ``tol * (1 + max |beta|)`` in every coefficient.  A fit that
    does not get there warns ``ConvergenceWarning`` naming the model and the coefficients
    still moving (typically a monotone likelihood: a covariate level with no events, beta
    heading to infinity).

    Parameters
    ----------
    start, stop : array (n,)
        Interval ends, ``start < stop`` (checked).
    event : array (n,)
        1 for an event at ``stop``, 0 otherwise.
    X : array (n, p)
        Covariates, no intercept.  ``p = 0`` is the null model (R's ``coxph(Surv(start,
        stop, event) ~ 1)``): no coefficients, every risk score 1, and the baseline hazard
        the Nelson-Aalen estimator (Fleming-Harrington's tie correction for Efron ties).
    names : list of str
        Covariate names, for messages and results.
    weights : array (n,), optional
        Case weights (>= 0); rows with weight 0 are dropped.
    ties : {"efron", "breslow"}
    name : str
        The model's name in messages.
    event_name : str
        The event column's name, for the DataError when no row with positive weight has an
        event.
    init : array (p,), optional
        Starting coefficients (default 0).
    max_iter : int
    tol : float

    Returns
    -------
    CoxFit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 1))
    >>> time = rng.exponential(1 / np.exp(0.7 * x[:, 0]))
    >>> fit = fit_cox(np.zeros(400), time, np.ones(400), x, ["x"])
    >>> fit.converged, round(float(fit.params[0]), 1)
    (True, 0.7)
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    efron = ties == "efron"
    start = np.asarray(start, dtype=np.float64)
    stop = np.asarray(stop, dtype=np.float64)
    event = np.asarray(event, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n_given, p = X.shape
    names = list(names)
    if len(names) != p:
        raise ValueError(f"{len(names)} names for {p} covariate columns")
    for label, values in (("start", start), ("stop", stop), ("event", event)):
        if values.shape != (n_given,):
            raise ValueError(f"{label} must have {n_given} values, got shape {values.shape}")
    w = np.ones(n_given) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_given,):
        raise ValueError(f"weights must have {n_given} values, got shape {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise DataError("weights", f"{name}: weights must be finite and >= 0")
    if not (np.all(np.isfinite(start)) and np.all(np.isfinite(stop)) and np.all(np.isfinite(X))):
        raise DataError(None, f"{name}: start, stop and covariates must be finite")
    if np.any(stop <= start):
        raise DataError("stop", f"{name}: every interval needs start < stop")
    if not np.all((event == 0) | (event == 1)):
        raise DataError("event", f"{name}: event must be 0 or 1")
    means = X.mean(axis=0) if n_given else np.zeros(p)
    positive = w > 0
    rows = np.argsort(-stop)  # by stop time, descending
    if not positive.all():
        rows = rows[positive[rows]]
    rows = rows.astype(np.int64)
    start, stop, event, w = start[rows], stop[rows], event[rows], w[rows]
    X = X[rows]
    X -= means
    # centred covariates beyond double precision's range: the information (~x**2) or the
    # variance (~1/x**2) would under- or overflow (the GLM engine's rule and message)
    check_magnitude(X, w, names, name, None)
    n_events = int(event.sum())
    if n_events == 0:
        raise DataError(event_name, f"{name}: no events (among rows with positive weight)")
    data = _CoxData(
        start=start,
        stop=stop,
        event=event,
        X=np.ascontiguousarray(X),
        w=w,
        order_stop=np.arange(start.size, dtype=np.int64),
        order_start=np.argsort(-start, kind="stable").astype(np.int64),
        rows=rows,
        n_given=n_given,
    )

    beta = np.zeros(p) if init is None else np.array(init, dtype=np.float64).reshape(p)
    loglik, score, info, n_times = _kernels.cox_loglik_score_information(*data.args(beta, efron))
    loglik_null = (
        loglik
        if not beta.any()
        else _kernels.cox_loglik_score_information(*data.args(np.zeros(p), efron))[0]
    )
    converged = p == 0  # the null model has nothing to estimate
    n_iter = 0
    step = np.zeros(p)
    if p and not beta.any():
        _checked_information(info, names, name)  # at beta = 0: real collinearity
    while not converged:
        # converged when the next Newton step is negligible: the information in hand is then
        # the one at the estimate, and no pass is spent confirming a step of size ~0
        try:
            step = _newton_step(info, score, names, name)
        except DataError as exc:
            if n_iter == 0:
                raise
            raise _monotone_error(exc, beta, names, name, n_iter) from None
        if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(beta))):
            converged = True
            break
        if n_iter == max_iter:
            break
        n_iter += 1
        shrink = 1.0
        stuck = False
        while True:
            trial = beta + shrink * step
            new = _kernels.cox_loglik_score_information(*data.args(trial, efron))
            if np.isfinite(new[0]) and new[0] >= loglik - 1e-12 * abs(loglik):
                break
            shrink /= 2.0  # step halving: never accept a fall in the log-likelihood
            if shrink < 1e-10:
                stuck = True
                break
        if stuck:  # no step improves: at the optimum to rounding, unless the step is large
            converged = bool(np.max(np.abs(step)) <= 1e-6 * (1.0 + np.max(np.abs(beta))))
            break
        beta = trial
        loglik, score, info, n_times = new
    if p:
        try:
            info = _checked_information(info, names, name)
        except DataError as exc:
            if n_iter == 0:
                raise
            raise _monotone_error(exc, beta, names, name, n_iter) from None
    cov = np.linalg.inv(info) if p else np.zeros((0, 0))
    cov = (cov + cov.T) / 2.0
    messages = []
    if not converged:
        size = np.abs(step)
        moving = [names[j] for j in np.argsort(-size) if size[j] > 0.01 * size.max()][:3]
        message = (
            f"{name} did not converge in {max_iter} Newton iterations; coefficients still "
            f"moving: {', '.join(map(repr, moving)) or 'none'} (if they keep growing, the "
            "likelihood is monotone: a covariate separates events from non-events, e.g. a "
            "level with no events, and its hazard ratio is 0 or infinite)"
        )
        messages.append(message)
        warn(message, ConvergenceWarning)
    return CoxFit(
        name=name,
        names=names,
        params=beta,
        cov=cov,
        loglik=float(loglik),
        loglik_null=float(loglik_null),
        score=score,
        converged=converged,
        n_iter=n_iter,
        ties=ties,
        n=int(start.size),
        n_events=n_events,
        n_event_times=int(n_times),
        sum_weights=float(w.sum()),
        means=means,
        warnings=tuple(messages),
        data=data,
        information=info if p else np.zeros((0, 0)),
    )


def _monotone_error(
    exc: DataError, beta: np.ndarray, names: list[str], name: str, n_iter: int
) -> DataError:
    """The information was fine at the start and became singular along the Newton path."""
    order = np.argsort(-np.abs(beta))
    largest = ", ".join(f"{names[j]!r} (coef {beta[j]:.3g})" for j in order[:3])
    return DataError(
        exc.column,
        f"{name}: the partial likelihood is monotone: after {n_iter} Newton step(s) the "
        f"coefficients run off ({largest}) and the information becomes singular; a "
        "covariate (or combination) separates the events from the others at risk, so its "
        "hazard ratio is 0 or infinite: drop, coarsen or combine it",
    )


def _newton_step(info: np.ndarray, score: np.ndarray, names: list[str], name: str) -> np.ndarray:
    try:
        factor = scipy.linalg.cho_factor(info, lower=True, check_finite=False)
        step = scipy.linalg.cho_solve(factor, score, check_finite=False)
    except np.linalg.LinAlgError:
        _checked_information(info, names, name)  # raises naming the columns
        step = np.linalg.lstsq(info, score, rcond=None)[0]
    if not np.all(np.isfinite(step)):
        _checked_information(info, names, name)
        step = np.linalg.lstsq(info, score, rcond=None)[0]
    return step


def _checked_information(info: np.ndarray, names: list[str], name: str) -> np.ndarray:
    """The information matrix, or DataError naming the constant or collinear covariates."""
    scale = np.sqrt(np.abs(np.diag(info)))
    if np.any(scale == 0) or not np.all(np.isfinite(info)):
        bad = [names[j] for j in np.flatnonzero(~(scale > 0))] or list(names)
        raise DataError(
            bad[0],
            f"{name}: covariate(s) {bad} carry no information (constant over every risk set "
            "at the event times)",
        )
    corr = info / np.outer(scale, scale)
    eigval, eigvec = np.linalg.eigh(corr)
    if eigval[0] <= 1e-12 * max(eigval[-1], 1.0):
        loadings = np.abs(eigvec[:, 0])
        bad = [names[j] for j in np.flatnonzero(loadings > 0.1)]
        raise DataError(
            bad[-1],
            f"{name}: the covariates {bad} are collinear over the risk sets at the event "
            "times (a Cox model has no intercept: do not include a full set of dummies)",
        )
    return info
