"""Risk curves from a pooled logistic MSM: against a direct computation and known truths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from formulaic import model_matrix

import msm
from msm.outcome.risk import risk_curves


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(scope="module")
def cohort():
    return msm.datasets.simulate_panel(n_subjects=800, n_visits=6, seed=11, stop_at_event=True)


@pytest.fixture(scope="module")
def weights(cohort):
    return msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x + time",
        absorbing=True,
    )


def naive_risk(beta: dict, baseline: pd.DataFrame, grid, rows) -> np.ndarray:
    """Loop over subjects and times: risk by t averaged over subjects (one regime)."""
    risks = np.zeros(len(grid))
    for _, subject in baseline.iterrows():
        survival = 1.0
        for j, t in enumerate(grid):
            eta = sum(beta[name] * value for name, value in rows(subject, j, t).items())
            survival *= 1.0 - expit(eta)
            risks[j] += 1.0 - survival
    return risks / len(baseline)


def test_matches_a_direct_computation(cohort, weights):
    fit = msm.glm("y ~ a + time + x", cohort, weights=weights, cluster="id", family="binomial")
    table = risk_curves(fit, cohort, id="id", time="time", treatment="a")
    beta = fit.params.to_dict()
    baseline = cohort.groupby("id").first()
    grid = np.arange(6)
    expected = {}
    for name, a in [("always", 1.0), ("never", 0.0)]:

        def rows(subject, j, t, a=a):
            return {"Intercept": 1.0, "a": a, "time": t, "x": subject["x"]}

        expected[name] = naive_risk(beta, baseline, grid, rows)
    assert table.index.names == ["regime", "time"]
    assert table.columns.tolist() == ["risk", "difference", "ratio"]
    np.testing.assert_allclose(table.loc["always", "risk"], expected["always"], rtol=1e-12)
    np.testing.assert_allclose(table.loc["never", "risk"], expected["never"], rtol=1e-12)
    np.testing.assert_allclose(
        table.loc["always", "difference"], expected["always"] - expected["never"], rtol=1e-12
    )
    np.testing.assert_allclose(
        table.loc["always", "ratio"], expected["always"] / expected["never"], rtol=1e-12
    )
    assert (table.loc["never", "difference"] == 0).all()
    assert (table.loc["never", "ratio"] == 1).all()
    assert table.attrs["reference"] == "never"
    # the same through the general path (regime rows as frames, design rebuilt on them)
    via_frames = risk_curves(fit, cohort, id="id", time="time", treatment="a", rows=lambda f: f)
    pd.testing.assert_frame_equal(via_frames, table, rtol=1e-12)


def test_history_splines_and_categories_use_the_fitting_state(cohort, weights):
    """cumsum/ever history, a spline in time and a category: design state from the data."""
    data = cohort.assign(
        cum_a=cohort.groupby("id")["a"].cumsum(),
        group=np.where(cohort["x"] > 0.5, "high", np.where(cohort["x"] < -0.5, "low", "mid")),
    )
    formula = "y ~ a + cum_a + bs(time, df=3) + C(group)"
    fit = msm.glm(formula, data, weights=weights.weights.to_numpy(), family="binomial")
    regimes = {"always": 1, "late": lambda t: (t >= 3).astype(float), "never": 0}
    table = risk_curves(
        fit, data, id="id", time="time", treatment="a", regimes=regimes,
        history={"cum_a": "cumsum"}, reference="never",
    )  # fmt: skip
    spec = model_matrix(formula.split("~")[1], data).model_spec
    baseline = data.groupby("id").first()
    grid = np.arange(6)
    for name, a_of_t in [("always", np.ones(6)), ("late", (grid >= 3) * 1.0), ("never", 0 * grid)]:
        rows = pd.DataFrame(
            {
                "a": np.tile(a_of_t, len(baseline)),
                "cum_a": np.tile(np.cumsum(a_of_t), len(baseline)),
                "time": np.tile(grid, len(baseline)),
                "group": np.repeat(baseline["group"].to_numpy(), 6),
            }
        )
        X = spec.get_model_matrix(rows).to_numpy()
        hazard = expit(X @ fit.params.to_numpy()).reshape(len(baseline), 6)
        expected = 1 - np.cumprod(1 - hazard, axis=1).mean(axis=0)
        np.testing.assert_allclose(table.loc[name, "risk"], expected, rtol=1e-10)
    assert list(table.index.get_level_values("regime").unique()) == ["always", "late", "never"]
    # "late" equals "never" before time 3 (the ever-treated history gives the same here)
    np.testing.assert_allclose(table.loc["late", "ratio"].iloc[:3], 1.0, rtol=1e-12)


def test_standardising_another_population_keeps_the_fits_design_state(cohort, weights):
    """A stateful term's state (knots, centring) is the fitting data's, whatever data the
    curves are standardised over: the MSM's coefficients refer to that design."""
    formula = "y ~ a + bs(time, df=3) + center(x)"
    fit = msm.glm(formula, cohort, weights=weights, cluster="id", family="binomial")
    older = cohort[cohort.groupby("id")["x"].transform("first") > 0.3]  # another population
    table = risk_curves(fit, older, id="id", time="time", treatment="a")
    spec = model_matrix(formula.split("~")[1], cohort).model_spec  # the fitting data's state
    baseline = older.groupby("id").first()
    grid = np.arange(6)
    for name, a in [("always", 1.0), ("never", 0.0)]:
        rows = pd.DataFrame(
            {
                "a": a,
                "time": np.tile(grid, len(baseline)),
                "x": np.repeat(baseline["x"].to_numpy(), 6),
            }
        )
        X = spec.get_model_matrix(rows).to_numpy()
        hazard = expit(X @ fit.params.to_numpy()).reshape(len(baseline), 6)
        expected = 1 - np.cumprod(1 - hazard, axis=1).mean(axis=0)
        np.testing.assert_allclose(table.loc[name, "risk"], expected, rtol=1e-10)
    # the state learnt on the smaller population would give other risks
    own = model_matrix(formula.split("~")[1], older).model_spec
    rows = pd.DataFrame({"a": 1.0, "time": np.tile(grid, len(baseline)),
                         "x": np.repeat(baseline["x"].to_numpy(), 6)})  # fmt: skip
    hazard = expit(own.get_model_matrix(rows).to_numpy() @ fit.params.to_numpy())
    other = 1 - np.cumprod(1 - hazard.reshape(len(baseline), 6), axis=1).mean(axis=0)
    assert np.max(np.abs(other - table.loc["always", "risk"].to_numpy())) > 1e-4


