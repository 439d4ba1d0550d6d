"""Treatments with more than two levels: multinomial logit and ordinal (proportional odds).

Both are fitted with statsmodels (``MNLogit``, ``OrderedModel``); the factor of a row is the
fitted probability of the category actually received, as R ipw's ``family="multinomial"`` and
``family="ordinal"`` compute it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.special
import scipy.stats

from msm._formula import intercept_columns
from msm._glm import map_back
from msm._warnings import warn
from msm.inference import ModelBasedResults
from msm.models._base import (
    ConvergenceWarning,
    FittingDesign,
    ModelInput,
    check_rank,
    fitting_design,
)
from msm.panel import DataError


@dataclass(frozen=True, eq=False)
class CategoricalFit(ModelBasedResults):
    """A fitted multinomial or ordinal treatment model.

    ``bse``, ``pvalues``, ``conf_int(alpha)`` and the table come from
    ``msm.inference.CoefficientResults``.

    Attributes
    ----------
    name, outcome, formula : str
    kind : str
        ``"multinomial logit"`` or ``"ordinal logit"`` / ``"ordinal probit"``.
    categories : list
        The treatment levels, in model order (the first is the multinomial reference).
    params, bse : pandas.Series
        Coefficients and standard errors, labelled ``"<term>[<level>]"`` for the multinomial
        model; for the ordinal one ``"<term>"`` slopes then the cut points labelled
        ``"<level>/<next level>"`` in statsmodels' parameterization (the first cut point, then
        the logs of the increments between cut points).
    cov : pandas.DataFrame
        Their model-based covariance (NaN for an ordinal model without covariates, whose cut
        points are the observed proportions).
    n : int
    converged : bool
    result : object
        The statsmodels results object, for anything more.  When ``fitting`` is set it is the
        fit on that centred and scaled design (its coefficients are not ``params``).
    fitting : msm.models._base.FittingDesign or None
        When a covariate lies far from 0 relative to its spread (``l + 1e5``), the centred
        and scaled design the model was fitted on; ``params`` and ``bse`` are mapped back
        exactly (the multinomial intercepts move by ``-centre @ slopes``, the ordinal first
        cut point by ``+centre @ slopes``) and the probabilities computed on it.
    """

    name: str
    outcome: str
    formula: str | None
    kind: str
    categories: list
    params: pd.Series
    cov: pd.DataFrame
    n: int
    converged: bool
    result: object
    fitting: FittingDesign | None = None

    def summary(self) -> pd.DataFrame:
        """Coefficient table: estimate, std_error, z, p_value."""
        return self.coefficient_table(intervals=False)

    def __repr__(self) -> str:
        return (
            f"CategoricalFit({self.name}: {self.kind} of {self.outcome} on "
            f"{self.formula}; levels {self.categories}; n={self.n})\n"
            f"{self.summary().to_string()}"
        )


def _log_observed(probabilities: np.ndarray, observed: np.ndarray) -> np.ndarray:
    rows = np.arange(observed.size)
    with np.errstate(divide="ignore"):
        return np.log(probabilities[rows, observed.astype(np.int64)])


def _warn_unconverged(inp: ModelInput, converged: bool) -> None:
    if not converged:
        warn(
            f"{inp.role} model for {inp.outcome_name!r} did not converge; "
            f"covariates: {inp.formula}",
            ConvergenceWarning,
        )


def _model_name(inp: ModelInput) -> str:
    return f"{inp.role} model for {inp.outcome_name!r}"


def _single(positions: list[int]) -> int | None:
    return positions[0] if positions else None


def _statsmodels_fit(fit, inp: ModelInput, kind: str, names: list[str]):
    """``fit()`` with statsmodels' warnings silenced and its errors as a DataError.

    The design has passed ``check_rank``; an error left (a singular Hessian along the path,
    perfect prediction) names the model and its covariates instead of leaking statsmodels'.
    """
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter: checked after
        try:
            return fit()
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, PerfectSeparationError) as exc:
            raise DataError(
                names[0] if names else inp.outcome_name,
                f"{_model_name(inp)}: the {kind} model cannot be fitted on covariates {names} "
                f"({type(exc).__name__}: {exc}); check for levels of {inp.outcome_name!r} "
                "that the covariates predict perfectly",
            ) from None


def fit_multinomial(inp: ModelInput, observed: np.ndarray) -> tuple[CategoricalFit, np.ndarray]:
    """Multinomial logistic regression (statsmodels MNLogit, Newton).

    DataError naming the columns when the design, judged centred, is constant or collinear;
    a covariate far from 0 relative to its spread (``l + 1e5``) is fitted on the centred and
    scaled design, the coefficients and covariance mapped back level by level.
    """
    import statsmodels.api as sm

    design = inp.design()
    X = design.matrix
    intercept = _single(intercept_columns(design))
    check_rank(X, design.names, _model_name(inp), intercept)
    fitting = fitting_design(X, intercept)  # a shifted covariate: fitted centred and scaled
    if fitting is not None:
        X = fitting.design(X)
    result = _statsmodels_fit(
        lambda: sm.MNLogit(inp.y, X).fit(method="newton", maxiter=100, disp=False),
        inp,
        "multinomial logit",
        design.names,
    )
    converged = bool(result.mle_retvals.get("converged", True))
    _warn_unconverged(inp, converged)
    levels = inp.categories[1:]
    labels = [f"{term}[{level}]" for level in levels for term in design.names]
    # statsmodels orders the covariance level by level, as the labels
    cov = np.asarray(result.cov_params())
    if fitting is None:
        params = pd.Series(np.asarray(result.params).T.ravel(), index=labels)
    else:  # each level's coefficients map by T
        T = fitting.transform()
        params = pd.Series((T @ np.asarray(result.params)).T.ravel(), index=labels)
        cov = map_back(np.kron(np.eye(len(levels)), T), cov)
    probabilities = np.asarray(result.predict(X))
    fit = CategoricalFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        kind="multinomial logit",
        categories=list(inp.categories),
        params=params,
        cov=_frame(cov, labels),
        n=inp.y.size,
        converged=converged,
        result=result,
        fitting=fitting,
    )
    return fit, _log_observed(probabilities, observed)


def _frame(cov: np.ndarray, labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame(cov, index=labels, columns=labels)


def fit_ordinal(
    inp: ModelInput, observed: np.ndarray, link: str = "logit"
) -> tuple[CategoricalFit, np.ndarray]:
    """Proportional-odds (cumulative link) model (statsmodels OrderedModel).

    DataError naming the columns when the covariates, judged beside the cut points (a column
    of ones) on the centred design, are constant or collinear.  A covariate far from 0
    relative to its spread (``l + 1e5``) is fitted on the centred and scaled design by
    ``_fit_ordinal_centred`` and mapped back; ordinary designs go to statsmodels unchanged.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    design = inp.design()
    intercept = intercept_columns(design)  # by position: a column called "Intercept" stays
    keep = [j for j in range(len(design.names)) if j not in intercept]
    exog = design.matrix[:, keep]
    names = [design.names[j] for j in keep]
    k = len(inp.categories)
    if not names:  # intercept only: the fitted probabilities are the observed proportions
        counts = np.bincount(inp.y.astype(np.int64), minlength=k)
        proportions = counts / counts.sum()
        distribution = scipy.stats.norm if link == "probit" else scipy.stats.logistic
        cuts = distribution.ppf(np.cumsum(proportions)[:-1])  # on the model's link scale
        labels = [f"{a}/{b}" for a, b in zip(inp.categories[:-1], inp.categories[1:])]
        fit = CategoricalFit(
            name=f"{inp.role} model",
            outcome=inp.outcome_name,
            formula=inp.formula,
            kind=f"ordinal {link}",
            categories=list(inp.categories),
            params=pd.Series(cuts, index=labels),
            cov=_frame(np.full((len(labels), len(labels)), np.nan), labels),
            n=inp.y.size,
            converged=True,
            result=None,
        )
        probabilities = np.broadcast_to(proportions, (observed.size, k))
        return fit, _log_observed(probabilities, observed)
    # the cut points act as the intercept: constant and collinear columns, and shifted ones,
    # are judged with a column of ones beside the covariates
    with_ones = np.column_stack([np.ones(exog.shape[0]), exog])
    check_rank(with_ones, ["(cut points)", *names], _model_name(inp), 0)
    fitting = fitting_design(with_ones, 0)  # a shifted covariate: fitted centred and scaled
    if fitting is not None:
        exog = fitting.design(with_ones)[:, 1:]
    labels = names + [f"{a}/{b}" for a, b in zip(inp.categories[:-1], inp.categories[1:])]
    if fitting is not None:
        return _fit_ordinal_centred(inp, observed, exog, labels, link, fitting)
    distr = {"logit": "logit", "probit": "probit"}[link]

    def fit():
        model = OrderedModel(inp.y.astype(np.int64), exog, distr=distr)
        # BFGS to get near, Newton to converge tightly (BFGS alone stalls short of 1e-10)
        start = model.fit(method="bfgs", maxiter=2000, disp=False).params
        return model.fit(method="newton", start_params=start, maxiter=100, tol=1e-12, disp=False)

    result = _statsmodels_fit(fit, inp, f"ordinal {link}", names)
    converged = bool(result.mle_retvals.get("converged", True))
    _warn_unconverged(inp, converged)
    params = pd.Series(np.asarray(result.params), index=labels)
    cov = _frame(np.asarray(result.cov_params()), labels)
    probabilities = np.asarray(result.predict(exog))
    fit = CategoricalFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        kind=f"ordinal {link}",
        categories=list(inp.categories),
        params=params,
        cov=cov,
        n=inp.y.size,
        converged=converged,
        result=result,
        fitting=fitting,
    )
    return fit, _log_observed(probabilities, observed)


