"""The synthetic JDM cohort (simulate_jdm) and its truth (jdm_truth)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import msm
from msm.datasets import JDMParameters, JDMTruth, jdm_truth, simulate_jdm
from msm.datasets.jdm import COLUMNS

MONTH_TERMS = "month + I(month ** 2)"
BASELINE = "sex + age + np.log(duration) + methotrexate"
SCORES = "pga + pga_prev + cmas + mmt8 + das_skin + das_muscle + np.log(ck) + prednisone + flare"

RANGES = {
    "sex": (0, 1),
    "age": (2, 15),
    "duration": (0.5, 36),
    "methotrexate": (0, 1),
    "pga": (0, 10),
    "pga_prev": (0, 10),
    "cmas": (0, 52),
    "mmt8": (0, 80),
    "das_skin": (0, 9),
    "das_muscle": (0, 11),
    "das_total": (0, 20),
    "prednisone": (0, 2),
    "flare": (0, 1),
    "ivig": (0, 1),
    "quiescence": (0, 1),
    "lost": (0, 1),
}


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return simulate_jdm(2000, seed=7)


@pytest.fixture(scope="module")
def truth() -> JDMTruth:
    return jdm_truth(40_000, seed=3)


def _pooled_logit(data: pd.DataFrame, rhs: str, weights=None) -> pd.Series:
    import formulaic

    spec = formulaic.model_matrix(f"quiescence ~ {rhs}", data)
    y = np.asarray(spec.lhs, dtype=float).ravel()
    fit = sm.GLM(y, np.asarray(spec.rhs), family=sm.families.Binomial(), var_weights=weights)
    return pd.Series(fit.fit().params, index=list(spec.rhs.columns))


def _km_risk(data: pd.DataFrame, months: int) -> np.ndarray:
    """Cumulative incidence of quiescence by month from at-risk rows (no censoring here)."""
    hazard = data.groupby("month")["quiescence"].mean().reindex(range(months), fill_value=0.0)
    return 1.0 - np.cumprod(1.0 - hazard.to_numpy())


# ---------------------------------------------------------------------------------------------
# the cohort


def test_columns_types_and_order(cohort):
    assert list(cohort.columns) == COLUMNS
    assert cohort.index.equals(pd.RangeIndex(len(cohort)))
    assert not cohort.isna().any().any()
    for name in ["id", "month", "cmas", "mmt8", "das_skin", "das_muscle", "ck", "ivig", "lost"]:
        assert cohort[name].dtype == np.int64, name
    keys = cohort[["id", "month"]].to_numpy()
    assert (np.lexsort((keys[:, 1], keys[:, 0])) == np.arange(len(cohort))).all()
    assert cohort["id"].nunique() == 2000


def test_every_score_in_its_clinical_range(cohort):
    for name, (lo, hi) in RANGES.items():
        assert cohort[name].between(lo, hi).all(), name
    assert (cohort["ck"] >= 10).all()
    assert set(np.unique(cohort["sex"])) == {0, 1}
    # sums and lags are what they say
    assert (cohort["das_total"] == cohort["das_skin"] + cohort["das_muscle"]).all()
    prev = cohort.groupby("id")["pga"].shift(1)
    later = cohort["month"] > 0
    npt_equal = np.array_equal(cohort.loc[later, "pga_prev"], prev[later])
    assert npt_equal
    first = cohort["month"] == 0
    assert (cohort.loc[first, "pga_prev"] == cohort.loc[first, "pga"]).all()


def test_cohort_looks_like_a_jdm_inception_cohort(cohort):
    base = cohort[cohort["month"] == 0]
    assert 5.5 <= base["age"].median() <= 8.5
    assert 0.6 <= base["sex"].mean() <= 0.76  # about two girls to one boy
    assert 0.75 <= base["methotrexate"].mean() <= 0.95
    assert 4.5 <= base["pga"].mean() <= 7  # active disease at diagnosis...
    assert base["ck"].median() > 252  # ...with raised CK
    late = cohort[cohort["month"] >= 12]
    assert late["ck"].median() < 252  # mostly normal CK a year on
    assert late["cmas"].mean() > base["cmas"].mean() + 8
    ever = cohort.groupby("id")[["ivig", "quiescence", "lost", "flare"]].max().mean()
    assert 0.3 <= ever["ivig"] <= 0.5  # Lam et al. 2011: 30 of 78
    assert 0.3 <= ever["quiescence"] <= 0.65
    assert 0.05 <= ever["lost"] <= 0.25
    assert 0.3 <= ever["flare"] <= 0.7


def test_prednisone_follows_the_taper_until_a_flare(cohort):
    taper = np.asarray(JDMParameters().taper)
    flared_before = cohort.groupby("id")["flare"].cumsum() > 0
    clean = cohort[~flared_before]
    expected = taper[np.minimum(clean["month"].to_numpy(), taper.size - 1)]
    np.testing.assert_array_equal(clean["prednisone"].to_numpy(), expected)
    by_month = clean.groupby("month")["prednisone"].first()
    assert by_month[0] == 2.0 and by_month[2] == 1.0 and by_month[6] == 0.2
    assert by_month.is_monotonic_decreasing
    # a flare sends the dose back up to 1 mg/kg/day, and flares start at month 3
    flares = cohort[cohort["flare"] == 1]
    assert len(flares) > 0
    assert (flares["prednisone"] == 1.0).all()
    assert (flares["month"] >= 3).all()
    assert (flares["pga"] >= JDMParameters().flare_pga).all()


def test_ivig_is_absorbing(cohort):
    assert cohort.groupby("id")["ivig"].is_monotonic_increasing.all()
    assert cohort.loc[cohort["ivig"] == 1, "id"].nunique() > 0


def test_follow_up_ends_at_quiescence_or_loss(cohort):
    per = cohort.groupby("id")
    last = ~cohort["id"].duplicated(keep="last")
    # months are contiguous from 0
    assert (per["month"].transform("min") == 0).all()
    assert (per["month"].transform("max") + 1 == per["month"].transform("size")).all()
    # lost and quiescence only on a patient's last row, never both
    assert (cohort.loc[~last, "lost"] == 0).all()
    assert (cohort.loc[~last, "quiescence"] == 0).all()
    assert not ((cohort["lost"] == 1) & (cohort["quiescence"] == 1)).any()
    # a patient stops early only through quiescence or loss
    early = last & (cohort["month"] < 23)
    assert ((cohort.loc[early, "lost"] + cohort.loc[early, "quiescence"]) == 1).all()
    assert (cohort.loc[cohort["month"] == 23, "lost"] == 0).all()


def test_loss_to_follow_up_depends_on_activity(cohort):
    rate = cohort.groupby(cohort["pga"] >= 4)["lost"].mean()
    assert rate[True] > 1.5 * rate[False]


def test_same_seed_same_cohort_and_other_seeds_differ():
    a = simulate_jdm(300, months=12, seed=42)
    pd.testing.assert_frame_equal(a, simulate_jdm(300, months=12, seed=42))
    pd.testing.assert_frame_equal(a, simulate_jdm(300, months=12, seed=np.random.default_rng(42)))
    assert not a.equals(simulate_jdm(300, months=12, seed=43))
    assert a["month"].max() == 11


def test_parameters_and_overrides():
    p = JDMParameters(ivig_intercept=-50.0)
    none = simulate_jdm(200, seed=1, parameters=p)
    assert none["ivig"].sum() == 0
    again = simulate_jdm(200, seed=1, ivig_intercept=-50.0)
    pd.testing.assert_frame_equal(none, again)
    assert p.replace(lost_pga=0.0).lost_pga == 0.0
    with pytest.raises(TypeError, match="unknown JDM parameter"):
        simulate_jdm(10, seed=1, ivig_effect=2.0)
    with pytest.raises(ValueError, match="n_patients"):
        simulate_jdm(0)
    with pytest.raises(ValueError, match="months"):
        simulate_jdm(10, months=2.5)


def test_continuous_follow_up_and_latent_columns():
    data = simulate_jdm(300, seed=5, stop_at_quiescence=False, latent=True)
    assert {"activity", "frailty"} <= set(data.columns)
    per = data.groupby("id")
    assert (per["quiescence"].sum() <= 1).all()
    # without stopping, only loss ends follow-up early
    last = ~data["id"].duplicated(keep="last")
    early = last & (data["month"] < 23)
    assert (data.loc[early, "lost"] == 1).all()
    assert (per["frailty"].nunique() == 1).all()
    # scores are noisy measurements of the latent activity
    assert np.corrcoef(data["activity"], data["pga"])[0, 1] > 0.8
    assert np.corrcoef(data["activity"], data["cmas"])[0, 1] < -0.7


def test_frailty_does_not_act_on_treatment_given_the_scores():
    data = simulate_jdm(3000, months=12, seed=11, latent=True)
    rows = data[data.groupby("id")["ivig"].cumsum() - data["ivig"] == 0]  # until IVIG starts
    import formulaic

    rhs = "pga + pga_prev + cmas + flare + prednisone + month + frailty"
    spec = formulaic.model_matrix(f"ivig ~ {rhs}", rows)
    fit = sm.GLM(
        np.asarray(spec.lhs, dtype=float).ravel(),
        np.asarray(spec.rhs),
        family=sm.families.Binomial(),
    ).fit()
    coef = pd.Series(fit.params, index=list(spec.rhs.columns))
    se = pd.Series(fit.bse, index=list(spec.rhs.columns))
    assert abs(coef["frailty"]) < 3.5 * se["frailty"]
    assert coef["pga"] > 5 * se["pga"]


def test_simulation_is_fast():
    import time

    simulate_jdm(50, seed=0)
    start = time.perf_counter()
    simulate_jdm(500, seed=0)
    assert time.perf_counter() - start < 0.5


# ---------------------------------------------------------------------------------------------
# the truth


def test_truth_risks_are_monotone_and_consistent(truth):
    risk = truth.risk
    assert list(risk.columns) == ["always", "never"]
    assert len(risk) == 24
    assert (np.diff(risk.to_numpy(), axis=0) >= 0).all()
    assert ((risk >= 0) & (risk <= 1)).all().all()
    table = truth.table
    assert list(table.index) == [12, 24]
    for h in (12, 24):
        a, n = truth.risk_at(h, "always"), truth.risk_at(h, "never")
        assert table.loc[h, "always"] == a and table.loc[h, "never"] == n
        assert table.loc[h, "difference"] == pytest.approx(a - n)
        assert table.loc[h, "ratio"] == pytest.approx(a / n)
    hazard = truth.hazard
    cum = 1 - np.cumprod(1 - hazard[["always", "never"]].to_numpy(), axis=0)
    np.testing.assert_allclose(cum, risk.to_numpy())
    implied = truth.msm_risk
    assert (np.diff(implied.to_numpy(), axis=0) >= 0).all()
    assert (implied["always"] > implied["never"]).all()
    # the MSM's curves are close to, not equal to, the true ones (a constant odds ratio)
    np.testing.assert_allclose(implied.to_numpy(), risk.to_numpy(), atol=0.03)


def test_truth_is_a_clinically_meaningful_benefit(truth):
    assert 0.15 < truth.table.loc[12, "difference"] < 0.3
    assert 1.5 < truth.msm_or < 2.5
    assert truth.msm_log_or == pytest.approx(np.log(truth.msm_or))
    assert truth.msm_log_or == truth.msm_params["ivig"]
    assert "JDMTruth" in repr(truth) and "OR" in repr(truth)


def _forced(n: int, seed: int, always: bool) -> pd.DataFrame:
    """Direct simulation of a regime through simulate_jdm: IVIG forced on or off, no loss."""
    return simulate_jdm(
        n, seed=seed, ivig_intercept=np.inf if always else -np.inf, lost_intercept=-np.inf
    )


def test_truth_matches_a_direct_simulation_with_another_seed(truth):
    n = 15_000
    direct = {regime: _forced(n, 99, regime == "always") for regime in ("always", "never")}
    assert (direct["always"]["ivig"] == 1).all() and (direct["never"]["ivig"] == 0).all()
    assert direct["always"]["lost"].sum() == 0
    for regime, data in direct.items():
        risk = _km_risk(data, 24)
        # binomial Monte Carlo error of both estimates, 4.5 standard errors
        p = truth.risk[regime].to_numpy()
        se = np.sqrt(p * (1 - p) * (1 / n + 1 / truth.n_patients))
        assert (np.abs(risk - p) < 4.5 * se + 1e-9).all(), regime
    # the MSM parameter: the same pooled logistic fitted to the stacked direct worlds (on
    # counts per month and regime, which gives the same estimate as the person-months)
    stacked = pd.concat(direct.values(), ignore_index=True)
    cells = stacked.groupby(["ivig", "month"])["quiescence"].agg(["sum", "size"]).reset_index()
    rows = pd.concat(
        [
            cells.assign(quiescence=1, n=cells["sum"]),
            cells.assign(quiescence=0, n=cells["size"] - cells["sum"]),
        ]
    )
    params = _pooled_logit(rows, f"ivig + {MONTH_TERMS}", rows["n"].to_numpy(float))
    assert params["ivig"] == pytest.approx(truth.msm_log_or, abs=0.12)


def test_truth_uses_common_random_numbers():
    n = 5000
    # an IVIG that does nothing leaves the two worlds identical, draw for draw
    null = jdm_truth(n, seed=1, ivig_activity=0.0, quiescence_ivig=0.0)
    np.testing.assert_array_equal(null.risk["always"], null.risk["never"])
    assert null.msm_log_or == pytest.approx(0.0, abs=1e-8)
    # IVIG from month 6: identical to never before month 6, better after
    late = jdm_truth(n, seed=1, start_month=6, formula="quiescence ~ ivig + C(month)")
    np.testing.assert_array_equal(late.risk["always"][:6], late.risk["never"][:6])
    np.testing.assert_allclose(late.msm_risk["always"][:6], late.msm_risk["never"][:6])
    assert late.risk["always"].iloc[-1] > late.risk["never"].iloc[-1]
    assert late.start_month == 6


def test_truth_arguments():
    t = jdm_truth(2000, months=12, seed=2, formula="quiescence ~ ivig + C(month)")
    assert list(t.table.index) == [12]
    assert "C(month)[T.11]" in t.msm_params.index
    with pytest.raises(ValueError, match="start_month"):
        jdm_truth(100, months=12, start_month=12)
    with pytest.raises(ValueError, match="ivig"):
        jdm_truth(100, months=6, formula="quiescence ~ month")
    with pytest.raises(ValueError, match="only quiescence, ivig and month"):
        jdm_truth(100, months=6, formula="quiescence ~ ivig + pga")
    with pytest.raises(ValueError, match="regime"):
        t.risk_at(6, "sometimes")


# ---------------------------------------------------------------------------------------------
# with msm.iptw


def test_iptw_runs_cleanly_and_the_msm_beats_naive_analyses(cohort, truth):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = msm.iptw(
            cohort,
            id="id",
            time="month",
            treatment="ivig",
            denominator=f"{BASELINE} + {SCORES} + {MONTH_TERMS}",
            numerator=f"{BASELINE} + {MONTH_TERMS}",
            absorbing=True,
            censor="lost",
        )
    weights = w.weights.to_numpy()
    assert np.isfinite(weights).all() and (weights > 0).all()
    assert abs(weights.mean() - 1) < 0.1
    assert w.models["denominator"].params["pga"] > 0
    naive = _pooled_logit(cohort, f"ivig + {MONTH_TERMS}")["ivig"]
    adjusted = _pooled_logit(cohort, f"ivig + {MONTH_TERMS} + {BASELINE} + {SCORES}")["ivig"]
    weighted = _pooled_logit(cohort, f"ivig + {MONTH_TERMS}", weights)["ivig"]
    # confounding by indication hides the benefit from the naive analyses; the MSM finds it
    assert naive < truth.msm_log_or - 0.35
    assert adjusted < truth.msm_log_or - 0.35
    assert abs(weighted - truth.msm_log_or) < 0.3
