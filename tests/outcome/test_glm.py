"""msm.glm (msm.outcome.glm_model): against statsmodels GLM, the input contract, validation.

Also the results object.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import statsmodels.api as sm

from msm import inference
from msm.inference import ModelBased, covariance_estimator
from msm.models import ConvergenceWarning, SeparationWarning
from msm.outcome import GLMResults, glm
from msm.panel import DataError

SM_FAMILIES = {
    "gaussian": sm.families.Gaussian,
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
}


def simulate(rng, n=4000, n_clusters=400) -> pd.DataFrame:
    """Clustered rows with a random effect per cluster, so clustering matters."""
    cluster = rng.integers(0, n_clusters, size=n)
    u = rng.normal(scale=0.5, size=n_clusters)[cluster]
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, size=n)
    eta = 0.3 + 0.5 * x1 - 0.4 * x2 + u
    person_time = rng.uniform(0.5, 3.0, size=n)
    return pd.DataFrame(
        {
            "id": cluster,
            "x1": x1,
            "x2": x2,
            "w": rng.lognormal(sigma=0.5, size=n),
            "yg": eta + rng.normal(size=n),
            "yb": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int),
            "yp": rng.poisson(np.exp(eta - 0.5) * person_time),
            "log_t": np.log(person_time),
        }
    )


@pytest.fixture
def data(rng) -> pd.DataFrame:
    return simulate(rng)


def sm_fit(data, outcome, family, weights_kind, offset=None, **fit_kwargs):
    X = sm.add_constant(data[["x1", "x2"]].astype(float))
    model = sm.GLM(
        data[outcome],
        X,
        family=SM_FAMILIES[family](),
        offset=None if offset is None else data[offset],
        **{weights_kind: data["w"]},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cov_type not fully supported with freq_weights"
        return model.fit(tol=1e-12, **fit_kwargs)


CASES = [("gaussian", "yg", None), ("poisson", "yp", None), ("poisson", "yp", "log_t")]
CASES_IDS = ["gaussian", "poisson", "poisson-offset"]


# --- statsmodels ------------------------------------------------------------------------------


@pytest.mark.parametrize("family, outcome, offset", [*CASES, ("binomial", "yb", None)])
def test_params_equal_statsmodels_freq_weights(family, outcome, offset, data):
    fit = glm(f"{outcome} ~ x1 + x2", data, weights="w", family=family, offset=offset)
    ref = sm_fit(data, outcome, family, "freq_weights", offset)
    npt.assert_allclose(fit.params, ref.params, rtol=1e-9, atol=1e-12)
    npt.assert_allclose(fit.deviance, ref.deviance, rtol=1e-9)
    assert fit.converged


@pytest.mark.parametrize("family, outcome, offset", CASES, ids=CASES_IDS)
def test_cr1s_equals_statsmodels_cluster(family, outcome, offset, data):
    # statsmodels cov_type="cluster" (with its default corrections) is G/(G-1) (n-1)/(n-k)
    fit = glm(f"{outcome} ~ x1 + x2", data, weights="w", cluster="id", family=family, offset=offset)
    ref = sm_fit(
        data,
        outcome,
        family,
        "freq_weights",
        offset,
        cov_type="cluster",
        cov_kwds={"groups": data["id"]},
    )
    npt.assert_allclose(fit.with_variance("cr1s").bse, ref.bse, rtol=1e-8)
    # and the robust default is the same sandwich without the factor
    g, n, k = fit.n_clusters, fit.nobs, len(fit.params)
    npt.assert_allclose(fit.bse**2 * g / (g - 1) * (n - 1) / (n - k), ref.bse**2, rtol=1e-8)


@pytest.mark.parametrize("family, outcome, offset", CASES, ids=CASES_IDS)
def test_robust_without_cluster_equals_statsmodels_hc0(family, outcome, offset, data):
    fit = glm(f"{outcome} ~ x1 + x2", data, weights="w", family=family, offset=offset)
    ref = sm_fit(data, outcome, family, "var_weights", offset, cov_type="HC0")
    assert fit.cluster is None and fit.n_clusters == len(data)
    npt.assert_allclose(fit.bse, ref.bse, rtol=1e-8)


@pytest.mark.parametrize("family, outcome, offset", CASES, ids=CASES_IDS)
def test_model_variance_equals_statsmodels_pearson_scale(family, outcome, offset, data):
    fit = glm(
        f"{outcome} ~ x1 + x2", data, weights="w", family=family, offset=offset, variance="model"
    )
    ref = sm_fit(data, outcome, family, "var_weights", offset, scale="X2")
    npt.assert_allclose(fit.bse, ref.bse, rtol=1e-8)
    npt.assert_allclose(fit.dispersion, ref.scale, rtol=1e-8)


def test_model_variance_with_unit_dispersion_equals_statsmodels_poisson(data):
    fit = glm("yp ~ x1 + x2", data, weights="w", family="poisson", variance=ModelBased(1.0))
    ref = sm_fit(data, "yp", "poisson", "var_weights")
    npt.assert_allclose(fit.bse, ref.bse, rtol=1e-8)


def test_gaussian_model_variance_by_hand(data):
    fit = glm("yg ~ x1 + x2", data, weights="w", family="gaussian", variance="model")
    X = np.column_stack([np.ones(len(data)), data["x1"], data["x2"]])
    w, y = data["w"].to_numpy(), data["yg"].to_numpy()
    xtwx = X.T @ (X * w[:, None])
    beta = np.linalg.solve(xtwx, X.T @ (w * y))
    sigma2 = np.sum(w * (y - X @ beta) ** 2) / (len(y) - 3)
    npt.assert_allclose(fit.params, beta, rtol=1e-10)
    npt.assert_allclose(fit.cov, sigma2 * np.linalg.inv(xtwx), rtol=1e-9)


# --- sandwich pieces --------------------------------------------------------------------------


def test_sandwich_rebuilt_from_score_rows_and_bread(data):
    fit = glm("yb ~ x1 + x2", data, weights="w", cluster="id", family="binomial")
    rows = fit.score_rows()
    assert rows.shape == (len(data), 3)
    assert rows.index.equals(data.index)
    npt.assert_allclose(rows.sum(), 0.0, atol=1e-8 * np.abs(rows).sum().max())
    U = rows.groupby(data["id"].to_numpy()).sum().to_numpy()
    bread = fit.bread().to_numpy()
    npt.assert_allclose(fit.cov, bread @ U.T @ U @ bread, rtol=1e-10)
    # the bread is the inverse of X' diag(w mu (1 - mu)) X
    X = np.column_stack([np.ones(len(data)), data["x1"], data["x2"]])
    mu = fit.fitted_values.to_numpy()
    info = X.T @ (X * (data["w"].to_numpy() * mu * (1 - mu))[:, None])
    npt.assert_allclose(bread, np.linalg.inv(info), rtol=1e-9)


def test_small_sample_factors(data):
    fit = glm("yb ~ x1 + x2", data, weights="w", cluster="id", family="binomial")
    g, n, k = fit.n_clusters, fit.nobs, 3
    npt.assert_allclose(fit.cov_for("cr1"), fit.cov * g / (g - 1), rtol=1e-14)
    npt.assert_allclose(fit.cov_for("cr1s"), fit.cov * g / (g - 1) * (n - 1) / (n - k))
    npt.assert_allclose(fit.cov_for("cr0"), fit.cov)
    npt.assert_allclose(fit.cov_for("model"), fit.dispersion * fit.bread())


def test_robust_variance_is_invariant_to_weight_scale(data):
    a = glm("yb ~ x1 + x2", data, weights="w", cluster="id", family="binomial")
    huge = glm("yb ~ x1 + x2", data, weights=data["w"] * 1e9, cluster="id", family="binomial")
    npt.assert_allclose(huge.params, a.params, rtol=1e-10)
    npt.assert_allclose(huge.bse, a.bse, rtol=1e-10)
    assert huge.sum_weights == pytest.approx(a.sum_weights * 1e9)


def test_zero_weight_rows_are_the_same_as_dropped_rows(data, rng):
    weights = data["w"].to_numpy().copy()
    weights[rng.random(len(data)) < 0.2] = 0.0
    weights[(data["id"] == 7).to_numpy()] = 0.0  # a whole cluster with weight 0
    kept = data[weights > 0]
    for variance in ["robust", "cr1", "cr1s", "model"]:
        full = glm(
            "yb ~ x1 + x2",
            data,
            weights=weights,
            cluster="id",
            family="binomial",
            variance=variance,
        )
        dropped = glm(
            "yb ~ x1 + x2",
            kept,
            weights=weights[weights > 0],
            cluster="id",
            family="binomial",
            variance=variance,
        )
        npt.assert_allclose(full.params, dropped.params, rtol=1e-10)
        npt.assert_allclose(full.bse, dropped.bse, rtol=1e-10)
    assert full.nobs == len(kept) and full.n_rows == len(data)
    assert full.n_clusters == kept["id"].nunique()
    assert "with weight 0" in repr(full)


def test_inference_helpers(rng):
    rows = rng.normal(size=(50, 3))
    codes = rng.integers(0, 7, size=50)
    U = inference.cluster_scores(rows, codes, 7)
    npt.assert_allclose(U, pd.DataFrame(rows).groupby(codes).sum().reindex(range(7), fill_value=0))
    npt.assert_allclose(inference.meat(U), U.T @ U)
    A = rows.T @ rows
    npt.assert_allclose(inference.bread(A) @ A, np.eye(3), atol=1e-12)
    cov = inference.sandwich(inference.bread(A), inference.meat(U))
    npt.assert_array_equal(cov, cov.T)
    with pytest.raises(ValueError, match="codes must be in 0 .. 6"):
        inference.cluster_scores(rows, codes + 1, 7)
    with pytest.raises(ValueError, match="one entry per score row"):
        inference.cluster_scores(rows, codes[:-1], 7)


def test_model_variance_needs_residual_df():
    frame = pd.DataFrame({"y": [1.0, 2.0, 4.0], "x": [0.0, 1.0, 3.0], "z": [1.0, 0.0, 5.0]})
    fit = glm("y ~ x + z", frame)  # 3 rows, 3 parameters: an exact fit
    assert fit.df_resid == 0 and np.isnan(fit.dispersion)
    with pytest.raises(ValueError, match="no residual degrees of freedom"):
        fit.cov_for("model")
    with pytest.raises(ValueError, match="more rows"):
        fit.cov_for("cr1s")
    assert np.isfinite(fit.cov_for(ModelBased(dispersion=1.0)).to_numpy()).all()


# --- the input contract -----------------------------------------------------------------------


def test_caller_frame_is_not_modified(data):
    frame = data.copy()
    frame.index = pd.Index([f"r{i}" for i in range(len(frame))])
    frame["g"] = frame["id"].map(lambda v: f"subject-{v}")
    before = frame.copy(deep=True)
    glm("yb ~ x1 + C(x2)", frame, weights="w", cluster="g", family="binomial")
    glm("yp ~ x1 + x2", frame, weights=frame["w"].to_numpy(), family="poisson", offset="log_t")
    pd.testing.assert_frame_equal(frame, before)
    assert list(frame.columns) == list(before.columns)


@pytest.mark.parametrize("family, outcome", [("gaussian", "yg"), ("binomial", "yb")])
def test_shuffled_rows_give_the_same_answer(family, outcome, data, rng):
    fit = glm(f"{outcome} ~ x1 + x2", data, weights="w", cluster="id", family=family)
    shuffled = data.sample(frac=1.0, random_state=rng.integers(2**32))
    again = glm(f"{outcome} ~ x1 + x2", shuffled, weights="w", cluster="id", family=family)
    npt.assert_allclose(again.params, fit.params, rtol=1e-10)
    npt.assert_allclose(again.cov, fit.cov, rtol=1e-9)
    # per-row outputs follow the caller's rows
    assert again.fitted_values.index.equals(shuffled.index)
    npt.assert_allclose(again.fitted_values.loc[data.index], fit.fitted_values, rtol=1e-10)
    npt.assert_allclose(again.score_rows().loc[data.index], fit.score_rows(), rtol=1e-8, atol=1e-12)


def test_plain_columns_and_formulaic_designs_agree(data):
    frame = data.assign(**{"x.2": data["x2"]})
    plain = glm("yb ~ x1 + `x.2`", frame, weights="w", cluster="id", family="binomial")
    through_formulaic = glm("yb ~ I(x1) + x2", frame, weights="w", cluster="id", family="binomial")
    assert list(plain.params.index) == ["Intercept", "x1", "x.2"]
    npt.assert_allclose(plain.params.to_numpy(), through_formulaic.params.to_numpy(), rtol=1e-12)
    npt.assert_allclose(plain.bse.to_numpy(), through_formulaic.bse.to_numpy(), rtol=1e-12)
    no_intercept = glm("yg ~ 0 + x1 + x2", data)
    assert list(no_intercept.params.index) == ["x1", "x2"]


def test_cluster_labels_of_any_type(data):
    by_int = glm("yb ~ x1 + x2", data, cluster="id", family="binomial")
    labelled = data.assign(id=data["id"].map(lambda v: f"p{v:04d}"))
    by_str = glm("yb ~ x1 + x2", labelled, cluster="id", family="binomial")
    npt.assert_allclose(by_str.bse, by_int.bse, rtol=1e-10)


# --- validation -------------------------------------------------------------------------------


def test_missing_columns_are_named(data):
    with pytest.raises(DataError, match="'nope'"):
        glm("nope ~ x1", data)
    with pytest.raises(DataError, match="'x9'"):
        glm("yg ~ x1 + x9", data)
    with pytest.raises(DataError, match="'patient'"):
        glm("yg ~ x1", data, cluster="patient")
    with pytest.raises(DataError, match="'wt'"):
        glm("yg ~ x1", data, weights="wt")
    with pytest.raises(DataError, match="'t'"):
        glm("yp ~ x1", data, family="poisson", offset="t")


@pytest.mark.parametrize("column, value", [("x1", np.nan), ("yg", np.inf), ("id", np.nan)])
def test_non_finite_values_are_named(column, value, data):
    frame = data.astype({"id": float})
    frame.loc[frame.index[[3, 10]], column] = value
    with pytest.raises(DataError, match=f"column '{column}'") as info:
        glm("yg ~ x1 + x2", frame, cluster="id")
    assert info.value.column == column
    no_cluster = frame.drop(columns="id") if column != "id" else None
    if no_cluster is not None:  # without clusters the offending rows are named
        with pytest.raises(DataError, match="rows 3, 10"):
            glm("yg ~ x1 + x2", no_cluster)


@pytest.mark.parametrize("bad", [2.0, -1.0, 1.5])
def test_binomial_outcome_out_of_range(bad, data):
    frame = data.astype({"yb": float})
    frame.loc[frame.index[5], "yb"] = bad
    with pytest.raises(DataError, match="binomial outcome must be 0/1") as info:
        glm("yb ~ x1", frame, cluster="id", family="binomial")
    assert info.value.ids == [frame["id"].iloc[5]]


def test_binomial_accepts_proportions_and_bool(data):
    proportions = data.assign(yb=data["yb"] * 0.5 + 0.25)
    assert glm("yb ~ x1", proportions, family="binomial").converged
    as_bool = data.assign(yb=data["yb"].astype(bool))
    npt.assert_allclose(
        glm("yb ~ x1", as_bool, family="binomial").params,
        glm("yb ~ x1", data, family="binomial").params,
    )


def test_poisson_outcome_negative(data):
    frame = data.assign(yp=data["yp"] - (data.index == 8))
    frame.loc[frame.index[8], "yp"] = -1
    with pytest.raises(DataError, match="poisson outcome must be >= 0"):
        glm("yp ~ x1", frame, family="poisson")


def test_constant_outcome(data):
    with pytest.raises(DataError, match="0 on every row"):
        glm("yb ~ x1", data.assign(yb=0), family="binomial")
    with pytest.raises(DataError, match="0 on every row"):
        glm("yp ~ x1", data.assign(yp=0), family="poisson")


def test_bad_weights(data):
    with pytest.raises(DataError, match="every weight is 0"):
        glm("yg ~ x1", data, weights=np.zeros(len(data)))
    with pytest.raises(DataError, match=">= 0"):
        glm("yg ~ x1", data, weights=-data["w"].to_numpy())


def test_collinear_design(data):
    frame = data.assign(x3=2 * data["x1"] - 1)
    with pytest.raises(DataError, match="collinear"):
        glm("yb ~ x1 + x3", frame, family="binomial")


def test_bad_arguments(data):
    with pytest.raises(ValueError, match="family must be one of"):
        glm("yg ~ x1", data, family="gamma")
    with pytest.raises(ValueError, match="variance must be one of"):
        glm("yg ~ x1", data, variance="hc3")
    with pytest.raises(ValueError, match="one '~'"):
        glm("x1 + x2", data)
    with pytest.raises(TypeError, match="DataFrame"):
        glm("yg ~ x1", data.to_numpy())
    with pytest.raises(ValueError, match="needs more than 1"):
        glm("yg ~ x1", data.assign(one=1), cluster="one")


# --- convergence ------------------------------------------------------------------------------


def test_not_converged_warns_with_the_model_name(data):
    with pytest.warns(ConvergenceWarning, match="outcome model yb ~ x1"):
        fit = glm("yb ~ x1", data, family="binomial", max_iter=1)
    assert not fit.converged
    assert "NOT converged" in repr(fit)


def test_separation_warns(rng):
    x = np.linspace(-1, 1, 60)
    frame = pd.DataFrame({"y": (x > 0).astype(int), "x": x})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(SeparationWarning, match="'x'"):
            glm("y ~ x", frame, family="binomial")


def test_poisson_far_from_start_converges(rng):
    # large counts: the first Newton step from the intercept-only start overshoots
    x = rng.uniform(0, 3, size=500)
    frame = pd.DataFrame({"x": x, "y": rng.poisson(np.exp(1 + 2.5 * x))})
    fit = glm("y ~ x", frame, family="poisson")
    ref = sm.GLM(frame["y"], sm.add_constant(frame["x"]), family=sm.families.Poisson()).fit(
        tol=1e-12
    )
    npt.assert_allclose(fit.params, ref.params, rtol=1e-9)


# --- the results object -----------------------------------------------------------------------


def test_results_surface(data):
    fit = glm("yb ~ x1 + x2", data, weights="w", cluster="id", family="binomial")
    assert isinstance(fit, GLMResults)
    names = ["Intercept", "x1", "x2"]
    for series in (fit.params, fit.bse, fit.pvalues, fit.zvalues, fit.exp_params):
        assert list(series.index) == names
    assert list(fit.cov.index) == names and list(fit.cov.columns) == names
    ci = fit.conf_int(alpha=0.1)
    assert list(ci.columns) == ["lower", "upper"]
    assert (ci["lower"] < fit.params).all() and (fit.params < ci["upper"]).all()
    assert (fit.conf_int(0.01)["lower"] < ci["lower"]).all()
    table = fit.summary()
    assert list(table.columns) == [
        "estimate",
        "std_error",
        "z",
        "p_value",
        "lower",
        "upper",
        "exp_estimate",
        "exp_lower",
        "exp_upper",
    ]
    npt.assert_allclose(table["exp_upper"], np.exp(fit.conf_int()["upper"]))
    assert fit.nobs == len(data) and fit.n_clusters == data["id"].nunique()
    assert fit.sum_weights == pytest.approx(data["w"].sum())
    text = repr(fit)
    for piece in [
        f"{len(data)} rows",
        f"{fit.n_clusters} clusters",
        "sum of weights",
        "cluster-robust sandwich by 'id'",
        "no small-sample factor",
    ]:
        assert piece in text
    assert "exp_estimate" in str(fit)
    assert "G/(G-1)" in repr(fit.with_variance("cr1"))
    assert "dispersion" in repr(fit.with_variance("model")).splitlines()[-1]


def test_gaussian_summary_has_no_exp_columns(data):
    table = glm("yg ~ x1", data).summary()
    assert "exp_estimate" not in table.columns
    assert glm("yg ~ x1", data).variance == "robust"


def test_variance_by_instance_and_unknown_key():
    assert covariance_estimator(ModelBased(2.0)).dispersion == 2.0
    with pytest.raises(ValueError, match="'robust', 'cr0', 'cr1'"):
        covariance_estimator("sandwich")
