"""A separate treatment model per time (WeightIt's ``weightitMSM``): ``denominator={time:
formula}`` or ``by_time=True``, against statsmodels fitted per time on the wide data."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit, log_expit

import msm

# WeightIt's models on msmdata (wide columns), and the same models on the long rows' lags
WIDE_DENOMINATORS = {
    1: ["X1_0", "X2_0"],
    2: ["X1_1", "X2_1", "A_1", "X1_0", "X2_0"],
    3: ["X1_2", "X2_2", "A_2", "X1_1", "X2_1", "A_1", "X1_0", "X2_0"],
}
# saturated in the past: A_3 ~ A_1 * A_2 (ordered as formulaic orders A_lag1 * A_lag2)
WIDE_NUMERATORS = {1: [], 2: ["A_1"], 3: ["A_2", "A_1", "A_1:A_2"]}
DENOMINATORS = {
    1: "X1_lag1 + X2_lag1",
    2: "X1_lag1 + X2_lag1 + A_lag1 + X1_lag2 + X2_lag2",
    3: "X1_lag1 + X2_lag1 + A_lag1 + X1_lag2 + X2_lag2 + A_lag2 + X1_lag3 + X2_lag3",
}
NUMERATORS = {1: "1", 2: "A_lag1", 3: "A_lag1 * A_lag2"}


@pytest.fixture(scope="module")
def wide(shared_dir):
    return pd.read_csv(shared_dir / "data" / "weightit" / "msmdata.csv")


@pytest.fixture(scope="module")
def long(wide):
    return msm.to_long(wide, id="id", treatment="A")


def _wide_design(wide, columns):
    X = pd.DataFrame({"Intercept": 1.0}, index=wide.index)
    for c in columns:
        parts = c.split(":")
        X[c] = np.prod([wide[p].to_numpy(float) for p in parts], axis=0)
    return X


def _wide_fit(wide, columns, t):
    y = wide[f"A_{t}"]
    fit = sm.GLM(y, _wide_design(wide, columns), family=sm.families.Binomial()).fit(tol=1e-13)
    p = fit.fittedvalues.to_numpy()
    return fit, np.where(y == 1, p, 1 - p)


@pytest.fixture(scope="module")
def reference(wide):
    """Each unit's cumulative weight at each time: prod_t P(A_t observed | model_t)^-1,
    times the numerators' probabilities when stabilized (WeightIt's weightitMSM)."""
    unstabilized, stabilized, fits = {}, {}, {}
    u = np.ones(len(wide))
    s = np.ones(len(wide))
    for t in (1, 2, 3):
        fits["denominator", t], p_den = _wide_fit(wide, WIDE_DENOMINATORS[t], t)
        fits["numerator", t], p_num = _wide_fit(wide, WIDE_NUMERATORS[t], t)
        u = u / p_den
        s = s * p_num / p_den
        unstabilized[t], stabilized[t] = u.copy(), s.copy()
    return unstabilized, stabilized, fits


def _by_unit(long, w, t, wide):
    at = (long["time"] == t).to_numpy()
    return pd.Series(w.weights.to_numpy()[at], index=long.loc[at, "id"]).loc[wide["id"]].to_numpy()


def test_msmdata_reproduces_weightit_per_time_models(wide, long, reference):
    unstabilized, stabilized, fits = reference
    before = long.copy()
    w = msm.iptw(long, id="id", time="time", treatment="A", denominator=DENOMINATORS)
    ws = msm.iptw(
        long, id="id", time="time", treatment="A", denominator=DENOMINATORS, numerator=NUMERATORS
    )
    pd.testing.assert_frame_equal(long, before)
    # the treatment switches on and off (not absorbing)
    assert ((long.A_lag1 == 1) & (long.A == 0)).any() and ((long.A_lag1 == 0) & (long.A == 1)).any()
    for t in (1, 2, 3):
        npt.assert_allclose(_by_unit(long, w, t, wide), unstabilized[t], rtol=1e-8)
        npt.assert_allclose(_by_unit(long, ws, t, wide), stabilized[t], rtol=1e-8)
        # and the per-time models are WeightIt's: the same coefficients, on 7500 rows each
        for part, model in ws.models_at(t).items():
            reference_fit = fits[part, t]
            npt.assert_allclose(model.params.to_numpy(), reference_fit.params.to_numpy(),
                                rtol=1e-7, atol=1e-9)  # fmt: skip
            npt.assert_allclose(model.bse.to_numpy(), reference_fit.bse.to_numpy(), rtol=1e-6)
            assert model.n == len(wide)
    assert list(ws.models) == [f"{part}[time={t}]" for part in ("denominator", "numerator")
                               for t in (1, 2, 3)]  # fmt: skip
    assert ws.settings["denominator"] == DENOMINATORS
    assert ws.settings["numerator"] == NUMERATORS
    text = repr(ws)
    assert "one model per time" in text
    for t in (1, 2, 3):
        assert f"time={t}: denominator {DENOMINATORS[t]} (7500 rows); numerator" in text


def test_by_time_is_the_mapping_of_one_formula(long):
    formula = "X1_lag1 + X2_lag1"
    by_time = msm.iptw(long, id="id", time="time", treatment="A", denominator=formula,
                       numerator="1", by_time=True)  # fmt: skip
    mapping = msm.iptw(long, id="id", time="time", treatment="A",
                       denominator=dict.fromkeys((1, 2, 3), formula),
                       numerator=dict.fromkeys((1, 2, 3), "1"))  # fmt: skip
    npt.assert_array_equal(by_time.weights.to_numpy(), mapping.weights.to_numpy())
    assert list(by_time.models) == list(mapping.models)
    pooled = msm.iptw(long, id="id", time="time", treatment="A", denominator=formula,
                      numerator="1")  # fmt: skip
    assert list(pooled.models) == ["denominator", "numerator"]
    assert not np.allclose(pooled.weights, by_time.weights)  # each time's own coefficients
    # by hand: each time's logistic model on its rows
    at2 = long[long.time == 2]
    X = sm.add_constant(at2[["X1_lag1", "X2_lag1"]].to_numpy(float))
    fit = sm.GLM(at2.A.to_numpy(float), X, family=sm.families.Binomial()).fit(tol=1e-13)
    npt.assert_allclose(by_time.models["denominator[time=2]"].params, fit.params, rtol=1e-8)


def test_mixed_mapping_and_pooled_models(long):
    """A per-time denominator with a pooled numerator: each is what it says."""
    w = msm.iptw(long, id="id", time="time", treatment="A", denominator=DENOMINATORS,
                 numerator="1")  # fmt: skip
    assert list(w.models)[-1] == "numerator" and w.models["numerator"].n == len(long)
    p = long.A.mean()
    a = long.A.to_numpy()
    log_num = np.where(a == 1, np.log(p), np.log1p(-p))
    log_den = np.zeros(len(long))
    for t, model in ((t, w.models[f"denominator[time={t}]"]) for t in (1, 2, 3)):
        at = (long.time == t).to_numpy()
        names = [c for c in model.params.index if c != "Intercept"]
        e = expit(model.params["Intercept"] + long.loc[at, names].to_numpy() @ model.params[names])
        log_den[at] = np.where(a[at] == 1, np.log(e), np.log1p(-e))
    expected = np.exp(pd.Series(log_num - log_den).groupby(long.id.to_numpy()).cumsum())
    npt.assert_allclose(w.weights.to_numpy(), expected.to_numpy(), rtol=1e-10)


def test_every_time_needs_a_formula_and_no_other(long):
    two = {1: DENOMINATORS[1], 2: DENOMINATORS[2]}
    with pytest.raises(msm.DataError, match=r"no formula for time=3") as info:
        msm.iptw(long, id="id", time="time", treatment="A", denominator=two)
    assert info.value.column == "time"
    extra = DENOMINATORS | {4: "X1_lag1"}
    with pytest.raises(msm.DataError, match=r"gives formulas for time=4, which the data"):
        msm.iptw(long, id="id", time="time", treatment="A", denominator=extra)
    text_keys = {str(t): f for t, f in DENOMINATORS.items()}
    with pytest.raises(msm.DataError, match=r"it gives '1', '2', '3', which are not times"):
        msm.iptw(long, id="id", time="time", treatment="A", denominator=text_keys)
    floats = {float(t): f for t, f in DENOMINATORS.items()}  # 1.0 is the time 1
    w = msm.iptw(long, id="id", time="time", treatment="A", denominator=floats)
    assert "denominator[time=1]" in w.models


def test_a_lag_missing_only_where_no_model_reads_it(long):
    """NaN lags at time 1 are fine when time 1's formula does not read them; a used column
    missing on a time's rows is a DataError naming the column, the time and the ids."""
    with pytest.raises(msm.DataError) as info:
        msm.iptw(long, id="id", time="time", treatment="A", denominator="X1_lag1 + A_lag1",
                 by_time=True)  # fmt: skip
    err = info.value
    assert err.column == "A_lag1" and "at time=1, read by the treatment denominator" in str(err)
    assert err.ids[:3] == [1, 2, 3] and len(err.ids) == long.id.nunique()
    holes = long.copy()
    holes.loc[(holes.id == 7) & (holes.time == 3), "X2_lag2"] = np.nan
    with pytest.raises(msm.DataError, match="at time=3") as info:
        msm.iptw(holes, id="id", time="time", treatment="A", denominator=DENOMINATORS)
    assert info.value.column == "X2_lag2" and info.value.ids == [7]
    # a column also read by a pooled model is checked on every row, as before
    with pytest.raises(msm.DataError, match="missing") as info:
        msm.iptw(long, id="id", time="time", treatment="A", denominator=DENOMINATORS,
                 numerator="A_lag1")  # fmt: skip
    assert info.value.column == "A_lag1" and "at time=" not in str(info.value)


