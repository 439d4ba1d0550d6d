"""The cluster bootstrap: resampling, reproducibility across workers, intervals, failures."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import msm
from msm._bootstrap import Resampler
from msm.inference import Bootstrap, BootstrapWarning, bootstrap


@pytest.fixture(scope="module")
def clustered():
    """60 subjects of 1-5 rows, unsorted, with a non-default index and string ids."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 6, size=60)
    ids = np.repeat([f"s{i}" for i in range(60)], sizes)
    frame = pd.DataFrame({"id": ids, "y": rng.normal(size=ids.size)})
    frame["orig"] = frame["id"]
    frame = frame.sample(frac=1.0, random_state=1)
    frame.index = frame.index * 3 + 100
    return frame


def quiet(**kwargs):
    return {"progress": False, **kwargs}


def test_subjects_drawn_twice_become_two_subjects(clustered):
    sizes = clustered.groupby("orig").size()

    def check(d):
        # every new id comes from one original subject, with all of its rows
        per_new = d.groupby("id")["orig"].agg(["nunique", "first", "size"])
        assert (per_new["nunique"] == 1).all()
        assert (per_new["size"].to_numpy() == sizes[per_new["first"]].to_numpy()).all()
        if pd.api.types.is_integer_dtype(d["id"]):  # a resample (the data's ids are text)
            assert d.index.equals(pd.RangeIndex(len(d)))
            assert sorted(d["id"].unique()) == list(range(60))
        return pd.Series(
            {
                "distinct_ids": d["id"].nunique(),
                "distinct_originals": d["orig"].nunique(),
                "rows": len(d),
            }
        )

    boot = bootstrap(check, clustered, cluster="id", n_boot=30, seed=4, n_jobs=1, **quiet())
    assert boot.n_failed == 0
    assert (boot.replicates["distinct_ids"] == 60).all()  # = number of draws
    assert (boot.replicates["distinct_originals"] < 60).all()  # some drawn twice
    assert boot.estimate["distinct_ids"] == 60


def test_resampler_draws_whole_clusters(clustered):
    resampler = Resampler.from_data(clustered, "id")
    rng = np.random.default_rng(0)
    rows, labels = resampler.draw(rng)
    drawn = np.random.default_rng(0).integers(0, 60, size=60)
    codes, uniques = pd.factorize(clustered["id"], sort=False)
    # naive: concatenate each drawn cluster's rows, in the data's order
    expected = np.concatenate([np.flatnonzero(codes == g) for g in drawn])
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_array_equal(
        labels, np.repeat(np.arange(60), [np.sum(codes == g) for g in drawn])
    )


def test_same_seed_same_replicates_on_any_number_of_workers():
    cohort = msm.datasets.simulate_panel(n_subjects=300, n_visits=5, seed=2)

    def effect(d):
        w = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l + time",
                     numerator="x + time", absorbing=True)  # fmt: skip
        fit = msm.glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
        return pd.concat([fit.params, pd.Series({"rows": float(len(d)), "x": d["x"].sum()})])

    one = bootstrap(effect, cohort, cluster="id", n_boot=12, seed=11, n_jobs=1, **quiet())
    two = bootstrap(effect, cohort, cluster="id", n_boot=12, seed=11, n_jobs=2, **quiet())
    assert two.n_jobs == 2
    # the resamples are identical; the fits agree to rounding (numba thread counts differ)
    pd.testing.assert_frame_equal(one.replicates[["rows", "x"]], two.replicates[["rows", "x"]])
    pd.testing.assert_frame_equal(one.replicates, two.replicates, rtol=1e-12, atol=0)
    other = bootstrap(effect, cohort, cluster="id", n_boot=12, seed=12, n_jobs=1, **quiet())
    assert not np.allclose(other.replicates["x"], one.replicates["x"])


def test_seed_none_is_recorded_and_reproduces(clustered):
    first = bootstrap(lambda d: d["y"].mean(), clustered, cluster="id", n_boot=10, n_jobs=1,
                      **quiet())  # fmt: skip
    again = bootstrap(lambda d: d["y"].mean(), clustered, cluster="id", n_boot=10, n_jobs=1,
                      seed=first.seed, **quiet())  # fmt: skip
    pd.testing.assert_frame_equal(first.replicates, again.replicates)


