"""Dask DataFrames give the in-memory numbers on both schedulers: weights, models and the MSM
to 1e-12 relative (both front ends take the same Newton path), balance to 1e-10."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import msm  # noqa: E402
from msm import _glm  # noqa: E402
from msm._dask import diagnostics, is_dask, outcome, partitions, quantiles  # noqa: E402
from msm._dask import weights as dask_weights  # noqa: E402
from msm._dask.ks import ks_statistics  # noqa: E402
from msm.diagnostics._balance import group_ks  # noqa: E402
from msm.weights import _grouped_quantiles  # noqa: E402

RTOL = 1e-12
RTOL_BALANCE = 1e-10  # balance's sums: per cell and partition, vs cumulative in memory
KW = dict(
    id="id",
    time="time",
    treatment="a",
    denominator="x + l + time",
    numerator="x + time",
    absorbing=True,
    censor="lost",
)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    data = msm.datasets.simulate_panel(n_subjects=600, seed=11, censor_coefs=(-3.0, 0.4))
    data.index = pd.RangeIndex(1000, 1000 + len(data))  # labels that are not positions
    return data


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c
    cluster.close()


@pytest.fixture(params=["threads", "distributed"])
def scheduler(request, client):
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield request.param
    else:
        with client.as_current(), dask.config.set(scheduler=client):
            yield request.param


def by_subject_blocks(data: pd.DataFrame, n_parts: int):
    """Partitions of whole subjects (no shuffle needed), rows shuffled within each."""
    ids = np.array_split(np.unique(data["id"]), n_parts)
    parts = [
        data[data["id"].isin(block)].sample(frac=1, random_state=k) for k, block in enumerate(ids)
    ]
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=data.iloc[:0])


def shuffled_rows(data: pd.DataFrame, n_parts: int):
    """Rows in random order, split by position: subjects span partitions."""
    return dd.from_pandas(data.sample(frac=1, random_state=3), npartitions=n_parts, sort=False)


LAYOUTS = {"blocks": by_subject_blocks, "shuffled": shuffled_rows}


def close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=0)


@pytest.mark.parametrize("layout", ["blocks", "shuffled"])
def test_weights_models_glm(cohort, scheduler, layout):
    frame = LAYOUTS[layout](cohort, 3)
    before = frame.compute()
    w0 = msm.iptw(cohort, **KW)
    w1 = msm.iptw(frame, **KW)
    assert w1.shuffled == (layout == "shuffled")
    for key, fit in w0.models.items():
        close(w1.models[key].params, fit.params)
        close(w1.models[key].bse, fit.bse)
        assert w1.models[key].n == fit.n
    weights = w1.frame.compute().reindex(cohort.index)
    close(weights["weight"], w0.weights)
    close(weights["treatment_weight"], w0.treatment_weights)
    close(weights["censoring_weight"], w0.censoring_weights)
    pd.testing.assert_frame_equal(w1.summary(), w0.summary(), rtol=RTOL)

    f0 = msm.glm("y ~ a + time", cohort, weights=w0, cluster="id", family="binomial")
    f1 = msm.glm("y ~ a + time", frame, weights=w1, cluster="id", family="binomial")
    close(f1.params, f0.params)
    close(f1.bse, f0.bse)
    close(f1.conf_int(), f0.conf_int())
    assert (f1.nobs, f1.n_clusters, f1.n_rows) == (f0.nobs, f0.n_clusters, f0.n_rows)
    pd.testing.assert_frame_equal(frame.compute(), before)  # the caller's data untouched


def test_unstabilized_no_censoring_and_weight_column(cohort, scheduler):
    kw = {**KW, "numerator": None, "censor": None, "absorbing": False}
    frame = shuffled_rows(cohort, 4)
    w0 = msm.iptw(cohort, **kw)
    w1 = msm.iptw(frame, **kw)
    assert set(w1.models) == {"denominator"}
    close(w1.weights.compute().reindex(cohort.index), w0.weights)
    data = cohort.assign(w=w0.weights)
    f0 = msm.glm("y ~ a", data, weights="w", cluster="id", family="binomial", variance="cr1")
    f1 = msm.glm(
        "y ~ a",
        shuffled_rows(data, 4),
        weights="w",
        cluster="id",
        family="binomial",
        variance="cr1",
    )
    close(f1.params, f0.params)
    close(f1.bse, f0.bse)
    g0 = msm.glm("l ~ x + a", data, weights="w")  # no cluster: each row its own
    g1 = msm.glm("l ~ x + a", dd.from_pandas(data, npartitions=3), weights="w")
    # one least-squares solve: the order of the partitions' sums moves its last digits by
    # about cond(X'WX) * 2**-52 (params 1.4e-12, robust SEs 1.2e-11 here): left at 1e-10
    np.testing.assert_allclose(g1.params, g0.params, rtol=1e-10, atol=0)
    np.testing.assert_allclose(g1.bse, g0.bse, rtol=1e-10, atol=0)


def test_data_errors_as_in_memory(cohort):
    bad = cohort.copy()
    bad.loc[bad.index[5], "l"] = np.nan
    with pytest.raises(msm.DataError) as expected:
        msm.iptw(bad, **KW)
    with dask.config.set(scheduler="sync"), pytest.raises(msm.DataError) as got:
        msm.iptw(by_subject_blocks(bad, 2), **KW)
    # the same rule, column and ids (the row count in the message is the partition's)
    assert (got.value.column, got.value.ids) == (expected.value.column, expected.value.ids)
    assert got.value.rule.split(" out of ")[0] == expected.value.rule.split(" out of ")[0]
    with pytest.raises(msm.DataError, match="'nope'"):
        msm.iptw(by_subject_blocks(cohort, 2), **{**KW, "denominator": "x + nope"})
    with pytest.raises(ValueError, match="truncate"):
        msm.iptw(by_subject_blocks(cohort, 2), **KW, truncate=(99, 1))
    with pytest.raises(ValueError, match="truncate_by"):
        msm.iptw(by_subject_blocks(cohort, 2), **KW, truncate=(1, 99), truncate_by="id")


def test_is_dask(cohort):
    assert is_dask(dd.from_pandas(cohort, npartitions=2))
    assert not is_dask(cohort)


@pytest.mark.parametrize("layout", ["blocks", "shuffled"])
def test_balance(cohort, scheduler, layout):
    frame = LAYOUTS[layout](cohort, 3)
    w0 = msm.iptw(cohort, **KW)
    w1 = msm.iptw(frame, **KW)
    b0 = msm.balance(cohort, covariates=["x", "l"], weights=w0)
    b1 = msm.balance(frame, covariates=["x", "l"], weights=w1)
    pd.testing.assert_frame_equal(b1.table, b0.table, rtol=RTOL_BALANCE, check_dtype=False)
    pd.testing.assert_frame_equal(b1.ess, b0.ess, rtol=RTOL_BALANCE)
    assert "not_computed" not in b1.settings
    data = cohort.assign(w=w0.weights)
    c0 = msm.balance(data, treatment="a", covariates="x + l", weights="w", by="time")
    c1 = msm.balance(
        shuffled_rows(data, 3), treatment="a", covariates="x + l", weights="w", by="time"
    )
    pd.testing.assert_frame_equal(c1.table, c0.table, rtol=RTOL_BALANCE, check_dtype=False)


TRUNCATIONS = [((1, 99), None), ((5, 95), None), ((1, 99), "time"), ((5, 95), "time")]


@pytest.mark.parametrize(("truncate", "truncate_by"), TRUNCATIONS)
@pytest.mark.parametrize("fetch_limit", [None, 7])  # 7: histogram refinement rounds
def test_truncation(cohort, scheduler, truncate, truncate_by, fetch_limit, monkeypatch):
    if fetch_limit is not None:
        monkeypatch.setattr(quantiles, "FETCH_LIMIT", fetch_limit)
        monkeypatch.setattr(quantiles, "BINS", 16)
    frame = shuffled_rows(cohort, 3)
    kw = {**KW, "truncate": truncate, "truncate_by": truncate_by}
    w0 = msm.iptw(cohort, **kw)
    w1 = msm.iptw(frame, **kw)
    pd.testing.assert_frame_equal(w1.truncation_bounds, w0.truncation_bounds, rtol=RTOL)
    assert w1.n_truncated == w0.n_truncated > 0
    assert w1.settings["truncate"] == truncate and w1.settings["truncate_by"] == truncate_by
    rows = w1._truncation_frame().compute().reindex(cohort.index)
    close(rows["weight"], w0.weights)
    close(rows["untruncated_weight"], w0.untruncated)
    np.testing.assert_array_equal(rows["truncated"], w0.truncated)
    close(w1.weights.compute().reindex(cohort.index), w0.weights)
    close(w1.treatment_weights.compute().reindex(cohort.index), w0.treatment_weights)
    pd.testing.assert_frame_equal(w1.summary(), w0.summary(), rtol=RTOL)
    pd.testing.assert_frame_equal(w1.summary(by="time"), w0.summary(by="time"), rtol=RTOL)
    assert f"{w0.n_truncated} rows changed" in repr(w1)
    # the outcome model and balance read the truncated weights
    f0 = msm.glm("y ~ a + time", cohort, weights=w0, cluster="id", family="binomial")
    f1 = msm.glm("y ~ a + time", frame, weights=w1, cluster="id", family="binomial")
    close(f1.params, f0.params)
    close(f1.bse, f0.bse)
    b0 = msm.balance(cohort, covariates=["x", "l"], weights=w0)
    b1 = msm.balance(frame, covariates=["x", "l"], weights=w1)
    pd.testing.assert_frame_equal(b1.table, b0.table, rtol=RTOL_BALANCE, check_dtype=False)


def _random_values(rng, n):
    kind = rng.integers(0, 4)
    if kind == 0:
        return np.round(rng.lognormal(0, 1.5, n), int(rng.integers(0, 3)))  # ties, zeros
    if kind == 1:
        return np.full(n, 1.0)  # one value
    if kind == 2:
        return rng.normal(0, 1, n)  # negative values: linear bins
    return rng.choice([0.5, 1.0, 1.0 + 2**-52, 4.0], n)  # adjacent floats


@pytest.mark.parametrize("seed", range(6))
def test_order_statistics_match_numpy(seed, monkeypatch):
    """Distributed selection gives np.quantile (ungrouped) and the grouped in-memory quantiles
    exactly, with ties, empty and one-row partitions, and forced refinement rounds."""
    rng = np.random.default_rng(seed)
    passes = []
    counted = quantiles.compute_each

    def counting(*args):
        passes.append(args[0].__name__)
        return counted(*args)

    monkeypatch.setattr(quantiles, "compute_each", counting)
    probabilities = [0.0, 0.01, 0.05, 0.5, 0.95, 0.99, 1.0]
    with dask.config.set(scheduler="threads"):
        for n in (1, 2, 5, 40, 3000):
            values = _random_values(rng, n)
            groups = rng.integers(0, 3, n) * 10
            data = pd.DataFrame({"w": values, "t": groups})
            sizes = rng.multinomial(n, np.ones(6) / 6)  # some partitions empty or tiny
            cuts = np.concatenate(([0], np.cumsum(sizes)))
            parts = [dask.delayed(data.iloc[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
            frame = dd.from_delayed(parts, meta=data.iloc[:0])
            keys_expected, inverse = np.unique(groups, return_inverse=True)
            grouped = _grouped_quantiles(values, inverse, keys_expected.size, *probabilities)
            for bins, limit in ((4096, 10**6), (4, 3), (16, 1)):
                passes.clear()
                keys, got = quantiles.type7_quantiles(
                    frame,
                    quantiles.column_source,
                    ("w",),
                    probabilities,
                    grouped=False,
                    bins=bins,
                    fetch_limit=limit,
                )
                assert keys is None
                np.testing.assert_array_equal(
                    np.concatenate(got), np.quantile(values, probabilities)
                )
                if n == 3000 and limit < 10:
                    assert len(passes) > 2  # refined by histograms
                keys, got = quantiles.type7_quantiles(
                    frame,
                    quantiles.column_source,
                    ("w", "t"),
                    probabilities,
                    grouped=True,
                    bins=bins,
                    fetch_limit=limit,
                )
                np.testing.assert_array_equal(keys, keys_expected)
                for a, b in zip(got, grouped):
                    np.testing.assert_array_equal(a, b)


def test_order_statistics_on_cluster(client):
    rng = np.random.default_rng(5)
    values = np.round(rng.lognormal(0, 1, 5000), 2)
    frame = dd.from_pandas(pd.DataFrame({"w": values}), npartitions=4)
    with client.as_current(), dask.config.set(scheduler=client):
        _, got = quantiles.type7_quantiles(
            frame,
            quantiles.column_source,
            ("w",),
            [0.01, 0.99],
            grouped=False,
            bins=8,
            fetch_limit=10,
        )
    np.testing.assert_array_equal(np.concatenate(got), np.quantile(values, [0.01, 0.99]))


def test_balance_ks_refined(cohort, scheduler, monkeypatch):
    """KS through histogram rounds (tiny fetch limit) equals the in-memory KS."""
    monkeypatch.setattr(quantiles, "FETCH_LIMIT", 5)
    monkeypatch.setattr(quantiles, "BINS", 16)
    frame = shuffled_rows(cohort, 3)
    w0 = msm.iptw(cohort, **KW)
    w1 = msm.iptw(frame, **KW)
    b0 = msm.balance(cohort, covariates=["x", "l"], weights=w0, stats=["ks"])
    b1 = msm.balance(frame, covariates=["x", "l"], weights=w1, stats=["ks"])
    pd.testing.assert_frame_equal(b1.table, b0.table, rtol=RTOL_BALANCE, check_dtype=False)


def _ks_source(part, p):
    X = part[[f"x{j}" for j in range(p)]].to_numpy(dtype=np.float64)
    return part["g"].to_numpy(), part["a"].to_numpy() == 1, part["w"].to_numpy(), X


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("bins", "limit"), [(4096, 10**6), (4, 3), (16, 1)])
def test_ks_statistics_match_group_ks(seed, bins, limit):
    rng = np.random.default_rng(seed)
    n, p, n_groups = 2000, 4, 3
    data = pd.DataFrame(
        {
            "g": rng.integers(0, n_groups, n),
            "a": rng.integers(0, 2, n),
            "w": rng.choice([0.0, 0.5, 1.0, 3.0], n) * rng.lognormal(0, 1, n),
            "x0": rng.normal(0, 1, n),  # negative values
            "x1": np.round(rng.lognormal(0, 1, n), 1),  # ties
            "x2": rng.integers(0, 2, n).astype(float),  # binary
            "x3": rng.choice([1.0, 1.0 + 2**-52, 7.0], n),  # adjacent floats
        }
    )
    data.loc[data["g"] == 2, "a"] = 1  # one arm empty: NaN
    g, a, w = data["g"].to_numpy(), data["a"].to_numpy(), data["w"].to_numpy()
    X = data[[f"x{j}" for j in range(p)]].to_numpy()
    expected = group_ks(X, a, w, g, n_groups)
    count = np.stack([np.bincount(g[a == k], minlength=n_groups) for k in (0, 1)], axis=1)
    wsum = np.stack(
        [np.bincount(g[a == k], weights=w[a == k], minlength=n_groups) for k in (0, 1)], axis=1
    )
    low = np.stack([X[g == k].min(axis=0) for k in range(n_groups)])
    high = np.stack([X[g == k].max(axis=0) for k in range(n_groups)])
    sizes = rng.multinomial(n, np.ones(5) / 5)
    cuts = np.concatenate(([0], np.cumsum(sizes)))
    parts = [dask.delayed(data.iloc[i:j]) for i, j in zip(cuts[:-1], cuts[1:])]
    frame = dd.from_delayed(parts, meta=data.iloc[:0])
    with dask.config.set(scheduler="threads"):
        got = ks_statistics(
            frame,
            _ks_source,
            (p,),
            n_groups,
            p,
            {False: count.astype(float), True: wsum},
            (low, high),
            bins=bins,
            fetch_limit=limit,
        )
    for a_, b_ in zip(got, expected):
        np.testing.assert_allclose(a_, b_, rtol=RTOL_BALANCE, atol=0)
        assert np.isnan(a_[2]).all()


def _counting(monkeypatch, module, name: str) -> list:
    """Replace ``module.name`` by a wrapper that records each call's second argument."""
    calls = []
    function = getattr(module, name)

    def counted(first, *args):
        calls.append(args[0] if args else None)
        return function(first, *args)

    counted.__name__ = function.__name__
    monkeypatch.setattr(module, name, counted)
    return calls


