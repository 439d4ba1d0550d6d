"""Risk curves with competing events: cause-specific pooled logistic MSMs, total and eliminate.

Against closed forms (an intercept per cause: constant hazards), the discrete-time
Aalen-Johansen estimator computed by hand (a saturated model in time per cause), the truth of
the JDM simulator with treatment failure (IP-weighted cause-specific MSMs recover the true
cumulative incidences under always and never IVIG), and bad input.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import msm
from msm.datasets import jdm_competing_truth, simulate_jdm
from msm.outcome.risk import competing_incidence, risk_curves


def hand_data() -> pd.DataFrame:
    """Eight subjects over up to four intervals: event 1, event 2 or none (censored)."""
    # (last interval, kind): kind 1 or 2 on the last row, 0 censored after it
    subjects = [(0, 1), (1, 2), (2, 1), (3, 0), (1, 1), (3, 2), (2, 2), (3, 1), (0, 2), (3, 0)]
    rows = []
    for i, (last, kind) in enumerate(subjects):
        for t in range(last + 1):
            rows.append(
                {
                    "id": i,
                    "time": t,
                    "a": 0.0,
                    "y1": int(t == last and kind == 1),
                    "y2": int(t == last and kind == 2),
                }
            )
    return pd.DataFrame(rows)


def aalen_johansen(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Discrete-time Aalen-Johansen by hand: loop over intervals."""
    cif1, cif2, survival = [], [], 1.0
    c1 = c2 = 0.0
    for t in sorted(data["time"].unique()):
        at = data[data["time"] == t]
        h1, h2 = at["y1"].mean(), at["y2"].mean()
        c1 += survival * h1
        c2 += survival * h2
        survival *= 1.0 - h1 - h2
        cif1.append(c1)
        cif2.append(c2)
    return np.array(cif1), np.array(cif2)


def curves(fit1, fit2, data, **kw):
    return risk_curves(
        fit1, data, id="id", time="time", treatment="a", regimes={"any": 0},
        rows=lambda f: f, competing={"second": fit2}, **kw,
    )  # fmt: skip


def test_intercepts_give_constant_hazard_closed_form():
    data = hand_data()
    fit1 = msm.glm("y1 ~ 1", data, family="binomial")
    fit2 = msm.glm("y2 ~ 1", data, family="binomial")
    table = curves(fit1, fit2, data)
    h1, h2 = data["y1"].mean(), data["y2"].mean()  # the intercept-only MLEs
    k = np.arange(1, 5)
    s = 1.0 - h1 - h2
    expected1 = h1 * (1.0 - s**k) / (1.0 - s)  # h1 * sum_{j<k} s^j
    expected2 = h2 * (1.0 - s**k) / (1.0 - s)
    assert table["risk"].to_numpy() == pytest.approx(expected1, rel=1e-9)
    assert table["second_risk"].to_numpy() == pytest.approx(expected2, rel=1e-9)
    assert table.columns.tolist() == [
        "risk", "difference", "ratio", "second_risk", "second_difference", "second_ratio",
    ]  # fmt: skip
    assert table.attrs["handling"] == "total"
    assert table.attrs["competing"] == ["second"]
    # eliminate: the second hazard set to 0, 1 - (1 - h1)^k
    table = curves(fit1, fit2, data, handling="eliminate")
    assert table["risk"].to_numpy() == pytest.approx(1.0 - (1.0 - h1) ** k, rel=1e-9)
    assert table.columns.tolist() == ["risk", "difference", "ratio"]


def test_saturated_time_reproduces_aalen_johansen():
    data = hand_data()
    fit1 = msm.glm("y1 ~ C(time)", data, family="binomial")
    fit2 = msm.glm("y2 ~ C(time)", data, family="binomial")
    table = curves(fit1, fit2, data)
    cif1, cif2 = aalen_johansen(data)
    assert table["risk"].to_numpy() == pytest.approx(cif1, abs=1e-7)
    assert table["second_risk"].to_numpy() == pytest.approx(cif2, abs=1e-7)
    # the states sum with event-free survival to 1, and the CIFs never decrease
    assert np.all(np.diff(table["risk"].to_numpy()) >= -1e-12)


