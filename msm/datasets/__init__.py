"""Simulated cohorts whose true effects are known."""

from msm.datasets._panel import simulate_panel
from msm.datasets.jdm import JDMParameters, JDMTruth, jdm_truth, simulate_jdm

__all__ = ["JDMParameters", "JDMTruth", "jdm_truth", "simulate_jdm", "simulate_panel"]
