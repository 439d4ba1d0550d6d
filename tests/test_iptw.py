"""iptw() against an obvious statsmodels + pandas implementation, closed forms and rules."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm
from tests.naive import iptw_reference


@pytest.fixture(scope="module")
def cohort():
    return msm.datasets.simulate_panel(600, 8, seed=11, censor_coefs=(-3.0, 0.6))


@pytest.mark.parametrize("absorbing", [True, False])
@pytest.mark.parametrize("numerator", ["x + time", None])
@pytest.mark.parametrize("censor", [None, "lost"])
def test_matches_statsmodels_pandas_reference(cohort, absorbing, numerator, censor):
    data = cohort
    if not absorbing:  # a treatment that switches on and off, modelled on every row
        rng = np.random.default_rng(5)
        p = 1 / (1 + np.exp(-(-1 + 0.7 * data["l"])))
        data = data.assign(a=(rng.random(len(data)) < p).astype(int))
    denominator = "x + l + time"
    w = msm.iptw(
        data,
        id="id",
        time="time",
        treatment="a",
        denominator=denominator,
        numerator=numerator,
        absorbing=absorbing,
        censor=censor,
    )
    ref = iptw_reference(
        data,
        id="id",
        time="time",
        treatment="a",
        denominator=denominator,
        numerator=numerator,
        absorbing=absorbing,
        censor=censor,
    )
    npt.assert_allclose(w.treatment_weights, ref["treatment"], rtol=1e-9)
    npt.assert_allclose(w.censoring_weights, ref["censoring"], rtol=1e-9)
    npt.assert_allclose(w.weights, ref["weight"], rtol=1e-9)
    assert w.weights.index.equals(data.index)


def test_absorbing_rows_after_start_have_factor_one(cohort):
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="x",
        absorbing=True,
    )
    started_before = cohort.groupby("id")["a"].cumsum() - cohort["a"] > 0
    assert w.models["denominator"].n == int((~started_before).sum())
    tw = w.treatment_weights
    previous = tw.groupby(cohort["id"]).shift(1)
    npt.assert_allclose(tw[started_before], previous[started_before], rtol=1e-15)


def test_point_treatment_closed_form(rng):
    n = 3000
    sex = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    a = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + x - 0.5 * sex)))).astype(int)
    df = pd.DataFrame({"pid": rng.permutation(n) + 100, "a": a, "x": x, "sex": sex})
    w = msm.iptw(df, id="pid", time=None, treatment="a", denominator="x + sex", numerator="1")
    beta = w.models["denominator"].params.to_numpy()
    p = 1 / (1 + np.exp(-(beta[0] + beta[1] * x + beta[2] * sex)))
    marginal = a.mean()  # the intercept-only numerator is the observed proportion treated
    expected = np.where(a == 1, marginal / p, (1 - marginal) / (1 - p))
    npt.assert_allclose(w.weights, expected, rtol=1e-9)
    unstab = msm.iptw(df, id="pid", time=None, treatment="a", denominator="x + sex")
    npt.assert_allclose(unstab.weights, np.where(a == 1, 1 / p, 1 / (1 - p)), rtol=1e-9)
    assert set(unstab.models) == {"denominator"}


def test_list_of_columns_equals_formula(cohort):
    a = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator=["x", "l", "time"],
        numerator=["x"],
        absorbing=True,
    )
    b = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x",
        absorbing=True,
    )
    npt.assert_allclose(a.weights, b.weights, rtol=1e-13)


def test_string_ids_and_custom_index(cohort):
    df = cohort.assign(id=("subject-" + cohort["id"].astype(str)))
    df.index = pd.Index([f"r{i}" for i in range(len(df))])
    df = df.iloc[np.random.default_rng(2).permutation(len(df))]
    w = msm.iptw(df, id="id", time="time", treatment="a", denominator="x + l", absorbing=True)
    base = msm.iptw(
        cohort, id="id", time="time", treatment="a", denominator="x + l", absorbing=True
    )
    assert w.weights.index.equals(df.index)
    npt.assert_allclose(w.weights.to_numpy(), base.weights.to_numpy()[df.index.str[1:].astype(int)])


@pytest.mark.parametrize("bounds", [(1, 99), (5, 95), (0, 90)])
def test_truncation_follows_r_ipw_rule(cohort, bounds):
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="x",
        absorbing=True,
        truncate=bounds,
    )
    raw = w.untruncated.to_numpy()
    q_lo, q_hi = np.quantile(raw, [bounds[0] / 100, bounds[1] / 100])
    expected = raw.copy()
    expected[raw <= q_lo] = q_lo
    expected[raw > q_hi] = q_hi
    npt.assert_array_equal(w.weights.to_numpy(), expected)
    assert w.n_truncated == int(((raw < q_lo) | (raw > q_hi)).sum()) > 0
    assert w.summary()["n_truncated"].iloc[0] == w.n_truncated


def test_truncation_within_time(cohort):
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="x",
        absorbing=True,
        truncate=(2, 98),
        truncate_by="time",
    )
    raw = w.untruncated
    for t, rows in cohort.groupby("time").groups.items():
        q_lo, q_hi = np.quantile(raw[rows], [0.02, 0.98])
        expected = raw[rows].clip(q_lo, q_hi)
        npt.assert_allclose(w.weights[rows], expected, rtol=1e-15)
        assert w.truncation_bounds.loc[t, "upper"] == pytest.approx(q_hi, rel=1e-15)
    by_time = w.summary(by="time")
    assert by_time["n_truncated"].sum() == w.n_truncated


def test_summary_against_numpy(cohort):
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="x",
        absorbing=True,
    )
    v = w.weights.to_numpy()
    s = w.summary().iloc[0]
    assert s["n"] == v.size
    npt.assert_allclose(
        [s["min"], s["p1"], s["median"], s["mean"], s["p99"], s["max"], s["sd"]],
        [
            v.min(),
            *np.percentile(v, [1, 50]),
            v.mean(),
            np.percentile(v, 99),
            v.max(),
            v.std(ddof=1),
        ],
        rtol=1e-12,
    )
    npt.assert_allclose(s["ess"], v.sum() ** 2 / (v**2).sum(), rtol=1e-12)
    by = w.summary(by="time")
    assert list(by.index) == sorted(cohort["time"].unique())
    for t, row in by.iterrows():
        vt = v[cohort["time"].to_numpy() == t]
        npt.assert_allclose(row["ess"], vt.sum() ** 2 / (vt**2).sum(), rtol=1e-12)
        assert row["n"] == vt.size


def test_models_and_repr(cohort):
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="x",
        absorbing=True,
        censor="lost",
        truncate=(1, 99),
    )
    assert set(w.models) == {"denominator", "numerator", "censor_denominator", "censor_numerator"}
    assert list(w.models["denominator"].params.index) == ["Intercept", "x", "l"]
    assert (w.models["denominator"].bse > 0).all()
    text = repr(w)
    assert "stabilized IPTW, absorbing, with censoring" in text
    assert "truncated at percentiles (1, 99)" in text
    top = w.extreme(3)
    assert top["weight"].is_monotonic_decreasing and top["weight"].iloc[0] == w.weights.max()


def test_log_space_where_natural_scale_products_underflow(rng):
    # 2000 visits of a switching treatment: the products of numerator factors and of
    # denominator factors each underflow to 0 (R ipw's cumprod(num) / cumprod(den) is 0/0),
    # but their ratio is a representable number, which log space recovers.
    n, visits = 50, 2000
    conf = rng.normal(size=n * visits)
    a = (rng.random(n * visits) < 1 / (1 + np.exp(-(-1.5 + 1.2 * conf)))).astype(int)
    df = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), visits),
            "t": np.tile(np.arange(visits), n),
            "a": a,
            "l": conf,
        }
    )
    w = msm.iptw(df, id="id", time="t", treatment="a", denominator="l", numerator="1")
    den = w.models["denominator"].params.to_numpy()
    num = w.models["numerator"].params.to_numpy()
    p_den = 1 / (1 + np.exp(-(den[0] + den[1] * conf)))
    p_num = 1 / (1 + np.exp(-num[0]))
    f_den = np.where(a == 1, p_den, 1 - p_den)
    f_num = np.where(a == 1, p_num, 1 - p_num)
    natural = (
        pd.Series(f_num).groupby(df["id"]).cumprod() / pd.Series(f_den).groupby(df["id"]).cumprod()
    )
    assert natural.isna().any()  # 0/0 in the natural scale
    log_w = pd.Series(np.log(f_num) - np.log(f_den)).groupby(df["id"]).cumsum()
    assert np.isfinite(w.weights).all() and (w.weights > 0).all()
    npt.assert_allclose(np.log(w.weights), log_w, rtol=1e-9, atol=1e-9)


def test_weights_beyond_double_range_raise():
    data = msm.datasets.simulate_panel(200, 400, seed=4, treatment_coefs=(-1.0, 0.0, 2.0, 0.0))
    with pytest.raises(msm.DataError, match="exceed the floating-point range"):
        msm.iptw(data, id="id", time="time", treatment="a", denominator="l", absorbing=False)


def test_datetime_time_column(cohort):
    df = cohort.assign(visit=pd.Timestamp("2020-01-01") + pd.to_timedelta(cohort["time"] * 30, "D"))
    a = msm.iptw(df, id="id", time="visit", treatment="a", denominator="x + l", absorbing=True)
    b = msm.iptw(df, id="id", time="time", treatment="a", denominator="x + l", absorbing=True)
    npt.assert_allclose(a.weights, b.weights, rtol=1e-14)


def test_bad_options():
    df = msm.datasets.simulate_panel(20, 3, seed=0)
    with pytest.raises(ValueError, match="truncate"):
        msm.iptw(df, id="id", time="time", treatment="a", denominator="x", truncate=(50, 10))
    with pytest.raises(ValueError, match="family must be one of"):
        msm.iptw(df, id="id", time="time", treatment="a", denominator="x", family="poisson")
    with pytest.raises(ValueError, match="does not serve family='binomial'"):
        msm.iptw(df, id="id", time="time", treatment="a", denominator="x", model="probit")
    with pytest.raises(ValueError, match="needs a numerator"):
        msm.iptw(df, id="id", time="time", treatment="l", denominator="x", family="gaussian")
    with pytest.raises(ValueError, match="absorbing=True applies to binary"):
        msm.iptw(
            df,
            id="id",
            time="time",
            treatment="a",
            denominator="x",
            family="multinomial",
            absorbing=True,
        )
