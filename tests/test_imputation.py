"""msm.impute: chained equations on long person-time data; what it keeps, what it fills."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import msm
from msm.imputation import match_donors

COHORT = msm.datasets.simulate_jdm(n_patients=150, seed=3, missing=True).drop(columns="das_total")
SCORES = ["cmas", "mmt8", "das_skin", "das_muscle", "ck"]


def run(data=COHORT, **kw):
    args = dict(id="id", time="month", treatment="ivig", outcome="quiescence", m=2, seed=1,
                max_iter=3)  # fmt: skip
    args.update(kw)
    return msm.impute(data, **args)


@pytest.fixture(scope="module")
def imp():
    return run()


def test_fills_only_the_missing_cells_and_leaves_the_data_alone(imp):
    before = COHORT.copy()
    again = run()
    pd.testing.assert_frame_equal(COHORT, before)  # the caller's frame is not modified
    assert imp.columns == SCORES  # id, time, treatment, outcome and complete columns not
    assert imp.m == len(imp) == 2 and len(list(imp)) == 2
    hole = COHORT[SCORES].isna()
    pd.testing.assert_frame_equal(imp.where, hole)
    for frame in imp:
        assert frame.index.equals(COHORT.index) and list(frame.columns) == list(COHORT.columns)
        assert frame[SCORES].notna().all().all()
        observed = COHORT[SCORES].where(~hole)
        pd.testing.assert_frame_equal(frame[SCORES].where(~hole), observed)
        others = [c for c in COHORT.columns if c not in SCORES]
        pd.testing.assert_frame_equal(frame[others], COHORT[others])
    # the same seed gives the same imputations; another seed others
    for a, b in zip(imp, again):
        pd.testing.assert_frame_equal(a, b)
    other = run(seed=2)
    assert not other[0][SCORES].equals(imp[0][SCORES])
    assert not imp[0][SCORES].equals(imp[1][SCORES])  # imputations differ from each other


def test_imputation_i_does_not_depend_on_m():
    three = run(m=3)
    two = run(m=2)
    pd.testing.assert_frame_equal(three[1], two[1])


def test_scores_come_back_on_their_support(imp):
    for frame in imp:
        for c in SCORES:
            observed = COHORT[c].dropna()
            filled = frame.loc[imp.where[c], c]
            assert filled.isin(set(observed)).all()  # predictive mean matching: donors' values
    norm = run(method="norm")
    for c in SCORES:
        observed = COHORT[c].dropna()
        filled = norm[0].loc[norm.where[c], c]
        assert (filled % 1 == 0).all()  # integer-valued: rounded
        assert filled.between(observed.min(), observed.max()).all()  # clipped to the range
    assert not norm[0][SCORES].equals(run()[0][SCORES])


def test_missing_summary_per_column_and_visit(imp):
    table = imp.missing
    hole = COHORT.isna()
    assert list(table.index) == SCORES
    assert table["n_missing"].tolist() == [int(hole[c].sum()) for c in SCORES]
    np.testing.assert_allclose(table["percent"], 100 * hole[SCORES].mean().to_numpy())
    assert table.loc["ck", "ids"] == COHORT.loc[hole["ck"], "id"].nunique()
    assert table["imputed"].all()
    by = imp.missing_by_time
    assert by.loc[0, SCORES].eq(0).all()  # diagnosis is always complete
    assert by.loc[5, "rows"] == (COHORT["month"] == 5).sum()
    assert by.loc[5, "cmas"] == pytest.approx(100 * hole.loc[COHORT["month"] == 5, "cmas"].mean())
    text = repr(imp)
    assert text.index("Missing values before imputation") < text.index("Percent missing by")
    assert "Imputed: cmas, mmt8, das_skin, das_muscle, ck" in text
    chains = imp.chains
    assert chains.shape == (2 * 3, 2 * len(SCORES))
    assert chains.index.names == ["imputation", "iteration"]
    compare = imp.compare()
    assert compare.loc["cmas", "n_imputed"] == hole["cmas"].sum()


def test_mi_analyze_takes_the_imputations_and_checks_their_alignment(imp):
    def mean_cmas(d):
        return {"cmas": (float(d["cmas"].mean()), float(d["cmas"].var() / len(d)))}

    res = msm.mi.analyze(imp, mean_cmas)
    assert res.m == 2
    # the alignment check runs on the imputations' id and time
    broken = list(imp)
    broken[1] = broken[1].assign(month=broken[1]["month"].to_numpy()[::-1])
    with pytest.raises(msm.DataError, match="'month'"):
        msm.mi.analyze(broken, mean_cmas, id="id", time="month")


def test_recovers_a_mean_missing_at_random():
    """y = x + noise, y missing more often when x is high (MAR given x): the complete-case
    mean of y is biased, the MI mean is not (truth 0 by construction)."""
    rng = np.random.default_rng(5)
    n_id, n_t = 400, 4
    x = rng.normal(size=n_id * n_t)
    y = x + rng.normal(scale=0.5, size=x.size)
    gone = rng.random(x.size) < 1 / (1 + np.exp(-2 * x))
    data = pd.DataFrame({"id": np.repeat(np.arange(n_id), n_t), "t": np.tile(np.arange(n_t), n_id),
                         "x": x, "y": np.where(gone, np.nan, y)})  # fmt: skip
    complete_case = np.nanmean(data["y"])
    imp = msm.impute(data, id="id", time="t", m=5, seed=2, max_iter=3)
    res = msm.mi.analyze(imp, lambda d: {"mean": (d["y"].mean(), d["y"].var() / len(d))})
    pooled = res.pool().loc["mean"]
    assert complete_case < -0.4  # the observed y are those with low x
    assert abs(pooled["estimate"] - y.mean()) < 2 * pooled["std_error"]
    assert pooled["fmi"] > 0.1  # half the values are missing: the pooled SE knows it


def test_any_row_order_gives_the_same_imputations():
    shuffled = COHORT.sample(frac=1.0, random_state=4)
    a = run(shuffled)
    b = run()
    pd.testing.assert_frame_equal(a[0].loc[COHORT.index], b[0])


def test_baseline_column_imputed_once_per_subject_and_flags_stay_zero_one():
    data = COHORT.copy()
    rng = np.random.default_rng(0)
    no_age = rng.choice(data["id"].unique(), 30, replace=False)
    data.loc[data["id"].isin(no_age), "age"] = np.nan
    data["sex"] = data["sex"].astype("Int64")
    no_sex = rng.choice(data["id"].unique(), 20, replace=False)
    data.loc[data["id"].isin(no_sex), "sex"] = pd.NA
    data["tired"] = (rng.random(len(data)) < 0.3).astype(float)
    data.loc[rng.random(len(data)) < 0.2, "tired"] = np.nan
    imp = run(data)
    assert imp.levels["age"] == "subject" and imp.levels["sex"] == "subject"
    assert imp.levels["tired"] == "visit"
    frame = imp[0]
    assert frame.groupby("id")["age"].nunique().eq(1).all()
    assert str(frame["sex"].dtype) == "Int64" and set(frame["sex"]) <= {0, 1}
    assert set(frame["tired"]) <= {0.0, 1.0}


def test_match_donors_picks_among_the_nearest():
    rng = np.random.default_rng(1)
    obs = rng.normal(size=200)
    mis = rng.normal(size=50) * 1.5
    values = np.arange(200) * 10
    for k in (1, 3, 5):
        chosen = match_donors(obs, mis, values, k, np.random.default_rng(k))
        for value, target in zip(chosen, mis):
            nearest = np.argsort(np.abs(obs - target))[:k]  # brute force
            assert value // 10 in nearest
    assert match_donors(obs[:2], mis, values[:2], 5, rng).tolist() != []  # k capped at 2


# --- bad input -----------------------------------------------------------------------


def test_bad_ids_and_times_are_named():
    data = COHORT.copy()
    data.loc[3, "id"] = np.nan
    with pytest.raises(msm.DataError, match="column 'id'.*rows 3"):
        run(data)
    data = COHORT.copy()
    data.loc[data.index[5], "month"] = np.nan
    with pytest.raises(msm.DataError, match="column 'month'"):
        run(data)
    data = pd.concat([COHORT, COHORT.iloc[[0]]], ignore_index=True)
    with pytest.raises(msm.DataError, match=r"column 'month'.*unique.*ids 0"):
        run(data)


def test_columns_that_cannot_be_imputed():
    data = COHORT.assign(site=np.where(COHORT["id"] % 2 == 0, "a", None))
    with pytest.raises(msm.DataError, match="column 'site': a column to impute must be numeric"):
        run(data, columns=["cmas", "site"])
    imp = run(data)  # by default a text column is left alone, and said so
    assert "site" not in imp.columns and not imp.missing.loc["site", "imputed"]
    assert imp[0]["site"].isna().sum() == data["site"].isna().sum()
    with pytest.raises(msm.DataError, match="column 'x': is missing on every row"):
        run(COHORT.assign(x=np.nan), columns=["x"])
    with pytest.raises(msm.DataError, match="observed on one row only"):
        run(COHORT.assign(x=[1.0] + [np.nan] * (len(COHORT) - 1)), columns=["x"])
    inf = COHORT.copy()
    inf.loc[inf.index[10], "ck"] = np.inf
    with pytest.raises(msm.DataError, match=r"column 'ck': 1 infinite.*ids"):
        run(inf)
    with pytest.raises(msm.DataError, match="column 'month': the time column is never imputed"):
        run(columns=["month"])
    with pytest.raises(msm.DataError, match="column 'cmas': listed both"):
        run(columns=["cmas"], protected=["cmas"])
    with pytest.raises(msm.DataError, match="column 'nope': column not found"):
        run(columns=["nope"])


def test_predictors_must_be_complete_numbers():
    with pytest.raises(msm.DataError, match=r"column 'ck': a predictor with \d+ missing.*ids"):
        run(columns=["cmas"], predictors=["pga", "ck"])
    text = COHORT.assign(site="a")
    with pytest.raises(msm.DataError, match="column 'site': a predictor must be numeric"):
        run(text, predictors=["pga", "site"])
    # the treatment is not imputed unless asked, and then it is
    data = COHORT.astype({"ivig": float})
    data.loc[data.index[7], "ivig"] = np.nan
    assert "ivig" not in run(data).columns
    assert "ivig" in run(data, columns=[*SCORES, "ivig"]).columns


def test_bad_arguments():
    with pytest.raises(ValueError, match="m must be a positive integer"):
        run(m=0)
    with pytest.raises(ValueError, match="method must be one of"):
        run(method="mean")
    with pytest.raises(ValueError, match="max_iter must be"):
        run(max_iter=0)
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        run(COHORT.to_numpy())
    with pytest.raises(TypeError, match="seed must be an integer"):
        run(seed=1.5)


def test_a_baseline_column_with_nothing_to_predict_it_gets_observed_values():
    data = pd.DataFrame({"id": np.repeat(np.arange(30), 3), "t": np.tile([0, 1, 2], 30),
                         "age": np.repeat(np.arange(30.0), 3)})  # fmt: skip
    data.loc[data["id"] < 5, "age"] = np.nan  # time, the only predictor, is 0 on first rows
    imp = msm.impute(data, id="id", time="t", m=2, seed=1)
    assert imp.levels == {"age": "subject"}
    frame = imp[0]
    assert frame.groupby("id")["age"].nunique().eq(1).all()
    assert frame["age"].isin(set(data["age"].dropna())).all()
    assert "Missing values before imputation:\n  none" in repr(
        msm.impute(data.dropna(), id="id", time="t", m=2, seed=1)
    )


def test_neighbours_keep_the_correlation_between_visits():
    """y = subject effect + 0.5 x + noise over 4 visits, 40% missing at random given x: the
    completed data keep the correlation of successive visits (true 2/3) with the previous and
    next values and the subject's other visits among the predictors, and lose most of it
    without (10 seeds, 300 subjects, max_iter 10: 0.635 with, 0.22 without)."""
    rng = np.random.default_rng(8)
    n_id, n_t = 600, 4
    b = np.repeat(rng.normal(size=n_id), n_t)
    x = rng.normal(size=n_id * n_t)
    y = b + 0.5 * x + rng.normal(scale=0.5, size=x.size)
    gone = rng.random(x.size) < 1 / (1 + np.exp(-(2 * x - 0.5)))
    data = pd.DataFrame({"id": np.repeat(np.arange(n_id), n_t), "t": np.tile(np.arange(n_t), n_id),
                         "x": x, "y": np.where(gone, np.nan, y)})  # fmt: skip

    def correlation(**kw):
        frame = msm.impute(data, id="id", time="t", m=1, seed=3, max_iter=6, **kw)[0]
        wide = frame.pivot(index="id", columns="t", values="y")
        return np.mean([np.corrcoef(wide[t], wide[t + 1])[0, 1] for t in range(n_t - 1)])

    true = 1.0 / 1.5
    assert abs(correlation() - true) < 0.06
    assert correlation(neighbours=False) < true - 0.3


def test_same_imputations_on_any_number_of_workers():
    d = msm.datasets.simulate_jdm(n_patients=200, months=10, seed=2, missing=True)
    args = dict(id="id", time="month", m=3, seed=4, max_iter=2, treatment="ivig",
                outcome="quiescence")  # fmt: skip
    one = msm.impute(d, **args)
    two = msm.impute(d, **args, n_jobs=2)
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(one.chains, two.chains)
