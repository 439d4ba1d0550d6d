"""Wide to long: one column per variable and time (``A_1, X1_0, ...``) to person-time rows.

WeightIt's ``msmdata`` layout (and many registries') holds one row per unit with a column
per variable and time, the time a suffix (``X1_0, X2_0, A_1, X1_1, ...``).  msm's functions
take long data: one row per unit and time.  ``to_long`` reshapes, adding each time-varying
variable's earlier values as lagged columns so that the models of the wide layout (``A_2 ~
X1_1 + X2_1 + A_1 + X1_0 + X2_0``) are written on one row (``A ~ X1_lag1 + X2_lag1 + A_lag1
+ X1_lag2 + X2_lag2`` at time 2).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from msm.panel import DataError, check_columns_exist, check_frame

__all__ = ["to_long"]

TIME = "time"


def _split(column, sep: str):
    """(variable, time) of a column ``<variable><sep><integer>``, else None."""
    if not isinstance(column, str):
        return None
    match = re.fullmatch(rf"(.+){re.escape(sep)}(-?\d+)", column)
    if match is None:
        return None
    return match.group(1), int(match.group(2))


def to_long(
    wide: pd.DataFrame,
    *,
    id: str,
    sep: str = "_",
    lags: int | None = None,
    treatment: str | None = None,
) -> pd.DataFrame:
    """Reshape one-row-per-unit data with time-suffixed columns to person-time rows.

    A column ``<variable><sep><t>`` (an integer ``t``) is the variable at time ``t``; every
    other column is constant for the unit and repeated on each of its rows.  The result has
    one row per unit and time (every time any variable has), sorted by id and time, with a
    column ``time``, each time-varying variable at that time (missing where the wide data
    have no such column, e.g. a treatment that starts at time 1), and its values at the
    ``lags`` previous times (``<variable>_lag1``, ``_lag2``, ...; missing before the first).

    Parameters
    ----------
    wide : pandas.DataFrame
        One row per unit.  Not modified.
    id : str
        The unit column (unique).
    sep : str
        What separates a variable's name from its time (``"_"``: ``A_1``).
    lags : int, optional
        How many earlier times to carry as lagged columns; default all of them.
    treatment : str, optional
        A time-varying variable whose rows are kept only where it is recorded (the times
        at which a treatment decision is made: with WeightIt's ``msmdata``, times 1-3).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import msm, pandas as pd
    >>> wide = pd.DataFrame({"id": [1, 2], "X_0": [2, 4], "A_1": [1, 0], "X_1": [5, 9],
    ...                      "A_2": [0, 1], "Y": [0, 1]})
    >>> msm.to_long(wide, id="id", treatment="A")
       id  time    X  A  Y  X_lag1  X_lag2  A_lag1
    0   1     1  5.0  1  0     2.0     NaN     NaN
    1   1     2  NaN  0  0     5.0     2.0     1.0
    2   2     1  9.0  0  1     4.0     NaN     NaN
    3   2     2  NaN  1  1     9.0     4.0     0.0
    """
    check_frame(wide)
    check_columns_exist(wide, [id], "id")
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"sep must be a non-empty string, got {sep!r}")
    if lags is not None and (isinstance(lags, bool) or not isinstance(lags, int) or lags < 0):
        raise ValueError(f"lags must be a non-negative integer, got {lags!r}")
    ids = wide[id]
    if ids.isna().any():
        raise DataError(id, "missing ids", ids=list(wide.index[ids.isna().to_numpy()]), what="rows")
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise DataError(
            id,
            "wide data have one row per unit: these ids appear more than once",
            ids=list(pd.unique(ids[duplicated])),
        )
    timed: dict[str, dict[int, str]] = {}
    constant = []
    for column in wide.columns:
        if column == id:
            continue
        parts = _split(column, sep)
        if parts is None:
            constant.append(column)
        else:
            timed.setdefault(parts[0], {})[parts[1]] = column
    if not timed:
        raise DataError(
            None,
            f"no column has a time suffix ('<variable>{sep}<integer>', e.g. 'A{sep}1'): "
            "nothing to reshape",
        )
    clash = [v for v in timed if v in constant or v in (id, TIME)]
    clash += [f"{v}_lag{k}" for v in timed for k in range(1, 50) if f"{v}_lag{k}" in wide]
    if clash:
        raise DataError(
            clash[0],
            f"the long data would have two columns named {clash[0]!r} (a column without a "
            "time suffix, or a lag name): rename it",
        )
    if treatment is not None and treatment not in timed:
        raise DataError(
            treatment,
            f"treatment={treatment!r} is not a time-suffixed variable of the data (they are "
            f"{sorted(timed)})",
        )
    times = sorted({t for columns in timed.values() for t in columns})
    n, k = len(wide), len(times)
    out = {id: np.repeat(ids.to_numpy(), k), TIME: np.tile(np.asarray(times), n)}
    values = {}
    for variable, columns in timed.items():
        block = np.full((n, k), np.nan, dtype=object)
        numeric = all(pd.api.types.is_numeric_dtype(wide[c]) for c in columns.values())
        if numeric:
            block = np.full((n, k), np.nan)
        for j, t in enumerate(times):
            if t in columns:
                block[:, j] = wide[columns[t]].to_numpy()
        values[variable] = block
        out[variable] = block.reshape(-1)
    for column in constant:
        out[column] = np.repeat(wide[column].to_numpy(), k)
    depth = k - 1 if lags is None else min(lags, k - 1)
    for variable, block in values.items():
        for lag in range(1, depth + 1):
            shifted = np.full_like(block, np.nan)
            shifted[:, lag:] = block[:, :-lag]
            out[f"{variable}_lag{lag}"] = shifted.reshape(-1)
    long = pd.DataFrame(out)
    # integer columns stay integers where nothing is missing
    for column in long.columns:
        series = long[column]
        if series.dtype == float and series.notna().all() and (series % 1 == 0).all():
            long[column] = series.astype(np.int64)
    if treatment is not None:
        long = long[long[treatment].notna().to_numpy()].reset_index(drop=True)
        if pd.api.types.is_float_dtype(long[treatment]) and (long[treatment] % 1 == 0).all():
            long[treatment] = long[treatment].astype(np.int64)
    # lags that are missing on every kept row carry nothing: dropped
    empty = [c for c in long.columns if c.endswith(tuple(f"_lag{j}" for j in range(1, k)))
             and long[c].isna().all()]  # fmt: skip
    return long.drop(columns=empty)
