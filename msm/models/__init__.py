"""Treatment and censoring models: P(A_t | history) fitted on the rows that inform it.

Each model kind is one record in ``registry.MODELS`` (families it serves, whether it can model
an absorbing treatment) and one module with a fitter ``fit_*(inp, observed)`` that returns the
fitted model and the log-probability (or log-density) of ``observed`` on the fitted rows.
"""

from msm.models._base import ConvergenceWarning, ModelInput, SeparationWarning
from msm.models.logit import LogitFit, fit_logit, log_prob

__all__ = [
    "ConvergenceWarning",
    "LogitFit",
    "ModelInput",
    "SeparationWarning",
    "fit_logit",
    "log_prob",
]