def test_each_partition_prepared_once_per_call(cohort, monkeypatch):
    """iptw, glm and balance validate, sort and build each partition once per call (not once
    per Newton pass), and glm and balance read the weights iptw kept."""
    frame = by_subject_blocks(cohort, 3)
    prepared = _counting(monkeypatch, dask_weights, "prepare_partition")
    rows = _counting(monkeypatch, dask_weights, "weight_rows")
    glm_rows = _counting(monkeypatch, outcome, "prepare_rows")
    inputs = _counting(monkeypatch, diagnostics, "prepare_inputs")
    recomputed = _counting(monkeypatch, dask_weights, "partition_weights")
    with dask.config.set(scheduler="threads"):
        w = msm.iptw(frame, **KW)
        assert (len(prepared), len(rows)) == (3, 3)
        assert all(m.n_iter >= 2 for m in w.models.values())  # several Newton passes
        msm.glm("y ~ a + time", frame, weights=w, cluster="id", family="binomial")
        msm.balance(frame, covariates=["x", "l"], weights=w)
    assert len(prepared) == 3 and len(glm_rows) == 3 and len(inputs) == 3
    assert recomputed == []  # the persisted weights were read, not recomputed


def test_one_pass_serves_every_weight_model(cohort, monkeypatch):
    """Each Newton round is one task per partition for all the models still iterating."""
    frame = by_subject_blocks(cohort, 3)
    rounds = _counting(monkeypatch, partitions, "newton_passes")
    with dask.config.set(scheduler="threads"):
        w = msm.iptw(frame, **KW)
    assert len(rounds) % 3 == 0
    asked = [set(r) for r in rounds[::3]]
    assert (
        asked[0]
        == set(w.models)
        == {
            "denominator",
            "numerator",
            "censor_denominator",
            "censor_numerator",
        }
    )
    # one pass per round, not one per model: as many rounds as the slowest model needs
    passes = {key: sum(key in a for a in asked) for key in w.models}
    assert len(asked) == max(passes.values()) < sum(passes.values())
    for key, fit in w.models.items():
        assert passes[key] == fit.n_iter + 1  # the start and one per step (no halving here)


