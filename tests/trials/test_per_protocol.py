"""``msm.trial_sequence(estimand="PP")``: per-protocol row deletion, switch weights, expansion.

TrialEmulation's per-protocol reference cases are held out, so the tests compare with an
independent computation written here from the definitions (``cases.json`` ->
``definitions``: ``pp_row_deletion``, ``switch_weights``, ``censor_weights``, ``weights``,
``expansion``): plain pandas/Python loops for the cleaning, the row deletion, the expansion
and the weight products, and statsmodels GLMs for the switch models (fitted by ``am_1``) and
the censoring models (pool ``"none"``, PP's default).  On TrialEmulation's data
(``data_censored.csv``, ``sim_censored.csv``) the expanded rows must be identical and the
weights equal to 1e-8 (statsmodels' IRLS tolerance; achieved about 1e-12), then each rule on a
hand-worked panel.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import msm
from msm.trials import trial_sequence
from tests.adversarial_cases import unchanged

CASES = ("data_censored.csv", "sim_censored.csv")
PP = dict(
    id="id",
    time="period",
    treatment="treatment",
    outcome="outcome",
    eligible="eligible",
    estimand="PP",
    switch_numerator="age",
    switch_denominator="age + x1 + x3",
    censor="censored",
    censor_numerator="x2",
    censor_denominator="x2 + x1",
)


# ------------------------------------------------------------------------------------------
# the independent reference


def reference_clean(data: pd.DataFrame) -> pd.DataFrame:
    """set_data: rows before the first eligible row and after the first outcome dropped."""
    out = []
    for _, g in data.sort_values(["id", "period"]).groupby("id", sort=True):
        g = g.reset_index(drop=True)
        eligible = np.flatnonzero(g["eligible"].to_numpy() == 1)
        if eligible.size == 0:
            continue
        g = g.iloc[eligible[0] :].reset_index(drop=True)
        events = np.flatnonzero(g["outcome"].to_numpy() == 1)
        if events.size:
            g = g.iloc[: events[0] + 1]
        g = g.copy()
        g["am_1"] = g["treatment"].shift(1, fill_value=0).astype(int)
        g["switch"] = (g["treatment"] != g["am_1"]).astype(int)
        g.loc[g.index[0], "switch"] = 0
        out.append(g)
    return pd.concat(out, ignore_index=True)


def reference_row_deletion(cleaned: pd.DataFrame) -> pd.DataFrame:
    """pp_row_deletion, as its definition words it (regimes; no treatment labels)."""
    keep = []
    for _, g in cleaned.groupby("id", sort=False):
        in_regime = False
        end_after_this = False
        for elig, sw in zip(g["eligible"], g["switch"], strict=True):
            if end_after_this:
                in_regime, end_after_this = False, False
            if elig == 1:
                in_regime = True  # a regime starts (or a switch here starts a new one)
            keep.append(in_regime)
            if sw == 1 and elig == 0 and in_regime:
                end_after_this = True  # the regime ends after this row (kept)
    return cleaned[np.array(keep)].reset_index(drop=True)


def _glm_prob(frame: pd.DataFrame, formula: str, fit_rows: np.ndarray) -> np.ndarray:
    fit = smf.glm(formula, frame[fit_rows], family=sm.families.Binomial()).fit(tol=1e-14)
    return np.asarray(fit.predict(frame[fit_rows])), fit


def reference_weights(rows: pd.DataFrame, switch: tuple, censor: tuple | None, pool="none"):
    """wt = wtS * wtC per row; switch models by am_1; censoring models pooled as asked."""
    rows = rows.copy()
    fits = {}
    for part, rhs in zip(("n", "d"), switch, strict=True):
        p = np.empty(len(rows))
        for k in (0, 1):
            mask = (rows["am_1"] == k).to_numpy()
            p[mask], fits[f"switch_{part}{k}"] = _glm_prob(rows, f"treatment ~ {rhs}", mask)
        rows[f"ps_{part}"] = p
    a = rows["treatment"].to_numpy()
    wt_s = np.where(a == 1, rows["ps_n"] / rows["ps_d"], (1 - rows["ps_n"]) / (1 - rows["ps_d"]))
    wt_c = np.ones(len(rows))
    if censor is not None:
        rows["uncensored"] = 1 - rows["censored"]
        pc = {}
        for part, rhs in zip(("n", "d"), censor, strict=True):
            pooled = pool == "both" or (pool == "numerator" and part == "n")
            groups = [None] if pooled else [0, 1]
            p = np.empty(len(rows))
            for k in groups:
                mask = np.ones(len(rows), bool) if k is None else (rows["am_1"] == k).to_numpy()
                key = f"censor_{part}" + ("" if k is None else str(k))
                p[mask], fits[key] = _glm_prob(rows, f"uncensored ~ {rhs}", mask)
            pc[part] = p
        wt_c = pc["n"] / pc["d"]
    rows["wt_s"], rows["wt_c"], rows["wt"] = wt_s, wt_c, wt_s * wt_c
    return rows, fits


def reference_expansion(rows: pd.DataFrame, baseline=("age", "x2")) -> pd.DataFrame:
    """A trial at every eligible row; PP stops before the first later switch; weight products."""
    out = []
    for _, frame in rows.groupby("id", sort=True):
        g = {c: frame[c].tolist() for c in frame.columns}  # plain lists, row by row
        for t in range(len(frame)):
            if g["eligible"][t] != 1:
                continue
            product = 1.0
            for s in range(t, len(frame)):
                if s > t and g["switch"][s] == 1:
                    break
                if s > t:
                    product *= g["wt"][s]
                out.append(
                    {
                        "id": g["id"][s],
                        "trial": g["period"][t],
                        "followup": g["period"][s] - g["period"][t],
                        "assigned": g["treatment"][t],
                        "treatment": g["treatment"][s],
                        "outcome": g["outcome"][s],
                        "weight": product,
                        **{c: g[c][t] for c in baseline},
                    }
                )
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def shared(shared_dir):
    root = shared_dir / "conformance" / "trialemulation"
    out = {}
    for name in CASES:
        data = pd.read_csv(root / name)
        cleaned = reference_clean(data)
        kept = reference_row_deletion(cleaned)
        rows, fits = reference_weights(kept, ("age", "age + x1 + x3"), ("x2", "x2 + x1"))
        out[name] = {
            "data": data,
            "n_cleaned": len(cleaned),
            "rows": rows,
            "fits": fits,
            "expanded": reference_expansion(rows),
            "seq": trial_sequence(data, **PP),
        }
    return out


@pytest.mark.parametrize("name", CASES)
def test_expanded_rows_equal_the_reference(shared, name):
    want = shared[name]["expanded"]
    got = shared[name]["seq"].expanded
    assert got.columns.tolist() == [
        "id",
        "trial",
        "followup",
        "assigned",
        "treatment",
        "outcome",
        "weight",
        "age",
        "x2",
    ]
    assert len(got) == len(want)
    for column in ("id", "trial", "followup", "assigned", "treatment", "outcome", "age"):
        npt.assert_array_equal(got[column].to_numpy(), want[column].to_numpy(), err_msg=column)
    npt.assert_array_equal(got["x2"].to_numpy(), want["x2"].to_numpy())
    # per protocol every expanded row follows its assignment
    assert (got["treatment"] == got["assigned"]).all()
    npt.assert_allclose(got["weight"], want["weight"], rtol=1e-8, atol=0)


@pytest.mark.parametrize("name", CASES)
def test_row_deletion_and_row_factors_equal_the_reference(shared, name):
    ref = shared[name]["rows"]
    seq = shared[name]["seq"]
    cleaned = seq.cleaned
    assert len(cleaned) == len(ref)
    n_cleaned = shared[name]["n_cleaned"]
    assert seq.n_dropped["after_deviation"] == n_cleaned - len(ref) > 0
    for column in ("id", "period", "treatment", "eligible", "am_1", "switch"):
        npt.assert_array_equal(cleaned[column].to_numpy(), ref[column].to_numpy(), err_msg=column)
    npt.assert_allclose(cleaned["p_switch_numerator"], ref["ps_n"], rtol=1e-9)
    npt.assert_allclose(cleaned["p_switch_denominator"], ref["ps_d"], rtol=1e-9)
    npt.assert_allclose(cleaned["switch_factor"], ref["wt_s"], rtol=1e-9)
    npt.assert_allclose(cleaned["censor_factor"], ref["wt_c"], rtol=1e-9)
    npt.assert_allclose(cleaned["factor"], ref["wt"], rtol=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_weight_models_equal_statsmodels_by_previous_treatment(shared, name):
    seq, fits = shared[name]["seq"], shared[name]["fits"]
    keys = {
        "switch_numerator_0": "switch_n0",
        "switch_numerator_1": "switch_n1",
        "switch_denominator_0": "switch_d0",
        "switch_denominator_1": "switch_d1",
        "censor_numerator_0": "censor_n0",
        "censor_numerator_1": "censor_n1",
        "censor_denominator_0": "censor_d0",
        "censor_denominator_1": "censor_d1",
    }
    assert list(seq.models) == list(keys)  # PP's default pool_censor is "none"
    assert seq.spec.pool_censor == "none"
    for ours, theirs in keys.items():
        want = fits[theirs]
        got = seq.models[ours]
        npt.assert_allclose(got.params.to_numpy(), want.params.to_numpy(), rtol=1e-7, atol=1e-9)
        npt.assert_allclose(got.bse.to_numpy(), want.bse.to_numpy(), rtol=1e-6)


def test_r_convergence_option_reaches_the_switch_models(shared):
    data = shared["data_censored.csv"]["data"]
    full = shared["data_censored.csv"]["seq"]
    r = trial_sequence(data, **PP, convergence="r")
    assert r.spec.convergence == "r"
    npt.assert_allclose(r.expanded["weight"], full.expanded["weight"], rtol=1e-5)
    # R's stopping rule stops earlier than full convergence: not bit-identical
    assert not np.array_equal(
        r.models["switch_denominator_0"].params, full.models["switch_denominator_0"].params
    )


def test_pooled_censoring_options_in_pp(shared):
    data = shared["data_censored.csv"]["data"]
    kept = reference_row_deletion(reference_clean(data))
    for pool in ("numerator", "both"):
        rows, _ = reference_weights(kept, ("age", "age + x1 + x3"), ("x2", "x2 + x1"), pool)
        want = reference_expansion(rows)
        got = trial_sequence(data, **PP, pool_censor=pool)
        npt.assert_allclose(got.expanded["weight"], want["weight"], rtol=1e-8)


def test_without_censoring_the_weight_is_the_switch_weight_alone(shared):
    data = shared["sim_censored.csv"]["data"]
    args = {k: v for k, v in PP.items() if not k.startswith("censor")}
    got = trial_sequence(data, **args)
    rows = shared["sim_censored.csv"]["rows"]
    rows = rows.assign(wt=rows["wt_s"])
    want = reference_expansion(rows, baseline=("age",))
    assert got.expanded.columns.tolist()[-1] == "age"
    npt.assert_allclose(got.expanded["weight"], want["weight"], rtol=1e-8)
    assert "factor" in got.cleaned and "censor_factor" not in got.cleaned


def test_pp_and_itt_share_cleaning_and_trial_starts(shared):
    data = shared["sim_censored.csv"]["data"]
    pp = shared["sim_censored.csv"]["seq"]
    itt = trial_sequence(
        data, **{k: v for k, v in PP.items() if not k.startswith("switch")} | {"estimand": "ITT"}
    )
    start = ["id", "trial", "assigned", "x2"]
    a = pp.expanded.loc[pp.expanded["followup"] == 0, start].reset_index(drop=True)
    b = itt.expanded.loc[itt.expanded["followup"] == 0, start].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)  # every eligible row starts a trial in both
    # each PP trial is the beginning of the ITT trial: same rows until the first deviation
    merged = pp.expanded.merge(itt.expanded, on=["id", "trial", "followup"], suffixes=("", "_i"))
    assert len(merged) == len(pp.expanded)
    npt.assert_array_equal(merged["outcome"], merged["outcome_i"])


# ------------------------------------------------------------------------------------------
# each rule on hand-worked panels


def _frame(rows):
    return pd.DataFrame(rows, columns=["id", "t", "a", "y", "e"]).assign(x=0.0)


def _pp(data, **kw):
    args = dict(
        id="id",
        time="t",
        treatment="a",
        outcome="y",
        eligible="e",
        estimand="PP",
        switch_numerator="1",
        switch_denominator="1",
    )
    with unchanged(data), warnings.catch_warnings():
        warnings.simplefilter("ignore", msm.DataWarning)
        return trial_sequence(data, **(args | kw))


def _trials(seq):
    e = seq.expanded
    return {
        int(t): list(zip(g["followup"].tolist(), g["a"].tolist(), strict=True))
        for t, g in e[e["id"] == 1].groupby("trial")
    }


# subject 1 is the one under study; subjects 2-3 give the switch models rows of both kinds
OTHERS = [(2, 0, 1, 0, 1), (2, 1, 0, 0, 1), (2, 2, 1, 0, 1), (3, 0, 0, 0, 1), (3, 1, 1, 0, 0)]


def test_a_switch_at_an_eligible_row_starts_a_new_regime():
    # t:  0 1 2 3 4 ; a: 0 0 1 1 1 ; eligible 1 0 1 0 0: the switch at t = 2 is eligible
    rows = [(1, t, a, 0, e) for t, a, e in zip(range(5), [0, 0, 1, 1, 1], [1, 0, 1, 0, 0])]
    seq = _pp(_frame(rows + OTHERS))
    assert seq.cleaned.loc[seq.cleaned["id"] == 1, "t"].tolist() == [0, 1, 2, 3, 4]  # all kept
    # trial 0 (assigned 0) stops before the switch; trial 2 (assigned 1) starts at it
    assert _trials(seq) == {0: [(0, 0), (1, 0)], 2: [(0, 1), (1, 1), (2, 1)]}


def test_a_switch_at_a_non_eligible_row_ends_the_regime_until_the_next_eligible_row():
    # t:  0 1 2 3 4 5 ; a: 0 0 1 1 1 0 ; eligible 1 0 0 0 1 0
    # the switch at t = 2 is not eligible: t = 2 is kept, t = 3 deleted; t = 4 (eligible)
    # starts a regime (no switch there: a = 1 after a = 1); the switch at t = 5 ends trial 4
    rows = [(1, t, a, 0, e) for t, a, e in zip(range(6), [0, 0, 1, 1, 1, 0], [1, 0, 0, 0, 1, 0])]
    seq = _pp(_frame(rows + OTHERS))
    kept = seq.cleaned[seq.cleaned["id"] == 1]
    assert kept["t"].tolist() == [0, 1, 2, 4, 5]
    assert kept["am_1"].tolist() == [0, 0, 0, 1, 1]  # from cleaning, not recomputed
    assert kept["switch"].tolist() == [0, 0, 1, 0, 1]
    assert _trials(seq) == {0: [(0, 0), (1, 0)], 4: [(0, 1)]}
    assert seq.n_dropped["after_deviation"] == 1


def test_the_expansion_stops_before_the_first_switch_after_followup_0():
    # a trial starting at a switch row keeps that row (followup 0) and runs to the next switch
    # t:  0 1 2 3 4 ; a: 1 0 0 0 1 ; all eligible
    rows = [(1, t, a, 0, 1) for t, a in zip(range(5), [1, 0, 0, 0, 1])]
    seq = _pp(_frame(rows + OTHERS))
    assert _trials(seq) == {
        0: [(0, 1)],
        1: [(0, 0), (1, 0), (2, 0)],
        2: [(0, 0), (1, 0)],
        3: [(0, 0)],
        4: [(0, 1)],
    }
    # the outcome at a row after the deviation is not in the earlier trial
    rows = [(1, t, a, int(t == 3), 1) for t, a in zip(range(4), [0, 0, 1, 1])]
    seq = _pp(_frame(rows + OTHERS))
    e = seq.expanded[(seq.expanded["id"] == 1) & (seq.expanded["y"] == 1)]
    assert e["trial"].tolist() == [2, 3]


def test_switch_weights_by_hand_with_saturated_models():
    # intercept numerator, denominator by a binary x: P = cell means by am_1 (and x)
    rows = [
        # id, t, a, y, e, x
        (1, 0, 0, 0, 1, 0),
        (1, 1, 0, 0, 1, 1),
        (1, 2, 0, 0, 1, 0),
        (2, 0, 0, 0, 1, 1),
        (2, 1, 1, 0, 1, 0),
        (2, 2, 1, 0, 1, 1),
        (3, 0, 1, 0, 1, 0),
        (3, 1, 1, 0, 1, 1),
        (3, 2, 0, 0, 1, 1),
        (4, 0, 1, 0, 1, 1),
        (4, 1, 1, 0, 1, 0),
        (4, 2, 0, 0, 1, 0),
    ]
    data = pd.DataFrame(rows, columns=["id", "t", "a", "y", "e", "x"])
    seq = _pp(data, switch_numerator="1", switch_denominator="x")
    cleaned = seq.cleaned.assign(x=data["x"])
    # by hand: am_1 = 0 rows: (1,0),(1,1),(1,2),(2,0),(2,1),(3,0),(4,0): a = 0 0 0 0 1 1 1
    #          am_1 = 1 rows: (2,2),(3,1),(3,2),(4,1),(4,2): a = 1 1 0 1 0
    want_n = {0: 3 / 7, 1: 3 / 5}
    # denominator cells (am_1, x): (0,0) rows (1,0),(1,2),(2,1),(3,0): a 0 0 1 1 -> 1/2;
    # (0,1) rows (1,1),(2,0),(4,0): a 0 0 1 -> 1/3; (1,0) rows (4,1),(4,2): a 1 0 -> 1/2;
    # (1,1) rows (2,2),(3,1),(3,2): a 1 1 0 -> 2/3
    want_d = {(0, 0): 1 / 2, (0, 1): 1 / 3, (1, 0): 1 / 2, (1, 1): 2 / 3}
    am_1, a, x = cleaned["am_1"], cleaned["a"], cleaned["x"]
    pn = am_1.map(want_n).to_numpy()
    pd_ = np.array([want_d[k] for k in zip(am_1, x, strict=True)])
    npt.assert_allclose(cleaned["p_switch_numerator"], pn, rtol=1e-7)
    npt.assert_allclose(cleaned["p_switch_denominator"], pd_, rtol=1e-7)
    factor = np.where(a == 1, pn / pd_, (1 - pn) / (1 - pd_))
    npt.assert_allclose(cleaned["switch_factor"], factor, rtol=1e-7)
    npt.assert_allclose(cleaned["factor"], factor, rtol=1e-7)
    # subject 1, trial 0 (never switches): weight at t = 2 = factor(t=1) * factor(t=2)
    e = seq.expanded
    w = e[(e["id"] == 1) & (e["trial"] == 0)]["weight"].to_numpy()
    f1 = (1 - 3 / 7) / (1 - 1 / 3)
    f2 = (1 - 3 / 7) / (1 - 1 / 2)
    npt.assert_allclose(w, [1.0, f1, f1 * f2], rtol=1e-7)
    # subject 3 switches at t = 2 (eligible): trial 0 stops before it, trial 2 starts there
    assert e.loc[(e["id"] == 3) & (e["trial"] == 0), "followup"].tolist() == [0, 1]


def test_treatment_never_stopped_gives_factor_1_with_a_warning():
    rows = [(i, t, int(t >= i % 3), 0, 1) for i in range(1, 9) for t in range(4)]
    data = _frame(rows).assign(x=np.linspace(0, 1, 32))
    with pytest.warns(msm.DataWarning, match=r"column 'a': treatment is 1 on all .* am_1 = 1"):
        seq = trial_sequence(
            data,
            id="id",
            time="t",
            treatment="a",
            outcome="y",
            eligible="e",
            estimand="PP",
            switch_numerator="1",
            switch_denominator="x",
        )
    c = seq.cleaned
    assert (c.loc[c["am_1"] == 1, "switch_factor"] == 1.0).all()
    assert list(seq.models) == ["switch_numerator_0", "switch_denominator_0"]


def test_bad_per_protocol_arguments():
    data = _frame([(1, 0, 0, 0, 1), (1, 1, 1, 0, 1), *OTHERS])
    with pytest.raises(ValueError, match="estimand='PP' needs the switch"):
        _pp(data, switch_denominator=None)
    with pytest.raises(ValueError, match="need estimand='PP'"):
        _pp(data, estimand="ITT")
    with pytest.raises(msm.DataError, match="'age'"):
        _pp(data, switch_denominator="x + age")
    with pytest.raises(msm.DataError, match="'bmi'"):
        _pp(data, switch_numerator="bmi")
    # a switch model whose group is empty: every subject untreated throughout
    with pytest.raises(msm.DataError, match=r"column 'a'.*am_1 = 1"):
        _pp(data.assign(a=0))
