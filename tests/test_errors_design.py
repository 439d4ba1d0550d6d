"""Design-matrix edge cases: shifted covariates, real collinearity, a column called Intercept,
the null Cox model and datetime intervals for ``model="cox"`` (issue 10, defects 5, 7, 8, 11).

Every call deep-compares the caller's frame before and after (values, dtypes, index, column
order), including calls that raise.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm


def unchanged(fn, frame, *args, **kwargs):
    """Call ``fn(frame, ...)`` and check ``frame`` is exactly as it was (also if it raises)."""
    before = frame.copy(deep=True)
    columns, dtypes = list(frame.columns), frame.dtypes.copy()
    try:
        return fn(frame, *args, **kwargs)
    finally:
        pd.testing.assert_frame_equal(frame, before, check_exact=True)
        assert list(frame.columns) == columns
        pd.testing.assert_series_equal(frame.dtypes, dtypes)
        assert frame.index.equals(before.index)


def raises(fn, frame, *args, match=None, **kwargs) -> str:
    with pytest.raises(msm.DataError, match=match) as info:
        unchanged(fn, frame, *args, **kwargs)
    return str(info.value)


def point_data(rng, n=3000):
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * x - 0.5 * z)))).astype(float)
    count = rng.poisson(np.exp(0.2 + 0.3 * x))
    return pd.DataFrame({"x": x, "z": z, "y": y, "count": count, "g": y + rng.normal(size=n)})


def panel_data(rng, n_subjects=300, n_visits=6):
    rows = []
    for i in range(n_subjects):
        treated = 0
        level = rng.normal()
        for t in range(n_visits):
            level = 0.6 * level + rng.normal() - 0.3 * treated
            if not treated:
                treated = int(rng.random() < 1 / (1 + np.exp(-(-1.5 + 0.7 * level))))
            rows.append((f"s{i}", t, t - 1.0, treated, level, int(i % 2)))
    frame = pd.DataFrame(rows, columns=["id", "time", "start", "a", "l", "sex"])
    frame["y"] = (rng.random(len(frame)) < 0.1).astype(int)
    return frame


def glm(frame, formula, **kw):
    return msm.glm(formula, frame, **kw)


def iptw(frame, **kw):
    args = dict(id="id", time="time", treatment="a", absorbing=True)
    args.update(kw)
    return msm.iptw(frame, **args)


# --------------------------------------------------------------------------------------------
# defect 7: a covariate far from 0 is not collinear with the intercept, and is fitted exactly


@pytest.mark.parametrize("shift", [1e5, 1e8])
@pytest.mark.parametrize(
    ("family", "outcome"), [("binomial", "y"), ("gaussian", "g"), ("poisson", "count")]
)
def test_glm_shifted_covariate_fits_as_unshifted(rng, shift, family, outcome):
    data = point_data(rng)
    data["xs"] = data["x"] + shift
    base = unchanged(glm, data, f"{outcome} ~ x + z", family=family)
    moved = unchanged(glm, data, f"{outcome} ~ xs + z", family=family)
    # the slope: to the digits that x + shift keeps of x (rounding of the shifted values)
    rtol = 1e-8 if shift == 1e5 else 1e-6
    npt.assert_allclose(moved.params["xs"], base.params["x"], rtol=rtol)
    npt.assert_allclose(moved.params["z"], base.params["z"], rtol=rtol)
    # the intercept is the unshifted one moved by shift * slope
    npt.assert_allclose(
        moved.params["Intercept"] + shift * moved.params["xs"],
        base.params["Intercept"],
        rtol=rtol,
        atol=rtol * shift * abs(base.params["x"]) * 1e-6,
    )
    npt.assert_allclose(moved.deviance, base.deviance, rtol=1e-10)


def test_glm_shifted_covariate_r_convergence(rng):
    data = point_data(rng)
    data["xs"] = data["x"] + 1e5
    base = unchanged(glm, data, "y ~ x", family="binomial", convergence="r")
    moved = unchanged(glm, data, "y ~ xs", family="binomial", convergence="r")
    npt.assert_allclose(moved.params["xs"], base.params["x"], rtol=1e-8)


@pytest.mark.parametrize("shift", [1e5, 1e8])
def test_logit_treatment_model_shifted_covariate(rng, shift):
    data = panel_data(rng)
    data["ls"] = data["l"] + shift
    base = unchanged(iptw, data, denominator="l + sex", numerator="sex")
    moved = unchanged(iptw, data, denominator="ls + sex", numerator="sex")
    npt.assert_allclose(moved.weights.to_numpy(), base.weights.to_numpy(), rtol=1e-7)
    den_base, den_moved = base.models["denominator"], moved.models["denominator"]
    npt.assert_allclose(den_moved.params["ls"], den_base.params["l"], rtol=1e-7)
    # model-based standard errors of the slopes come from the centred fit: the same
    npt.assert_allclose(den_moved.bse["ls"], den_base.bse["l"], rtol=1e-7)
    npt.assert_allclose(den_moved.bse["sex"], den_base.bse["sex"], rtol=1e-7)


def test_covariates_at_1e8_in_the_treatment_model(rng):
    data = panel_data(rng)
    data["big"] = 1e8 + 10.0 * data["l"]
    base = unchanged(iptw, data, denominator="l", numerator="1")
    moved = unchanged(iptw, data, denominator="big", numerator="1")
    npt.assert_allclose(moved.weights.to_numpy(), base.weights.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("shift", [1e5, 1e8])
def test_cox_shifted_covariate(rng, shift):
    data = panel_data(rng)
    data["ls"] = data["l"] + shift
    kw = dict(start="start", stop="time", event="y", cluster="id")
    base = unchanged(msm.cox, data, covariates="a + l", **kw)
    moved = unchanged(msm.cox, data, covariates="a + ls", **kw)
    rtol = 1e-8 if shift == 1e5 else 1e-6  # x + 1e8 keeps x to about 1.5e-8 only
    npt.assert_allclose(moved.params.to_numpy(), base.params.to_numpy(), rtol=rtol)
    npt.assert_allclose(moved.bse.to_numpy(), base.bse.to_numpy(), rtol=rtol)
    base_w = unchanged(iptw, data, model="cox", start="start", denominator="l", numerator="1")
    moved_w = unchanged(iptw, data, model="cox", start="start", denominator="ls", numerator="1")
    npt.assert_allclose(moved_w.weights.to_numpy(), base_w.weights.to_numpy(), rtol=rtol)


# real collinearity is still found, and named


@pytest.mark.parametrize("shift", [0.0, 1e5])
def test_glm_real_collinearity_is_named(rng, shift):
    data = point_data(rng)
    data["x1"] = data["x"] + shift
    data["x2"] = 2 * data["x1"] + 3
    message = raises(glm, data, "y ~ x1 + z + x2", family="binomial", match="collinear")
    assert "'x1'" in message and "'x2'" in message and "'z'" not in message


def test_iptw_real_collinearity_is_named(rng):
    data = panel_data(rng)
    data["l2"] = 2 * data["l"] + 3
    message = raises(iptw, data, denominator="l + sex + l2", numerator="sex", match="collinear")
    assert "'l'" in message and "'l2'" in message


def test_cox_real_collinearity_is_named(rng):
    data = panel_data(rng)
    data["l2"] = 2 * data["l"] + 3
    message = raises(
        msm.cox,
        data,
        start="start",
        stop="time",
        event="y",
        covariates="a + l + l2",
        match="collinear",
    )
    assert "'l'" in message and "'l2'" in message


@pytest.mark.parametrize("value", [1.0, 3.3, 1e8 + 0.1])
def test_glm_column_constant_on_the_rows_fitted(rng, value):
    data = point_data(rng)
    n = len(data)
    weights = np.ones(n)
    weights[: n // 3] = 0.0  # these rows do not inform the fit
    data["c"] = value
    data.loc[data.index[: n // 3], "c"] = rng.normal(size=n // 3)  # varies only there
    message = raises(
        glm,
        data,
        "y ~ x + c",
        family="binomial",
        weights=weights,
        match=rf"constant on the {n - n // 3} rows fitted",
    )
    assert "'c'" in message and "'x'" not in message


def test_iptw_column_constant_on_the_risk_set(rng):
    data = panel_data(rng)
    data["c"] = 2.0
    message = raises(iptw, data, denominator="l + c", numerator="1", match="constant on the")
    assert "'c'" in message and "'l'" not in message


def test_dummy_trap_is_collinear(rng):
    data = point_data(rng)
    data["a"] = (data["x"] > 0).astype(float)
    data["b"] = 1.0 - data["a"]
    message = raises(glm, data, "y ~ a + b", family="binomial", match="collinear")
    assert "'a'" in message and "'b'" in message


# --------------------------------------------------------------------------------------------
# defect 8: a covariate called "Intercept" is a covariate


def test_cox_keeps_a_covariate_named_intercept(rng):
    data = panel_data(rng)
    renamed = data.rename(columns={"l": "Intercept"})
    kw = dict(start="start", stop="time", event="y")
    base = unchanged(msm.cox, data, covariates=["a", "l"], **kw)
    for covariates in (["a", "Intercept"], "a + Intercept"):
        fit = unchanged(msm.cox, renamed, covariates=covariates, **kw)
        assert list(fit.params.index) == ["a", "Intercept"]
        npt.assert_allclose(fit.params.to_numpy(), base.params.to_numpy(), rtol=1e-12)
    only = unchanged(msm.cox, renamed, covariates="Intercept", **kw)
    assert list(only.params.index) == ["Intercept"]


def test_cox_treatment_model_keeps_a_covariate_named_intercept(rng):
    data = panel_data(rng)
    renamed = data.rename(columns={"l": "Intercept"})
    kw = dict(model="cox", start="start", numerator="sex")
    base = unchanged(iptw, data, denominator="sex + l", **kw)
    fit = unchanged(iptw, renamed, denominator="sex + Intercept", **kw)
    assert "Intercept" in fit.models["denominator"].params.index
    npt.assert_allclose(fit.weights.to_numpy(), base.weights.to_numpy(), rtol=1e-12)


def test_formulaic_clash_with_the_intercept_column_is_an_error(rng):
    data = panel_data(rng).rename(columns={"l": "Intercept"})
    data["grp"] = np.where(data["sex"] == 1, "f", "m")
    message = raises(
        msm.cox, data, start="start", stop="time", event="y", covariates="Intercept + C(grp)"
    )
    assert "'Intercept'" in message and "rename" in message
    message = raises(iptw, data, denominator="Intercept + C(grp)", numerator="1")
    assert "'Intercept'" in message


def test_ordinal_model_keeps_a_covariate_named_intercept(rng):
    data = panel_data(rng, n_subjects=200, n_visits=3)
    data["dose"] = np.digitize(data["l"] + rng.normal(size=len(data)), [-0.5, 0.5])
    renamed = data.rename(columns={"l": "Intercept"})
    kw = dict(treatment="dose", family="ordinal", absorbing=False, numerator="sex")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = unchanged(iptw, data, denominator="sex + l", **kw)
        fit = unchanged(iptw, renamed, denominator="sex + Intercept", **kw)
    assert "Intercept" in fit.models["denominator"].params.index
    npt.assert_allclose(fit.weights.to_numpy(), base.weights.to_numpy(), rtol=1e-8)


def test_learner_keeps_a_feature_named_intercept(rng):
    sklearn = pytest.importorskip("sklearn.linear_model")
    data = panel_data(rng, n_subjects=100, n_visits=4)
    renamed = data.rename(columns={"l": "Intercept"})
    fit = unchanged(
        iptw,
        renamed,
        denominator="Intercept + sex",
        numerator=None,
        model=sklearn.LogisticRegression(),
    )
    assert "Intercept" in fit.models["denominator"].features


def test_balance_keeps_a_covariate_named_intercept(rng):
    data = panel_data(rng)
    renamed = data.rename(columns={"l": "Intercept"})
    w = unchanged(iptw, renamed, denominator="Intercept + sex", numerator="sex")
    b = unchanged(msm.balance, renamed, treatment="a", covariates=["Intercept", "sex"], weights=w)
    assert "Intercept" in set(b.table["covariate"])


def test_reweighted_association_names_a_covariate_called_intercept(rng):
    data = panel_data(rng)
    renamed = data.rename(columns={"l": "Intercept"})
    w = unchanged(iptw, renamed, denominator="Intercept + sex", numerator="1")
    message = raises(
        msm.reweighted_association, renamed, treatment="a", covariates=["Intercept"], weights=w
    )
    assert "'Intercept'" in message and "rename" in message


# --------------------------------------------------------------------------------------------
# defect 5 (Cox part): datetime start and time for model="cox"


def test_cox_treatment_model_with_datetime_intervals(rng):
    data = panel_data(rng)
    data["time"] = data["time"] * 30
    data["start"] = data["time"] - 30
    origin = pd.Timestamp("2015-06-01")
    dated = data.assign(
        start=origin + pd.to_timedelta(data["start"], unit="D"),
        time=origin + pd.to_timedelta(data["time"], unit="D"),
    )
    kw = dict(model="cox", start="start", denominator="l + sex", numerator="sex")
    base = unchanged(iptw, data, **kw)
    fit = unchanged(iptw, dated, **kw)
    npt.assert_array_equal(fit.weights.to_numpy(), base.weights.to_numpy())
    assert fit.weights.index.equals(dated.index)


def test_cox_treatment_model_datetime_start_with_numeric_time(rng):
    data = panel_data(rng)
    dated = data.assign(start=pd.Timestamp("2015-06-01") + pd.to_timedelta(data["start"], "D"))
    message = raises(iptw, dated, model="cox", start="start", denominator="l", numerator="1")
    assert "'start'" in message and "datetime" in message and "numeric" in message
