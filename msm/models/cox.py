"""Cox models for time to treatment initiation and to censoring (R ipw ``family="survival"``).

A Cox proportional hazards model of ``Surv(start, time, event)`` is fitted (Efron ties) on the
rows that inform it.  The baseline cumulative hazard is R's ``basehaz(fit, centered=TRUE)``
(Efron's tie-corrected estimator), evaluated as a step function on the sorted unique times of
*all* rows of the data and differenced; a row's hazard is that increment times its risk score
``exp((x - xbar) b)``.  Its factor is ``exp(-h)`` (still untreated / uncensored) or
``1 - exp(-h)`` on the row where treatment starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from msm._formula import intercept_columns
from msm._survival import CoxFit, fit_cox
from msm.inference import ModelBasedResults
from msm.models._base import ModelInput


@dataclass(frozen=True, eq=False)
class CoxModelFit(ModelBasedResults):
    """A fitted Cox treatment or censoring model.

    ``bse``, ``pvalues``, ``conf_int(alpha)``, ``exp_params`` (hazard ratios) and the table
    come from ``msm.inference.CoefficientResults``.

    Attributes
    ----------
    params, bse : pandas.Series
        Log hazard ratios and model-based standard errors.
    cov : pandas.DataFrame
        Their model-based covariance, the inverse information.
    n, n_events : int
    engine : CoxFit
        The engine's fit (baseline hazard, residuals, ...).
    """

    name: str
    outcome: str
    formula: str | None
    params: pd.Series
    cov: pd.DataFrame
    n: int
    n_events: int
    converged: bool
    engine: CoxFit

    exp_columns: ClassVar[tuple[str, str, str]] = ("hazard_ratio", "hr_lower", "hr_upper")

    def summary(self) -> pd.DataFrame:
        """Coefficient table: estimate, std_error, z, p_value, hazard_ratio."""
        return self.coefficient_table(intervals=False)

    def __repr__(self) -> str:
        return (
            f"CoxModelFit({self.name}: time to {self.outcome} ~ {self.formula}; n={self.n}, "
            f"{self.n_events} events)\n{self.summary().to_string()}"
        )


def fit_cox_model(inp: ModelInput, observed: np.ndarray) -> tuple[CoxModelFit, np.ndarray]:
    """Fit a Cox model of time to ``inp.y``; log P(what happened) per row, as R ipw does."""
    design = inp.design()
    intercept = intercept_columns(design)  # by position: a column called "Intercept" stays
    keep = [j for j in range(len(design.names)) if j not in intercept]
    X = np.ascontiguousarray(design.matrix[:, keep])
    names = [design.names[j] for j in keep]
    engine = fit_cox(
        inp.start,
        inp.time,
        inp.y,
        X,
        names,
        ties="efron",
        name=f"{inp.role} model",
        event_name=inp.outcome_name,
    )
    grid = inp.options["time_grid"]  # sorted unique times of all rows, as R ipw uses
    increments = engine.baseline_hazard().increments(grid)
    hazard = increments[np.searchsorted(grid, inp.time)] * engine.risk_score(X)
    with np.errstate(divide="ignore"):
        log_p = np.where(observed == 1, np.log(-np.expm1(-hazard)), -hazard)
    fit = CoxModelFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        params=pd.Series(engine.params, index=names),
        cov=pd.DataFrame(engine.cov, index=names, columns=names),
        n=engine.n,
        n_events=engine.n_events,
        converged=engine.converged,
        engine=engine,
    )
    return fit, log_p