def _fit_ordinal_centred(
    inp: ModelInput,
    observed: np.ndarray,
    exog: np.ndarray,
    labels: list[str],
    link: str,
    fitting: FittingDesign,
) -> tuple[CategoricalFit, np.ndarray]:
    """The ordinal model on its centred and scaled design, by Newton with exact derivatives.

    statsmodels' OrderedModel differentiates numerically (its Newton stalls short of its
    1e-12 step on some data); on the centred design the model is fitted here instead, in
    the slopes and cut points (a concave log-likelihood for the logit and probit links),
    and reported in statsmodels' parameterization (first cut point, logs of the increments)
    with the covariance by the delta method, then mapped back to the caller's design.
    """
    k = len(inp.categories)
    y = inp.y.astype(np.int64)
    beta, cuts, information, converged = _ordinal_newton(y, exog, k, link)
    _warn_unconverged(inp, converged)
    q = exog.shape[1]
    theta = np.concatenate([beta, cuts[:1], np.log(np.diff(cuts))])
    J = np.eye(q + k - 1)  # d theta / d (beta, cuts)
    for j in range(1, k - 1):
        gap = cuts[j] - cuts[j - 1]
        J[q + j, q + j - 1 : q + j + 1] = [-1.0 / gap, 1.0 / gap]
    try:
        cov_cuts = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        cov_cuts = np.linalg.pinv(information)
    # slopes of exog = slopes of the scaled design / scale; exog b = design b - centre b,
    # so the first cut point moves by + centre @ slopes (the increments do not change)
    T = np.eye(q + k - 1)
    T[:q, :q] = np.diag(1.0 / fitting.scale[1:])
    T[q, :q] = fitting.centre[1:] / fitting.scale[1:]
    cov = map_back(T @ J, cov_cuts)
    probabilities = _ordinal_probabilities(exog @ beta, cuts, link)
    fit = CategoricalFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        kind=f"ordinal {link}",
        categories=list(inp.categories),
        params=pd.Series(T @ theta, index=labels),
        cov=_frame(cov, labels),
        n=inp.y.size,
        converged=converged,
        result=None,
        fitting=fitting,
    )
    return fit, _log_observed(probabilities, observed)