def test_per_time_models_respect_the_absorbing_risk_set():
    data = msm.datasets.simulate_panel(n_subjects=400, n_visits=5, seed=3)
    w = msm.iptw(data, id="id", time="time", treatment="a", denominator="x + l",
                 numerator="x", absorbing=True, by_time=True)  # fmt: skip
    risk = (data.groupby("id")["a"].cumsum() - data["a"]).to_numpy() == 0
    npt.assert_array_equal(w.risk_set, risk)
    log_ratio = np.zeros(len(data))
    for t in range(5):
        rows = risk & (data.time == t).to_numpy()
        frame = data[rows]
        y = frame.a.to_numpy(float)
        for part, columns, sign in (("denominator", ["x", "l"], -1), ("numerator", ["x"], 1)):
            X = sm.add_constant(frame[columns].to_numpy(float))
            fit = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-13)
            model = w.models[f"{part}[time={t}]"]
            assert model.n == rows.sum()
            npt.assert_allclose(model.params, fit.params, rtol=1e-7, atol=1e-9)
            p = fit.fittedvalues
            log_ratio[rows] += sign * np.log(np.where(y == 1, p, 1 - p))
    expected = np.exp(pd.Series(log_ratio).groupby(data.id.to_numpy()).cumsum().to_numpy())
    npt.assert_allclose(w.weights.to_numpy(), expected, rtol=1e-8)


