"""A covariate far from 0 relative to its spread, and extreme weight scales (issue 10, 7 and 10).

A shifted covariate (``l + 1e5``, ``l * 1e-6 + 1e8``) is the same model as the unshifted one:
slopes equal, the intercept moved by ``-centre * slope``, every variance mapped by the same
linear map.  The reference fits use the unshifted column recovered exactly from the shifted
one (``s - 1e5`` and ``(s - 1e8) * 1e6`` are exact or correctly rounded), so the comparison
measures the fit, not the rounding of the shifted data.  The Dask front end gives the
in-memory numbers for shifted covariates and for weights times 1e-200 and 1e200.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import msm
from msm import inference
from msm.inference import ModelBased

RTOL = 1e-9

# name -> (shift the column, recover it exactly, slope factor, centre)
SHIFTS = {
    "plus_1e5": (lambda v: v + 1e5, lambda s: s - 1e5, 1.0, 1e5),
    "scaled_1e-6_plus_1e8": (lambda v: v * 1e-6 + 1e8, lambda s: (s - 1e8) * 1e6, 1e6, 1e8),
}
FAMILIES = {"gaussian": "g", "binomial": "y", "poisson": "count"}
VARIANCES = ["robust", "cr1", "cr1s", "model", "model_fixed", "stacked"]
IPTW = dict(id="id", time="time", treatment="a", numerator="x + time", absorbing=True)


def _variance(name):
    return ModelBased(dispersion=1.0) if name == "model_fixed" else name


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    data = msm.datasets.simulate_panel(n_subjects=250, seed=21)
    rng = np.random.default_rng(4)
    data["g"] = data["l"] + 0.5 * data["a"] + rng.normal(size=len(data))
    data["count"] = rng.poisson(np.exp(0.1 + 0.3 * data["l"]))
    data.index = pd.RangeIndex(500, 500 + len(data))
    return data


def shifted(base: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``base`` with ``ls`` (the shifted l) and ``lr`` (l recovered exactly from ``ls``)."""
    forward, back, _, _ = SHIFTS[kind]
    data = base.assign(ls=forward(base["l"]))
    return data.assign(lr=back(data["ls"]))


def expected_map(kind: str, p: int, column: int) -> np.ndarray:
    """``M`` with (shifted fit's coefficients) = ``M`` @ (reference fit's coefficients)."""
    _, _, factor, centre = SHIFTS[kind]
    M = np.eye(p)
    M[column, column] = factor
    M[0, column] = -centre * factor
    return M


def close(actual, expected, rtol=RTOL) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=0)


def assert_same_fit(got, reference, M) -> None:
    """params, cov and bse of ``got`` equal ``M`` applied to ``reference``'s (1e-9 relative)."""
    params = M @ reference.params.to_numpy()
    cov = M @ reference.cov.to_numpy() @ M.T
    close(got.params, params)
    close(got.bse, np.sqrt(np.diag(cov)))
    # the slopes' covariance entry by entry (the intercept row carries the centre's factor)
    close(got.cov.to_numpy()[1:, 1:], cov[1:, 1:], rtol=1e-8)


def unchanged(data: pd.DataFrame):
    """A context check: the caller's frame is not modified (values, dtypes, index, order)."""
    before = data.copy(deep=True)

    def check():
        pd.testing.assert_frame_equal(data, before, check_exact=True)
        assert list(data.columns) == list(before.columns)
        assert data.dtypes.equals(before.dtypes)

    return check


# --- in memory: msm.glm with a shifted covariate in the outcome model ----------------------


@pytest.mark.parametrize("kind", list(SHIFTS))
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variance", VARIANCES)
def test_glm_shifted_covariate_every_variance(base, kind, family, variance):
    data = shifted(base, kind)
    weights = msm.iptw(data, denominator="x + l + time", **IPTW)
    y = FAMILIES[family]
    check = unchanged(data)
    kw = dict(weights=weights, cluster="id", family=family, variance=_variance(variance))
    reference = msm.glm(f"{y} ~ lr + a", data, **kw)
    got = msm.glm(f"{y} ~ ls + a", data, **kw)
    check()
    assert got.sandwich_parts.centred is not None  # the shifted design was centred
    assert reference.sandwich_parts.centred is None
    assert_same_fit(got, reference, expected_map(kind, 3, 1))
    assert got.deviance == pytest.approx(reference.deviance, rel=1e-12)


@pytest.mark.parametrize("kind", list(SHIFTS))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_glm_shifted_covariate_r_convergence_and_no_cluster(base, kind, family):
    data = shifted(base, kind)
    y = FAMILIES[family]
    for kw in (dict(convergence="r", cluster="id"), dict(weights=np.linspace(0.5, 2.0, len(data)))):
        for variance in ["robust", "cr1s", "model"]:
            reference = msm.glm(f"{y} ~ a + lr", data, family=family, variance=variance, **kw)
            got = msm.glm(f"{y} ~ a + ls", data, family=family, variance=variance, **kw)
            assert_same_fit(got, reference, expected_map(kind, 3, 2))


