"""msm.glm with non-canonical links against statsmodels, closed forms and R's definitions.

Binomial identity (risk differences), log (risk ratios), probit and cloglog; poisson identity.
The definitions are R's (``../shared/conformance/weightit/README.md``): ``glm(y ~ ...,
family = binomial(link = ...), weights = w)`` run to a tight tolerance, and
``sandwich::vcovHC(type = "HC0")`` / ``vcovCL``, whose bread is the inverse EXPECTED
information.  statsmodels gives the same numbers with ``var_weights=w`` (R's prior weights)
and, for the sandwiches, ``fit(method="newton", optim_hessian="eim", cov_type=...)``: its
default IRLS ``fit(cov_type="HC0")`` takes the observed Hessian for the bread instead, which
``test_statsmodels_default_hc0_uses_the_observed_hessian`` shows (and measures).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

import msm
from msm.inference import ModelBased
from msm.outcome import glm_model
from msm.outcome.risk import risk_curves

PARAMS_RTOL = 1e-8
SE_RTOL = 1e-7
SM_LINKS = {
    "identity": sm.families.links.Identity,
    "log": sm.families.links.Log,
    "probit": sm.families.links.Probit,
    "cloglog": sm.families.links.CLogLog,
    "logit": sm.families.links.Logit,
}
BINOMIAL_LINKS = ["identity", "log", "probit", "cloglog"]
LALONDE_PS = "age + educ + C(race) + married + nodegree + re74 + re75"


def point_data(n=1500, seed=11) -> pd.DataFrame:
    """A point treatment confounded by ``l``, a binary outcome whose risk is linear in
    ``a`` and ``l`` inside (0.15, 0.5), and a count; 60 sites for clustering."""
    rng = np.random.default_rng(seed)
    l = rng.uniform(-1, 1, n)  # noqa: E741
    a = (rng.random(n) < expit(-0.2 + 0.8 * l)).astype(float)
    y = (rng.random(n) < 0.25 + 0.15 * a + 0.1 * l).astype(float)
    k = rng.poisson(2.0 + 1.0 * a + 0.8 * l).astype(float)
    site = rng.integers(0, 60, n)
    return pd.DataFrame({"id": np.arange(n), "site": site, "l": l, "a": a, "y": y, "k": k})


@pytest.fixture(scope="module")
def point():
    data = point_data()
    w = msm.iptw(data, id="id", time=None, treatment="a", denominator="l", numerator="1")
    return data, w


@pytest.fixture(scope="module")
def lalonde(shared_dir):
    d = pd.read_csv(shared_dir / "data" / "weightit" / "lalonde.csv")
    d["id"] = np.arange(len(d))
    d["employed"] = (d["re78"] > 0).astype(float)
    d["re78k"] = d["re78"] / 1000.0
    w = msm.iptw(d, id="id", time=None, treatment="treat", denominator=LALONDE_PS)
    return d, w


def design(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return np.column_stack([np.ones(len(data)), *(data[c].to_numpy(float) for c in columns)])


def statsmodels_fits(y, X, w, family, link, groups=None):
    """statsmodels' fits of R's model: estimates and the model-based, HC0 and cluster
    covariances, each on the expected information."""
    fam = {"binomial": sm.families.Binomial, "poisson": sm.families.Poisson}[family]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DomainWarning: identity and log for the binomial
        model = sm.GLM(y, X, family=fam(link=SM_LINKS[link]()), var_weights=w)
        # stop on the coefficients: on the deviance (the default) statsmodels' IRLS stops with
        # scores ~1e-5, its estimates ~1e-7 short of the maximum on lalonde
        tight = {"tol": 1e-14, "maxiter": 5000, "tol_criterion": "params"}
        irls = model.fit(**tight)
        out = {"params": irls.params, "model1": irls.bse}
        out["model"] = model.fit(scale="X2", **tight).bse
        eim = {"method": "newton", "optim_hessian": "eim", "start_params": irls.params,
               "tol": 1e-15, "maxiter": 100, "disp": 0}  # fmt: skip
        out["hc0"] = model.fit(cov_type="HC0", **eim).bse
        # vcovHC(type = "HC1"): HC0 times n / (n - k) (statsmodels' GLM HC1 gives HC0's)
        out["hc1"] = out["hc0"] * np.sqrt(len(y) / (len(y) - X.shape[1]))
        if groups is not None:
            for key, correction in (("robust", False), ("cr1s", True)):
                fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups,
                                "use_correction": correction}, **eim)  # fmt: skip
                out[key] = fit.bse
            g = np.unique(groups).size
            out["cr1"] = out["robust"] * np.sqrt(g / (g - 1))
    return out


def check_against_statsmodels(fit, ref, variances):
    npt.assert_allclose(fit.params.to_numpy(), ref["params"], rtol=PARAMS_RTOL, atol=1e-12)
    for variance, key in variances.items():
        npt.assert_allclose(
            fit.with_variance(variance).bse.to_numpy(), ref[key], rtol=SE_RTOL, err_msg=key
        )


# --- statsmodels, on IP-weighted simulated data ------------------------------------------------


@pytest.mark.parametrize("link", BINOMIAL_LINKS)
def test_binomial_links_match_statsmodels_clustered(point, link):
    data, w = point
    fit = msm.glm("y ~ a + l", data, weights=w, cluster="site", family="binomial", link=link)
    assert fit.converged and fit.link == link and fit.family == "binomial"
    X, sites = design(data, ["a", "l"]), data["site"].to_numpy()
    ref = statsmodels_fits(data["y"].to_numpy(), X, w.weights.to_numpy(), "binomial", link, sites)
    check_against_statsmodels(
        fit,
        ref,
        {"robust": "robust", "cr1": "cr1", "cr1s": "cr1s", "model": "model",
         ModelBased(dispersion=1.0): "model1"},
    )  # fmt: skip


@pytest.mark.parametrize("link", BINOMIAL_LINKS)
def test_binomial_links_match_statsmodels_hc0(point, link):
    data, w = point
    fit = msm.glm("y ~ a + l", data, weights=w, family="binomial", link=link)
    ref = statsmodels_fits(data["y"].to_numpy(), design(data, ["a", "l"]),
                           w.weights.to_numpy(), "binomial", link)  # fmt: skip
    check_against_statsmodels(fit, ref, {"robust": "hc0", "cr1s": "hc1"})


def test_poisson_identity_matches_statsmodels(point):
    data, w = point
    fit = msm.glm("k ~ a + l", data, weights=w, cluster="site", family="poisson",
                  link="identity")  # fmt: skip
    assert fit.converged and fit.exp_columns is None
    X, sites = design(data, ["a", "l"]), data["site"].to_numpy()
    ref = statsmodels_fits(data["k"].to_numpy(), X, w.weights.to_numpy(), "poisson", "identity",
                           sites)  # fmt: skip
    check_against_statsmodels(
        fit, ref, {"robust": "robust", "cr1": "cr1", "cr1s": "cr1s", "model": "model"}
    )


def test_statsmodels_default_hc0_uses_the_observed_hessian(point):
    """statsmodels' IRLS ``fit(cov_type="HC0")`` takes the observed Hessian as the bread:
    a different number from R's sandwich (the expected information) on a non-saturated
    fit; msm follows R."""
    data, w = point
    fit = msm.glm("y ~ a + l", data, weights=w, family="binomial", link="log")
    X, y = design(data, ["a", "l"]), data["y"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sm.GLM(y, X, family=sm.families.Binomial(link=SM_LINKS["log"]()),
                       var_weights=w.weights.to_numpy())  # fmt: skip
        default = model.fit(tol=1e-15, maxiter=1000, cov_type="HC0")
    observed = np.linalg.inv(-model.hessian(default.params, observed=True))
    scores = model.score_obs(default.params)
    npt.assert_allclose(default.bse, np.sqrt(np.diag(observed @ scores.T @ scores @ observed)),
                        rtol=1e-10)  # fmt: skip
    gap = np.max(np.abs(fit.bse.to_numpy() / default.bse - 1))
    assert gap > 1e-3  # a different bread: not a rounding difference


# --- lalonde (cobalt's data): WeightIt's ATE weights, employment in 1978 ------------------


@pytest.mark.parametrize("link", BINOMIAL_LINKS)
@pytest.mark.parametrize("rhs", [["treat"], ["treat", "age", "educ"]])
def test_lalonde_matches_statsmodels(lalonde, link, rhs):
    d, w = lalonde
    fit = msm.glm(f"employed ~ {' + '.join(rhs)}", d, weights=w, family="binomial", link=link)
    ref = statsmodels_fits(d["employed"].to_numpy(), design(d, rhs), w.weights.to_numpy(),
                           "binomial", link)  # fmt: skip
    check_against_statsmodels(fit, ref, {"robust": "hc0", "cr1s": "hc1", "model": "model"})


R_LINKS = Path(__file__).resolve().parent / "r_links"


@pytest.fixture(scope="module")
def r_reference() -> dict:
    """R 4.2's glm on lalonde with msm's ATE weights (``r_links/make_links_r.R``)."""
    reference = json.loads((R_LINKS / "links_r.json").read_text())
    reference.pop("R")
    return reference


def test_lalonde_matches_r(lalonde, r_reference):
    """Against R: ``glm(family = binomial(link = ...), weights = w)`` from R's start (the
    mean outcome where R's own start has no valid means), polished by Fisher scoring with
    R's family functions, and sandwich's definitions: estimates to 1e-8, model-based (both
    dispersions), HC0, HC1 and, clustered by years of schooling (19 clusters), HC0, CR1 and
    HC1 standard errors to 1e-9 (they agree to ~1e-11)."""
    d, _ = lalonde
    w = pd.read_csv(R_LINKS / "lalonde_ate_weights.csv")
    npt.assert_array_equal(w["id"], d["id"] + 1)
    for name, case in r_reference.items():
        args = {"weights": w["w"].to_numpy(), "family": case["family"], "link": case["link"]}
        fit = msm.glm(case["formula"], d, **args)
        clustered = msm.glm(case["formula"], d, cluster="educ", **args)
        assert clustered.n_clusters == case["n_clusters"]
        npt.assert_allclose(fit.params, case["coef"], rtol=1e-8, err_msg=name)
        for got, key in [
            (fit.with_variance(ModelBased(dispersion=1.0)), "se_model1"),
            (fit.with_variance("model"), "se_model"),
            (fit, "se_hc0"),
            (fit.with_variance("cr1s"), "se_hc1"),
            (clustered, "se_cl_hc0"),
            (clustered.with_variance("cr1"), "se_cl_cr1"),
            (clustered.with_variance("cr1s"), "se_cl_hc1"),
        ]:
            npt.assert_allclose(got.bse, case[key], rtol=1e-9, err_msg=f"{name} {key}")
        # R's own stopping rule (deviance unchanged, epsilon 1e-14) stops short of this
        npt.assert_allclose(case["coef_glm"], case["coef"], rtol=2e-6)


def weighted_arms(y, a, w):
    """Weighted mean of ``y`` in each arm and the HC0 variance of that mean."""
    out = {}
    for arm in (0, 1):
        take = a == arm
        p = np.average(y[take], weights=w[take])
        out[arm] = (p, np.sum((w[take] * (y[take] - p)) ** 2) / w[take].sum() ** 2)
    return out


def test_lalonde_risk_difference_and_ratio_closed_form(lalonde):
    """``y ~ treat`` is saturated: the identity link's coefficient is the difference of the
    weighted risks, the log link's exp(coefficient) their ratio, and their HC0 variances the
    sum of the arms' (delta method on the log scale)."""
    d, w = lalonde
    arms = weighted_arms(d["employed"].to_numpy(), d["treat"].to_numpy(), w.weights.to_numpy())
    (p0, v0), (p1, v1) = arms[0], arms[1]
    rd = msm.glm("employed ~ treat", d, weights=w, family="binomial", link="identity")
    rr = msm.glm("employed ~ treat", d, weights=w, family="binomial", link="log")
    npt.assert_allclose(rd.params["treat"], p1 - p0, rtol=1e-12)
    npt.assert_allclose(rd.bse["treat"], np.sqrt(v0 + v1), rtol=1e-10)
    npt.assert_allclose(rr.exp_params["treat"], p1 / p0, rtol=1e-10)
    npt.assert_allclose(rr.bse["treat"], np.sqrt(v0 / p0**2 + v1 / p1**2), rtol=1e-8)
    assert rr.summary().columns[-3:].tolist() == ["exp_estimate", "exp_lower", "exp_upper"]
    assert rd.exp_columns is None
    # poisson identity on earnings (a quasi-poisson mean model): the difference of the means
    rate = msm.glm("re78k ~ treat", d, weights=w, family="poisson", link="identity")
    earnings = weighted_arms(d["re78k"].to_numpy(), d["treat"].to_numpy(), w.weights.to_numpy())
    npt.assert_allclose(rate.params["treat"], earnings[1][0] - earnings[0][0], rtol=1e-10)
    npt.assert_allclose(rate.bse["treat"], np.sqrt(earnings[0][1] + earnings[1][1]), rtol=1e-8)