def test_a_time_without_risk_set_rows_has_no_model():
    """absorbing: at a time when every subject was treated before, nothing is modelled."""
    # subjects 2 and 5, untreated at t=1, leave; everyone left at t=2 was treated before
    data = pd.DataFrame({"id": [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5],
                         "t": [0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1],
                         "a": [1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0],
                         "x": [0.3, 1.2, 0.5, 2.1, 0.7, 1.1, 1.5, 0.4, 0.2, 0.9, 1.3, 0.8, 0.6,
                               1.7, 0.1, 1.9]})  # fmt: skip
    w = msm.iptw(data, id="id", time="t", treatment="a", denominator="x", by_time=True,
                 absorbing=True)  # fmt: skip
    assert list(w.models) == ["denominator[t=0]", "denominator[t=1]"]
    assert "t=2: denominator x (no rows at risk)" in repr(w)
    assert w.risk_set[(data.t == 2).to_numpy()].sum() == 0


def test_censoring_models_pooled_or_per_time():
    data = msm.datasets.simulate_panel(n_subjects=500, n_visits=4, seed=9, censor_coefs=(-2.0, 0.5))
    kw = dict(id="id", time="time", treatment="a", denominator="x + l", absorbing=True,
              censor="lost", by_time=True)  # fmt: skip
    with pytest.raises(ValueError, match="give the censoring models' right-hand sides"):
        msm.iptw(data, **kw)
    pooled = msm.iptw(data, **kw, censor_denominator="x + l")
    assert "censor_denominator" in pooled.models
    npt.assert_allclose(
        pooled.censoring_weights,
        msm.iptw(data, **(kw | {"by_time": False}), censor_denominator="x + l").censoring_weights,
        rtol=1e-12,
    )
    times = sorted(data.time.unique())
    censored = [t for t in times if data.loc[data.time == t, "lost"].any()]
    assert censored == times[:-1]  # nobody is lost at the last visit
    per_time = msm.iptw(data, **kw, censor_denominator=dict.fromkeys(times, "l"))
    # nobody censored at a time: no model there, its factors are 1
    assert f"censor_denominator[time={times[-1]}]" not in per_time.models
    assert "censor_denominator l (nobody censored: not fitted)" in repr(per_time)
    log_c = np.zeros(len(data))
    for t in censored:
        frame = data[data.time == t]
        X = sm.add_constant(frame[["l"]].to_numpy(float))
        fit = sm.GLM(frame.lost.to_numpy(float), X, family=sm.families.Binomial()).fit(tol=1e-13)
        npt.assert_allclose(per_time.models[f"censor_denominator[time={t}]"].params, fit.params,
                            rtol=1e-7)  # fmt: skip
        log_c[(data.time == t).to_numpy()] = -np.log1p(-fit.fittedvalues)
    expected = np.exp(pd.Series(log_c).groupby(data.id.to_numpy()).cumsum().to_numpy())
    npt.assert_allclose(per_time.censoring_weights, expected, rtol=1e-8)


