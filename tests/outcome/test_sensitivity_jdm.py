"""bias_sensitivity with the true confounding function recovers the truth in the JDM simulator.

``simulate_jdm(..., unmeasured=...)`` adds an unmeasured confounder C of IVIG initiation and
quiescence, so IP weights from the measured history leave bias.  For the decision at time
zero of the target trial (IVIG started at the first eligible visit or not; outcome: first
quiescence within 12 months), ``jdm_confounding_truth`` gives, by oracle with common random
numbers, the true risks under "IVIG at time zero" and "no IVIG at time zero" and Brumback et
al.'s (2004) confounding function c(a, h).  For a single decision their identity is exact, so
the IP-weighted risk difference of the corrected outcome Y - c(A, H) P(A = 1 - a | H) must
estimate the true difference, while the uncorrected one does not.

Nobody is lost to follow-up (``lost_intercept=-inf`` in both the truth and the cohorts; the
random draws are unchanged), so each eligible patient's outcome is observed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import msm
from msm.datasets import JDMUnmeasured, jdm_confounding_truth, simulate_jdm

STRONG = JDMUnmeasured(ivig=1.0, quiescence=-1.0)
NO_LOSS = {"lost_intercept": -np.inf}


@pytest.fixture(scope="module")
def truth():
    # the oracle's population is independent of the cohorts below (other seed)
    return jdm_confounding_truth(200_000, seed=101, unmeasured=STRONG, **NO_LOSS)


def time_zero_rows(cohort: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """One row per eligible patient: the visit at time zero (first eligible visit), with the
    decision ``a`` (IVIG started there) and the outcome ``y`` (quiescence within ``horizon``
    months of it)."""
    assert cohort["lost"].sum() == 0  # every outcome is seen
    t0 = cohort[cohort["eligible"] == 1].groupby("id")["month"].min()
    d = cohort.assign(t0=cohort["id"].map(t0)).dropna(subset=["t0"])
    k = d["month"] - d["t0"]
    y = d[(k >= 0) & (k < horizon)].groupby("id")["quiescence"].max()
    zero = d[k == 0].set_index("id")
    assert (zero["month"] + horizon <= cohort["month"].max() + 1).all()  # followed to horizon
    return zero.assign(y=y, a=zero["ivig"]).reset_index()


@pytest.mark.parametrize("seed", [1, 2])
def test_true_confounding_function_recovers_the_truth(truth, seed):
    cohort = simulate_jdm(40_000, months=truth.months, seed=seed, eligible=True,
                          unmeasured=truth.unmeasured, **NO_LOSS)  # fmt: skip
    rows = time_zero_rows(cohort, truth.horizon)
    w = msm.iptw(rows, id="id", time=None, treatment="a", denominator=truth.history)

    def risk_difference(frame):
        return msm.glm("y ~ a", frame, weights=w)  # linear: the corrected y leaves [0, 1]

    s = msm.bias_sensitivity(risk_difference, rows, weights=w, outcome="y", term="a",
                             bias=lambda frame: truth.bias(frame, treatment="a"),
                             strengths=[0.0, 0.5, 1.0])  # fmt: skip
    at = s.table.set_index("strength")
    naive, half, corrected = (at.loc[k, "estimate"] for k in (0.0, 0.5, 1.0))

    def z(strength):  # the cohort's standard error and the truth's Monte Carlo error
        se = np.hypot(at.loc[strength, "std_error"], truth.difference_se)
        return (at.loc[strength, "estimate"] - truth.difference) / se

    # uncorrected: C (towards IVIG and against quiescence) hides most of IVIG's benefit
    assert z(0.0) < -5, (naive, truth.difference, z(0.0))
    # the true confounding function: back to the truth
    assert abs(z(1.0)) < 3, (corrected, truth.difference, z(1.0))
    assert naive < half < corrected
    # c < 0 for the treated (worse prognosis anyway), > 0 for the untreated
    c = truth.bias(rows, treatment="a")
    assert (c[rows["a"] == 1] < 0).mean() > 0.95 and (c[rows["a"] == 0] > 0).mean() > 0.95