def _link_functions(link: str):
    """``F``, ``1 - F``, density ``f`` and its derivative ``f'`` of the link's distribution."""
    if link == "probit":
        pdf = scipy.stats.norm.pdf
        return scipy.special.ndtr, lambda z: scipy.special.ndtr(-z), pdf, lambda z: -z * pdf(z)

    def density(z):
        p = scipy.special.expit(z)
        return p * (1.0 - p)

    def slope(z):
        p = scipy.special.expit(z)
        return p * (1.0 - p) * (1.0 - 2.0 * p)

    return scipy.special.expit, lambda z: scipy.special.expit(-z), density, slope


def _ordinal_probabilities(eta: np.ndarray, cuts: np.ndarray, link: str) -> np.ndarray:
    """``P(Y = j) = F(c_j - eta) - F(c_(j-1) - eta)`` for every row and level."""
    F = _link_functions(link)[0]
    cumulative = F(cuts[None, :] - eta[:, None])
    n = eta.size
    return np.diff(np.column_stack([np.zeros(n), cumulative, np.ones(n)]), axis=1)


def _ordinal_parts(y, X, beta, cuts, link, derivatives=True):
    """Log-likelihood, score and information of the cumulative link model in (beta, cuts)."""
    F, S, f, fprime = _link_functions(link)
    k = cuts.size + 1
    eta = X @ beta
    bounds = np.concatenate([[-np.inf], cuts, [np.inf]])
    u = bounds[y + 1] - eta  # the upper bound's argument, +inf on the top level
    v = bounds[y] - eta  # the lower bound's, -inf on the bottom level
    with np.errstate(invalid="ignore"):
        P = np.where(v > 0, S(v) - S(u), F(u) - F(v))  # no cancellation in either tail
    if not np.all(P > 0):
        return -np.inf, None, None
    loglik = float(np.log(P).sum())
    if not derivatives:
        return loglik, None, None
    fu = np.where(np.isfinite(u), f(np.where(np.isfinite(u), u, 0.0)), 0.0)
    fv = np.where(np.isfinite(v), f(np.where(np.isfinite(v), v, 0.0)), 0.0)
    dfu = np.where(np.isfinite(u), fprime(np.where(np.isfinite(u), u, 0.0)), 0.0)
    dfv = np.where(np.isfinite(v), fprime(np.where(np.isfinite(v), v, 0.0)), 0.0)
    l_u, l_v = fu / P, -fv / P
    l_uu = dfu / P - l_u * l_u
    l_vv = -dfv / P - l_v * l_v
    l_uv = -l_u * l_v
    n, q = X.shape
    # gradients of u and v in (beta, cuts): (-x, e_y) and (-x, e_(y-1)), e_(K-1) = e_(-1) = 0
    Gu = np.zeros((n, q + k - 1))
    Gv = np.zeros((n, q + k - 1))
    Gu[:, :q] = -X
    Gv[:, :q] = -X
    rows = np.arange(n)
    top, bottom = y < k - 1, y > 0
    Gu[rows[top], q + y[top]] = 1.0
    Gv[rows[bottom], q + y[bottom] - 1] = 1.0
    score = Gu.T @ l_u + Gv.T @ l_v
    hessian = (
        (Gu * l_uu[:, None]).T @ Gu
        + (Gv * l_vv[:, None]).T @ Gv
        + (Gu * l_uv[:, None]).T @ Gv
        + (Gv * l_uv[:, None]).T @ Gu
    )
    return loglik, score, -(hessian + hessian.T) / 2.0


