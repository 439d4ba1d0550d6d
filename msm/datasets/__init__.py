"""Simulated cohorts whose true effects are known."""

from msm.datasets._panel import simulate_panel
from msm.datasets.cyclophosphamide import CYCParameters, CYCTruth, cyc_truth, simulate_cyc
from msm.datasets.jdm import (
    JDMCompeting,
    JDMCompetingTruth,
    JDMConfoundingTruth,
    JDMEligibility,
    JDMMissingness,
    JDMParameters,
    JDMStrategyTruth,
    JDMTruth,
    JDMUnmeasured,
    jdm_competing_truth,
    jdm_confounding_truth,
    jdm_strategy_truth,
    jdm_truth,
    simulate_jdm,
)

__all__ = [
    "CYCParameters",
    "CYCTruth",
    "JDMCompeting",
    "JDMCompetingTruth",
    "JDMConfoundingTruth",
    "JDMEligibility",
    "JDMMissingness",
    "JDMParameters",
    "JDMStrategyTruth",
    "JDMTruth",
    "JDMUnmeasured",
    "cyc_truth",
    "jdm_competing_truth",
    "jdm_confounding_truth",
    "jdm_strategy_truth",
    "jdm_truth",
    "simulate_cyc",
    "simulate_jdm",
    "simulate_panel",
]
