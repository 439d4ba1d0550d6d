"""Weighted outcome models: the marginal structural model itself.

``glm_model`` (``glm``, ``GLMResults``), ``cox_model`` (``cox``, ``CoxResults``), ``risk``
(``risk_curves``), ``sensitivity`` (``bias_sensitivity``) and ``_stacked`` (the stacked
estimating equations of ``variance="stacked"``).
The modules are named apart from the functions, so ``msm.outcome.glm`` is always the function.
"""

from msm.outcome.cox_model import CoxResults, cox
from msm.outcome.glm_model import GLMResults, glm
from msm.outcome.risk import risk_curves
from msm.outcome.sensitivity import BiasSensitivity, bias_sensitivity

__all__ = ["BiasSensitivity", "CoxResults", "GLMResults", "bias_sensitivity", "cox", "glm",
           "risk_curves"]  # fmt: skip
