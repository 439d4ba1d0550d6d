"""jdm_confounding_truth: the true confounding function of IVIG at time zero, by oracle.

Its worlds are those of ``simulate_jdm`` and ``jdm_strategy_truth`` (common random numbers),
so its risks and the observed cohort's numbers can be checked exactly against theirs; its
confounding function is 0 without an unmeasured confounder, up to model and Monte Carlo
error.  (That the true c corrects an IP-weighted analysis to the truth is checked in
tests/outcome/test_sensitivity_jdm.py.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import msm
from msm.datasets import (
    JDMEligibility,
    JDMUnmeasured,
    jdm_confounding_truth,
    jdm_strategy_truth,
    simulate_jdm,
)

STRONG = JDMUnmeasured(ivig=1.0, quiescence=-1.0)
N, SEED = 20_000, 3
NO_LOSS = {"lost_intercept": -np.inf}


@pytest.fixture(scope="module")
def truth():
    return jdm_confounding_truth(N, seed=SEED, unmeasured=STRONG, **NO_LOSS)


def test_risks_are_those_of_the_strategy_truth(truth):
    strategies = {"at time zero": msm.start_within(1), "not at time zero": msm.never(before=1)}
    other = jdm_strategy_truth(strategies, N, seed=SEED, times=(12,), unmeasured=STRONG,
                               **NO_LOSS)  # fmt: skip
    row = other.table.loc[12]
    assert truth.n_eligible == other.n_eligible and truth.months == other.months
    assert truth.risk[1] == row["at time zero"] and truth.risk[0] == row["not at time zero"]
    assert truth.difference == pytest.approx(row["difference"], rel=1e-12)
    assert truth.difference_se == pytest.approx(row["difference se"], rel=1e-12)
    assert truth.risk_se[1] == pytest.approx(row["at time zero se"], rel=1e-12)


def test_observed_world_is_the_simulated_cohort(truth):
    """Without loss the cohort's time-zero decisions and outcomes are the oracle's."""
    cohort = simulate_jdm(N, months=truth.months, seed=SEED, eligible=True, unmeasured=STRONG,
                          **NO_LOSS)  # fmt: skip
    t0 = cohort[cohort["eligible"] == 1].groupby("id")["month"].min()
    d = cohort.assign(k=cohort["month"] - cohort["id"].map(t0)).dropna(subset=["k"])
    y = d[d["k"].between(0, truth.horizon - 1)].groupby("id")["quiescence"].max()
    a = d[d["k"] == 0].set_index("id")["ivig"]
    assert len(a) == truth.n_eligible
    assert a.mean() == pytest.approx(truth.treated, rel=1e-12)
    for decision in (1, 0):
        assert y[a == decision].mean() == pytest.approx(truth.observed[decision], rel=1e-12)


def test_the_confounder_hides_the_benefit(truth):
    assert truth.difference > 10 * truth.difference_se
    crude = truth.observed[1] - truth.observed[0]
    assert crude < truth.difference - 0.1  # C sends the worse-prognosis children to IVIG


def test_no_unmeasured_confounder_no_confounding_function():
    """Without C the decision depends on the time-zero visit only: the true c is 0.  The
    estimated one is small (model and Monte Carlo error, measured: |mean| about 0.001)."""
    plain = jdm_confounding_truth(100_000, seed=4, unmeasured=None, **NO_LOSS)
    assert plain.unmeasured is None
    cohort = simulate_jdm(5_000, months=plain.months, seed=5, eligible=True, **NO_LOSS)
    zero = cohort[cohort["eligible"] == 1].groupby("id").head(1)
    c = plain.bias(zero)
    assert abs(c.mean()) < 0.005 and np.percentile(np.abs(c), 90) < 0.03
    strong = jdm_confounding_truth(100_000, seed=4, unmeasured=STRONG, **NO_LOSS).bias(zero)
    assert np.abs(strong).mean() > 5 * np.abs(c).mean()


def test_bias_on_rows_and_repr(truth):
    rows = pd.DataFrame({"sex": [1, 0, 1], "age": 7.0, "duration": 4.0, "methotrexate": 1,
                         "month": [3, 4, 5], "pga": 5.0, "pga_prev": 4.0, "cmas": 35,
                         "flare": 0, "prednisone": 1.0, "ivig": [1, 0, 1]},
                        index=[10, 20, 30])  # fmt: skip
    means = truth.outcome_means(rows)
    assert list(means.index) == [10, 20, 30]
    c = truth.bias(rows)
    m = means.to_numpy()
    np.testing.assert_allclose(c, [m[0, 0] - m[0, 1], m[1, 3] - m[1, 2], m[2, 0] - m[2, 1]])
    # another decision column, the caller's frame untouched
    before = rows.copy()
    np.testing.assert_allclose(truth.bias(rows.rename(columns={"ivig": "a"}), "a"), c)
    pd.testing.assert_frame_equal(rows, before)
    text = repr(truth)
    assert "JDMConfoundingTruth" in text and "start_within(1)" in text and "never(before=1)" in text
    assert f"{truth.difference:.4f}" in text


def test_history_formula():
    t = jdm_confounding_truth(10_000, seed=1, history="pga + C(month)")
    assert list(t.coefficients.index) == ["Intercept", "pga", "C(month)[T.4]", "C(month)[T.5]"]
    assert t.history == "pga + C(month)"


def test_bad_arguments(truth):
    with pytest.raises(ValueError, match="n_patients"):
        jdm_confounding_truth(0)
    with pytest.raises(ValueError, match="horizon"):
        jdm_confounding_truth(100, horizon=0)
    with pytest.raises(TypeError, match="eligibility must be"):
        jdm_confounding_truth(100, eligibility={"pga": 3})
    with pytest.raises(TypeError, match="unmeasured must be"):
        jdm_confounding_truth(100, unmeasured="strong")
    with pytest.raises(TypeError, match="history must be a formula"):
        jdm_confounding_truth(100, history=["pga"])
    with pytest.raises(ValueError, match="time-zero columns"):
        jdm_confounding_truth(100, history="pga + frailty")
    with pytest.raises(ValueError, match="time-zero columns"):
        jdm_confounding_truth(100, history="pga + ivig")
    with pytest.raises(ValueError, match="too few"):
        jdm_confounding_truth(300, seed=1)
    with pytest.raises(ValueError, match="too few"):
        jdm_confounding_truth(100, eligibility=JDMEligibility(pga=11.0))
    rows = pd.DataFrame({"pga": [5.0]})
    with pytest.raises(TypeError, match="DataFrame"):
        truth.bias(rows.to_numpy())
    with pytest.raises(ValueError, match="lacks the history columns"):
        truth.bias(rows)
    zero = simulate_jdm(300, months=truth.months, seed=2, eligible=True).query("eligible == 1")
    with pytest.raises(ValueError, match="no treatment column"):
        truth.bias(zero, treatment="a")
    with pytest.raises(ValueError, match="must be 0/1"):
        truth.bias(zero.assign(ivig=2))
    with pytest.raises(ValueError, match="NaN"):
        truth.bias(zero.assign(cmas=np.nan))
