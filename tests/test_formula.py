"""Formula right-hand sides: the columns they read, R's ^ in I(), the direct design path."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from formulaic import model_matrix

import msm
from msm._formula import design_matrix, parse_terms


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=50),
            "l": rng.normal(size=50),
            "time": np.arange(50) % 5,
            "g": np.array(["a", "b", "c"])[np.arange(50) % 3],
            "b": np.arange(50) % 2 == 0,
            "cd4.sqrt": rng.random(50) * 30,
        }
    )


@pytest.mark.parametrize(
    "formula",
    [
        "x + l + time",
        "l + x",
        "x + b",
        "1",
        "x + C(g)",
        "0 + x",
        "x:l + x",
        "x + center(l)",
        "`cd4.sqrt` + I(time**2)",
        "np.log(`cd4.sqrt`) + x",
    ],
)
def test_design_equals_formulaic(frame, formula):
    terms = parse_terms(formula, frame, "test")
    design = design_matrix(terms, frame)
    reference = model_matrix(formula, frame)
    assert design.names == list(reference.columns)
    npt.assert_allclose(design.matrix, reference.to_numpy(dtype=np.float64), rtol=1e-15)
    assert design.matrix.flags["C_CONTIGUOUS"]


def test_plain_formula_skips_formulaic(frame):
    assert parse_terms("x + l + time", frame, "t").plain_columns == ("x", "l", "time")
    assert parse_terms("x + C(g)", frame, "t").plain_columns is None


def test_r_power_inside_I_is_a_power(frame):
    terms = parse_terms("I((time/10)^2)", frame, "t")
    design = design_matrix(terms, frame)
    npt.assert_allclose(design.matrix[:, 1], (frame["time"] / 10) ** 2)


@pytest.mark.parametrize(
    ("formula", "missing"),
    [
        ("x + center(zz)", "zz"),
        ("bs(qq, df=3)", "qq"),
        ("np.log(`cd4 sqrt`)", "cd4 sqrt"),
        ("I(time * yy)", "yy"),
        ("x:ww", "ww"),
    ],
)
def test_unknown_columns_are_found_inside_calls(frame, formula, missing):
    with pytest.raises(msm.DataError) as info:
        parse_terms(formula, frame, "treatment denominator")
    assert info.value.column == missing


def test_unparseable_formula(frame):
    with pytest.raises(msm.DataError, match="could not be parsed"):
        parse_terms("x + (", frame, "treatment denominator")
