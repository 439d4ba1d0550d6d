"""R ipw ``family="survival"`` (Cox) treatment and censoring weights on haartdat, via iptw.

R's numbers: ../shared/conformance/haartdat_survival.json and _weights.csv (skips without
../shared).  ``ipwtm(family="survival", type="first")`` for haartind and ``type="cens"`` for
dropout, numerator ~ sex + age, denominator ~ sex + age + cd4.sqrt, tstart as interval start.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm


@pytest.fixture(scope="module")
def haart(shared_dir):
    data = pd.read_csv(shared_dir / "data" / "ipw" / "haartdat.csv")
    rows = pd.read_csv(shared_dir / "conformance" / "haartdat_survival_weights.csv")
    expected = json.loads((shared_dir / "conformance" / "haartdat_survival.json").read_text())
    return data, rows, expected


def _weights(data):
    return msm.iptw(
        data,
        id="patient",
        time="fuptime",
        start="tstart",
        treatment="haartind",
        model="cox",
        absorbing=True,
        numerator="sex + age",
        denominator="sex + age + `cd4.sqrt`",
        censor="dropout",
    )


@pytest.fixture(scope="module")
def weights(haart):
    return _weights(haart[0])


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("treatment_weights", "ipw_treat"),
        ("censoring_weights", "ipw_cens"),
        ("weights", "ipw_product"),
    ],
)
def test_every_row_matches_r(haart, weights, ours, theirs):
    _, rows, _ = haart
    npt.assert_allclose(getattr(weights, ours).to_numpy(), rows[theirs].to_numpy(), rtol=1e-6)


def test_fitted_rows_are_rs(haart, weights):
    _, rows, _ = haart
    panel = weights.panel
    npt.assert_array_equal(
        panel.unsort(weights.fitted_rows["denominator"]), rows["selvar_treat"].to_numpy() == 1
    )
    npt.assert_array_equal(
        panel.unsort(weights.fitted_rows["censor_denominator"]), rows["selvar_cens"].to_numpy() == 1
    )


@pytest.mark.parametrize(
    ("key", "section", "model"),
    [
        ("denominator", "treatment_weights", "denominator_model"),
        ("numerator", "treatment_weights", "numerator_model"),
        ("censor_denominator", "censoring_weights", "denominator_model"),
        ("censor_numerator", "censoring_weights", "numerator_model"),
    ],
)
def test_cox_models_match_r(haart, weights, key, section, model):
    _, _, expected = haart
    r = expected[section][model]
    fit = weights.models[key]
    assert fit.n == r["n"] and fit.n_events == r["nevent"]
    npt.assert_allclose([fit.engine.loglik_null, fit.engine.loglik], r["loglik"], rtol=1e-9)
    for name, coef in r["coefficients"].items():
        ours = fit.params[name]
        # R's coxph stops at a relative log-likelihood change of 1e-9: compare on the SE scale
        assert abs(ours - coef["estimate"]) < 1e-6 * max(abs(coef["estimate"]), coef["se"])
        npt.assert_allclose(fit.bse[name], coef["se"], rtol=1e-6)


@pytest.mark.parametrize(
    ("ours", "section"),
    [
        ("treatment_weights", "treatment_weights"),
        ("censoring_weights", "censoring_weights"),
        ("weights", "product_weights"),
    ],
)
def test_summaries_match_r(haart, weights, ours, section):
    _, _, expected = haart
    r = expected[section]["summary"]
    v = getattr(weights, ours).to_numpy()
    npt.assert_allclose(
        [
            v.min(),
            np.quantile(v, 0.01),
            np.median(v),
            v.mean(),
            np.quantile(v, 0.99),
            v.max(),
            v.std(ddof=1),
            v.sum() ** 2 / (v**2).sum(),
        ],
        [r["min"], r["p01"], r["median"], r["mean"], r["p99"], r["max"], r["sd"], r["ess"]],
        rtol=1e-6,
    )
    npt.assert_allclose(v[:20], expected[section]["first20"], rtol=1e-6)


def test_shuffled_rows_same_weights(haart):
    data, rows, _ = haart
    order = np.random.default_rng(3).permutation(len(data))
    w = _weights(data.iloc[order])
    npt.assert_allclose(w.weights.to_numpy(), rows["ipw_product"].to_numpy()[order], rtol=1e-6)
