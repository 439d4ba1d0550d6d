"""Weighted outcome models: the marginal structural model itself."""

from msm.outcome.cox import CoxResults, cox
from msm.outcome.glm import GLMResults, glm

__all__ = ["CoxResults", "GLMResults", "cox", "glm"]
