"""Result objects and MultiIndex frames: arguments of conf_int, tuple column labels in balance."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm
from tests.adversarial_cases import unchanged


@pytest.fixture(scope="module")
def panel():
    return msm.datasets.simulate_panel(n_subjects=120, seed=1)


def _multi(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = pd.MultiIndex.from_tuples([(c, "") for c in frame.columns])
    return out


def test_balance_on_multiindex_columns_equals_flat(panel):
    flat = msm.balance(panel, treatment="a", covariates=["x", "l"], time="time", id="id")
    multi_frame = _multi(panel)
    with unchanged(multi_frame):
        multi = msm.balance(
            multi_frame,
            treatment=("a", ""),
            covariates=[("x", ""), ("l", "")],
            time=("time", ""),
            id=("id", ""),
        )
    assert list(multi.table["covariate"]) == [(c, "") for c in flat.table["covariate"]]
    for column in ("unweighted", "weighted"):
        npt.assert_array_equal(multi.table[column].to_numpy(), flat.table[column].to_numpy())


@pytest.mark.parametrize("alpha", ["a", None, True, [0.05]])
def test_cox_conf_int_alpha_not_a_number(panel, alpha):
    fit = msm.cox(panel.assign(start=panel["time"] - 1), start="start", stop="time", event="y",
                  covariates="x", cluster="id")  # fmt: skip
    with pytest.raises(TypeError, match="alpha"):
        fit.conf_int(alpha)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, np.nan])
def test_cox_and_logit_conf_int_alpha_out_of_range(panel, alpha):
    fit = msm.cox(panel.assign(start=panel["time"] - 1), start="start", stop="time", event="y",
                  covariates="x", cluster="id")  # fmt: skip
    with pytest.raises(ValueError, match="alpha"):
        fit.conf_int(alpha)
    w = msm.iptw(panel, id="id", time="time", treatment="a", denominator="x + l", absorbing=True)
    with pytest.raises(ValueError, match="alpha"):
        w.models["denominator"].conf_int(alpha)
