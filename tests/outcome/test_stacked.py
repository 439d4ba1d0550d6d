"""Stacked estimating equations: against a numeric-Jacobian sandwich, and by coverage."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from scipy.special import expit, log_expit

import msm


def _numeric_sandwich(psi_rows, theta, subject, h=1e-6):
    """Sandwich from central-difference Jacobian of sum_i psi_i and the per-subject meat."""
    k = theta.size
    A = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = h * max(1.0, abs(theta[j]))
        upper = psi_rows(theta + step).sum(axis=0)
        lower = psi_rows(theta - step).sum(axis=0)
        A[:, j] = -(upper - lower) / (2 * step[j])
    U = pd.DataFrame(psi_rows(theta)).groupby(subject).sum().to_numpy()
    inverse = np.linalg.inv(A)
    return inverse @ (U.T @ U) @ inverse.T, A


def _time_varying_case():
    data = msm.datasets.simulate_panel(600, 6, seed=17, censor_coefs=(-2.5, 0.6))
    w = msm.iptw(
        data,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x + time",
        absorbing=True,
        censor="lost",
    )
    fit = msm.glm("y ~ a + time", data, weights=w, cluster="id", family="binomial")
    return data, w, fit


def test_time_varying_matches_numeric_jacobian_sandwich():
    data, w, fit = _time_varying_case()
    ids = data["id"].to_numpy()
    a = data["a"].to_numpy(float)
    c = data["lost"].to_numpy(float)
    y = data["y"].to_numpy(float)
    one = np.ones(len(data))
    risk = (data.groupby("id")["a"].cumsum() - data["a"]).to_numpy() == 0
    X_den = np.column_stack([one, data["x"], data["l"], data["time"]])
    X_num = np.column_stack([one, data["x"], data["time"]])
    Z = np.column_stack([one, a, data["time"]])
    sizes = [4, 3, 4, 3, 3]  # denominator, numerator, censoring den/num, outcome
    cuts = np.cumsum(sizes)[:-1]

    def psi_rows(theta):
        al_den, al_num, ga_den, ga_num, beta = np.split(theta, cuts)
        eta = {
            "den": X_den @ al_den,
            "num": X_num @ al_num,
            "cden": X_den @ ga_den,
            "cnum": X_num @ ga_num,
        }

        def log_f(e, obs):  # log P(obs)
            return np.where(obs == 1, log_expit(e), log_expit(-e))

        log_ratio = (
            np.where(risk, log_f(eta["num"], a) - log_f(eta["den"], a), 0.0)
            + log_f(eta["cnum"], 0 * c)
            - log_f(eta["cden"], 0 * c)
        )
        weight = np.exp(pd.Series(log_ratio).groupby(ids).cumsum().to_numpy())
        mu = expit(Z @ beta)
        return np.hstack(
            [
                X_den * (risk * (a - expit(eta["den"])))[:, None],
                X_num * (risk * (a - expit(eta["num"])))[:, None],
                X_den * (c - expit(eta["cden"]))[:, None],
                X_num * (c - expit(eta["cnum"]))[:, None],
                Z * (weight * (y - mu))[:, None],
            ]
        )

    theta = np.concatenate(
        [
            w.models[k].params.to_numpy()
            for k in ["denominator", "numerator", "censor_denominator", "censor_numerator"]
        ]
        + [fit.params.to_numpy()]
    )
    # the estimating equations are solved at the estimate
    npt.assert_allclose(psi_rows(theta).sum(axis=0), 0.0, atol=1e-6)
    numeric, A_numeric = _numeric_sandwich(psi_rows, theta, ids)
    system = fit.sandwich_parts.stacked()
    npt.assert_allclose(
        system.information, A_numeric, rtol=1e-4, atol=1e-4 * np.abs(A_numeric).max()
    )
    npt.assert_allclose(fit.cov_for("stacked").to_numpy(), numeric[-3:, -3:], rtol=1e-4)
    npt.assert_allclose(system.cov(), numeric, rtol=1e-4, atol=1e-10)


def test_point_treatment_matches_numeric_jacobian_sandwich():
    rng = np.random.default_rng(5)
    n = 800
    l = rng.normal(size=n)  # noqa: E741
    a = (rng.random(n) < expit(-0.3 + 0.8 * l)).astype(float)
    y = 1 + 2 * a + 1.5 * l + rng.normal(size=n)
    df = pd.DataFrame({"id": np.arange(n), "a": a, "l": l, "y": y})
    w = msm.iptw(df, id="id", time=None, treatment="a", denominator="l", numerator="1")
    fit = msm.glm("y ~ a", df, weights=w, family="gaussian")
    X = np.column_stack([np.ones(n), l])
    Z = np.column_stack([np.ones(n), a])

    def psi_rows(theta):
        den, num, beta = theta[:2], theta[2:3], theta[3:]
        p_den, p_num = expit(X @ den), expit(np.full(n, num[0]))
        weight = np.where(a == 1, p_num / p_den, (1 - p_num) / (1 - p_den))
        return np.hstack(
            [X * (a - p_den)[:, None], (a - p_num)[:, None], Z * (weight * (y - Z @ beta))[:, None]]
        )

    theta = np.concatenate(
        [w.models["denominator"].params, w.models["numerator"].params, fit.params]
    )
    numeric, _ = _numeric_sandwich(psi_rows, theta, np.arange(n))
    npt.assert_allclose(fit.cov_for("stacked").to_numpy(), numeric[-2:, -2:], rtol=1e-4)


def test_stacked_refuses_what_it_cannot_do():
    data = msm.datasets.simulate_panel(600, 6, seed=17)
    w = msm.iptw(
        data,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        absorbing=True,
        truncate=(1, 99),
    )
    fit = msm.glm("y ~ a", data, weights=w, cluster="id", family="binomial")
    with pytest.raises(ValueError, match="untruncated"):
        fit.cov_for("stacked")
    plain = msm.glm("y ~ a", data, weights=w.weights.to_numpy(), cluster="id", family="binomial")
    with pytest.raises(ValueError, match="needs weights= a Weights"):
        plain.cov_for("stacked")


def test_stacked_on_a_subset_of_rows_uses_the_weights_subjects():
    data, w, full = _time_varying_case()
    at_risk = data[data["time"] >= 1]  # an outcome model fitted on some rows only
    fit = msm.glm("y ~ a + time", at_risk, weights=w, cluster="id", family="binomial")
    cov = fit.cov_for("stacked")
    assert np.all(np.diag(cov) > 0)
    assert fit.sandwich_parts.stacked().n_subjects == data["id"].nunique()


def test_stacked_ci_coverage_by_simulation():
    # Point treatment, L confounds A and Y; the MSM E[Y^a] = b0 + b1 a has b1 = 2.
    # 1000 replicates: the stacked 95% CI must cover 93-97% of the time (binomial SE 0.7%).
    rng = np.random.default_rng(20261121)
    n, reps, truth = 800, 1000, 2.0
    covered_stacked = covered_robust = 0
    widths = []
    for _ in range(reps):
        l = rng.normal(size=n)  # noqa: E741
        a = (rng.random(n) < expit(-0.3 + 1.0 * l)).astype(float)
        y = 1 + truth * a + 1.5 * l + rng.normal(size=n)
        df = pd.DataFrame({"id": np.arange(n), "a": a, "l": l, "y": y})
        w = msm.iptw(df, id="id", time=None, treatment="a", denominator="l", numerator="1")
        fit = msm.glm("y ~ a", df, weights=w, family="gaussian", variance="stacked")
        lower, upper = fit.conf_int().loc["a"]
        covered_stacked += lower <= truth <= upper
        robust = fit.with_variance("robust").conf_int().loc["a"]
        covered_robust += robust["lower"] <= truth <= robust["upper"]
        widths.append((upper - lower) / (robust["upper"] - robust["lower"]))
    coverage = covered_stacked / reps
    assert 0.93 <= coverage <= 0.97, coverage
    # for this target the robust variance ignores that the weights were estimated and is
    # conservative: its intervals are wider and over-cover
    assert np.median(widths) < 1.0
    assert covered_robust / reps >= coverage
