"""``msm.trial_sequence`` on a Dask DataFrame gives the in-memory trials: the same expanded rows
and cleaned rows, weight models, weights, MSM (coefficients and cluster-robust SEs) and risk
curves to 1e-10, on one, three and uneven partitions (with an empty partition and one without
a trial), on rows that need a shuffle, and on a two-worker cluster."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import msm  # noqa: E402
from msm import _glm  # noqa: E402
from msm._dask import trials as dask_trials  # noqa: E402

RTOL = 1e-10
KEY = ["id", "trial", "followup"]
MSM = "y ~ assigned + followup + I(followup**2) + trial + x"


def _panel(seed: int, switching: bool) -> pd.DataFrame:
    panel = msm.datasets.simulate_panel(
        n_subjects=500, seed=seed, stop_at_event=True, censor_coefs=(-3.0, 0.5)
    )
    panel["eligible"] = (panel["time"] < 4).astype(int)
    panel.loc[panel["id"] < 15, "eligible"] = 0  # never eligible: no trial
    if switching:  # a treatment that starts and stops, for per protocol
        noise = np.random.default_rng(seed).normal(size=len(panel))
        panel["a"] = (panel["l"] + noise > 0).astype(int)
    panel.index = pd.RangeIndex(5000, 5000 + len(panel))  # labels that are not positions
    return panel


@pytest.fixture(scope="module")
def itt_panel() -> pd.DataFrame:
    return _panel(1, switching=False)


@pytest.fixture(scope="module")
def pp_panel() -> pd.DataFrame:
    return _panel(2, switching=True)


CENSOR = dict(censor="lost", censor_numerator="x", censor_denominator="x + l")
BASE = dict(id="id", time="time", treatment="a", outcome="y", eligible="eligible")
CONFIGS = {
    "itt": dict(**CENSOR, covariates=["x"]),
    "itt_pool_both": dict(**CENSOR, pool_censor="both", covariates=["x", "l"]),
    "itt_no_censor": dict(covariates=["x"]),
    "pp": dict(**CENSOR, estimand="PP", switch_numerator="x", switch_denominator="x + l"),
}


def _data(config, itt_panel, pp_panel):
    return pp_panel if CONFIGS[config].get("estimand") == "PP" else itt_panel


def one_partition(data):
    return dd.from_pandas(data, npartitions=1, sort=False)


def three_blocks(data):
    """Three partitions of whole subjects, rows shuffled within each."""
    ids = np.array_split(np.unique(data["id"]), 3)
    parts = [data[data["id"].isin(b)].sample(frac=1, random_state=k) for k, b in enumerate(ids)]
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=data.iloc[:0])


def uneven(data):
    """Whole subjects in uneven partitions, not in id order: 80% of them, an empty one, one
    of subjects never eligible (no trial there), then the other 17%."""
    ids = data["id"]
    parts = [
        data[ids >= 100],
        data.iloc[:0],
        data[ids < 15],
        data[(ids >= 15) & (ids < 100)].sample(frac=1, random_state=1),
    ]
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=data.iloc[:0])


def shuffled_rows(data):
    """Rows in random order split by position: subjects span partitions (shuffled by id)."""
    return dd.from_pandas(data.sample(frac=1, random_state=3), npartitions=3, sort=False)


LAYOUTS = {"one": one_partition, "three": three_blocks, "uneven": uneven,
           "shuffled": shuffled_rows}  # fmt: skip


@pytest.fixture(autouse=True)
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def close(a, b, rtol=RTOL) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=0)


def same_expanded(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same rows and columns (values exactly, weights to RTOL), in the in-memory order."""
    got = got.sort_values(KEY).reset_index(drop=True)
    want = want.sort_values(KEY).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.equals(want.dtypes)
    pd.testing.assert_frame_equal(got.drop(columns="weight"), want.drop(columns="weight"))
    close(got["weight"], want["weight"])