def test_competing_incidence_against_a_loop():
    rng = np.random.default_rng(4)
    eta1 = rng.normal(-2.0, 0.5, (2, 5, 4))  # regimes, subjects, times
    eta2 = rng.normal(-2.5, 0.5, (2, 5, 4))
    cif = competing_incidence({1: eta1, 2: eta2})
    h1, h2 = 1 / (1 + np.exp(-eta1)), 1 / (1 + np.exp(-eta2))
    expected = np.zeros((2, 2, 4))
    for r in range(2):
        for i in range(5):
            s, c1, c2 = 1.0, 0.0, 0.0
            for k in range(4):
                c1 += s * h1[r, i, k]
                c2 += s * h2[r, i, k]
                s *= 1.0 - h1[r, i, k] - h2[r, i, k]
                expected[0, r, k] += c1 / 5
                expected[1, r, k] += c2 / 5
    assert cif[1] == pytest.approx(expected[0], abs=1e-14)
    assert cif[2] == pytest.approx(expected[1], abs=1e-14)


def test_hazards_summing_past_one_warn_and_clip():
    with pytest.warns(msm.DataWarning, match="sum to more than 1"):
        cif = competing_incidence({1: np.full((1, 2), 2.0), 2: np.full((1, 2), 2.0)})
    h = 1 / (1 + np.exp(-2.0))
    assert cif[1].tolist() == pytest.approx([h, h])  # nobody left after the first interval


def test_without_competing_the_table_is_unchanged():
    data = msm.datasets.simulate_panel(300, 5, seed=2, stop_at_event=True)
    fit = msm.glm("y ~ a + time", data, family="binomial")
    plain = msm.risk_curves(fit, data, id="id", time="time", treatment="a")
    assert plain.columns.tolist() == ["risk", "difference", "ratio"]
    assert "handling" not in plain.attrs
    # a competing event with hazard ~0 leaves the event of interest's curve as it was
    other = data.assign(z=0)
    other.loc[other.index[:2], "z"] = 1
    fit_z = msm.glm("z ~ 1", other, family="binomial")
    with_z = msm.risk_curves(fit, data, id="id", time="time", treatment="a", competing={"z": fit_z})
    assert with_z["risk"].to_numpy() == pytest.approx(plain["risk"].to_numpy(), abs=5e-3)
    assert not np.allclose(with_z["risk"], plain["risk"], atol=1e-8, rtol=0)
    assert with_z.index.equals(plain.index)


# ---------------------------------------------------------------------------------------------
# the truth of the JDM simulator with treatment failure

DEN = "pga + pga_prev + cmas + flare + prednisone + month"
MSM = "ivig * (month + I(month ** 2))"
NO_LOSS = {"lost_intercept": -30.0}  # the truth has no loss to follow-up; keep the data so