def test_same_newton_path_as_in_memory_with_a_warm_start(cohort, monkeypatch):
    """Above the warm-start size both front ends start Newton from the fit on the same
    subsample (msm._glm.warm_start_rows in the in-memory order), so they agree to rounding
    (1e-12) and take the same number of iterations, whatever the partitions' order."""
    monkeypatch.setattr(_glm, "WARM_START_ROWS", 1000)
    monkeypatch.setattr(_glm, "WARM_START_SAMPLE", 300)
    ids = np.array_split(np.unique(cohort["id"]), 4)[::-1]  # partitions out of id order
    frame = dd.from_delayed(
        [dask.delayed(cohort[cohort["id"].isin(block)]) for block in ids], meta=cohort.iloc[:0]
    )
    w0 = msm.iptw(cohort, **KW)
    f0 = msm.glm("y ~ a + time", cohort, weights=w0, cluster="id", family="binomial")
    with dask.config.set(scheduler="threads"):
        w1 = msm.iptw(frame, **KW)
        blocks = pd.concat([cohort[cohort["id"].isin(block)] for block in ids])
        f1 = msm.glm("y ~ a + time", frame, weights=w1, cluster="id", family="binomial")
        weights = w1.weights.compute().reindex(cohort.index)
    for key, fit in w0.models.items():
        close(w1.models[key].params, fit.params)
        assert w1.models[key].n_iter == fit.n_iter
    close(weights, w0.weights)
    # the outcome model's subsample is taken in the frame's row order: as in memory on it
    f2 = msm.glm(
        "y ~ a + time", blocks, weights=w0.weights.reindex(blocks.index), cluster="id",
        family="binomial",
    )  # fmt: skip
    close(f1.params, f2.params)
    close(f1.bse, f2.bse)
    assert f1.n_iter == f2.n_iter
    # in the cohort's own order the subsample differs, so the Newton paths do: both stop
    # where the step is below 1e-10 (1 + max |beta|), and agree to that
    limit = 1e-10 * (1 + np.abs(f0.params).max())
    assert np.abs(f1.params - f0.params).max() <= limit