def same_models(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for key, fit in want.items():
        close(got[key].params, fit.params)
        close(got[key].bse, fit.bse)
        assert (got[key].n, got[key].name, got[key].outcome) == (fit.n, fit.name, fit.outcome)
        assert got[key].formula == fit.formula


def emulate(config, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", msm.DataWarning)
        return msm.trial_sequence(data, **BASE, **CONFIGS[config])


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_trials_weights_and_models(itt_panel, pp_panel, config, layout):
    data = _data(config, itt_panel, pp_panel)
    frame = LAYOUTS[layout](data)
    before = frame.compute()
    mem = emulate(config, data)
    seq = emulate(config, frame)
    assert isinstance(seq, dask_trials.DaskTrialSequence)
    assert seq.shuffled == (layout == "shuffled")
    same_models(seq.models, mem.models)
    expanded = seq.expanded
    assert isinstance(expanded, dd.DataFrame)
    assert expanded.npartitions == seq.data.npartitions
    same_expanded(expanded.compute(), mem.expanded)
    cleaned = seq.cleaned.compute().sort_index()
    want = mem.cleaned.sort_index()
    assert list(cleaned.columns) == list(want.columns)
    pd.testing.assert_frame_equal(cleaned, want, rtol=RTOL, atol=0)
    assert seq.n_rows == len(mem.expanded)
    assert seq.n_trials == mem.n_trials
    assert seq.n_dropped == mem.n_dropped
    assert seq.settings == mem.settings
    pd.testing.assert_frame_equal(seq.summary(), mem.summary(), rtol=RTOL)
    assert seq.n_events == int(mem.expanded["y"].sum())
    pd.testing.assert_frame_equal(frame.compute(), before)  # the caller's data untouched


@pytest.mark.parametrize("truncate", [None, (None, 99), (1, 99)])
@pytest.mark.parametrize("layout", ["one", "three", "uneven"])
@pytest.mark.parametrize("config", ["itt", "pp"])
def test_msm_and_risk_curves(itt_panel, pp_panel, config, layout, truncate):
    data = _data(config, itt_panel, pp_panel)
    mem = emulate(config, data)
    seq = emulate(config, LAYOUTS[layout](data))
    f0 = mem.fit(MSM, truncate=truncate)
    f1 = seq.fit(MSM, truncate=truncate)
    close(f1.params, f0.params)
    close(f1.bse, f0.bse)
    assert f1.variance == f0.variance == "cr1"
    assert (f1.nobs, f1.n_rows, f1.n_clusters) == (f0.nobs, f0.n_rows, f0.n_clusters)
    close(f1.sum_weights, f0.sum_weights)
    close(f1.deviance, f0.deviance)
    w = seq.analysis_weights(truncate)
    assert isinstance(w, dd.Series)
    close(np.sort(w.compute().to_numpy()), np.sort(mem.analysis_weights(truncate)))
    for ci in (None, "simulation"):
        r0 = mem.risk_curves(f0, followup=range(5), ci=ci, n_sim=200, seed=4)
        r1 = seq.risk_curves(f1, followup=range(5), ci=ci, n_sim=200, seed=4)
        pd.testing.assert_frame_equal(r1, r0, rtol=RTOL, atol=0)
        assert r1.attrs == r0.attrs


def test_other_variances_and_predict_rows(itt_panel):
    mem = emulate("itt", itt_panel)
    seq = emulate("itt", three_blocks(itt_panel))
    for variance in ("robust", "model", "cr1s"):
        f0 = mem.fit(MSM, variance=variance)
        f1 = seq.fit(MSM, variance=variance)
        close(f1.params, f0.params)
        close(f1.bse, f0.bse)
    f0, f1 = mem.fit(MSM), seq.fit(MSM)

    def first(e):
        return e[e["trial"] == 1]

    r0 = mem.risk_curves(f0, followup=[0, 2, 4], predict_rows=first, ci=None)
    r1 = seq.risk_curves(f1, followup=[0, 2, 4], predict_rows=first, ci=None)
    pd.testing.assert_frame_equal(r1, r0, rtol=RTOL, atol=0)
    rows = first(mem.expanded)  # a pandas frame of rows works too
    r2 = seq.risk_curves(f1, followup=[0, 2, 4], predict_rows=rows, ci=None)
    pd.testing.assert_frame_equal(r2, r0, rtol=RTOL, atol=0)


def test_warm_start_path(itt_panel, pp_panel, monkeypatch):
    """Above WARM_START_ROWS both front ends start Newton from the same subsample's fit."""
    monkeypatch.setattr(_glm, "WARM_START_ROWS", 600)
    monkeypatch.setattr(_glm, "WARM_START_SAMPLE", 150)
    for config, layout in (("pp", uneven), ("itt", three_blocks)):
        data = _data(config, itt_panel, pp_panel)
        mem = emulate(config, data)
        seq = emulate(config, layout(data))
        same_models(seq.models, mem.models)
        f0, f1 = mem.fit(MSM, truncate=(None, 99)), seq.fit(MSM, truncate=(None, 99))
        close(f1.params, f0.params)
        close(f1.bse, f0.bse)


def test_fit_never_gathers_the_expanded_rows(itt_panel, monkeypatch):
    seq = emulate("itt", three_blocks(itt_panel))
    want = seq.fit(MSM)
    curves = seq.risk_curves(want, followup=range(3), ci=None)

    def refuse(self):
        raise AssertionError("the expanded frame was read")

    # the fit reads the partitions directly (each expands its own rows on a worker), never
    # through the lazy frame (let alone a computed one)
    monkeypatch.setattr(dask_trials.DaskTrialSequence, "expanded", property(refuse))
    monkeypatch.setattr(dd.DataFrame, "compute", refuse)
    got = seq.fit(MSM, truncate=(1, 99))
    assert got.n_rows == seq.n_rows and seq.data.npartitions == 3
    assert np.all(np.isfinite(got.params))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(seq.risk_curves(want, followup=range(3), ci=None), curves)


def _same_error(bad: pd.DataFrame, config="itt", layout=three_blocks, **overrides):
    kw = {**BASE, **CONFIGS[config], **overrides}
    with pytest.raises(msm.DataError) as expected:
        msm.trial_sequence(bad, **kw)
    with dask.config.set(scheduler="sync"), pytest.raises(msm.DataError) as got:
        msm.trial_sequence(layout(bad), **kw)
    assert (got.value.column, got.value.ids) == (expected.value.column, expected.value.ids)
    assert got.value.rule.split(" out of ")[0] == expected.value.rule.split(" out of ")[0]
    return got.value


@pytest.mark.filterwarnings("ignore::msm.DataWarning")
def test_bad_input_raises_the_in_memory_error(itt_panel, pp_panel):
    bad = itt_panel.copy()
    bad.loc[bad.index[7], "x"] = np.nan
    assert _same_error(bad).column == "x"
    bad = itt_panel.copy()
    bad.loc[bad.index[3], "a"] = 2
    assert _same_error(bad).column == "a"
    bad = itt_panel.assign(eligible=0)
    assert _same_error(bad).column == "eligible"
    bad = itt_panel.copy()
    bad.loc[bad.index[4], "time"] = bad.loc[bad.index[5], "time"]
    assert _same_error(bad, layout=one_partition).column == "time"
    # a censoring model whose outcome does not vary on its rows (everyone lost at am_1 = 1)
    bad = itt_panel.assign(lost=np.where(itt_panel["a"].to_numpy() == 1, 1, itt_panel["lost"]))
    bad.loc[bad["a"] == 1, "y"] = 0
    _same_error(bad, pool_censor="none")
    # per protocol: no row with previous treatment 1
    bad = pp_panel.assign(a=0)
    assert _same_error(bad, config="pp").column == "a"
    with pytest.raises(msm.DataError, match="'nope'"):
        msm.trial_sequence(three_blocks(itt_panel), **BASE, covariates=["nope"])
    with pytest.raises(msm.DataError, match="'nope'"):
        msm.trial_sequence(three_blocks(itt_panel), **BASE, **CENSOR | {"censor_numerator": "nope"})


def test_refusals(itt_panel):
    frame = three_blocks(itt_panel)
    with pytest.raises(NotImplementedError, match="convergence='r'"):
        msm.trial_sequence(frame, **BASE, convergence="r")
    seq = emulate("itt", frame)
    fit = seq.fit(MSM)
    with pytest.raises(NotImplementedError, match="ci=.simulation."):
        seq.risk_curves(fit, followup=range(3), ci="bootstrap", data=itt_panel)
    with pytest.raises(NotImplementedError, match="ci=.simulation."):
        seq.emulate_on(itt_panel)
    with pytest.raises(NotImplementedError, match="sample_controls"):
        seq.sample_controls(0.5, seed=1)
    with pytest.raises(ValueError, match="stacked"):
        seq.fit(MSM, variance="stacked")
    with pytest.raises(NotImplementedError, match="convergence='r'"):
        seq.fit(MSM, convergence="r")
    with pytest.raises(ValueError, match="truncate"):
        seq.fit(MSM, truncate=(99, 1))
    with pytest.raises(ValueError, match="assigned"):
        seq.risk_curves(seq.fit("y ~ followup + trial"), followup=range(3))
    with pytest.raises(ValueError, match="not a fit of this trial sequence"):
        seq.risk_curves(_other_fit(itt_panel), followup=range(3))
    with pytest.raises(msm.DataError, match="followup"):
        seq.risk_curves(fit, followup=[0, 99])


def _other_fit(panel):
    other = emulate("itt", panel[panel["id"] < 250])
    return other.fit(MSM)


def test_warnings_as_in_memory(itt_panel):
    """Rows after an outcome (one warning for all partitions) and no censoring at all."""
    data = msm.datasets.simulate_panel(n_subjects=300, seed=5)  # rows go on after events
    data["eligible"] = (data["time"] < 3).astype(int)
    kw = {**BASE, "censor": "lost"}
    data["lost"] = 0
    with pytest.warns(msm.DataWarning) as want:
        mem = msm.trial_sequence(data, **kw)
    with pytest.warns(msm.DataWarning) as got:
        seq = msm.trial_sequence(three_blocks(data), **kw)
    assert [str(w.message) for w in got] == [str(w.message) for w in want]
    assert len(want) == 2 and seq.models == {} == mem.models
    same_expanded(seq.expanded.compute(), mem.expanded)


def test_on_a_cluster(pp_panel):
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    mem = emulate("pp", pp_panel)
    f0 = mem.fit(MSM, truncate=(None, 99))
    with distributed.Client(cluster) as client, dask.config.set(scheduler=client):
        seq = emulate("pp", uneven(pp_panel))
        f1 = seq.fit(MSM, truncate=(None, 99))
        same_models(seq.models, mem.models)
        same_expanded(seq.expanded.compute(), mem.expanded)
        r1 = seq.risk_curves(f1, followup=range(4), n_sim=100, seed=2)
    cluster.close()
    close(f1.params, f0.params)
    close(f1.bse, f0.bse)
    r0 = mem.risk_curves(f0, followup=range(4), n_sim=100, seed=2)
    pd.testing.assert_frame_equal(r1, r0, rtol=RTOL, atol=0)
