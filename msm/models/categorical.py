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
import scipy.stats

from msm._formula import intercept_columns
from msm.models._base import ConvergenceWarning, ModelInput


@dataclass(frozen=True, eq=False)
class CategoricalFit:
    """A fitted multinomial or ordinal treatment model.

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
    n : int
    converged : bool
    result : object
        The statsmodels results object, for anything more.
    """

    name: str
    outcome: str
    formula: str | None
    kind: str
    categories: list
    params: pd.Series
    bse: pd.Series
    n: int
    converged: bool
    result: object

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
        warnings.warn(
            f"{inp.role} model for {inp.outcome_name!r} did not converge; "
            f"covariates: {inp.formula}",
            ConvergenceWarning,
            stacklevel=4,
        )


def fit_multinomial(inp: ModelInput, observed: np.ndarray) -> tuple[CategoricalFit, np.ndarray]:
    """Multinomial logistic regression (statsmodels MNLogit, Newton)."""
    import statsmodels.api as sm

    design = inp.design()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter: checked below
        result = sm.MNLogit(inp.y, design.matrix).fit(method="newton", maxiter=100, disp=False)
    converged = bool(result.mle_retvals.get("converged", True))
    _warn_unconverged(inp, converged)
    levels = inp.categories[1:]
    labels = [f"{term}[{level}]" for level in levels for term in design.names]
    params = pd.Series(np.asarray(result.params).T.ravel(), index=labels)
    bse = pd.Series(np.asarray(result.bse).T.ravel(), index=labels)
    probabilities = np.asarray(result.predict(design.matrix))
    fit = CategoricalFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        kind="multinomial logit",
        categories=list(inp.categories),
        params=params,
        bse=bse,
        n=inp.y.size,
        converged=converged,
        result=result,
    )
    return fit, _log_observed(probabilities, observed)


def fit_ordinal(
    inp: ModelInput, observed: np.ndarray, link: str = "logit"
) -> tuple[CategoricalFit, np.ndarray]:
    """Proportional-odds (cumulative link) model (statsmodels OrderedModel)."""
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
        cuts = scipy.stats.logistic.ppf(np.cumsum(proportions)[:-1])
        labels = [f"{a}/{b}" for a, b in zip(inp.categories[:-1], inp.categories[1:])]
        fit = CategoricalFit(
            name=f"{inp.role} model",
            outcome=inp.outcome_name,
            formula=inp.formula,
            kind=f"ordinal {link}",
            categories=list(inp.categories),
            params=pd.Series(cuts, index=labels),
            bse=pd.Series(np.nan, index=labels),
            n=inp.y.size,
            converged=True,
            result=None,
        )
        probabilities = np.broadcast_to(proportions, (observed.size, k))
        return fit, _log_observed(probabilities, observed)
    distr = {"logit": "logit", "probit": "probit"}[link]
    model = OrderedModel(inp.y.astype(np.int64), exog, distr=distr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # BFGS to get near, Newton to converge tightly (BFGS alone stalls short of 1e-10)
        start = model.fit(method="bfgs", maxiter=2000, disp=False).params
        result = model.fit(method="newton", start_params=start, maxiter=100, tol=1e-12, disp=False)
    converged = bool(result.mle_retvals.get("converged", True))
    _warn_unconverged(inp, converged)
    labels = names + [f"{a}/{b}" for a, b in zip(inp.categories[:-1], inp.categories[1:])]
    params = pd.Series(np.asarray(result.params), index=labels)
    bse = pd.Series(np.asarray(result.bse), index=labels)
    probabilities = np.asarray(result.predict(exog))
    fit = CategoricalFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        kind=f"ordinal {link}",
        categories=list(inp.categories),
        params=params,
        bse=bse,
        n=inp.y.size,
        converged=converged,
        result=result,
    )
    return fit, _log_observed(probabilities, observed)