# --- a worker lost mid-run ----------------------------------------------------------------


def _kill_a_worker_when_busy(client, killed: list) -> threading.Thread:
    """Kill (SIGKILL) one worker process as soon as the cluster runs a task; the time of the
    kill is appended to ``killed``."""

    def run():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(client.processing().values()):
            time.sleep(0.02)
        busy = [addr for addr, tasks in client.processing().items() if tasks]
        pids = client.run(os.getpid)
        os.kill(pids[busy[0]] if busy else next(iter(pids.values())), signal.SIGKILL)
        killed.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_mid_run_changes_nothing(cohort):
    """Persisted partitions and weights lost with a worker are recomputed from their graph:
    the weights, the models and the MSM are bit-identical to the same run without the
    fault (one worker killed while iptw runs its Newton rounds)."""
    data = by_subject_blocks(cohort, 4)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster, set_as_default=False) as c, c.as_current():
        with dask.config.set(scheduler=c):
            killed: list = []

            def analysis(kill: bool):
                killer = _kill_a_worker_when_busy(c, killed) if kill else None
                w = msm.iptw(data, **KW)
                done = time.monotonic()
                if killer is not None:
                    killer.join()
                    assert killed and killed[0] < done  # the worker died while iptw ran
                fit = msm.glm("y ~ a + time", data, weights=w, cluster="id", family="binomial")
                return w.weights.compute(), w.models, fit

            w0, models0, fit0 = analysis(kill=False)
            w1, models1, fit1 = analysis(kill=True)
    cluster.close()
    pd.testing.assert_series_equal(w1, w0, check_exact=True)
    for key in models0:
        pd.testing.assert_series_equal(models1[key].params, models0[key].params, check_exact=True)
    pd.testing.assert_series_equal(fit1.params, fit0.params, check_exact=True)
    pd.testing.assert_frame_equal(fit1.cov, fit0.cov, check_exact=True)


