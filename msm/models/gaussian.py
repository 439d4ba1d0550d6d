"""Continuous treatments (a dose): normal linear models, factor = normal density.

As R ipw's ``family="gaussian"``: the factor of a row is the normal density of the observed
treatment with mean the fitted value and standard deviation the sample SD of the residuals
(``sd(residuals)``, denominator n - 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.stats

from msm._formula import intercept_columns
from msm._glm import Centring, map_back
from msm.inference import ModelBasedResults
from msm.models._base import ModelInput, check_rank, fitting_design


@dataclass(frozen=True, eq=False)
class GaussianFit(ModelBasedResults):
    """A fitted normal linear treatment model.

    ``bse``, ``pvalues`` and ``conf_int(alpha)`` (Student's t on ``n - p`` degrees of freedom)
    and the table come from ``msm.inference.CoefficientResults``.

    Attributes
    ----------
    params, bse : pandas.Series
        OLS coefficients and their usual standard errors.
    cov : pandas.DataFrame
        Their covariance ``s^2 (X'X)^-1`` (``s^2`` the residual variance on ``n - p``).
    sigma : float
        SD of the residuals (n - 1 denominator), the density's scale.
    centring : msm._glm.Centring or None
        When a covariate lies far from 0 relative to its spread (``l + 1e5``), the centred
        design the model was fitted on and its coefficients there (the fitted values, and so
        the densities, are computed on it); ``params`` and ``bse`` are mapped back exactly.
    """

    name: str
    outcome: str
    formula: str | None
    params: pd.Series
    cov: pd.DataFrame
    sigma: float
    n: int
    centring: Centring | None = None

    statistic: ClassVar[str] = "t"

    @property
    def reference_df(self) -> int:
        """Residual degrees of freedom ``n - p`` (at least 1), for t p-values and intervals."""
        return max(self.n - self.params.size, 1)

    def summary(self) -> pd.DataFrame:
        """Coefficient table: estimate, std_error, t, p_value."""
        return self.coefficient_table(intervals=False)

    def __repr__(self) -> str:
        return (
            f"GaussianFit({self.name}: {self.outcome} ~ {self.formula}; n={self.n}, "
            f"sigma={self.sigma:.4g})\n{self.summary().to_string()}"
        )


def fit_gaussian(inp: ModelInput, observed: np.ndarray) -> tuple[GaussianFit, np.ndarray]:
    """Least squares; log normal density of ``observed`` around the fitted values.

    Shift-invariant: DataError naming the columns when the design, judged centred, is
    constant or collinear; a covariate far from 0 relative to its spread (``l + 1e5``) is
    fitted on the design centred at the column means, with the coefficients and their
    covariance mapped back (the intercept moved by exactly ``-centre @ slopes``).
    """
    design = inp.design()
    X = design.matrix
    intercept = intercept_columns(design)
    intercept = intercept[0] if intercept else None
    check_rank(X, design.names, f"{inp.role} model for {inp.outcome_name!r}", intercept)
    fitting = fitting_design(X, intercept)
    if fitting is not None:
        X = fitting.design(X)
    beta, *_ = np.linalg.lstsq(X, inp.y, rcond=None)
    fitted = X @ beta
    residuals = inp.y - fitted
    n, p = X.shape
    sigma = float(np.std(residuals, ddof=1)) if n > 1 else float("nan")
    s2 = residuals @ residuals / max(n - p, 1)
    centring = None
    if fitting is None:
        params = beta
        cov = np.linalg.pinv(X.T @ X) * s2
    else:  # coefficients and covariance of the caller's design: params = T beta
        T = fitting.transform()
        params = T @ beta
        cov = map_back(T, np.linalg.pinv(X.T @ X) * s2)
        centring = fitting.centring(beta)
    fit = GaussianFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        params=pd.Series(params, index=design.names),
        cov=pd.DataFrame(cov, index=design.names, columns=design.names),
        sigma=sigma,
        n=n,
        centring=centring,
    )
    return fit, scipy.stats.norm.logpdf(observed, loc=fitted, scale=sigma)
