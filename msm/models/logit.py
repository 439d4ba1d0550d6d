"""Binary logistic treatment and censoring models on the numba path.

Fitted by the shared GLM engine (``msm._glm``): Newton-Raphson with one fused numba pass per
iteration (deviance, score and information together) and step halving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm import _kernels
from msm._formula import intercept_columns
from msm._glm import BINOMIAL, Centring, fit_glm
from msm.inference import ModelBasedResults
from msm.models._base import ModelInput
from msm.panel import DataError


@dataclass(frozen=True, eq=False)
class LogitFit(ModelBasedResults):
    """A fitted weighted logistic regression.

    ``bse``, ``pvalues``, ``conf_int(alpha)``, ``exp_params`` (odds ratios) and the table come
    from ``msm.inference.CoefficientResults``; the covariance is model-based only.

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
    centring : msm._glm.Centring or None
        When a covariate lies far from 0 relative to its spread (``l + 1e5``), the centred
        design the model was fitted on and its coefficients there: ``log_prob`` computes the
        linear predictor on it (``X @ params`` would cancel the digits of the spread).
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
    centring: Centring | None = None

    @property
    def deviance(self) -> float:
        return -2.0 * self.loglik

    def summary(self) -> pd.DataFrame:
        """Coefficient table: estimate, std_error, z, p_value."""
        return self.coefficient_table(intervals=False)

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
    convergence: str = "full",
) -> LogitFit:
    """Weighted logistic regression by Newton-Raphson with step halving (``msm._glm``).

    Converged when the next Newton step is below ``tol * (1 + max |beta|)``
    (``convergence="r"``: R's ``glm.fit`` path and stopping rule, see ``msm._glm``).  Warns
    ``ConvergenceWarning`` when it is not, and ``SeparationWarning`` when fitted probabilities
    reach 0 or 1 numerically; both name the model and the covariates most likely at fault.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(500), rng.normal(size=500)])
    >>> y = (rng.random(500) < 1 / (1 + np.exp(-(0.5 + X[:, 1])))).astype(float)
    >>> fit = fit_logit(X, y, ["Intercept", "x"])
    >>> fit.converged, round(float(fit.params["x"]), 2)
    (True, 1.25)
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = X.shape[0]
    w = np.ones(n) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    if n == 0:
        raise DataError(outcome, f"{name}: no rows to fit the model on")
    fit = fit_glm(
        X,
        y,
        w,
        np.zeros(n),
        BINOMIAL,
        names,
        f"{name} for {outcome!r}",
        max_iter=max_iter,
        tol=tol,
        convergence=convergence,
    )
    cov = fit.inverse_information()  # accurate also when the design was centred for accuracy
    return LogitFit(
        name=name,
        outcome=outcome,
        formula=formula,
        params=pd.Series(fit.beta, index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        n=n,
        loglik=-0.5 * fit.deviance,  # 0/1 outcomes: the saturated log-likelihood is 0
        converged=fit.converged,
        n_iter=fit.n_iter,
        centring=fit.centring,
    )


def log_prob(fit: LogitFit, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log P(Y = y | X)`` under a fitted logistic model, row by row.

    On the centred design when the model was fitted on one (``fit.centring``): the same
    probabilities, without the cancellation of a large intercept against a shifted covariate.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if fit.centring is not None:
        X = fit.centring.design(X)
        beta = fit.centring.beta
    else:
        beta = fit.params.to_numpy(dtype=np.float64)
    return _kernels.logit_log_prob(X, beta, y, np.empty(X.shape[0]))


def fit_logit_model(inp: ModelInput, observed: np.ndarray) -> tuple[LogitFit, np.ndarray]:
    """Fit ``inp`` by logistic regression; log P(A = observed) on its rows."""
    design = inp.design()
    intercept_columns(design)  # DataError if formulaic merged a data column with the intercept
    fit = fit_logit(
        design.matrix,
        inp.y,
        design.names,
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        convergence=inp.options.get("convergence", "full"),
    )
    return fit, log_prob(fit, design.matrix, observed)
