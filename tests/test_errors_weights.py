"""``weights=`` for every consumer: matched by label, validated, and scale-free.

Issue 10, defects 1 (a Series was used by position), 9 (``variance="stacked"`` with
duplicated index labels) and 10 (weights rescaled by 1e-200 or 1e200 gave robust standard
errors of 0 or NaN).  Every call that takes a frame is checked to leave it unchanged.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm
from msm import DataError
from msm.inference import ModelBased
from msm.outcome._stacked import outcome_rows_in
from msm.weights import resolve_weights, weight_exponent

SCALES = (1e-200, 1e-10, 3.7, 1e10, 1e200)
COX = dict(start="start", stop="stop", event="y")


def _cohort(n_subjects=80, seed=11) -> pd.DataFrame:
    d = msm.datasets.simulate_panel(n_subjects=n_subjects, n_visits=5, seed=seed)
    d = d.assign(start=d["time"].astype(float), stop=d["time"] + 1.0)
    rng = np.random.default_rng(seed)
    d["yg"] = d["x"] + 0.5 * d["a"] + rng.normal(size=len(d))
    d["yp"] = rng.poisson(np.exp(0.2 * d["x"]))
    return d


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return _cohort()


@pytest.fixture(scope="module")
def w(cohort):
    return msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x + time",
        absorbing=True,
    )


@pytest.fixture(scope="module")
def shuffled(cohort) -> pd.DataFrame:
    return cohort.sample(frac=1.0, random_state=3)


class Unchanged:
    """Deep copy of a frame on entry; on exit it must equal the frame (values, dtypes, ...)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def __enter__(self):
        self.before = self.frame.copy(deep=True)
        return self

    def __exit__(self, *exc):
        pd.testing.assert_frame_equal(self.frame, self.before, check_exact=True)
        assert list(self.frame.columns) == list(self.before.columns)
        assert list(self.frame.dtypes) == list(self.before.dtypes)
        pd.testing.assert_index_equal(self.frame.index, self.before.index, exact=True)
        return False


def raises(frame, call, column="weights", match=None, ids=None):
    """``call()`` raises DataError naming ``column`` (and ``ids``), leaving ``frame`` alone."""
    with Unchanged(frame), pytest.raises(DataError, match=match) as info:
        call()
    assert info.value.column == column
    if column is None:
        assert not str(info.value).startswith("column ")
    else:
        assert f"column {column!r}" in str(info.value)
    if ids is not None:
        assert list(info.value.ids) == list(ids)
    return info.value


def glm(frame, weights, **kw):
    kw = {"cluster": "id", "family": "binomial", **kw}
    return msm.glm("y ~ a + time", frame, weights=weights, **kw)


# --- defect 1: a Series is matched by label -------------------------------------------------


def test_shuffled_data_with_w_weights_is_the_unshuffled_fit(cohort, shuffled, w):
    reference = glm(cohort, w)
    for weights in (w.weights, w):
        with Unchanged(shuffled):
            fit = glm(shuffled, weights)
        npt.assert_allclose(fit.params, reference.params, rtol=1e-12)
        npt.assert_allclose(fit.bse, reference.bse, rtol=1e-10)
    # what the bug did: the weights in the caller's original order, paired by position
    wrong = glm(shuffled, w.weights.to_numpy())
    assert not np.allclose(wrong.params, reference.params, rtol=1e-3)


def test_series_for_a_superset_of_the_rows(cohort, w):
    part = cohort[cohort["time"] < 3].iloc[::-1]
    by_label = glm(part, w.weights)
    by_position = glm(part, w.weights.loc[part.index].to_numpy())
    npt.assert_array_equal(by_label.params, by_position.params)


def test_series_missing_labels(cohort, w):
    dropped = cohort.index[[3, 10, 11]]
    series = w.weights.drop(dropped)
    error = raises(cohort, lambda: glm(cohort, series), ids=list(dropped))
    assert "3 of data's" in str(error) and "not in the weights Series' index" in str(error)


