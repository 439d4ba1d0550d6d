"""msm.mi.analyze: any analysis within each imputation; the checks; failures; workers."""

import numpy as np
import pandas as pd
import pytest

import msm

BASE = msm.datasets.simulate_panel(n_subjects=250, n_visits=4, seed=1)


def imputations(m=4, base=BASE):
    """Stand-in completed data sets: l perturbed as an imputer would fill it."""
    return [base.assign(l=base["l"] + np.random.default_rng(i).normal(0, 0.2, len(base)))
            for i in range(m)]  # fmt: skip


def msm_fit(d):
    w = msm.iptw(d, id="id", time="time", treatment="a",
                 denominator="x + l + time", numerator="x + time")  # fmt: skip
    return msm.glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")


def test_glm_fits_pooled_with_cluster_dfcom():
    imps = imputations()
    res = msm.mi.analyze(imps, msm_fit, id="id", time="time")
    fits = [msm_fit(d) for d in imps]
    np.testing.assert_allclose(res.estimates.to_numpy(), [f.params for f in fits], rtol=1e-12)
    np.testing.assert_allclose(res.variances.to_numpy(), [f.bse**2 for f in fits], rtol=1e-12)
    assert res.dfcom == 250 - 3  # clusters - parameters for a cluster-robust variance
    table = res.pool()
    expected = msm.mi.pool(res.estimates, res.variances, dfcom=247)
    pd.testing.assert_frame_equal(table, expected.rename_axis("term"), check_names=False)
    assert res.variance == "robust"  # the fit's own (cluster-robust by id)


def test_bootstrap_results_pooled_on_their_scales():
    imps = imputations(3)

    def curves(d, seed):
        def statistic(frame):
            fit = msm_fit(frame)
            return msm.risk_curves(fit, frame, id="id", time="time", treatment="a")

        return msm.bootstrap(statistic, d, cluster="id", n_boot=20, seed=seed, progress=False)

    res = msm.mi.analyze(imps, curves, seed=5)
    scales = pd.Series(res.scales)
    keys = scales.index
    assert (scales[[k for k in keys if k[-1] == "risk"]] == "cloglog").all()
    assert (scales[[k for k in keys if k[-1] == "ratio"]] == "log").all()
    assert (scales[[k for k in keys if k[-1] == "difference"]] == "identity").all()
    # the within variance of a risk: the variance of the cloglog of the replicates
    boot = res.results[0]
    key = next(k for k in keys if k[-1] == "risk")
    reps = boot.replicates[key].to_numpy()
    assert res.variances.iloc[0][key] == pytest.approx(np.var(np.log(-np.log1p(-reps)), ddof=1))
    table = res.pool()
    risk = table.loc[[k for k in keys if k[-1] == "risk"]]
    assert ((risk["lower"] < risk["estimate"]) & (risk["estimate"] < risk["upper"])).all()
    assert ((risk["lower"] > 0) & (risk["upper"] < 1)).all()
    # a reference regime's ratio is 1 in every imputation: no variance, pooled as 1
    # (its log is 0); the seed per imputation makes the whole run reproducible
    again = msm.mi.analyze(imps, curves, seed=5)
    pd.testing.assert_frame_equal(res.estimates, again.estimates)


def test_same_answer_on_any_number_of_workers():
    imps = imputations(3)

    def noisy(d, seed):  # an analysis that draws random numbers from its seed
        rng = np.random.default_rng(seed)
        return {"mean_l": (float(d["l"].mean() + rng.normal(0, 0.01)), 1e-4)}

    one = msm.mi.analyze(imps, noisy, seed=11, n_jobs=1)
    two = msm.mi.analyze(imps, noisy, seed=11, n_jobs=2)
    pd.testing.assert_frame_equal(one.estimates, two.estimates)
    other = msm.mi.analyze(imps, noisy, seed=12, n_jobs=1)
    assert not one.estimates.equals(other.estimates)


