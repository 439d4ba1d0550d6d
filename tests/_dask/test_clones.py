"""``msm.clone_censor`` on a Dask DataFrame gives the in-memory emulation: the same clone rows,
censoring and loss models (with the same notes), weights, hazards and risk curves to 1e-10, on
one, three and uneven partitions and on rows that need a shuffle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

import msm  # noqa: E402
from msm import _glm  # noqa: E402
from msm._dask import clones as dask_clones  # noqa: E402
from tests._dask.test_trials import (  # noqa: E402
    close,
    one_partition,
    shuffled_rows,
    three_blocks,
    uneven,
)

KEY = ["id", "strategy", "followup"]
BASE = dict(
    id="id", time="month", treatment="ivig", outcome="quiescence", eligible="eligible",
    strategies={"IVIG within 3": msm.start_within(3), "no IVIG": msm.never()},
    censor_denominator="pga + cmas + prednisone + followup", censor="lost", followup_max=12,
)  # fmt: skip
CONFIGS = {
    "per_strategy": {},
    "shared": {"initiation_model": "shared"},
    "loss_not_weighted": {"loss_denominator": False},
    "no_censor": {"censor": None},
    "combined": {"strategies": {"late": msm.never(before=1) & msm.start_within(3),
                                "never": msm.never()}},
    "dynamic": {"strategies": {"at flare": msm.start_when("flare", grace=2),
                               "never": msm.never()}},
}  # fmt: skip
LAYOUTS = {"one": one_partition, "three": three_blocks, "uneven": uneven,
           "shuffled": shuffled_rows}  # fmt: skip


@pytest.fixture(scope="module")
def jdm() -> pd.DataFrame:
    data = msm.datasets.simulate_jdm(n_patients=600, months=18, seed=3, eligible=True)
    data.index = pd.RangeIndex(7000, 7000 + len(data))  # labels that are not positions
    return data


@pytest.fixture(autouse=True)
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def same_clones(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(KEY).reset_index(drop=True)
    want = want.sort_values(KEY).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.equals(want.dtypes)
    pd.testing.assert_frame_equal(got.drop(columns="weight"), want.drop(columns="weight"))
    close(got["weight"], want["weight"])


def same_fit(got, want) -> None:
    close(got.params, want.params)
    close(got.bse, want.bse)
    assert (got.n, got.name, got.outcome, got.formula) == (
        want.n, want.name, want.outcome, want.formula
    )  # fmt: skip


def same_table(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert got.index.equals(want.index) and list(got.columns) == list(want.columns)
    a, b = got.to_numpy(dtype=float), want.to_numpy(dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    close(a[~np.isnan(a)], b[~np.isnan(b)])


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_clones_models_weights_and_curves(jdm, config, layout):
    kw = {**BASE, **CONFIGS[config]}
    frame = LAYOUTS[layout](jdm)
    before = frame.compute()
    mem = msm.clone_censor(jdm, **kw)
    cc = msm.clone_censor(frame, **kw)
    assert isinstance(cc, dask_clones.DaskCloneCensor)
    assert cc.shuffled == (layout == "shuffled")
    assert list(cc.models) == list(mem.models)
    for name, fit in mem.models.items():
        same_fit(cc.models[name], fit)
    assert (cc.loss_model is None) == (mem.loss_model is None)
    if mem.loss_model is not None:
        same_fit(cc.loss_model, mem.loss_model)
    assert cc.notes == mem.notes
    assert cc.n_eligible == mem.n_eligible
    pd.testing.assert_frame_equal(cc.protocol, mem.protocol)
    expanded = cc.expanded
    assert isinstance(expanded, dd.DataFrame) and expanded.npartitions == cc.data.npartitions
    same_clones(expanded.compute(), mem.expanded)
    for method in ("nonparametric", "pooled_logistic"):
        same_table(cc.hazards(method), mem.hazards(method))
        same_table(
            cc.risk_curves(times=[3, 6, 12], method=method, ci=False),
            mem.risk_curves(times=[3, 6, 12], method=method, ci=False),
        )
    pd.testing.assert_frame_equal(frame.compute(), before)  # the caller's data untouched


def test_hazard_model_and_warm_start(jdm, monkeypatch):
    """Above WARM_START_ROWS both front ends start Newton from the same subsample's fit."""
    monkeypatch.setattr(_glm, "WARM_START_ROWS", 500)
    monkeypatch.setattr(_glm, "WARM_START_SAMPLE", 120)
    mem = msm.clone_censor(jdm, **BASE)
    cc = msm.clone_censor(uneven(jdm), **BASE)
    for name, fit in mem.models.items():
        same_fit(cc.models[name], fit)
    same_fit(cc.loss_model, mem.loss_model)
    model = "followup + I(followup**2) + I(followup**3)"
    kw = dict(times=[4, 8, 12], method="pooled_logistic", hazard_model=model, ci=False)
    same_table(cc.risk_curves(**kw), mem.risk_curves(**kw))