def test_refused_where_per_time_models_mean_nothing():
    data = msm.datasets.simulate_panel(n_subjects=50, seed=1)
    point = data[data.time == 0]
    with pytest.raises(ValueError, match="need time="):
        msm.iptw(point, id="id", time=None, treatment="a", denominator="x", by_time=True)
    counting = data.assign(start=data.time - 1.0)
    with pytest.raises(ValueError, match="per-time models"):
        msm.iptw(counting, id="id", time="time", treatment="a", denominator="x", model="cox",
                 start="start", absorbing=True, by_time=True)  # fmt: skip
    with pytest.raises(TypeError, match="by_time must be True or False"):
        msm.iptw(data, id="id", time="time", treatment="a", denominator="x", by_time="yes")
    with pytest.raises(ValueError, match="empty mapping"):
        msm.iptw(data, id="id", time="time", treatment="a", denominator={})


def test_balance_and_summaries_with_per_time_weights(long):
    w = msm.iptw(long, id="id", time="time", treatment="A", denominator=DENOMINATORS,
                 numerator=NUMERATORS)  # fmt: skip
    b = msm.balance(long, covariates=["X1_lag1", "X2_lag1"], weights=w, by="time")
    table = b.table.set_index(["covariate", "time", "stat"])
    assert sorted(set(b.table["time"])) == [1, 2, 3]
    # the reweighted SMD at time 2 by hand (cobalt's: pooled unweighted SD)
    at = (long.time == 2).to_numpy()
    x, a, ww = long.X1_lag1.to_numpy()[at], long.A.to_numpy()[at], w.weights.to_numpy()[at]
    mean1 = np.average(x[a == 1], weights=ww[a == 1])
    mean0 = np.average(x[a == 0], weights=ww[a == 0])
    sd = np.sqrt((x[a == 1].var(ddof=1) + x[a == 0].var(ddof=1)) / 2)
    npt.assert_allclose(table.loc[("X1_lag1", 2, "smd"), "weighted"], (mean1 - mean0) / sd,
                        rtol=1e-10)  # fmt: skip
    s = msm.weight_summary(w, long, k=3)
    assert s.extreme["top_model"].notna().all()
    with pytest.raises(ValueError, match="give adjust="):
        msm.reweighted_association(long, covariates=["X1_lag1"], weights=w)


