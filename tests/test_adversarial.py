"""The error contract over the whole public API, and results invariant to labels and order.

``test_case`` runs every case of ``tests/adversarial_cases.py``: an error case must raise the
documented ``DataError`` (its ``column`` named in the message, the offending ids where the
rule is about rows); a numbers case asserts inside its ``run`` against an independent
computation.  Every call there goes through ``call``, which deep-compares the caller's frames
before and after, also when the call raises.

The property tests below (hypothesis, bounded) check that the same call twice is
bit-identical, and that relabelling ids to shuffled strings and permuting rows give the same
results in the caller's order, for iptw weights, glm and cox params/bse, the balance table
and risk curves; and that a NaN anywhere in a used column is reported with its subject.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import msm
from tests import adversarial_cases as ac

BY_ID = ac.cases_by_id()
FAST = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))


def test_at_least_100_cases_over_every_public_function():
    assert len(ac.CASES) >= 100
    functions = {c.function for c in ac.CASES}
    public = {
        "msm.iptw", "msm.balance", "msm.reweighted_association", "msm.history_balance",
        "msm.glm", "msm.cox", "msm.risk_curves", "msm.bootstrap", "msm.ess",
        "msm.weight_summary", "msm.compare_models", "msm.plot.weights_by_time",
        "msm.plot.love_plot", "msm.plot.risk_curves", "msm.plot.ess_by_time",
        "msm.trial_sequence",
    }  # fmt: skip
    assert public <= functions, public - functions
    tags = {t for c in ac.CASES for t in c.tags}
    assert {"multinomial", "ordinal", "gaussian", "cox", "learner"} <= tags


@pytest.mark.parametrize(
    "case_id",
    [
        pytest.param(i, marks=pytest.mark.xfail(strict=True, reason=f"known bug: {c.bug}"))
        if c.bug
        else i
        for i, c in BY_ID.items()
    ],
)
def test_case(case_id):
    c = BY_ID[case_id]
    if c.raises is None:
        c.run()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings on the way to the error are not the point
        with pytest.raises(BaseException) as info:
            c.run()
    if isinstance(info.value, AssertionError):
        raise info.value  # the caller's frame was modified
    ac.check_raised(c, info.value)


# ---------------------------------------------------------------------------------------------
# the frame check itself


def test_unchanged_catches_each_kind_of_change():
    base = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}, index=["r", "s"])
    edits = [
        lambda d: d.__setitem__("a", [1, 3]),
        lambda d: d.__setitem__("c", 1),
        lambda d: d.sort_index(ascending=False, inplace=True),  # noqa: PD002
        lambda d: d.rename(columns={"a": "z"}, inplace=True),  # noqa: PD002
        lambda d: d.index.rename("i", inplace=True),  # noqa: PD002
        lambda d: d.__setitem__("b", d["b"].astype("Float64")),
        lambda d: d.attrs.update(x=1),
        lambda d: d.drop(columns="a", inplace=True),  # noqa: PD002
    ]
    for edit in edits:
        frame = base.copy()
        with pytest.raises(AssertionError), ac.unchanged(frame):
            edit(frame)
    reordered = base.copy()
    with pytest.raises(AssertionError), ac.unchanged(reordered):
        reordered.insert(0, "b2", reordered.pop("b"))


def test_unchanged_checks_also_when_the_call_raises():
    frame = pd.DataFrame({"a": [1.0]})

    def bad(d):
        d.loc[0, "a"] = 2.0
        raise msm.DataError("a", "boom")

    with pytest.raises(AssertionError):
        ac.call(bad, frame)


# ---------------------------------------------------------------------------------------------
# bit-identical repeats; relabelled ids and permuted rows


def _relabel_and_permute(data, seed):
    """Ids to shuffled strings, rows permuted, a fresh index: (frame, positions taken)."""
    rng = np.random.default_rng(seed)
    uniq = pd.unique(data["id"])
    names = np.array([f"S{rng.integers(10**9):09d}-{k}" for k in range(uniq.size)], object)
    mapping = dict(zip(uniq, names[rng.permutation(uniq.size)], strict=True))
    order = rng.permutation(len(data))
    out = data.assign(id=data["id"].map(mapping)).iloc[order]
    return out.set_axis(pd.Index(rng.permutation(len(data)) + 7_000)), order


def _same(a, b, rtol=1e-11):
    npt.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=1e-14)


def _fits(data):
    w = ac.call(msm.iptw, data, **ac.IPTW)
    g = ac.call(msm.glm, "y ~ a + time", data, weights=w, cluster="id", family="binomial")
    c = ac.call(
        msm.cox, data, start="start", stop="stop", event="y", covariates="a + x", weights=w,
        cluster="id",
    )  # fmt: skip
    b = ac.call(msm.balance, data, covariates=["x", "l"], weights=w)
    return w, g, c, b


def test_same_call_twice_is_bit_identical():
    d = ac.survival_panel()
    (w1, g1, c1, b1), (w2, g2, c2, b2) = _fits(d), _fits(d)
    pd.testing.assert_series_equal(w1.weights, w2.weights, check_exact=True)
    for x, y in ((g1, g2), (c1, c2)):
        pd.testing.assert_series_equal(x.params, y.params, check_exact=True)
        pd.testing.assert_series_equal(x.bse, y.bse, check_exact=True)
    pd.testing.assert_frame_equal(b1.table, b2.table, check_exact=True)
    r, fit = ac.risk_setup()
    first = ac.call(msm.risk_curves, fit, r, id="id", time="time", treatment="a")
    second = ac.call(msm.risk_curves, fit, r, id="id", time="time", treatment="a")
    pd.testing.assert_frame_equal(first, second, check_exact=True)


SURV = ac.survival_panel()
BASE = _fits(SURV)


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_relabelled_ids_and_permuted_rows_give_the_same_results(seed):
    data, order = _relabel_and_permute(SURV, seed)
    w, g, c, b = _fits(data)
    w0, g0, c0, b0 = BASE
    assert w.weights.index.equals(data.index)
    _same(w.weights, w0.weights.to_numpy()[order])
    for x, y in ((g, g0), (c, c0)):
        assert list(x.params.index) == list(y.params.index)
        _same(x.params, y.params)
        _same(x.bse, y.bse)
    keys = ["covariate", "time", "stat"]
    got = b.table.sort_values(keys).reset_index(drop=True)
    want = b0.table.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[keys], want[keys])
    _same(got.select_dtypes("number"), want.select_dtypes("number"))


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_permuted_rows_alone_give_bit_identical_weights(seed):
    # the panel sorts by (id, time) with a stable sort: the same sorted rows, the same sums
    order = np.random.default_rng(seed).permutation(len(SURV))
    w = ac.call(msm.iptw, SURV.iloc[order], **ac.IPTW)
    npt.assert_array_equal(w.weights.to_numpy(), BASE[0].weights.to_numpy()[order])


RISK_DATA, RISK_FIT = ac.risk_setup()
RISK_BASE = msm.risk_curves(RISK_FIT, RISK_DATA, id="id", time="time", treatment="a")


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_risk_curves_invariant_to_ids_and_row_order(seed):
    data, _ = _relabel_and_permute(RISK_DATA, seed)
    got = ac.call(msm.risk_curves, RISK_FIT, data, id="id", time="time", treatment="a")
    pd.testing.assert_index_equal(got.index, RISK_BASE.index)
    _same(got, RISK_BASE)


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_glm_and_cox_invariant_to_a_common_weight_scale(seed):
    # defect 10: estimates and every variance invariant to a constant rescaling of the weights
    scale = 10.0 ** np.random.default_rng(seed).uniform(-250, 250)
    w0, g0, c0, _ = BASE
    scaled = w0.weights * scale
    g = ac.call(msm.glm, "y ~ a + time", SURV, weights=scaled, cluster="id", family="binomial")
    c = ac.call(
        msm.cox, SURV, start="start", stop="stop", event="y", covariates="a + x",
        weights=scaled, cluster="id",
    )  # fmt: skip
    for x, y in ((g, g0), (c, c0)):
        _same(x.params, y.params, 1e-8)
        _same(x.bse, y.bse, 1e-8)


# ---------------------------------------------------------------------------------------------
# a NaN anywhere is reported with its column and its subject


PANEL = ac.panel()


@FAST
@given(
    row=st.integers(0, len(PANEL) - 1),
    column=st.sampled_from(["x", "l", "a"]),
    kind=st.sampled_from(["nan", "na-nullable"]),
)
def test_a_missing_value_anywhere_names_column_and_subject(row, column, kind):
    d = PANEL.copy()
    if kind == "nan":
        d[column] = d[column].astype(float)
        d.loc[row, column] = np.nan
    else:
        d[column] = d[column].astype("Float64")
        d.loc[row, column] = pd.NA
    subject = int(d.loc[row, "id"])
    with pytest.raises(msm.DataError) as info:
        ac.call(msm.iptw, d, **{**ac.IPTW, "absorbing": False})
    assert info.value.column == column
    assert f"column {column!r}" in str(info.value)
    assert [int(i) for i in info.value.ids] == [subject]
    for func in (
        lambda: ac.call(msm.glm, f"y ~ {column} + time", d, cluster="id", family="binomial"),
        lambda: ac.call(msm.balance, d, treatment="a", covariates=["x", "l"]),
    ):
        with pytest.raises(msm.DataError) as info:
            func()
        assert info.value.column == column, str(info.value)
        assert f"column {column!r}" in str(info.value)


@FAST
@given(
    shape=st.sampled_from(["duplicated", "multiindex", "strings", "shuffled"]),
    seed=st.integers(0, 10_000),
)
def test_any_index_shape_gives_the_same_weights_and_fit(shape, seed):
    rng = np.random.default_rng(seed)
    d = SURV
    order = np.arange(len(d))
    if shape == "duplicated":
        e = d.set_axis(rng.integers(0, 20, len(d)))
    elif shape == "multiindex":
        e = d.set_index(["id", "time"], drop=False)
    elif shape == "strings":
        e = d.set_axis([f"row-{k}" for k in rng.permutation(len(d))])
    else:
        order = rng.permutation(len(d))
        e = d.iloc[order]
    w = ac.call(msm.iptw, e, **ac.IPTW)
    assert w.weights.index.equals(e.index)
    _same(w.weights, BASE[0].weights.to_numpy()[order])
    g = ac.call(msm.glm, "y ~ a + time", e, weights=w, cluster="id", family="binomial")
    _same(g.params, BASE[1].params)
    _same(g.bse, BASE[1].bse)
