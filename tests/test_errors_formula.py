"""Formula and column-shape errors through the whole public API (issue 10, defects 3-6).

Each bad input gets a ``DataError`` naming the column (not a numpy/pandas/formulaic
traceback), and the caller's frame is deep-compared before and after every call:

- (3) a formula term that is infinite or NaN (``np.log(z)`` with a zero, ``np.sqrt`` of a
  negative, ``I(1/z)``): the term, its source column, the role and the row labels;
- (4) duplicated column names (``pd.concat(axis=1)``), non-string names, MultiIndex columns;
- (5) datetime, timedelta and date-object columns read by a formula or a covariate list
  (ordering rows by a datetime ``time=`` still works);
- (6) numbers stored as text/object; pandas nullable dtypes work and their ``pd.NA`` gets
  the missing-value error.
"""

from __future__ import annotations

import datetime
import warnings

import numpy as np
import pandas as pd
import pytest

import msm
from msm._formula import design_matrix, parse_terms, rebuild

N_SUBJECTS = 60


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", msm.ConvergenceWarning)
        warnings.simplefilter("ignore", msm.SeparationWarning)
        yield


def cohort() -> pd.DataFrame:
    """A small panel with a string index (labels are not positions) and helper columns.

    ``z`` = |x| rounded to one decimal: constant within subject, 0 for some subjects.
    """
    d = msm.datasets.simulate_panel(n_subjects=N_SUBJECTS, seed=1)
    d = d.assign(
        z=d["x"].abs().round(1),
        start=d["time"].astype(float),
        stop=d["time"].astype(float) + 1.0,
    )
    last = ~d["id"].duplicated(keep="last")
    d["lost"] = (last & (d["id"] % 4 == 0)).astype(int)  # some subjects are censored
    d.index = [f"r{k}" for k in range(len(d))]
    assert (d["z"] == 0).any()
    return d


def snapshot(frame: pd.DataFrame):
    return frame.copy(deep=True), list(frame.columns), list(frame.dtypes), frame.index.copy()


def assert_unchanged(frame: pd.DataFrame, before) -> None:
    copy, columns, dtypes, index = before
    pd.testing.assert_frame_equal(frame, copy, check_exact=True)
    assert list(frame.columns) == columns
    assert list(frame.dtypes) == dtypes
    assert frame.index.equals(index)


def raises(call, frame: pd.DataFrame) -> msm.DataError:
    """Run ``call(frame)``; it must raise DataError and leave ``frame`` untouched."""
    before = snapshot(frame)
    with pytest.raises(msm.DataError) as info:
        call(frame)
    assert_unchanged(frame, before)
    return info.value


def returns(call, frame: pd.DataFrame):
    before = snapshot(frame)
    out = call(frame)
    assert_unchanged(frame, before)
    return out


def _good_fit(rhs: str):
    return msm.glm(f"y ~ a + {rhs}", cohort(), family="binomial", cluster="id")


# consumer name -> call(data, spec); spec is a right-hand side (str) or a covariate list
CONSUMERS = {
    "iptw denominator": lambda d, s: msm.iptw(
        d, id="id", time="time", treatment="a", denominator=s, absorbing=True
    ),
    "iptw numerator": lambda d, s: msm.iptw(
        d, id="id", time="time", treatment="a", denominator="x + l", numerator=s, absorbing=True
    ),
    "iptw censoring denominator": lambda d, s: msm.iptw(
        d,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        censor="lost",
        censor_denominator=s,
        absorbing=True,
    ),
    "glm": lambda d, s: msm.glm(
        f"y ~ a + {s if isinstance(s, str) else ' + '.join(s)}", d, cluster="id"
    ),
    "cox": lambda d, s: msm.cox(
        d, start="start", stop="stop", event="y", covariates=s, cluster="id"
    ),
    "balance": lambda d, s: msm.balance(d, treatment="a", covariates=s),
    "history_balance": lambda d, s: msm.history_balance(
        d, treatment="a", covariates=s, id="id", time="time"
    ),
    "reweighted_association": lambda d, s: msm.reweighted_association(
        d, treatment="a", covariates=s, weights=np.ones(len(d)), cluster="id"
    ),
    "compare_models": lambda d, s: msm.compare_models(
        d, id="id", time="time", treatment="a", candidates={"m": s}, covariates=["l"]
    ),
}
LIST_CONSUMERS = [k for k in CONSUMERS if k != "glm"]  # glm takes a formula only
ROLES = {
    "iptw denominator": "treatment denominator formula",
    "iptw numerator": "treatment numerator formula",
    "iptw censoring denominator": "censoring denominator formula",
    "glm": "outcome model formula",
    "cox": "covariates formula",
    "balance": "balance covariates formula",
    "history_balance": "history_balance covariates formula",
    "reweighted_association": "reweighted_association covariates formula",
    "compare_models": "treatment denominator formula",
}