@pytest.mark.parametrize("kind", list(SHIFTS))
def test_other_variances_and_bread_without_refitting(base, kind):
    data = shifted(base, kind)
    kw = dict(cluster="id", family="binomial")
    reference = msm.glm("y ~ lr + a", data, **kw)
    got = msm.glm("y ~ ls + a", data, **kw)
    M = expected_map(kind, 3, 1)
    for variance in ["cr1", "cr1s", "model"]:
        close(
            np.sqrt(np.diag(got.cov_for(variance))),
            np.sqrt(np.diag(M @ reference.cov_for(variance) @ M.T)),
        )
        close(
            got.with_variance(variance).bse, np.sqrt(np.diag(M @ reference.cov_for(variance) @ M.T))
        )
    bread = M @ reference.bread().to_numpy() @ M.T
    close(np.diag(got.bread()), np.diag(bread))


@pytest.mark.parametrize("kind", list(SHIFTS))
def test_stacked_variance_with_a_shifted_covariate_in_the_weight_model(base, kind):
    data = shifted(base, kind)
    check = unchanged(data)
    w_reference = msm.iptw(data, denominator="x + lr + time", **IPTW)
    w_shifted = msm.iptw(data, denominator="x + ls + time", **IPTW)
    check()
    assert w_shifted.models["denominator"].centring is not None
    # the weights themselves: the linear predictor is computed on the centred design
    close(w_shifted.weights, w_reference.weights, rtol=1e-12)
    M_den = expected_map(kind, 4, 2)
    den_ref, den = w_reference.models["denominator"], w_shifted.models["denominator"]
    close(den.params, M_den @ den_ref.params.to_numpy())
    close(den.bse, np.sqrt(np.diag(M_den @ den_ref.cov.to_numpy() @ M_den.T)))
    for rhs, M in [("a + time", np.eye(3)), ("a + ls", expected_map(kind, 3, 2))]:
        kw = dict(cluster="id", family="binomial", variance="stacked")
        reference = msm.glm(f"y ~ {rhs.replace('ls', 'lr')}", data, weights=w_reference, **kw)
        got = msm.glm(f"y ~ {rhs}", data, weights=w_shifted, **kw)
        assert_same_fit(got, reference, M)
        # the whole stacked system, the weight model's block included
        full_ref = reference.sandwich_parts.stacked().cov()
        full = got.sandwich_parts.stacked().cov()
        T = np.eye(full.shape[0])
        T[:4, :4] = M_den
        T[-3:, -3:] = M
        close(np.sqrt(np.diag(full)), np.sqrt(np.diag(T @ full_ref @ T.T)))


def test_stacked_variance_with_shifted_censoring_models(base):
    data = msm.datasets.simulate_panel(n_subjects=300, seed=5, censor_coefs=(-3.0, 0.4))
    data = shifted(data, "plus_1e5")
    kw = dict(IPTW, censor="lost")
    w_reference = msm.iptw(data, denominator="x + lr + time", **kw)
    w_shifted = msm.iptw(data, denominator="x + ls + time", **kw)
    assert w_shifted.models["censor_denominator"].centring is not None
    close(w_shifted.weights, w_reference.weights, rtol=1e-12)
    fit_kw = dict(cluster="id", family="binomial", variance="stacked")
    reference = msm.glm("y ~ a + time", data, weights=w_reference, **fit_kw)
    got = msm.glm("y ~ a + time", data, weights=w_shifted, **fit_kw)
    close(got.params, reference.params)
    close(got.bse, reference.bse)


def test_bootstrap_of_a_shifted_fit(base):
    data = shifted(base, "plus_1e5")
    M = expected_map("plus_1e5", 3, 2)

    def statistic(column):
        return lambda d: msm.glm(f"y ~ a + {column}", d, cluster="id", family="binomial").params

    kw = dict(cluster="id", n_boot=4, seed=3, n_jobs=1, progress=False)
    reference = msm.bootstrap(statistic("lr"), data, **kw)
    got = msm.bootstrap(statistic("ls"), data, **kw)
    close(got.replicates.to_numpy(), reference.replicates.to_numpy() @ M.T)
    fit = msm.glm("y ~ a + ls", data, cluster="id", family="binomial")
    close(fit.with_variance(inference.Bootstrap(got)).bse, got.bse, rtol=1e-14)


