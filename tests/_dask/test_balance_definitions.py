"""The Dask balance: the same definitions and numbers as in memory, whatever the partitions'
weight scales."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import msm  # noqa: E402


def frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"id": np.arange(n), "a": rng.integers(0, 2, n), "x": rng.normal(size=n),
                      "z": rng.integers(0, 2, n)})  # fmt: skip
    # the partitions' weights differ by a factor 8: each partition's own power-of-two scale
    # differs, and their sums must still add up on one scale
    d["w"] = np.where(d.id < n // 2, 1.0, 8.0) * rng.uniform(0.5, 1.5, n)
    return d


@pytest.mark.parametrize("sd", ["pooled", "treated", "control", "weighted"])
@pytest.mark.parametrize("binary", ["std", "raw"])
def test_same_numbers_as_in_memory(sd, binary):
    d = frame()
    args = dict(treatment="a", covariates=["x", "z"], weights="w", sd_denominator=sd,
                binary=binary)  # fmt: skip
    memory = msm.balance(d, **args).table
    lazy = msm.balance(dd.from_pandas(d, npartitions=3, sort=False), **args).table
    np.testing.assert_allclose(lazy.weighted, memory.weighted, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lazy.unweighted, memory.unweighted, rtol=1e-12, atol=1e-14)


def test_refused_options():
    d = frame()
    lazy = dd.from_pandas(d.assign(site=np.where(d.x > 0, "p", "q")), npartitions=2, sort=False)
    with pytest.raises(NotImplementedError, match="weights_as"):
        msm.balance(lazy, treatment="a", covariates=["x"], weights="w", weights_as="final",
                    id="id", time="z")  # fmt: skip
    with pytest.raises(NotImplementedError, match="categorical"):
        msm.balance(lazy, treatment="a", covariates="x + site", weights="w")
