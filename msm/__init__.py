"""msm: marginal structural models in Python.

Inverse-probability-of-treatment weights for point and time-varying treatments, weight and
balance diagnostics, and weighted outcome regression.  The data path, one module per step:

    panel -> models -> weights -> diagnostics -> outcome (with inference)

and target trial emulation on top (``trial_sequence``: sequential trials; ``clone_censor``:
clone-censor-weight with grace periods).
"""

from msm import datasets, mi, plot

# iptw, glm, balance, trial_sequence and clone_censor also take a Dask DataFrame:
# msm._frontend routes it to msm._dask
from msm._frontend import balance, clone_censor, glm, iptw, trial_sequence
from msm._warnings import DataWarning
from msm.diagnostics import (
    Association,
    Balance,
    HistoryBalance,
    ModelComparison,
    WeightSummary,
    compare_models,
    ess,
    history_balance,
    reweighted_association,
    weight_summary,
)
from msm.imputation import Imputations, impute
from msm.inference import BootstrapResults, BootstrapWarning, bootstrap
from msm.inference.evalue import evalue
from msm.models import ConvergenceWarning, LogitFit, SeparationWarning
from msm.outcome import (
    CoxResults,
    CumulativeIncidence,
    GLMResults,
    bias_sensitivity,
    cox,
    cumulative_incidence,
    risk_curves,
    risk_evalues,
    rmst,
)
from msm.panel import DataError
from msm.reshape import to_long
from msm.strategies import never, start_when, start_within
from msm.trials import CloneCensor, TrialSequence
from msm.weights import Weights

__version__ = "0.1.0"

__all__ = [
    "Association",
    "Balance",
    "BootstrapResults",
    "BootstrapWarning",
    "CloneCensor",
    "ConvergenceWarning",
    "CoxResults",
    "CumulativeIncidence",
    "DataError",
    "DataWarning",
    "GLMResults",
    "HistoryBalance",
    "Imputations",
    "LogitFit",
    "ModelComparison",
    "SeparationWarning",
    "TrialSequence",
    "WeightSummary",
    "Weights",
    "balance",
    "bias_sensitivity",
    "bootstrap",
    "clone_censor",
    "compare_models",
    "cox",
    "cumulative_incidence",
    "datasets",
    "evalue",
    "mi",
    "ess",
    "glm",
    "history_balance",
    "impute",
    "iptw",
    "never",
    "plot",
    "reweighted_association",
    "risk_curves",
    "risk_evalues",
    "rmst",
    "start_when",
    "start_within",
    "to_long",
    "trial_sequence",
    "weight_summary",
]