def test_stacked_variance_with_per_time_models_matches_numeric_sandwich(long):
    w = msm.iptw(long, id="id", time="time", treatment="A", denominator=DENOMINATORS,
                 numerator=NUMERATORS)  # fmt: skip
    final = long[long.time == 3]
    fit = msm.glm("Y_B ~ A + A_lag1 + A_lag2", final, weights=w, family="binomial",
                  cluster="id", variance="stacked")  # fmt: skip
    a = long.A.to_numpy(float)
    ids = long.id.to_numpy()
    times = long.time.to_numpy()
    designs, sizes = [], []
    for part in ("denominator", "numerator"):
        for t in (1, 2, 3):
            model = w.models[f"{part}[time={t}]"]
            at = times == t
            names = list(model.params.index)
            X = np.zeros((len(long), len(names)))
            X[at, 0] = 1.0
            for j, name in enumerate(names[1:], start=1):
                X[at, j] = np.prod([long[c].to_numpy()[at] for c in name.split(":")], axis=0)
            designs.append((part, at, X))
            sizes.append(len(names))
    last = times == 3
    Z = np.column_stack([np.ones(len(long)), a, long.A_lag1.fillna(0), long.A_lag2.fillna(0)])
    y = long.Y_B.to_numpy(float)
    cuts = np.cumsum(sizes)

    def psi_rows(theta):
        pieces = np.split(theta, cuts)
        log_ratio = np.zeros(len(long))
        scores = []
        for (part, at, X), alpha in zip(designs, pieces[:-1]):
            eta = X @ alpha
            log_f = np.where(a == 1, log_expit(eta), log_expit(-eta))
            log_ratio += np.where(at, (1 if part == "numerator" else -1) * log_f, 0.0)
            scores.append(X * (at * (a - expit(eta)))[:, None])
        weight = np.exp(pd.Series(log_ratio).groupby(ids).cumsum().to_numpy())
        mu = expit(Z @ pieces[-1])
        scores.append(Z * (last * weight * (y - mu))[:, None])
        return np.hstack(scores)

    theta = np.concatenate([m.params.to_numpy() for m in w.models.values()] + [fit.params])
    npt.assert_allclose(psi_rows(theta).sum(axis=0), 0.0, atol=1e-6)
    k = theta.size
    A = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = 1e-6 * max(1.0, abs(theta[j]))
        A[:, j] = -(psi_rows(theta + step).sum(0) - psi_rows(theta - step).sum(0)) / (2 * step[j])
    U = pd.DataFrame(psi_rows(theta)).groupby(ids).sum().to_numpy()
    inverse = np.linalg.inv(A)
    numeric = inverse @ (U.T @ U) @ inverse.T
    npt.assert_allclose(fit.cov.to_numpy(), numeric[-4:, -4:], rtol=1e-4)
    system = fit.sandwich_parts.stacked()
    npt.assert_allclose(system.cov(), numeric, rtol=1e-4, atol=1e-12)
    robust = fit.cov_for("robust").to_numpy()
    assert not np.allclose(robust, fit.cov.to_numpy(), rtol=1e-3)  # the weights' estimation
