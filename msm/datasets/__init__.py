"""Simulated cohorts whose true effects are known."""

from msm.datasets._panel import simulate_panel

__all__ = ["simulate_panel"]
