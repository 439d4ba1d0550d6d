"""Every bad input gets a DataError naming the column, the rule and the offenders.

The messages are also the table in docs/errors.md: ``test_error_table_is_current`` checks that
each case's message appears there verbatim, so the docs cannot drift from the code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msm

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def cohort() -> pd.DataFrame:
    """Three subjects (ids 'a', 'b', 'c'), three visits each, absorbing treatment."""
    return pd.DataFrame(
        {
            "id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "month": [0, 1, 2] * 3,
            "ivig": [0, 0, 1, 0, 1, 1, 0, 0, 0],
            "age": [7.0, 7.0, 7.0, 9.0, 9.0, 9.0, 5.0, 5.0, 5.0],
            "cmas": [30.0, 28.0, 20.0, 40.0, 25.0, 35.0, 45.0, 18.0, 48.0],
            "lost": [0, 0, 0, 0, 0, 0, 0, 0, 1],
        }
    )


def call(data, **overrides):
    kwargs = dict(
        id="id",
        time="month",
        treatment="ivig",
        denominator="age + cmas",
        numerator="age",
        absorbing=True,
    )
    kwargs.update(overrides)
    return msm.iptw(data, **kwargs)


def _set(column, positions, value):
    def edit(df):
        df = df.copy()
        df[column] = df[column].astype(object) if isinstance(value, str) else df[column]
        df.loc[positions, column] = value
        return df

    return edit


def _cast(column, dtype):
    def edit(df):
        return df.assign(**{column: df[column].astype(dtype)})

    return edit


# case name -> (edit of the good cohort, iptw overrides, column named in the error)
CASES = {
    "missing column": (lambda df: df.drop(columns="ivig"), {}, "ivig"),
    "missing covariate in a list": (lambda df: df, {"denominator": ["age", "das"]}, "das"),
    "formula names an unknown column": (
        lambda df: df,
        {"denominator": "age + das_skin"},
        "das_skin",
    ),
    "NaN in a covariate": (_set("cmas", [1, 4], np.nan), {}, "cmas"),
    "infinite value in a covariate": (_set("age", [7], np.inf), {}, "age"),
    "NaN in the treatment": (_set("ivig", [3], np.nan), {}, "ivig"),
    "NaN in the id": (_set("id", [0], None), {}, "id"),
    "duplicate (id, time)": (_set("month", [1], 0), {}, "month"),
    "treatment not 0/1": (_set("ivig", [4, 5], 2), {}, "ivig"),
    "treatment not numeric": (_set("ivig", [0], "yes"), {}, "ivig"),
    "absorbing treatment goes back to 0": (_set("ivig", [5], 0), {}, "ivig"),
    "censor not 0/1": (_set("lost", [8], 3), {"censor": "lost"}, "lost"),
    "censor before the last row": (_set("lost", [3], 1), {"censor": "lost"}, "lost"),
    "non-numeric time": (_cast("month", str), {}, "month"),
    "empty data": (lambda df: df.iloc[:0], {}, None),
    "weights= of the wrong length": (None, None, "weights"),
}


def run_case(name):
    edit, overrides, _ = CASES[name]
    if name == "weights= of the wrong length":
        from msm.weights import resolve_weights

        return resolve_weights(cohort(), np.ones(4))
    return call(edit(cohort()), **overrides)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_raises_data_error_naming_the_column(name):
    with pytest.raises(msm.DataError) as info:
        run_case(name)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.column == CASES[name][2]
    if err.column is not None:
        assert f"column {err.column!r}" in str(err)


@pytest.mark.parametrize(
    ("name", "offenders"),
    [
        ("NaN in a covariate", ["a", "b"]),
        ("duplicate (id, time)", ["a"]),
        ("treatment not 0/1", ["b"]),
        ("absorbing treatment goes back to 0", ["b"]),
        ("censor before the last row", ["b"]),
    ],
)
def test_error_names_offending_ids(name, offenders):
    with pytest.raises(msm.DataError) as info:
        run_case(name)
    assert info.value.ids == offenders
    for subject in offenders:
        assert repr(subject) in str(info.value)


def test_nan_message_counts():
    with pytest.raises(msm.DataError, match=r"2 missing \(NaN\) value\(s\) out of 9 rows"):
        run_case("NaN in a covariate")


def test_offender_list_is_capped():
    df = pd.DataFrame({"id": np.arange(20), "month": 0, "ivig": 2, "age": 1.0, "cmas": 1.0})
    with pytest.raises(msm.DataError, match=r"\(ids 0, 1, 2, 3, 4, \.\.\.; 20 in all\)"):
        call(df, time=None)


def test_caller_frame_unchanged_after_error_and_success():
    df = cohort()
    before = df.copy(deep=True)
    with pytest.raises(msm.DataError):
        call(df, denominator="age + nope")
    pd.testing.assert_frame_equal(df, before)
    sim = msm.datasets.simulate_panel(300, 6, seed=3, censor_coefs=(-3.0, 0.5))
    shuffled = sim.sample(frac=1.0, random_state=1)
    kept = shuffled.copy(deep=True)
    msm.iptw(
        shuffled,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="x",
        absorbing=True,
        censor="lost",
        truncate=(1, 99),
    )
    pd.testing.assert_frame_equal(shuffled, kept)


def test_error_table_is_current():
    text = DOCS.read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in CASES:
            rows[cells[0]] = cells[2]
    assert set(rows) == set(CASES), f"docs/errors.md cases differ: {set(CASES) ^ set(rows)}"
    for name in CASES:
        with pytest.raises(msm.DataError) as info:
            run_case(name)
        documented = rows[name].strip("`").replace("\\|", "|")
        assert documented == str(info.value), name


def print_table():  # pragma: no cover - regenerates the docs table: python -m tests.test_errors
    print("| case | column | message |\n|---|---|---|")
    for name in CASES:
        try:
            run_case(name)
        except msm.DataError as err:
            message = str(err).replace("|", "\\|")
            print(f"| {name} | {err.column or '(frame)'} | `{message}` |")


if __name__ == "__main__":  # pragma: no cover
    print_table()
