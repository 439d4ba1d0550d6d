"""Bootstrap replicates that re-use work done once on the original data give the same numbers.

A resample made by ``msm.bootstrap`` is registered with its provenance (the original frame
and the rows drawn), and a row-local formula's design is gathered from the design built once
on the original.  Each test runs a statistic on a registered resample (the fast path) and on
``frame.copy()`` of it (unregistered: the ordinary path) and asks for the same numbers, bit
for bit; and checks that the fast path was taken where it should be, or not taken where a
statistic changed a column or the formula learns from the data.
"""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msm
from msm._bootstrap import Origin, Resampler, provenance_of
from msm._formula import design_matrix, is_row_local, parse_terms, rebuild

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jdm_ivig.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("jdm_ivig_reuse", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def jdm(example):
    return example.prepare(msm.datasets.simulate_jdm(n_patients=300, seed=4))


@pytest.fixture(scope="module")
def panel():
    return msm.datasets.simulate_panel(n_subjects=300, n_visits=6, seed=2, stop_at_event=True)


def resamples(data, n, seed=3):
    """``n`` registered resamples of ``data`` (sharing one Origin), as the bootstrap makes."""
    origin = Origin(data)
    resampler = Resampler.from_data(data, "id")
    children = np.random.SeedSequence(seed).spawn(n)
    return origin, [resampler.resample(data, np.random.default_rng(c), origin) for c in children]


def gathered_formulas(origin):
    """Formula texts whose design was built once on the original and gathered."""
    return {text for (text, _), entry in origin.designs.items() if entry is not None}


def test_jdm_statistic_is_bit_identical_through_the_fast_path(example, jdm):
    origin, frames = resamples(jdm, 4)
    for frame in frames:
        fast = example.msm_estimates(frame)
        ordinary = example.msm_estimates(frame.copy())
        pd.testing.assert_series_equal(fast, ordinary, check_exact=True, rtol=0, atol=0)
    # the MSM (ivig + month + I(month ** 2)) was gathered, not rebuilt
    assert "ivig + month + I(month**2)" in gathered_formulas(origin)


def test_bootstrap_replicates_equal_the_ordinary_path(example, jdm):
    boot = msm.bootstrap(
        example.msm_estimates, jdm, cluster="id", n_boot=4, seed=11, n_jobs=1, progress=False
    )
    resampler = Resampler.from_data(jdm, "id")
    children = np.random.SeedSequence(11).spawn(4)
    expected = pd.DataFrame(
        [example.msm_estimates(resampler.resample(jdm, np.random.default_rng(c))) for c in children]
    )
    np.testing.assert_array_equal(boot.replicates.to_numpy(), expected.to_numpy())


def msm_fit(d, formula="y ~ a + time + I(time**2)"):
    w = msm.iptw(
        d,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + I(l**2) + time",
        numerator="x + time",
        absorbing=True,
    )
    fit = msm.glm(formula, d, weights=w, cluster="id", family="binomial")
    curves = msm.risk_curves(fit, d, id="id", time="time", treatment="a")
    return pd.concat([fit.params, w.weights.describe(), curves["risk"].reset_index(drop=True)])


def test_a_statistic_that_changes_a_column_is_noticed(panel):
    def shifted(d):
        d["time"] = d["time"] * 2 + 1  # in place, on the registered frame
        d["l"] = np.where(d["id"] % 2 == 0, d["l"], -d["l"])  # depends on the relabelled id
        return msm_fit(d)

    _, frames = resamples(panel, 3)
    for frame in frames:
        copy = frame.copy()
        fast = shifted(frame)
        ordinary = shifted(copy)
        pd.testing.assert_series_equal(fast, ordinary, check_exact=True, rtol=0, atol=0)
    # each design was compared with the original's rows and built afresh: the results differ
    # from the unchanged statistic's
    plain = msm_fit(frames[0].copy())
    changed = shifted(frames[0].copy())
    assert not np.allclose(plain.to_numpy(), changed.to_numpy())


def test_unchanged_statistic_on_the_panel_is_bit_identical(panel):
    origin, frames = resamples(panel, 3)
    for frame in frames:
        fast = msm_fit(frame)
        ordinary = msm_fit(frame.copy())
        pd.testing.assert_series_equal(fast, ordinary, check_exact=True, rtol=0, atol=0)
    texts = gathered_formulas(origin)
    assert "a + time + I(time**2)" in texts
    assert "x + l + I(l**2) + time" in texts  # a weight model's design, gathered too


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ a + center(time) + x",  # a stateful transform learns its centre from the data
        "y ~ a + C(time) + x",  # categories: levels depend on the values drawn
        "y ~ a + I(time - time.mean()) + x",  # an aggregate in a Python expression
    ],
)
def test_formulas_that_learn_from_the_data_are_built_afresh(panel, formula):
    def statistic(d):
        return msm.glm(formula, d, cluster="id", family="binomial").params

    origin, frames = resamples(panel, 3)
    for frame in frames:
        fast = statistic(frame)
        ordinary = statistic(frame.copy())
        pd.testing.assert_series_equal(fast, ordinary, check_exact=True, rtol=0, atol=0)
    assert not gathered_formulas(origin)


