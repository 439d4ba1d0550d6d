"""Weighted outcome models: the marginal structural model itself."""

from msm.outcome.cox import CoxResults, cox
from msm.outcome.glm import GLMResults, glm
from msm.outcome.risk import risk_curves

__all__ = ["CoxResults", "GLMResults", "cox", "glm", "risk_curves"]