def test_saturated_probit_and_cloglog_reproduce_the_arm_risks(lalonde):
    d, w = lalonde
    arms = weighted_arms(d["employed"].to_numpy(), d["treat"].to_numpy(), w.weights.to_numpy())
    for link in ("probit", "cloglog"):
        fit = msm.glm("employed ~ treat", d, weights=w, family="binomial", link=link)
        risk = fit.fitted_values.groupby(d["treat"]).first()
        npt.assert_allclose(risk.to_numpy(), [arms[0][0], arms[1][0]], rtol=1e-10)


# --- the score rows and the sandwich pieces ----------------------------------------------------


def test_score_rows_are_the_fisher_scores(point):
    data, w = point
    fit = msm.glm("y ~ a + l", data, weights=w, family="binomial", link="log")
    X, y, mu = design(data, ["a", "l"]), data["y"].to_numpy(), fit.fitted_values.to_numpy()
    expected = X * (w.weights.to_numpy() * (y - mu) * mu / (mu * (1 - mu)))[:, None]
    npt.assert_allclose(fit.score_rows().to_numpy(), expected, rtol=1e-10, atol=1e-14)
    npt.assert_allclose(fit.score_rows().sum().to_numpy(), 0.0, atol=1e-6)
    info = (X * (w.weights.to_numpy() * mu**2 / (mu * (1 - mu)))[:, None]).T @ X
    npt.assert_allclose(fit.bread().to_numpy(), np.linalg.inv(info), rtol=1e-9)


