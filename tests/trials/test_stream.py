"""The streamed MSM (``trial_sequence(..., materialize=False)``) against the stored one, and
the stored fit's direct design against formulaic's."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.testing as npt
import pytest

import msm
from msm._formula import design_matrix, parse_terms
from msm.trials.stream import fast_design

FORMULA = "y ~ assigned + followup + I(followup**2) + trial + I(trial**2) + x"


def _panel(seed, n=400, shift=0):
    panel = msm.datasets.simulate_panel(n_subjects=n, seed=seed, stop_at_event=True,
                                        censor_coefs=(-3.0, 0.5),
                                        event_coefs=(-2.5, 0.2, 0.5, -0.7))  # fmt: skip
    panel["eligible"] = (panel["time"] < 6).astype(int)
    panel["time"] = panel["time"] + shift
    return panel


def _pp_panel(seed):
    panel = _panel(seed)
    noise = np.random.default_rng(seed).normal(size=len(panel))
    panel["a"] = (panel["l"] + noise > 0).astype(int)
    return panel


ITT = dict(id="id", time="time", treatment="a", outcome="y", eligible="eligible",
           censor="lost", censor_numerator="x", censor_denominator="x + l")  # fmt: skip
PP = dict(ITT, estimand="PP", switch_numerator="x", switch_denominator="x + l")


def _both(panel, args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (msm.trial_sequence(panel, **args),
                msm.trial_sequence(panel, materialize=False, **args))  # fmt: skip


def _same_fit(stored, streamed, tol=1e-10):
    assert list(stored.params.index) == list(streamed.params.index)
    npt.assert_allclose(streamed.params, stored.params, rtol=tol, atol=0)
    npt.assert_allclose(streamed.bse, stored.bse, rtol=tol, atol=0)
    assert streamed.n_rows == stored.n_rows and streamed.nobs == stored.nobs
    assert streamed.n_clusters == stored.n_clusters and streamed.n_iter == stored.n_iter
    npt.assert_allclose(streamed.deviance, stored.deviance, rtol=1e-11)
    npt.assert_allclose(streamed.sum_weights, stored.sum_weights, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "make", "formula", "truncate", "variance"),
    [
        (ITT, _panel, FORMULA, None, "cr1"),
        (ITT, _panel, FORMULA, (None, 99), "cr1"),
        (ITT, _panel, "y ~ assigned * followup + x:I(trial**2)", (1, 95), "robust"),
        (PP, _pp_panel, FORMULA, None, "cr1"),
        (PP, _pp_panel, "y ~ assigned + followup + x + assigned:x", (None, 99), "model"),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_streamed_fit_equals_the_stored_fit(args, make, formula, truncate, variance, seed):
    stored, streamed = _both(make(seed), args)
    assert streamed.n_rows == len(stored.expanded)
    assert streamed.n_trials == stored.n_trials
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = stored.fit(formula, truncate=truncate, variance=variance)
        got = streamed.fit(formula, truncate=truncate, variance=variance)
    _same_fit(want, got)
    npt.assert_allclose(streamed.analysis_weights(truncate), stored.analysis_weights(truncate),
                        rtol=1e-15)  # fmt: skip


def test_streamed_fit_on_a_centred_design():
    # trial near 1e5: the fit is computed on the centred design in both
    stored, streamed = _both(_panel(3, shift=100_000), ITT)
    want = stored.fit("y ~ assigned + followup + trial + x")
    assert want.centring is not None
    got = streamed.fit("y ~ assigned + followup + trial + x")
    assert got.centring is not None
    _same_fit(want, got)


def test_a_large_streamed_fit_uses_the_same_warm_start():
    # above msm._glm.WARM_START_ROWS expanded rows: both start from the same subsample fit
    panel = _panel(4, n=8000)
    panel["eligible"] = 1
    stored, streamed = _both(panel, ITT)
    assert streamed.n_rows > 200_000
    _same_fit(stored.fit(FORMULA), streamed.fit(FORMULA))


def test_risk_curves_from_a_streamed_fit():
    stored, streamed = _both(_panel(5), ITT)
    want = stored.risk_curves(stored.fit(FORMULA), followup=range(5), n_sim=100, seed=3)
    fit = streamed.fit(FORMULA)
    got = streamed.risk_curves(fit, followup=range(5), n_sim=100, seed=3)
    npt.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-12)
    npt.assert_array_equal(streamed.followup_values(), np.unique(stored.expanded["followup"]))
    other = msm.trial_sequence(_panel(6), materialize=False, **ITT)
    with pytest.raises(ValueError, match="not a fit of this streamed"):
        other.risk_curves(fit, followup=range(3), ci=None)


def test_streamed_sequence_refuses_what_it_cannot_do():
    _, streamed = _both(_panel(1), ITT)
    with pytest.raises(AttributeError, match="materialize=False"):
        streamed.expanded
    with pytest.raises(ValueError, match="np.log"):
        streamed.fit("y ~ assigned + np.log(followup + 1)")
    with pytest.raises(ValueError, match="convergence='r'"):
        streamed.fit(FORMULA, convergence="r")
    with pytest.raises(ValueError, match="stacked"):
        streamed.fit(FORMULA, variance="stacked")
    with pytest.raises(ValueError, match="truncate"):
        streamed.fit(FORMULA, truncate=(5,))
    with pytest.raises(TypeError, match="materialize"):
        msm.trial_sequence(_panel(1), materialize="no", **ITT)
    assert len(streamed.materialized().expanded) == streamed.n_rows


@pytest.mark.parametrize(
    "rhs",
    [
        "assigned + followup + I(followup**2) + trial + I(trial**2) + x",
        "assigned * followup + I(followup**3):x + trial:assigned:x + x",
        "0 + assigned + I(x**2):followup",
        "assigned:I(trial^2) + a",
    ],
)
def test_the_direct_design_is_formulaics(rhs):
    stored, _ = _both(_panel(2), ITT)
    expanded = stored.expanded
    terms = parse_terms(rhs, expanded, "outcome model")
    want = design_matrix(terms, expanded)
    got = fast_design(terms, expanded)
    assert got.names == want.names
    npt.assert_array_equal(got.matrix, want.matrix)
    assert got.matrix.flags.c_contiguous


@pytest.mark.parametrize("args", [ITT, PP], ids=["ITT", "PP"])
def test_the_fit_by_trial_runs_is_the_fit_row_by_row(args):
    # TrialSequence.fit sums each trial's constant columns once per Newton pass
    # (msm._kernels.glm_block_pass); msm.glm on the same expansion goes row by row
    stored, _ = _both(_panel(7), args)
    for rhs in ["assigned + followup + I(followup**2) + trial + I(trial**2) + x",
                "assigned * followup + x"]:  # fmt: skip
        by_runs = stored.fit(f"y ~ {rhs}")
        by_rows = msm.glm(f"y ~ {rhs}", stored.expanded, weights=stored.expanded["weight"],
                          cluster="id", family="binomial", variance="cr1")  # fmt: skip
        _same_fit(by_rows, by_runs, tol=1e-11)
        npt.assert_allclose(by_runs.fitted_values, by_rows.fitted_values, rtol=1e-11)