def _ordinal_newton(y, X, k, link, tol=1e-10, max_iter=100):
    """Newton with step halving from zero slopes and the marginal cut points."""
    counts = np.bincount(y, minlength=k)
    ppf = scipy.stats.norm.ppf if link == "probit" else scipy.stats.logistic.ppf
    cuts = ppf(np.cumsum(counts)[:-1] / counts.sum())
    beta = np.zeros(X.shape[1])
    theta = np.concatenate([beta, cuts])
    q = X.shape[1]
    loglik, score, information = _ordinal_parts(y, X, theta[:q], theta[q:], link)
    for _ in range(max_iter):
        try:
            step = scipy.linalg.cho_solve(scipy.linalg.cho_factor(information), score)
        except (np.linalg.LinAlgError, ValueError):
            step = np.linalg.lstsq(information, score, rcond=None)[0]
        size = 1.0
        for _halving in range(50):
            candidate = theta + size * step
            value = _ordinal_parts(y, X, candidate[:q], candidate[q:], link, False)[0]
            if value >= loglik - 1e-12 * abs(loglik):
                break
            size /= 2.0
        else:
            return theta[:q], theta[q:], information, False
        theta = candidate
        loglik, score, information = _ordinal_parts(y, X, theta[:q], theta[q:], link)
        if np.max(np.abs(size * step)) < tol * (1.0 + np.max(np.abs(theta))):
            return theta[:q], theta[q:], information, True
    return theta[:q], theta[q:], information, False