def jdm_analysis(d: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    common = dict(id="id", time="month", treatment="ivig")
    w = msm.iptw(d, **common, denominator=DEN, numerator="month", absorbing=True)
    q = msm.glm(f"quiescence ~ {MSM}", d, weights=w, family="binomial")
    f = msm.glm(f"failure ~ {MSM}", d, weights=w, family="binomial")
    total = msm.risk_curves(q, d, **common, competing={"failure": f})
    # eliminate: failure is censoring, weighted for (its model pga + ivig is the true one);
    # the failure rows get weight 0 (their quiescence is not seen)
    wc = msm.iptw(
        d, **common, denominator=DEN, numerator="month", absorbing=True, censor="failure",
        censor_denominator="pga + ivig", censor_numerator="ivig + month",
    )  # fmt: skip
    weight = wc.weights.to_numpy() * (d["failure"].to_numpy() == 0)
    qe = msm.glm(f"quiescence ~ {MSM}", d.assign(w=weight), weights="w", family="binomial")
    eliminate = msm.risk_curves(qe, d, **common, competing={"failure": f}, handling="eliminate")
    return total, eliminate


def test_weighted_cause_specific_msms_recover_the_true_cifs():
    truth = jdm_competing_truth(100_000, seed=5, **NO_LOSS)
    estimates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation-free, but quiet about extreme weights
        for seed in (1, 2, 3, 4):
            d = simulate_jdm(6000, seed=seed, competing=True, **NO_LOSS)
            total, eliminate = jdm_analysis(d)
            row = []
            for h in (12, 24):
                for regime in ("always", "never"):
                    at = (regime, h - 1)
                    row += [
                        total.loc[at, "risk"] - truth.cif_at(h, regime),
                        total.loc[at, "failure_risk"] - truth.cif_at(h, regime, "failure"),
                        eliminate.loc[at, "risk"] - truth.cif_at(h, regime, handling="eliminate"),
                    ]
            estimates.append(row)
    errors = np.array(estimates)
    bias = errors.mean(axis=0)
    se = errors.std(axis=0, ddof=1) / np.sqrt(len(errors))
    # within 3 standard errors of the seeds' mean, plus 0.01 for the MSM's shape (a
    # quadratic in month where the true hazards are not) and the truth's own error
    assert np.all(np.abs(bias) < 3 * se + 0.01), (bias.round(4), se.round(4))
    # failure matters: the total and eliminate truths differ, and so do the estimates
    gap = truth.cif_at(24, "never", handling="eliminate") - truth.cif_at(24, "never")
    assert gap > 0.03
    assert np.mean(errors[:, 11] - errors[:, 9]) == pytest.approx(0.0, abs=0.02)


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.fixture(scope="module")
def small():
    d = simulate_jdm(300, seed=3, competing=True)
    q = msm.glm("quiescence ~ ivig + month", d, family="binomial")
    f = msm.glm("failure ~ ivig + month", d, family="binomial")
    return d, q, f


def call(q, d, **kw):
    return msm.risk_curves(q, d, id="id", time="month", treatment="ivig", **kw)


def test_a_bare_fit_is_named_by_its_outcome(small):
    d, q, f = small
    named = call(q, d, competing={"failure": f})
    bare = call(q, d, competing=f)
    pd.testing.assert_frame_equal(named, bare)


def test_competing_fit_on_other_rows_is_refused(small):
    d, q, _ = small
    other = d[d["month"] < 20]
    f = msm.glm("failure ~ ivig + month", other, family="binomial")
    with pytest.raises(ValueError, match="same person-intervals at risk"):
        call(q, d, competing={"failure": f})
    shuffled = d.set_axis(d.index[::-1])
    f = msm.glm("failure ~ ivig + month", shuffled, family="binomial")
    with pytest.raises(ValueError, match="other row labels"):
        call(q, d, competing={"failure": f})


def test_competing_fit_must_be_binomial_logit(small):
    d, q, _ = small
    gaussian = msm.glm("failure ~ ivig + month", d)
    with pytest.raises(ValueError, match="pooled logistic model of the cause-specific"):
        call(q, d, competing={"failure": gaussian})
    with pytest.raises(TypeError, match="GLMResults from msm.glm"):
        call(q, d, competing={"failure": "failure ~ ivig"})
    with pytest.raises(TypeError, match="mapping of name to such fits"):
        call(q, d, competing=[q])
    with pytest.raises(ValueError, match="the outcome of the event of interest"):
        call(q, d, competing={"again": q})
    with pytest.raises(ValueError, match="clashes with a result column"):
        f = msm.glm("failure ~ ivig + month", d, family="binomial")
        call(q, d, competing={"ratio": f})


def test_handling_is_checked(small):
    d, q, f = small
    with pytest.raises(ValueError, match="handling must be one of"):
        call(q, d, competing=f, handling="censor")
    with pytest.raises(ValueError, match="handling must be one of"):
        call(q, d, handling=None)


def test_competing_fit_columns_are_checked(small):
    d, q, _ = small
    f = msm.glm("failure ~ ivig + month + cmas", d, family="binomial")
    with pytest.raises(msm.DataError, match="cmas"):
        call(q, d, competing={"failure": f})  # cmas varies within subject