def test_canonical_link_by_name_is_the_default_fit_bit_for_bit(point):
    data, w = point
    for family, outcome, link in (("binomial", "y", "logit"), ("poisson", "k", "log"),
                                  ("gaussian", "k", "identity")):  # fmt: skip
        default = msm.glm(f"{outcome} ~ a + l", data, weights=w, cluster="site", family=family)
        named = msm.glm(f"{outcome} ~ a + l", data, weights=w, cluster="site", family=family,
                        link=link.upper())  # fmt: skip
        npt.assert_array_equal(default.params, named.params)
        npt.assert_array_equal(default.cov, named.cov)
        assert named.link == default.link == link


def test_link_on_a_shifted_covariate_keeps_its_digits(point):
    """A covariate far from 0 relative to its spread: the fit is centred (as for canonical
    links) and gives the estimates and variances of the unshifted covariate."""
    data, w = point
    shifted = data.assign(l=data["l"] + 1e5)
    for link in ("identity", "log"):
        base = msm.glm("y ~ a + l", data, weights=w, family="binomial", link=link)
        fit = msm.glm("y ~ a + l", shifted, weights=w, family="binomial", link=link)
        npt.assert_allclose(fit.params[["a", "l"]], base.params[["a", "l"]], rtol=1e-8)
        npt.assert_allclose(fit.bse[["a", "l"]], base.bse[["a", "l"]], rtol=1e-7)