def test_fit_logit_keeps_the_centring_for_its_probabilities():
    rng = np.random.default_rng(3)
    n = 2000
    l = rng.normal(size=n)  # noqa: E741
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * l)))).astype(float)
    s = l * 1e-6 + 1e8
    X_shift = np.column_stack([np.ones(n), s])
    X_ref = np.column_stack([np.ones(n), (s - 1e8) * 1e6])
    shifted_fit = msm.models.fit_logit(X_shift, y, ["Intercept", "l"])
    reference = msm.models.fit_logit(X_ref, y, ["Intercept", "l"])
    assert shifted_fit.centring is not None and reference.centring is None
    close(shifted_fit.params["l"], reference.params["l"] * 1e6)
    close(shifted_fit.bse["l"], reference.bse["l"] * 1e6)
    close(
        msm.models.log_prob(shifted_fit, X_shift, y),
        msm.models.log_prob(reference, X_ref, y),
        1e-12,
    )


# --- ordinary data: the fast path is untouched ---------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
def test_ordinary_data_uses_the_uncentred_fast_path(base, family):
    weights = msm.iptw(base, denominator="x + l + time", **IPTW)
    assert all(fit.centring is None for fit in weights.models.values())
    fit = msm.glm(f"{FAMILIES[family]} ~ a + l", base, weights=weights, cluster="id", family=family)
    parts = fit.sandwich_parts
    assert parts.centred is None
    # exactly the uncentred sandwich of the parts' information and meat
    expected = inference.sandwich(inference.bread(parts.information), parts.meat)
    np.testing.assert_array_equal(fit.cov.to_numpy(), expected)
    stacked = fit.cov_for("stacked").to_numpy()
    system = parts.stacked()
    assert system.transform is None
    inverse = np.linalg.inv(system.information)
    full = inverse @ system.meat @ inverse.T
    np.testing.assert_array_equal(stacked, ((full + full.T) / 2.0)[-3:, -3:])


def test_collinear_shifted_covariates_are_still_named(base):
    data = shifted(base, "plus_1e5").assign(l2=lambda d: 3.0 * d["ls"] - 1e5)
    with pytest.raises(msm.DataError) as err:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            msm.glm("y ~ a + ls + l2", data, family="binomial")
    assert "ls" in str(err.value) and "l2" in str(err.value)


# --- Dask: the in-memory numbers for shifted covariates and extreme weight scales ----------

DASK_RTOL = 1e-10


@pytest.fixture
def dd():
    """dask.dataframe, run on the threaded scheduler (skips cleanly without dask)."""
    dask = pytest.importorskip("dask")
    dataframe = pytest.importorskip("dask.dataframe")
    with dask.config.set(scheduler="threads"):
        yield dataframe


def dask_close(actual, expected) -> None:
    close(actual, expected, rtol=DASK_RTOL)


@pytest.fixture(scope="module")
def censored() -> pd.DataFrame:
    data = msm.datasets.simulate_panel(n_subjects=240, seed=8, censor_coefs=(-3.0, 0.4))
    rng = np.random.default_rng(9)
    data["g"] = data["l"] + rng.normal(size=len(data))
    data["count"] = rng.poisson(np.exp(0.1 + 0.3 * data["l"]))
    data["w0"] = rng.uniform(0.5, 2.0, len(data))
    data.index = pd.RangeIndex(100, 100 + len(data))
    return data


@pytest.mark.parametrize("kind", list(SHIFTS))
def test_dask_shifted_covariate_gives_the_in_memory_numbers(dd, censored, kind):
    data = shifted(censored, kind)
    check = unchanged(data)
    frame = dd.from_pandas(data, npartitions=3, sort=False)
    kw = dict(IPTW, denominator="x + ls + time", censor="lost")
    memory = msm.iptw(data, **kw)
    distributed = msm.iptw(frame, **kw)  # no spurious "collinear" for the shifted column
    for key, fit in memory.models.items():
        assert (distributed.models[key].centring is None) == (fit.centring is None)
        dask_close(distributed.models[key].params, fit.params)
        dask_close(distributed.models[key].bse, fit.bse)
    assert memory.models["denominator"].centring is not None
    dask_close(distributed.weights.compute().loc[data.index], memory.weights)
    for family, y in FAMILIES.items():
        for variance in ["robust", "cr1", "cr1s", "model"]:
            fit_kw = dict(cluster="id", family=family, variance=variance)
            expected = msm.glm(f"{y} ~ a + ls", data, weights=memory, **fit_kw)
            got = msm.glm(f"{y} ~ a + ls", frame, weights=distributed, **fit_kw)
            assert got.sandwich_parts.centred is not None
            dask_close(got.params, expected.params)
            dask_close(got.bse, expected.bse)
            assert got.deviance == pytest.approx(expected.deviance, rel=DASK_RTOL)
    check()


