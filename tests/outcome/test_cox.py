"""msm.cox (msm.outcome.cox_model) and the engine in msm._survival.

Validation, results, variance, baseline.
"""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm
from msm._survival import fit_cox
from msm.models import ConvergenceWarning
from msm.outcome import CoxResults, cox
from msm.panel import DataError
from tests import naive_cox as naive


def simulate(rng, n_subjects=150, ties=False):
    """Counting-process rows: late entry, gaps, covariates x (continuous) and g (3 levels)."""
    rows = []
    for subject in range(n_subjects):
        x = rng.normal()
        g = "abc"[rng.integers(3)]
        t = float(rng.integers(0, 3)) if ties else rng.uniform(0.0, 1.0)
        for _ in range(rng.integers(1, 5)):
            dt = float(rng.integers(1, 3)) if ties else rng.uniform(0.2, 2.0)
            event = int(rng.random() < 0.2 * np.exp(0.6 * x + 0.4 * (g == "b")))
            rows.append((f"s{subject}", t, t + dt, x, g, event, rng.uniform(0.5, 2.0)))
            t += dt
            if event:
                break
    return pd.DataFrame(rows, columns=["id", "start", "stop", "x", "g", "event", "w"])


KW = dict(start="start", stop="stop", event="event")


@pytest.fixture
def frame(rng):
    return simulate(rng, ties=True)


# --- results ------------------------------------------------------------------------------------


def test_results_object(frame):
    fit = cox(frame, **KW, covariates="x + C(g)", weights="w", cluster="id")
    assert isinstance(fit, CoxResults)
    assert list(fit.params.index) == ["x", "C(g)[T.b]", "C(g)[T.c]"]  # intercept dropped
    assert fit.variance == "robust"
    npt.assert_allclose(fit.bse, np.sqrt(np.diag(fit.robust_cov)))
    npt.assert_allclose(fit.naive_bse, np.sqrt(np.diag(fit.naive_cov)))
    assert not np.allclose(fit.bse, fit.naive_bse)
    ci = fit.conf_int(0.1)
    assert list(ci.columns) == ["lower", "upper"]
    npt.assert_allclose(ci["upper"] - fit.params, 1.6448536269514722 * fit.bse)
    npt.assert_allclose(fit.hazard_ratio_conf_int(0.1), np.exp(ci))
    npt.assert_allclose(fit.hazard_ratios, np.exp(fit.params))
    table = fit.summary()
    assert list(table.columns) == [
        "estimate",
        "std_error",
        "z",
        "p_value",
        "lower",
        "upper",
        "hazard_ratio",
        "hr_lower",
        "hr_upper",
        "naive_std_error",
    ]
    assert fit.n_rows == fit.nobs == len(frame)
    assert fit.n_events == int(frame["event"].sum())
    assert fit.n_clusters == frame["id"].nunique()
    assert fit.sum_weights == pytest.approx(frame["w"].sum())
    text = repr(fit)
    assert "cluster-robust sandwich by 'id'" in text and f"{fit.n_clusters} clusters" in text
    assert "efron ties" in text and "sum of weights" in text
    assert "naive_std_error" in str(fit)


def test_model_based_by_default_without_cluster(frame):
    fit = cox(frame, **KW, covariates=["x"], weights="w")
    assert fit.variance == "model" and fit.robust_cov is None and fit.robust_bse is None
    npt.assert_allclose(fit.bse, fit.naive_bse)
    assert "model-based" in repr(fit)
    assert "naive_std_error" not in fit.summary().columns


def test_robust_without_cluster_is_rows_as_clusters(frame):
    by_row = cox(frame.assign(row=np.arange(len(frame))), **KW, covariates="x", cluster="row")
    robust = cox(frame, **KW, covariates="x", variance="robust")
    npt.assert_allclose(robust.robust_cov, by_row.robust_cov, rtol=1e-12)
    assert "each row its own cluster" in repr(robust)


def test_formula_and_list_agree(frame):
    a = cox(frame, **KW, covariates="x + I(2 * x) - I(2 * x)", weights="w")
    b = cox(frame, **KW, covariates=["x"], weights="w")
    npt.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-12)


def test_weights_object_column_and_array_agree(rng):
    cohort = msm.datasets.simulate_panel(n_subjects=300, seed=3)
    cohort = cohort.assign(start=cohort["time"] - 1.0)
    w = msm.iptw(cohort, id="id", time="time", treatment="a", denominator="x + l", absorbing=True)
    kw = dict(start="start", stop="time", event="y", covariates="a", cluster="id")
    from_object = cox(cohort, weights=w, **kw)
    from_array = cox(cohort, weights=w.weights.to_numpy(), **kw)
    npt.assert_allclose(from_object.params, from_array.params, rtol=1e-14)
    npt.assert_allclose(from_object.robust_cov, from_array.robust_cov, rtol=1e-14)