def test_a_centred_fit_differs_from_the_original_state(panel):
    """The check above could pass with the original's centre; this one could not."""
    origin, frames = resamples(panel, 1)
    frame = frames[0]
    terms = parse_terms("center(time) + x", frame, "test")
    mine = design_matrix(terms, frame).matrix
    original = design_matrix(parse_terms("center(time) + x", panel, "test"), panel)
    gathered = original.matrix[provenance_of(frame).rows]
    assert not np.array_equal(mine, gathered)  # the resample's own centre


def test_a_change_to_the_original_after_caching_is_noticed(panel):
    data = panel.copy()
    origin, frames = resamples(data, 2)
    terms = parse_terms("a + I(time**2)", frames[0], "test")
    design_matrix(terms, frames[0])  # caches the design of the original
    assert gathered_formulas(origin)
    data.loc[data.index[:50], "time"] += 1  # in place, after the cache was filled
    resampler = Resampler.from_data(data, "id")
    frame = resampler.resample(data, np.random.default_rng(5), origin)
    fast = design_matrix(terms, frame).matrix
    np.testing.assert_array_equal(fast, design_matrix(terms, frame.copy()).matrix)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + time + I(time ** 2)", True),
        ("a + np.log(x + 3) + a:x + I(-x / 2)", True),
        ("center(x)", False),
        ("C(a)", False),
        ("bs(x, df=3)", False),
        ("I(x - x.mean())", False),
        ("np.cumsum(x)", False),  # not a ufunc
        ("I(x > 0)", False),  # a comparison: booleans may become categories
        ("np.log(x, out=None)", False),
    ],
)
def test_is_row_local(text, expected):
    assert is_row_local(text) is expected


def test_derived_frames_are_not_registered(panel):
    origin, frames = resamples(panel, 1)
    frame = frames[0]
    assert provenance_of(frame) is not None
    assert provenance_of(frame.copy()) is None
    assert provenance_of(frame.assign(z=1.0)) is None
    assert provenance_of(panel) is None


def test_registry_forgets_dead_frames(panel):
    from msm import _bootstrap

    _, frames = resamples(panel, 3)
    keys = {id(frame) for frame in frames}
    assert keys <= _bootstrap._REGISTRY.keys()
    del frames
    gc.collect()
    assert not keys & _bootstrap._REGISTRY.keys()


def test_rebuild_cache_returns_the_new_rows_when_the_values_change(panel):
    terms = parse_terms("a + I(time**2)", panel, "test")
    spec = design_matrix(terms, panel).spec
    frame = pd.DataFrame({"a": [0.0, 1.0, 1.0], "time": [0, 1, 2]})
    first = rebuild(terms, spec, frame)
    again = rebuild(terms, spec, frame)
    np.testing.assert_array_equal(first, again)
    frame["time"] = [3, 4, 5]
    changed = rebuild(terms, spec, frame)
    np.testing.assert_array_equal(changed[:, -1], [9.0, 16.0, 25.0])