# --- the stacked variance ----------------------------------------------------------------------


def numeric_jacobian(psi_rows, theta, h=1e-6):
    A = np.empty((theta.size, theta.size))
    for j in range(theta.size):
        step = np.zeros(theta.size)
        step[j] = h * max(1.0, abs(theta[j]))
        A[:, j] = -(psi_rows(theta + step).sum(0) - psi_rows(theta - step).sum(0)) / (2 * step[j])
    return A


def stacked_psi(data, link, rhs):
    n = len(data)
    L = design(data, ["l"])
    Z = design(data, rhs)
    a, y = data["a"].to_numpy(), data["y"].to_numpy()
    inverse = {"identity": lambda e: (e, np.ones_like(e)), "log": lambda e: (np.exp(e), np.exp(e)),
               "probit": lambda e: (sm.families.links.Probit().inverse(e),
                                    sm.families.links.Probit().inverse_deriv(e))}[link]  # fmt: skip

    def psi_rows(theta):
        den, num, beta = theta[:2], theta[2:3], theta[2 + 1 :]
        p_den, p_num = expit(L @ den), expit(np.full(n, num[0]))
        weight = np.where(a == 1, p_num / p_den, (1 - p_num) / (1 - p_den))
        mu, d = inverse(Z @ beta)
        outcome = Z * (weight * (y - mu) * d / (mu * (1 - mu)))[:, None]
        return np.hstack([L * (a - p_den)[:, None], (a - p_num)[:, None], outcome])

    def expected_information(theta):
        beta = theta[3:]
        p_den, p_num = expit(L @ theta[:2]), expit(theta[2])
        weight = np.where(a == 1, p_num / p_den, (1 - p_num) / (1 - p_den))
        mu, d = inverse(Z @ beta)
        return (Z * (weight * d * d / (mu * (1 - mu)))[:, None]).T @ Z

    return psi_rows, expected_information


