"""msm.balance's definitions side by side with cobalt's and zEpid's, by hand."""

import numpy as np
import pandas as pd
import pytest

import msm


def frame(n=500, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.binomial(1, 0.3, n)
    site = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    a = rng.binomial(1, 1 / (1 + np.exp(-(x + (site == "c") - 0.5))))
    w = rng.uniform(0.2, 3.0, n)
    return pd.DataFrame({"id": np.arange(n), "a": a, "x": x, "z": z, "site": site, "w": w})


def by_hand(d, column, sd, binary="std"):
    t, c = d[d.a == 1], d[d.a == 0]
    wm = lambda g: np.average(g[column], weights=g.w)  # noqa: E731
    diff_u = t[column].mean() - c[column].mean()
    diff_w = wm(t) - wm(c)
    is01 = set(d[column].unique()) <= {0, 1}
    if is01 and binary == "raw":
        return diff_u, diff_w
    var = lambda g: g[column].mean() * (1 - g[column].mean()) if is01 else g[column].var()  # noqa: E731
    s1, s0 = var(t), var(c)
    denominator = {"pooled": np.sqrt((s1 + s0) / 2), "treated": np.sqrt(s1),
                   "control": np.sqrt(s0)}  # fmt: skip
    if sd == "weighted":  # zEpid: weighted variances, divisor sum(w) - 1, pooled

        def wvar(g):
            m = wm(g)
            if is01:
                return m * (1 - m)
            return np.sum(g.w * (g[column] - m) ** 2) / (g.w.sum() - 1)

        return diff_u / denominator["pooled"], diff_w / np.sqrt((wvar(t) + wvar(c)) / 2)
    return diff_u / denominator[sd], diff_w / denominator[sd]


@pytest.mark.parametrize("sd", ["pooled", "treated", "control", "weighted"])
@pytest.mark.parametrize("binary", ["std", "raw"])
def test_smd_definitions(sd, binary):
    d = frame()
    table = msm.balance(d, treatment="a", covariates=["x", "z"], weights="w",
                        sd_denominator=sd, binary=binary).table  # fmt: skip
    smd = table[table.stat == "smd"].set_index("covariate")
    for column in ("x", "z"):
        u, w = by_hand(d, column, sd, binary)
        assert smd.loc[column, "unweighted"] == pytest.approx(u, rel=1e-12)
        assert smd.loc[column, "weighted"] == pytest.approx(w, rel=1e-12)


def test_final_weights_at_every_time():
    panel = msm.datasets.simulate_panel(n_subjects=300, seed=3)
    w = msm.iptw(panel, id="id", time="time", treatment="a", denominator="x + l + time",
                 numerator="x + time")  # fmt: skip
    final = msm.balance(panel, covariates=["l"], weights=w, weights_as="final").table
    last = panel.assign(w=w.weights).sort_values(["id", "time"]).groupby("id").w.last()
    by_hand = msm.balance(panel.assign(fw=panel.id.map(last)), treatment="a", covariates=["l"],
                          weights="fw", time="time", id="id").table  # fmt: skip
    pd.testing.assert_series_equal(final.weighted, by_hand.weighted)
    cumulative = msm.balance(panel, covariates=["l"], weights=w).table
    assert not np.allclose(cumulative.weighted, final.weighted)


def test_categorical_levels_and_multivariate_smd():
    d = frame()
    table = msm.balance(d, treatment="a", covariates="x + site", weights="w").table
    smd = table[table.stat == "smd"].set_index("covariate")
    # every level listed, the reference (a) included, after the factor's own row
    assert list(smd.index) == ["x", "site", "site[T.a]", "site[T.b]", "site[T.c]"]
    for level in "abc":
        dummy = d.assign(ind=(d.site == level).astype(int))
        u, w = by_hand(dummy, "ind", "pooled")
        assert smd.loc[f"site[T.{level}]", "weighted"] == pytest.approx(w, rel=1e-12)
    # zEpid's multivariate SMD over levels b, c from the weighted proportions
    t, c = d[d.a == 1], d[d.a == 0]
    p1 = np.array([np.average(t.site == v, weights=t.w) for v in "bc"])
    p0 = np.array([np.average(c.site == v, weights=c.w) for v in "bc"])
    S = -(np.outer(p1, p1) + np.outer(p0, p0)) / 2
    np.fill_diagonal(S, (p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    T = p1 - p0
    assert smd.loc["site", "weighted"] == pytest.approx(np.sqrt(T @ np.linalg.solve(S, T)))
    none = msm.balance(d, treatment="a", covariates="x + site", multivariate=False).table
    assert "site" not in set(none.covariate)


def test_bad_options():
    d = frame()
    for name, value in [("binary", "standard"), ("sd_denominator", "all"),
                        ("weights_as", "last")]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            msm.balance(d, treatment="a", covariates=["x"], **{name: value})
    with pytest.raises(TypeError, match="weights_as='final' needs id"):
        msm.balance(d, treatment="a", covariates=["x"], weights="w", weights_as="final")
