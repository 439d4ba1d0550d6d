"""msm.rmst on discrete-time risk curves (msm.risk_curves): closed form and the MSM path."""

import numpy as np
import pandas as pd
import pytest

import msm


def test_constant_hazard_closed_form():
    h = {"always": 0.05, "never": 0.12}
    times = np.arange(24)
    index = pd.MultiIndex.from_product([list(h), times], names=["regime", "month"])
    risk = np.concatenate([1 - (1 - v) ** (times + 1) for v in h.values()])
    curves = pd.DataFrame({"risk": risk}, index=index)
    table = msm.rmst(curves, 12).set_index("regime")
    for regime, hazard in h.items():
        expected = (1 - (1 - hazard) ** 12) / hazard  # sum_{k<12} (1 - h)^k
        assert table.loc[regime, "rmst"] == pytest.approx(expected, rel=1e-12)
        assert table.loc[regime, "rmtl"] == pytest.approx(12 - expected, rel=1e-12)
    assert table.loc["never", "difference"] == 0
    assert table.loc["always", "difference"] == pytest.approx(
        table.loc["always", "rmst"] - table.loc["never", "rmst"]
    )


def test_from_the_msm_risk_curves():
    cohort = msm.datasets.simulate_panel(n_subjects=400, n_visits=6, seed=3, stop_at_event=True)
    w = msm.iptw(cohort, id="id", time="time", treatment="a", denominator="x + l + time",
                 numerator="x + time", absorbing=True)  # fmt: skip
    fit = msm.glm("y ~ a + time", cohort, weights=w, cluster="id", family="binomial")
    curves = msm.risk_curves(fit, cohort, id="id", time="time", treatment="a")
    table = msm.rmst(curves, 6).set_index("regime")
    by_hand = {}
    for regime in ("always", "never"):
        r = curves.loc[regime, "risk"].to_numpy()
        by_hand[regime] = 1 + np.sum(1 - r[:5])
    assert table.loc["always", "rmst"] == pytest.approx(by_hand["always"], rel=1e-12)
    assert table.loc["never", "rmst"] == pytest.approx(by_hand["never"], rel=1e-12)
    with pytest.raises(ValueError, match="bootstrap"):
        msm.rmst(curves, 6, ci="bootstrap")
    with pytest.raises(ValueError, match="consecutive"):
        msm.rmst(curves, 9)
    with pytest.raises(ValueError, match="whole intervals"):
        msm.rmst(curves, 2.5)


def test_competing_causes_constant_hazards():
    h1, h2, tau = 0.06, 0.03, 10
    times = np.arange(12)
    index = pd.MultiIndex.from_product([["always", "never"], times], names=["regime", "month"])
    stay = 1 - h1 - h2
    f1 = h1 / (h1 + h2) * (1 - stay ** (times + 1))
    f2 = h2 / (h1 + h2) * (1 - stay ** (times + 1))
    curves = pd.DataFrame({"risk": np.tile(f1, 2), "failure_risk": np.tile(f2, 2)}, index=index)
    curves.attrs.update(handling="total", competing=["failure"])
    table = msm.rmst(curves, tau).set_index("regime")
    rmst = (1 - stay**tau) / (h1 + h2)
    assert table.loc["always", "rmst"] == pytest.approx(rmst, rel=1e-12)
    assert table.loc["always", "rmst"] + table.loc["always", "rmtl"] + table.loc[
        "always", "rmtl_failure"
    ] == pytest.approx(tau, rel=1e-12)
    assert table.loc["always", "rmtl"] / table.loc["always", "rmtl_failure"] == pytest.approx(
        h1 / h2, rel=1e-12
    )
