"""Binary logistic treatment and censoring models on the numba path.

The model is fitted by Newton-Raphson on the numba path: each iteration is one
fused pass over the rows (log-likelihood, score and information together), with step halving
when the log-likelihood would fall, and convergence on the change in coefficients.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats

from msm import _kernels
from msm.models._base import (
    PROBABILITY_EPS,
    ConvergenceWarning,
    ModelInput,
    SeparationWarning,
)
from msm.panel import DataError


@dataclass(frozen=True, eq=False)
class LogitFit:
    """A fitted weighted logistic regression.

    Attributes
    ----------
    name : str
        Which model this is (e.g. ``"treatment denominator"``).
    outcome : str
        The modelled column.
    formula : str
        The right-hand side as given.
    params, bse : pandas.Series
        Coefficients and model-based (inverse-information) standard errors.
    cov : pandas.DataFrame
        Model-based covariance of the coefficients.
    n : int
        Rows the model was fitted on.
    loglik, deviance : float
        At the estimate.
    converged : bool
    n_iter : int
    """

    name: str
    outcome: str
    formula: str
    params: pd.Series
    cov: pd.DataFrame
    n: int
    loglik: float
    converged: bool
    n_iter: int

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)

    @property
    def deviance(self) -> float:
        return -2.0 * self.loglik

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals, columns ``lower`` and ``upper``."""
        z = scipy.stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame(
            {"lower": self.params - z * self.bse, "upper": self.params + z * self.bse}
        )

    def summary(self) -> pd.DataFrame:
        """Coefficient table: estimate, std_error, z, p_value."""
        z = self.params / self.bse
        return pd.DataFrame(
            {
                "estimate": self.params,
                "std_error": self.bse,
                "z": z,
                "p_value": 2 * scipy.stats.norm.sf(np.abs(z)),
            }
        )

    def __repr__(self) -> str:
        status = "converged" if self.converged else "NOT converged"
        return (
            f"LogitFit({self.name}: {self.outcome} ~ {self.formula}; n={self.n}, "
            f"{status} in {self.n_iter} iterations)\n{self.summary().to_string()}"
        )


