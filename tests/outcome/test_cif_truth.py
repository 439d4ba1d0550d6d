"""The weighted Aalen-Johansen estimator against the simulator's truth: the JDM cohort with a
competing treatment failure, "never IVIG" emulated by censoring at IVIG start with inverse
probability weights (jdm_competing_truth, handling "total")."""

import numpy as np
import pytest

import msm

DENOMINATOR = "pga + pga_prev + cmas + flare + prednisone + month"


@pytest.fixture(scope="module")
def truth():
    return msm.datasets.jdm_competing_truth(n_patients=100_000, seed=3, months=24).cif


def never_rows(seed: int):
    """The rows before IVIG starts (the 'never' regime's followers), with their weights:
    the unstabilized weights of the absorbing treatment model, 1 / prod P(no start)."""
    d = msm.datasets.simulate_jdm(n_patients=3000, months=24, seed=seed, competing=True,
                                  lost_intercept=-40.0)  # fmt: skip
    d = d.sort_values(["id", "month"]).reset_index(drop=True)
    w = msm.iptw(d, id="id", time="month", treatment="ivig", denominator=DENOMINATOR,
                 absorbing=True)  # fmt: skip
    rows = d.assign(w=w.weights)[d.groupby("id").ivig.cumsum() == 0].copy()
    rows["start"] = rows.month.astype(float)
    rows["stop"] = rows.month + 1.0
    rows["event"] = np.where(rows.quiescence == 1, 1, np.where(rows.failure == 1, 2, 0))
    return rows


def at(table, state, month):
    rows = table[(table.state.astype(str) == str(state)) & (table.time <= month)]
    return rows.iloc[-1]


def test_weighted_cif_covers_the_truth_and_unweighted_misses(truth):
    """Over 4 seeds x 2 causes x months 12 and 24 the IJ 95% interval covered the truth in
    16 of 16 when this was written; asserted: at least 15.  Censoring at IVIG start without
    the weights keeps the children who never needed rescue: quiescence is overestimated and
    failure underestimated, on average by more than 2 of their standard errors."""
    covered, naive_gap = 0, []
    for seed in (1, 2, 3, 4):
        rows = never_rows(seed)
        kw = dict(id="id", start="start", stop="stop", event="event")
        weighted = msm.cumulative_incidence(rows, weights="w", **kw).table
        plain = msm.cumulative_incidence(rows, **kw).table
        for month in (12, 24):
            for state, column in ((1, "quiescence"), (2, "failure")):
                true = truth.loc[("total", "never", month - 1), column]
                r = at(weighted, state, month)
                covered += bool(r.lower <= true <= r.upper)
                p = at(plain, state, month)
                naive_gap.append((p.probability - true) / p.std_err * (1 if state == 1 else -1))
    assert covered >= 15
    assert np.mean(naive_gap) > 2
