"""More adversarial inputs (issue 10): cell values, argument types and numerical range.

Each test asserts the documented error (type, ``err.column``, the column and offending ids in
the message) or numbers against an independent computation, and that the caller's frames are
unchanged (``call`` deep-compares them, also when the call raises).
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm
from tests.adversarial_cases import IPTW, call, panel, point, survival_panel

COX = dict(start="start", stop="stop", event="y", covariates=["a", "x"])


def raises(exc, func, *args, column=None, contains=(), **kwargs):
    """``func`` raises ``exc``; a DataError names ``column``; the message has ``contains``."""
    with pytest.raises(exc) as info:
        call(func, *args, **kwargs)
    err = info.value
    if column is not None:
        assert err.column == column
        assert f"column {column!r}" in str(err)
    for word in contains:
        assert word in str(err), (word, str(err))
    return err


def iptw(data, **kw):
    return msm.iptw(data, **{**IPTW, **kw})


# ---------------------------------------------------------------------------------------------
# cell values: complex numbers, lists, intervals, 3 and "3", float16 / longdouble


@pytest.mark.parametrize("column", ["x", "time", "a", "id"])
def test_iptw_complex_column(column):
    d = panel()
    d[column] = d[column].astype(complex)
    raises(msm.DataError, iptw, d, column=column, contains=("complex",))


@pytest.mark.parametrize("role", ["covariate", "outcome"])
def test_glm_complex_column(role):
    d = panel()
    column = "x" if role == "covariate" else "y"
    d[column] = d[column].astype(complex)
    raises(msm.DataError, msm.glm, "y ~ a + x", d, column=column, contains=("complex",))


@pytest.mark.parametrize("column", ["x", "y", "start"])
def test_cox_complex_column(column):
    s = survival_panel()
    s[column] = s[column].astype(complex)
    raises(msm.DataError, msm.cox, s, **COX, column=column, contains=("complex",))


def test_balance_complex_covariate():
    d = panel()
    d["x"] = d["x"].astype(complex)
    raises(
        msm.DataError,
        msm.balance,
        d,
        treatment="a",
        covariates=["x"],
        column="x",
        contains=("complex",),
    )


def test_list_cells_name_rows():
    d = panel()
    d["l"] = [[v] for v in d["l"]]
    err = raises(msm.DataError, iptw, d, column="l", contains=("not single values", "list"))
    assert err.ids == list(d.index)


def test_cluster_of_lists_in_glm():
    d = panel()
    d["id"] = [[v] for v in d["id"]]
    raises(msm.DataError, msm.glm, "y ~ a", d, cluster="id", column="id", contains=("list",))


def test_interval_covariate():
    d = panel()
    d["l"] = pd.arrays.IntervalArray.from_breaks(np.arange(len(d) + 1.0))
    raises(msm.DataError, iptw, d, column="l", contains=("interval", ".array.mid"))


def test_id_mixing_3_and_text_3_within_a_subject():
    d = panel()
    d["id"] = d["id"].astype(object)
    d.loc[(d["id"] == 3) & (d["time"] > 4), "id"] = "3"
    err = raises(msm.DataError, iptw, d, column="id", contains=("3 (int)", "'3' (str)"))
    assert err.ids == [3, "3"]


def test_bootstrap_cluster_mixing_0_and_text_0():
    d = panel()
    d["id"] = d["id"].astype(object).where(d.index != 3, "0")
    raises(
        msm.DataError,
        msm.bootstrap,
        lambda f: 1.0,
        d,
        cluster="id",
        n_boot=3,
        progress=False,
        column="id",
        contains=("'0' (str)",),
    )


def test_mixed_ids_that_are_whole_subjects_are_fine():
    d = panel()
    d["id"] = d["id"].astype(object).where(d["id"] != 3, "three")
    base = iptw(panel()).weights.to_numpy()
    npt.assert_array_equal(call(iptw, d).weights.to_numpy(), base)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.float32])
def test_low_and_extended_precision_covariates(dtype):
    d = panel()
    d["l"] = d["l"].astype(dtype)
    reference = panel().assign(l=d["l"].astype(np.float64))
    got = call(iptw, d).weights.to_numpy()
    npt.assert_allclose(got, iptw(reference).weights.to_numpy(), rtol=1e-12)


def test_multinomial_levels_of_mixed_kinds():
    p = point()
    p["m"] = p["m"].map({0: "a", 1: "b", 2: "c"}).astype(object)
    p.loc[0, "m"] = 3
    raises(
        msm.DataError,
        msm.iptw,
        p,
        id="id",
        time=None,
        treatment="m",
        denominator="x + l",
        family="multinomial",
        column="m",
        contains=("all numbers or all text",),
    )


# ---------------------------------------------------------------------------------------------
# argument types and values


@pytest.mark.parametrize(
    "func, kwargs",
    [
        (msm.iptw, {**IPTW, "denominator": 5}),
        (msm.cox, {**COX, "covariates": 5}),
        (msm.balance, dict(treatment="a", covariates=5)),
    ],
)
def test_terms_given_as_a_number(func, kwargs):
    data = survival_panel() if func is msm.cox else panel()
    raises(TypeError, func, data, **kwargs, contains=("formula string", "int"))


def test_denominator_left_hand_side_names_another_column():
    d = panel()
    raises(
        msm.DataError,
        iptw,
        d,
        denominator="y ~ x + l",
        numerator=None,
        column="a",
        contains=("left-hand side 'y'", "'x + l'"),
    )
    same = call(iptw, d, denominator="a ~ x + l + time", numerator="a ~ x + time")
    npt.assert_array_equal(same.weights.to_numpy(), iptw(panel()).weights.to_numpy())


def test_truncate_given_as_fractions():
    raises(ValueError, iptw, panel(), truncate=(0.01, 0.99), contains=("truncate=(1, 99)",))


def test_truncate_by_without_truncate():
    raises(ValueError, iptw, panel(), truncate_by="time", contains=("truncate= is None",))


def test_cox_start_and_stop_the_same_column():
    s = survival_panel()
    raises(
        msm.DataError,
        msm.cox,
        s,
        **{**COX, "start": "stop"},
        column="stop",
        contains=("start=", "stop="),
    )


def test_cox_event_among_covariates():
    s = survival_panel()
    raises(
        msm.DataError,
        msm.cox,
        s,
        **{**COX, "covariates": "y + x"},
        column="y",
        contains=("event column",),
    )


def test_balance_by_the_treatment():
    raises(
        msm.DataError,
        msm.balance,
        panel(),
        treatment="a",
        covariates=["x"],
        by="a",
        column="a",
        contains=("by=",),
    )


def test_balance_treatment_among_covariates():
    raises(
        msm.DataError,
        msm.balance,
        panel(),
        treatment="a",
        covariates=["a", "x"],
        column="a",
        contains=("include the treatment",),
    )


def test_balance_no_treated_rows():
    raises(
        msm.DataError,
        msm.balance,
        panel().assign(a=0),
        treatment="a",
        covariates=["x"],
        column="a",
        contains=("no treated rows",),
    )


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(by=["time"]), ("by must be a column name",)),
        (dict(absorbing="yes"), ("absorbing must be True",)),
        (dict(thresholds={"smd": -1}), ("thresholds['smd']",)),
    ],
)
def test_balance_bad_arguments(kwargs, words):
    exc = ValueError if "thresholds" in kwargs else TypeError
    raises(exc, msm.balance, panel(), treatment="a", covariates=["x"], **kwargs, contains=words)


def test_balance_stats_as_one_string():
    d = panel()
    one = call(msm.balance, d, treatment="a", covariates=["x"], stats="smd").table
    full = msm.balance(d, treatment="a", covariates=["x"], stats=["smd"]).table
    pd.testing.assert_frame_equal(one, full)


def test_history_balance_negative_threshold():
    d = panel()
    w = msm.iptw(d, **IPTW)
    raises(
        ValueError,
        msm.history_balance,
        d,
        covariates=["l"],
        weights=w,
        threshold=-1,
        contains=("threshold",),
    )


def test_ess_by_a_list():
    d = panel()
    w = msm.iptw(d, **IPTW)
    raises(TypeError, msm.ess, w, d, by=["time"], contains=("by must be a column name",))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(n_subjects=0), ("n_subjects",)),
        (dict(n_subjects=2.5), ("n_subjects",)),
        (dict(n_subjects=5, n_visits=0), ("n_visits",)),
        (dict(n_subjects=5, treatment_coefs=(1, 2)), ("treatment_coefs",)),
        (dict(n_subjects=5, seed="x"), ("seed",)),
    ],
)
def test_simulate_panel_arguments(kwargs, words):
    exc = TypeError if "seed" in kwargs else ValueError
    raises(exc, msm.datasets.simulate_panel, **kwargs, contains=words)


# ---------------------------------------------------------------------------------------------
# numerical range


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_balance_is_scale_free(scale):
    d = panel()
    w = msm.iptw(d, **IPTW)
    base = msm.balance(d, treatment="a", covariates=["x", "l"], weights=w, by="time").table
    got = call(
        msm.balance,
        d.assign(x=d["x"] * scale),
        treatment="a",
        covariates=["x", "l"],
        weights=w,
        by="time",
    ).table
    cols = ["unweighted", "weighted"]
    npt.assert_allclose(got[cols].to_numpy(float), base[cols].to_numpy(float), rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_cox_covariate_beyond_double_range(scale):
    s = survival_panel()
    raises(
        msm.DataError, msm.cox, s.assign(x=s["x"] * scale), **COX, column="x", contains=("rescale",)
    )


@pytest.mark.parametrize("scale", [1e-120, 1e120])
def test_cox_covariate_far_but_representable_is_exact(scale):
    s = survival_panel()
    base = msm.cox(s, **COX)
    got = call(msm.cox, s.assign(x=s["x"] * scale), **COX)
    npt.assert_allclose(got.params["x"] * scale, base.params["x"], rtol=1e-10)
    npt.assert_allclose(got.bse["x"] * scale, base.bse["x"], rtol=1e-10)


def test_cox_covariate_that_separates_events():
    s = survival_panel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raises(
            msm.DataError,
            msm.cox,
            s.assign(x=s["y"] * 1.0),
            **COX,
            column="x",
            contains=("monotone",),
        )
