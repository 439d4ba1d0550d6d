"""The JDM cohort under a treatment strategy from time zero, and the truth of the target trial.

``simulate_jdm(..., eligible=True)`` marks the eligible visits, ``simulate_jdm(...,
strategy=...)`` simulates the same patients with IVIG set by a strategy from each patient's
time zero (first eligible visit) on, and ``jdm_strategy_truth`` gives the true risks of
quiescence under each strategy (common random numbers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import msm
from msm.datasets import JDMEligibility, JDMUnmeasured, jdm_strategy_truth, simulate_jdm

N, SEED = 3_000, 7
WITHIN3, NEVER = msm.start_within(3), msm.never()


@pytest.fixture(scope="module")
def observed():
    return simulate_jdm(N, months=30, seed=SEED, eligible=True)


@pytest.fixture(scope="module")
def within3():
    return simulate_jdm(N, months=30, seed=SEED, strategy=WITHIN3)


@pytest.fixture(scope="module")
def never_ivig():
    return simulate_jdm(N, months=30, seed=SEED, strategy=NEVER)


def _with_interval(d: pd.DataFrame) -> pd.DataFrame:
    """Add ``time_zero`` (first eligible month, NaN if none) and ``interval`` since it."""
    t0 = d[d["eligible"] == 1].groupby("id")["month"].min()
    d = d.assign(time_zero=d["id"].map(t0))
    return d.assign(interval=d["month"] - d["time_zero"])


def _by_hand(d: pd.DataFrame, e: JDMEligibility) -> np.ndarray:
    before = d.groupby("id")["ivig"].shift(fill_value=0)
    quiesced = d.groupby("id")["quiescence"].cumsum() - d["quiescence"]  # before this month
    return (
        d["month"].between(e.first_month, e.last_month)
        & (before == 0)
        & (quiesced == 0)
        & (d["pga"] >= e.pga)
    ).to_numpy()


def test_eligible_adds_one_column_and_changes_nothing_else(observed):
    plain = simulate_jdm(N, months=30, seed=SEED)
    assert list(observed.columns) == [*plain.columns, "eligible"]
    pd.testing.assert_frame_equal(observed.drop(columns="eligible"), plain, check_exact=True)
    assert observed["eligible"].dtype == np.int64


@pytest.mark.parametrize(
    "eligibility", [JDMEligibility(), JDMEligibility(first_month=2, last_month=8, pga=4.5)]
)
def test_eligible_follows_its_definition(eligibility):
    d = simulate_jdm(1_000, months=12, seed=3, eligible=eligibility, stop_at_quiescence=False)
    assert d["eligible"].to_numpy().astype(bool).tolist() == _by_hand(d, eligibility).tolist()
    assert 0 < d["eligible"].sum() < len(d)


def test_about_half_are_eligible_at_default(observed):
    frac = observed.loc[observed["eligible"] == 1, "id"].nunique() / N
    assert 0.4 < frac < 0.6


def test_never_gives_no_ivig_from_time_zero(never_ivig, observed):
    d = _with_interval(never_ivig)
    assert d.loc[d["interval"] >= 0, "ivig"].eq(0).all()
    # the observed cohort does start IVIG after time zero (so the test could fail)
    o = _with_interval(observed)
    assert o.loc[o["interval"] >= 0, "ivig"].sum() > 100


def test_start_within_3_starts_everyone_by_interval_2_and_nobody_after(within3):
    d = _with_interval(within3)
    after = d[d["interval"] >= 0]
    assert after.loc[after["interval"] >= 2, "ivig"].eq(1).all()
    assert (after["interval"] == 2).sum() > 100
    start = after[(after["ivig"] == 1) & (after.groupby("id")["ivig"].shift(fill_value=0) == 0)]
    assert set(start["interval"]) == {0, 1, 2}
    # everybody followed to interval 2 and untreated before it starts there
    at2 = after[after["interval"] == 2]
    untreated = after[after["interval"] < 2].groupby("id")["ivig"].max().reindex(at2["id"])
    assert (at2["ivig"].to_numpy()[untreated.to_numpy() == 0] == 1).all()


def test_natural_starts_in_the_grace_period_are_the_observed_ones(within3, observed):
    """Common random numbers: before the first forced decision, the worlds are the same."""
    w, o = _with_interval(within3), _with_interval(observed)
    pd.testing.assert_series_equal(
        w.groupby("id")["time_zero"].first(), o.groupby("id")["time_zero"].first()
    )
    key = ["id", "month"]
    o_before = o.groupby("id")["ivig"].shift(fill_value=0)
    for k in (0, 1):  # starters at interval k in the observed cohort start there too
        o_start = o[(o["interval"] == k) & (o["ivig"] == 1) & (o_before == 0)]
        merged = o_start[key].merge(w[[*key, "ivig"]], on=key, how="left")
        assert len(o_start) > 20
        assert merged["ivig"].eq(1).all()
    # up to interval 1 (no forced decision yet) the rows are identical, scores and all
    upto = o["interval"].isna() | (o["interval"] <= 1)
    upto_w = w["interval"].isna() | (w["interval"] <= 1)
    pd.testing.assert_frame_equal(
        o[upto].reset_index(drop=True), w[upto_w].reset_index(drop=True), check_exact=True
    )


def test_never_eligible_patients_are_unchanged(never_ivig, observed):
    ids = set(observed["id"]) - set(observed.loc[observed["eligible"] == 1, "id"])
    a = observed[observed["id"].isin(ids)].reset_index(drop=True)
    b = never_ivig[never_ivig["id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_never_before_12_is_free_after_the_first_year():
    d = _with_interval(simulate_jdm(N, months=30, seed=SEED, strategy=msm.never(before=12)))
    assert d.loc[d["interval"].between(0, 11), "ivig"].eq(0).all()
    assert d.loc[d["interval"] >= 12, "ivig"].sum() > 0


@pytest.mark.parametrize("unmeasured", [None, JDMUnmeasured(ivig=1.0, quiescence=-1.0)])
def test_truth_equals_the_risk_counted_in_simulated_cohorts(unmeasured):
    """Two code paths (the cohort and the truth's worlds) give the same numbers, with an
    unmeasured confounder too (it moves eligibility and the natural starts).

    Without loss to follow-up (``lost_intercept=-inf``) every eligible patient of the cohort is
    followed to 12 months after time zero, so its risk is the plain proportion.
    """
    strategies = {"within 3": WITHIN3, "never": NEVER}
    truth = jdm_strategy_truth(strategies, 2_000, seed=11, times=(6, 12), lost_intercept=-np.inf,
                               unmeasured=unmeasured)  # fmt: skip
    assert truth.months == 5 + 12
    assert truth.unmeasured == unmeasured and ("unmeasured" in repr(truth)) == bool(unmeasured)
    for name, s in strategies.items():
        d = _with_interval(simulate_jdm(2_000, months=17, seed=11, strategy=s,
                                        lost_intercept=-np.inf, unmeasured=unmeasured))  # fmt: skip
        eligible = d.dropna(subset=["time_zero"])
        assert eligible["id"].nunique() == truth.n_eligible
        for h in (6, 12):
            hit = eligible[(eligible["interval"] < h) & (eligible["interval"] >= 0)]
            risk = hit.groupby("id")["quiescence"].max().sum() / truth.n_eligible
            assert risk == truth.table.loc[h, name]


@pytest.fixture(scope="module")
def truths():
    s = {"IVIG within 3": WITHIN3, "no IVIG": NEVER}
    return [jdm_strategy_truth(s, 40_000, seed=seed) for seed in (1, 2, 3)]


def test_truth_is_stable_across_seeds_within_its_monte_carlo_error(truths):
    """Each risk has Monte Carlo se about 0.0033 with 40,000 patients (about 19,700 eligible)."""
    for a, b in [(truths[0], truths[1]), (truths[0], truths[2]), (truths[1], truths[2])]:
        for col in ["IVIG within 3", "no IVIG", "difference"]:
            gap = (a.table[col] - b.table[col]).abs()
            se = np.hypot(a.table[f"{col} se"], b.table[f"{col} se"])
            assert (se < 0.005).all()
            assert (gap < 4 * se).all(), (col, gap, se)


def test_the_strategies_risks_differ(truths):
    for t in truths:
        d, se = t.table["difference"], t.table["difference se"]
        assert (d > 10 * se).all()
        assert 0.12 < d.loc[12] < 0.21 and 0.19 < d.loc[24] < 0.29
        assert (t.risk.diff().iloc[1:] >= 0).all().all()  # cumulative: never falls


def test_truth_with_an_unmeasured_confounder_differs():
    s = {"within 3": WITHIN3, "never": NEVER}
    plain = jdm_strategy_truth(s, 5_000, seed=2, times=(12,))
    hidden = jdm_strategy_truth(s, 5_000, seed=2, times=(12,), unmeasured=0.7)
    assert hidden.unmeasured == JDMUnmeasured(ivig=0.7, quiescence=-0.7)
    assert hidden.n_eligible != plain.n_eligible  # C moves who is still eligible
    # and quiescence: higher C delays it, but the eligible (not yet on IVIG) have lower C
    assert hidden.table.loc[12, "never"] != plain.table.loc[12, "never"]


def test_truth_without_an_ivig_effect_has_no_difference():
    s = {"within 3": WITHIN3, "never": NEVER}
    t = jdm_strategy_truth(s, 20_000, seed=5, ivig_activity=0.0, quiescence_ivig=0.0)
    assert (t.table["difference"] == 0).all()  # same draws, no effect: the same outcomes


def test_truth_table_and_repr():
    t = jdm_strategy_truth([WITHIN3, msm.never(before=12), NEVER], 5_000, seed=1, times=(6,))
    assert list(t.table.columns) == [
        "start_within(3)", "start_within(3) se", "never(before=12)", "never(before=12) se",
        "never()", "never() se", "difference", "difference se",
    ]  # fmt: skip
    assert list(t.risk.index) == list(range(1, 7)) and t.risk.index.name == "followup"
    assert "eligible of 5000" in repr(t)
    # never(before=12) and never() agree in the first year
    assert t.table.loc[6, "never(before=12)"] == t.table.loc[6, "never()"]


def test_bad_arguments():
    with pytest.raises(TypeError, match="strategy must be"):
        simulate_jdm(10, strategy="never")
    with pytest.raises(TypeError, match="eligible must be"):
        simulate_jdm(10, eligible="yes")
    with pytest.raises(ValueError, match="last_month"):
        JDMEligibility(first_month=5, last_month=3)
    with pytest.raises(ValueError, match="first_month"):
        JDMEligibility(first_month=-1)
    with pytest.raises(ValueError, match="at least one"):
        jdm_strategy_truth({}, 100)
    with pytest.raises(ValueError, match="times"):
        jdm_strategy_truth([NEVER], 100, times=(0,))
    with pytest.raises(TypeError, match="strategy must be"):
        jdm_strategy_truth([None], 100)
    with pytest.raises(ValueError, match="no patient is eligible"):
        jdm_strategy_truth([NEVER], 50, eligibility=JDMEligibility(pga=11.0))