def test_ever_and_callable_history_and_rows_hook(cohort, weights):
    data = cohort.assign(ever=cohort.groupby("id")["a"].cummax(), ax=cohort["a"] * cohort["x"])
    fit = msm.glm("y ~ ever + time + x + ax", data, weights=weights, family="binomial")
    common = dict(id="id", time="time", treatment="a")

    def add_ax(frame):
        frame["ax"] = frame["a"] * frame["x"]
        return frame

    ever = risk_curves(fit, data, **common, history={"ever": "ever"}, rows=add_ax)
    by_hand = risk_curves(
        fit, data, **common, rows=add_ax,
        history={"ever": lambda a, t: np.maximum.accumulate(a, axis=1)},
    )  # fmt: skip
    pd.testing.assert_frame_equal(ever, by_hand)
    # the same model with the interaction written in the formula
    fit2 = msm.glm("y ~ ever + time + x + a:x", data, weights=weights, family="binomial")
    formula_version = risk_curves(fit2, data, **common, history={"ever": "ever"})
    pd.testing.assert_frame_equal(ever, formula_version, rtol=1e-8)


def test_truth_time_varying_randomized_cumulative_treatment():
    """a_t randomized at each visit; hazard logistic in cumulative treatment and time.

    The MSM ``y ~ cum_a + time`` is then correctly specified and the true risks under always
    and never treated are closed-form.
    """
    rng = np.random.default_rng(5)
    n, k = 80_000, 6
    b0, b_cum, b_t = -2.5, -0.3, 0.1
    a = rng.random((n, k)) < 0.5
    cum = np.cumsum(a, axis=1)
    event = rng.random((n, k)) < expit(b0 + b_cum * cum + b_t * np.arange(k))
    at_risk = np.cumsum(np.cumsum(event, axis=1), axis=1) <= 1  # rows up to the first event
    ids, times = np.nonzero(at_risk)
    data = pd.DataFrame(
        {
            "id": ids,
            "time": times,
            "a": a[ids, times].astype(int),
            "cum_a": cum[ids, times],
            "y": event[ids, times].astype(int),
        }
    )
    fit = msm.glm("y ~ cum_a + time", data, cluster="id", family="binomial")
    table = risk_curves(fit, data, id="id", time="time", treatment="a", history={"cum_a": "cumsum"})
    t = np.arange(k)
    truth_always = 1 - np.cumprod(1 - expit(b0 + b_cum * (t + 1) + b_t * t))
    truth_never = 1 - np.cumprod(1 - expit(b0 + b_t * t))
    np.testing.assert_allclose(table.loc["always", "risk"], truth_always, atol=0.012)
    np.testing.assert_allclose(table.loc["never", "risk"], truth_never, atol=0.012)
    np.testing.assert_allclose(
        table.loc["always", "difference"], truth_always - truth_never, atol=0.01
    )