def test_zero_weight_rows_are_absent_rows(frame):
    w = frame["w"].to_numpy().copy()
    w[::4] = 0.0  # some of them tied events
    with_zeros = cox(frame.assign(w=w), **KW, covariates="x", weights="w", cluster="id")
    dropped = cox(frame[w > 0], **KW, covariates="x", weights="w", cluster="id")
    npt.assert_allclose(with_zeros.params, dropped.params, rtol=1e-12)
    npt.assert_allclose(with_zeros.robust_cov, dropped.robust_cov, rtol=1e-10)
    assert with_zeros.nobs == int((w > 0).sum()) and with_zeros.n_rows == len(frame)
    assert (with_zeros.dfbeta().to_numpy()[w == 0] == 0).all()


def test_breslow_option(frame):
    efron = cox(frame, **KW, covariates="x", ties="efron")
    breslow = cox(frame, **KW, covariates="x", ties="breslow")
    assert breslow.ties == "breslow"
    assert breslow.params["x"] != pytest.approx(efron.params["x"], rel=1e-6)
    # Breslow's loglik: sum over event times of w (eta - log S0), checked through the twin
    fit = breslow._fit
    d = fit.data
    loglik = naive.cox_loglik_score_information(
        d.start, d.stop, d.event, d.X, d.w, fit.params, efron=False
    )[0]
    assert breslow.loglik == pytest.approx(loglik, rel=1e-12)


# --- engine: variance and baseline hazard ------------------------------------------------------


def test_robust_cov_is_the_clustered_dfbeta_crossproduct(rng):
    frame = simulate(rng, ties=True)
    X = frame[["x"]].to_numpy()
    X = np.column_stack([X, (frame["g"] == "b").to_numpy(float)])
    w = frame["w"].to_numpy()
    fit = fit_cox(frame["start"], frame["stop"], frame["event"], X, ["x", "b"], w)
    Xc = X - X.mean(axis=0)
    U = naive.cox_score_residuals(
        frame["start"].to_numpy(),
        frame["stop"].to_numpy(),
        frame["event"].to_numpy(float),
        Xc,
        w,
        fit.params,
    )
    D = (w[:, None] * U) @ fit.cov
    sums = pd.DataFrame(D).groupby(frame["id"].to_numpy()).sum().to_numpy()
    npt.assert_allclose(fit.robust_cov(frame["id"].to_numpy()), sums.T @ sums, rtol=1e-9)
    npt.assert_allclose(fit.robust_cov(), D.T @ D, rtol=1e-9)
    npt.assert_allclose(fit.score, 0.0, atol=1e-8)


def test_baseline_hazard_step_function(rng):
    frame = simulate(rng, ties=True)
    X = frame[["x"]].to_numpy()
    fit = fit_cox(frame["start"], frame["stop"], frame["event"], X, ["x"])
    base = fit.baseline_hazard()
    npt.assert_allclose(base.center, X.mean(axis=0))
    assert np.all(np.diff(base.times) > 0) and np.all(base.hazard > 0)
    npt.assert_array_equal(base.times, np.unique(frame["stop"][frame["event"] == 1]))
    npt.assert_allclose(base(base.times), base.cumhaz)  # right-continuous: jump included
    npt.assert_allclose(base(base.times - 1e-9)[1:], base.cumhaz[:-1])
    assert base(base.times[0] - 1.0) == 0.0
    assert base(base.times[-1] + 100.0) == base.cumhaz[-1]
    grid = np.unique(frame["stop"])
    npt.assert_allclose(np.cumsum(base.increments(grid)), base(grid))
    assert base.increments(grid).sum() == pytest.approx(base.cumhaz[-1])
    with pytest.raises(ValueError, match="increasing"):
        base.increments(grid[::-1])
    # at another centre the hazard scales by exp((c - xbar) b)
    at_zero = fit.baseline_hazard(center=np.zeros(1))
    npt.assert_allclose(at_zero.hazard, base.hazard * np.exp(-X.mean() * fit.params[0]))
    # risk scores complete it: H(t | x) = H0(t) exp((x - centre) b), whatever the centre
    x = np.array([[0.3]])
    npt.assert_allclose(
        base(2.0) * fit.risk_score(x), at_zero(2.0) * fit.risk_score(x, center=np.zeros(1))
    )


