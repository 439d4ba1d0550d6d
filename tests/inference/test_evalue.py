"""E-values: R EValue 4.1.4's evalues.* (cases in ../shared/conformance/evalue), by hand,
and from fits (fit.evalue)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import msm


def test_as_r_evalue(shared_dir):
    cases = json.loads((shared_dir / "conformance" / "evalue" / "cases.json").read_text())
    assert cases["cases"]
    for case in cases["cases"]:
        given = case["input"]
        if case["scale"] == "SMD":
            table = msm.evalue(given["estimate"], se=given["se"], scale="SMD", true=given["true"])
        else:
            table = msm.evalue(given["estimate"], given.get("lower"), given.get("upper"),
                               scale=case["scale"], rare=given.get("rare", False),
                               true=given["true"])  # fmt: skip
        for column in ("point", "lower", "upper"):
            expected = case["evalues"][column]
            got = table.loc["E-value", column]
            if expected is None:
                assert math.isnan(got), (case["name"], column)
            else:
                assert got == pytest.approx(expected, rel=1e-10, abs=1e-12), (case["name"], column)
            if "rr_scale" in case and case["rr_scale"].get(column) is not None:
                assert table.loc["RR", column] == pytest.approx(case["rr_scale"][column], rel=1e-12)


def by_hand(x, true=1.0):
    if x <= 1:
        x, true = 1 / x, 1 / true
    if true <= x:
        return (x + math.sqrt(x * (x - true))) / true
    r = true / x
    return r + math.sqrt(r * (r - 1))


def test_formulas_by_hand():
    # VanderWeele & Ding's example: RR 3.9 (1.8, 8.7) has E-values 7.26 and 3.0
    t = msm.evalue(3.9, 1.8, 8.7)
    assert t.loc["E-value", "point"] == pytest.approx(3.9 + math.sqrt(3.9 * 2.9))
    assert t.loc["E-value", "lower"] == pytest.approx(1.8 + math.sqrt(1.8 * 0.8))
    # a protective estimate uses the upper limit; an interval across 1 gives 1
    t = msm.evalue(0.5, 0.3, 0.9)
    assert t.loc["E-value", "point"] == pytest.approx(by_hand(0.5))
    assert t.loc["E-value", "upper"] == pytest.approx(by_hand(0.9))
    assert math.isnan(t.loc["E-value", "lower"])
    assert msm.evalue(1.3, 0.9, 1.8).loc["E-value", "lower"] == 1
    # common-outcome conversions
    hr = 2.0
    rr = (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))
    assert msm.evalue(hr, scale="HR").loc["RR", "point"] == pytest.approx(rr)
    assert msm.evalue(4.0, scale="OR").loc["RR", "point"] == pytest.approx(2.0)
    assert msm.evalue(4.0, scale="OR", rare=True).loc["RR", "point"] == 4.0
    # a non-null true: move the estimate to true, not to 1 (true below the estimate)
    assert msm.evalue(3.0, true=1.5).loc["E-value", "point"] == pytest.approx(by_hand(3.0, 1.5))
    # and the estimate between 1 and true: r = true / x
    assert msm.evalue(1.2, true=2.0).loc["E-value", "point"] == pytest.approx(by_hand(1.2, 2.0))


def test_from_fits():
    rng = np.random.default_rng(3)
    n = 4000
    a = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 0.8 * a + 0.3 * x)))).astype(int)
    df = pd.DataFrame({"id": np.arange(n), "a": a, "x": x, "y": y, "t": rng.exponential(size=n)})
    fit = msm.glm("y ~ a + x", df, family="binomial")
    got = fit.evalue("a")
    ci = fit.conf_int().loc["a"]
    expected = msm.evalue(np.exp(fit.params["a"]), np.exp(ci["lower"]), np.exp(ci["upper"]),
                          scale="OR")  # fmt: skip
    pd.testing.assert_frame_equal(got, expected)
    rate = msm.glm("y ~ a", df, family="poisson")
    assert rate.evalue("a").loc["RR", "point"] == pytest.approx(np.exp(rate.params["a"]))
    cox = msm.cox(df.assign(start=0.0), start="start", stop="t", event="y", covariates="a + x")
    assert cox.evalue("a", rare=True).loc["RR", "point"] == pytest.approx(np.exp(cox.params["a"]))
    linear = msm.glm("x ~ a", df.assign(x=x + 0.5 * a))
    sd = float(df.x.std())
    table = linear.evalue("a", sd=sd)
    d = linear.params["a"] / sd
    assert table.loc["RR", "point"] == pytest.approx(math.exp(0.91 * d))
    with pytest.raises(ValueError, match="sd="):
        linear.evalue("a")
    with pytest.raises(KeyError, match="no term"):
        fit.evalue("b")


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        msm.evalue(2.0, scale="RD")
    with pytest.raises(ValueError, match="positive"):
        msm.evalue(-1.0)
    with pytest.raises(ValueError, match="standard error"):
        msm.evalue(0.4, scale="SMD")
    with pytest.raises(ValueError, match="above upper"):
        msm.evalue(2.0, 3.0, 1.5)
    with pytest.raises(ValueError, match="below its lower"):
        msm.evalue(1.0, 1.5, 3.0)
    with pytest.raises(ValueError, match="se= is for"):
        msm.evalue(2.0, se=0.1)


def test_scale_follows_the_link():
    rng = np.random.default_rng(5)
    n = 3000
    a = rng.integers(0, 2, n)
    y = (rng.random(n) < np.where(a == 1, 0.3, 0.2)).astype(int)
    df = pd.DataFrame({"a": a, "y": y})
    assert msm.glm("y ~ a", df, family="binomial", link="log").evalue_scale == "RR"
    assert msm.glm("y ~ a", df, family="binomial", link="cloglog").evalue_scale == "HR"
    rd = msm.glm("y ~ a", df, family="binomial", link="identity")
    assert rd.evalue_scale is None
    with pytest.raises(ValueError, match="no ratio scale"):
        rd.evalue("a")
    rr = msm.glm("y ~ a", df, family="binomial", link="log")
    ratio = np.mean(y[a == 1]) / np.mean(y[a == 0])
    assert rr.evalue("a").loc["RR", "point"] == pytest.approx(ratio, rel=1e-8)


def test_risk_curve_evalues():
    cohort = msm.datasets.simulate_panel(n_subjects=400, n_visits=5, seed=3, stop_at_event=True)
    w = msm.iptw(cohort, id="id", time="time", treatment="a", denominator="x + l + time",
                 numerator="x + time", absorbing=True)  # fmt: skip
    fit = msm.glm("y ~ a + time", cohort, weights=w, cluster="id", family="binomial")
    curves = msm.risk_curves(fit, cohort, id="id", time="time", treatment="a")
    table = msm.risk_evalues(curves)
    assert set(table.index.get_level_values(0)) == {"always"}  # the reference has none
    for key, row in table.iterrows():
        assert row.evalue == pytest.approx(msm.evalue(curves.loc[key, "ratio"]).loc[
            "E-value", "point"])  # fmt: skip
    lower = curves["ratio"] * 0.8
    upper = curves["ratio"] * 1.25
    with_ci = msm.risk_evalues(curves, lower, upper)
    key = with_ci.index[-1]
    e = msm.evalue(curves.loc[key, "ratio"], lower[key], upper[key])
    limit = e.loc["E-value", ["lower", "upper"]].dropna().iloc[0]
    assert with_ci.loc[key, "evalue_ci"] == pytest.approx(limit)
    with pytest.raises(ValueError, match="both"):
        msm.risk_evalues(curves, lower)