# ---------------------------------------------------------------------------------------------
# (3) non-finite values made by a formula


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_log_of_zero_names_term_column_role_and_rows(consumer):
    d = cohort()
    err = raises(lambda f: CONSUMERS[consumer](f, "x + np.log(z)"), d)
    assert err.column == "z"
    message = str(err)
    assert "'np.log(z)'" in message and "from column 'z'" in message
    assert "infinite" in message
    assert ROLES[consumer] in message
    zero_rows = set(d.index[d["z"] == 0])
    assert err.ids and set(err.ids) <= zero_rows  # row labels, not positions
    assert all(isinstance(label, str) for label in err.ids)


@pytest.mark.parametrize(
    ("term", "column", "kind"),
    [
        ("np.sqrt(l)", "l", "NaN"),  # l has negative values
        ("I(1 / z)", "z", "infinite"),
        ("np.log(l)", "l", "infinite or NaN"),  # negative -> NaN; none is exactly 0 ...
        ("np.exp(I(l * 1000))", "l", "infinite"),  # overflow
    ],
)
@pytest.mark.parametrize("consumer", ["iptw denominator", "glm", "cox", "balance"])
def test_other_undefined_transforms(consumer, term, column, kind):
    d = cohort()
    if term == "np.log(l)":
        d.loc[d.index[3], "l"] = 0.0  # ... so make one: -inf and NaN together
    err = raises(lambda f: CONSUMERS[consumer](f, f"x + {term}"), d)
    assert err.column == column
    message = str(err)
    assert f"is {kind} on" in message
    assert f"from column '{column}'" in message
    assert "drop those rows" in message


def test_term_reading_two_columns_names_both():
    d = cohort()
    err = raises(lambda f: msm.glm("y ~ a + I(x / z)", f), d)
    assert err.column == "x"
    assert "from columns 'x', 'z'" in str(err)


def test_interaction_with_a_categorical_names_the_design_column():
    d = cohort().assign(g=lambda f: np.where(f["time"] % 2 == 0, "even", "odd"))
    err = raises(lambda f: msm.glm("y ~ a + g:np.log(z)", f), d)
    assert err.column in {"g", "z"}
    assert "np.log(z)" in str(err) and "'z'" in str(err)


def test_design_with_several_bad_terms_lists_the_others():
    d = cohort()
    err = raises(lambda f: msm.glm("y ~ a + np.log(z) + I(1 / z)", f), d)
    assert "also not finite: 'I(1 / z)'" in str(err)


def test_risk_curves_on_new_data_with_a_zero():
    fit = _good_fit("np.log(z + 1)")
    bad = cohort().assign(z=lambda f: f["z"] - 1.0)  # z + 1 is now 0 for some subjects
    err = raises(lambda f: msm.risk_curves(fit, f, id="id", time="time", treatment="a"), bad)
    assert err.column == "z"
    assert "risk curves: the MSM formula" in str(err)
    assert "'np.log(z + 1)'" in str(err)


def test_rebuild_checks_new_rows():
    d = cohort()
    good = d[d["z"] > 0]
    terms = parse_terms("np.log(z)", good, "test role")
    design = design_matrix(terms, good)
    with pytest.raises(msm.DataError) as info:
        rebuild(terms, design.spec, d)
    assert info.value.column == "z"
    assert set(info.value.ids) == set(d.index[d["z"] == 0])


def test_source_column_itself_missing_is_said_so():
    """Callers check source columns first; if one slips through, the message says so."""
    d = cohort()
    d.loc[d.index[[2, 5]], "l"] = np.nan
    terms = parse_terms("np.sqrt(l ** 2)", d, "test role")
    with pytest.raises(msm.DataError) as info:
        design_matrix(terms, d)
    assert "column(s) 'l' are missing or infinite there" in str(info.value)
    assert info.value.ids == ["r2", "r5"]


