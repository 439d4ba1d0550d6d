"""The one results base (msm.inference.CoefficientResults) and the covariance registry for every
fitted model: hand formulas, one interface for every results class, and the Cox MSM's variances
from its sandwich pieces (model, robust, CR1, bootstrap) without refitting."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import scipy.stats

import msm
from msm.inference import Bootstrap, CoefficientResults, ModelBasedResults
from msm.models.categorical import CategoricalFit
from msm.models.cox import CoxModelFit
from msm.models.gaussian import GaussianFit
from msm.outcome import CoxResults, cox

# --- the base against the closed forms ------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Fit(ModelBasedResults):
    params: pd.Series
    cov: pd.DataFrame
    exp_columns: ClassVar[tuple[str, str, str]] = ("ratio", "ratio_lower", "ratio_upper")


@dataclass(frozen=True, eq=False)
class _TFit(ModelBasedResults):
    params: pd.Series
    cov: pd.DataFrame
    statistic: ClassVar[str] = "t"

    @property
    def reference_df(self) -> int:
        return 7


def _hand_case():
    names = ["a", "b", "c"]
    params = pd.Series([0.4, -1.3, 2.0], index=names)
    root = np.array([[0.3, 0.0, 0.0], [0.1, 0.5, 0.0], [-0.2, 0.05, 0.9]])
    cov = pd.DataFrame(root @ root.T, index=names, columns=names)
    return params, cov


def test_base_numbers_are_the_closed_forms():
    params, cov = _hand_case()
    fit = _Fit(params, cov)
    se = np.sqrt(np.diag(cov.to_numpy()))
    npt.assert_array_equal(fit.bse, se)
    npt.assert_allclose(fit.zvalues, params / se, rtol=1e-15)
    npt.assert_array_equal(fit.tvalues, fit.zvalues)
    npt.assert_allclose(fit.pvalues, 2 * scipy.stats.norm.sf(np.abs(params / se)), rtol=1e-14)
    for alpha in (0.05, 0.1, 0.01):
        q = scipy.stats.norm.ppf(1 - alpha / 2)
        ci = fit.conf_int(alpha)
        assert list(ci.columns) == ["lower", "upper"] and list(ci.index) == list(params.index)
        npt.assert_allclose(ci["lower"], params - q * se, rtol=1e-14)
        npt.assert_allclose(ci["upper"], params + q * se, rtol=1e-14)
        npt.assert_allclose(fit.exp_conf_int(alpha), np.exp(ci), rtol=1e-14)
    npt.assert_allclose(fit.exp_params, np.exp(params), rtol=1e-15)
    table = fit.summary(0.1)
    assert list(table.columns) == [
        "estimate",
        *("std_error", "z", "p_value", "lower", "upper", "ratio", "ratio_lower", "ratio_upper"),
    ]
    npt.assert_allclose(table["ratio_upper"], np.exp(params + 1.6448536269514722 * se))
    assert list(fit.coefficient_table(intervals=False).columns) == [
        *("estimate", "std_error", "z", "p_value", "ratio"),
    ]


def test_base_t_reference():
    params, cov = _hand_case()
    fit = _TFit(params, cov)
    se = np.sqrt(np.diag(cov.to_numpy()))
    npt.assert_allclose(fit.pvalues, 2 * scipy.stats.t.sf(np.abs(params / se), 7), rtol=1e-14)
    q = scipy.stats.t.ppf(0.975, 7)
    npt.assert_allclose(fit.conf_int()["upper"], params + q * se, rtol=1e-14)
    assert list(fit.coefficient_table(intervals=False).columns) == [
        "estimate",
        "std_error",
        "t",
        "p_value",
    ]


@pytest.mark.parametrize(
    "alpha, exc", [(0.0, ValueError), (1.5, ValueError), ("a", TypeError), (None, TypeError)]
)
def test_base_checks_alpha(alpha, exc):
    fit = _Fit(*_hand_case())
    with pytest.raises(exc, match="alpha"):
        fit.conf_int(alpha)
    with pytest.raises(exc, match="alpha"):
        fit.summary(alpha)


def test_model_based_only_fits_refuse_other_variances():
    fit = _Fit(*_hand_case())
    assert fit.with_variance("model") is fit
    npt.assert_array_equal(fit.cov_for("model"), fit.cov)
    with pytest.raises(ValueError, match="variance must be one of 'model'.*msm.bootstrap"):
        fit.with_variance("robust")
    with pytest.raises(ValueError, match="keeps no sandwich pieces"):
        fit.cov_for(msm.inference.ModelBased(dispersion=2.0))


# --- one interface for every results class --------------------------------------------------


@pytest.fixture(scope="module")
def fits():
    df = msm.datasets.simulate_panel(n_subjects=300, n_visits=4, seed=11)
    rng = np.random.default_rng(3)
    df = df.assign(
        a3=rng.integers(0, 3, len(df)),
        dose=0.5 * df["l"] + rng.normal(size=len(df)),
        start=df["time"] - 1.0,
    )
    kw = dict(id="id", time="time")
    out = {}
    w = msm.iptw(df, treatment="a", denominator="x + l", numerator="x", absorbing=True, **kw)
    out["logit"] = w.models["denominator"]
    for family in ("multinomial", "ordinal"):
        wk = msm.iptw(df, treatment="a3", family=family, denominator="x + l", **kw)
        out[family] = wk.models["denominator"]
    wg = msm.iptw(df, treatment="dose", family="gaussian", denominator="x + l", numerator="1", **kw)
    out["gaussian"] = wg.models["denominator"]
    wc = msm.iptw(
        df, treatment="a", model="cox", start="start", absorbing=True, denominator="x + l", **kw
    )
    out["cox_model"] = wc.models["denominator"]
    out["glm"] = msm.glm("y ~ a + x", df, weights=w, cluster="id", family="binomial")
    out["cox"] = cox(
        df, start="start", stop="time", event="y", covariates="a + x", weights=w, cluster="id"
    )
    return out


EXPECTED = {
    "logit": (msm.LogitFit, ["estimate", "std_error", "z", "p_value"]),
    "multinomial": (CategoricalFit, ["estimate", "std_error", "z", "p_value"]),
    "ordinal": (CategoricalFit, ["estimate", "std_error", "z", "p_value"]),
    "gaussian": (GaussianFit, ["estimate", "std_error", "t", "p_value"]),
    "cox_model": (CoxModelFit, ["estimate", "std_error", "z", "p_value", "hazard_ratio"]),
    "glm": (msm.GLMResults, ["estimate", "std_error", "z", "p_value", "lower", "upper"]),
    "cox": (CoxResults, ["estimate", "std_error", "z", "p_value", "lower", "upper"]),
}


@pytest.mark.parametrize("key", list(EXPECTED))
def test_every_results_class_has_one_interface(fits, key):
    fit = fits[key]
    cls, leading = EXPECTED[key]
    assert isinstance(fit, cls) and isinstance(fit, CoefficientResults)
    cov = fit.cov.to_numpy()
    assert list(fit.cov.index) == list(fit.cov.columns) == list(fit.params.index)
    npt.assert_array_equal(fit.bse, np.sqrt(np.diag(cov)))
    npt.assert_array_equal(fit.zvalues, fit.params / fit.bse)
    df = fit.reference_df
    q = scipy.stats.norm.ppf(0.95) if df is None else scipy.stats.t.ppf(0.95, df)
    npt.assert_allclose(fit.conf_int(0.1)["upper"], fit.params + q * fit.bse, rtol=1e-14)
    npt.assert_allclose(fit.exp_conf_int(0.1), np.exp(fit.conf_int(0.1)), rtol=1e-14)
    table = fit.summary()
    assert list(table.columns[: len(leading)]) == leading
    npt.assert_array_equal(table["std_error"], fit.bse)
    npt.assert_array_equal(table["p_value"], fit.pvalues)
    npt.assert_array_equal(fit.cov_for(fit.variance), fit.cov)
    again = fit.with_variance(fit.variance)
    npt.assert_array_equal(again.bse, fit.bse)
    assert again.variance == fit.variance


@pytest.mark.parametrize("key", ["logit", "multinomial", "ordinal", "gaussian", "cox_model"])
def test_treatment_models_report_model_based_variance_only(fits, key):
    fit = fits[key]
    assert fit.variance == "model" and fit.sandwich_parts is None
    with pytest.raises(ValueError, match="variance must be one of 'model'"):
        fit.with_variance("robust")


def test_learner_fit_says_it_has_no_coefficients():
    from sklearn.linear_model import LogisticRegression

    df = msm.datasets.simulate_panel(n_subjects=60, n_visits=3, seed=2)
    w = msm.iptw(df, id="id", time="time", treatment="a", denominator="x + l",
                 model=LogisticRegression())  # fmt: skip
    fit = w.models["denominator"]
    for name in ("params", "bse", "conf_int", "with_variance"):
        with pytest.raises(AttributeError, match="has no coefficients"):
            getattr(fit, name)
    assert not hasattr(fit, "pvalues")
    assert "estimator" in fit.summary().columns


# --- the Cox MSM's variances from its sandwich pieces ---------------------------------------


@pytest.fixture(scope="module")
def survival():
    df = msm.datasets.simulate_panel(n_subjects=400, n_visits=5, seed=4, stop_at_event=True)
    df = df.assign(start=df["time"] - 1.0)
    w = msm.iptw(df, id="id", time="time", treatment="a", denominator="x + l", numerator="x",
                 absorbing=True)  # fmt: skip
    kw = dict(start="start", stop="time", event="y", covariates="a + x", weights=w)
    return df, kw


def test_cox_with_variance_equals_the_fit_with_that_variance(survival):
    df, kw = survival
    robust = cox(df, **kw, cluster="id")
    model = cox(df, **kw, cluster="id", variance="model")
    assert robust.variance == "robust" and model.variance == "model"
    switched = robust.with_variance("model")
    npt.assert_allclose(switched.cov, model.cov, rtol=1e-14)
    npt.assert_allclose(switched.bse, model.bse, rtol=1e-14)
    npt.assert_allclose(switched.summary(), model.summary(), rtol=1e-14)
    back = model.with_variance("robust")
    npt.assert_allclose(back.cov, robust.cov, rtol=1e-14)
    npt.assert_allclose(back.robust_cov, robust.robust_cov, rtol=1e-14)
    npt.assert_allclose(back.conf_int(), robust.conf_int(), rtol=1e-14)
    npt.assert_array_equal(robust.cov_for("model"), robust.naive_cov)
    npt.assert_array_equal(robust.cov_for("cr0"), robust.robust_cov)
    # the naive variance stays R's se(coef) whatever is reported
    npt.assert_array_equal(switched.naive_cov, robust.naive_cov)
    assert "model-based" in repr(switched).splitlines()[-1]
    assert "no small-sample factor" in repr(back).splitlines()[-1]


def test_cox_cr1_is_robust_times_g_over_g_minus_1(survival):
    df, kw = survival
    fit = cox(df, **kw, cluster="id")
    g = fit.n_clusters
    assert g == df["id"].nunique()
    npt.assert_allclose(fit.cov_for("cr1"), fit.robust_cov * g / (g - 1), rtol=1e-14)
    cr1 = cox(df, **kw, cluster="id", variance="cr1")
    assert cr1.variance == "cr1"
    npt.assert_allclose(cr1.cov, fit.robust_cov * g / (g - 1), rtol=1e-14)
    npt.assert_allclose(cr1.robust_cov, fit.robust_cov, rtol=1e-14)
    assert "naive_std_error" in cr1.summary().columns
    assert "G/(G-1)" in repr(cr1).splitlines()[-1]


def test_cox_without_cluster_robust_is_rows_as_clusters(survival):
    df, kw = survival
    model = cox(df, **kw)
    assert model.variance == "model" and model.robust_cov is None
    robust = model.with_variance("robust")
    by_row = cox(df.assign(row=np.arange(len(df))), **kw, cluster="row")
    npt.assert_allclose(robust.cov, by_row.cov, rtol=1e-12)
    npt.assert_allclose(robust.robust_cov, by_row.robust_cov, rtol=1e-12)
    n = model.nobs
    npt.assert_allclose(model.cov_for("cr1"), robust.cov * n / (n - 1), rtol=1e-14)
    assert "each row its own cluster" in repr(robust).splitlines()[-1]


def test_cox_model_variance_treats_weights_as_case_counts(survival):
    df, kw = survival
    fit = cox(df, **kw, cluster="id")
    scaled = cox(df, **{**kw, "weights": msm.weights.resolve_weights(df, kw["weights"]) * 1e-30},
                 cluster="id")  # fmt: skip
    npt.assert_allclose(scaled.robust_cov, fit.robust_cov, rtol=1e-10)
    npt.assert_allclose(scaled.with_variance("model").cov, fit.naive_cov * 1e30, rtol=1e-10)
    npt.assert_allclose(scaled.cov_for("cr1"), fit.cov_for("cr1"), rtol=1e-10)


@pytest.mark.parametrize("variance", ["stacked", "cr1s"])
def test_cox_refuses_what_it_does_not_offer(survival, variance):
    df, kw = survival
    fit = cox(df, **kw, cluster="id")
    with pytest.raises(
        ValueError, match="'robust', 'cr0', 'cr1', 'model', 'bootstrap'.*no stacked"
    ):
        fit.with_variance(variance)
    with pytest.raises(ValueError, match="variance must be one of"):
        cox(df, **kw, cluster="id", variance=variance)


def test_cox_with_bootstrap_variance(survival):
    df, kw = survival
    kw = {**kw, "weights": None}

    def statistic(d):
        return cox(d, **kw, cluster="id").params

    boot = msm.bootstrap(statistic, df, cluster="id", n_boot=20, seed=3, n_jobs=1, progress=False)
    fit = cox(df, **kw, cluster="id").with_variance(Bootstrap(boot))
    assert fit.variance == "bootstrap"
    npt.assert_allclose(fit.bse, boot.bse, rtol=1e-14)
    assert "cluster bootstrap" in repr(fit).splitlines()[-1]


def test_cox_robust_from_the_registry_matches_r(shared_dir):
    """A fit reported model-based, switched to robust, gives R's coxph robust se."""
    data = pd.read_csv(shared_dir / "data" / "ipw" / "haartdat.csv")
    weights = pd.read_csv(shared_dir / "conformance" / "haartdat_survival_weights.csv")
    expected = json.loads((shared_dir / "conformance" / "haartdat_survival.json").read_text())
    r = expected["msm_cox_treatment_x_censoring_weights"]["coefficients"]["haartind"]
    w = weights["ipw_product"].to_numpy()
    fit = cox(data, start="tstart", stop="fuptime", event="event", covariates="haartind",
              weights=w, cluster="patient", variance="model")  # fmt: skip
    assert abs(fit.bse["haartind"] / r["se_naive"] - 1) < 1e-6
    robust = fit.with_variance("robust")
    assert abs(robust.bse["haartind"] / r["se_robust"] - 1) < 1e-6
    assert abs(robust.pvalues["haartind"] / r["p"] - 1) < 1e-5
