"""The reweighted-association test (Pullenayegum et al. 2008) and the model comparison."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import scipy.stats

import msm
from msm.diagnostics import balance, compare_models, reweighted_association
from msm.diagnostics._association import weighted_auc


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return msm.datasets.simulate_panel(n_subjects=400, n_visits=6, seed=21)


@pytest.fixture(scope="module")
def weights(cohort):
    return msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="time",
        absorbing=True,
    )


def risk_rows(data: pd.DataFrame) -> pd.DataFrame:
    ordered = data.sort_values(["id", "time"], kind="stable")
    before = ordered.groupby("id")["a"].cumsum() - ordered["a"]
    return data.loc[(before == 0).reindex(data.index)]


# --- weighted AUC -----------------------------------------------------------------------------


def test_weighted_auc_hand_written():
    score = np.array([0.1, 0.4, 0.35, 0.8])
    y = np.array([0, 0, 1, 1])
    assert weighted_auc(score, y, np.ones(4)) == 0.75
    # a tie between a treated and an untreated row counts one half
    assert weighted_auc(np.array([1.0, 1.0]), np.array([0, 1]), np.ones(2)) == 0.5
    assert np.isnan(weighted_auc(np.array([1.0, 2.0]), np.array([1, 1]), np.ones(2)))


def test_weighted_auc_matches_sklearn(rng):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    score = np.round(rng.normal(size=500), 1)  # many ties
    y = (rng.random(500) < 1 / (1 + np.exp(-score))).astype(int)
    w = rng.lognormal(size=500)
    npt.assert_allclose(
        weighted_auc(score, y, w),
        sklearn_metrics.roc_auc_score(y, score, sample_weight=w),
        rtol=1e-12,
    )


# --- reweighted_association -------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:cov_type not fully supported with var_weights")
def test_matches_statsmodels_weighted_logit_with_cluster_robust_variance(cohort, weights):
    sm = pytest.importorskip("statsmodels.api")
    r = reweighted_association(cohort, covariates=["x", "l"], weights=weights)
    rows = risk_rows(cohort)
    w = weights.weights.loc[rows.index].to_numpy()
    X = sm.add_constant(rows[["time", "x", "l"]].astype(float))
    for sample, var_weights in (("weighted", w), ("unweighted", None)):
        fit = sm.GLM(
            rows["a"].astype(float), X, family=sm.families.Binomial(), var_weights=var_weights
        ).fit(
            tol=1e-12,
            cov_type="cluster",
            cov_kwds={"groups": rows["id"].to_numpy(), "use_correction": False},
        )
        got = r.table[r.table["sample"] == sample].set_index("term")
        npt.assert_allclose(got.loc[["x", "l"], "log_or"], fit.params[["x", "l"]], rtol=1e-6)
        npt.assert_allclose(got.loc[["x", "l"], "std_error"], fit.bse[["x", "l"]], rtol=1e-6)
        b = fit.params[["x", "l"]].to_numpy()
        V = fit.cov_params().loc[["x", "l"], ["x", "l"]].to_numpy()
        chi2 = b @ np.linalg.solve(V, b)
        npt.assert_allclose(r.wald.loc[sample, "chi2"], chi2, rtol=1e-6)
        npt.assert_allclose(r.wald.loc[sample, "p_value"], scipy.stats.chi2.sf(chi2, 2), rtol=1e-5)
        score = rows[["x", "l"]].to_numpy() @ b
        npt.assert_allclose(
            r.wald.loc[sample, "auc"],
            weighted_auc(
                score, rows["a"].to_numpy(), np.ones(len(rows)) if var_weights is None else w
            ),
            rtol=1e-6,
        )
    assert r.settings["n_rows"] == len(rows)
    assert r.settings["adjust"] == "time" and r.settings["cluster"] == "id"
    ci = r.table[["lower", "upper"]].to_numpy()
    npt.assert_allclose(ci.mean(axis=1), r.table["log_or"])


@pytest.mark.parametrize("variance", ["robust", "cr1", "cr1s"])
def test_fits_equal_msm_glm_on_the_compared_rows(cohort, weights, variance):
    """The engine path gives msm.glm's numbers (same fit, same sandwich) to rounding."""
    r = reweighted_association(cohort, covariates=["x", "l"], weights=weights, variance=variance)
    rows = risk_rows(cohort)
    for sample in ("weighted", "unweighted"):
        w = weights.weights.loc[rows.index] if sample == "weighted" else None
        fit = msm.glm("a ~ time + x + l", rows, weights=w, cluster="id", family="binomial",
                      variance=variance)  # fmt: skip
        got = r.fits[sample]
        npt.assert_allclose(got.params, fit.params, rtol=1e-12, atol=1e-14)
        npt.assert_allclose(got.cov, fit.cov, rtol=1e-10, atol=1e-16)
        assert got.variance == variance and got.nobs == fit.nobs
    with pytest.raises(ValueError, match="model"):
        reweighted_association(cohort, covariates=["x", "l"], weights=weights, variance="model")