def test_finite_formulas_still_fit_and_match_precomputed_columns():
    d = cohort()
    via_formula = returns(lambda f: msm.glm("y ~ a + np.log(z + 1)", f), d)
    direct = msm.glm("y ~ a + lz", d.assign(lz=np.log(d["z"] + 1)))
    np.testing.assert_allclose(via_formula.params.to_numpy(), direct.params.to_numpy(), rtol=1e-12)


def test_formula_that_cannot_be_evaluated_is_a_data_error():
    d = cohort()
    err = raises(lambda f: msm.glm("y ~ a + nosuchfunction(x)", f), d)
    assert "outcome model formula" in str(err) and "nosuchfunction" in str(err)


def test_dask_glm_checks_the_design():
    dd = pytest.importorskip("dask.dataframe")
    d = cohort()
    dask = pytest.importorskip("dask")
    parts = dd.from_pandas(d, npartitions=2)
    with dask.config.set(scheduler="synchronous"), pytest.raises(msm.DataError) as info:
        msm.glm("y ~ a + np.log(z)", parts, cluster="id")
    assert info.value.column == "z"


# ---------------------------------------------------------------------------------------------
# (4) duplicated and non-string column names


def duplicated_frame() -> pd.DataFrame:
    d = cohort()
    return pd.concat([d, d[["x"]]], axis=1)


def _weights():
    return msm.iptw(cohort(), id="id", time="time", treatment="a", denominator="x + l")


def _with_spec(call, spec):
    return lambda frame: call(frame, spec)


DUP_CALLS = {
    **{name: _with_spec(call, "x + l") for name, call in CONSUMERS.items()},
    "glm outcome only": lambda f: msm.glm("y ~ a", f),
    "risk_curves": lambda f: msm.risk_curves(
        _good_fit("l"), f, id="id", time="time", treatment="a"
    ),
    "bootstrap": lambda f: msm.bootstrap(
        lambda g: pd.Series({"m": g["y"].mean()}), f, cluster="id", n_boot=2, progress=False
    ),
    "ess": lambda f: msm.ess(_weights(), f.reset_index(drop=True)),
    "ess with a column": lambda f: msm.ess("y", f),
    "weight_summary": lambda f: msm.weight_summary(_weights(), f),
    "plot.weights_by_time": lambda f: msm.plot.weights_by_time(np.ones(len(f)), f, time="time"),
}


@pytest.mark.parametrize("call", list(DUP_CALLS))
def test_duplicated_column_names(call):
    d = duplicated_frame()
    err = raises(DUP_CALLS[call], d)
    assert err.column == "x"
    assert "duplicated column names: 'x' (2 times)" in str(err)


def test_duplicated_names_are_all_listed():
    d = cohort()
    d = pd.concat([d, d[["x", "l"]], d[["x"]]], axis=1)
    err = raises(lambda f: msm.glm("y ~ a", f), d)
    assert "'x' (3 times), 'l' (2 times)" in str(err)


def test_plot_risk_curves_duplicated_columns():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    index = pd.MultiIndex.from_product([["always", "never"], [0, 1]], names=["regime", "t"])
    curves = pd.DataFrame({"risk": [0.1, 0.2, 0.05, 0.1]}, index=index)
    curves = pd.concat([curves, curves], axis=1)
    with pytest.raises(msm.DataError, match="duplicated column names: 'risk'"):
        msm.plot.risk_curves(curves)


def _relabel(frame: pd.DataFrame, mapping: dict) -> pd.DataFrame:
    return frame.rename(columns=mapping)


def test_integer_id_and_time_names_give_the_same_weights():
    d = cohort()
    ref = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l")
    renamed = _relabel(d, {"id": 0, "time": 1})
    w = returns(lambda f: msm.iptw(f, id=0, time=1, treatment="a", denominator="x + l"), renamed)
    pd.testing.assert_series_equal(w.weights, ref.weights)
    # an integer-named numeric column in a covariate list works as well
    renamed = _relabel(d, {"l": 7})
    w = returns(lambda f: msm.iptw(f, id="id", time="time", treatment="a", denominator=["x", 7]),
                renamed)  # fmt: skip
    pd.testing.assert_series_equal(w.weights, ref.weights)


def test_integer_named_text_column_in_a_list_is_a_data_error():
    d = cohort().assign(g=lambda f: np.where(f["time"] % 2 == 0, "even", "odd"))
    renamed = _relabel(d, {"g": 3})
    err = raises(lambda f: msm.balance(f, treatment="a", covariates=["x", 3]), renamed)
    assert err.column == 3
    assert "string column names" in str(err)


