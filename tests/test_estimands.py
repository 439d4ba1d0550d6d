"""iptw(estimand=, bound=, policy=): WeightIt's and zEpid's definitions, against statsmodels."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import msm

FORMULA = "age + educ + C(race) + married + nodegree + re74 + re75"


def point_data(n=800, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.binomial(1, 0.4, n)
    a = rng.binomial(1, 1 / (1 + np.exp(-(-0.3 + 1.2 * x - 0.8 * z))))
    y = rng.normal(1 + 2 * a + x, 1)
    return pd.DataFrame({"id": np.arange(n), "x": x, "z": z, "a": a, "y": y})


def propensity(data, rhs, treatment):
    fit = smf.glm(f"{treatment} ~ {rhs}", data, family=sm.families.Binomial()).fit(tol=1e-13)
    return fit.predict(data).to_numpy()


def expected(a, e, estimand):
    return {
        "ATE": np.where(a == 1, 1 / e, 1 / (1 - e)),
        "ATT": np.where(a == 1, 1.0, e / (1 - e)),
        "ATC": np.where(a == 1, (1 - e) / e, 1.0),
        "ATO": np.where(a == 1, 1 - e, e),
    }[estimand]


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC", "ATO"])
def test_estimands_against_statsmodels(estimand):
    d = point_data()
    w = msm.iptw(d, id="id", time=None, treatment="a", denominator="x + z", estimand=estimand)
    e = propensity(d, "x + z", "a")
    np.testing.assert_allclose(w.weights, expected(d.a.to_numpy(), e, estimand), rtol=1e-9)
    assert f"estimand {estimand}" in repr(w)
    assert w.settings["estimand"] == estimand


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC", "ATO"])
def test_estimands_on_lalonde(shared_dir, estimand):
    """cobalt's lalonde: WeightIt's weights by its definitions (the held-out reference
    compares to WeightIt's own numbers)."""
    d = pd.read_csv(shared_dir / "data" / "weightit" / "lalonde.csv")
    d["id"] = np.arange(len(d))
    w = msm.iptw(d, id="id", time=None, treatment="treat", denominator=FORMULA,
                 estimand=estimand)  # fmt: skip
    e = propensity(d, FORMULA, "treat")
    np.testing.assert_allclose(w.weights, expected(d.treat.to_numpy(), e, estimand), rtol=1e-8)


def test_att_is_the_effect_in_the_treated():
    """With a treatment effect that differs by x, the ATT-weighted contrast estimates the
    mean effect among the treated, the ATE-weighted one the population mean."""
    rng = np.random.default_rng(7)
    n = 40_000
    x = rng.normal(size=n)
    a = rng.binomial(1, 1 / (1 + np.exp(-(x - 0.5))))
    effect = 1 + x  # heterogeneous
    y = x + a * effect + rng.normal(size=n)
    d = pd.DataFrame({"id": np.arange(n), "x": x, "a": a, "y": y})
    for estimand, truth in [("ATT", effect[a == 1].mean()), ("ATE", effect.mean()),
                            ("ATC", effect[a == 0].mean())]:  # fmt: skip
        w = msm.iptw(d, id="id", time=None, treatment="a", denominator="x", estimand=estimand)
        fit = msm.glm("y ~ a", d, weights=w)
        assert abs(fit.params["a"] - truth) < 4 * fit.bse["a"], estimand


def test_bounds_asymmetric_and_counted():
    d = point_data()
    e = propensity(d, "x + z", "a")
    w = msm.iptw(d, id="id", time=None, treatment="a", denominator="x + z", bound=(0.2, 0.9))
    eb = np.clip(e, 0.2, 0.9)
    np.testing.assert_allclose(w.weights, expected(d.a.to_numpy(), eb, "ATE"), rtol=1e-9)
    assert w.n_bounded == int(((e < 0.2) | (e > 0.9)).sum()) > 0
    assert f"{w.n_bounded} rows changed" in repr(w)
    lower = msm.iptw(d, id="id", time=None, treatment="a", denominator="x + z",
                     bound=(0.3, None), estimand="ATT")  # fmt: skip
    np.testing.assert_allclose(
        lower.weights, expected(d.a.to_numpy(), np.maximum(e, 0.3), "ATT"), rtol=1e-9
    )


def test_bounds_on_a_learner_and_over_time():
    from sklearn.linear_model import LogisticRegression

    d = point_data()
    learner = msm.iptw(d, id="id", time=None, treatment="a", denominator=["x", "z"],
                       model=LogisticRegression(C=1e6), bound=(0.25, 0.75))  # fmt: skip
    e = LogisticRegression(C=1e6).fit(d[["x", "z"]], d.a).predict_proba(d[["x", "z"]])[:, 1]
    np.testing.assert_allclose(
        learner.weights, expected(d.a.to_numpy(), np.clip(e, 0.25, 0.75), "ATE"), rtol=1e-4
    )
    panel = msm.datasets.simulate_panel(n_subjects=300, seed=2)
    free = msm.iptw(panel, id="id", time="time", treatment="a", denominator="x + l + time",
                    absorbing=True)  # fmt: skip
    bounded = msm.iptw(panel, id="id", time="time", treatment="a", denominator="x + l + time",
                       absorbing=True, bound=(0.05, None))  # fmt: skip
    # on the treatment model's rows, P(A = 1) is raised to 0.05 where below, nowhere else
    rows = free.fitted_rows["denominator"]
    a = free.panel.sort(panel["a"].to_numpy())[rows]
    log_p = free.log_factors["denominator"][rows]
    e = np.where(a == 1, np.exp(log_p), -np.expm1(log_p))
    eb = np.maximum(e, 0.05)
    np.testing.assert_allclose(
        bounded.log_factors["denominator"][rows],
        np.where(a == 1, np.log(eb), np.log1p(-eb)),
        rtol=1e-12,
    )
    assert bounded.n_bounded == int((e < 0.05).sum()) > 0
    assert bounded.weights.max() <= free.weights.max()


def test_stochastic_plan():
    d = point_data()
    e = propensity(d, "x + z", "a")
    a = d.a.to_numpy()
    w = msm.iptw(d, id="id", time=None, treatment="a", denominator="x + z", policy=0.7)
    ref = (a * 0.7 + (1 - a) * 0.3) / np.where(a == 1, e, 1 - e)
    np.testing.assert_allclose(w.weights, ref, rtol=1e-9)
    mean = msm.glm("y ~ 1", d, weights=w).params["Intercept"]
    assert mean == pytest.approx(np.sum(ref * d.y) / np.sum(ref), rel=1e-10)
    # the plan's mean is between "nobody" and "everybody" treated (effect 2 here)
    assert 1 + 0.7 * 2 - 0.3 < mean < 1 + 0.7 * 2 + 0.3
    plan = lambda frame: np.where(frame["z"] == 1, 0.9, 0.2)  # noqa: E731
    wf = msm.iptw(d, id="id", time=None, treatment="a", denominator="x + z", policy=plan)
    p = plan(d)
    np.testing.assert_allclose(
        wf.weights, (a * p + (1 - a) * (1 - p)) / np.where(a == 1, e, 1 - e), rtol=1e-9
    )
    assert "stochastic plan" in repr(wf)


def test_bad_options():
    d = point_data()
    base = dict(id="id", time=None, treatment="a", denominator="x + z")
    with pytest.raises(ValueError, match="estimand must be"):
        msm.iptw(d, **base, estimand="ATX")
    with pytest.raises(ValueError, match="only the ATE is stabilized"):
        msm.iptw(d, **base, estimand="ATT", numerator="1")
    panel = msm.datasets.simulate_panel(n_subjects=50, seed=2)
    with pytest.raises(ValueError, match="point treatment"):
        msm.iptw(panel, id="id", time="time", treatment="a", denominator="x", estimand="ATO")
    with pytest.raises(ValueError, match="binary treatment"):
        msm.iptw(d.assign(k=d.a + d.z), id="id", time=None, treatment="k", denominator="x",
                 family="multinomial", estimand="ATT")  # fmt: skip
    for bad in [(0.9, 0.2), (0, 0.5), (0.2,), "0.2", (0.1, 1.0)]:
        with pytest.raises(ValueError, match="bound"):
            msm.iptw(d, **base, bound=bad)
    for bad in [1.5, -0.1, "half", True]:
        with pytest.raises(ValueError, match="policy"):
            msm.iptw(d, **base, policy=bad)
    with pytest.raises(ValueError, match="replaces the estimand"):
        msm.iptw(d, **base, policy=0.5, estimand="ATT")
    with pytest.raises(ValueError, match="per row"):
        msm.iptw(d, **base, policy=lambda frame: [0.5, 0.5])
    with pytest.raises(ValueError, match="probabilities in"):
        msm.iptw(d, **base, policy=lambda frame: np.full(len(frame), 2.0))
    att = msm.iptw(d, **base, estimand="ATT")
    with pytest.raises(NotImplementedError, match="ATE weights"):
        msm.glm("y ~ a", d, weights=att, variance="stacked")


def test_multinomial_overlap_weights():
    """WeightIt's ATO for a multinomial treatment: (1/p_a) / sum_k (1/p_k), against
    statsmodels' MNLogit probabilities."""
    rng = np.random.default_rng(9)
    n = 1500
    x = rng.normal(size=n)
    eta = np.column_stack([np.zeros(n), 0.5 + x, -0.3 - 0.8 * x])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    k = np.array([rng.choice(3, p=row) for row in p])
    d = pd.DataFrame({"id": np.arange(n), "x": x, "k": k})
    w = msm.iptw(d, id="id", time=None, treatment="k", denominator="x", family="multinomial",
                 estimand="ATO")  # fmt: skip
    fit = sm.MNLogit(d.k, sm.add_constant(d[["x"]])).fit(disp=False, method="newton")
    probs = np.asarray(fit.predict())
    expected = (1 / probs[np.arange(n), k]) / (1 / probs).sum(axis=1)
    np.testing.assert_allclose(w.weights, expected, rtol=1e-7)
    assert "estimand ATO" in repr(w)
    with pytest.raises(ValueError, match="binary treatment"):
        msm.iptw(d, id="id", time=None, treatment="k", denominator="x", family="multinomial",
                 estimand="ATT")  # fmt: skip


def test_estimand_in_the_balance_printout():
    d = point_data()
    w = msm.iptw(d, id="id", time=None, treatment="a", denominator="x + z", estimand="ATT")
    assert "IPTW, ATT" in str(msm.balance(d, covariates=["x"], weights=w)).splitlines()[0]
    ate = msm.iptw(d, id="id", time=None, treatment="a", denominator="x + z")
    assert "ATT" not in str(msm.balance(d, covariates=["x"], weights=ate))