def test_intervals_match_numpy_on_the_replicates(clustered):
    def stat(d):
        return pd.Series({"mean": d["y"].mean(), "sd": d["y"].std()})

    boot = bootstrap(stat, clustered, cluster="id", n_boot=200, seed=5, n_jobs=1, alpha=0.1,
                     **quiet())  # fmt: skip
    reps = boot.replicates.to_numpy()
    est = stat(clustered).to_numpy()
    se = reps.std(axis=0, ddof=1)
    np.testing.assert_allclose(boot.bse, se, rtol=1e-12)
    np.testing.assert_allclose(boot.bias, reps.mean(axis=0) - est, rtol=1e-10)
    pct = boot.conf_int()
    np.testing.assert_allclose(pct["lower"], np.quantile(reps, 0.05, axis=0), rtol=1e-12)
    np.testing.assert_allclose(pct["upper"], np.quantile(reps, 0.95, axis=0), rtol=1e-12)
    pd.testing.assert_frame_equal(boot.percentile_ci, pct)
    z = scipy.stats.norm.ppf(0.95)
    normal = boot.normal_ci
    np.testing.assert_allclose(normal["lower"], est - z * se, rtol=1e-12)
    np.testing.assert_allclose(normal["upper"], est + z * se, rtol=1e-12)
    wide = boot.conf_int(alpha=0.01, method="percentile")
    np.testing.assert_allclose(wide["lower"], np.quantile(reps, 0.005, axis=0), rtol=1e-12)
    summary = boot.summary(method="normal")
    assert summary.columns.tolist() == ["estimate", "bias", "std_error", "lower", "upper"]
    np.testing.assert_allclose(summary["lower"], normal["lower"])
    with pytest.raises(ValueError, match="method"):
        boot.conf_int(method="bca")


def test_standard_error_of_a_mean_of_cluster_means_is_the_analytic_one(rng):
    """Bootstrap SE of the mean of G cluster means -> sqrt(var_pop(means) / G)."""
    g = 150
    sizes = rng.integers(2, 8, size=g)
    ids = np.repeat(np.arange(g), sizes)
    effect = rng.normal(scale=1.0, size=g)[ids]
    frame = pd.DataFrame({"id": ids, "y": effect + rng.normal(size=ids.size)})

    def mean_of_means(d):
        codes = d["id"].to_numpy()
        sums = np.bincount(codes, weights=d["y"].to_numpy())
        counts = np.bincount(codes)
        return float(np.mean(sums[counts > 0] / counts[counts > 0]))

    boot = bootstrap(mean_of_means, frame, cluster="id", n_boot=1000, seed=6, n_jobs=1,
                     **quiet())  # fmt: skip
    means = frame.groupby("id")["y"].mean().to_numpy()
    analytic = means.std(ddof=0) / np.sqrt(g)
    assert boot.bse.iloc[0] == pytest.approx(analytic, rel=0.1)
    assert boot.estimate.index.tolist() == ["mean_of_means"]


def test_caller_frame_is_not_modified(clustered):
    before = clustered.copy(deep=True)

    def mutating(d):
        d.loc[d.index[0], "y"] = 99.0  # a statistic that writes into the frame it is given
        d["orig"] = "changed"
        return 1.0

    bootstrap(mutating, clustered, cluster="id", n_boot=5, seed=1, n_jobs=1, **quiet())
    bootstrap(lambda d: d["y"].sum(), clustered, cluster="id", n_boot=5, seed=1, n_jobs=1,
              **quiet())  # fmt: skip
    pd.testing.assert_frame_equal(clustered, before)


def test_failed_replicates_are_counted_and_reported(clustered):
    def fragile(d):
        if "s0" not in set(d["orig"]):
            raise msm.DataError("y", "no subject s0 in this resample")
        return d["y"].mean()

    with pytest.warns(BootstrapWarning, match=r"failed \(DataError x\d+\)"):
        boot = bootstrap(fragile, clustered, cluster="id", n_boot=40, seed=8, n_jobs=1, **quiet())
    assert 0 < boot.n_failed < 40
    assert boot.n_failed + boot.n_succeeded == 40
    assert set(boot.failures["replicate"]).isdisjoint(boot.replicates.index)
    assert set(boot.failures["error"]) == {"DataError"}
    assert "no subject s0" in boot.failures["message"].iloc[0]
    assert "failed" in repr(boot)
    np.testing.assert_allclose(boot.bse.iloc[0], boot.replicates.iloc[:, 0].std(ddof=1))