@pytest.mark.parametrize("link", ["identity", "log", "probit"])
def test_stacked_saturated_matches_numeric_jacobian_sandwich(point, link):
    """``y ~ a`` is saturated: the observed and expected information coincide at the
    estimate, so the stacked sandwich is the numerical-Jacobian one, all of it."""
    data, w = point
    fit = msm.glm("y ~ a", data, weights=w, family="binomial", link=link)
    psi_rows, _ = stacked_psi(data, link, ["a"])
    theta = np.concatenate([w.models["denominator"].params, w.models["numerator"].params,
                            fit.params])  # fmt: skip
    A = numeric_jacobian(psi_rows, theta)
    U = psi_rows(theta)
    inverse = np.linalg.inv(A)
    numeric = inverse @ (U.T @ U) @ inverse.T
    npt.assert_allclose(fit.cov_for("stacked").to_numpy(), numeric[-2:, -2:], rtol=1e-5)
    assert not np.allclose(fit.cov_for("stacked"), fit.cov_for("robust"), rtol=1e-3)


@pytest.mark.parametrize("link", ["identity", "log", "probit"])
def test_stacked_non_saturated_uses_the_expected_information(point, link):
    """``y ~ a + l``: the cross blocks are the numerical derivative of the outcome's
    estimating equations in the weight models' parameters, the outcome block is the expected
    information (as WeightIt's glm_weightit), and the sandwich is built from them."""
    data, w = point
    fit = msm.glm("y ~ a + l", data, weights=w, family="binomial", link=link)
    psi_rows, expected_information = stacked_psi(data, link, ["a", "l"])
    theta = np.concatenate([w.models["denominator"].params, w.models["numerator"].params,
                            fit.params])  # fmt: skip
    A = numeric_jacobian(psi_rows, theta)
    system = fit.sandwich_parts.stacked()
    npt.assert_allclose(system.information[:, :3], A[:, :3], rtol=1e-5,
                        atol=1e-6 * np.abs(A).max())  # fmt: skip
    npt.assert_allclose(system.information[3:, 3:], expected_information(theta), rtol=1e-9)
    observed_gap = np.abs(A[3:, 3:] / expected_information(theta) - 1).max()
    assert observed_gap > 1e-4  # the observed information is a different matrix here
    A[3:, 3:] = expected_information(theta)
    U = psi_rows(theta)
    inverse = np.linalg.inv(A)
    npt.assert_allclose(
        fit.cov_for("stacked").to_numpy(), (inverse @ (U.T @ U) @ inverse.T)[-3:, -3:], rtol=1e-5
    )


# --- step halving: a fit whose unconstrained optimum leaves (0, 1) ---------------------------