def test_integer_names_in_the_other_consumers():
    d = cohort()
    renamed = _relabel(d, {"id": 0, "time": 1})
    ref = msm.glm("y ~ a + x", d, cluster="id")
    fit = returns(lambda f: msm.glm("y ~ a + x", f, cluster=0), renamed)
    pd.testing.assert_series_equal(fit.bse, ref.bse)
    b = returns(lambda f: msm.balance(f, treatment="a", covariates=["x", "l"], time=1), renamed)
    assert len(b.table) > 0
    ref_curves = msm.risk_curves(_good_fit("x"), d, id="id", time="time", treatment="a")
    curves = returns(
        lambda f: msm.risk_curves(_good_fit("x"), f, id=0, time=1, treatment="a"), renamed
    )
    np.testing.assert_array_equal(curves["risk"].to_numpy(), ref_curves["risk"].to_numpy())


def test_multiindex_columns_partial_name_is_a_data_error():
    d = cohort()
    d.columns = pd.MultiIndex.from_tuples([(c, "") for c in d.columns])
    wide = d.copy()
    wide[("x", "copy")] = wide[("x", "")]
    for call in (
        lambda f: msm.glm("y ~ a + x", f),
        lambda f: msm.iptw(f, id="id", time="time", treatment="a", denominator="x + l"),
        lambda f: msm.balance(f, treatment="a", covariates=["x"]),
    ):
        err = raises(call, wide)
        assert err.column == "x"
        assert "MultiIndex columns, 'x' selects 2 columns" in str(err)
    # names whose other levels are empty select one column: the right answer
    fit = returns(lambda f: msm.glm("y ~ a + x", f), d)
    flat = msm.glm("y ~ a + x", cohort())
    pd.testing.assert_series_equal(fit.params, flat.params)


# ---------------------------------------------------------------------------------------------
# (5) datetime and timedelta columns


def dated() -> pd.DataFrame:
    d = cohort()
    return d.assign(
        visit=pd.Timestamp("2020-01-01") + pd.to_timedelta(d["time"] * 30, unit="D"),
        gap=pd.to_timedelta(d["time"] * 30, unit="D"),
    )


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_datetime_column_in_a_formula(consumer):
    d = dated()
    err = raises(lambda f: CONSUMERS[consumer](f, "x + visit"), d)
    assert err.column == "visit"
    message = str(err)
    assert "reads a datetime column" in message
    assert "months since baseline" in message
    assert "(data['visit'] - data['visit'].min()).dt.days / 30.4375" in message


@pytest.mark.parametrize("consumer", LIST_CONSUMERS)
def test_datetime_column_in_a_list(consumer):
    d = dated()
    err = raises(lambda f: CONSUMERS[consumer](f, ["x", "visit"]), d)
    assert err.column == "visit"
    assert "reads a datetime column" in str(err)


@pytest.mark.parametrize("spec", ["x + gap", ["x", "gap"], "x + I(gap * 2)"])
@pytest.mark.parametrize("consumer", ["iptw denominator", "cox", "balance"])
def test_timedelta_column(consumer, spec):
    d = dated()
    err = raises(lambda f: CONSUMERS[consumer](f, spec), d)
    assert err.column == "gap"
    assert "reads a timedelta column" in str(err)
    assert "pd.Timedelta(days=30.4375)" in str(err)


@pytest.mark.parametrize(
    "make",
    [
        lambda v: v.dt.tz_localize("Europe/London"),  # tz-aware
        lambda v: v.dt.date.astype(object),  # datetime.date objects (e.g. from Excel)
        lambda v: pd.Series(list(v.dt.to_pydatetime()), index=v.index, dtype=object),
    ],
    ids=["tz-aware", "date objects", "datetime objects"],
)
def test_other_datetime_forms(make):
    d = dated()
    d = d.assign(visit=make(d["visit"]))
    err = raises(lambda f: msm.glm("y ~ a + visit", f), d)
    assert err.column == "visit"
    assert "datetime column" in str(err)


def test_datetime_time_still_orders_rows():
    d = dated()
    ref = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l", absorbing=True)
    shuffled = d.sample(frac=1.0, random_state=3)
    w = returns(
        lambda f: msm.iptw(
            f, id="id", time="visit", treatment="a", denominator="x + l", absorbing=True
        ),
        shuffled,
    )
    pd.testing.assert_series_equal(w.weights.loc[d.index], ref.weights, check_exact=False,
                                   rtol=1e-12)  # fmt: skip


