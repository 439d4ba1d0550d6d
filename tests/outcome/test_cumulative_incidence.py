"""msm.cumulative_incidence and msm.rmst: R's survfit, the README's formulas, closed forms.

- unweighted: R 4.2.2 survival 3.8-6 ``survfit(Surv(tstart, tstop, factor(state)) ~ treat,
  id = id)`` on ``../shared/conformance/cif/cif_sim.csv`` (``unweighted.json``);
- weighted (R's numbers held out): an independent pandas/numpy computation of the README's
  definitions, written here, on that data and on simulated data with late entry and ties;
- one event type: the weighted Kaplan-Meier product limit;
- no censoring: the empirical proportions, with IJ standard error ``sqrt(F (1 - F) / n)``; the
  restricted mean ``mean(min(T, tau))`` with IJ standard error ``sd(min(T, tau)) / sqrt(n)``
  (divisor n); with censoring, the IJ standard error of the restricted mean against a brute
  force jackknife and the bootstrap.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import scipy.stats

import msm
from msm.outcome.aalen_johansen import conf_int

STATES = {1: "remission", 2: "failure"}
R_STATES = {"s0": "event-free", "remission": "remission", "failure": "failure"}


@pytest.fixture(scope="module")
def cif_dir(shared_dir):
    path = shared_dir / "conformance" / "cif"
    if not (path / "unweighted.json").is_file():
        pytest.skip("../shared/conformance/cif is not present")
    return path


@pytest.fixture(scope="module")
def sim(cif_dir):
    return pd.read_csv(cif_dir / "cif_sim.csv")


def fit_sim(d, **kw):
    kw = {
        "id": "id", "start": "tstart", "stop": "tstop", "event": "state", "by": "treat",
        "states": STATES, **kw,
    }  # fmt: skip
    return msm.cumulative_incidence(d, **kw)


def curve(table, group, state):
    return table[(table["group"] == group) & (table["state"] == state)]


# ---------------------------------------------------------------------------------------------
# R's survfit, unweighted


def test_unweighted_equals_r_survfit(cif_dir, sim):
    ref = json.loads((cif_dir / "unweighted.json").read_text())
    fit = fit_sim(sim)
    assert fit.states == ("event-free", "remission", "failure")
    worst = {"p": 0.0, "se": 0.0}
    for group in (0, 1):
        r = ref["unweighted"][f"treat={group}"]
        for key, state in R_STATES.items():
            part = curve(fit.table, group, state)
            npt.assert_array_equal(part["time"], r["time"])
            npt.assert_allclose(part["probability"], r[f"pstate_{key}"], rtol=0, atol=1e-8)
            npt.assert_allclose(part["std_err"], r[f"std_err_{key}"], rtol=1e-6, atol=1e-12)
            worst["p"] = max(worst["p"], np.abs(part["probability"] - r[f"pstate_{key}"]).max())
            se = np.asarray(r[f"std_err_{key}"])
            worst["se"] = max(worst["se"], (np.abs(part["std_err"] - se) / se).max())
            if state != "event-free":
                npt.assert_allclose(part["n_event"], r[f"n_event_{key}"], atol=1e-12)
        npt.assert_allclose(curve(fit.table, group, "event-free")["n_risk"], r["n_risk_s0"])
    print(f"worst |dp| {worst['p']:.2e}, worst relative dSE {worst['se']:.2e}")


def test_unweighted_at_months_equals_r_summary(cif_dir, sim):
    ref = json.loads((cif_dir / "unweighted.json").read_text())["unweighted_at_months"]
    fit = fit_sim(sim)
    for k, (stratum, t) in enumerate(zip(ref["strata"], ref["time"])):
        group = int(stratum.split("=")[1])
        for key, state in R_STATES.items():
            part = curve(fit.table, group, state)
            row = part[part["time"] <= t].iloc[-1]  # the step function at t
            assert abs(row["probability"] - ref[f"pstate_{key}"][k]) < 1e-8
            assert abs(row["std_err"] / ref[f"std_err_{key}"][k] - 1) < 1e-6


# ---------------------------------------------------------------------------------------------
# the README's definitions, written independently (pandas, one time at a time)


def readme_curves(d, id, start, stop, event, w, by):
    """Per group: DataFrame (time, state, probability, std_err) from the README, directly."""
    out = []
    d = d.assign(_w=w)
    states = sorted(v for v in d[event].unique() if v != 0)
    for group, part in d.groupby(by):
        last = ~part.duplicated(id, keep="last")
        times = np.sort(part.loc[(part[event] != 0) | last, stop].unique())
        subjects = part[id].unique()
        p = {0: 1.0, **{k: 0.0 for k in states}}
        U = {k: pd.Series(0.0, index=subjects) for k in [0, *states]}
        for t in times:
            risk = part[(part[start] < t) & (t <= part[stop])]
            n0 = risk["_w"].sum()
            a = risk.groupby(id)["_w"].sum().reindex(subjects, fill_value=0.0)
            ending = part[part[stop] == t]
            dk = {k: ending.loc[ending[event] == k, "_w"].sum() for k in states}
            e = {
                k: ending[ending[event] == k].groupby(id)["_w"].sum().reindex(subjects,
                                                                               fill_value=0.0)
                for k in states
            }  # fmt: skip
            dd = sum(dk.values())
            if dd > 0:
                p0, U0 = p[0], U[0].copy()
                U[0] = U0 * (1 - dd / n0) - p0 * sum(e.values()) / n0 + a * p0 * dd / n0**2
                for k in states:
                    U[k] = U[k] + U0 * dk[k] / n0 + p0 * e[k] / n0 - a * p0 * dk[k] / n0**2
                    p[k] = p[k] + p0 * dk[k] / n0
                p[0] = p0 * (1 - dd / n0)
            for k in [0, *states]:
                out.append((group, k, t, p[k], float(np.sqrt((U[k] ** 2).sum()))))
    return pd.DataFrame(out, columns=["group", "code", "time", "probability", "std_err"])


def compare_with_readme(fit, expected, codes):
    for (group, code), part in expected.groupby(["group", "code"]):
        got = curve(fit.table, group, codes[code])
        npt.assert_array_equal(got["time"], part["time"])
        npt.assert_allclose(got["probability"], part["probability"], rtol=0, atol=1e-12)
        npt.assert_allclose(got["std_err"], part["std_err"], rtol=1e-10, atol=1e-14)


def test_weighted_equals_the_readme_formulas(sim):
    fit = fit_sim(sim, weights="w")
    expected = readme_curves(sim, "id", "tstart", "tstop", "state", sim["w"], "treat")
    compare_with_readme(fit, expected, {0: "event-free", **STATES})


def late_entry_panel(rng, n=60):
    """Subjects entering at 0-3, integer-ish times (ties), 1-4 contiguous rows, three causes."""
    rows = []
    for i in range(n):
        t = float(rng.integers(0, 4))
        for _ in range(rng.integers(1, 5)):
            t1 = t + float(rng.choice([0.5, 1.0, 1.5]))
            rows.append([i, t, t1, 0, rng.uniform(0.2, 3.0), i % 2])
            t = t1
        if rng.random() < 0.7:
            rows[-1][3] = int(rng.integers(1, 4))
    return pd.DataFrame(rows, columns=["id", "start", "stop", "event", "w", "arm"])


def test_weighted_late_entry_and_ties_equal_the_readme_formulas(rng):
    d = late_entry_panel(rng)
    fit = msm.cumulative_incidence(
        d, id="id", start="start", stop="stop", event="event", weights="w", by="arm"
    )
    expected = readme_curves(d, "id", "start", "stop", "event", d["w"], "arm")
    compare_with_readme(fit, expected, {0: "event-free", 1: "1", 2: "2", 3: "3"})


def test_standard_errors_do_not_change_when_the_weights_are_scaled(sim):
    fit = fit_sim(sim, weights="w")
    for c in (1e-3, 7.0, 1e150):
        scaled = fit_sim(sim, weights=sim["w"] * c)
        npt.assert_allclose(scaled.table["probability"], fit.table["probability"], atol=1e-14)
        npt.assert_allclose(scaled.table["std_err"], fit.table["std_err"], rtol=1e-12)
        npt.assert_allclose(scaled.table["n_risk"], fit.table["n_risk"] * c, rtol=1e-12)


def test_state_probabilities_add_up_to_one(sim):
    t = fit_sim(sim, weights="w").table
    total = t.groupby(["group", "time"], observed=True)["probability"].sum()
    npt.assert_allclose(total, 1.0, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# closed forms


def test_one_event_type_is_one_minus_weighted_kaplan_meier(rng):
    d = late_entry_panel(rng).assign(event=lambda f: (f["event"] > 0).astype(int))
    fit = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event",
                                   weights="w")  # fmt: skip
    assert fit.states == ("event-free", "1")
    free = curve(fit.table, "all", "event-free")
    km, s = [], 1.0
    for t in free["time"]:
        risk = (d["start"] < t) & (t <= d["stop"])
        dead = (d["stop"] == t) & (d["event"] == 1)
        s *= 1 - d.loc[dead, "w"].sum() / d.loc[risk, "w"].sum()
        km.append(s)
    npt.assert_allclose(free["probability"], km, atol=1e-14)
    npt.assert_allclose(curve(fit.table, "all", "1")["probability"], 1 - np.array(km), atol=1e-14)


def test_no_censoring_gives_proportions_with_binomial_ij_errors(rng):
    n = 40
    time = rng.integers(1, 9, n).astype(float)
    cause = rng.integers(1, 3, n)
    d = pd.DataFrame({"id": np.arange(n), "start": 0.0, "stop": time, "event": cause})
    t = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event").table
    for k in (1, 2):
        part = curve(t, "all", str(k))
        F = np.array([np.mean((time <= u) & (cause == k)) for u in part["time"]])
        npt.assert_allclose(part["probability"], F, atol=1e-14)
        npt.assert_allclose(part["std_err"], np.sqrt(F * (1 - F) / n), atol=1e-14)


def test_tiny_hand_example():
    # 4 subjects; at t=1: 4 at risk, one event 1; at t=2: 3 at risk (id 2's second row, 3, 4),
    # events 2 (id 2) and 1 (id 4); t=3: id 3 censored
    d = pd.DataFrame({"id": [1, 2, 2, 3, 4], "start": [0, 0, 1, 0, 0],
                      "stop": [1, 1, 2, 3, 2], "event": [1, 0, 2, 0, 1]})  # fmt: skip
    t = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event").table
    npt.assert_allclose(curve(t, "all", "event-free")["probability"], [0.75, 0.25, 0.25])
    npt.assert_allclose(curve(t, "all", "1")["probability"], [0.25, 0.5, 0.5])
    npt.assert_allclose(curve(t, "all", "2")["probability"], [0.0, 0.25, 0.25])
    npt.assert_allclose(curve(t, "all", "event-free")["n_risk"], [4, 3, 1])
    # the IJ at t=1 is the binomial one: sqrt(p (1 - p) / n)
    assert curve(t, "all", "1")["std_err"].iloc[0] == pytest.approx(np.sqrt(0.25 * 0.75 / 4))


def test_categorical_event_names_the_states():
    event = pd.Categorical(
        ["death", "censored", "relapse"], categories=["censored", "relapse", "death"]
    )
    d = pd.DataFrame({"id": [1, 2, 3], "start": 0.0, "stop": [1.0, 2.0, 3.0], "event": event})
    fit = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event")
    assert fit.states == ("event-free", "relapse", "death")
    assert list(fit.table["state"].cat.categories) == ["event-free", "relapse", "death"]
    assert curve(fit.table, "all", "death")["probability"].iloc[0] == pytest.approx(1 / 3)


def test_log_intervals_are_survfits():
    p = np.array([0.3, 0.0, 1.0, 0.6])
    se = np.array([0.05, 0.0, 0.0, 0.2])
    z = scipy.stats.norm.ppf(0.975)
    lower, upper = conf_int(p, se)
    npt.assert_allclose(lower, [0.3 * np.exp(-z * 0.05 / 0.3), 0.0, 1.0,
                                0.6 * np.exp(-z * 0.2 / 0.6)])  # fmt: skip
    npt.assert_allclose(upper, [0.3 * np.exp(z * 0.05 / 0.3), 0.0, 1.0, 1.0])  # capped at 1
    lower, upper = conf_int(p, se, conf_type="plain")
    npt.assert_allclose(lower, np.maximum(p - z * se, 0))
    lower, upper = conf_int(np.array([0.0]), np.array([0.1]))
    assert np.isnan(lower).all() and np.isnan(upper).all()  # log(0) with se > 0: NA in R


def test_table_limits_use_conf_type(sim):
    fit = fit_sim(sim, conf_type="log-log", alpha=0.1)
    lower, upper = conf_int(fit.table["probability"], fit.table["std_err"], 0.1, "log-log")
    npt.assert_allclose(fit.table["lower"], lower)
    npt.assert_allclose(fit.table["upper"], upper)


# ---------------------------------------------------------------------------------------------
# the restricted mean


def test_rmst_without_censoring_is_the_mean_of_min_t_tau(rng):
    n = 50
    time = rng.uniform(0.5, 10.0, n)
    cause = rng.integers(1, 3, n)
    arm = np.arange(n) % 2
    d = pd.DataFrame({"id": np.arange(n), "start": 0.0, "stop": time, "event": cause, "arm": arm})
    fit = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event", by="arm")
    tau = 6.0
    table = fit.rmst(tau)
    for g in (0, 1):
        x = np.minimum(time[arm == g], tau)
        m = x.size
        row = table[(table["group"] == g) & (table["state"] == "event-free")].iloc[0]
        assert row["estimate"] == pytest.approx(x.mean(), abs=1e-12)
        assert row["std_err"] == pytest.approx(np.sqrt(((x - x.mean()) ** 2).sum()) / m, abs=1e-12)
        for k in (1, 2):
            lost = (tau - x) * (cause[arm == g] == k)
            row = table[(table["group"] == g) & (table["state"] == str(k))].iloc[0]
            assert row["measure"] == "rmtl"
            assert row["estimate"] == pytest.approx(lost.mean(), abs=1e-12)
            se = np.sqrt(((lost - lost.mean()) ** 2).sum()) / m
            assert row["std_err"] == pytest.approx(se, abs=1e-12)
    sums = table.groupby("group")["estimate"].sum()
    npt.assert_allclose(sums, tau)
    one = table[table["group"] == 1]
    zero = table[table["group"] == 0]
    npt.assert_allclose(one["difference"], one["estimate"].to_numpy() - zero["estimate"])
    npt.assert_allclose(one["diff_std_err"], np.hypot(one["std_err"], zero["std_err"].to_numpy()))
    assert zero["diff_lower"].isna().all() and (zero["difference"] == 0).all()


def test_rmst_ij_error_matches_the_jackknife_and_the_bootstrap(rng):
    d = late_entry_panel(rng, n=80)
    kw = dict(id="id", start="start", stop="stop", event="event", weights="w")
    fit = msm.cumulative_incidence(d, **kw)
    tau = 4.0
    table = fit.rmst(tau)
    ids = d["id"].unique()
    leave_one_out = np.array([
        msm.cumulative_incidence(d[d["id"] != i], **kw).rmst(tau)["estimate"].to_numpy()
        for i in ids
    ])  # fmt: skip
    n = ids.size
    jackknife = np.sqrt((n - 1) / n * ((leave_one_out - leave_one_out.mean(0)) ** 2).sum(0))
    npt.assert_allclose(table["std_err"], jackknife, rtol=0.1)
    boot = fit.rmst(tau, ci="bootstrap", n_boot=400, seed=5)
    assert (boot["lower"] < boot["estimate"]).all() and (boot["estimate"] < boot["upper"]).all()
    npt.assert_allclose(boot["std_err"], table["std_err"])  # std_err is the IJ one
    npt.assert_allclose((boot["upper"] - boot["lower"]) / (2 * 1.96), table["std_err"], rtol=0.25)


def test_rmst_area_is_the_integral_of_the_step_function(sim):
    fit = fit_sim(sim, weights="w")
    tau = 7.3
    table = fit.rmst(tau)
    for g in (0, 1):
        for state in fit.states:
            part = curve(fit.table, g, state)
            edges = np.concatenate(([fit.origin], part["time"][part["time"] < tau], [tau]))
            values = np.concatenate(([1.0 if state == "event-free" else 0.0],
                                     part["probability"][part["time"] < tau]))  # fmt: skip
            area = (np.diff(edges) * values).sum()
            got = table[(table["group"] == g) & (table["state"] == state)]["estimate"].iloc[0]
            assert got == pytest.approx(area, abs=1e-12)


def test_rmst_rejects_a_bad_tau_and_reference(sim):
    fit = fit_sim(sim)
    with pytest.raises(ValueError, match="origin"):
        fit.rmst(0.0)
    with pytest.raises(TypeError, match="number"):
        fit.rmst("5")
    with pytest.raises(ValueError, match="reference"):
        fit.rmst(5.0, reference=3)
    table = fit.rmst(5.0, reference=1)
    assert (table.loc[table["group"] == 1, "difference"] == 0).all()


# ---------------------------------------------------------------------------------------------
# the bootstrap, options, the data left alone


def test_bootstrap_intervals_are_msm_bootstraps_percentiles(sim):
    fit = fit_sim(sim, weights="w", ci="bootstrap", n_boot=30, seed=11)
    assert fit.bootstrap.n_boot == 30 and fit.bootstrap.cluster == "id"
    limits = fit.bootstrap.conf_int()
    npt.assert_allclose(fit.table["lower"], limits["lower"])
    npt.assert_allclose(fit.table["upper"], limits["upper"])
    npt.assert_allclose(fit.bootstrap.estimate, fit.table["probability"], atol=1e-14)
    again = fit_sim(sim, weights="w", ci="bootstrap", n_boot=30, seed=11)
    pd.testing.assert_frame_equal(fit.table, again.table)
    # the bootstrap SD is near the IJ standard error where the curves are not at 0 or 1
    inner = (fit.table["probability"] > 0.1) & (fit.table["probability"] < 0.9)
    ratio = fit.bootstrap.bse[inner.to_numpy()].to_numpy() / fit.table["std_err"][inner]
    assert 0.6 < np.median(ratio) < 1.4


def test_bad_options_are_refused(sim):
    with pytest.raises(ValueError, match="ci"):
        fit_sim(sim, ci="jackknife")
    with pytest.raises(ValueError, match="alpha"):
        fit_sim(sim, alpha=1.5)
    with pytest.raises(ValueError, match="state names"):
        fit_sim(sim, states={1: "event-free"})
    with pytest.raises(ValueError, match="not in"):
        fit_sim(sim, states={3: "other"})
    with pytest.raises(TypeError, match="rmst"):
        msm.rmst(fit_sim(sim).table, tau=3.0)


def test_caller_frame_is_not_modified(sim):
    d = sim.sample(frac=1.0, random_state=2)
    before = d.copy(deep=True)
    fit_sim(d, weights="w")
    pd.testing.assert_frame_equal(d, before)


def test_repr_names_groups_and_intervals(sim):
    text = repr(fit_sim(sim))
    assert "0 (149)" in text and "1 (151)" in text and "log transform" in text
