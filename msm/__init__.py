"""msm: marginal structural models in Python.

Inverse-probability-of-treatment weights for point and time-varying treatments, weight and
balance diagnostics, and weighted outcome regression.
"""

from msm import datasets
from msm.models import ConvergenceWarning, LogitFit, SeparationWarning
from msm.panel import DataError
from msm.weights import Weights, iptw

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "LogitFit",
    "SeparationWarning",
    "Weights",
    "datasets",
    "iptw",
]
