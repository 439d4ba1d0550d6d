"""``msm.trials.trial_sequence`` (ITT with censoring weights) against R TrialEmulation 0.0.4.8.

R's numbers are in ../shared/conformance/trialemulation/ (the module's conformance tests skip
without it): the expansion of two cases (``dc_itt``: the vignette data, 725 rows -> 1,558;
``sim_itt``: TrialEmulation's simulator, 15,577 rows -> 28,601), the per-row weight-model
quantities (``*_ipw.csv``) and the weight models' coefficients (``cases.json``).  The expanded
rows must be identical.  With ``convergence="r"`` (R's glm stopping rule replayed) the weights
equal R's to rounding (achieved: 7e-15 and 4e-14 relative, asserted at 1e-12); with the
default full convergence they equal the reference's rebuild at glm epsilon 1e-14
(``weight_hand_tight``; achieved 7e-12 and 6e-11, asserted at 1e-9) and R's default fit to
its own stopping error (~4e-8).  Then the definitions on small frames by hand, the pooling
options against statsmodels, and bad input.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm
from msm.trials import trial_sequence
from tests.adversarial_cases import unchanged

CASES = {"dc_itt": "data_censored.csv", "sim_itt": "sim_censored.csv"}
ARGS = dict(
    id="id",
    time="period",
    treatment="treatment",
    outcome="outcome",
    eligible="eligible",
    censor="censored",
    censor_numerator="~x2",
    censor_denominator="~x2 + x1",
    pool_censor="numerator",
)
# our column -> TrialEmulation's
EXPANDED = {
    "id": "id",
    "trial": "trial_period",
    "followup": "followup_time",
    "assigned": "assigned_treatment",
    "treatment": "treatment",
    "outcome": "outcome",
    "x2": "x2",
}


@pytest.fixture(scope="module")
def reference(shared_dir):
    root = shared_dir / "conformance" / "trialemulation"
    cases = json.loads((root / "cases.json").read_text())["cases"]
    out = {}
    for name, data in CASES.items():
        out[name] = {
            "data": pd.read_csv(root / data),
            "expanded": pd.read_csv(root / f"{name}_expanded.csv"),
            "ipw": pd.read_csv(root / f"{name}_ipw.csv"),
            "case": cases[name],
        }
    return out


@pytest.fixture(scope="module")
def fits(reference):
    return {
        (name, convergence): trial_sequence(ref["data"], **ARGS, convergence=convergence)
        for name, ref in reference.items()
        for convergence in ("full", "r")
    }


@pytest.mark.parametrize("name", list(CASES))
def test_expanded_rows_are_trialemulations(reference, fits, name):
    want = reference[name]["expanded"]
    got = fits[name, "full"].expanded
    assert list(got.columns) == ["id", "trial", "followup", "assigned", "treatment",
                                 "outcome", "weight", "x2"]  # fmt: skip
    assert len(got) == len(want) == reference[name]["case"]["expanded_rows"]
    for ours, theirs in EXPANDED.items():
        npt.assert_array_equal(got[ours].to_numpy(), want[theirs].to_numpy(), err_msg=ours)
    assert fits[name, "full"].n_trials == reference[name]["case"]["n_trials"]
    assert int(got["outcome"].sum()) == reference[name]["case"]["events"]


@pytest.mark.parametrize("name", list(CASES))
def test_weights_equal_r_to_rounding_with_rs_stopping_rule(reference, fits, name):
    want = reference[name]["expanded"]
    npt.assert_allclose(fits[name, "r"].expanded["weight"], want["weight"], rtol=1e-12, atol=0)
    followup0 = fits[name, "r"].expanded["followup"] == 0
    assert (fits[name, "r"].expanded.loc[followup0, "weight"] == 1.0).all()


@pytest.mark.parametrize("name", list(CASES))
def test_fully_converged_weights_equal_the_tight_rebuild(reference, fits, name):
    want = reference[name]["expanded"]
    got = fits[name, "full"].expanded["weight"]
    npt.assert_allclose(got, want["weight_hand_tight"], rtol=1e-9, atol=0)
    npt.assert_allclose(got, want["weight"], rtol=1e-7, atol=0)  # R's default glm stop


@pytest.mark.parametrize("name", list(CASES))
def test_per_row_weight_model_quantities(reference, fits, name):
    want = reference[name]["ipw"]
    got = fits[name, "r"].cleaned
    assert len(got) == len(want) == reference[name]["case"]["rows_after_set_data"]
    for column in ("id", "period", "treatment", "eligible", "am_1", "switch"):
        npt.assert_array_equal(got[column].to_numpy(), want[column].to_numpy(), err_msg=column)
    for ours, theirs in (
        ("p_censor_numerator", "pC_n"),
        ("p_censor_denominator", "pC_d"),
        ("factor", "wtC"),
    ):
        npt.assert_allclose(got[ours], want[theirs], rtol=1e-12, atol=0, err_msg=ours)
    # the caller's labels of the cleaned rows (here nothing is dropped, data sorted)
    assert got.index.equals(reference[name]["data"].index)


@pytest.mark.parametrize("name", list(CASES))
def test_weight_models_equal_rs_glm(reference, fits, name):
    expected = reference[name]["case"]["weight_models"]
    models = fits[name, "r"].models
    keys = {"censor_n": "censor_numerator", "censor_d0": "censor_denominator_0",
            "censor_d1": "censor_denominator_1"}  # fmt: skip
    assert set(models) == set(keys.values())
    for theirs, ours in keys.items():
        fit, want = models[ours], expected[theirs]
        assert fit.n == want["nobs"]
        npt.assert_allclose(fit.params.to_numpy(), want["coef"], rtol=1e-10)
        npt.assert_allclose(fit.bse.to_numpy(), want["se"], rtol=1e-10)
        npt.assert_allclose(fit.deviance, want["deviance"], rtol=1e-12)
    table = fits[name, "r"].summary()
    assert list(table["model"].unique()) == list(keys.values())


def test_row_order_and_labels_do_not_matter(reference):
    data = reference["dc_itt"]["data"]
    base = trial_sequence(data, **ARGS)
    shuffled = data.sample(frac=1.0, random_state=3)
    shuffled.index = [f"r{k}" for k in range(len(shuffled))]
    with unchanged(shuffled):
        other = trial_sequence(shuffled, **ARGS)
    pd.testing.assert_frame_equal(other.expanded, base.expanded, check_exact=False, rtol=1e-13)
    # rows and trial_rows point into the caller's frame
    npt.assert_array_equal(shuffled["period"].to_numpy()[other.rows],
                           other.expanded["trial"] + other.expanded["followup"])  # fmt: skip
    npt.assert_array_equal(shuffled["period"].to_numpy()[other.trial_rows],
                           other.expanded["trial"])  # fmt: skip
    assert set(other.cleaned.index) == set(shuffled.index)


def test_column_types_of_the_expanded_data(reference):
    # numeric columns are gathered into blocks by dtype; text ids, float times and
    # categorical or integer covariates keep their values and types
    data = reference["dc_itt"]["data"]
    base = trial_sequence(data, **ARGS, covariates=["x1", "x3"])
    other = data.assign(
        id="p" + data["id"].astype(str),
        period=data["period"].astype(float),
        x1=pd.Categorical(np.where(data["x1"] == 1, "yes", "no")),
    )
    got = trial_sequence(other, **ARGS, covariates=["x1", "x3"]).expanded
    want = base.expanded
    assert got.columns.tolist() == want.columns.tolist()
    npt.assert_array_equal(got["id"].to_numpy(), ("p" + want["id"].astype(str)).to_numpy())
    assert got["trial"].dtype == np.float64 and got["followup"].dtype == np.float64
    npt.assert_array_equal(got["trial"], want["trial"])
    npt.assert_array_equal(got["followup"], want["followup"])
    assert isinstance(got["x1"].dtype, pd.CategoricalDtype)
    npt.assert_array_equal(got["x1"].astype(str), np.where(want["x1"] == 1, "yes", "no"))
    for column in ["assigned", "treatment", "outcome", "weight", "x3", "x2"]:
        assert got[column].dtype == want[column].dtype
        npt.assert_array_equal(got[column], want[column])
    assert isinstance(got.index, pd.RangeIndex)
    assert want.dtypes["x3"] == data.dtypes["x3"]


# ---------------------------------------------------------------------------------------------
# the definitions on small frames, by hand


def _frame(rows):
    return pd.DataFrame(rows, columns=["id", "t", "a", "y", "e", "c", "x"])


def test_cleaning_drops_rows_before_eligibility_and_after_the_outcome():
    data = _frame(
        [
            # id 1: eligible from t=1; outcome at t=2; rows after it dropped
            (1, 0, 0, 0, 0, 0, 0.1), (1, 1, 1, 0, 1, 0, 0.2), (1, 2, 1, 1, 1, 0, 0.3),
            (1, 3, 0, 0, 1, 0, 0.4), (1, 4, 0, 1, 1, 0, 0.5),
            # id 2: an outcome before eligibility does not count (rows before it go first)
            (2, 0, 1, 1, 0, 0, 1.0), (2, 1, 0, 0, 1, 0, 1.1), (2, 3, 1, 0, 0, 0, 1.2),
            # id 3: never eligible
            (3, 0, 0, 0, 0, 0, 2.0), (3, 1, 0, 0, 0, 0, 2.1),
        ]
    )  # fmt: skip
    with pytest.warns(msm.DataWarning, match=r"'y': 2 row\(s\) after .*\(ids 1; 1 in all\)"):
        seq = trial_sequence(data, id="id", time="t", treatment="a", outcome="y",
                             eligible="e", covariates=["x"])  # fmt: skip
    got = seq.expanded
    want = pd.DataFrame(
        {
            "id": [1, 1, 1, 2, 2],
            "trial": [1, 1, 2, 1, 1],
            "followup": [0, 1, 0, 0, 2],
            "assigned": [1, 1, 1, 0, 0],
            "a": [1, 1, 1, 0, 1],
            "y": [0, 1, 1, 0, 0],
            "weight": [1.0] * 5,
            "x": [0.2, 0.2, 0.3, 1.1, 1.1],
        }
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert seq.n_dropped == {"before_eligible": 4, "after_outcome": 2}
    npt.assert_array_equal(seq.cleaned["am_1"], [0, 1, 0, 0])
    npt.assert_array_equal(seq.cleaned["switch"], [0, 0, 0, 1])
    assert list(seq.cleaned.index) == [1, 2, 6, 7]


def _censored_panel(rng, n=300, horizon=6):
    rows = []
    for i in range(n):
        x = rng.normal()
        a = 0
        for t in range(horizon):
            a = int(rng.random() < 0.3 + 0.4 * a)
            l = rng.normal() + 0.5 * a  # noqa: E741
            c = int(rng.random() < 1 / (1 + np.exp(2.0 - 0.5 * x - 0.4 * l)))
            y = int(not c and rng.random() < 0.05)
            rows.append((i, t, a, y, int(rng.random() < 0.6), c, x, l))
            if c or y:
                break
    return pd.DataFrame(rows, columns=["id", "t", "a", "y", "e", "c", "x", "l"])


@pytest.mark.parametrize("pool", ["numerator", "both", "none"])
def test_censoring_models_and_weights_by_hand(rng, pool):
    import statsmodels.api as sm

    data = _censored_panel(rng)
    seq = trial_sequence(data, id="id", time="t", treatment="a", outcome="y", eligible="e",
                         censor="c", censor_numerator="x", censor_denominator="x + l",
                         pool_censor=pool)  # fmt: skip
    cleaned = data.loc[seq.cleaned.index]
    am_1 = seq.cleaned["am_1"].to_numpy()
    uncensored = 1 - cleaned["c"].to_numpy()

    def fitted(columns, mask):
        X = sm.add_constant(cleaned[columns].to_numpy()[mask], has_constant="add")
        model = sm.GLM(uncensored[mask], X, family=sm.families.Binomial()).fit(tol=1e-13)
        return model.predict(X)

    p = {}
    for part, columns in (("numerator", ["x"]), ("denominator", ["x", "l"])):
        p[part] = np.empty(len(cleaned))
        if pool == "both" or (pool == "numerator" and part == "numerator"):
            p[part][:] = fitted(columns, np.ones(len(cleaned), dtype=bool))
        else:
            for k in (0, 1):
                p[part][am_1 == k] = fitted(columns, am_1 == k)
    npt.assert_allclose(seq.cleaned["p_censor_numerator"], p["numerator"], rtol=1e-9)
    npt.assert_allclose(seq.cleaned["p_censor_denominator"], p["denominator"], rtol=1e-9)
    factor = p["numerator"] / p["denominator"]
    # expanded weight of trial t at row s: product of the factors over t < time <= s
    expected = []
    ids = seq.cleaned["id"].to_numpy()
    elig = seq.cleaned["e"].to_numpy()
    for t in range(len(cleaned)):
        if not elig[t]:
            continue
        product = 1.0
        for s in range(t, len(cleaned)):
            if ids[s] != ids[t]:
                break
            if s > t:
                product *= factor[s]
            expected.append(product)
    npt.assert_allclose(seq.expanded["weight"], expected, rtol=1e-9)
    n_models = {"numerator": 3, "both": 2, "none": 4}[pool]
    assert len(seq.models) == n_models


def test_without_censoring_every_weight_is_1(rng):
    data = _censored_panel(rng, n=50)
    seq = trial_sequence(data, id="id", time="t", treatment="a", outcome="y", eligible="e")
    assert (seq.expanded["weight"] == 1.0).all()
    assert seq.models == {} and seq.summary().empty
    assert "no censoring weights" in repr(seq)


def test_no_one_censored_warns_and_gives_weight_1(rng):
    data = _censored_panel(rng, n=50).assign(c=0)
    with pytest.warns(msm.DataWarning, match="no subject is censored"):
        seq = trial_sequence(data, id="id", time="t", treatment="a", outcome="y",
                             eligible="e", censor="c", censor_denominator="x")  # fmt: skip
    assert (seq.expanded["weight"] == 1.0).all()


# ---------------------------------------------------------------------------------------------
# bad input


def _small():
    return pd.DataFrame(
        {
            "id": [1, 1, 1, 2, 2, 3, 3],
            "t": [0, 1, 2, 0, 1, 0, 1],
            "a": [0, 1, 1, 0, 0, 1, 1],
            "y": [0, 0, 1, 0, 0, 0, 0],
            "e": [1, 1, 0, 1, 0, 0, 1],
            "c": [0, 0, 0, 0, 1, 0, 0],
            "x": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
        }
    )


def _run(data, **overrides):
    args = dict(id="id", time="t", treatment="a", outcome="y", eligible="e") | overrides
    with unchanged(data):
        return trial_sequence(data, **args)


@pytest.mark.parametrize("column", ["a", "y", "e", "c"])
def test_not_zero_one_names_the_column_and_ids(column):
    data = _small()
    data.loc[data["id"] == 2, column] = 2
    with pytest.raises(msm.DataError, match=rf"column '{column}'.*0/1.*ids 2;") as info:
        _run(data, censor="c")
    assert info.value.column == column and info.value.ids == [2]


def test_no_eligible_row():
    with pytest.raises(msm.DataError, match="column 'e': no row is eligible"):
        _run(_small().assign(e=0))


@pytest.mark.parametrize(
    ("overrides", "column"),
    [
        (dict(eligible="elig"), "elig"),
        (dict(id="subject"), "subject"),
        (dict(covariates=["age"]), "age"),
        (dict(censor="c", censor_numerator="x + age"), "age"),
        (dict(censor="lost"), "lost"),
    ],
)
def test_unknown_columns(overrides, column):
    with pytest.raises(msm.DataError, match=f"'{column}'") as info:
        _run(_small(), **overrides)
    assert info.value.column == column


def test_missing_value_names_the_ids():
    data = _small()
    data.loc[5, "x"] = np.nan
    with pytest.raises(msm.DataError, match=r"column 'x'.*ids 3;"):
        _run(data, covariates=["x"])


def test_duplicated_rows_and_text_time():
    data = _small()
    data.loc[1, "t"] = 0
    with pytest.raises(msm.DataError, match=r"column 't'.*unique.*ids 1;"):
        _run(data)
    with pytest.raises(msm.DataError, match="column 't'.*numeric"):
        _run(_small().assign(t=list("abcabab")))


def test_a_covariate_that_would_clash_in_the_expanded_data():
    with pytest.raises(msm.DataError, match="'weight' would be two of them"):
        _run(_small().rename(columns={"x": "weight"}), covariates=["weight"])


def test_a_censoring_model_with_nothing_to_model():
    data = _small()  # the one censored row has am_1 = 0: the am_1 = 1 denominator has none
    with pytest.raises(msm.DataError, match=r"column 'c'.*censor denominator \(rows with am_1 = 1"):
        _run(data, censor="c")


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="estimand='PP' needs the switch"):
        _run(_small(), estimand="PP")
    with pytest.raises(ValueError, match="need estimand='PP'"):
        _run(_small(), switch_denominator="x")
    with pytest.raises(ValueError, match="estimand"):
        _run(_small(), estimand="ATE")
    with pytest.raises(ValueError, match="pool_censor"):
        _run(_small(), censor="c", pool_censor="all")
    with pytest.raises(ValueError, match="convergence"):
        _run(_small(), convergence="tight")
    with pytest.raises(ValueError, match="need censor="):
        _run(_small(), censor_numerator="x")


def test_caller_frame_unchanged_and_warnings_only_where_due(rng):
    data = _censored_panel(rng, n=80)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(data, censor="c", censor_numerator="x", censor_denominator="x + l")


# ---------------------------------------------------------------------------------------------
# the MSM: TrialEmulation's fit_msm on sim_itt (R's default fit and its refit at epsilon 1e-14)

FORMULA = "outcome ~ assigned + x2 + followup + I(followup**2) + trial + I(trial**2)"


@pytest.mark.parametrize(
    ("key", "truncate"), [("untruncated", None), ("truncated_p99", (None, 99))]
)
def test_msm_equals_trialemulations(reference, fits, key, truncate):
    """With R's stopping rule in the weight models and the MSM: R's numbers to rounding
    (achieved 2e-14 in coefficients, 6e-14 in robust SEs); fully converged: the tight refit
    (achieved 5e-10 and 1e-9: the refit's own stopping error at epsilon 1e-14)."""
    want = reference["sim_itt"]["case"]["msm"][key]
    seq = fits["sim_itt", "r"]
    w = seq.analysis_weights(truncate)
    if truncate is not None:
        npt.assert_allclose(w.max(), want["trunc_cap"], rtol=1e-12)
        assert int((seq.expanded["weight"].to_numpy() > w).sum()) == want["n_capped"]
    fit = seq.fit(FORMULA, truncate=truncate, convergence="r")
    assert fit.nobs == want["nobs"] and fit.n_clusters == want["n_clusters"]
    npt.assert_allclose(fit.params.to_numpy(), want["coef"], rtol=1e-11)
    npt.assert_allclose(fit.bse.to_numpy(), want["se_robust"], rtol=1e-11)
    k = len(want["coef"])
    npt.assert_allclose(fit.cov.to_numpy(), np.reshape(want["vcov_robust"], (k, k)),
                        rtol=1e-9, atol=1e-15)  # fmt: skip
    npt.assert_allclose(fit.deviance, want["deviance"], rtol=1e-12)
    tight = seq.fit(FORMULA, truncate=truncate)
    npt.assert_allclose(tight.params.to_numpy(), want["tight"]["coef"], rtol=1e-8)
    npt.assert_allclose(tight.bse.to_numpy(), want["tight"]["se_robust"], rtol=1e-8)


def test_truncation_by_hand_and_bad_arguments(rng):
    data = _censored_panel(rng, n=200)
    seq = trial_sequence(data, id="id", time="t", treatment="a", outcome="y", eligible="e",
                         censor="c", censor_numerator="x", censor_denominator="x + l")  # fmt: skip
    w = seq.expanded["weight"].to_numpy()
    got = seq.analysis_weights((5, 95))
    npt.assert_array_equal(got, np.clip(w, np.percentile(w, 5), np.percentile(w, 95)))
    npt.assert_array_equal(seq.analysis_weights(None), w)
    for bad in [(1,), (5, 101), (95, 5), "99", (True, 99)]:
        with pytest.raises(ValueError, match="truncate"):
            seq.analysis_weights(bad)
    with pytest.raises(ValueError, match="stacked"):
        seq.fit("y ~ assigned", variance="stacked")
    with pytest.raises(msm.DataError, match="'age'"):
        seq.fit("y ~ assigned + age")
