"""Adversarial inputs for msm.glm, msm.cox's arguments, msm.risk_curves and msm.bootstrap.

Issue 10, red-team holes: complete separation (a DataError naming the separating column, not
numpy's LinAlgError), arguments that are not columns (max_iter, tol, alpha, seed, times, ...)
checked before any work, covariates and outcomes at extreme scales (the right answer, or a
DataError saying the scale is out of range), an expression as the outcome, and risk curves of
a model with a shifted covariate (computed on the fit's centred design).  Every call goes
through ``call``, which deep-compares the caller's frames before and after, also when it
raises.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm
from msm import inference
from tests.adversarial_cases import IPTW, call, panel, point, unchanged


def raises(exc, func, *args, column=None, contains=(), absent=(), **kwargs):
    """``func`` raises ``exc`` (the caller's frames unchanged); a DataError names ``column``."""
    with pytest.raises(exc) as info:
        call(func, *args, **kwargs)
    err = info.value
    message = str(err)
    if exc is msm.DataError:
        assert err.column == column, (err.column, message)
        if column is not None:
            assert f"column {column!r}" in message, message
    for word in contains:
        assert word in message, (word, message)
    for word in absent:
        assert word not in message, (word, message)
    assert not isinstance(err, np.linalg.LinAlgError)
    return err


def quiet(func, *args, **kwargs):
    """``call`` with msm's warnings silenced (ConvergenceWarning is an error in the tests)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(func, *args, **kwargs)


@pytest.fixture(scope="module")
def cohort():
    """simulate_panel(100, seed=1) and its weights (the red team's frame)."""
    d = msm.datasets.simulate_panel(n_subjects=100, seed=1)
    return d, msm.iptw(d, **IPTW)


# ---------------------------------------------------------------------------------------------
# 1. complete separation: a DataError naming the separating column


def test_glm_complete_separation_names_the_column(cohort):
    d, w = cohort
    data = d.assign(sep=2 * d["y"] - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # raised before any warning: no false "converged"
        raises(
            msm.DataError,
            msm.glm,
            "y ~ a + sep",
            data,
            family="binomial",
            weights=w,
            cluster="id",
            column="sep",
            contains=("monotone", "complete separation", "'sep' (coef", "drop, coarsen"),
        )


@pytest.mark.parametrize("variance", ["robust", "cr1", "model"])
def test_glm_separation_without_weights_or_clusters(variance):
    d = panel()
    data = d.assign(sep=1 - 2 * d["y"])
    raises(
        msm.DataError,
        msm.glm,
        "y ~ sep + x",
        data,
        family="binomial",
        variance=variance,
        column="sep",
        contains=("monotone",),
    )


def test_treatment_model_separation_still_gives_weights_with_a_warning():
    """A separated treatment model keeps its warning (the weights exist); only a reported
    covariance (glm) makes separation an error."""
    p = point().assign(sep=lambda f: 2.0 * f["a"] - 1.0)
    with pytest.warns(msm.SeparationWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", msm.ConvergenceWarning)
        w = call(msm.iptw, p, id="id", time=None, treatment="a", denominator="x + sep")
    assert np.all(np.isfinite(w.weights))


def test_stacked_variance_with_a_separated_weight_model_names_the_model():
    p = point().assign(sep=lambda f: 2.0 * f["a"] - 1.0)
    w = quiet(msm.iptw, p, id="id", time=None, treatment="a", denominator="x + sep")
    err = raises(
        msm.DataError,
        msm.glm,
        "y ~ a",
        p,
        weights=w,
        variance="stacked",
        contains=("variance='stacked'", "denominator model", "'sep'", "variance='robust'"),
    )
    assert err.column is None


def test_singular_information_is_a_data_error_naming_the_parameters():
    info = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    with pytest.raises(msm.DataError, match=r"\['a', 'b'\]"):
        inference.bread(info, ["a", "b", "c"])
    parts = inference.SandwichParts(
        ["a", "b", "c"], info, np.eye(3), n_obs=10, n_clusters=10, cluster=None, dispersion=1.0
    )
    for estimator in ("robust", "cr1", "model"):
        with pytest.raises(msm.DataError, match="singular"):
            inference.covariance_estimator(estimator).cov(parts)
    with pytest.raises(msm.DataError, match="parameter 0"):
        inference.bread(np.zeros((2, 2)))


# ---------------------------------------------------------------------------------------------
# 2. arguments that are not columns, checked before any work


BAD_FIT_OPTIONS = [
    (dict(max_iter=-1), ValueError, "max_iter=-1"),
    (dict(max_iter=0), ValueError, "max_iter=0"),
    (dict(max_iter=1.5), TypeError, "max_iter=1.5"),
    (dict(max_iter="3"), TypeError, "max_iter='3'"),
    (dict(max_iter=True), TypeError, "max_iter=True"),
    (dict(tol=-1), ValueError, "tol=-1"),
    (dict(tol=0), ValueError, "tol=0"),
    (dict(tol=np.nan), ValueError, "tol=nan"),
    (dict(tol=np.inf), ValueError, "tol=inf"),
    (dict(tol="x"), TypeError, "tol='x'"),
]


@pytest.mark.parametrize("kwargs, exc, shown", BAD_FIT_OPTIONS)
def test_glm_fit_options(kwargs, exc, shown):
    d = panel()
    raises(exc, msm.glm, "y ~ a", d, family="binomial", contains=(shown,), **kwargs)
    # before any work: the bad argument is reported even when the data is not a frame
    raises(exc, msm.glm, "y ~ a", None, contains=(shown,), **kwargs)


@pytest.mark.parametrize("kwargs, exc, shown", BAD_FIT_OPTIONS)
def test_cox_fit_options(kwargs, exc, shown):
    d = panel()
    s = d.assign(start=d["time"].astype(float), stop=d["time"] + 1.0)
    cols = dict(start="start", stop="stop", event="y", covariates="a + x")
    raises(exc, msm.cox, s, contains=(shown,), **cols, **kwargs)
    raises(exc, msm.cox, None, contains=(shown,), **cols, **kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, shown",
    [
        (dict(convergence="R"), ValueError, "convergence='R'"),
        (dict(convergence=None), ValueError, "convergence=None"),
        (dict(family="logit"), ValueError, "family must be one of"),
        (dict(family=None), ValueError, "family must be one of"),
        (dict(variance="hc3"), ValueError, "variance must be one of"),
        (dict(variance=None), ValueError, "variance must be one of"),
        (dict(cluster=["id"]), TypeError, "cluster must be the name of a column"),
        (dict(cluster=1.5), TypeError, "cluster must be the name of a column"),
        (dict(offset=["l"]), TypeError, "offset must be the name of a column"),
    ],
)
def test_glm_other_arguments(kwargs, exc, shown):
    d = panel()
    raises(exc, msm.glm, "y ~ a", d, contains=(shown,), **kwargs)


def test_glm_cluster_given_as_a_series_says_to_pass_its_name():
    d = panel()
    raises(TypeError, msm.glm, "y ~ a", d, cluster=d["id"], contains=("cluster='id'",))


@pytest.mark.parametrize("alpha, exc", [("a", TypeError), (None, TypeError), (0, ValueError),
                                        (1.5, ValueError), (np.nan, ValueError)])  # fmt: skip
def test_glm_conf_int_alpha(alpha, exc):
    fit = call(msm.glm, "l ~ a + x", panel())
    with pytest.raises(exc, match="alpha"):
        fit.conf_int(alpha)
    with pytest.raises(exc, match="alpha"):
        fit.summary(alpha)


@pytest.mark.parametrize(
    "kwargs, exc, shown",
    [
        (dict(ties="exact"), ValueError, "ties="),
        (dict(ties=["efron"]), ValueError, "ties="),
        (dict(variance=["robust"]), ValueError, "variance must be one of"),
        (dict(cluster=["id"]), TypeError, "cluster must be the name of a column"),
        (dict(start=["start"]), TypeError, "start must be the name of a column"),
        (dict(event=None), TypeError, "event must be the name of a column"),
    ],
)
def test_cox_other_arguments(kwargs, exc, shown):
    d = panel()
    s = d.assign(start=d["time"].astype(float), stop=d["time"] + 1.0)
    cols = {**dict(start="start", stop="stop", event="y", covariates="a + x"), **kwargs}
    raises(exc, msm.cox, s, contains=(shown,), **cols)


@pytest.fixture(scope="module")
def hazard():
    """A pooled logistic MSM of the hazard that converges (no separation)."""
    d = msm.datasets.simulate_panel(n_subjects=300, n_visits=6, seed=3, stop_at_event=True)
    w = msm.iptw(d, **IPTW)
    return d, w, msm.glm("y ~ a + time + x", d, weights=w, cluster="id", family="binomial")


@pytest.mark.parametrize(
    "kwargs, exc, shown",
    [
        (dict(regimes={"bad": lambda t: np.array(["x"] * t.size)}), ValueError,
         "regime 'bad' must return numbers"),
        (dict(reference=["never"]), ValueError, "reference ['never']"),
        (dict(times=[0, np.nan]), ValueError, "times must be finite"),
        (dict(times=["a", "b"]), TypeError, "times must be numbers"),
        (dict(times="0:5"), TypeError, "times must be an array"),
        (dict(times=[2, 1]), ValueError, "strictly increasing"),
        (dict(history="cumsum"), TypeError, "history must be a mapping"),
        (dict(history={"x": "sum"}), ValueError, "history 'x': kind must be one of"),
        (dict(history={"h": lambda a, t: np.full(a.shape, "z")}), ValueError,
         "history 'h' must return numbers"),
        (dict(rows=5), TypeError, "rows must be a callable"),
        (dict(id=None), TypeError, "id must be the name of a column"),
        (dict(treatment=["a"]), TypeError, "treatment must be the name of a column"),
    ],
)  # fmt: skip
def test_risk_curves_arguments(hazard, kwargs, exc, shown):
    d, _, fit = hazard
    base = {**dict(id="id", time="time", treatment="a"), **kwargs}
    if isinstance(kwargs.get("history"), dict) and "h" in kwargs["history"]:
        d = d.assign(h=0.0)
    raises(exc, msm.risk_curves, fit, d, contains=(shown,), **base)


@pytest.mark.parametrize(
    "kwargs, exc, shown",
    [
        (dict(seed="a"), TypeError, "seed='a'"),
        (dict(seed=1.5), TypeError, "seed=1.5"),
        (dict(seed=True), TypeError, "seed=True"),
        (dict(seed=-1), ValueError, "seed=-1"),
        (dict(seed=np.random.default_rng(1)), TypeError, "seed=Generator"),
        (dict(alpha="a"), TypeError, "alpha='a'"),
        (dict(alpha=0), ValueError, "alpha=0"),
        (dict(n_boot=1.5), ValueError, "n_boot=1.5"),
        (dict(n_jobs=1.5), ValueError, "n_jobs"),
        (dict(fail_on=None), TypeError, "fail_on"),
        (dict(fail_on=[1]), TypeError, "fail_on"),
        (dict(progress="yes"), TypeError, "progress="),
        (dict(cluster=None), TypeError, "cluster must be the name"),
        (dict(cluster=["id"]), TypeError, "cluster must be the name of a column"),
    ],
)
def test_bootstrap_arguments(kwargs, exc, shown):
    d = panel()
    ran = []

    def statistic(frame):
        ran.append(1)
        return frame["y"].mean()

    base = {**dict(cluster="id", n_boot=3, n_jobs=1, progress=False), **kwargs}
    raises(exc, msm.bootstrap, statistic, d, contains=(shown,), **base)
    assert not ran  # before any work: the statistic never ran


def test_bootstrap_seed_forms_that_work():
    d = panel()
    stat = lambda f: f["y"].mean()  # noqa: E731
    kw = dict(cluster="id", n_boot=3, n_jobs=1, progress=False)
    one = call(msm.bootstrap, stat, d, seed=np.int64(5), **kw)
    two = call(msm.bootstrap, stat, d, seed=np.random.SeedSequence(5), **kw)
    pd.testing.assert_frame_equal(one.replicates, two.replicates)
    call(msm.bootstrap, stat, d, seed=[1, 2], fail_on=msm.ConvergenceWarning, **kw)


# ---------------------------------------------------------------------------------------------
# 3. covariates and outcomes at extreme scales


@pytest.fixture(scope="module")
def scale_reference(cohort):
    d, w = cohort
    fit = msm.glm("y ~ a + l", d, family="binomial", weights=w, cluster="id")
    return fit, w.weights.to_numpy()


@pytest.mark.parametrize("exponent", [-140, -100, -40, -20, 20, 100, 140])
def test_glm_and_iptw_are_scale_invariant_within_double_range(cohort, scale_reference, exponent):
    d, w = cohort
    ref, ref_weights = scale_reference
    factor = 10.0**exponent
    data = d.assign(l=d["l"] * factor)
    fit = call(msm.glm, "y ~ a + l", data, family="binomial", weights=w, cluster="id")
    back = np.array([1.0, 1.0, factor])  # the slope of l * factor is the slope of l / factor
    npt.assert_allclose(fit.params.to_numpy() * back, ref.params.to_numpy(), rtol=1e-9)
    npt.assert_allclose(fit.bse.to_numpy() * back, ref.bse.to_numpy(), rtol=1e-9)
    weights = call(msm.iptw, data, **IPTW).weights.to_numpy()
    npt.assert_allclose(weights, ref_weights, rtol=1e-9)


@pytest.mark.parametrize("factor", [1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300])
def test_covariates_beyond_double_range_say_so(cohort, factor):
    d, w = cohort
    data = d.assign(l=d["l"] * factor)
    words = ("'l'", "outside what the fit can represent", "rescale")
    false = ("all zero", "constant")
    raises(msm.DataError, msm.glm, "y ~ a + l", data, family="binomial", weights=w,
           column="l", contains=words, absent=false)  # fmt: skip
    raises(msm.DataError, msm.iptw, data, **IPTW, column="l", contains=words, absent=false)


def test_a_covariate_that_is_truly_all_zero_is_still_named():
    d = panel().assign(z=0.0)
    raises(msm.DataError, msm.glm, "y ~ a + z", d, family="binomial", column="z",
           contains=("all zero",))  # fmt: skip


@pytest.mark.parametrize("exponent", [-12, -20, -60, -140, 60, 140])
def test_gaussian_outcome_at_any_representable_scale(exponent):
    d = panel()
    d = d.assign(g=d["l"] + 0.5 * d["x"])
    factor = 10.0**exponent
    ref = call(msm.glm, "g ~ a + l", d, cluster="id")
    fit = call(msm.glm, "g ~ a + l", d.assign(g=d["g"] * factor), cluster="id")
    npt.assert_allclose(fit.params.to_numpy() / factor, ref.params.to_numpy(), rtol=1e-9)
    npt.assert_allclose(fit.bse.to_numpy() / factor, ref.bse.to_numpy(), rtol=1e-9)
    npt.assert_allclose(fit.deviance / factor**2, ref.deviance, rtol=1e-9)
    assert fit.converged and fit.n_iter >= 1


@pytest.mark.parametrize("factor", [1e-200, 1e200])
def test_gaussian_outcome_beyond_double_range_says_so(factor):
    d = panel()
    raises(msm.DataError, msm.glm, "g ~ a + l", d.assign(g=d["l"] * factor), column="g",
           contains=("outcome lies on a scale outside", "rescale"))  # fmt: skip


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_offset_beyond_exp_range_is_named(family):
    d = panel().assign(o=1e200)
    d.loc[d.index[:3], "o"] = 0.0
    err = raises(msm.DataError, msm.glm, "y ~ a", d, family=family, offset="o", column="o",
                 contains=("log scale", "np.log"), absent=("all zero",))  # fmt: skip
    assert len(err.ids) == len(d) - 3


# ---------------------------------------------------------------------------------------------
# 4. an expression as the outcome


def test_outcome_expression_says_to_build_a_column():
    d = panel()
    raises(
        msm.DataError,
        msm.glm,
        "np.log(y+1) ~ a",
        d,
        column="y",
        contains=(
            "must be a column name",
            "'np.log(y+1)'",
            "data.assign(log_y=np.log(data['y']+1))",
            "'log_y ~ a'",
        ),
    )
    # the suggestion works
    d2 = d.assign(log_y=np.log(d["y"] + 1))
    call(msm.glm, "log_y ~ a", d2)


def test_outcome_missing_plain_name_is_not_found():
    d = panel()
    raises(msm.DataError, msm.glm, "outcome ~ a", d, column="outcome",
           contains=("column not found",))  # fmt: skip


def test_outcome_with_odd_characters_that_is_a_column_is_fitted():
    d = panel()
    d2 = d.assign(**{"l (mmol/L)": d["l"]})
    fit = call(msm.glm, "`l (mmol/L)` ~ a + x", d2)
    ref = call(msm.glm, "l ~ a + x", d)
    npt.assert_array_equal(fit.params.to_numpy(), ref.params.to_numpy())


# ---------------------------------------------------------------------------------------------
# 6. risk curves of a model with a shifted covariate


@pytest.mark.parametrize("shift", [1e5, 1e8])
def test_risk_curves_with_a_shifted_time_term(hazard, shift):
    d, w, ref = hazard
    expected = call(msm.risk_curves, ref, d, id="id", time="time", treatment="a")
    # I(time + shift): formulaic evaluates the term on the regime rows
    fit = call(msm.glm, f"y ~ a + I(time + {shift}) + x", d, weights=w, cluster="id",
               family="binomial")  # fmt: skip
    assert fit.centring is not None
    got = call(msm.risk_curves, fit, d, id="id", time="time", treatment="a")
    npt.assert_allclose(got["risk"], expected["risk"], rtol=1e-9)
    npt.assert_allclose(got["difference"], expected["difference"], rtol=1e-9, atol=1e-12)
    # a shifted time column (the plain-column path)
    shifted = d.assign(time=d["time"] + shift)
    fit = call(msm.glm, "y ~ a + time + x", shifted, weights=w, cluster="id", family="binomial")
    got = call(msm.risk_curves, fit, shifted, id="id", time="time", treatment="a")
    npt.assert_allclose(got["risk"], expected["risk"], rtol=1e-9)


@pytest.mark.parametrize("shift", [1e5, 1e8])
def test_risk_curves_with_a_shifted_baseline_covariate(hazard, shift):
    d, w, _ = hazard
    xs = d["x"] + shift
    data = d.assign(xs=xs, xr=xs - shift)  # xr: the unshifted column, recovered exactly
    ref = call(msm.glm, "y ~ a + time + xr", data, weights=w, cluster="id", family="binomial")
    fit = call(msm.glm, "y ~ a + time + xs", data, weights=w, cluster="id", family="binomial")
    expected = call(msm.risk_curves, ref, data, id="id", time="time", treatment="a")
    got = call(msm.risk_curves, fit, data, id="id", time="time", treatment="a")
    npt.assert_allclose(got["risk"], expected["risk"], rtol=1e-9)
    # through rows= (the frame path): the same numbers
    got_rows = call(msm.risk_curves, fit, data, id="id", time="time", treatment="a",
                    rows=lambda f: f)  # fmt: skip
    npt.assert_allclose(got_rows["risk"], expected["risk"], rtol=1e-9)


def test_risk_curves_of_an_ordinary_fit_are_unchanged(hazard):
    """No centring: the linear predictor is X @ params, as before."""
    d, _, fit = hazard
    assert fit.centring is None
    X = np.column_stack([np.ones(4), [0, 1, 0, 1], [0, 1, 2, 3], [0.1, 0.2, 0.3, 0.4]])
    npt.assert_array_equal(fit.linear_predictor(X), X @ fit.params.to_numpy())
    with unchanged(d):
        msm.risk_curves(fit, d, id="id", time="time", treatment="a")
