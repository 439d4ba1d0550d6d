"""Weighted outcome models: the marginal structural model itself.

``glm_model`` (``glm``, ``GLMResults``), ``cox_model`` (``cox``, ``CoxResults``), ``risk``
(``risk_curves``), ``sensitivity`` (``bias_sensitivity``), ``aalen_johansen``
(``cumulative_incidence``, ``CumulativeIncidence``, ``rmst``: competing risks on weighted
counting-process rows) and ``_stacked`` (the stacked
estimating equations of ``variance="stacked"``).
The modules are named apart from the functions, so ``msm.outcome.glm`` is always the function.
"""

from msm.outcome.aalen_johansen import CumulativeIncidence, cumulative_incidence, rmst
from msm.outcome.cox_model import CoxResults, cox
from msm.outcome.glm_model import GLMResults, glm
from msm.outcome.risk import risk_curves, risk_evalues
from msm.outcome.sensitivity import BiasSensitivity, bias_sensitivity

__all__ = [
    "BiasSensitivity",
    "CoxResults",
    "CumulativeIncidence",
    "GLMResults",
    "bias_sensitivity",
    "cox",
    "cumulative_incidence",
    "glm",
    "risk_curves",
    "risk_evalues",
    "rmst",
]
