"""trial_sequence(...).sample_controls(p, seed): case-control sampling of the expanded rows."""

import numpy as np
import pandas as pd
import pytest

import msm

FORMULA = "y ~ assigned + followup + trial + x"


@pytest.fixture(scope="module")
def seq():
    panel = msm.datasets.simulate_panel(
        n_subjects=1500, n_visits=8, seed=4, stop_at_event=True, censor_coefs=(-3.0, 0.5)
    )
    panel["eligible"] = (panel["time"] < 6).astype(int)
    return msm.trial_sequence(
        panel, id="id", time="time", treatment="a", outcome="y", eligible="eligible",
        censor="lost", censor_numerator="x", censor_denominator="x + l", covariates=["x"],
    )  # fmt: skip


def test_cases_kept_controls_sampled(seq):
    s = seq.sample_controls(0.25, seed=3)
    e, full = s.expanded, seq.expanded
    # every case, with sample weight 1; controls with 1/p
    assert e.y.sum() == full.y.sum()
    assert (e.loc[e.y == 1, "sample_weight"] == 1).all()
    assert (e.loc[e.y == 0, "sample_weight"] == 4).all()
    n_controls = (full.y == 0).sum()
    share = (e.y == 0).sum() / n_controls
    assert abs(share - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n_controls)
    # the sample is a subset of the rows, unchanged, with the positions kept alongside
    merged = e.merge(full, on=["id", "trial", "followup"], suffixes=("", "_full"))
    assert len(merged) == len(e)
    np.testing.assert_array_equal(merged.weight, merged.weight_full)
    assert s.rows.size == len(e) and s.trial_rows.size == len(e)
    # seeded: the same seed gives the same sample; the sequence itself is unchanged
    pd.testing.assert_frame_equal(e, seq.sample_controls(0.25, seed=3).expanded)
    assert not e.equals(seq.sample_controls(0.25, seed=4).expanded)
    assert "sample_weight" not in seq.expanded and seq.sampling is None
    assert len(s.starts) == (full.followup == 0).sum()


def test_analysis_weights_are_the_product(seq):
    s = seq.sample_controls(0.5, seed=1)
    e = s.expanded
    np.testing.assert_array_equal(s.analysis_weights(), e.weight * e.sample_weight)
    w = (e.weight * e.sample_weight).to_numpy()
    np.testing.assert_array_equal(
        s.analysis_weights((None, 90)), np.minimum(w, np.quantile(w, 0.9))
    )


def test_sampled_fit_estimates_the_full_fit(seq):
    """Over 40 seeds, the mean of the sampled-MSM coefficients is within 4 of its standard
    errors (sd over seeds / sqrt(40)) of the full fit's: the sampling weights make the
    estimating equations unbiased for the full ones.  Without the weights (controls
    weighted 1) the intercept is off by about log(p), far outside that."""
    full = seq.fit(FORMULA).params
    p = 0.2
    draws = []
    for seed in range(40):
        draws.append(seq.sample_controls(p, seed=seed).fit(FORMULA).params)
    draws = pd.DataFrame(draws)
    se = draws.std(ddof=1) / np.sqrt(len(draws))
    assert ((draws.mean() - full).abs() < 4 * se + 1e-12).all(), (draws.mean() - full) / se
    # the robust SE from a sample is larger than the full one's (fewer rows), not smaller
    s = seq.sample_controls(p, seed=0)
    assert (s.fit(FORMULA).bse > 0.95 * seq.fit(FORMULA).bse).all()
    unweighted = s.expanded.assign(sample_weight=1.0)
    naive = msm.glm(FORMULA, unweighted, weights=unweighted.weight, cluster="id",
                    family="binomial").params  # fmt: skip
    assert abs(naive["Intercept"] - full["Intercept"] - np.log(1 / p)) < 0.3


def test_risk_curves_over_every_trial_start(seq):
    s = seq.sample_controls(0.3, seed=2)
    fit = s.fit(FORMULA)
    rc = s.risk_curves(fit, followup=range(4), ci=None)
    # the same as standardizing the sampled fit over the full sequence's start rows
    ref = s.risk_curves(fit, followup=range(4), ci=None, predict_rows=seq.expanded)
    pd.testing.assert_frame_equal(rc, ref)
    # the bootstrap re-emulates each replicate with the same sampling
    again = s.emulate_on(seq_data(seq))
    assert again.sampling == s.sampling
    pd.testing.assert_frame_equal(again.expanded, s.expanded)


def seq_data(seq):
    panel = msm.datasets.simulate_panel(
        n_subjects=1500, n_visits=8, seed=4, stop_at_event=True, censor_coefs=(-3.0, 0.5)
    )
    panel["eligible"] = (panel["time"] < 6).astype(int)
    return panel


def test_bad_arguments(seq):
    for p in (0, 1.5, -0.1, True, "0.2"):
        with pytest.raises(ValueError, match="probability"):
            seq.sample_controls(p)
    with pytest.raises(ValueError, match="seed"):
        seq.sample_controls(0.5, seed="one")
    with pytest.raises(ValueError, match="a sample already"):
        seq.sample_controls(0.5, seed=1).sample_controls(0.5)
