"""Models with nothing to model, iptw's non-column arguments, and point treatments.

Issue 10, defects 2, 12 and 13:

- a treatment (or censor, or dose) that does not vary on the rows informing a model is a
  DataError naming that column and the row count, whatever the family; ``censor=`` with no
  one censored gives censoring weights of exactly 1 with a ``msm.DataWarning``;
- ``clip=``, ``crossfit=``, ``seed=``, ``truncate=``, ``absorbing=``, family and model names and
  column roles are checked before any model is fitted;
- a point treatment (``time=None``) invents no time column: a learner sees only the user's
  features, and no internal name reaches a model, design, table or printout.

Every call compares the caller's frame before and after (values, dtypes, index, column order).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm

sklearn_linear = pytest.importorskip("sklearn.linear_model")
LogisticRegression = sklearn_linear.LogisticRegression

N_SUBJECTS, N_VISITS = 30, 3


def panel() -> pd.DataFrame:
    """30 subjects x 3 visits; ``a`` varies (absorbing), every other modelled column too."""
    rng = np.random.default_rng(7)
    n = N_SUBJECTS * N_VISITS
    df = pd.DataFrame(
        {
            "id": np.repeat(np.arange(N_SUBJECTS), N_VISITS),
            "t": np.tile(np.arange(1, N_VISITS + 1), N_SUBJECTS),
            "x": rng.normal(size=n),
            "l": rng.normal(size=n),
        }
    )
    df["start"] = df["t"] - 1
    started = rng.random(n) < 0.3
    df["a"] = pd.Series(started.astype(int)).groupby(df["id"]).cummax().to_numpy()
    df["lost"] = 0
    df["dose"] = rng.normal(size=n)
    df["lvl"] = rng.integers(0, 3, size=n)
    return df


def point() -> pd.DataFrame:
    """One row per subject (60 subjects), treatment depending on x and l."""
    rng = np.random.default_rng(11)
    n = 60
    df = pd.DataFrame({"id": np.arange(n), "x": rng.normal(size=n), "l": rng.normal(size=n)})
    df["a"] = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * df["x"] - 0.5 * df["l"])))).astype(int)
    df["lost"] = (rng.random(n) < 0.2).astype(int)
    return df


def assert_unchanged(before: pd.DataFrame, after: pd.DataFrame) -> None:
    assert list(after.columns) == list(before.columns)
    assert after.dtypes.equals(before.dtypes)
    pd.testing.assert_frame_equal(after, before)


def raises(error, frame, match=None, **kwargs):
    """Call msm.iptw on ``frame`` expecting ``error``; the frame must come back unchanged."""
    before = frame.copy(deep=True)
    with pytest.raises(error, match=match) as info:
        msm.iptw(frame, **kwargs)
    assert_unchanged(before, frame)
    return info.value


BASE = dict(id="id", time="t", treatment="a", denominator="x + l")


# ---------------------------------------------------------------------------------------------
# (2) nothing varies on the rows that inform a model


def _all_treated_first(df):
    return df.assign(a=1)


def _never_treated(df):
    return df.assign(a=0)


CONSTANT = [
    # name, frame edit, iptw arguments, column, rows, shown value
    (
        "logit absorbing: all treated at the first visit",
        _all_treated_first,
        dict(BASE, numerator="x", absorbing=True),
        "a",
        N_SUBJECTS,
        "1",
    ),
    (
        "logit: never treated",
        _never_treated,
        dict(BASE, numerator="1"),
        "a",
        N_SUBJECTS * N_VISITS,
        "0",
    ),
    (
        "multinomial: one observed level",
        lambda df: df.assign(lvl=2),
        dict(BASE, treatment="lvl", family="multinomial", numerator="1"),
        "lvl",
        N_SUBJECTS * N_VISITS,
        "2",
    ),
    (
        "ordinal: one observed level",
        lambda df: df.assign(lvl=1),
        dict(BASE, treatment="lvl", family="ordinal"),
        "lvl",
        N_SUBJECTS * N_VISITS,
        "1",
    ),
    (
        "ordinal probit: one level of an ordered categorical",
        lambda df: df.assign(lvl=pd.Categorical(["mid"] * len(df), ["low", "mid"], ordered=True)),
        dict(BASE, treatment="lvl", family="ordinal", model="probit"),
        "lvl",
        N_SUBJECTS * N_VISITS,
        "'mid'",
    ),
    (
        "gaussian: a constant dose",
        lambda df: df.assign(dose=2.5),
        dict(BASE, treatment="dose", family="gaussian", numerator="1"),
        "dose",
        N_SUBJECTS * N_VISITS,
        "2.5",
    ),
    (
        "cox: no one ever starts treatment",
        _never_treated,
        dict(BASE, model="cox", start="start", absorbing=True),
        "a",
        N_SUBJECTS * N_VISITS,
        "0",
    ),
    (
        "cox: everyone starts at the first visit",
        _all_treated_first,
        dict(BASE, model="cox", start="start", absorbing=True),
        "a",
        N_SUBJECTS,
        "1",
    ),
    (
        "learner: all treated at the first visit",
        _all_treated_first,
        dict(BASE, model=LogisticRegression(), absorbing=True),
        "a",
        N_SUBJECTS,
        "1",
    ),
    (
        "learner multinomial: one level",
        lambda df: df.assign(lvl=0),
        dict(BASE, treatment="lvl", family="multinomial", model=LogisticRegression()),
        "lvl",
        N_SUBJECTS * N_VISITS,
        "0",
    ),
    (
        "one subject, never treated",
        lambda df: df[df["id"] == 3].assign(a=0),
        dict(BASE, absorbing=True),
        "a",
        N_VISITS,
        "0",
    ),
]


@pytest.mark.parametrize(
    ("edit", "kwargs", "column", "rows", "value"),
    [case[1:] for case in CONSTANT],
    ids=[case[0] for case in CONSTANT],
)
def test_constant_treatment_names_the_column_and_rows(edit, kwargs, column, rows, value):
    frame = edit(panel())
    err = raises(msm.DataError, frame, **kwargs)
    assert err.column == column
    message = str(err)
    assert message.startswith(
        f"column {column!r}: does not vary on the {rows} rows that inform the treatment "
        f"denominator model (all {value}"
    ), message
    assert "Intercept" not in message and "floating-point" not in message
    if kwargs.get("absorbing"):
        assert "absorbing=True" in message


def test_single_row_says_one_row():
    frame = point().iloc[:1]
    err = raises(msm.DataError, frame, id="id", time=None, treatment="a", denominator="x")
    assert err.column == "a"
    assert str(err).startswith(
        "column 'a': does not vary on the 1 row that informs the treatment denominator model "
        f"(all {frame['a'].iloc[0]})"
    )


def test_point_learner_constant_treatment():
    frame = point().assign(a=1)
    err = raises(
        msm.DataError,
        frame,
        id="id",
        time=None,
        treatment="a",
        denominator="x + l",
        model=LogisticRegression(),
    )
    assert str(err).startswith(
        "column 'a': does not vary on the 60 rows that inform the treatment denominator model "
        "(all 1)"
    )


def test_everyone_censored_names_the_censor_column():
    # one row each, every subject lost at it: the censoring models have nothing to model
    frame = point().assign(lost=1)
    err = raises(
        msm.DataError,
        frame,
        id="id",
        time=None,
        treatment="a",
        denominator="x + l",
        numerator="1",
        censor="lost",
    )
    assert err.column == "lost"
    assert str(err).startswith(
        "column 'lost': does not vary on the 60 rows that inform the censoring denominator "
        "model (all 1)"
    )


# ---------------------------------------------------------------------------------------------
# (2) censor= with no one censored: censoring weights exactly 1, a DataWarning, no model


def test_data_warning_is_public():
    assert issubclass(msm.DataWarning, UserWarning)
    assert "DataWarning" in msm.__all__


@pytest.mark.parametrize("numerator", [None, "x"])
def test_no_censoring_warns_and_weights_are_treatment_weights(numerator):
    frame = panel()
    before = frame.copy(deep=True)
    kwargs = dict(BASE, numerator=numerator, absorbing=True)
    with pytest.warns(msm.DataWarning, match="column 'lost': no subject is censored") as record:
        w = msm.iptw(frame, censor="lost", **kwargs)
    assert_unchanged(before, frame)
    assert [r.filename for r in record if issubclass(r.category, msm.DataWarning)] == [__file__]
    assert "all 90 rows are 0" in str(record[0].message)
    # censoring weights exactly 1, final weights exactly the treatment weights
    assert (w.censoring_weights.to_numpy() == 1.0).all()
    npt.assert_array_equal(w.weights.to_numpy(), w.treatment_weights.to_numpy())
    assert w.weights.index.equals(frame.index)
    expected_models = {"denominator"} | ({"numerator"} if numerator else set())
    assert set(w.models) == expected_models  # the censoring models are not fitted
    # the same numbers as without censor=
    without = msm.iptw(frame, **kwargs)
    npt.assert_array_equal(w.weights.to_numpy(), without.weights.to_numpy())
    # printouts and diagnostics that walk the models still work
    text = repr(w)
    assert "no censoring model fitted" in text and "'lost'" in text
    assert w.summary().loc["all", "n"] == len(frame)
    s = msm.weight_summary(w, frame, k=3)
    assert len(s.extreme) == 3
    assert set(s.extreme["top_model"]) <= {"treatment"}
    assert_unchanged(before, frame)


def test_no_censoring_stacked_variance_equals_without_censor():
    frame = panel()
    frame["y"] = (np.random.default_rng(3).random(len(frame)) < 0.3).astype(int)
    kwargs = dict(BASE, numerator="x", absorbing=True)
    with pytest.warns(msm.DataWarning):
        w = msm.iptw(frame, censor="lost", **kwargs)
    plain = msm.iptw(frame, **kwargs)
    before = frame.copy(deep=True)
    fit = msm.glm("y ~ a", frame, weights=w, cluster="id", variance="stacked")
    ref = msm.glm("y ~ a", frame, weights=plain, cluster="id", variance="stacked")
    assert_unchanged(before, frame)
    npt.assert_array_equal(fit.params.to_numpy(), ref.params.to_numpy())
    npt.assert_allclose(fit.bse.to_numpy(), ref.bse.to_numpy(), rtol=1e-12)


def test_no_censoring_dask_same_warning_and_weights():
    dd = pytest.importorskip("dask.dataframe")
    frame = panel()
    kwargs = dict(BASE, numerator="x", absorbing=True, censor="lost")
    with pytest.warns(msm.DataWarning, match="column 'lost': no subject is censored") as record:
        w = msm.iptw(dd.from_pandas(frame, npartitions=2, sort=False), **kwargs)
    assert [r.filename for r in record if issubclass(r.category, msm.DataWarning)] == [__file__]
    assert set(w.models) == {"denominator", "numerator"}
    with pytest.warns(msm.DataWarning):
        local = msm.iptw(frame, **kwargs)
    got = w.frame.compute().loc[frame.index]
    npt.assert_allclose(got["weight"].to_numpy(), local.weights.to_numpy(), rtol=1e-9)
    assert (got["censoring_weight"] == 1.0).all()


def test_dask_constant_treatment_same_error():
    dd = pytest.importorskip("dask.dataframe")
    frame = _all_treated_first(panel())
    kwargs = dict(BASE, numerator="x", absorbing=True)
    with pytest.raises(msm.DataError) as local:
        msm.iptw(frame, **kwargs)
    with pytest.raises(msm.DataError) as distributed:
        msm.iptw(dd.from_pandas(frame, npartitions=2, sort=False), **kwargs)
    assert str(distributed.value) == str(local.value)
    assert str(local.value).startswith(
        "column 'a': does not vary on the 30 rows that inform the treatment denominator model"
    )


# ---------------------------------------------------------------------------------------------
# (12) clip= and the other arguments that are not columns, before any fitting


class MustNotFit:
    """A classifier that fails the test if iptw ever fits it."""

    def fit(self, X, y):  # pragma: no cover - reaching it is the failure
        raise AssertionError("fitted before the arguments were checked")

    def predict_proba(self, X):  # pragma: no cover
        raise AssertionError("never called")

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self


@pytest.mark.parametrize("clip", [0.9, -0.5, 1.5, 0.5, float("nan"), float("inf"), "0.1", True])
def test_bad_clip_is_refused_before_fitting(clip):
    frame = point()
    err = raises(
        ValueError,
        frame,
        match=r"^clip must be a number with 0 <= clip < 0\.5",
        id="id",
        time=None,
        treatment="a",
        denominator="x + l",
        model=MustNotFit(),
        clip=clip,
    )
    assert repr(clip) in str(err)


@pytest.mark.parametrize("clip", [0, 0.0, 0.25, np.float32(0.01), 0.4999])
def test_valid_clip_is_used(clip):
    frame = point()
    w = msm.iptw(
        frame,
        id="id",
        time=None,
        treatment="a",
        denominator="x + l",
        model=LogisticRegression(),
        clip=clip,
    )
    fit = w.models["denominator"]
    assert fit.clip == float(clip)
    p = 1.0 / w.weights.to_numpy()  # unstabilized: 1 / P(observed)
    assert (p >= float(clip) - 1e-12).all() and (p <= 1 - float(clip) + 1e-12).all()


LEARNER_POINT = dict(id="id", time=None, treatment="a", denominator="x + l")

BAD_ARGUMENTS = [
    # name, extra iptw arguments, error, message pattern
    ("crossfit=0", dict(model=MustNotFit(), crossfit=0), ValueError, r"^crossfit must be"),
    ("crossfit=-2", dict(model=MustNotFit(), crossfit=-2), ValueError, r"^crossfit must be"),
    ("crossfit=2.5", dict(model=MustNotFit(), crossfit=2.5), ValueError, r"^crossfit must be"),
    ("crossfit=True", dict(model=MustNotFit(), crossfit=True), ValueError, r"^crossfit must be"),
    ("crossfit='3'", dict(model=MustNotFit(), crossfit="3"), ValueError, r"^crossfit must be"),
    ("seed=-1", dict(model=MustNotFit(), crossfit=2, seed=-1), ValueError, r"^seed must be"),
    ("seed='a'", dict(model=MustNotFit(), crossfit=2, seed="a"), TypeError, r"^seed must be"),
    ("seed=1.5", dict(model=MustNotFit(), crossfit=2, seed=1.5), TypeError, r"^seed must be"),
    ("family typo", dict(family="binary"), ValueError, r"^family must be one of"),
    ("family None", dict(family=None), ValueError, r"^family must be one of"),
    ("model typo", dict(model="lgit"), ValueError, r"^model='lgit' does not serve"),
    (
        "model a class",
        dict(model=LogisticRegression),
        TypeError,
        r"^model=LogisticRegression is a class; pass an instance",
    ),
    ("model a list", dict(model=["logit"]), TypeError, r"^model must be a name"),
    ("truncate scalar", dict(truncate=99), ValueError, r"^truncate must be \(lower, upper\)"),
    ("truncate 1 value", dict(truncate=(1,)), ValueError, r"^truncate must be"),
    ("truncate 3 values", dict(truncate=(1, 50, 99)), ValueError, r"^truncate must be"),
    ("truncate text", dict(truncate=("1", "99")), ValueError, r"^truncate must be"),
    ("truncate reversed", dict(truncate=(99, 1)), ValueError, r"^truncate must be"),
    ("truncate NaN", dict(truncate=(float("nan"), 99)), ValueError, r"^truncate must be"),
    ("truncate text pair", dict(truncate="19"), ValueError, r"^truncate must be"),
    ("absorbing 'yes'", dict(absorbing="yes"), TypeError, r"^absorbing must be True or False"),
    ("absorbing 1", dict(absorbing=1), TypeError, r"^absorbing must be True or False"),
    ("convergence 'R'", dict(convergence="R"), ValueError, r"^convergence must be 'full' or 'r'"),
    (
        "censor_denominator without censor",
        dict(censor_denominator="x"),
        ValueError,
        r"^censor_denominator given without censor=",
    ),
    ("treatment a list", dict(treatment=["a"]), TypeError, r"^treatment must be a column name"),
]


@pytest.mark.parametrize(
    ("extra", "error", "pattern"),
    [case[1:] for case in BAD_ARGUMENTS],
    ids=[case[0] for case in BAD_ARGUMENTS],
)
def test_bad_argument_is_refused_early(extra, error, pattern):
    raises(error, point(), match=pattern, **{**LEARNER_POINT, **extra})


ROLE_CLASHES = [
    ("treatment is the id", dict(treatment="id"), "id", "given as both id= and treatment="),
    ("treatment is the time", dict(treatment="t"), "t", "given as both time= and treatment="),
    ("censor is the treatment", dict(censor="a"), "a", "given as both treatment= and censor="),
    ("censor is the id", dict(censor="id"), "id", "given as both id= and censor="),
    (
        "start is the time",
        dict(model="cox", start="t", absorbing=True),
        "t",
        "given as both time= and start=",
    ),
]


@pytest.mark.parametrize(
    ("extra", "column", "text"),
    [case[1:] for case in ROLE_CLASHES],
    ids=[case[0] for case in ROLE_CLASHES],
)
def test_one_column_in_two_roles(extra, column, text):
    err = raises(msm.DataError, panel(), **{**BASE, **extra})
    assert err.column == column
    assert str(err) == f"column {column!r}: {text}; they must be different columns"


SELF_PREDICTED = [
    ("denominator formula", dict(denominator="x + a"), "a", "treatment denominator"),
    ("denominator list", dict(denominator=["x", "a"]), "a", "treatment denominator"),
    ("numerator", dict(numerator="I(a * 2)"), "a", "treatment numerator"),
    (
        "censoring denominator",
        dict(censor="lost", censor_denominator="x + lost"),
        "lost",
        "censoring denominator",
    ),
]


@pytest.mark.parametrize(
    ("extra", "column", "role"),
    [case[1:] for case in SELF_PREDICTED],
    ids=[case[0] for case in SELF_PREDICTED],
)
def test_model_reading_its_own_outcome(extra, column, role):
    frame = panel()
    frame.loc[frame.index[-1], "lost"] = 1  # someone is censored (on a last row)
    err = raises(msm.DataError, frame, **{**BASE, "absorbing": True, **extra})
    assert err.column == column
    assert re.match(rf"column {column!r}: the {role} model .* reads {column!r}", str(err))


def test_censoring_model_may_read_the_treatment():
    frame = panel()
    last = frame.index[frame["t"] == N_VISITS]
    frame.loc[last[::3], "lost"] = 1  # every third subject lost on its last row
    w = msm.iptw(frame, **BASE, absorbing=True, censor="lost", censor_denominator="x + a")
    assert "censor_denominator" in w.models


# ---------------------------------------------------------------------------------------------
# (13) a point treatment invents no time column


def test_point_learner_sees_only_the_user_features():
    # unpenalized newton-cholesky warns of a singular Hessian if given an all-zero feature
    frame = point()
    before = frame.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no singular-Hessian or convergence warning
        w = msm.iptw(
            frame,
            id="id",
            time=None,
            treatment="a",
            denominator="x + l",
            model=LogisticRegression(C=np.inf, solver="newton-cholesky"),
        )
        by_hand = LogisticRegression(C=np.inf, solver="newton-cholesky").fit(
            frame[["x", "l"]].to_numpy(), frame["a"]
        )
    assert_unchanged(before, frame)
    fit = w.models["denominator"]
    assert fit.features == ["x", "l"]
    assert fit.estimators[0].n_features_in_ == 2
    npt.assert_allclose(fit.estimators[0].coef_, by_hand.coef_, rtol=1e-8)
    p = by_hand.predict_proba(frame[["x", "l"]].to_numpy())[:, 1]
    p_observed = np.where(frame["a"] == 1, p, 1 - p)
    assert fit.n_clipped == 0
    npt.assert_allclose(w.weights.to_numpy(), 1 / p_observed, rtol=1e-8)


def _texts(w, frame) -> list[str]:
    out = [repr(w), w.summary().to_string(), w.extreme().to_string()]
    out += [repr(m) + m.summary().to_string() for m in w.models.values()]
    s = msm.weight_summary(w, frame, k=3)
    out += [s.extreme.to_string(), s.overall.to_string(), str(s.description)]
    return out


@pytest.mark.parametrize(
    "extra",
    [
        dict(numerator="1"),
        dict(numerator="x", censor="lost"),
        dict(model=LogisticRegression(), crossfit=2, seed=0),
    ],
    ids=["logit", "logit with censoring", "learner"],
)
def test_point_treatment_leaks_no_internal_name(extra):
    frame = point()
    before = frame.copy(deep=True)
    w = msm.iptw(frame, id="id", time=None, treatment="a", denominator="x + l", **extra)
    assert_unchanged(before, frame)
    assert w.panel.time_name is None
    assert list(w.data.columns) == list(frame.columns)  # no column added to the kept data
    for text in _texts(w, frame):
        assert "__msm" not in text and "None" not in text, text
    assert "point treatment" in repr(w)
    assert list(w.extreme().columns) == ["id", "weight"]
    for fit in w.models.values():
        names = getattr(fit, "features", None) or list(fit.params.index)
        assert all(not str(n).startswith("__") for n in names)
    with pytest.raises(ValueError, match="point-treatment weights"):
        w.summary(by="time")
    with pytest.raises(ValueError, match="point-treatment weights"):
        msm.ess(w, by="time")
    b = msm.balance(frame, treatment="a", covariates=["x", "l"], weights=w)
    assert "__msm" not in b.table.to_string()
    assert_unchanged(before, frame)


def test_point_treatment_same_numbers_as_one_visit_panel():
    # a point treatment is a one-visit panel: the logit weights are the same
    frame = point()
    w = msm.iptw(frame, id="id", time=None, treatment="a", denominator="x + l", numerator="1")
    one_visit = frame.assign(t=0)
    ref = msm.iptw(one_visit, id="id", time="t", treatment="a", denominator="x + l", numerator="1")
    npt.assert_array_equal(w.weights.to_numpy(), ref.weights.to_numpy())


def test_point_treatment_shuffled_rows_and_string_ids():
    frame = point()
    frame["id"] = [f"s{i:03d}" for i in frame["id"]]
    shuffled = frame.sample(frac=1.0, random_state=5)
    before = shuffled.copy(deep=True)
    w = msm.iptw(shuffled, id="id", time=None, treatment="a", denominator="x + l")
    assert_unchanged(before, shuffled)
    assert w.weights.index.equals(shuffled.index)
    ref = msm.iptw(frame, id="id", time=None, treatment="a", denominator="x + l")
    npt.assert_allclose(w.weights.loc[frame.index].to_numpy(), ref.weights.to_numpy(), rtol=1e-12)


def test_point_treatment_duplicate_id_still_refused():
    frame = pd.concat([point().iloc[:5], point().iloc[[2]]], ignore_index=True)
    err = raises(msm.DataError, frame, id="id", time=None, treatment="a", denominator="x")
    assert err.column == "id" and err.ids == [2]
    assert "exactly one row" in str(err)