def test_convergence_warnings_fail_a_replicate_unless_told_otherwise(clustered):
    def warns(d):
        warnings.warn("outcome model did not converge", msm.ConvergenceWarning, stacklevel=1)
        warnings.warn("just saying", FutureWarning, stacklevel=1)
        return d["y"].mean()

    common = dict(cluster="id", n_boot=5, seed=1, n_jobs=1, progress=False)
    with pytest.raises(RuntimeError, match="only 0 of 5.*ConvergenceWarning"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the estimate's own warnings
            bootstrap(warns, clustered, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = bootstrap(warns, clustered, **common, fail_on=())
    assert kept.n_failed == 0
    assert kept.warnings["category"].tolist() == ["ConvergenceWarning", "FutureWarning"]
    assert kept.warnings["replicates"].tolist() == [5, 5]


def test_label_mismatch_fails_the_replicate(clustered):
    def levels(d):
        return d.groupby(d["orig"].isin(["s1", "s2"]))["y"].mean()

    with pytest.warns(BootstrapWarning):
        boot = bootstrap(levels, clustered, cluster="id", n_boot=30, seed=3, n_jobs=1, **quiet())
    assert set(boot.failures["error"]) == {"LabelMismatch"}
    assert "missing True" in boot.failures["message"].iloc[0]


def test_non_finite_replicate_values_are_reported(clustered):
    def ratio(d):
        n = (d["orig"] == "s5").sum()
        return pd.Series({"ratio": 1.0 / n if n else np.nan, "n": float(n)})

    with pytest.warns(BootstrapWarning, match="non-finite.*ratio"):
        boot = bootstrap(ratio, clustered, cluster="id", n_boot=40, seed=2, n_jobs=1, **quiet())
    finite = boot.replicates["ratio"].dropna()
    assert np.isfinite(boot.bse["ratio"])
    np.testing.assert_allclose(boot.bse["ratio"], finite.std(ddof=1))


def test_dataframe_statistics_are_stacked(clustered):
    def table(d):
        out = pd.DataFrame(
            {"mean": [d["y"].mean(), d["y"].median()], "n": [len(d), d["id"].nunique()]},
            index=pd.Index(["a", "b"], name="row"),
        )
        return out

    boot = bootstrap(table, clustered, cluster="id", n_boot=5, seed=1, n_jobs=1, **quiet())
    assert boot.estimate.index.names == ["row", "column"]
    assert boot.estimate.index.tolist() == [("a", "mean"), ("a", "n"), ("b", "mean"), ("b", "n")]
    assert boot.estimate[("b", "n")] == 60
    assert boot.summary()["estimate"].unstack().loc["a", "mean"] == pytest.approx(
        clustered["y"].mean()
    )


def test_input_errors(clustered):
    stat = lambda d: d["y"].mean()  # noqa: E731
    with pytest.raises(msm.DataError, match="'cluster_id'"):
        bootstrap(stat, clustered, cluster="cluster_id", n_boot=5, **quiet())
    with pytest.raises(msm.DataError, match="'id'.*missing"):
        bootstrap(stat, clustered.assign(id=clustered["id"].where(clustered["y"] > -2)),
                  cluster="id", n_boot=5, **quiet())  # fmt: skip
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap(stat, clustered, cluster="id", n_boot=1, **quiet())
    with pytest.raises(ValueError, match="alpha"):
        bootstrap(stat, clustered, cluster="id", n_boot=5, alpha=1.5, **quiet())
    with pytest.raises(ValueError, match="n_jobs"):
        bootstrap(stat, clustered, cluster="id", n_boot=5, n_jobs=0, **quiet())
    with pytest.raises(TypeError, match="numbers"):
        bootstrap(lambda d: d["id"].iloc[:2], clustered, cluster="id", n_boot=5, **quiet())
    with pytest.raises(TypeError, match="callable"):
        bootstrap("mean", clustered, cluster="id", n_boot=5, **quiet())
    with pytest.raises(KeyError):  # the statistic's own error on the original data
        bootstrap(lambda d: d["nope"].mean(), clustered, cluster="id", n_boot=5, **quiet())


def test_bootstrap_covariance_for_a_fit():
    cohort = msm.datasets.simulate_panel(n_subjects=400, n_visits=4, seed=5)

    def params(d):
        return msm.glm("y ~ a + x", d, cluster="id", family="binomial").params

    boot = bootstrap(params, cohort, cluster="id", n_boot=30, seed=2, n_jobs=1, progress=False)
    np.testing.assert_allclose(np.diag(boot.cov), boot.bse**2, rtol=1e-12)
    np.testing.assert_allclose(boot.cov, np.cov(boot.replicates.to_numpy().T), rtol=1e-12)
    fit = msm.glm("y ~ a + x", cohort, cluster="id", family="binomial")
    reported = fit.with_variance(Bootstrap(boot))
    pd.testing.assert_series_equal(reported.bse, boot.bse, check_names=False)
    assert "cluster bootstrap by 'id' (400 clusters, 30 replicates, seed 2)" in str(reported)
    with pytest.raises(ValueError, match="needs the replicates"):
        msm.glm("y ~ a + x", cohort, family="binomial", variance="bootstrap")
    with pytest.raises(ValueError, match="replicates are of"):
        msm.glm("y ~ a", cohort, family="binomial").with_variance(Bootstrap(boot))


def test_printout(clustered):
    boot = bootstrap(lambda d: d["y"].mean(), clustered, cluster="id", n_boot=10, seed=3,
                     n_jobs=1, **quiet())  # fmt: skip
    text = repr(boot)
    assert "Bootstrap of statistic: 10 replicates (of 10)" in text
    assert "60 clusters of 'id'" in text and "seed 3" in text
    assert "95% percentile" in str(boot)