def test_glm_complete_separation_is_the_in_memory_error(cohort):
    """A covariate that predicts the outcome perfectly: the same DataError as in memory
    (the outcome model's covariance is reported, so a monotone likelihood is an error)."""
    data = cohort.assign(sep=2.0 * cohort["y"] - 1.0)
    with pytest.raises(msm.DataError) as in_memory:
        msm.glm("y ~ a + sep", data, cluster="id", family="binomial")
    with dask.config.set(scheduler="threads"), pytest.raises(msm.DataError) as distributed_:
        msm.glm("y ~ a + sep", by_subject_blocks(data, 3), cluster="id", family="binomial")
    assert distributed_.value.column == in_memory.value.column == "sep"
    assert "monotone" in str(distributed_.value) and "complete separation" in str(
        distributed_.value
    )


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_covariate_beyond_double_range_is_the_in_memory_error(cohort, scale):
    """A covariate whose information would over- or underflow: the in-memory DataError, from
    the partitions' column ranges, for the outcome model and for a weight model."""
    data = cohort.assign(big=cohort["l"] * scale)
    with pytest.raises(msm.DataError) as in_memory:
        msm.glm("y ~ a + big", data, cluster="id", family="binomial")
    frame = by_subject_blocks(data, 3)
    with dask.config.set(scheduler="threads"):
        with pytest.raises(msm.DataError) as outcome_model:
            msm.glm("y ~ a + big", frame, cluster="id", family="binomial")
        with pytest.raises(msm.DataError) as weight_model:
            msm.iptw(frame, **(KW | {"denominator": "x + big + time"}))
    assert outcome_model.value.column == weight_model.value.column == in_memory.value.column
    assert str(outcome_model.value) == str(in_memory.value)
    assert "outside what the fit can represent" in str(weight_model.value)