def test_clone_censor_risk_tables():
    d = msm.datasets.simulate_jdm(n_patients=400, months=14, seed=3, eligible=True)
    imps = [d.assign(cmas=d.cmas + i) for i in range(2)]  # stand-ins

    def ccw(frame):
        cc = msm.clone_censor(frame, id="id", time="month", treatment="ivig",
                              outcome="quiescence", eligible="eligible",
                              strategies={"w3": msm.start_within(3), "never": msm.never()},
                              censor_denominator="pga + cmas", followup_max=8)  # fmt: skip
        return cc.risk_curves(times=[8], n_boot=10, seed=1)

    res = msm.mi.analyze(imps, ccw)
    assert res.scales[(8, "w3")] == "cloglog"
    assert res.scales[(8, "difference")] == "identity"
    assert res.scales[(8, "ratio")] == "log"
    assert res.pool().loc[[(8, "w3")], "estimate"].between(0, 1).all()


def test_failures_are_reported_never_dropped_silently():
    imps = imputations(4)
    imps[2] = imps[2].assign(l=np.where(imps[2].index == 5, np.nan, imps[2].l))
    with pytest.raises(msm.mi.MIAnalysisError, match="imputation 3: DataError") as info:
        msm.mi.analyze(imps, msm_fit)
    assert "1 of 4" in str(info.value)
    with pytest.warns(msm.DataWarning, match="failed in 1 of 4"):
        res = msm.mi.analyze(imps, msm_fit, on_failure="drop")
    assert res.m == 3 and res.failures["imputation"].tolist() == [3]
    assert res.estimates.index.tolist() == [1, 2, 4]
    assert "failed" in repr(res)


def test_imputations_must_be_the_same_data():
    imps = imputations(3)
    with pytest.raises(ValueError, match="at least 2"):
        msm.mi.analyze(imps[:1], msm_fit)
    with pytest.raises(msm.DataError, match="other columns") as info:
        msm.mi.analyze([imps[0], imps[1].assign(z=1)], msm_fit)
    assert info.value.column == "z"
    with pytest.raises(msm.DataError, match="rows"):
        msm.mi.analyze([imps[0], imps[1].iloc[:-1]], msm_fit, id="id")
    shuffled = imps[1].sample(frac=1.0, random_state=1).reset_index(drop=True)
    with pytest.raises(msm.DataError, match="aligned") as info:
        msm.mi.analyze([imps[0], shuffled], msm_fit, id="id", time="time")
    assert info.value.column == "id" and info.value.ids
    with pytest.raises(msm.DataError, match="row index"):
        msm.mi.analyze([imps[0], imps[1].sample(frac=1.0, random_state=1)], msm_fit)
    with pytest.raises(TypeError, match="list of DataFrames"):
        msm.mi.analyze(imps[0], msm_fit)
    with pytest.raises(msm.mi.MIAnalysisError, match="analysis must return"):
        msm.mi.analyze(imps, lambda d: "text")


def test_model_based_within_variance_warns():
    imps = imputations(2)

    def naive(d):
        w = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l + time")
        return msm.glm("y ~ a", d, weights=w, family="binomial", variance="model")

    with pytest.warns(msm.DataWarning, match="model-based"):
        msm.mi.analyze(imps, naive)


def test_weights_within_imputations_and_balance():
    imps = imputations(3)
    args = dict(id="id", time="time", treatment="a", denominator="x + l + time",
                numerator="x + time")  # fmt: skip
    mw = msm.mi.iptw(imps, **args)
    for d, w in zip(imps, mw.weights):
        np.testing.assert_array_equal(w.weights, msm.iptw(d, **args).weights)
    table = mw.balance(covariates=["l", "x"])
    each = [
        msm.balance(d, weights=w, covariates=["l", "x"]).table for d, w in zip(imps, mw.weights)
    ]
    every = pd.concat(each)
    one = every[(every.covariate == "l") & (every.time == 2) & (every.stat == "smd")]
    row = table.loc[("l", 2, "smd")]
    assert row["weighted"] == pytest.approx(one.weighted.mean())
    assert row["weighted_min"] == pytest.approx(one.weighted.min())
    assert row["weighted_max"] == pytest.approx(one.weighted.max())
    assert row["imputations"] == 3
    assert mw.summary().index.get_level_values("imputation").unique().tolist() == [1, 2, 3]
    # the analysis gets each imputation's own weights
    res = msm.mi.analyze(mw, lambda d, w: msm.glm("y ~ a", d, weights=w, cluster="id",
                                                  family="binomial"))  # fmt: skip
    direct = msm.glm("y ~ a", imps[1], weights=mw.weights[1], cluster="id", family="binomial")
    np.testing.assert_allclose(res.estimates.iloc[1], direct.params, rtol=1e-12)
