"""R ipw 1.2.1 ``ipwtm(family="binomial", type="first")`` on haartdat: weights and models.

R's numbers are in ../shared/conformance/haartdat_binomial.json and _weights.csv; the module
skips when ../shared is absent.  R's glm stops at a relative deviance change of 1e-8 while we
converge fully, so coefficients and weights are compared at 1e-6 relative (see the README
there).  R reports standard errors from the information at its second-to-last IRLS iterate,
which is up to ~1e-4 (relative) away from the converged estimate, so standard errors are
compared at 3e-4 and deviances, which are flat at the optimum, at 1e-10.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm

CASES = {
    "b1_no_time": {
        "weights": "ipw_b1",
        "numerator": "sex + age",
        "denominator": "sex + age + `cd4.sqrt`",
    },
    "b2_quadratic_time": {
        "weights": "ipw_b2",
        "numerator": "sex + age + I(fuptime/1000) + I((fuptime/1000)^2)",
        "denominator": "sex + age + `cd4.sqrt` + I(fuptime/1000) + I((fuptime/1000)^2)",
    },
}


@pytest.fixture(scope="module")
def haart(shared_dir):
    data = pd.read_csv(shared_dir / "data" / "ipw" / "haartdat.csv")
    expected = json.loads((shared_dir / "conformance" / "haartdat_binomial.json").read_text())
    rows = pd.read_csv(shared_dir / "conformance" / "haartdat_binomial_weights.csv")
    return data, expected, rows


def _fit(data, case):
    spec = CASES[case]
    return msm.iptw(
        data,
        id="patient",
        time="fuptime",
        treatment="haartind",
        numerator=spec["numerator"],
        denominator=spec["denominator"],
        absorbing=True,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_every_row_weight_matches_r(haart, case):
    data, _, rows = haart
    w = _fit(data, case)
    npt.assert_allclose(w.weights.to_numpy(), rows[CASES[case]["weights"]].to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_rows_fitted_are_rs_risk_set(haart, case):
    data, expected, rows = haart
    w = _fit(data, case)
    fitted = w.panel.unsort(w.fitted_rows["denominator"])
    npt.assert_array_equal(fitted, rows["selvar"].to_numpy() == 1)
    assert w.models["denominator"].n == expected[case]["weights"]["selvar_n"]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("model", ["numerator", "denominator"])
def test_model_coefficients_match_r(haart, case, model):
    data, expected, _ = haart
    fit = _fit(data, case).models[model]
    r = expected[case][f"{model}_model"]
    r_est = np.array([c["estimate"] for c in r["coefficients"].values()])
    r_se = np.array([c["se"] for c in r["coefficients"].values()])
    npt.assert_allclose(fit.params.to_numpy(), r_est, rtol=1e-6)
    npt.assert_allclose(fit.bse.to_numpy(), r_se, rtol=3e-4)
    npt.assert_allclose(fit.deviance, r["deviance"], rtol=1e-10)
    assert fit.n == r["n"] and fit.converged
    # the same terms in the same order (R says "(Intercept)", formulaic "Intercept")
    r_names = [n.replace("(Intercept)", "Intercept") for n in r["coefficients"]]
    ours = [n.replace(" ", "") for n in fit.params.index]
    assert ours == [n.replace(" ", "").replace("^", "**") for n in r_names]


@pytest.mark.parametrize("case", list(CASES))
def test_weight_summary_matches_r(haart, case):
    data, expected, _ = haart
    r = expected[case]["weights"]["summary"]
    s = _fit(data, case).summary().iloc[0]
    assert s["n"] == r["n"]
    for ours, theirs in [
        ("min", "min"),
        ("p1", "p01"),
        ("median", "median"),
        ("mean", "mean"),
        ("p99", "p99"),
        ("max", "max"),
        ("sd", "sd"),
        ("ess", "ess"),
    ]:
        npt.assert_allclose(s[ours], r[theirs], rtol=1e-6, err_msg=ours)


def test_shuffled_input_gives_the_same_weights_in_caller_order(haart):
    data, _, rows = haart
    order = np.random.default_rng(7).permutation(len(data))
    shuffled = data.iloc[order]
    w = _fit(shuffled, "b2_quadratic_time")
    assert w.weights.index.equals(shuffled.index)
    npt.assert_allclose(w.weights.to_numpy(), rows["ipw_b2"].to_numpy()[order], rtol=1e-6)


def test_r_truncation_rule_on_r_weights(haart):
    data, _, rows = haart
    w = msm.iptw(
        data,
        id="patient",
        time="fuptime",
        treatment="haartind",
        numerator=CASES["b1_no_time"]["numerator"],
        denominator=CASES["b1_no_time"]["denominator"],
        absorbing=True,
        truncate=(5, 95),
    )
    r = rows["ipw_b1"].to_numpy()
    q_lo, q_hi = np.quantile(r, [0.05, 0.95])  # R: quantile(w, c(q, 1 - q)), type 7
    expected = np.where(r <= q_lo, q_lo, np.where(r > q_hi, q_hi, r))
    npt.assert_allclose(w.weights.to_numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_convergence_r_equals_r_to_rounding(haart, case):
    """convergence="r" replays glm.fit: every weight, coefficient and SE to 1e-10."""
    data, expected, rows = haart
    spec = CASES[case]
    w = msm.iptw(
        data,
        id="patient",
        time="fuptime",
        treatment="haartind",
        numerator=spec["numerator"],
        denominator=spec["denominator"],
        absorbing=True,
        convergence="r",
    )
    npt.assert_allclose(w.weights.to_numpy(), rows[spec["weights"]].to_numpy(), rtol=1e-10)
    for model in ("numerator", "denominator"):
        r = expected[case][f"{model}_model"]
        fit = w.models[model]
        npt.assert_allclose(
            fit.params.to_numpy(), [c["estimate"] for c in r["coefficients"].values()], rtol=1e-10
        )
        npt.assert_allclose(
            fit.bse.to_numpy(), [c["se"] for c in r["coefficients"].values()], rtol=1e-10
        )
        npt.assert_allclose(fit.deviance, r["deviance"], rtol=1e-12)
