"""bias_sensitivity: Brumback et al.'s bias-corrected MSM recovers the truth under the true
confounding function; the correction by hand; the tipping point."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import msm


def confounded(n=60_000, seed=4, gamma=2.0, beta=1.0):
    """A point treatment confounded by L (measured) and U (not): the true confounding
    function is known in closed form."""
    rng = np.random.default_rng(seed)
    l = rng.normal(size=n)  # noqa: E741
    u = rng.binomial(1, 0.5, n)
    p = expit(-0.3 + 0.8 * l + 1.2 * u)
    a = rng.binomial(1, p)
    y = 1 + beta * a + 0.5 * l + gamma * u + rng.normal(size=n)
    d = pd.DataFrame({"id": np.arange(n), "l": l, "a": a, "y": y})
    p0, p1 = expit(-0.3 + 0.8 * l), expit(-0.3 + 0.8 * l + 1.2)
    u_if_treated = p1 / (p1 + p0)  # E[U | A = 1, L] (P(U = 1) = 1/2)
    u_if_untreated = (1 - p1) / ((1 - p1) + (1 - p0))
    c_treated = gamma * (u_if_treated - u_if_untreated)  # c(1, l); c(0, l) = -c(1, l)
    true_bias = np.where(a == 1, c_treated, -c_treated)
    return d, true_bias


def test_true_bias_function_recovers_the_truth():
    d, c = confounded()
    w = msm.iptw(d, id="id", time=None, treatment="a", denominator="l")

    def fit(frame):
        return msm.glm("y ~ a", frame, weights=w)

    s = msm.bias_sensitivity(fit, d, weights=w, outcome="y", term="a",
                             bias=lambda frame: c, strengths=[0.0, 0.5, 1.0])  # fmt: skip
    at = s.table.set_index("strength")
    naive = at.loc[0.0]
    corrected = at.loc[1.0]
    # no correction: biased upward by the unmeasured U (far outside its interval)
    assert naive["lower"] > 1.3
    # the true confounding function: back to beta = 1 (within 3 SE; the weights' logistic
    # model in l is close to, not exactly, the mixture over U)
    assert abs(corrected["estimate"] - 1.0) < 3 * corrected["std_error"]
    assert naive["estimate"] > at.loc[0.5, "estimate"] > corrected["estimate"]


def test_correction_by_hand_and_cumulative():
    d = msm.datasets.simulate_panel(n_subjects=200, n_visits=4, seed=3)
    w = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l + time",
                 absorbing=True)  # fmt: skip
    c = np.where(d.a == 1, 0.1, -0.05)
    s = msm.bias_sensitivity(lambda f: msm.glm("y ~ a", f, weights=w, cluster="id"), d,
                             weights=w, outcome="y", term="a", bias=lambda f: c,
                             strengths=[0.0, 1.0])  # fmt: skip
    # P(other decision) from the denominator model on the risk set, 0 after the start
    p_a = np.exp(w.panel.unsort(w.log_factors["denominator"]))
    other = np.where(w.risk_set, 1 - p_a, 0.0)
    step = pd.Series(c * other, index=d.index)
    expected = step.groupby(d.id).cumsum()
    np.testing.assert_allclose(s.correction, expected, rtol=1e-12, atol=1e-15)
    own = msm.bias_sensitivity(lambda f: msm.glm("y ~ a", f, weights=w, cluster="id"), d,
                               weights=w, outcome="y", term="a", bias=lambda f: c,
                               strengths=[1.0], cumulative=False)  # fmt: skip
    np.testing.assert_allclose(own.correction, step, rtol=1e-12)
    refit = msm.glm("y ~ a", d.assign(y=d.y - expected), weights=w, cluster="id")
    assert s.table.estimate.iloc[1] == pytest.approx(refit.params["a"], rel=1e-12)


def test_tipping_point():
    d, c = confounded(n=20_000, seed=5, gamma=2.0, beta=0.4)
    w = msm.iptw(d, id="id", time=None, treatment="a", denominator="l")
    grid = np.linspace(0, 2, 21)
    s = msm.bias_sensitivity(lambda f: msm.glm("y ~ a", f, weights=w), d, weights=w,
                             outcome="y", term="a", bias=lambda f: c, strengths=grid)  # fmt: skip
    t = s.table
    j = int(np.flatnonzero(t.covers_null)[0])
    assert s.tipping_point == pytest.approx(grid[j])
    assert not t.covers_null.iloc[:j].any()
    assert grid[j - 1] <= s.tipping_interpolated <= grid[j]
    assert "first covers 0" in repr(s)


def test_bad_arguments():
    d, c = confounded(n=500)
    w = msm.iptw(d, id="id", time=None, treatment="a", denominator="l")
    fit = lambda f: msm.glm("y ~ a", f, weights=w)  # noqa: E731
    with pytest.raises(ValueError, match="increasing"):
        msm.bias_sensitivity(fit, d, weights=w, outcome="y", term="a", bias=lambda f: c,
                             strengths=[1.0, 0.5])  # fmt: skip
    with pytest.raises(ValueError, match="one finite number per row"):
        msm.bias_sensitivity(fit, d, weights=w, outcome="y", term="a", bias=lambda f: c[:10])
    with pytest.raises(ValueError, match="other rows"):
        msm.bias_sensitivity(fit, d.iloc[:100], weights=w, outcome="y", term="a",
                             bias=lambda f: c[:100])  # fmt: skip
    with pytest.raises(KeyError, match="no term"):
        msm.bias_sensitivity(fit, d, weights=w, outcome="y", term="b", bias=lambda f: c)
    with pytest.raises(TypeError, match="Weights"):
        msm.bias_sensitivity(fit, d, weights=np.ones(500), outcome="y", term="a",
                             bias=lambda f: c)  # fmt: skip