def test_truth_point_treatment_confounded_by_baseline_covariate():
    """Baseline treatment depends on x; the conditional hazard model, standardized over x.

    Truth: E_x[1 - prod_k (1 - expit(b0 + b_a a + b_x x + b_t k))] by Gauss-Hermite quadrature.
    The crude (unadjusted, unweighted) curves are visibly biased; the standardized ones are not.
    """
    rng = np.random.default_rng(9)
    n, k = 80_000, 5
    b0, b_a, b_x, b_t = -2.5, -0.7, 0.8, 0.1
    x = rng.normal(size=n)
    a = (rng.random(n) < expit(1.2 * x)).astype(int)
    event = rng.random((n, k)) < expit(
        b0 + b_a * a[:, None] + b_x * x[:, None] + b_t * np.arange(k)
    )
    at_risk = np.cumsum(np.cumsum(event, axis=1), axis=1) <= 1
    ids, times = np.nonzero(at_risk)
    data = pd.DataFrame(
        {"id": ids, "time": times, "x": x[ids], "a": a[ids], "y": event[ids, times].astype(int)}
    )
    w = msm.iptw(data.groupby("id").first().reset_index(), id="id", time=None, treatment="a",
                 denominator="x", numerator="1")  # fmt: skip
    row_w = w.weights.to_numpy()[data["id"].to_numpy()]
    fit = msm.glm("y ~ a + x + time", data, weights=row_w, cluster="id", family="binomial")
    table = risk_curves(fit, data, id="id", time="time", treatment="a")

    nodes, node_w = np.polynomial.hermite_e.hermegauss(60)
    node_w = node_w / node_w.sum()
    t = np.arange(k)

    def truth(a_value):
        hazard = expit(b0 + b_a * a_value + b_x * nodes[:, None] + b_t * t)
        return node_w @ (1 - np.cumprod(1 - hazard, axis=1))

    np.testing.assert_allclose(table.loc["always", "risk"], truth(1), atol=0.012)
    np.testing.assert_allclose(table.loc["never", "risk"], truth(0), atol=0.012)
    crude = risk_curves(
        msm.glm("y ~ a + time", data, family="binomial"), data, id="id", time="time",
        treatment="a",
    )  # fmt: skip
    crude_error = abs(crude.loc["always", "difference"].iloc[-1] - (truth(1) - truth(0))[-1])
    assert crude_error > 0.03  # confounding is real here


def test_row_order_and_caller_frame(cohort, weights):
    fit = msm.glm("y ~ a + time + x", cohort, weights=weights, family="binomial")
    shuffled = cohort.sample(frac=1.0, random_state=3)
    shuffled.index = shuffled.index * 7 + 1000
    before = shuffled.copy(deep=True)
    a = risk_curves(fit, cohort, id="id", time="time", treatment="a")
    b = risk_curves(fit, shuffled, id="id", time="time", treatment="a")
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    pd.testing.assert_frame_equal(shuffled, before)


