"""The Newton logistic fit against statsmodels, and its warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pytest
import statsmodels.api as sm

import msm
from msm.models import fit_logit


def _data(rng, n=2000):
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n), rng.random(n)])
    eta = X @ np.array([-0.5, 0.8, -0.4, 1.2])
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return X, y


def test_matches_statsmodels(rng):
    X, y = _data(rng)
    fit = fit_logit(X, y, ["const", "a", "b", "c"])
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14)
    npt.assert_allclose(fit.params, ref.params, rtol=1e-9)
    npt.assert_allclose(fit.bse, ref.bse, rtol=1e-8)
    npt.assert_allclose(fit.loglik, ref.llf, rtol=1e-12)
    assert fit.converged and fit.n == 2000


def test_weighted_matches_statsmodels_freq_weights(rng):
    X, y = _data(rng)
    w = rng.exponential(size=y.size)
    fit = fit_logit(X, y, ["const", "a", "b", "c"], weights=w)
    ref = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-14)
    npt.assert_allclose(fit.params, ref.params, rtol=1e-9)
    npt.assert_allclose(fit.bse, ref.bse, rtol=1e-8)


def test_separation_warns_naming_model_and_covariate(rng):
    n = 200
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, rng.normal(size=n)])
    y = (x > 0).astype(float)  # x separates y perfectly
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_logit(X, y, ["Intercept", "das_muscle", "age"], name="denominator model", max_iter=25)
    messages = [str(w.message) for w in caught]
    kinds = {w.category for w in caught}
    assert msm.SeparationWarning in kinds
    assert any("denominator model" in m and "'das_muscle'" in m for m in messages)


def test_non_convergence_warns(rng):
    X, y = _data(rng)
    with pytest.warns(msm.ConvergenceWarning, match="my model.*did not converge in 1 "):
        fit_logit(X, y, ["c", "a", "b", "d"], name="my model", max_iter=1)


def test_collinear_columns_raise_data_error(rng):
    X, y = _data(rng)
    X = np.column_stack([X, 2 * X[:, 1]])
    with pytest.raises(msm.DataError, match=r"collinear.*'a'.*'a2'|collinear.*'a2'"):
        fit_logit(X, y, ["c", "a", "b", "d", "a2"])


def test_constant_covariate_is_collinear_with_intercept(rng):
    X, y = _data(rng)
    X[:, 2] = 1.0
    with pytest.raises(msm.DataError, match="collinear"):
        fit_logit(X, y, ["c", "a", "b", "d"])


def test_summary_and_conf_int(rng):
    X, y = _data(rng)
    fit = fit_logit(X, y, ["const", "a", "b", "c"])
    table = fit.summary()
    assert list(table.columns) == ["estimate", "std_error", "z", "p_value"]
    ci = fit.conf_int(0.1)
    npt.assert_allclose(ci["upper"] - ci["lower"], 2 * 1.6448536269514722 * fit.bse, rtol=1e-12)
    assert "converged" in repr(fit)


def test_warm_start_reaches_the_same_estimate(rng, monkeypatch):
    import msm._glm as engine

    n = 250_000
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ np.array([-1.0, 0.7, -0.3]))))).astype(float)
    warm = fit_logit(X, y, ["c", "a", "b"])
    monkeypatch.setattr(engine, "WARM_START_ROWS", 10**9)
    cold = fit_logit(X, y, ["c", "a", "b"])
    npt.assert_allclose(warm.params, cold.params, rtol=1e-9)
    npt.assert_allclose(warm.bse, cold.bse, rtol=1e-9)
    assert warm.n_iter < cold.n_iter


def test_warm_start_rows():
    from msm._glm import warm_start_rows

    y = np.array([0, 0, 1, 0, 0, 0, 1, 0, 0.5, 0])
    rows, factor = warm_start_rows(0, y, 3, False)
    assert rows.tolist() == [0, 3, 6, 9] and factor is None
    rows, factor = warm_start_rows(0, y, 3, True)  # also every y > 0; the others weigh 3
    assert rows.tolist() == [0, 2, 3, 6, 8, 9]
    assert factor.tolist() == [3, 1, 3, 1, 1, 3]
    rows, _ = warm_start_rows(7, y[:4], 3, True)  # positions 7..10 of the whole data
    assert rows.tolist() == [2]  # position 9; no outcome at 8 and 10
    rows, _ = warm_start_rows(8, y[:4], 3, False)
    assert rows.tolist() == [1]


def test_a_rare_outcome_warm_starts_from_every_event(rng, monkeypatch):
    """Every event (about 900) and every k-th other row weighted k: Newton starts nearer the
    estimate than from every k-th row (about 110 events), one or two passes fewer, and ends
    where a cold start ends."""
    import msm._glm as engine

    n = 400_000
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    eta = X @ np.array([-6.0, 0.5, -0.4])
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    assert engine.warm_start_stratified(engine.BINOMIAL, int(y.sum()))
    stratified = fit_logit(X, y, ["c", "a", "b"])
    monkeypatch.setattr(engine, "warm_start_stratified", lambda family, n_positive: False)
    plain = fit_logit(X, y, ["c", "a", "b"])
    monkeypatch.setattr(engine, "WARM_START_ROWS", 10**9)
    cold = fit_logit(X, y, ["c", "a", "b"])
    npt.assert_allclose(stratified.params, cold.params, rtol=1e-9)
    npt.assert_allclose(stratified.bse, cold.bse, rtol=1e-9)
    assert stratified.n_iter < plain.n_iter


def test_collinearity_found_on_large_data_with_warm_start(rng):
    n = 250_000
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, 3 * x])
    y = (rng.random(n) < 0.3).astype(float)
    with pytest.raises(msm.DataError, match="collinear"):
        fit_logit(X, y, ["c", "x", "x3"])
