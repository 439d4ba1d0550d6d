"""Rubin's rules (msm.mi.pool, MIResults.pool) against R mice::pool and by hand."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import msm

POOLED = ["estimate", "ubar", "b", "t", "df", "riv", "lambda", "fmi", "lower", "upper"]


@pytest.fixture(scope="module")
def reference(shared_dir):
    folder = shared_dir / "conformance" / "mi"
    ref = json.loads((folder / "lalonde_hc0.json").read_text())
    data = pd.read_csv(folder / "lalonde_imputed.csv")
    imputations = [g.drop(columns="imp").reset_index(drop=True) for _, g in data.groupby("imp")]
    return ref, imputations


def test_scalar_cases_as_mice(reference):
    ref, _ = reference
    for case in ref["scalar_cases"]:
        table = msm.mi.pool(case["estimates"], case["variances"], dfcom=case["dfcom"])
        row = table.iloc[0]
        for key in POOLED:
            assert row[key] == pytest.approx(case[key], rel=1e-12, abs=1e-14), (case["name"], key)
        assert row["m"] == case["m"]


def test_pooling_r_per_imputation_numbers(reference):
    """mice::pool on R's own per-imputation estimates and HC0 variances, dfcom 612."""
    ref, _ = reference
    per = ref["per_imputation"]
    names = per[0]["names"]
    est = pd.DataFrame([p["coef"] for p in per], columns=names)
    var = pd.DataFrame([np.square(p["se_hc0"]) for p in per], columns=names)
    table = msm.mi.pool(est, var, dfcom=612)
    for name in names:
        expected = ref["pooled_hc0_dfcom_default"][name]
        for key in [*POOLED, "std_error", "statistic", "p_value"]:
            assert table.loc[name, key] == pytest.approx(expected[key], rel=1e-10), (name, key)


def analysis(frame):
    w = msm.iptw(frame, id="id", time=None, treatment="treat",
                 denominator="age + educ + race + married + nodegree + re74 + re75")  # fmt: skip
    return msm.glm("re78 ~ treat", frame, weights=w, variance="robust")


def test_within_analysis_as_matchthem(reference):
    """weightit(ATE, glm) + glm_weightit(re78 ~ treat) with HC0 in each of mice's 5
    imputations, pooled with MatchThem's dfcom n - p = 612: msm's own fits give the
    per-imputation numbers to 1e-8 and the pooled ones to 1e-6."""
    ref, imputations = reference
    res = msm.mi.analyze(imputations, analysis, id="id")
    for fit, expected in zip(res.results, ref["per_imputation"]):
        np.testing.assert_allclose(fit.params.to_numpy(), expected["coef"], rtol=1e-8)
        np.testing.assert_allclose(fit.bse.to_numpy(), expected["se_hc0"], rtol=1e-8)
    assert res.dfcom == 612  # the default: rows - parameters, without a cluster
    table = res.pool()
    for name, term in [("(Intercept)", "Intercept"), ("treat", "treat")]:
        expected = ref["pooled_hc0_dfcom_default"][name]
        for key in [*POOLED, "std_error", "p_value"]:
            assert table.loc[term, key] == pytest.approx(expected[key], rel=1e-6), (name, key)
    # the large-sample variant (mice's dfcom = Inf): Rubin's old df (m - 1) / lambda^2
    big = res.pool(dfcom=np.inf)
    lam = big.loc["treat", "lambda"]
    assert big.loc["treat", "df"] == pytest.approx(4 / lam**2, rel=1e-12)
    assert "fmi" in repr(res) and "robust" in repr(res)


def test_rules_by_hand():
    rng = np.random.default_rng(4)
    q = rng.normal(2.0, 0.3, size=(7, 3))
    u = rng.uniform(0.05, 0.2, size=(7, 3))
    table = msm.mi.pool(q, u, dfcom=40)
    m = 7
    qbar, ubar, b = q.mean(0), u.mean(0), q.var(0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / t
    dfold = (m - 1) / lam**2
    dfobs = 41 / 43 * 40 * (1 - lam)
    df = dfold * dfobs / (dfold + dfobs)
    np.testing.assert_allclose(table["estimate"], qbar, rtol=1e-14)
    np.testing.assert_allclose(table["t"], t, rtol=1e-14)
    np.testing.assert_allclose(table["df"], df, rtol=1e-12)
    half = scipy.stats.t.ppf(0.975, df) * np.sqrt(t)
    np.testing.assert_allclose(table["upper"], qbar + half, rtol=1e-12)
    # no between-imputation variance: the 1e-4 floor keeps df finite (mice 3.15)
    flat = msm.mi.pool([1.0, 1.0, 1.0], [0.1, 0.1, 0.1], dfcom=30).iloc[0]
    assert flat["b"] == 0 and np.isfinite(flat["df"]) and flat["df"] < 30


def test_transformed_scales():
    """Risks pooled on the cloglog scale (delta-method variances), ratios on the log scale,
    transformed back."""
    r = np.array([0.21, 0.25, 0.19, 0.23])
    se = np.array([0.03, 0.035, 0.028, 0.031])
    table = msm.mi.pool(r, se**2, scale="cloglog").iloc[0]
    g = np.log(-np.log(1 - r))
    gvar = (se / ((1 - r) * -np.log(1 - r))) ** 2
    ref = msm.mi.pool(g, gvar).iloc[0]
    back = lambda z: 1 - np.exp(-np.exp(z))  # noqa: E731
    assert table["estimate"] == pytest.approx(back(ref["estimate"]), rel=1e-12)
    assert table["lower"] == pytest.approx(back(ref["lower"]), rel=1e-12)
    assert 0 < table["lower"] < table["estimate"] < table["upper"] < 1
    assert table["scale"] == "cloglog"
    ratio = msm.mi.pool([1.5, 1.7, 1.6], [0.04, 0.05, 0.045], scale="log").iloc[0]
    logged = msm.mi.pool(np.log([1.5, 1.7, 1.6]), np.array([0.04, 0.05, 0.045]) / np.array(
        [1.5, 1.7, 1.6]) ** 2).iloc[0]  # fmt: skip
    assert ratio["estimate"] == pytest.approx(np.exp(logged["estimate"]), rel=1e-12)
    with pytest.raises(ValueError, match="outside"):
        msm.mi.pool([0.0, 0.1], [0.01, 0.01], scale="cloglog")


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2"):
        msm.mi.pool([1.0], [0.1])
    with pytest.raises(ValueError, match="same shape"):
        msm.mi.pool([1.0, 2.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        msm.mi.pool([1.0, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="scale"):
        msm.mi.pool([1.0, 2.0], [0.1, 0.2], scale="logit")