def test_time_grid(cohort, weights):
    fit = msm.glm("y ~ a + time + x", cohort, weights=weights, family="binomial")
    full = risk_curves(fit, cohort, id="id", time="time", treatment="a")
    short = risk_curves(fit, cohort, id="id", time="time", treatment="a", times=[0, 1, 2])
    pd.testing.assert_frame_equal(short.loc[["always"]], full.loc[["always"]].iloc[:3])
    with pytest.raises(ValueError, match="increasing"):
        risk_curves(fit, cohort, id="id", time="time", treatment="a", times=[2, 1])


def test_input_errors(cohort, weights):
    fit = msm.glm("y ~ a + time + x", cohort, weights=weights, family="binomial")
    common = dict(id="id", time="time", treatment="a")
    with pytest.raises(msm.DataError, match="'l'.*varies within subject"):
        risk_curves(msm.glm("y ~ a + l", cohort, family="binomial"), cohort, **common)
    with pytest.raises(msm.DataError, match="'dose'"):
        risk_curves(fit, cohort, id="id", time="time", treatment="dose")
    with pytest.raises(ValueError, match="family='binomial'"):
        risk_curves(msm.glm("y ~ a + time", cohort), cohort, **common)
    with pytest.raises(TypeError, match="GLMResults"):
        risk_curves(fit.params, cohort, **common)
    with pytest.raises(ValueError, match="neither 'a'"):
        risk_curves(msm.glm("y ~ time + x", cohort, family="binomial"), cohort, **common)
    with pytest.raises(ValueError, match="regime 'half'"):
        risk_curves(fit, cohort, **common, regimes={"half": "0.5x"})
    with pytest.raises(ValueError, match="one finite treatment value per time"):
        risk_curves(fit, cohort, **common, regimes={"bad": lambda t: [1, 0]})
    with pytest.raises(ValueError, match="reference 'sometimes'"):
        risk_curves(fit, cohort, **common, reference="sometimes")
    with pytest.raises(ValueError, match="kind must be one of"):
        risk_curves(fit, cohort, **common, history={"x": "cummean"})
    with pytest.raises(ValueError, match="same rows|rows it was given"):
        risk_curves(fit, cohort, **common, rows=lambda f: f.iloc[:3])
    with_nan = cohort.assign(x=cohort["x"].where(cohort["id"] != 4))
    with pytest.raises(msm.DataError, match="'x'.*missing"):
        risk_curves(fit, with_nan, **common)
    # category levels come from the fitting data, so one regime alone still has C(a)[T.1]
    fit_cat = msm.glm("y ~ C(a) + time", cohort, weights=weights, family="binomial")
    both = risk_curves(fit_cat, cohort, **common)
    alone = risk_curves(fit_cat, cohort, **common, regimes={"always": 1})
    pd.testing.assert_series_equal(alone.loc["always", "risk"], both.loc["always", "risk"])
    assert (alone["ratio"] == 1).all()


def test_bootstrap_of_risk_curves(cohort):
    def curves(d):
        w = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l + time",
                     numerator="x + time", absorbing=True)  # fmt: skip
        fit = msm.glm("y ~ a + time + x", d, weights=w, cluster="id", family="binomial")
        return risk_curves(fit, d, id="id", time="time", treatment="a")

    boot = msm.bootstrap(curves, cohort, cluster="id", n_boot=8, seed=2, n_jobs=1, progress=False)
    summary = boot.summary()
    assert summary.index.names == ["regime", "time", "column"]
    risk = summary.xs("risk", level="column")
    pd.testing.assert_series_equal(
        risk["estimate"], curves(cohort)["risk"], check_names=False, rtol=1e-12
    )
    assert (risk["lower"] <= risk["upper"]).all()
    assert (summary.xs("ratio", level="column").loc["never", "std_error"] == 0).all()
