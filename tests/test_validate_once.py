"""Validate once: a Weights carries its panel, risk set and the columns iptw checked.

``balance`` and the other diagnostics given a ``Weights`` computed on the same, unchanged
frame reuse its sort and risk set instead of sorting and checking again; a frame changed
in place after ``iptw`` is not recognised and is checked afresh.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import msm
from msm.diagnostics import _inputs

KW = dict(
    id="id",
    time="time",
    treatment="a",
    denominator="x + l + time",
    numerator="x + time",
    absorbing=True,
)


@pytest.fixture
def cohort():
    return msm.datasets.simulate_panel(n_subjects=400, seed=5).sample(frac=1, random_state=2)


def test_computed_on_recognises_only_the_unchanged_frame(cohort):
    w = msm.iptw(cohort, **KW)
    assert w.computed_on(cohort)
    assert not w.computed_on(cohort.copy())  # same values, another frame
    changed = cohort.copy()
    w2 = msm.iptw(changed, **KW)
    changed["l"] = changed["l"] + 0.0  # a column replaced
    assert not w2.computed_on(changed)
    changed = cohort.copy()
    w3 = msm.iptw(changed, **KW)
    changed.loc[changed.index[0], "time"] = 99  # written in place
    assert not w3.computed_on(changed)
    reindexed = cohort.copy()
    w4 = msm.iptw(reindexed, **KW)
    reindexed.index = reindexed.index + 1
    assert not w4.computed_on(reindexed)
    w5 = msm.iptw(cohort, **KW)
    assert w5.computed_on(cohort.assign(extra=1)) is False  # another frame object


def test_balance_reuses_the_weights_panel_and_risk_set(cohort, monkeypatch):
    w = msm.iptw(cohort, **KW)
    fresh = msm.balance(cohort, covariates=["x", "l"], weights=w.weights, **_spelled(KW))

    def no_sort(*args, **kwargs):
        raise AssertionError("balance sorted the data again")

    monkeypatch.setattr(_inputs, "build_panel", no_sort)
    reused = msm.balance(cohort, covariates=["x", "l"], weights=w)
    pd.testing.assert_frame_equal(reused.table, fresh.table)
    assert reused.settings["n_compared"] == int(w.risk_set.sum())


def _spelled(kw):
    """The arguments balance needs when the weights are a plain Series."""
    return {"treatment": kw["treatment"], "id": kw["id"], "time": kw["time"], "absorbing": True}


def test_risk_set_is_each_subjects_rows_up_to_the_first_treated(cohort):
    w = msm.iptw(cohort, **KW)
    ordered = cohort.sort_values(["id", "time"])
    treated_before = ordered.groupby("id")["a"].cumsum() - ordered["a"]
    expected = (treated_before == 0).reindex(cohort.index).to_numpy()
    np.testing.assert_array_equal(w.risk_set, expected)


def test_a_frame_changed_after_iptw_is_checked_again(cohort):
    data = cohort.copy()
    w = msm.iptw(data, **KW)
    data.loc[data.index[3], "l"] = np.nan  # after the weights: balance must see it
    with pytest.raises(msm.DataError, match="'l'"):
        msm.balance(data, covariates=["x", "l"], weights=w)
    data = cohort.copy()
    w = msm.iptw(data, **KW)
    never = data.groupby("id")["a"].transform("max") == 0
    last = data[never].sort_values("time").index[-1]
    data.loc[last, "a"] = 1.0  # a never-treated subject now starts at its last visit
    with pytest.raises(msm.DataError, match="goes from 1 back to 0"):
        first = data.index[(data["time"] == 0).to_numpy() & ~never.to_numpy()][0]
        msm.balance(
            data.assign(a=data["a"].where(data.index != first, 1.0)), covariates=["x"], weights=w
        )  # another frame: checked, and a 1 then 0 is refused
    with_w = msm.balance(data, covariates=["x", "l"], weights=w)
    fresh = msm.balance(data, covariates=["x", "l"], weights=w.weights, **_spelled(KW))
    pd.testing.assert_frame_equal(with_w.table, fresh.table)


def test_without_copy_on_write_nothing_is_reused(cohort, monkeypatch):
    """pandas 2 without copy-on-write writes in place into the arrays Weights keeps: then
    no frame is recognised, and every consumer checks afresh."""
    import msm.weights

    w = msm.iptw(cohort, **KW)
    assert w.computed_on(cohort)
    monkeypatch.setattr(msm.weights, "copy_on_write", lambda: False)
    assert not w.computed_on(cohort)