def test_datetime_inside_c_is_a_category_not_an_error():
    """``C(visit)`` asks for categories: the dates are labels, as the user said."""
    d = dated()
    fit = returns(lambda f: msm.glm("y ~ a + C(visit)", f), d)
    assert len(fit.params) == 2 + d["visit"].nunique() - 1


# ---------------------------------------------------------------------------------------------
# (6) numbers stored as text, nullable dtypes


def _as_object(values: pd.Series) -> pd.Series:
    return pd.Series(list(values), index=values.index, dtype=object)


TEXT_NUMBERS = {
    "python floats (object)": lambda v: _as_object(v),
    "python ints (object)": lambda v: _as_object((v * 10).round().astype(int)),
    "numeric strings (object)": lambda v: _as_object(v.map(repr)),
    "numeric strings (str)": lambda v: v.map(repr).astype("str"),
    "numeric strings (string[python])": lambda v: v.map(repr).astype("string"),
    "mixed numbers and strings": lambda v: pd.Series(
        [repr(x) if k % 2 else x for k, x in enumerate(v)], index=v.index, dtype=object
    ),
    "strings with spaces": lambda v: _as_object(v.map(lambda x: f" {x:.3f} ")),
}


@pytest.mark.parametrize("form", list(TEXT_NUMBERS))
@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_numbers_stored_as_text(consumer, form):
    d = cohort()
    d = d.assign(x=TEXT_NUMBERS[form](d["x"]))
    err = raises(lambda f: CONSUMERS[consumer](f, "x + l"), d)
    assert err.column == "x"
    message = str(err)
    assert "holds numbers stored as text/object" in message
    assert "pd.to_numeric(data['x'])" in message
    assert "levels" in message


@pytest.mark.parametrize("consumer", LIST_CONSUMERS)
def test_numbers_stored_as_text_in_a_list(consumer):
    d = cohort()
    d = d.assign(l=_as_object(d["l"]))
    err = raises(lambda f: CONSUMERS[consumer](f, ["x", "l"]), d)
    assert err.column == "l"
    assert "holds numbers stored as text/object" in str(err)


def test_numbers_with_missing_markers():
    d = cohort()
    text = d["x"].map(repr).astype(object)
    text.iloc[[4, 9]] = ["NA", "."]
    d = d.assign(x=text)
    err = raises(lambda f: msm.glm("y ~ a + x", f), d)
    assert err.column == "x"
    assert "missing-value marker(s) 'NA', '.'" in str(err)
    assert "errors='coerce'" in str(err)


def test_numbers_as_text_inside_an_expression():
    d = cohort().assign(x=lambda f: _as_object(f["x"]))
    err = raises(lambda f: msm.glm("y ~ a + I(x * 2)", f), d)
    assert err.column == "x"


def test_numbers_as_text_inside_c_are_categories():
    d = cohort().assign(t=lambda f: _as_object(f["time"]))
    fit = returns(lambda f: msm.glm("y ~ a + C(t)", f), d)
    ref = msm.glm("y ~ a + C(time)", d)
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [object, "str", "category"])
def test_genuine_text_stays_categorical(dtype):
    d = cohort()
    labels = np.where(d["time"] % 3 == 0, "low", np.where(d["time"] % 3 == 1, "mid", "high"))
    d = d.assign(g=pd.Series(labels, index=d.index).astype(dtype))
    fit = returns(lambda f: msm.glm("y ~ a + g", f), d)
    dummies = pd.get_dummies(pd.Series(labels, index=d.index), dtype=float)
    ref = msm.glm("y ~ a + low + mid", d.assign(low=dummies["low"], mid=dummies["mid"]))
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params.to_numpy(), rtol=1e-10)
    assert fit.params.index.tolist() == ["Intercept", "a", "g[T.low]", "g[T.mid]"]
    w = returns(
        lambda f: msm.iptw(f, id="id", time="time", treatment="a", denominator=["x", "g"]), d
    )
    assert np.isfinite(w.weights).all()


def test_all_missing_text_column_is_the_missing_value_error():
    d = cohort().assign(x=lambda f: pd.Series([None] * len(f), index=f.index, dtype=object))
    err = raises(lambda f: msm.glm("y ~ a + x", f), d)
    assert err.column == "x"
    assert "missing" in str(err)


