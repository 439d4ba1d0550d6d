"""Diagnostics for IP weights: weight summaries, balance by time, history-aware balance.

Data path: validated inputs (``_inputs``) -> grouped moments per time and arm (``_balance``)
or per history stratum (``_history``, numba kernels in ``msm._kernels.diagnostics``) -> tidy
tables held by result objects with a readable ``repr``.
"""

from msm.diagnostics._association import (
    Association,
    ModelComparison,
    compare_models,
    reweighted_association,
)
from msm.diagnostics._balance import STATS, Balance, balance
from msm.diagnostics._history import HistoryBalance, history_balance
from msm.diagnostics._weight_summary import WeightSummary, ess, weight_summary

__all__ = [
    "STATS",
    "Association",
    "Balance",
    "HistoryBalance",
    "ModelComparison",
    "WeightSummary",
    "balance",
    "compare_models",
    "ess",
    "history_balance",
    "reweighted_association",
    "weight_summary",
]