def test_curves_read_sums_not_the_clone_rows(jdm, monkeypatch):
    cc = msm.clone_censor(three_blocks(jdm), **BASE)

    def refuse(self):
        raise AssertionError("a dask frame was computed")

    monkeypatch.setattr(dd.DataFrame, "compute", refuse)
    cc.risk_curves(times=[6, 12], ci=False)
    cc.risk_curves(times=[6, 12], method="pooled_logistic", ci=False)


def test_bootstrap_refused(jdm):
    cc = msm.clone_censor(three_blocks(jdm), **BASE)
    with pytest.raises(NotImplementedError, match="ci=False"):
        cc.risk_curves(times=[6])
    with pytest.raises(ValueError, match="beyond the follow-up"):
        cc.risk_curves(times=[13], ci=False)


def _same_error(bad: pd.DataFrame, layout=three_blocks, **overrides):
    kw = {**BASE, **overrides}
    with pytest.raises(msm.DataError) as expected:
        msm.clone_censor(bad, **kw)
    with dask.config.set(scheduler="sync"), pytest.raises(msm.DataError) as got:
        msm.clone_censor(layout(bad), **kw)
    assert (got.value.column, got.value.ids) == (expected.value.column, expected.value.ids)
    assert got.value.rule.split(" out of ")[0] == expected.value.rule.split(" out of ")[0]
    return got.value


def test_bad_input_raises_the_in_memory_error(jdm):
    bad = jdm.copy()
    bad.loc[bad.index[11], "pga"] = np.nan
    assert _same_error(bad).column == "pga"
    bad = jdm.copy()
    bad.loc[bad.index[20], "ivig"] = 3
    assert _same_error(bad).column == "ivig"
    assert _same_error(jdm.assign(eligible=0)).column == "eligible"
    # treatment constant on a censoring model's risk set
    assert _same_error(jdm.assign(ivig=0)).column == "ivig"
    # a grace period longer than any follow-up in the data
    zero = jdm[jdm["eligible"] == 1].groupby("id")["month"].min()
    short = jdm[jdm["month"] < jdm["id"].map(zero).fillna(np.inf) + 3]
    kw = {"strategies": {"late": msm.start_within(5)}, "followup_max": None}
    assert _same_error(short, **kw).column == "month"
    with pytest.raises(msm.DataError, match="'nope'"):
        msm.clone_censor(three_blocks(jdm), **{**BASE, "censor_denominator": "pga + nope"})


def test_on_a_cluster(jdm):
    distributed = pytest.importorskip("distributed")
    kw = {**BASE, "initiation_model": "shared"}
    mem = msm.clone_censor(jdm, **kw)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as client, dask.config.set(scheduler=client):
        cc = msm.clone_censor(uneven(jdm), **kw)
        same_clones(cc.expanded.compute(), mem.expanded)
        pooled = cc.risk_curves(times=[6, 12], method="pooled_logistic", ci=False)
    cluster.close()
    for name, fit in mem.models.items():
        same_fit(cc.models[name], fit)
    same_table(cc.risk_curves(times=[6, 12], ci=False), mem.risk_curves(times=[6, 12], ci=False))
    same_table(pooled, mem.risk_curves(times=[6, 12], method="pooled_logistic", ci=False))