def test_breslow_baseline_at_zero_is_nelson_aalen():
    # Breslow's baseline hazard: events over the risk-score sum of the risk set (at t = 2 the
    # rows entering at 1 are at risk; at t = 3 the rows ending at 2 have left)
    start = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    stop = np.array([1.0, 2.0, 2.0, 3.0, 3.0])
    event = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    X = np.array([[1.0], [-1.0], [1.0], [-1.0], [0.0]])
    fit = fit_cox(start, stop, event, X, ["x"], ties="breslow")
    base = fit.baseline_hazard()
    r = fit.risk_score(X)
    expected = [1 / r[[0, 1, 2]].sum(), 1 / r[[1, 2, 3, 4]].sum(), 1 / r[[3, 4]].sum()]
    npt.assert_allclose(base.hazard, expected, rtol=1e-12)


# --- errors and warnings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "column", "fragment"),
    [
        (lambda f: f.drop(columns="stop"), "stop", "not found"),
        (lambda f: f.assign(x=np.where(np.arange(len(f)) == 3, np.nan, f["x"])), "x", "missing"),
        (
            lambda f: f.assign(stop=np.where(np.arange(len(f)) == 2, f["start"], f["stop"])),
            "stop",
            "start < stop",
        ),
        (lambda f: f.assign(event=np.where(np.arange(len(f)) == 1, 2, f["event"])), "event", "0/1"),
        (lambda f: f.assign(event=0), "event", "no events"),
        (lambda f: f.assign(start=f["start"].astype(str)), "start", "numeric"),
        (lambda f: f.assign(w=-f["w"]), "w", ">= 0"),
    ],
)
def test_bad_data_raises_data_error(frame, change, column, fragment):
    bad = change(frame)
    with pytest.raises(DataError, match=fragment) as info:
        cox(bad, **KW, covariates="x", weights="w", cluster="id")
    assert info.value.column == column


def test_offending_ids_are_named(frame):
    bad = frame.assign(stop=np.where(frame.index == 5, frame["start"] - 1, frame["stop"]))
    with pytest.raises(DataError) as info:
        cox(bad, **KW, covariates="x", cluster="id")
    assert info.value.ids == [frame["id"].iloc[5]]
    with pytest.raises(DataError) as info:
        cox(bad, **KW, covariates="x")
    assert info.value.ids == [5]  # no cluster: row labels


def test_unknown_covariate_and_intercept_only(frame):
    with pytest.raises(DataError, match="nope"):
        cox(frame, **KW, covariates="x + nope")
    with pytest.raises(DataError, match="at least one covariate"):
        cox(frame, **KW, covariates="1")


def test_bad_options(frame):
    with pytest.raises(ValueError, match="ties"):
        cox(frame, **KW, covariates="x", ties="exact")
    with pytest.raises(ValueError, match="variance"):
        cox(frame, **KW, covariates="x", variance="hc3")
    with pytest.raises(ValueError, match="alpha"):
        cox(frame, **KW, covariates="x").conf_int(1.5)


def test_constant_and_collinear_covariates(frame):
    with pytest.raises(DataError, match="no information") as info:
        cox(frame.assign(k=1.0), **KW, covariates="x + k")
    assert info.value.column == "k"
    with pytest.raises(DataError, match="collinear"):
        cox(frame.assign(x2=2 * frame["x"] + 1), **KW, covariates="x + x2")


def test_monotone_likelihood_warns_with_the_model_name(rng):
    n = 60
    x = np.repeat([0.0, 1.0], n // 2)
    frame = pd.DataFrame(
        {
            "start": 0.0,
            "stop": rng.uniform(1, 2, n),
            "event": np.where(x == 1, 0, (rng.random(n) < 0.8).astype(int)),  # x=1: no events
            "x": x,
            "z": rng.normal(size=n),
        }
    )
    with pytest.warns(ConvergenceWarning, match="Cox model for 'event'.*'x'"):
        fit = cox(frame, **KW, covariates="x + z")
    assert not fit.converged
    assert fit.params["x"] < -5
    assert "NOT converged" in repr(fit)
    assert fit._fit.warnings and "did not converge" in fit._fit.warnings[0]


def test_fit_cox_checks_its_arrays():
    with pytest.raises(DataError, match="start < stop"):
        fit_cox([0.0, 1.0], [1.0, 1.0], [1, 0], np.ones((2, 1)), ["x"])
    with pytest.raises(DataError, match="no events"):
        fit_cox([0.0, 0.0], [1.0, 2.0], [1, 0], np.ones((2, 1)), ["x"], weights=[0.0, 1.0])
    with pytest.raises(ValueError, match="ties"):
        fit_cox([0.0], [1.0], [1], np.ones((1, 1)), ["x"], ties="exact")
