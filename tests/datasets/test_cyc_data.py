"""msm.datasets.simulate_cyc and cyc_truth: the cyclophosphamide cohort and its truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import msm
from msm.datasets import cyclophosphamide


def test_cohort_shape_ranges_and_treatment_course():
    cohort = msm.datasets.simulate_cyc(n_patients=300, months=36, seed=2)
    assert list(cohort.columns) == cyclophosphamide.COLUMNS
    assert cohort.equals(msm.datasets.simulate_cyc(n_patients=300, months=36, seed=2))
    assert cohort["id"].nunique() == 300
    assert cohort.groupby("id")["month"].apply(lambda m: (np.diff(m) == 1).all()).all()
    assert cohort["pga"].between(0, 10).all() and cohort["das_skin"].between(0, 9).all()
    assert cohort["cmas"].between(0, 52).all()
    # cyc_started is absorbing; the course is at most six monthly pulses, from the start
    started = cohort.groupby("id")["cyc_started"]
    assert (started.diff().fillna(0) >= 0).all()
    assert cohort.groupby("id")["cyc"].sum().max() <= 6
    assert (cohort["cyc"] <= cohort["cyc_started"]).all()
    # lost only on a patient's last row
    last = cohort.groupby("id")["month"].transform("max") == cohort["month"]
    assert (cohort.loc[~last, "lost"] == 0).all()
    # confounding by indication: visits where CYC starts have more active skin disease
    at_risk = cohort[started.shift(fill_value=0) == 0]
    means = at_risk.groupby("cyc_started")["das_skin"].mean()
    assert means[1] > means[0] + 1


def test_latent_columns_and_overrides():
    cohort = msm.datasets.simulate_cyc(n_patients=50, seed=1, latent=True, cyc_intercept=-30.0)
    assert {"activity", "frailty"} <= set(cohort.columns)
    assert cohort["cyc_started"].sum() == 0
    with pytest.raises(TypeError, match="unknown CYC parameter"):
        msm.datasets.simulate_cyc(n_patients=5, seed=1, not_a_parameter=1.0)
    with pytest.raises(ValueError, match="n_patients"):
        msm.datasets.simulate_cyc(n_patients=0)


def test_truth_is_null_without_an_effect_and_negative_with_one():
    null = msm.datasets.cyc_truth(n_patients=3000, trials=(2, 8), cyc_activity=0.0)
    # common random numbers: without an effect the two worlds are identical
    assert null.effect == 0.0
    truth = msm.datasets.cyc_truth(n_patients=3000, trials=(2, 8), min_das_skin=5)
    assert list(truth.by_trial.index) == [2, 8]
    assert truth.effect < -0.5
    everyone = msm.datasets.cyc_truth(n_patients=3000, trials=(2, 8))
    assert (everyone.by_trial["eligible"] > truth.by_trial["eligible"]).all()
    assert "CYCTruth" in repr(truth)


def test_the_two_simulators_share_one_disease_course():
    from msm.datasets import _course

    shared = {f.name for f in dataclasses.fields(_course.CourseParameters)}
    jdm, cyc = msm.datasets.JDMParameters(), msm.datasets.CYCParameters()
    assert isinstance(jdm, _course.CourseParameters)
    assert isinstance(cyc, _course.CourseParameters)
    # the severer CYC cohort changes exactly the five defaults CourseParameters names
    differ = {name for name in shared if getattr(jdm, name) != getattr(cyc, name)}
    assert differ == {
        "activity_diagnosis",
        "frailty_activity",
        "activity_trend",
        "lost_intercept",
        "lost_pga",
    }
