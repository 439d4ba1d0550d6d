"""Weighted Cox MSMs against R (survival 3.5-3 via ipw 1.2.1) and lifelines.

R numbers: ``../shared/conformance/haartdat_survival.json`` (code in its ``r_code`` field) with
R's per-row weights from ``haartdat_survival_weights.csv``.  The last R test rebuilds R ipw's
``family="survival"`` treatment weights from our Cox engine alone (fit, ``basehaz``-style
baseline hazard, risk scores) plus a few lines of numpy.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from msm._survival import fit_cox
from msm.outcome import cox

RTOL = 1e-6

MSM_CASES = {
    "msm_cox_treatment_weights": "ipw_treat",
    "msm_cox_treatment_x_censoring_weights": "ipw_product",
    "cox_unadjusted": None,
}


@pytest.fixture(scope="module")
def haart(shared_dir):
    data = pd.read_csv(shared_dir / "data" / "ipw" / "haartdat.csv")
    r_weights = pd.read_csv(shared_dir / "conformance" / "haartdat_survival_weights.csv")
    assert (r_weights["patient"].to_numpy() == data["patient"].to_numpy()).all()
    assert (r_weights["fuptime"].to_numpy() == data["fuptime"].to_numpy()).all()
    expected = json.loads((shared_dir / "conformance" / "haartdat_survival.json").read_text())
    return data, r_weights, expected


def rel(a, b):
    return abs(a / b - 1.0)


@pytest.mark.parametrize("case", list(MSM_CASES))
def test_cox_msm_matches_r(haart, case):
    data, r_weights, expected = haart
    column = MSM_CASES[case]
    r = expected[case]
    r_coef = r["coefficients"]["haartind"]
    fit = cox(
        data,
        start="tstart",
        stop="fuptime",
        event="event",
        covariates="haartind",
        weights=None if column is None else r_weights[column].to_numpy(),
        cluster="patient" if column is not None else None,
    )
    assert r["ties"] == fit.ties == "efron"
    assert fit.converged
    assert fit.n_rows == r["n"] and fit.n_events == r["nevent"]
    assert rel(fit.params["haartind"], r_coef["coef"]) < RTOL
    assert rel(fit.naive_bse["haartind"], r_coef["se_naive"]) < RTOL
    assert rel(fit.hazard_ratios["haartind"], r_coef["hr"]) < RTOL
    npt.assert_allclose([fit.loglik_null, fit.loglik], r["loglik"], rtol=1e-9)
    ci = fit.hazard_ratio_conf_int(0.05).loc["haartind"]
    assert rel(ci["lower"], r_coef["hr_ci95_lower"]) < RTOL
    assert rel(ci["upper"], r_coef["hr_ci95_upper"]) < RTOL
    assert rel(fit.pvalues["haartind"], r_coef["p"]) < 1e-5
    if column is None:
        assert fit.variance == "model" and fit.robust_bse is None
        assert rel(fit.bse["haartind"], r_coef["se_naive"]) < RTOL
    else:
        assert fit.variance == "robust" and fit.n_clusters == data["patient"].nunique()
        assert rel(fit.robust_bse["haartind"], r_coef["se_robust"]) < RTOL
        assert rel(fit.bse["haartind"], r_coef["se_robust"]) < RTOL


def test_frame_untouched_and_row_order_irrelevant(haart, rng):
    data, r_weights, expected = haart
    frame = data.assign(w=r_weights["ipw_product"].to_numpy())
    before = frame.copy(deep=True)
    kwargs = dict(start="tstart", stop="fuptime", event="event", cluster="patient", weights="w")
    fit = cox(frame, covariates="haartind + sex + age", **kwargs)
    pd.testing.assert_frame_equal(frame, before)
    shuffled = frame.iloc[rng.permutation(len(frame))]
    again = cox(shuffled, covariates="haartind + sex + age", **kwargs)
    npt.assert_allclose(again.params, fit.params, rtol=1e-10)
    npt.assert_allclose(again.robust_cov, fit.robust_cov, rtol=1e-9)
    npt.assert_allclose(again.naive_cov, fit.naive_cov, rtol=1e-9)
    pd.testing.assert_index_equal(again.dfbeta().index, shuffled.index)
    npt.assert_allclose(
        again.dfbeta().loc[frame.index].to_numpy(), fit.dfbeta().to_numpy(), atol=1e-12
    )
    r = expected["msm_cox_treatment_x_censoring_weights"]["coefficients"]["haartind"]
    assert fit.params["haartind"] != pytest.approx(r["coef"], rel=1e-3)  # adjusted: differs


# --- R ipw family="survival": weights rebuilt from the engine ---------------------------------


def cox_log_factors(data, rows, exposure, covariates, treatment_start):
    """Per-row log factor log P(what happened) under a Cox model, as R ipw computes it.

    Cox PH (Efron) of ``Surv(tstart, fuptime, exposure)`` on ``rows``; R's
    ``basehaz(centered=TRUE)`` evaluated on the sorted unique fuptime of all rows and
    differenced; hazard of a row = that increment x exp((x - xbar) b).  The factor is
    ``exp(-h)`` if the exposure did not happen, ``1 - exp(-h)`` on the row where it starts
    (``treatment_start``), and 1 outside ``rows``.
    """
    X = data[covariates].to_numpy(dtype=float)
    fit = fit_cox(
        data["tstart"][rows],
        data["fuptime"][rows],
        data[exposure][rows],
        X[rows],
        covariates,
        ties="efron",
    )
    times = np.unique(data["fuptime"])
    increments = fit.baseline_hazard().increments(times)  # H(t_k) - H(t_{k-1})
    h = increments[np.searchsorted(times, data["fuptime"])] * fit.risk_score(X)
    happened = (data[exposure].to_numpy() == 1) & treatment_start
    with np.errstate(divide="ignore"):
        log_factor = np.where(happened, np.log(-np.expm1(-h)), -h)
    return np.where(rows, log_factor, 0.0), fit


def cumulative_weight(data, log_numerator, log_denominator):
    logs = pd.Series(log_numerator - log_denominator).groupby(data["patient"].to_numpy())
    return np.exp(logs.cumsum().to_numpy())


def check_model(fit, r_model):
    assert fit.n == r_model["n"] and fit.n_events == r_model["nevent"]
    npt.assert_allclose([fit.loglik_null, fit.loglik], r_model["loglik"], rtol=1e-9)
    for name, coef, se in zip(fit.names, fit.params, fit.bse):
        r = r_model["coefficients"][name]
        # R stops at a relative log-likelihood change of 1e-9: compare on the SE's scale
        assert abs(coef - r["estimate"]) < 1e-6 * max(abs(r["estimate"]), r["se"])
        assert rel(se, r["se"]) < RTOL


def test_ipw_survival_treatment_weights_rebuilt_from_engine(haart):
    data, r_weights, expected = haart
    treated_before = data.groupby("patient")["haartind"].cumsum() - data["haartind"]
    risk_rows = (treated_before == 0).to_numpy()  # up to and including the first treated row
    npt.assert_array_equal(risk_rows, r_weights["selvar_treat"].to_numpy() == 1)
    log_num, num = cox_log_factors(data, risk_rows, "haartind", ["sex", "age"], risk_rows)
    log_den, den = cox_log_factors(
        data, risk_rows, "haartind", ["sex", "age", "cd4.sqrt"], risk_rows
    )
    check_model(num, expected["treatment_weights"]["numerator_model"])
    check_model(den, expected["treatment_weights"]["denominator_model"])
    weights = cumulative_weight(data, log_num, log_den)
    r = r_weights["ipw_treat"].to_numpy()
    assert np.max(np.abs(weights / r - 1.0)) < RTOL


def test_ipw_survival_censoring_and_product_weights_rebuilt_from_engine(haart):
    data, r_weights, expected = haart
    every = np.ones(len(data), dtype=bool)
    never = np.zeros(len(data), dtype=bool)  # type="cens": every row's factor is P(uncensored)
    log_num, num = cox_log_factors(data, every, "dropout", ["sex", "age"], never)
    log_den, den = cox_log_factors(data, every, "dropout", ["sex", "age", "cd4.sqrt"], never)
    check_model(num, expected["censoring_weights"]["numerator_model"])
    check_model(den, expected["censoring_weights"]["denominator_model"])
    censoring = cumulative_weight(data, log_num, log_den)
    assert np.max(np.abs(censoring / r_weights["ipw_cens"].to_numpy() - 1.0)) < RTOL
    product = censoring * r_weights["ipw_treat"].to_numpy()
    assert np.max(np.abs(product / r_weights["ipw_product"].to_numpy() - 1.0)) < RTOL


def test_breslow_baseline_differs_from_efron_on_haartdat(haart):
    # the README's warning: with up to 52 tied starts, the estimators differ visibly
    data, _, _ = haart
    treated_before = data.groupby("patient")["haartind"].cumsum() - data["haartind"]
    rows = (treated_before == 0).to_numpy()
    args = (data["tstart"][rows], data["fuptime"][rows], data["haartind"][rows])
    X = data.loc[rows, ["sex", "age"]].to_numpy(dtype=float)
    efron = fit_cox(*args, X, ["sex", "age"], ties="efron")
    breslow = fit_cox(*args, X, ["sex", "age"], ties="breslow", init=efron.params)
    times = np.unique(data["fuptime"])
    gap = np.max(np.abs(efron.baseline_hazard()(times) - breslow.baseline_hazard()(times)))
    assert 1e-3 < gap < 1e-1


# --- lifelines --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lifelines():
    """lifelines, or a skip that says how to install it (CI installs it and forbids skips)."""
    try:
        import lifelines
    except ImportError as error:
        pytest.skip(
            f"lifelines is not importable ({error}); install it with "
            "pip install --no-deps -r tests/requirements-lifelines.txt"
        )
    return lifelines


def simulate_counting_process(rng, n_subjects=300):
    rows = []
    for subject in range(n_subjects):
        x1 = rng.normal()
        t = rng.uniform(0.0, 1.0)  # late entry
        for _ in range(rng.integers(1, 6)):
            dt = rng.uniform(0.2, 2.0)
            x2 = rng.normal()
            event = int(rng.random() < 0.15 * np.exp(0.5 * x1 - 0.3 * x2))
            rows.append((subject, t, t + dt, x1, x2, event, rng.uniform(0.3, 3.0)))
            t += dt + (rng.uniform(0.0, 1.0) if rng.random() < 0.2 else 0.0)
            if event:
                break
    return pd.DataFrame(rows, columns=["id", "start", "stop", "x1", "x2", "event", "w"])


def test_matches_lifelines_on_counting_process_rows(rng, lifelines):
    frame = simulate_counting_process(rng)
    ours = cox(
        frame, start="start", stop="stop", event="event", covariates=["x1", "x2"], weights="w"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' advice about non-integer weights
        theirs = lifelines.CoxTimeVaryingFitter().fit(
            frame[["id", "start", "stop", "x1", "x2", "event", "w"]],
            event_col="event",
            start_col="start",
            stop_col="stop",
            weights_col="w",
            id_col="id",
        )
    # lifelines stops at its own (looser) tolerance
    npt.assert_allclose(ours.params, theirs.params_, rtol=1e-5)
    npt.assert_allclose(ours.naive_bse, theirs.standard_errors_, rtol=1e-5)
    assert ours.loglik == pytest.approx(theirs.log_likelihood_, rel=1e-9)


def test_robust_variance_matches_lifelines_without_late_entry(rng, lifelines):
    # lifelines' sandwich ignores entry times, so compare where everyone enters at 0
    n = 600
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "z": rng.integers(0, 2, n),
            "time": rng.exponential(1.0 / np.exp(0.5 * x)),
            "event": (rng.random(n) < 0.7).astype(int),
            "w": rng.uniform(0.3, 3.0, n),
            "id": np.arange(n) // 3,
            "start": 0.0,
        }
    )
    ours = cox(
        frame,
        start="start",
        stop="time",
        event="event",
        covariates="x + z",
        weights="w",
        cluster="id",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifelines.CoxPHFitter().fit(
            frame[["time", "event", "x", "z", "w", "id"]],
            duration_col="time",
            event_col="event",
            weights_col="w",
            cluster_col="id",
            robust=True,
        )
    npt.assert_allclose(ours.params, theirs.params_, rtol=1e-5)
    npt.assert_allclose(ours.robust_bse, theirs.standard_errors_, rtol=1e-5)
