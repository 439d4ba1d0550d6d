"""simulate_jdm with treatment failure and an unmeasured confounder, and their truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msm.datasets import (
    JDMCompeting,
    JDMUnmeasured,
    jdm_competing_truth,
    jdm_truth,
    simulate_jdm,
)


@pytest.fixture(scope="module")
def plain():
    return simulate_jdm(1000, seed=8)


@pytest.fixture(scope="module")
def failing():
    return simulate_jdm(1000, seed=8, competing=True)


def test_failure_only_truncates_the_cohort(plain, failing):
    assert failing.columns.tolist().index("failure") == plain.columns.tolist().index("lost")
    merged = plain.merge(failing, on=["id", "month"], suffixes=("", "_c"))
    assert len(merged) == len(failing)  # every row of the failing cohort is a plain row
    for column in ["pga", "cmas", "ck", "ivig", "prednisone", "flare"]:
        assert (merged[column] == merged[f"{column}_c"]).all(), column
    assert len(failing) < len(plain)


def test_failure_is_a_state_that_ends_follow_up(failing):
    assert not (failing["failure"] & failing["quiescence"]).any()
    assert not (failing["failure"] & failing["lost"]).any()
    last = failing.groupby("id")["month"].transform("max") == failing["month"]
    assert (failing.loc[failing["failure"] == 1].index.isin(failing.index[last])).all()
    per_child = failing.groupby("id")[["failure", "quiescence"]].sum()
    assert per_child.max().max() == 1
    assert 0.05 < per_child["failure"].mean() < 0.3
    # more failure with active disease, less on IVIG
    at = failing
    assert at.loc[at["pga"] >= 5, "failure"].mean() > at.loc[at["pga"] < 2, "failure"].mean()


def test_unmeasured_confounder_is_hidden_unless_latent(plain):
    hidden = simulate_jdm(1000, seed=8, unmeasured=0.7)
    assert hidden.columns.tolist() == plain.columns.tolist()
    assert not hidden["ivig"].equals(plain["ivig"])  # C acts on IVIG and quiescence
    shown = simulate_jdm(1000, seed=8, unmeasured=JDMUnmeasured(distribution="binary"), latent=True)
    c = shown.groupby("id")["confounder"].first()
    assert set(np.unique(c)) == {0.0, 1.0}
    # C raises IVIG initiation
    ever = shown.groupby("id")["ivig"].max()
    assert ever[c == 1].mean() > ever[c == 0].mean()
    # the confounder only: everything drawn before IVIG is the plain cohort's at month 0
    first = shown[shown["month"] == 0].reset_index(drop=True)
    base = plain[plain["month"] == 0].reset_index(drop=True)
    pd.testing.assert_series_equal(first["pga"], base["pga"])


def test_bad_options():
    with pytest.raises(TypeError, match="competing must be"):
        simulate_jdm(10, seed=1, competing="yes")
    with pytest.raises(TypeError, match="unmeasured must be"):
        simulate_jdm(10, seed=1, unmeasured="strong")
    with pytest.raises(ValueError, match="distribution"):
        JDMUnmeasured(distribution="gamma")
    with pytest.raises(ValueError, match="prevalence"):
        JDMUnmeasured(distribution="binary", prevalence=1.0)
    with pytest.raises(ValueError, match="finite"):
        JDMCompeting(pga=np.inf)
    with pytest.raises(ValueError, match="competing must be True"):
        jdm_competing_truth(100, competing=False)


def test_eliminate_truth_is_the_truth_without_failure():
    truth = jdm_competing_truth(20_000, seed=3)
    plain = jdm_truth(20_000, seed=3)
    for regime in ("always", "never"):
        eliminate = truth.cif.loc[("eliminate", regime), "quiescence"].to_numpy()
        np.testing.assert_allclose(eliminate, plain.risk[regime].to_numpy(), atol=1e-12)
        assert (truth.cif.loc[("eliminate", regime), "failure"] == 0).all()
        total = truth.cif.loc[("total", regime)]
        assert (total["quiescence"].to_numpy() <= eliminate + 1e-12).all()
        assert (total["quiescence"] + total["failure"] <= 1).all()
    # IVIG: more quiescence, less failure
    assert truth.cif_at(24, "always") > truth.cif_at(24, "never")
    assert truth.cif_at(24, "always", "failure") < truth.cif_at(24, "never", "failure")
    assert "JDMCompetingTruth" in repr(truth)
    with pytest.raises(ValueError, match="cause"):
        truth.cif_at(12, "always", "death")


def test_unmeasured_truth_is_marginal_over_the_confounder():
    plain = jdm_truth(20_000, seed=3)
    confounded = jdm_truth(20_000, seed=3, unmeasured=0.7)
    assert confounded.risk_at(24, "never") != plain.risk_at(24, "never")
    # C's effect on IVIG initiation does not enter the truth (IVIG is set by the regime)
    other = jdm_truth(20_000, seed=3, unmeasured=JDMUnmeasured(ivig=3.0, quiescence=-0.7))
    pd.testing.assert_frame_equal(other.risk, confounded.risk)
    both = jdm_competing_truth(20_000, seed=3, unmeasured=0.7)
    np.testing.assert_allclose(
        both.cif.loc[("eliminate", "never"), "quiescence"].to_numpy(),
        confounded.risk["never"].to_numpy(),
    )
