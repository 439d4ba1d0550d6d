"""Properties that must hold whatever the data look like (hypothesis)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import msm

COHORT = msm.datasets.simulate_panel(400, 6, seed=21, censor_coefs=(-3.0, 0.5))
SPEC = dict(
    treatment="a", denominator="x + l + time", numerator="x + time", absorbing=True, censor="lost"
)
BASE = msm.iptw(COHORT, id="id", time="time", **SPEC).weights.to_numpy()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    relabel=st.sampled_from(["none", "strings", "negative", "shuffled-ints", "floats"]),
    new_index=st.booleans(),
)
def test_weights_invariant_to_row_order_and_id_labels(seed, relabel, new_index):
    rng = np.random.default_rng(seed)
    df = COHORT
    ids = df["id"].to_numpy()
    n_ids = ids.max() + 1
    mapping = {
        "none": np.arange(n_ids),
        "strings": np.array([f"P{rng.integers(1e9)}-{i}" for i in range(n_ids)], dtype=object),
        "negative": -np.arange(n_ids) * 7 - 1,
        "shuffled-ints": rng.permutation(n_ids) * 3,
        "floats": rng.permutation(n_ids) + 0.5,
    }[relabel]
    df = df.assign(id=mapping[ids])
    order = rng.permutation(len(df))
    shuffled = df.iloc[order]
    if new_index:
        shuffled = shuffled.set_axis(pd.Index(rng.permutation(len(df)) + 10_000))
    w = msm.iptw(shuffled, id="id", time="time", **SPEC)
    assert w.weights.index.equals(shuffled.index)
    npt.assert_allclose(w.weights.to_numpy(), BASE[order], rtol=1e-10)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_mean_stabilized_weight_is_one_with_correct_model(seed):
    # E[SW_t] = 1 at every t when the denominator is the true treatment model (any proper
    # numerator).  5000 subjects: the standard error of the mean is about 0.005.
    data = msm.datasets.simulate_panel(5000, 8, seed=seed)
    w = msm.iptw(
        data,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x + time",
        absorbing=True,
    )
    assert abs(w.weights.mean() - 1.0) < 0.02
    by_time = w.weights.groupby(data["time"]).mean()
    assert (by_time.sub(1.0).abs() < 0.05).all()