def test_numerator_terms_are_adjusted_for_not_tested(cohort):
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x + time",
        absorbing=True,
    )
    r = reweighted_association(cohort, covariates=["x", "l"], weights=w)
    assert list(r.table["term"].unique()) == ["l"]
    assert r.settings["conditioned_on"] == ["x"]
    assert "not tested (already adjusted for): x" in repr(r)
    with pytest.raises(msm.DataError, match="nothing is left to test"):
        reweighted_association(cohort, covariates=["x"], weights=w)
    # an explicit adjust overrides the numerator
    r = reweighted_association(cohort, covariates=["x", "l"], weights=w, adjust="1")
    assert sorted(r.table["term"].unique()) == ["l", "x"]


def test_same_for_any_row_order_and_frame_untouched(cohort, weights):
    data = cohort.sample(frac=1.0, random_state=4)
    before = data.copy()
    w = weights.weights.loc[data.index].to_numpy()
    r = reweighted_association(
        data,
        treatment="a",
        covariates=["x", "l"],
        weights=w,
        id="id",
        time="time",
        absorbing=True,
        adjust="time",
    )
    pd.testing.assert_frame_equal(data, before)
    ref = reweighted_association(cohort, covariates=["x", "l"], weights=weights)
    pd.testing.assert_frame_equal(r.table, ref.table, rtol=1e-8)


def test_repr_and_verdict(cohort, weights):
    text = repr(reweighted_association(cohort, covariates=["x", "l"], weights=weights))
    assert text.startswith("Reweighted association (Pullenayegum et al. 2008): 'a' ~ x + l")
    assert "cluster-robust" in text and "Joint Wald test" in text
    assert "does not reject" in text


def test_needs_weights(cohort):
    with pytest.raises(TypeError, match="needs weights"):
        reweighted_association(cohort, treatment="a", covariates=["x"], weights=None)


SEEDS = range(5)


def test_rejects_when_the_denominator_omits_a_confounder_and_not_when_correct():
    """simulate_panel's treatment model is logistic in x, l and time.

    Weights whose denominator omits the confounder l leave l associated with treatment: the
    weighted test must reject (p < 0.05) for every seed.  With the correct denominator the
    null holds; at a nominal 5% level at most 1 rejection in 5 seeds is tolerated (the chance
    of 2 or more is 2.3%; with estimated weights the test is conservative: 0 of 40 seeds
    rejected in a longer run).
    """
    p_right, p_wrong = [], []
    for seed in SEEDS:
        data = msm.datasets.simulate_panel(n_subjects=400, n_visits=8, seed=seed)
        for denominator, out in (("x + l + time", p_right), ("x + time", p_wrong)):
            w = msm.iptw(
                data,
                id="id",
                time="time",
                treatment="a",
                denominator=denominator,
                numerator="time",
                absorbing=True,
            )
            out.append(reweighted_association(data, covariates=["x", "l"], weights=w).wald_p)
    assert max(p_wrong) < 0.05, p_wrong
    assert sum(p < 0.05 for p in p_right) <= 1, p_right


# --- compare_models ---------------------------------------------------------------------------


def test_compare_models_tabulates_each_candidate(cohort):
    candidates = {"no l": "x + time", "with l": ["x", "l", "time"]}
    cmp = compare_models(
        cohort,
        id="id",
        time="time",
        treatment="a",
        candidates=candidates,
        numerator="time",
        absorbing=True,
        truncate=(1, 99),
    )
    table = cmp.table
    assert table.index.tolist() == ["no l", "with l"]
    assert table.loc["with l", "denominator"] == "x + l + time"
    assert table.loc["with l", "wald_chi2"] < table.loc["no l", "wald_chi2"]
    # each number is what the separate calls give
    w = cmp.weights["with l"]
    assert w.settings["truncate"] == (1, 99) and table.loc["with l", "n_truncated"] > 0
    r = reweighted_association(cohort, covariates=["x", "l"], weights=w)
    assert table.loc["with l", "wald_chi2"] == pytest.approx(r.wald_chi2)
    b = balance(cohort, covariates=["x", "l"], weights=w, stats=["smd"])
    assert table.loc["with l", "smd_max"] == pytest.approx(b.table["weighted"].abs().max())
    values = w.weights.to_numpy()
    assert table.loc["with l", "ess"] == pytest.approx(values.sum() ** 2 / (values**2).sum())
    assert table.loc["with l", "p99"] == pytest.approx(np.percentile(values, 99))
    text = repr(cmp)
    assert "no l: denominator x + time" in text and "wald_chi2" in text


def test_compare_models_bad_candidates(cohort):
    with pytest.raises(ValueError, match="candidates"):
        compare_models(cohort, id="id", time="time", treatment="a", candidates={})
    with pytest.raises(msm.DataError) as info:
        compare_models(cohort, id="id", time="time", treatment="a", candidates={"bad": "x + nope"})
    assert info.value.column == "nope"
