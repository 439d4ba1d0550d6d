"""msm.to_long: WeightIt's wide msmdata layout to person-time rows with lags."""

import numpy as np
import pandas as pd
import pytest

import msm


def small():
    return pd.DataFrame({"id": [3, 1], "X_0": [2.0, 4.0], "A_1": [1, 0], "X_1": [5.0, 9.0],
                         "A_2": [0, 1], "sex": ["f", "m"]})  # fmt: skip


def test_rows_values_and_lags():
    wide = small()
    before = wide.copy()
    long = msm.to_long(wide, id="id")
    pd.testing.assert_frame_equal(wide, before)
    assert long[["id", "time"]].values.tolist() == [[3, 0], [3, 1], [3, 2], [1, 0], [1, 1], [1, 2]]
    one = long[long.id == 1].set_index("time")
    assert one.loc[1, "A"] == 0 and one.loc[2, "A"] == 1 and np.isnan(one.loc[0, "A"])
    assert one.loc[2, "X_lag1"] == 9.0 and one.loc[2, "X_lag2"] == 4.0
    assert one.loc[2, "A_lag1"] == 0 and np.isnan(one.loc[1, "A_lag1"])
    assert (long.loc[long.id == 1, "sex"] == "m").all()
    kept = msm.to_long(wide, id="id", treatment="A", lags=1)
    assert kept.time.tolist() == [1, 2, 1, 2] and "X_lag2" not in kept
    assert kept.A.dtype == np.int64


def test_msmdata_models_match_the_wide_ones(shared_dir):
    """WeightIt's per-time model A_2 ~ X1_1 + X2_1 + A_1 + X1_0 + X2_0 is the model of A on
    the lags at time 2: the same rows, the same design."""
    wide = pd.read_csv(shared_dir / "data" / "weightit" / "msmdata.csv")
    long = msm.to_long(wide, id="id", treatment="A")
    assert len(long) == 3 * len(wide)
    at2 = long[long.time == 2].set_index("id").loc[wide.id]
    np.testing.assert_array_equal(at2.A, wide.A_2)
    np.testing.assert_array_equal(at2.X1_lag1, wide.X1_1)
    np.testing.assert_array_equal(at2.A_lag1, wide.A_1)
    np.testing.assert_array_equal(at2.X2_lag2, wide.X2_0)
    at3 = long[long.time == 3].set_index("id").loc[wide.id]
    np.testing.assert_array_equal(at3.A_lag2, wide.A_1)
    np.testing.assert_array_equal(at3.Y_B, wide.Y_B)


def test_bad_input():
    wide = small()
    with pytest.raises(msm.DataError, match="more than once") as info:
        msm.to_long(pd.concat([wide, wide.iloc[:1]]), id="id")
    assert info.value.column == "id" and info.value.ids == [3]
    with pytest.raises(msm.DataError, match="no column has a time suffix"):
        msm.to_long(wide[["id", "sex"]], id="id")
    with pytest.raises(msm.DataError, match="two columns named 'X'"):
        msm.to_long(wide.assign(X=1), id="id")
    with pytest.raises(msm.DataError, match="not a time-suffixed"):
        msm.to_long(wide, id="id", treatment="sex")
    with pytest.raises(msm.DataError, match="'subject'"):
        msm.to_long(wide, id="subject")
    with pytest.raises(ValueError, match="lags"):
        msm.to_long(wide, id="id", lags=-1)