def test_dask_shifted_fit_equals_the_unshifted_fit(dd, censored):
    data = shifted(censored, "scaled_1e-6_plus_1e8")
    frame = dd.from_pandas(data, npartitions=2, sort=False)
    reference = msm.glm("y ~ a + lr", data, cluster="id", family="binomial")
    got = msm.glm("y ~ a + ls", frame, cluster="id", family="binomial")
    assert_same_fit(got, reference, expected_map("scaled_1e-6_plus_1e8", 3, 2))


def test_dask_offset_and_column_weights_with_a_shift(dd, censored):
    data = shifted(censored, "plus_1e5").assign(exposure=lambda d: np.log(1.0 + d["time"]))
    frame = dd.from_pandas(data, npartitions=3, sort=False)
    kw = dict(weights="w0", offset="exposure", family="poisson")
    expected = msm.glm("count ~ a + ls", data, **kw)
    got = msm.glm("count ~ a + ls", frame, **kw)
    dask_close(got.params, expected.params)
    dask_close(got.bse, expected.bse)
    assert got.n_iter == expected.n_iter  # the same start (the offset included) and path


@pytest.mark.parametrize("rhs", ["0 + a + Intercept", "a + Intercept"])
def test_dask_column_named_intercept_is_a_covariate(dd, censored, rhs):
    data = censored.assign(Intercept=censored["l"] + 1e5)
    frame = dd.from_pandas(data, npartitions=3, sort=False)
    expected = msm.glm(f"y ~ {rhs}", data, cluster="id", family="binomial")
    got = msm.glm(f"y ~ {rhs}", frame, cluster="id", family="binomial")
    assert list(got.params.index) == list(expected.params.index)
    dask_close(got.params, expected.params)
    dask_close(got.bse, expected.bse)


def test_dask_collinear_and_constant_columns_are_named(dd, censored):
    data = shifted(censored, "plus_1e5").assign(
        l2=lambda d: 3.0 * d["ls"] - 1e5, flat=1e5 + 0.0 * censored["l"]
    )
    frame = dd.from_pandas(data, npartitions=3, sort=False)
    for rhs, named in [("a + ls + l2", ("ls", "l2")), ("a + ls + flat", ("flat",))]:
        with pytest.raises(msm.DataError) as memory_error:
            msm.glm(f"y ~ {rhs}", data, family="binomial")
        with pytest.raises(msm.DataError) as dask_error:
            msm.glm(f"y ~ {rhs}", frame, family="binomial")
        for message in (str(memory_error.value), str(dask_error.value)):
            assert all(repr(name) in message for name in named), message
        assert dask_error.value.column == memory_error.value.column


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_dask_glm_is_invariant_to_the_weight_scale(dd, censored, scale):
    data = censored.assign(w_scaled=censored["w0"] * scale)
    frame = dd.from_pandas(data, npartitions=3, sort=False)
    for family, y in FAMILIES.items():
        for variance in ["robust", "cr1", "cr1s", "model"]:
            kw = dict(cluster="id", family=family, variance=variance)
            unscaled = msm.glm(f"{y} ~ a + x", data, weights="w0", **kw)
            expected = msm.glm(f"{y} ~ a + x", data, weights="w_scaled", **kw)
            got = msm.glm(f"{y} ~ a + x", frame, weights="w_scaled", **kw)
            assert np.all(np.isfinite(got.bse)) and np.all(got.bse > 0)
            dask_close(got.params, expected.params)
            dask_close(got.bse, expected.bse)
            dask_close(got.bse, unscaled.bse)
            assert got.deviance == pytest.approx(expected.deviance, rel=DASK_RTOL)
            assert got.sum_weights == pytest.approx(expected.sum_weights, rel=1e-12)
            assert got.dispersion == pytest.approx(expected.dispersion, rel=DASK_RTOL)
    fixed = ModelBased(dispersion=1.0)  # case counts: the variance scales with 1 / scale
    expected = msm.glm("y ~ a + x", data, weights="w_scaled", family="binomial", variance=fixed)
    got = msm.glm("y ~ a + x", frame, weights="w_scaled", family="binomial", variance=fixed)
    dask_close(got.bse, expected.bse)


def test_dask_weight_exponent_equals_the_in_memory_one(dd):
    from msm._dask.outcome import weight_exponent_of
    from msm.weights import weight_exponent

    rng = np.random.default_rng(2)
    for scale in [1.0, 3e10, 1e-200, 1e200, 1e300]:
        w = rng.uniform(0.0, 2.0, 1000) * scale
        w[:10] = 0.0
        parts = np.array_split(w, 4)
        counts = []
        for part in parts:
            positive = part[part > 0]
            top = int(np.frexp(positive.max())[1])
            counts.append(
                {"n_obs": positive.size, "top": top, "scaled_sum": np.ldexp(positive, -top).sum()}
            )
        assert weight_exponent_of(counts) == weight_exponent(w)