def test_series_with_a_default_index_for_relabelled_data(cohort, w):
    relabelled = cohort.set_axis([f"r{i}" for i in range(len(cohort))])
    series = pd.Series(w.weights.to_numpy())  # RangeIndex: no label of data is in it
    error = raises(relabelled, lambda: glm(relabelled, series))
    assert "dtype int64" in str(error) and len(error.ids) == len(cohort)
    # the array itself is positional
    npt.assert_array_equal(glm(relabelled, series.to_numpy()).params, glm(cohort, w.weights).params)


def test_duplicated_index_identical_order_is_accepted(cohort, w):
    labels = np.repeat(np.arange(len(cohort) // 2 + 1), 2)[: len(cohort)]
    dup = cohort.set_axis(labels)
    series = pd.Series(w.weights.to_numpy(), index=dup.index)
    with Unchanged(dup):
        fit = glm(dup, series)
    npt.assert_array_equal(fit.params, glm(cohort, w.weights).params)


def test_duplicated_index_other_order_is_an_error(cohort, w):
    labels = np.repeat(np.arange(len(cohort) // 2 + 1), 2)[: len(cohort)]
    dup = cohort.set_axis(labels)
    series = pd.Series(w.weights.to_numpy(), index=dup.index)
    error = raises(dup, lambda: glm(dup, series.iloc[::-1]), match="duplicated labels")
    assert "reset_index" in str(error) and "data's index" in str(error)
    assert error.ids[:2] == [0, 1]
    # a duplicated Series index against data with a unique index
    error = raises(cohort, lambda: glm(cohort, series), match="duplicated labels")
    assert "weights Series' index has duplicated" in str(error)


def test_multiindex_data(cohort, w):
    multi = cohort.set_index(["id", "time"], drop=False)
    series = pd.Series(w.weights.to_numpy(), index=multi.index).sample(frac=1.0, random_state=1)
    with Unchanged(multi):
        fit = glm(multi, series)
    npt.assert_allclose(fit.params, glm(cohort, w.weights).params, rtol=1e-12)
    error = raises(multi, lambda: glm(multi, w.weights))  # a flat index: no label matches
    assert error.ids[0] == tuple(multi.index[0])


def test_string_index(cohort, w):
    strings = cohort.set_axis([f"row{i}" for i in range(len(cohort))])
    series = pd.Series(w.weights.to_numpy(), index=strings.index)
    npt.assert_allclose(
        glm(strings.iloc[::-1], series).params, glm(cohort, w.weights).params, rtol=1e-12
    )
    error = raises(strings, lambda: glm(strings, w.weights))
    assert error.ids == list(strings.index) and "row0" in str(error)


def test_weights_from_another_frame_sharing_labels(cohort, w):
    # documented: labels decide; a frame of other rows whose labels are in the Weights gets
    # the weights of those labels
    other = cohort.iloc[:100].reset_index(drop=True)
    npt.assert_array_equal(resolve_weights(other, w), w.weights.to_numpy()[:100])


# --- arrays, column names and other kinds -----------------------------------------------------


def test_array_of_the_wrong_length(cohort):
    n = len(cohort)
    raises(cohort, lambda: glm(cohort, np.ones(n - 1)), match=rf"\({n}\), got shape \({n - 1},\)")
    raises(cohort, lambda: glm(cohort, [1.0, 2.0]), match="got shape")


def test_two_dimensional_array(cohort):
    n = len(cohort)
    raises(cohort, lambda: glm(cohort, np.ones((n, 1))), match=rf"shape \({n}, 1\).*1-D")


def test_list_is_positional(cohort, w):
    values = w.weights.tolist()
    npt.assert_array_equal(glm(cohort, values).params, glm(cohort, w.weights).params)


def test_other_kinds_are_errors(cohort):
    for bad, match in [
        (3.0, "got float; for equal weights pass None"),
        ({"a": 1.0}, "got dict"),
        ({1.0, 2.0}, "got set"),
        (cohort[["x"]].abs(), "got DataFrame; pick one column"),
    ]:
        error = raises(cohort, lambda bad=bad: glm(cohort, bad), match=match)
        assert "a Weights object from msm.iptw, a pandas Series" in str(error)


def test_column_name(cohort, w):
    frame = cohort.assign(ipw=w.weights)
    npt.assert_array_equal(glm(frame, "ipw").params, glm(cohort, w.weights).params)
    raises(frame, lambda: glm(frame, "ipw2"), column="ipw2", match="column not found")
    twice = pd.concat([frame, frame[["ipw"]]], axis=1)
    raises(twice, lambda: glm(twice, "ipw"), column="ipw", match="duplicated column")


# --- values -----------------------------------------------------------------------------------


def _with(values, at, value, dtype=None):
    out = pd.Series(values, dtype=dtype).copy()
    out.iloc[list(at)] = value
    return out.to_numpy() if dtype is None else out.array


@pytest.mark.parametrize(
    "value, what",
    [(-1.0, "1 negative"), (np.nan, "missing"), (np.inf, "infinite"), (-np.inf, "infinite")],
)
def test_bad_values_name_the_rows(cohort, w, value, what):
    bad = w.weights.copy()
    bad.iloc[[4, 9]] = value
    error = raises(
        cohort, lambda: glm(cohort, bad), match="finite and >= 0", ids=cohort.index[[4, 9]]
    )
    assert what.split()[-1] in str(error)
    as_column = cohort.assign(wt=bad.to_numpy())
    raises(as_column, lambda: glm(as_column, "wt"), column="wt", ids=cohort.index[[4, 9]])


def test_nullable_float_with_na(cohort, w):
    values = pd.array(w.weights.to_numpy(), dtype="Float64")
    values[[2, 5]] = pd.NA
    error = raises(cohort, lambda: glm(cohort, values), ids=cohort.index[[2, 5]])
    assert "2 missing (NaN/NA)" in str(error)
    series = pd.Series(values, index=cohort.index).iloc[::-1]
    raises(cohort, lambda: glm(cohort, series), ids=cohort.index[[2, 5]])
    ints = pd.Series(np.ones(len(cohort), dtype=int), index=cohort.index, dtype="Int64")
    npt.assert_array_equal(glm(cohort, ints).params, glm(cohort, None).params)


def test_all_zero(cohort):
    raises(cohort, lambda: glm(cohort, np.zeros(len(cohort))), match="all weights are 0")
    raises(
        cohort,
        lambda: msm.balance(cohort, treatment="a", covariates=["x"], weights=np.zeros(len(cohort))),
        match="all weights are 0",
    )
    assert msm.ess(np.zeros(3)) == 0.0  # the effective sample size of no weight is 0


def test_bool_text_and_datetime_weights_are_refused(cohort):
    mask = cohort["time"] < 3
    raises(cohort, lambda: glm(cohort, mask), match="got bool.*astype\\(float\\)")
    raises(cohort, lambda: glm(cohort, mask.astype(object)), match="bool")
    text = cohort.assign(wt=cohort["x"].round(2).astype(str))
    raises(text, lambda: glm(text, "wt"), column="wt", match="numeric, got text")
    stamps = pd.date_range("2020-01-01", periods=len(cohort), freq="D")
    raises(cohort, lambda: glm(cohort, stamps.to_numpy()), match="numeric, got dtype datetime64")


def test_resolved_weights_are_a_writeable_copy(cohort):
    frame = cohort.assign(wt=1.0)
    with Unchanged(frame):
        values = resolve_weights(frame, "wt")
        values[:] = 7.0
    assert not np.shares_memory(values, frame["wt"].to_numpy())


# --- every consumer ---------------------------------------------------------------------------


def test_cox(cohort, shuffled, w):
    kw = dict(**COX, covariates="a + x", cluster="id")
    reference = msm.cox(cohort, weights=w, **kw)
    with Unchanged(shuffled):
        fit = msm.cox(shuffled, weights=w.weights, **kw)
    npt.assert_allclose(fit.params, reference.params, rtol=1e-10)
    npt.assert_allclose(fit.bse, reference.bse, rtol=1e-9)
    raises(cohort, lambda: msm.cox(cohort, weights=w.weights.iloc[5:], **kw), ids=cohort.index[:5])


def test_balance_and_history_balance(cohort, shuffled, w):
    kw = dict(covariates=["x", "l"])
    reference = msm.balance(cohort, weights=w, **kw).table
    for weights in (w, w.weights):
        with Unchanged(shuffled):
            table = msm.balance(
                shuffled, weights=weights, treatment="a", id="id", time="time", absorbing=True, **kw
            ).table
        pd.testing.assert_frame_equal(table, reference, rtol=1e-12)
    wrong = msm.balance(
        shuffled,
        weights=w.weights.to_numpy(),
        treatment="a",
        id="id",
        time="time",
        absorbing=True,
        **kw,
    ).table
    assert not np.allclose(wrong["weighted"], reference["weighted"])
    raises(
        cohort,
        lambda: msm.balance(cohort, weights=w.weights.iloc[:-2], treatment="a", **kw),
        ids=cohort.index[-2:],
    )
    history = msm.history_balance(cohort, weights=w, **kw).table
    with Unchanged(shuffled):
        again = msm.history_balance(
            shuffled, weights=w.weights, treatment="a", id="id", time="time", absorbing=True, **kw
        ).table
    pd.testing.assert_frame_equal(again, history, rtol=1e-12)


def test_ess(cohort, shuffled, w):
    reference = msm.ess(w, cohort, by="time")
    with Unchanged(shuffled):
        pd.testing.assert_series_equal(msm.ess(w.weights, shuffled, by="time"), reference)
    assert msm.ess(w.weights) == pytest.approx(msm.ess(w))
    raises(cohort, lambda: msm.ess(w.weights.iloc[1:], cohort), ids=cohort.index[:1])
    with pytest.raises(DataError, match="1-D"):
        msm.ess(np.ones((3, 2)))
    with pytest.raises(DataError, match="finite and >= 0"):
        msm.ess(pd.Series([1.0, np.nan]))


def test_reweighted_association(cohort, shuffled, w):
    kw = dict(covariates=["x", "l"], cluster="id")
    reference = msm.reweighted_association(cohort, weights=w, **kw)
    with Unchanged(shuffled):
        again = msm.reweighted_association(
            shuffled,
            weights=w.weights,
            treatment="a",
            id="id",
            time="time",
            absorbing=True,
            adjust="x + time",
            **kw,
        )
    npt.assert_allclose(again.wald_p, reference.wald_p, rtol=1e-9)
    raises(
        cohort,
        lambda: msm.reweighted_association(cohort, weights=w.weights.iloc[3:], treatment="a", **kw),
        ids=cohort.index[:3],
    )


def test_risk_curves_from_a_fit_on_shuffled_rows(cohort, shuffled, w):
    kw = dict(id="id", time="time", treatment="a")
    fit = msm.glm("y ~ a + time + x", cohort, weights=w, cluster="id", family="binomial")
    reference = msm.risk_curves(fit, cohort, **kw)
    refit = msm.glm(
        "y ~ a + time + x", shuffled, weights=w.weights, cluster="id", family="binomial"
    )
    with Unchanged(shuffled):
        curves = msm.risk_curves(refit, shuffled, **kw)
    pd.testing.assert_frame_equal(curves, reference, rtol=1e-10)


def test_weights_by_time_plot(cohort, shuffled, w):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def boxes(fig):  # whiskers, caps, medians and fliers of every box
        return np.concatenate([np.sort(line.get_ydata()) for line in fig.axes[0].lines])

    reference = msm.plot.weights_by_time(w)
    with Unchanged(shuffled):
        fig = msm.plot.weights_by_time(w.weights, shuffled, time="time")
    npt.assert_allclose(boxes(fig), boxes(reference), rtol=1e-12)
    plt.close("all")
    raises(
        cohort,
        lambda: msm.plot.weights_by_time(w.weights.iloc[2:], cohort, time="time"),
        ids=cohort.index[:2],
    )
    plt.close("all")


def test_dask_glm_with_a_weights_column(cohort, w):
    dd = pytest.importorskip("dask.dataframe")
    frame = cohort.assign(ipw=w.weights)
    fit = msm.glm(
        "y ~ a + time",
        dd.from_pandas(frame, npartitions=3),
        weights="ipw",
        cluster="id",
        family="binomial",
    )
    npt.assert_allclose(fit.params, glm(frame, "ipw").params, rtol=1e-8)


# --- defect 9: variance="stacked" with duplicated index labels -------------------------------


def test_stacked_with_duplicated_index_labels(cohort, w):
    labels = np.repeat(np.arange(len(cohort) // 2 + 1), 2)[: len(cohort)]
    dup = cohort.set_axis(labels)
    with Unchanged(dup):
        w_dup = msm.iptw(
            dup,
            id="id",
            time="time",
            treatment="a",
            denominator="x + l + time",
            numerator="x + time",
            absorbing=True,
        )
    # msm's message, before pandas is asked to match duplicated labels
    error = raises(
        dup,
        lambda: glm(dup, w_dup, variance="stacked"),
        column=None,
        match="variance='stacked'.*duplicated labels.*reset_index",
        ids=None,
    )
    assert error.ids[:3] == [0, 1, 2]
    # the other variances are fine on the identical index
    npt.assert_array_equal(glm(dup, w_dup).params, glm(cohort, w).params)
    # and the stacked variance on a unique index
    assert np.all(np.isfinite(glm(cohort, w, variance="stacked").bse))


def test_stacked_row_matching_checks_duplicates_first():
    unique = pd.Index([0, 1, 2])
    dup = pd.Index([0, 0, 1])
    npt.assert_array_equal(outcome_rows_in(unique, unique), [0, 1, 2])
    npt.assert_array_equal(outcome_rows_in(unique, pd.Index([2, 0])), [2, 0])
    for a, b in ((dup, unique), (unique, dup), (dup, dup)):
        with pytest.raises(DataError, match="variance='stacked'.*duplicated labels") as info:
            outcome_rows_in(a, b)
        assert info.value.ids == [0]
    with pytest.raises(DataError, match="not") as info:
        outcome_rows_in(unique, pd.Index([1, 5]))
    assert info.value.ids == [5]


# --- defect 10: a constant scale of the weights changes nothing ------------------------------


def test_weight_exponent():
    ones = np.ones(4)
    assert weight_exponent(ones) == 0
    assert weight_exponent(np.array([0.0, 0.0])) == 0
    for j in (-700, -3, 5, 700):
        assert weight_exponent(np.ldexp(ones * 1.3, j)) == j
    x = np.random.default_rng(1).lognormal(size=50)
    mean = np.ldexp(x, -weight_exponent(x)).mean()
    assert 2**-0.5 <= mean < 2**0.5


def _same(a, b, rtol=1e-12):
    npt.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=0)


@pytest.mark.parametrize(
    "family, outcome", [("gaussian", "yg"), ("binomial", "y"), ("poisson", "yp")]
)
def test_glm_estimates_and_every_variance_are_scale_free(cohort, w, family, outcome):
    base = w.weights
    variances = ["robust", "cr1", "cr1s", "model"]
    reference = {
        v: msm.glm(
            f"{outcome} ~ a + time", cohort, weights=base, cluster="id", family=family, variance=v
        )
        for v in variances
    }
    for c in SCALES:
        for v in variances:
            fit = msm.glm(
                f"{outcome} ~ a + time",
                cohort,
                weights=base * c,
                cluster="id",
                family=family,
                variance=v,
            )
            assert np.all(fit.bse > 0) and np.all(np.isfinite(fit.bse)), (c, v)
            _same(fit.params, reference[v].params)
            _same(fit.bse, reference[v].bse)
            _same(fit.dispersion, reference[v].dispersion * c, rtol=1e-10)
        assert fit.sum_weights == pytest.approx(reference[v].sum_weights * c, rel=1e-12)
        _same(fit.deviance, reference[v].deviance * c, rtol=1e-10)
        # the bread and score rows are on the scale of the weights given
        _same(fit.bread(), reference[v].bread() / c, rtol=1e-10)
    # a power of two: bit-identical
    for j in (-700, 3, 700):
        fit = msm.glm(
            f"{outcome} ~ a + time", cohort, weights=np.ldexp(base, j), cluster="id", family=family
        )
        npt.assert_array_equal(fit.params, reference["robust"].params)
        npt.assert_array_equal(fit.bse, reference["robust"].bse)


def test_glm_fixed_dispersion_treats_weights_as_case_counts(cohort, w):
    # documented: ModelBased(dispersion=1.0) is R's binomial glm with prior weights
    ref = glm(cohort, w.weights, variance=ModelBased(1.0))
    for c in (1e-200, 3.7, 1e200):
        fit = glm(cohort, w.weights * c, variance=ModelBased(1.0))
        _same(fit.bse, ref.bse / np.sqrt(c), rtol=1e-10)


def test_glm_without_cluster_and_convergence_r_at_extreme_scales(cohort, w):
    reference = glm(cohort, w.weights, cluster=None)
    for c in (1e-200, 1e200):
        fit = glm(cohort, w.weights * c, cluster=None)
        _same(fit.bse, reference.bse)
    # convergence="r": R's path for the weights rescaled to mean near 1, so at any scale the
    # same to R's tolerance (its start depends on the weights; a relative change in deviance
    # below 1e-8 leaves about 1e-4 in the estimates), and bit-identical for 2**j
    r1 = glm(cohort, w.weights, convergence="r")
    for c in SCALES:
        r = glm(cohort, w.weights * c, convergence="r")
        assert np.all(r.bse > 0) and np.all(np.isfinite(r.bse))
        _same(r.params, r1.params, rtol=1e-3)
        _same(r.bse, r1.bse, rtol=1e-3)
    r = glm(cohort, np.ldexp(w.weights, -700), convergence="r")
    npt.assert_array_equal(r.params, r1.params)
    npt.assert_array_equal(r.bse, r1.bse)
    assert r.n_iter == r1.n_iter


def test_stacked_variance_is_scale_free(cohort, w):
    reference = glm(cohort, w, variance="stacked")
    for c in SCALES:
        scaled = dataclasses.replace(w, final=w.final * c)
        fit = glm(cohort, scaled, variance="stacked")
        _same(fit.params, reference.params)
        _same(fit.bse, reference.bse)


def test_bootstrap_variance_is_scale_free(cohort):
    frame = cohort.assign(wt=np.random.default_rng(5).lognormal(size=len(cohort)))

    def boot(c):
        def statistic(d):
            return glm(d, d["wt"].to_numpy() * c).params

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return msm.bootstrap(
                statistic, frame, cluster="id", n_boot=8, seed=2, n_jobs=1, progress=False
            )

    reference = boot(1.0)
    for c in (1e-200, 1e200):
        _same(boot(c).bse, reference.bse, rtol=1e-10)


@pytest.mark.parametrize("cluster", ["id", None])
def test_cox_estimates_and_robust_variance_are_scale_free(cohort, w, cluster):
    kw = dict(**COX, covariates="a + x", cluster=cluster, variance="robust")
    reference = msm.cox(cohort, weights=w.weights, **kw)
    for c in SCALES:
        fit = msm.cox(cohort, weights=w.weights * c, **kw)
        assert np.all(fit.bse > 0) and np.all(np.isfinite(fit.bse)), c
        _same(fit.params, reference.params)
        _same(fit.bse, reference.bse)
        # R's se(coef) (weights as case counts) scales as 1/c; the log-likelihood as R's
        _same(fit.naive_bse, reference.naive_bse / np.sqrt(c), rtol=1e-10)
        events = float((w.weights * cohort["y"]).sum())
        _same(fit.loglik, c * (reference.loglik - np.log(c) * events), rtol=1e-10)
    fit = msm.cox(cohort, weights=np.ldexp(w.weights, 600), **kw)
    npt.assert_array_equal(fit.bse, reference.bse)
    npt.assert_array_equal(fit.params, reference.params)


def test_cox_model_variance_treats_weights_as_case_counts(cohort):
    # documented: R's se(coef); integer weights are duplicated rows
    kw = dict(**COX, covariates="a + x", ties="breslow")
    k = np.random.default_rng(4).integers(1, 4, len(cohort))
    fit = msm.cox(cohort, weights=k.astype(float), **kw)
    copies = msm.cox(cohort.loc[cohort.index.repeat(k)].reset_index(drop=True), **kw)
    assert fit.variance == "model"
    _same(fit.params, copies.params, rtol=1e-9)
    _same(fit.bse, copies.bse, rtol=1e-8)
    for c in (1e-200, 1e200):
        scaled = msm.cox(cohort, weights=k * c, **kw)
        _same(scaled.bse, fit.bse / np.sqrt(c), rtol=1e-10)
        assert np.all(np.isfinite(scaled.bse)) and np.all(scaled.bse > 0)