NULLABLE = {
    "Float64": lambda d: d.assign(x=d["x"].astype("Float64"), l=d["l"].astype("Float64")),
    "Int64": lambda d: d.assign(time=d["time"].astype("Int64")),
    "boolean": lambda d: d.assign(b=(d["l"] > 0).astype("boolean")),
}
NULLABLE_PLAIN = {
    "Float64": lambda d: d,
    "Int64": lambda d: d,
    "boolean": lambda d: d.assign(b=(d["l"] > 0).astype(float)),
}


@pytest.mark.parametrize("spec", ["x + l + time + b", ["x", "l", "time", "b"], "x + I(l * 2) + b"])
@pytest.mark.parametrize("dtype", list(NULLABLE))
def test_nullable_dtypes_match_plain_ones(dtype, spec):
    base = cohort().assign(b=lambda f: f["l"] > 0)
    d = NULLABLE[dtype](base)
    plain = NULLABLE_PLAIN[dtype](base.assign(b=(base["l"] > 0).astype(float)))
    kwargs = dict(id="id", time="time", treatment="a", absorbing=True)
    w = returns(lambda f: msm.iptw(f, denominator=spec, **kwargs), d)
    ref = msm.iptw(plain, denominator=spec, **kwargs)
    np.testing.assert_allclose(w.weights.to_numpy(), ref.weights.to_numpy(), rtol=1e-10)
    rhs = spec if isinstance(spec, str) else " + ".join(spec)
    fit = returns(lambda f: msm.glm(f"y ~ a + {rhs}", f, cluster="id"), d)
    ref_fit = msm.glm(f"y ~ a + {rhs}", plain, cluster="id")
    np.testing.assert_allclose(fit.params.to_numpy(), ref_fit.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.bse.to_numpy(), ref_fit.bse.to_numpy(), rtol=1e-10)


@pytest.mark.parametrize("spec", ["x + z", ["x", "z"], "x + I(z * 2)", "x + np.log(z + 1)"])
@pytest.mark.parametrize("dtype", ["Float64", "Int64", "boolean"])
@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_nullable_na_is_the_missing_value_error(consumer, dtype, spec):
    if consumer == "glm" and not isinstance(spec, str):
        spec = " + ".join(spec)
    d = cohort()
    values = {
        "Float64": d["z"].astype("Float64"),
        "Int64": (d["z"] * 10).round().astype("Int64"),
        "boolean": (d["z"] > 0.5).astype("boolean"),
    }[dtype]
    values.iloc[[3, 17]] = pd.NA
    d = d.assign(z=values)
    err = raises(lambda f: CONSUMERS[consumer](f, spec), d)
    assert err.column == "z"
    assert "2 missing (NaN) value(s)" in str(err)


def test_nullable_na_in_risk_curves():
    fit = _good_fit("z")
    d = cohort()
    z = d["z"].astype("Float64")
    z[d["id"] == 4] = pd.NA
    d = d.assign(z=z)
    err = raises(lambda f: msm.risk_curves(fit, f, id="id", time="time", treatment="a"), d)
    assert err.column == "z"
    assert err.ids == [4]


# ---------------------------------------------------------------------------------------------
# parse_terms directly: the checks happen at parse time, before any model is built


def test_parse_terms_checks_every_column_read():
    d = dated().assign(o=lambda f: _as_object(f["l"]))
    for spec, column in [
        ("center(visit)", "visit"),
        ("bs(o, df=3)", "o"),
        ("x:gap", "gap"),
        (["x", "o"], "o"),
    ]:
        with pytest.raises(msm.DataError) as info:
            parse_terms(spec, d, "treatment denominator")
        assert info.value.column == column, spec


def test_parse_terms_datetime_date_objects_and_text_mix():
    d = cohort()
    mixed = _as_object(d["x"])
    mixed.iloc[0] = "n/a"  # a marker: still numbers
    with pytest.raises(msm.DataError, match="numbers stored as text"):
        parse_terms("x", d.assign(x=mixed), "t")
    mixed.iloc[1] = "very high"  # genuine text among numbers: categorical as before
    terms = parse_terms("x", d.assign(x=mixed), "t")
    assert terms.plain_columns is None
    dates = d.assign(x=[datetime.date(2020, 1, 1)] * len(d))
    with pytest.raises(msm.DataError, match="datetime column"):
        parse_terms(["x"], dates, "t")
