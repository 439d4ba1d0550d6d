"""Weighted GLM outcome models (the MSM itself): ``glm()`` and ``GLMResults``.

Data path: validate the columns the model reads, resolve the weights, build the design matrix
(``msm._formula``), fit by Newton/IRLS with one fused numba pass per iteration (deviance, score
and information together; ``msm._kernels.glm``), then sum score rows by cluster for the
sandwich (``msm.inference``).  Canonical links by default (identity for gaussian, logit for
binomial, log for poisson); ``link=`` fits binomial identity (risk differences), log (risk
ratios), probit and cloglog, and poisson identity, by Fisher scoring.  Row order does not
matter and the caller's DataFrame is only read.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm import _kernels
from msm._formula import Design, Terms, design_matrix, parse_terms
from msm._glm import (
    Centring,
    check_column_name,
    check_fit_options,
    fit_glm,
    outcome_exponent,
)
from msm.inference import (
    CentredParts,
    CoefficientResults,
    CovarianceEstimator,
    SandwichParts,
    covariance_estimator,
    glm_meat,
)
from msm.outcome._stacked import stacked_parts
from msm.panel import (
    DataError,
    check_columns_exist,
    check_finite_by,
    check_frame,
    check_numeric,
    offenders_of,
    resolve_weights,
    weight_exponent,
)
from msm.weights import Weights


@dataclass(frozen=True)
class _Family:
    name: str
    code: int
    link: str
    exp_label: str | None  # what exp(coefficient) is, or None when it means nothing
    link_code: int | None = None  # a non-canonical link's code (None: the canonical link)


FAMILIES = {
    "gaussian": _Family("gaussian", _kernels.GAUSSIAN, "identity", None),
    "binomial": _Family("binomial", _kernels.BINOMIAL, "logit", "odds ratio"),
    "poisson": _Family("poisson", _kernels.POISSON, "log", "rate ratio"),
}

#: the links each family takes, the first its canonical one: (code, what exp(coef) is);
#: binomial identity gives risk differences, log risk ratios, cloglog (grouped-time
#: proportional hazards) hazard ratios
LINKS: dict[str, dict[str, tuple[int, str | None]]] = {
    "gaussian": {"identity": (_kernels.IDENTITY, None)},
    "binomial": {
        "logit": (_kernels.LOGIT, "odds ratio"),
        "identity": (_kernels.IDENTITY, None),
        "log": (_kernels.LOG, "risk ratio"),
        "probit": (_kernels.PROBIT, None),
        "cloglog": (_kernels.CLOGLOG, "hazard ratio"),
    },
    "poisson": {"log": (_kernels.LOG, "rate ratio"), "identity": (_kernels.IDENTITY, None)},
}


@dataclass(frozen=True, eq=False)
class _FitArrays:
    """The arrays a fit keeps, for score rows and fitted values (rows in the caller's order)."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    mu: np.ndarray
    codes: np.ndarray | None
    index: pd.Index
    # a non-canonical link: each row's mu'(eta) / V(mu) (None: canonical, where it is 1)
    score_factor: np.ndarray | None = None


@dataclass(frozen=True, eq=False, repr=False)  # printing: CoefficientResults
class GLMResults(CoefficientResults):
    """A fitted weighted GLM.

    The coefficient table comes from ``msm.inference.CoefficientResults``: ``bse``,
    ``zvalues``, ``pvalues`` (standard normal), ``conf_int(alpha)``, ``exp_params`` and
    ``exp_conf_int(alpha)`` (odds or rate ratios), ``summary(alpha)`` (columns ``estimate,
    std_error, z, p_value, lower, upper``, and for binomial and poisson models also
    ``exp_estimate, exp_lower, exp_upper``), and ``cov_for(variance)`` /
    ``with_variance(variance)`` for another covariance estimator without refitting.
    ``str(fit)`` prints the table with a header and the variance used.

    Attributes
    ----------
    params : pandas.Series
        Coefficients, labelled with the design's term names.
    cov : pandas.DataFrame
        Their covariance under the estimator named by ``variance``.
    variance : str
        Name of the covariance estimator (``"robust"``, ``"cr1"``, ``"cr1s"``, ``"model"``,
        ``"stacked"``).
    covariance_estimator : msm.inference.CovarianceEstimator
        The estimator itself (``describe()`` gives the footer line).
    family, link, formula, outcome : str
    nobs : int
        Rows with positive weight (the rows that inform the fit).
    n_rows : int
        Rows given, including any with weight 0.
    n_clusters : int
        Clusters with a positive-weight row (``nobs`` without ``cluster=``).
    cluster : str or None
    sum_weights : float
    deviance, pearson_chi2 : float
        Weighted, at the estimate.
    df_resid : int
        ``nobs - number of parameters``.
    dispersion : float
        ``pearson_chi2 / df_resid`` (used by ``variance="model"``).
    converged : bool
    n_iter : int
        Newton iterations.
    sandwich_parts : msm.inference.SandwichParts
        Information, meat and counts, for other variance estimators.
    """

    params: pd.Series
    cov: pd.DataFrame
    variance: str
    covariance_estimator: CovarianceEstimator
    family: str
    link: str
    formula: str
    outcome: str
    nobs: int
    n_rows: int
    n_clusters: int
    cluster: str | None
    sum_weights: float
    deviance: float
    pearson_chi2: float
    df_resid: int
    dispersion: float
    converged: bool
    n_iter: int
    sandwich_parts: SandwichParts = field(repr=False)
    _arrays: _FitArrays = field(repr=False)
    # the centred design the fit was computed on, when a covariate lies far from 0 relative
    # to its spread (its centre and coefficients there: msm._glm.Centring), else None;
    # predictions on new rows use it (``linear_predictor``)
    _centring: Centring | None = field(default=None, repr=False)
    # the parsed right-hand side and formulaic's spec of the design the fit was computed on
    # (state such as knots and levels learnt from the fitting data): risk_curves builds the
    # regimes' rows with them; None from the Dask front end (rebuilt from the data there)
    terms: Terms | None = field(default=None, repr=False)
    design_spec: object = field(default=None, repr=False)

    @property
    def evalue_scale(self) -> str | None:
        """``"OR"`` (logit), ``"RR"`` (log link), ``"HR"`` (cloglog: a discrete-time hazard
        ratio), ``"OLS"`` (gaussian identity), else None (a risk difference has none)."""
        if self.family == "binomial" and self.link == "logit":
            return "OR"
        if self.family == "binomial" and self.link == "cloglog":
            return "HR"
        if self.link == "log":
            return "RR"
        if self.family == "gaussian" and self.link == "identity":
            return "OLS"
        return None

    @property
    def exp_columns(self) -> tuple[str, str, str] | None:
        """The table's odds or rate ratio columns (binomial and poisson), None for gaussian."""
        if family_of(self.family, self.link).exp_label is None:
            return None
        return ("exp_estimate", "exp_lower", "exp_upper")

    # --- pieces for sandwiches, stacking and diagnostics ------------------------------------

    def bread(self) -> pd.DataFrame:
        """``A^-1``: the inverse of the information ``X' diag(w V(mu)) X``.

        For a non-canonical link the expected information ``X' diag(w mu'^2 / V(mu)) X``
        (``mu' = dmu/deta``), as R's ``sandwich`` and ``glm_weightit`` take it.

        On the scale of the weights given (``sandwich_parts`` holds the information of the
        weights rescaled by ``sandwich_parts.weight_scale``).
        """
        names = self.params.index
        parts = self.sandwich_parts
        return pd.DataFrame(parts.bread * parts.weight_scale, index=names, columns=names)

    def score_rows(self) -> pd.DataFrame:
        """Per-row estimating-function contributions ``w_i (y_i - mu_i) x_i``.

        For a non-canonical link ``w_i (y_i - mu_i) mu'_i / V(mu_i) x_i`` (the score of the
        log-likelihood; R's ``sandwich::estfun``).

        One row per input row (caller's index and order; rows with weight 0 are rows of 0).
        They sum to (numerically) zero at the estimate; summed within clusters and crossed
        they give the meat of the sandwich.
        """
        a = self._arrays
        r = a.w * (a.y - a.mu)
        if a.score_factor is not None:
            r = r * a.score_factor
        return pd.DataFrame(a.X * r[:, None], index=a.index, columns=self.params.index)

    @property
    def centring(self) -> Centring | None:
        """The centred design the fit was computed on (``msm._glm.Centring``), or None.

        Set when a covariate lies far from 0 relative to its spread (``time + 1e5``): its
        ``centre`` and the coefficients ``beta`` on the centred design, from which the
        linear predictor on new rows keeps its digits.
        """
        return self._centring

    def linear_predictor(self, X: np.ndarray) -> np.ndarray:
        """``X @ params`` for design rows ``X`` (the fit's columns), to the fit's accuracy.

        When the fit was computed on a centred design (a covariate far from 0 relative to
        its spread, e.g. ``time + 1e5``), the product is taken there (``Xc @ gamma``), so the
        intercept does not cancel the digits of the covariate's term.
        """
        X = np.asarray(X, dtype=np.float64)
        if self._centring is not None:
            return self._centring.linear_predictor(X)
        return X @ self.params.to_numpy(dtype=np.float64)

    @property
    def fitted_values(self) -> pd.Series:
        """Fitted means ``mu``, aligned with the data's index."""
        return pd.Series(self._arrays.mu, index=self._arrays.index, name="fitted")

    # --- printing ---------------------------------------------------------------------------

    def header_lines(self) -> list[str]:
        clusters = (
            f"{self.n_clusters} clusters ({self.cluster!r})"
            if self.cluster is not None
            else "no clusters (each row its own)"
        )
        zero = self.n_rows - self.nobs
        rows = f"{self.nobs} rows" + (f" (+{zero} with weight 0)" if zero else "")
        status = "converged" if self.converged else "NOT converged"
        steps = "Newton" if self.link == FAMILIES[self.family].link else "Fisher scoring"
        return [
            f"GLM ({self.family}, {self.link} link): {self.outcome} ~ {self.formula}",
            f" - {rows}, {clusters}, sum of weights {self.sum_weights:.6g}",
            f" - {status} in {self.n_iter} {steps} iterations; deviance {self.deviance:.6g}, "
            f"Pearson chi2 {self.pearson_chi2:.6g}, dispersion {self.dispersion:.6g}",
        ]


@dataclass(frozen=True)
class GLMArguments:
    """The arguments of ``glm`` that are not columns, checked: what the fit needs of them."""

    family: _Family
    estimator: CovarianceEstimator
    outcome: str
    rhs: str
    max_iter: int
    tol: float
    convergence: str


def check_glm_arguments(
    formula, family, variance, cluster, offset, max_iter, tol, convergence, link=None
) -> GLMArguments:
    """Check ``glm``'s arguments that are not columns, before any work on the data.

    Shared by the in-memory fit and the Dask front end (``msm._dask.outcome``), so both refuse
    the same arguments with the same messages.

    Examples
    --------
    >>> check_glm_arguments("y ~ a", "binomial", "robust", "id", None, 50, 1e-10, "full").outcome
    'y'
    """
    max_iter, tol, convergence = check_fit_options(max_iter, tol, convergence)
    fam = family_of(family, link)
    if fam.link_code is not None and convergence == "r":
        raise ValueError(
            f"convergence='r' replays R's IRLS path for canonical links only; link={link!r} is "
            "fitted to full convergence (convergence='full'), as R's glm with a tight "
            "epsilon"
        )
    estimator = covariance_estimator(variance)
    outcome, rhs = split_formula(formula)
    check_column_name(cluster, "cluster")
    check_column_name(offset, "offset")
    return GLMArguments(fam, estimator, outcome, rhs, max_iter, tol, convergence)


def glm(
    formula: str,
    data: pd.DataFrame,
    *,
    weights=None,
    cluster: str | None = None,
    family: str = "gaussian",
    variance: str | CovarianceEstimator = "robust",
    offset: str | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
    convergence: str = "full",
    link: str | None = None,
) -> GLMResults:
    """Weighted generalized linear model with cluster-robust variance: the MSM outcome model.

    Fitted by Newton/IRLS (canonical links, so the two coincide; Fisher scoring for the
    other links) with step halving, to full convergence: the largest coefficient change the
    next step would make below ``tol * (1 + max |beta|)``.

    Parameters
    ----------
    formula : str
        ``"outcome ~ rhs"``; the right-hand side is a Wilkinson formula (formulaic), with R's
        ``^`` accepted inside ``I()`` (``I((t/1000)^2)``).
    data : pandas.DataFrame
        One row per observation (person-time rows for a pooled logistic MSM).  Not modified.
    weights : Weights, Series, str, array-like or None
        Prior weights: a ``Weights`` from ``msm.iptw`` or a pandas Series (both matched to
        ``data``'s rows by index label, so ``w.weights`` fits a shuffled or subset copy of
        the rows), a column name, or an array (by position, one value per row); ``None`` for
        weight 1.  See ``msm.weights.resolve_weights`` for the rules.  Rows with weight 0 do
        not inform the fit.  Estimates and variances (all but a fixed-dispersion
        ``ModelBased``, which treats the weights as case counts) do not change when every
        weight is multiplied by the same constant; the fit is computed on the weights times a
        power of two that brings their mean near 1.
    cluster : str or None
        Column identifying clusters (subjects) for the robust variance; ``None`` makes each
        row its own cluster.
    family : {"gaussian", "binomial", "poisson"}
        Canonical links: identity, logit, log.  A binomial outcome is 0/1 (or a proportion
        in [0, 1]); a poisson outcome a count (any value >= 0).
    link : str or None
        The link; None for the family's canonical one.  Binomial: ``"logit"``,
        ``"identity"`` (coefficients are risk differences), ``"log"`` (``exp_params`` are
        risk ratios), ``"probit"``, ``"cloglog"`` (``exp_params`` are grouped-time hazard
        ratios); poisson: ``"log"``, ``"identity"`` (rate differences); gaussian:
        ``"identity"``.  A non-canonical link is fitted by Fisher scoring from R's starting
        values, as R's ``glm(family = binomial(link = ...))``; a step that takes a fitted
        mean outside (0, 1) (binomial) or (0, inf) (poisson) is halved until every mean is
        back inside, as R's ``glm.fit`` does, and a fit that stays pressed against that
        boundary (its maximum-likelihood estimate lies on it) warns ``ConvergenceWarning``.
        The information (the bread of every sandwich and the model-based variance) is the
        expected one, ``X' diag(w mu'^2 / V(mu)) X``, as in R's ``summary.glm``,
        ``sandwich`` and ``WeightIt::glm_weightit`` (statsmodels' ``GLM.fit(cov_type="HC0")``
        takes the observed Hessian instead: see the variance page).  Rows with weight 0 do
        not count: their fitted means may lie outside the range.  Not with
        ``convergence="r"``, the Dask front end or ``risk_curves`` (a pooled logistic model).
    variance : {"robust", "cr1", "cr1s", "model", "stacked"} or CovarianceEstimator
        ``"robust"``: clustered sandwich without small-sample factor, as geepack's
        ``geeglm`` (HC0 without ``cluster=``).  ``"cr1"``: times ``G/(G-1)``, as
        ``sandwich::vcovCL`` defaults for a glm.  ``"cr1s"``: times ``G/(G-1) (n-1)/(n-k)``,
        as Stata's regress and ``vcovCL(type = "HC1")``.  ``"model"``: inverse information times the
        dispersion Pearson chi2 / residual df, as R's ``glm`` with ``quasibinomial`` or
        ``quasipoisson`` (``gaussian``: the residual variance);
        ``ModelBased(dispersion=1.0)`` gives R's ``binomial``/``poisson`` standard errors.
        ``"stacked"``: the sandwich of the weight models' and this model's estimating
        equations stacked, clustered by subject, which accounts for the weights being
        estimated; needs ``weights=`` a ``Weights`` with logistic models and no truncation
        (and ``cluster`` None or the weights' id).
    offset : str or None
        Column added to the linear predictor with coefficient 1 (e.g. log person-time).
    max_iter : int
        Most Newton iterations; a ``ConvergenceWarning`` names the model when exceeded.
    tol : float
        Relative convergence tolerance on the coefficients.
    convergence : {"full", "r"}
        ``"full"``: iterate until the Newton step is below ``tol``.  ``"r"``: replay R's
        ``glm.fit`` (start from its ``mustart``, stop when the deviance changes by less than
        1e-8 relative) and take the information from the weighted least-squares fit that
        produced the estimate, as R's ``summary.glm`` and ``sandwich`` do: estimates and
        standard errors then equal R's to rounding rather than to about 1e-7.  R's start and
        stopping rule depend on the scale of the weights, so the path replayed is R's for the
        weights times the power of two that brings their mean near 1 (for weights whose mean
        is already near 1, such as stabilized IP weights, the weights as given).

    Returns
    -------
    GLMResults

    Raises
    ------
    DataError
        A column is missing, holds NaN/inf, the outcome is out of range for the family or
        constant, the weights are invalid, or the design is singular.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(200), 5), "a": rng.integers(0, 2, 1000)})
    >>> df["y"] = (rng.random(1000) < 0.2 + 0.2 * df["a"]).astype(int)
    >>> fit = glm("y ~ a", df, cluster="id", family="binomial")
    >>> fit.params.index.tolist()
    ['Intercept', 'a']
    >>> fit.variance, fit.n_clusters
    ('robust', 200)
    >>> bool(fit.exp_params["a"] > 1)
    True

    The risk difference and risk ratio directly (``y ~ a`` is saturated: the difference and
    ratio of the weighted means of ``y`` by ``a``):

    >>> rd = glm("y ~ a", df, cluster="id", family="binomial", link="identity")
    >>> risk = df.groupby("a")["y"].mean()
    >>> bool(np.isclose(rd.params["a"], risk[1] - risk[0]))
    True
    >>> rr = glm("y ~ a", df, cluster="id", family="binomial", link="log")
    >>> bool(np.isclose(rr.exp_params["a"], risk[1] / risk[0]))
    True
    """
    options = check_glm_arguments(formula, family, variance, cluster, offset, max_iter, tol,
                                  convergence, link)  # fmt: skip
    outcome, rhs = options.outcome, options.rhs
    check_frame(data)
    check_outcome_column(data, outcome, formula)
    if cluster is not None:
        check_columns_exist(data, [cluster], "cluster")
    if offset is not None:
        check_columns_exist(data, [offset], "offset")
    terms = parse_terms(rhs, data, "outcome model")
    return fit_terms(options, data, terms, weights=weights, cluster=cluster, offset=offset)


def fit_terms(
    options: GLMArguments,
    data: pd.DataFrame,
    terms: Terms,
    *,
    weights=None,
    cluster: str | None = None,
    offset: str | None = None,
    design: Design | None = None,
    codes: tuple[np.ndarray, int] | None = None,
    row_runs: np.ndarray | None = None,
) -> GLMResults:
    """``glm`` from its checked arguments and parsed right-hand side (the columns exist).

    ``design``: the design of ``terms`` on ``data`` when the caller has built it (it must be
    the matrix ``design_matrix(terms, data)`` gives); ``codes``: the cluster codes and their
    number, as ``pandas.factorize(data[cluster], sort=False)`` gives them; ``row_runs``:
    runs of rows on which columns may be constant (``msm._glm.fit_glm``).  They only save
    the work (``TrialSequence.fit`` builds them from the expansion).
    """
    max_iter, tol, convergence = options.max_iter, options.tol, options.convergence
    fam, estimator, outcome, rhs = options.family, options.estimator, options.outcome, options.rhs
    used = [outcome, *terms.columns, *(c for c in (offset, cluster) if c is not None)]
    if isinstance(weights, Weights) and weights.computed_on(data):  # iptw checked these
        used = [c for c in used if c not in weights.spec.columns]
    check_finite_by(data, used, cluster)
    w = resolve_weights(data, weights)
    y = outcome_values(data, outcome, fam, cluster)
    off = np.zeros(len(data)) if offset is None else numeric_column(data, offset, "offset")

    positive = w > 0
    n_obs = int(positive.sum())
    if n_obs == 0:
        raise DataError("weights", "every weight is 0: no rows to fit the outcome model on")
    informative = y[positive]
    check_outcome_varies(
        outcome, fam, n_obs, int(np.sum(informative == 0.0)), int(np.sum(informative == 1.0))
    )

    if design is None:
        design = design_matrix(terms, data)
    X = np.ascontiguousarray(design.matrix, dtype=np.float64)
    names = list(design.names)
    model_name = f"outcome model {outcome} ~ {rhs}"
    if fam.code == _kernels.GAUSSIAN:  # an outcome beyond double precision's reach, named
        outcome_exponent(fam.code, y, w, f"{model_name} ({fam.name})", column=outcome)
    elif offset is not None and fam.link_code != _kernels.IDENTITY:
        _check_offset_range(off, w, offset, fam, data.index)

    # Fit on the weights times a power of two that brings their mean near 1 (exact; the
    # identity for weights whose mean is near 1): estimates and variances do not depend on a
    # constant scale of the weights, so the scale must not make sum w**2 under- or overflow.
    # (With convergence="r" this is R's path for the rescaled weights: R's start and stopping
    # rule depend on the scale, and fail at 1e-200 or 1e200.)
    k = weight_exponent(w)
    w_fit = np.ldexp(w, -k) if k else w
    fit = fit_glm(
        X,
        y,
        w_fit,
        off,
        fam.code,
        names,
        f"{model_name} ({fam.name})",
        max_iter=max_iter,
        tol=tol,
        convergence=convergence,
        require_variance=True,  # the covariance is reported: separation is an error
        link=fam.link_code,
        row_runs=row_runs,
    )
    beta, mu, info = fit.beta, fit.mu, fit.information
    converged, n_iter = fit.converged, fit.n_iter
    # deviance and Pearson chi2 on the scale of the weights given (as R reports them)
    deviance = float(np.ldexp(fit.deviance, k))
    pearson = float(np.ldexp(fit.pearson, k))

    if cluster is None:
        codes, n_groups = None, 0
    elif codes is not None:
        codes, n_groups = codes
    else:
        codes, uniques = pd.factorize(data[cluster], sort=False)
        codes, n_groups = codes.astype(np.int64), uniques.size
    # the meat on the design the fit was computed on: centred when a covariate lies far from
    # 0 relative to its spread (l + 1e5), so the sandwich keeps the digits of the spread
    scores = glm_meat(fit, X, y, w_fit, fam.code, codes, n_groups)
    if scores.pearson is not None:  # R's lagged working weights (convergence="r")
        pearson = float(np.ldexp(scores.pearson, k))
    meat, centred, n_clusters = scores.meat, scores.centred, scores.n_clusters
    stacked = None
    if isinstance(weights, Weights):
        if cluster is not None and cluster != weights.panel.id_name:
            stacked = None  # clusters other than the weights' subjects: not a stacked system
        else:
            stacked = functools.cache(
                functools.partial(
                    stacked_parts,
                    weights,
                    fit.centred_design(X),
                    y,
                    w_fit,
                    mu,
                    info if centred is None else centred.information,
                    data.index,
                    list(names),
                    transform=None if centred is None else centred.transform,
                    score_factor=fit.score_factor,
                )
            )
    return assemble_results(
        beta=beta,
        names=list(names),
        information=info,
        meat=meat,
        fam=fam,
        estimator=estimator,
        rhs=rhs,
        outcome=outcome,
        n_obs=n_obs,
        n_rows=len(data),
        n_clusters=n_clusters,
        cluster=cluster,
        sum_weights=float(w.sum()),
        deviance=deviance,
        pearson=pearson,
        converged=converged,
        n_iter=n_iter,
        stacked=stacked,
        arrays=_FitArrays(
            X=X, y=y, w=w, mu=mu, codes=codes, index=data.index, score_factor=fit.score_factor
        ),
        weight_scale=float(np.ldexp(1.0, -k)),
        centred=centred,
        centring=fit.centring,
        terms=terms,
        design_spec=design.spec,
    )


def assemble_results(
    *,
    beta: np.ndarray,
    names: list[str],
    information: np.ndarray,
    meat: np.ndarray,
    fam: _Family,
    estimator: CovarianceEstimator,
    rhs: str,
    outcome: str,
    n_obs: int,
    n_rows: int,
    n_clusters: int,
    cluster: str | None,
    sum_weights: float,
    deviance: float,
    pearson: float,
    converged: bool,
    n_iter: int,
    stacked=None,
    arrays: _FitArrays | None = None,
    weight_scale: float = 1.0,
    centred: CentredParts | None = None,
    centring: Centring | None = None,
    terms: Terms | None = None,
    design_spec: object = None,
) -> GLMResults:
    """GLMResults from a fit's sums (in memory, or reduced over partitions of a Dask frame).

    ``information`` and ``meat`` are those of the weights times ``weight_scale`` (a power of
    two); ``sum_weights``, ``deviance`` and ``pearson`` are on the scale of the weights given.
    ``centred``: the same on the design the fit was centred on for accuracy, if it was (the
    covariances are then computed there); ``centring``: that design's centre and the
    coefficients on it (for predictions, ``GLMResults.linear_predictor``).
    """
    df_resid = n_obs - len(names)
    dispersion = pearson / df_resid if df_resid > 0 else np.nan
    parts = SandwichParts(
        names=names,
        information=information,
        meat=meat,
        n_obs=n_obs,
        n_clusters=n_clusters,
        cluster=cluster,
        dispersion=float(dispersion * weight_scale),
        dispersion_label=(
            "residual variance" if fam.code == _kernels.GAUSSIAN else "Pearson chi2 / df"
        ),
        stacked=stacked,
        weight_scale=weight_scale,
        centred=centred,
    )
    cov = estimator.cov(parts)
    return GLMResults(
        params=pd.Series(beta, index=names, name="estimate"),
        cov=pd.DataFrame(cov, index=names, columns=names),
        variance=estimator.name,
        covariance_estimator=estimator,
        family=fam.name,
        link=fam.link,
        formula=rhs,
        outcome=outcome,
        nobs=n_obs,
        n_rows=n_rows,
        n_clusters=n_clusters,
        cluster=cluster,
        sum_weights=sum_weights,
        deviance=float(deviance),
        pearson_chi2=float(pearson),
        df_resid=df_resid,
        dispersion=float(dispersion),
        converged=converged,
        n_iter=n_iter,
        sandwich_parts=parts,
        _arrays=arrays,
        _centring=centring,
        terms=terms,
        design_spec=design_spec,
    )


# ---------------------------------------------------------------------------------------------
# validation


def family_of(family: str, link: str | None = None) -> _Family:
    """The family named ``family`` with ``link`` (case-insensitive; None: the canonical link).

    ValueError listing the choices: the families, or the links ``family`` takes.

    Examples
    --------
    >>> family_of("binomial", "identity").link
    'identity'
    >>> family_of("poisson", "probit")
    Traceback (most recent call last):
    ...
    ValueError: link for family='poisson' must be one of 'log', 'identity'; got 'probit'
    """
    try:
        fam = FAMILIES[str(family).lower()]
    except KeyError:
        raise ValueError(
            f"family must be one of {', '.join(map(repr, FAMILIES))}; got {family!r}"
        ) from None
    if link is None:
        return fam
    links = LINKS[fam.name]
    name = link.lower() if isinstance(link, str) else None
    if name not in links:
        raise ValueError(
            f"link for family={fam.name!r} must be one of {', '.join(map(repr, links))}; "
            f"got {link!r}"
        )
    if name == fam.link:
        return fam
    code, exp_label = links[name]
    return dataclasses.replace(fam, link=name, exp_label=exp_label, link_code=code)


_BACKTICK = re.compile(r"^`(.+)`$")


def split_formula(formula: str) -> tuple[str, str]:
    """``(outcome, rhs)`` of ``"outcome ~ rhs"`` (backticks around the outcome dropped)."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ValueError(f"formula must be a string 'outcome ~ rhs' with one '~', got {formula!r}")
    lhs, rhs = (part.strip() for part in formula.split("~"))
    match = _BACKTICK.match(lhs)
    outcome = match.group(1) if match else lhs
    if not outcome:
        raise ValueError(f"formula {formula!r} has no outcome left of '~'")
    return outcome, rhs or "1"


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def check_outcome_column(data: pd.DataFrame, outcome: str, formula: str) -> None:
    """The outcome (left of ``~``) is a column of ``data``; DataError naming it otherwise.

    An expression (``np.log(y+1)``) is not evaluated: the message says to build the column
    first and shows how, naming the source column (``err.column``) when there is one.
    """
    if outcome in data.columns:
        check_columns_exist(data, [outcome], "outcome")
        return
    if _IDENTIFIER.fullmatch(outcome):  # a plain name that is not there
        check_columns_exist(data, [outcome], "outcome")
    names = {str(c) for c in data.columns}
    words = _IDENTIFIER.findall(outcome)
    sources = list(dict.fromkeys(w for w in words if w in names))
    expression = _IDENTIFIER.sub(
        lambda m: f"data[{m.group(0)!r}]" if m.group(0) in names else m.group(0), outcome
    )
    functions = [w for w in words if w not in names and w not in ("np", "numpy")]
    new = "_".join([*functions[:1], *sources[:1]]) or "outcome"
    new = new if new.isidentifier() else "outcome"
    rhs = formula.split("~", 1)[1].strip() or "1"
    raise DataError(
        sources[0] if len(sources) == 1 else None,
        f"the outcome (left of '~') must be a column name, but {outcome!r} is an expression "
        "(the outcome is not evaluated as a formula); build it as a column first, e.g. "
        f"data.assign({new}={expression}), and fit '{new} ~ {rhs}'",
    )


def numeric_column(data: pd.DataFrame, column: str, role: str) -> np.ndarray:
    """``data[column]`` as float64 (bools as 0/1); DataError naming it when not numeric."""
    values = data[column]
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64)
    check_numeric(data, column, role)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise DataError(column, f"{role} must be numeric, got dtype {values.dtype}")
    return values.to_numpy(dtype=np.float64)


def outcome_values(data: pd.DataFrame, column: str, fam: _Family, cluster) -> np.ndarray:
    """The outcome as float64; DataError naming the ids (or rows) out of the family's range."""
    y = numeric_column(data, column, "outcome")
    if fam.code == _kernels.BINOMIAL:
        bad = (y < 0.0) | (y > 1.0)
        rule = "a binomial outcome must be 0/1 (or a proportion in [0, 1])"
    elif fam.code == _kernels.POISSON:
        bad = y < 0.0
        rule = "a poisson outcome must be >= 0"
    else:
        return y
    if bad.any():
        seen = pd.unique(y[bad])[:5]
        offenders, what = offenders_of(data, bad, cluster)
        raise DataError(
            column,
            f"{rule}; found {', '.join(f'{v:g}' for v in seen)}",
            offenders,
            what=what,
        )
    return y


# exp() of a linear predictor beyond this overflows or underflows to 0: such rows have
# fitted means of exactly 0, 1 or inf and carry no information
OFFSET_LIMIT = 700.0


def _check_offset_range(
    off: np.ndarray, w: np.ndarray, column: str, fam: _Family, index: pd.Index
) -> None:
    """A binomial or poisson offset (log scale) within what ``exp`` can represent."""
    bad = (w > 0) & ~(np.abs(off) <= OFFSET_LIMIT)
    if bad.any():
        seen = off[bad][np.argmax(np.abs(off[bad]))]
        raise DataError(
            column,
            f"the offset enters the {fam.name} model's linear predictor on the log scale, "
            f"but reaches {seen:g}: exp() of it over- or underflows (|offset| above "
            f"{OFFSET_LIMIT:g}), so those rows carry no information; is it log(person-time)? "
            "pass np.log of the exposure, not the exposure itself",
            list(index[bad]),
            what="rows",
        )


def check_outcome_varies(column, fam: _Family, n: int, n_zero: int, n_one: int) -> None:
    """DataError when the outcome on the ``n`` rows with positive weight has nothing to model.

    From counts, so both front ends use it: ``n_zero`` and ``n_one`` rows are 0 and 1 (a
    binomial outcome all 0 or all 1, a poisson outcome all 0).
    """
    if fam.code == _kernels.BINOMIAL and (n_zero == n or n_one == n):
        raise DataError(
            column,
            f"binomial outcome is {0 if n_zero == n else 1} on every row with positive weight: "
            "there is nothing to model",
        )
    if fam.code == _kernels.POISSON and n_zero == n:
        raise DataError(
            column, "poisson outcome is 0 on every row with positive weight: nothing to model"
        )
