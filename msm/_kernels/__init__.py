"""numba kernels: plain arrays in, plain arrays out; no DataFrames, no labels.

Each kernel has a naive numpy twin of the same name in ``tests/naive.py`` (GLM, Cox and
diagnostics kernels: ``tests/naive_glm.py``, ``tests/naive_cox.py``,
``tests/naive_diagnostics.py``, trials and the streamed MSM (``msm._kernels.stream``):
``tests/naive_trials.py``; the Aalen-Johansen kernel: ``tests/naive_cif.py``).
"""

from msm._kernels.aalen_johansen import aalen_johansen
from msm._kernels.cox import (
    cox_baseline_hazard,
    cox_loglik_score_information,
    cox_score_residuals,
)
from msm._kernels.design import column_abs_max, gather_column, product_design
from msm._kernels.diagnostics import (
    history_nodes,
    recent_history,
    stratified_mean_differences,
)
from msm._kernels.glm import (
    BINOMIAL,
    CLOGLOG,
    DOUBLE_EPS,
    GAUSSIAN,
    IDENTITY,
    LOG,
    LOGIT,
    POISSON,
    PROBIT,
    PROBIT_THRESH,
    cluster_score_sums,
    constant_columns,
    glm_block_pass,
    glm_irls_pass,
    glm_link_pass,
    link_mean,
    weighted_crossprod,
)
from msm._kernels.logit import logit_log_prob
from msm._kernels.trials import (
    expand_trials,
    per_protocol_keep,
    per_protocol_rows,
    sequential_trials,
    trial_row_counts,
)
from msm._kernels.weights import cumulative_log_weights, grouped_cumsum

__all__ = [
    "aalen_johansen",
    "column_abs_max",
    "BINOMIAL",
    "GAUSSIAN",
    "POISSON",
    "cluster_score_sums",
    "cox_baseline_hazard",
    "cox_loglik_score_information",
    "cox_score_residuals",
    "constant_columns",
    "glm_block_pass",
    "glm_irls_pass",
    "glm_link_pass",
    "link_mean",
    "IDENTITY",
    "LOG",
    "LOGIT",
    "PROBIT",
    "CLOGLOG",
    "DOUBLE_EPS",
    "PROBIT_THRESH",
    "weighted_crossprod",
    "cumulative_log_weights",
    "gather_column",
    "product_design",
    "grouped_cumsum",
    "history_nodes",
    "logit_log_prob",
    "recent_history",
    "sequential_trials",
    "stratified_mean_differences",
    "expand_trials",
    "trial_row_counts",
    "per_protocol_keep",
    "per_protocol_rows",
]
