"""The imputed data sets: checked to be the same data completed (columns, rows, ids, times).

Shared by ``msm.mi.analyze`` and ``msm.mi.iptw``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from msm.panel import DataError

__all__ = ["check_imputations"]


def check_imputations(
    imputations: Sequence[pd.DataFrame], *, id: str | None = None, time: str | None = None
) -> list[pd.DataFrame]:
    """Check that the imputed data sets are the same data: columns, rows, ids and times.

    DataError naming the column (and the ids or rows) when an imputation has other
    columns, another number of rows, or other ids or times row by row (rows reordered or
    dropped would misalign the analyses); ValueError for fewer than 2 imputations.  With
    ``msm.impute``'s result, ``id`` and ``time`` default to the ones it was given.
    """
    if isinstance(imputations, pd.DataFrame) or not isinstance(imputations, Sequence):
        raise TypeError(
            "imputations must be a list of DataFrames (the completed data sets), got "
            f"{type(imputations).__name__}"
        )
    # msm.impute's result names its id and time: check the alignment on them by default
    id = getattr(imputations, "id", None) if id is None else id
    time = getattr(imputations, "time", None) if time is None else time
    frames = list(imputations)
    if len(frames) < 2:
        raise ValueError(
            f"multiple imputation needs at least 2 imputed data sets, got {len(frames)}"
        )
    for i, frame in enumerate(frames, start=1):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"imputation {i} is a {type(frame).__name__}, not a DataFrame")
    first = frames[0]
    for i, frame in enumerate(frames[1:], start=2):
        if list(frame.columns) != list(first.columns):
            extra = [c for c in frame.columns if c not in first.columns]
            missing = [c for c in first.columns if c not in frame.columns]
            column = (extra or missing or [None])[0]
            raise DataError(
                column,
                f"imputation {i} has other columns than imputation 1 (extra {extra}, "
                f"missing {missing}{', or another order' if not (extra or missing) else ''}): "
                "every imputation must be the same data set completed",
            )
        if len(frame) != len(first):
            raise DataError(
                id,
                f"imputation {i} has {len(frame)} rows, imputation 1 {len(first)}: every "
                "imputation must have the same rows",
            )
        for column in [c for c in (id, time) if c is not None]:
            if column not in first.columns:
                raise DataError(column, "not a column of the imputations")
            a, b = first[column].to_numpy(), frame[column].to_numpy()
            differ = ~((a == b) | (pd.isna(a) & pd.isna(b)))
            if differ.any():
                ids = first[id].to_numpy()[differ] if id is not None else first.index[differ]
                raise DataError(
                    column,
                    f"imputation {i} has other values of {column!r} than imputation 1 row by "
                    "row (rows reordered, dropped or added?): the imputations must be "
                    "aligned",
                    ids=list(pd.unique(np.asarray(ids))),
                    what="ids" if id is not None else "rows",
                )
        if id is None and time is None and not frame.index.equals(first.index):
            raise DataError(
                None,
                f"imputation {i} has another row index than imputation 1 (rows reordered?); "
                "pass id= (and time=) to check alignment by the data instead",
            )
    return frames
