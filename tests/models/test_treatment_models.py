"""Multinomial, ordinal, continuous and scikit-learn treatment models (issue 6, items 2-4)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import scipy.stats
import statsmodels.api as sm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from statsmodels.miscmodels.ordinal_model import OrderedModel

import msm


@pytest.fixture(scope="module")
def panel3():
    """Switching three-level treatment (0 none, 1 IVIG, 2 cyclophosphamide) over 5 visits."""
    rng = np.random.default_rng(8)
    n, visits = 800, 5
    x = np.repeat(rng.normal(size=n), visits)
    l = rng.normal(size=n * visits) + 0.3 * x  # noqa: E741
    eta1 = -0.5 + 0.8 * l
    eta2 = -1.0 + 0.4 * x - 0.6 * l
    p = np.column_stack([np.ones_like(l), np.exp(eta1), np.exp(eta2)])
    p /= p.sum(axis=1, keepdims=True)
    a = (rng.random(n * visits)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    dose = 2.0 + 0.5 * x + 0.7 * l + rng.normal(scale=0.8, size=n * visits)
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), visits),
            "t": np.tile(np.arange(visits), n),
            "x": x,
            "l": l,
            "a": a,
            "dose": dose,
        }
    )


def _cumprod_by_id(df, factor):
    return pd.Series(factor, index=df.index).groupby(df["id"]).cumprod().to_numpy()


def test_multinomial_matches_statsmodels_probabilities(panel3):
    w = msm.iptw(
        panel3,
        id="id",
        time="t",
        treatment="a",
        family="multinomial",
        denominator="x + l",
        numerator="x",
    )
    den = sm.MNLogit(panel3["a"], sm.add_constant(panel3[["x", "l"]])).fit(disp=False)
    num = sm.MNLogit(panel3["a"], sm.add_constant(panel3[["x"]])).fit(disp=False)
    rows = np.arange(len(panel3))
    p_den = np.asarray(den.predict())[rows, panel3["a"]]
    p_num = np.asarray(num.predict())[rows, panel3["a"]]
    npt.assert_allclose(w.weights, _cumprod_by_id(panel3, p_num / p_den), rtol=1e-6)
    fit = w.models["denominator"]
    assert fit.categories == [0, 1, 2]
    npt.assert_allclose(fit.params["l[1]"], np.asarray(den.params)[2, 0], rtol=1e-6)
    assert "multinomial logit" in repr(w)


def test_multinomial_string_levels_and_marginal_numerator(panel3):
    labels = np.array(["none", "ivig", "cyc"])[panel3["a"]]
    df = panel3.assign(drug=labels)
    w = msm.iptw(
        df,
        id="id",
        time="t",
        treatment="drug",
        family="multinomial",
        denominator="x + l",
        numerator="1",
    )
    numeric = msm.iptw(
        panel3,
        id="id",
        time="t",
        treatment="a",
        family="multinomial",
        denominator="x + l",
        numerator="1",
    )
    # different level order (alphabetical), same model: the same weights
    npt.assert_allclose(w.weights, numeric.weights, rtol=1e-6)
    share = pd.Series(labels).value_counts(normalize=True)
    assert w.models["numerator"].categories == ["cyc", "ivig", "none"]
    p_num = share[labels].to_numpy()
    p_den = np.exp(w.log_factors["denominator"])
    npt.assert_allclose(np.exp(w.log_factors["numerator"]), p_num, rtol=1e-6)
    assert np.all(p_den > 0)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_ordinal_matches_statsmodels_probabilities(panel3, link):
    w = msm.iptw(
        panel3,
        id="id",
        time="t",
        treatment="a",
        family="ordinal",
        model=link,
        denominator="x + l",
        numerator="x",
    )
    rows = np.arange(len(panel3))
    den = OrderedModel(panel3["a"], panel3[["x", "l"]], distr=link).fit(
        method="newton", disp=False, tol=1e-12, maxiter=200
    )
    num = OrderedModel(panel3["a"], panel3[["x"]], distr=link).fit(
        method="newton", disp=False, tol=1e-12, maxiter=200
    )
    p_den = np.asarray(den.predict())[rows, panel3["a"]]
    p_num = np.asarray(num.predict())[rows, panel3["a"]]
    npt.assert_allclose(w.weights, _cumprod_by_id(panel3, p_num / p_den), rtol=1e-5)
    assert w.models["denominator"].kind == f"ordinal {link}"


def test_ordinal_marginal_numerator_is_observed_proportions(panel3):
    w = msm.iptw(
        panel3,
        id="id",
        time="t",
        treatment="a",
        family="ordinal",
        denominator="x + l",
        numerator="1",
    )
    share = panel3["a"].value_counts(normalize=True)
    npt.assert_allclose(
        np.exp(w.log_factors["numerator"]), share[panel3["a"]].to_numpy(), rtol=1e-12
    )


def test_ordinal_needs_order():
    df = pd.DataFrame({"id": range(30), "a": pd.Categorical(list("abc") * 10), "x": 1.0})
    with pytest.raises(msm.DataError, match="ordered Categorical"):
        msm.iptw(df, id="id", time=None, treatment="a", family="ordinal", denominator="x")


@pytest.mark.parametrize("point", [True, False])
def test_gaussian_is_normal_density_ratio(panel3, point):
    df = panel3[panel3["t"] == 0] if point else panel3
    w = msm.iptw(
        df,
        id="id",
        time=None if point else "t",
        treatment="dose",
        family="gaussian",
        denominator="x + l",
        numerator="x",
    )

    def density(rhs):
        fit = sm.OLS(df["dose"], sm.add_constant(df[rhs])).fit()
        return scipy.stats.norm.pdf(df["dose"], fit.fittedvalues, np.std(fit.resid, ddof=1))

    ratio = density(["x"]) / density(["x", "l"])
    expected = ratio if point else _cumprod_by_id(df, ratio)
    npt.assert_allclose(w.weights, expected, rtol=1e-9)
    assert w.models["denominator"].sigma == pytest.approx(
        np.std(sm.OLS(df["dose"], sm.add_constant(df[["x", "l"]])).fit().resid, ddof=1)
    )


def test_sklearn_logistic_equals_builtin_logit():
    cohort = msm.datasets.simulate_panel(800, 6, seed=2)
    ours = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        absorbing=True,
        denominator="x + l + time",
        numerator="x + time",
    )
    learner = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000)
    theirs = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        absorbing=True,
        denominator="x + l + time",
        numerator="x + time",
        model=learner,
        clip=1e-12,
    )
    npt.assert_allclose(theirs.weights, ours.weights, rtol=1e-4)
    fit = theirs.models["denominator"]
    assert fit.features == ["x", "l", "time"] and fit.n_folds == 1 and fit.n_clipped == 0


def test_sklearn_time_is_added_as_a_feature():
    cohort = msm.datasets.simulate_panel(200, 4, seed=3)
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        absorbing=True,
        denominator="x + l",
        model=LogisticRegression(),
    )
    assert w.models["denominator"].features == ["x", "l", "time"]


class _SubjectSpy(ClassifierMixin, BaseEstimator):
    """Remembers the subjects (feature 0) it was trained on; fails if asked about them."""

    def fit(self, X, y):
        self.seen_ = set(X[:, 0].tolist())
        self.classes_ = np.unique(y)
        self.rate_ = np.bincount(y.astype(int), minlength=2)[1] / len(y)
        return self

    def predict_proba(self, X):
        leaked = self.seen_.intersection(X[:, 0].tolist())
        assert not leaked, f"scored subjects it was trained on: {sorted(leaked)[:5]}"
        return np.column_stack([np.full(len(X), 1 - self.rate_), np.full(len(X), self.rate_)])


def test_crossfit_never_scores_a_subject_the_model_saw():
    cohort = msm.datasets.simulate_panel(300, 5, seed=4)
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        absorbing=True,
        denominator="id + x",
        model=_SubjectSpy(),
        crossfit=5,
        seed=1,
    )
    fit = w.models["denominator"]
    assert fit.n_folds == 5 and len(fit.estimators) == 5
    with pytest.raises(AssertionError, match="scored subjects it was trained on"):
        msm.iptw(
            cohort,
            id="id",
            time="time",
            treatment="a",
            absorbing=True,
            denominator="id + x",
            model=_SubjectSpy(),
        )


def test_crossfit_is_reproducible_and_clipping_is_counted():
    from sklearn.tree import DecisionTreeClassifier

    cohort = msm.datasets.simulate_panel(400, 5, seed=5)
    kwargs = dict(
        id="id",
        time="time",
        treatment="a",
        absorbing=True,
        denominator="x + l",
        model=DecisionTreeClassifier(random_state=0),
        crossfit=3,
        clip=0.01,
    )
    a = msm.iptw(cohort, seed=7, **kwargs)
    b = msm.iptw(cohort, seed=7, **kwargs)
    npt.assert_array_equal(a.weights, b.weights)
    fit = a.models["denominator"]
    # an unpruned tree predicts 0 or 1 for many held-out rows: those are clipped and counted
    p = np.exp(a.log_factors["denominator"][a.fitted_rows["denominator"]])
    assert fit.n_clipped == int(np.sum(np.isclose(p, 0.01) | np.isclose(p, 0.99))) > 0
    assert p.min() >= 0.01 - 1e-15 and p.max() <= 0.99 + 1e-15


def test_cox_model_needs_start_and_absorbing():
    df = msm.datasets.simulate_panel(50, 4, seed=1).assign(start=lambda d: d["time"] - 1)
    with pytest.raises(ValueError, match="needs start="):
        msm.iptw(
            df, id="id", time="time", treatment="a", denominator="x", model="cox", absorbing=True
        )
    with pytest.raises(ValueError, match="absorbing=True"):
        msm.iptw(
            df, id="id", time="time", treatment="a", denominator="x", model="cox", start="start"
        )
    bad = df.assign(start=np.where(df["id"] == 7, df["time"], df["start"]))
    with pytest.raises(msm.DataError, match="interval start must be before") as info:
        msm.iptw(
            bad,
            id="id",
            time="time",
            treatment="a",
            denominator="x",
            model="cox",
            start="start",
            absorbing=True,
        )
    assert info.value.ids == [7]


def test_cox_model_on_simulated_cohort_has_mean_weight_near_one():
    df = msm.datasets.simulate_panel(3000, 8, seed=2).assign(start=lambda d: d["time"] - 1)
    w = msm.iptw(
        df,
        id="id",
        time="time",
        start="start",
        treatment="a",
        model="cox",
        absorbing=True,
        denominator="x + l",
        numerator="x",
    )
    assert abs(w.weights.mean() - 1) < 0.03
    assert w.models["denominator"].params["l"] > 0.5  # l drives initiation
