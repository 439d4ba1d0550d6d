"""Multiple imputation: the whole MSM analysis within each imputed data set, pooled.

``analyze(imputations, analysis)`` runs the analysis (weights, outcome model, risk curves)
on every completed data set and ``.pool()`` combines the results by Rubin's rules with the
Barnard-Rubin degrees of freedom (R ``mice::pool``); ``pool`` does the same on arrays;
``iptw`` estimates weights within each imputation and averages their balance.
"""

from msm.mi.analysis import Estimates, MIAnalysisError, MIResults, analyze, estimates_of
from msm.mi.imputations import check_imputations
from msm.mi.pooling import pool
from msm.mi.weights import MIWeights, iptw

__all__ = [
    "Estimates",
    "MIAnalysisError",
    "MIResults",
    "MIWeights",
    "analyze",
    "check_imputations",
    "estimates_of",
    "iptw",
    "pool",
]