def fit_logit(
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    weights: np.ndarray | None = None,
    name: str = "logistic model",
    outcome: str = "y",
    formula: str = "",
    max_iter: int = 50,
    tol: float = 1e-10,
) -> LogitFit:
    """Weighted logistic regression by Newton-Raphson with step halving.

    Converged when the largest coefficient change is below ``tol * (1 + max |beta|)``.
    Warns ``ConvergenceWarning`` when it is not, and ``SeparationWarning`` when fitted
    probabilities reach 0 or 1 numerically; both name the model and the covariates most
    likely at fault.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(500), rng.normal(size=500)])
    >>> y = (rng.random(500) < 1 / (1 + np.exp(-(0.5 + X[:, 1])))).astype(float)
    >>> fit = fit_logit(X, y, ["Intercept", "x"])
    >>> fit.converged, round(float(fit.params["x"]), 1)
    (True, 1.1)
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n, p = X.shape
    w = np.ones(n) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    if n == 0:
        raise DataError(outcome, f"{name}: no rows to fit the model on")
    beta = np.zeros(p)
    loglik, score, info, pmin, pmax = _kernels.logit_loglik_score_hessian(X, y, w, beta)
    # At beta = 0 the information is X'WX / 4: singular exactly when columns are collinear.
    _check_collinearity(info, names, name)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        step = _newton_step(info, score)
        if step is None:  # information singular away from 0: separation, reported below
            break
        shrink = 1.0
        while True:
            trial = beta + shrink * step
            new = _kernels.logit_loglik_score_hessian(X, y, w, trial)
            if new[0] >= loglik - 1e-12 * abs(loglik) or shrink < 1e-8:
                break
            shrink /= 2.0  # step halving: never accept a fall in the log-likelihood
        change = np.max(np.abs(trial - beta)) if p else 0.0
        beta = trial
        loglik, score, info, pmin, pmax = new
        if change <= tol * (1.0 + np.max(np.abs(beta))):
            converged = True
            break
    cov = _inverse(info)
    fit = LogitFit(
        name=name,
        outcome=outcome,
        formula=formula,
        params=pd.Series(beta, index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        n=n,
        loglik=float(loglik),
        converged=converged,
        n_iter=n_iter,
    )
    if not converged:
        warnings.warn(
            f"{name} for {outcome!r} did not converge in {max_iter} Newton iterations; "
            f"covariates: {', '.join(names)}; largest coefficients: "
            f"{_suspects(beta, X, names)}",
            ConvergenceWarning,
            stacklevel=3,
        )
    if pmin < PROBABILITY_EPS or pmax > 1.0 - PROBABILITY_EPS:
        warnings.warn(
            f"{name} for {outcome!r}: fitted probabilities numerically 0 or 1 occurred "
            f"(quasi-separation); look at {_suspects(beta, X, names)}: a covariate or "
            "combination predicts treatment almost perfectly, so weights will be extreme",
            SeparationWarning,
            stacklevel=3,
        )
    return fit


def _suspects(beta: np.ndarray, X: np.ndarray, names: list[str], k: int = 3) -> str:
    """Covariates with the largest standardized coefficients (|beta_j| x sd(x_j))."""
    sd = X.std(axis=0) if X.shape[0] > 1 else np.ones(X.shape[1])
    size = np.abs(beta) * np.where(sd > 0, sd, 0.0)
    order = [j for j in np.argsort(-size) if sd[j] > 0][:k]
    if not order:
        return "the intercept"
    return ", ".join(f"{names[j]!r} (coef {beta[j]:.3g})" for j in order)


def _check_collinearity(info: np.ndarray, names: list[str], name: str) -> None:
    """DataError naming all-zero or collinear columns of the design."""
    scale = np.sqrt(np.abs(np.diag(info)))
    if np.any(scale == 0):
        bad = [names[j] for j in np.flatnonzero(scale == 0)]
        raise DataError(bad[0], f"{name}: column(s) {bad} are all zero on the rows fitted")
    corr = info / np.outer(scale, scale)
    eigval, eigvec = np.linalg.eigh(corr)
    if eigval[0] <= 1e-10 * max(eigval[-1], 1.0):
        loadings = np.abs(eigvec[:, 0])
        bad = [names[j] for j in np.flatnonzero(loadings > 0.1)]
        raise DataError(
            bad[-1],
            f"{name}: design matrix is singular; these columns are collinear (or constant "
            f"together with the intercept) on the rows the model is fitted on: {bad}",
        )


def _newton_step(info: np.ndarray, score: np.ndarray) -> np.ndarray | None:
    """Solve info @ step = score by Cholesky; None when info is not positive definite."""
    try:
        factor = scipy.linalg.cho_factor(info, lower=True, check_finite=True)
    except (np.linalg.LinAlgError, ValueError):
        return None
    step = scipy.linalg.cho_solve(factor, score, check_finite=False)
    return step if np.all(np.isfinite(step)) else None


def _inverse(info: np.ndarray) -> np.ndarray:
    """Inverse information; a pseudo-inverse when separation has made it singular."""
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(info)


def log_prob(fit: LogitFit, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log P(Y = y | X)`` under a fitted logistic model, row by row."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    beta = fit.params.to_numpy(dtype=np.float64)
    return _kernels.logit_log_prob(X, beta, y, np.empty(X.shape[0]))


def fit_logit_model(inp: ModelInput, observed: np.ndarray) -> tuple[LogitFit, np.ndarray]:
    """Fit ``inp`` by logistic regression; log P(A = observed) on its rows."""
    design = inp.design()
    fit = fit_logit(
        design.matrix,
        inp.y,
        design.names,
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
    )
    return fit, log_prob(fit, design.matrix, observed)