def steep_data(n=200, seed=3):
    """A risk that rises steeply with ``x``: the linear-probability fit leaves (0, 1), and
    the identity link's maximum-likelihood estimate lies on the boundary."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 1, n))
    y = (rng.random(n) < expit(12 * (x - 0.5))).astype(float)
    y[0], y[-1] = 0.0, 1.0
    return pd.DataFrame({"x": x, "y": y})


@pytest.mark.parametrize("link", ["identity", "log"])
def test_step_halving_keeps_the_means_inside(link):
    data = steep_data()
    with pytest.warns(msm.ConvergenceWarning, match=f"{link} link, did not converge: Fisher "
                      r"scoring keeps stepping outside \(0, 1\)"):  # fmt: skip
        fit = msm.glm("y ~ x", data, family="binomial", link=link, max_iter=10)
    assert not fit.converged
    mu = fit.fitted_values
    assert (mu > 0).all() and (mu < 1).all()
    # the unconstrained (linear-probability) optimum is outside: halving was needed
    ols = np.polyfit(data["x"], data["y"], 1)
    assert np.polyval(ols, data["x"]).min() < 0 or np.polyval(ols, data["x"]).max() > 1
    # the deviance fell from the start's (the mean outcome) all the same
    null = msm.glm("y ~ 1", data, family="binomial")
    assert fit.deviance < null.deviance


def test_fit_on_the_boundary_warns_naming_the_model():
    with pytest.warns(msm.ConvergenceWarning, match="y ~ x .*identity link: the estimate lies "
                      "on the boundary"):  # fmt: skip
        fit = msm.glm("y ~ x", steep_data(), family="binomial", link="identity")
    mu = fit.fitted_values
    assert (mu > 0).all() and (mu < 1).all()


def test_r_start_outside_falls_back_to_the_mean():
    """R's start (weighted least squares of y) has fitted means below 0 (R stops there: "no
    valid set of coefficients has been found"); the fit starts at the mean outcome instead
    and reaches the interior maximum: the score is 0 there (the log-likelihood is concave,
    so that is the maximum), and statsmodels' HC0 there is msm's.  (statsmodels' own IRLS,
    which clips the means instead of halving, ends outside (0, 1) on these data.)"""
    rng = np.random.default_rng(7)
    n = 400
    x = rng.uniform(0, 1, n) ** 3
    y = (rng.random(n) < 0.03 + 0.5 * x).astype(float)
    data = pd.DataFrame({"x": x, "y": y})
    X = design(data, ["x"])
    start = X @ np.linalg.lstsq(X, y, rcond=None)[0]  # R's start with weights 1: OLS
    fit = msm.glm("y ~ x", data, family="binomial", link="identity")
    assert fit.converged and fit.fitted_values.min() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DomainWarning
        model = sm.GLM(y, X, family=sm.families.Binomial(link=SM_LINKS["identity"]()))
        npt.assert_allclose(model.score(fit.params.to_numpy()), 0.0, atol=1e-5)  # info ~1e4
        ref = model.fit(method="newton", optim_hessian="eim", start_params=fit.params.to_numpy(),
                        cov_type="HC0", tol=1e-15, maxiter=100, disp=0)  # fmt: skip
    npt.assert_allclose(fit.params.to_numpy(), ref.params, rtol=1e-8)
    npt.assert_allclose(fit.bse.to_numpy(), ref.bse, rtol=1e-7)
    if start.min() > 0:  # pragma: no cover - the data are chosen so that it is not
        pytest.fail("R's start is inside on these data: the fallback is not exercised")


def test_no_valid_start_is_a_data_error():
    data = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 1.0]})
    data["xm"] = data["x"] - 3.0  # without an intercept, mean x - 3 <= 0: every start outside
    with pytest.raises(msm.DataError, match="no starting values keep every fitted mean"):
        msm.glm("y ~ 0 + xm", data, family="binomial", link="identity")


# --- bad input and what is not offered ---------------------------------------------------------


def test_link_not_valid_for_the_family_lists_the_valid_ones():
    data = point_data(100)
    with pytest.raises(ValueError, match="link for family='poisson' must be one of 'log', "
                       "'identity'; got 'probit'"):  # fmt: skip
        msm.glm("k ~ a", data, family="poisson", link="probit")
    with pytest.raises(ValueError, match="'logit', 'identity', 'log', 'probit', 'cloglog'"):
        msm.glm("y ~ a", data, family="binomial", link="inverse")
    with pytest.raises(ValueError, match="family='gaussian' must be one of 'identity'"):
        msm.glm("y ~ a", data, family="gaussian", link="log")
    with pytest.raises(ValueError, match="got 1"):
        msm.glm("y ~ a", data, family="binomial", link=1)
    with pytest.raises(ValueError, match="convergence='r' replays R's IRLS path for canonical"):
        msm.glm("y ~ a", data, family="binomial", link="identity", convergence="r")


def test_risk_curves_need_the_logit_link():
    data = point_data(300).assign(time=lambda d: d["id"] % 4)
    fit = msm.glm("y ~ a + time", data, family="binomial", link="cloglog")
    with pytest.raises(ValueError, match="link='logit'.*with link 'cloglog'"):
        risk_curves(fit, data, id="id", time="time", treatment="a")


def test_dask_refuses_a_non_canonical_link():
    dd = pytest.importorskip("dask.dataframe")
    frame = dd.from_pandas(point_data(200), npartitions=2)
    with pytest.raises(NotImplementedError, match="does not support a non-canonical link"):
        msm.glm("y ~ a", frame, family="binomial", link="identity")


def test_family_of_records_link_and_exp_label():
    assert glm_model.family_of("binomial", "log").exp_label == "risk ratio"
    assert glm_model.family_of("binomial", "cloglog").exp_label == "hazard ratio"
    assert glm_model.family_of("binomial", "identity").exp_label is None
    assert glm_model.family_of("binomial", "logit") is glm_model.FAMILIES["binomial"]