def test_what_dask_does_not_support_is_said_from_the_capability_table(cohort):
    frame = by_subject_blocks(cohort, 2)
    point = by_subject_blocks(cohort[cohort["time"] == 0], 2)
    with dask.config.set(scheduler="threads"):
        with pytest.raises(NotImplementedError, match="does not support point treatment"):
            msm.iptw(point, id="id", time=None, treatment="a", denominator="x")
        with pytest.raises(NotImplementedError, match="does not support convergence='r'"):
            msm.iptw(frame, **KW, convergence="r")
        with pytest.raises(NotImplementedError, match="does not support variance='stacked'"):
            msm.glm("y ~ a", frame, cluster="id", family="binomial", variance="stacked")
        with pytest.raises(NotImplementedError, match="a Dask DataFrame supports family="):
            msm.iptw(frame, **(KW | {"family": "gaussian", "treatment": "x",
                                     "denominator": "l", "numerator": "1",
                                     "absorbing": False}))  # fmt: skip
        censoring = {"censor_denominator": "x", "censor_numerator": "1"}
        with pytest.raises(NotImplementedError, match="does not support per-time models"):
            msm.iptw(frame, **KW, **censoring, by_time=True)
        with pytest.raises(NotImplementedError, match="does not support per-time models"):
            msm.iptw(frame, **(KW | censoring | {"denominator": {t: "x" for t in range(10)}}))
