"""simulate_jdm(missing=...): scores hidden at random given pga and IVIG; nothing else moves."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from msm.datasets import JDMMissingness, simulate_jdm

SCORES = ["cmas", "mmt8", "das_skin", "das_muscle", "ck"]


def test_only_hides_values_of_the_same_cohort():
    hidden = simulate_jdm(400, seed=7, missing=True)
    full = simulate_jdm(400, seed=7)
    assert list(hidden.columns) == list(full.columns) and len(hidden) == len(full)
    seen = hidden.notna()
    for column in full.columns:
        np.testing.assert_array_equal(
            hidden[column][seen[column]].to_numpy(dtype=float),
            full[column][seen[column]].to_numpy(dtype=float),
        )
    always = [c for c in full.columns if c not in [*SCORES, "das_total"]]
    assert seen[always].all().all()  # pga, treatments and outcomes always recorded
    assert seen.loc[hidden["month"] == 0, SCORES].all().all()  # diagnosis complete
    gone = ~seen
    np.testing.assert_array_equal(gone["das_total"], gone["das_skin"] | gone["das_muscle"])
    rate = gone.loc[hidden["month"] > 0, SCORES].mean()
    assert rate.between(0.35, 0.55).all()


def test_missing_at_random_given_pga_and_ivig_as_specified():
    spec = JDMMissingness()
    data = simulate_jdm(3000, seed=11, missing=spec)
    later = data[data["month"] >= spec.first_month]
    skipped = later[SCORES].isna().all(axis=1).astype(float)  # the whole assessment
    x = sm.add_constant(np.column_stack([later["pga"] - 3.0, later["ivig"]]))
    fit = sm.GLM(skipped.to_numpy(), x, family=sm.families.Binomial()).fit()
    # all five missing by themselves (0.05**5) is negligible: the logit is the spec's
    np.testing.assert_allclose(fit.params, [spec.intercept, spec.pga, spec.ivig], atol=0.08)


def test_options_and_bad_values():
    only = simulate_jdm(200, seed=2, missing=JDMMissingness(columns=("ck",), first_month=3))
    assert only[["cmas", "mmt8", "das_total"]].notna().all().all()
    assert only.loc[only["month"] < 3, "ck"].notna().all() and only["ck"].isna().any()
    with pytest.raises(ValueError, match="columns must be some of"):
        JDMMissingness(columns=("pga",))
    with pytest.raises(ValueError, match="first_month"):
        JDMMissingness(first_month=-1)
    with pytest.raises(ValueError, match="single"):
        JDMMissingness(single=1.0)
    with pytest.raises(TypeError, match="missing must be True, False or a JDMMissingness"):
        simulate_jdm(10, seed=1, missing="yes")
