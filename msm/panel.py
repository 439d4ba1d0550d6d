"""Long person-time data: validation at the boundary, one stable sort by (id, time).

Everything downstream works on arrays sorted by subject then time, with subject offsets
``starts``; results go back to the caller's row order and index through ``Panel.unsort``.
The caller's DataFrame is only read, never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SHOWN_IDS = 5


class DataError(ValueError):
    """Bad input data: names the column, the rule broken and a few offending ids or rows.

    Attributes
    ----------
    column : str or None
        The column at fault (None when the problem is the frame as a whole).
    rule : str
        What is wrong, in words.
    ids : list
        Offending subject ids (or row labels), all of them.

    Examples
    --------
    >>> str(DataError("month", "time must be unique within subject", ids=[17, 42]))
    "column 'month': time must be unique within subject (ids 17, 42; 2 in all)"
    """

    def __init__(self, column: str | None, rule: str, ids: Sequence = (), *, what: str = "ids"):
        ids = list(ids)
        shown = ", ".join(map(_show, ids[:SHOWN_IDS])) + (", ..." if len(ids) > SHOWN_IDS else "")
        tail = f" ({what} {shown}; {len(ids)} in all)" if ids else ""
        head = f"column {column!r}: " if column is not None else ""
        super().__init__(f"{head}{rule}{tail}")
        self.column = column
        self.rule = rule
        self.ids = ids


def _show(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


@dataclass(frozen=True, eq=False)
class Panel:
    """Rows sorted once by (id, time), with the way back to the caller's order.

    Attributes
    ----------
    order : ndarray of int64
        ``order[k]`` is the caller's row position of the k-th sorted row.
    starts : ndarray of int64
        Subject offsets into the sorted rows, length ``n_subjects + 1``.
    index : pandas.Index
        The caller's index, in the caller's order.
    ids : ndarray
        Subject id of each sorted row.
    time : ndarray
        Time of each sorted row.
    id_name : str
        The id column's name, for messages.
    time_name : str or None
        The time column's name, for messages; None for a point treatment (``time=None``,
        one row per subject, every ``time`` 0).
    """

    order: np.ndarray
    starts: np.ndarray
    index: pd.Index
    ids: np.ndarray
    time: np.ndarray
    id_name: str
    time_name: str | None
    is_identity: bool = False  # the caller's rows were already sorted: no reordering needed

    @property
    def n_rows(self) -> int:
        return self.order.size

    @property
    def n_subjects(self) -> int:
        return self.starts.size - 1

    def subject_of_row(self) -> np.ndarray:
        """Subject number (0 .. n_subjects - 1) of each sorted row."""
        return np.repeat(np.arange(self.n_subjects), np.diff(self.starts))

    def first_rows(self) -> np.ndarray:
        """Boolean mask over sorted rows: True on each subject's first row."""
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[self.starts[:-1]] = True
        return mask

    def last_rows(self) -> np.ndarray:
        """Boolean mask over sorted rows: True on each subject's last row."""
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[self.starts[1:] - 1] = True
        return mask

    def sort(self, values) -> np.ndarray:
        """Take caller-ordered values into sorted order."""
        values = np.asarray(values)
        return values if self.is_identity else values[self.order]

    def unsort(self, sorted_values: np.ndarray) -> np.ndarray:
        """Put sorted-order values back into the caller's order."""
        if self.is_identity:
            return sorted_values
        out = np.empty_like(sorted_values)
        out[self.order] = sorted_values
        return out

    def series(self, sorted_values: np.ndarray, name: str | None = None) -> pd.Series:
        """A Series in the caller's order and index from sorted-order values."""
        return pd.Series(self.unsort(sorted_values), index=self.index, name=name, copy=False)


# ---------------------------------------------------------------------------------------------
# checks on columns


def check_frame(data) -> None:
    """The data must be a non-empty DataFrame with unique column names.

    Every public function that takes a DataFrame calls this first.  Duplicated names (a frame
    from ``pd.concat(axis=1)``, say) make ``data[name]`` a DataFrame instead of a column, so
    they are refused before any column is read.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_unique_columns(data)
    if len(data) == 0:
        raise DataError(None, "data is empty (0 rows)")


def check_unique_columns(data: pd.DataFrame) -> None:
    """Column names must be unique; DataError naming every duplicated one."""
    columns = data.columns
    if columns.is_unique:
        return
    counts = pd.Series(columns).value_counts(sort=False)
    duplicated = list(counts[counts > 1].items())
    shown = ", ".join(f"{name!r} ({count} times)" for name, count in duplicated)
    raise DataError(
        duplicated[0][0],
        f"data has duplicated column names: {shown}; a frame built with pd.concat(axis=1) "
        "can repeat names: rename the columns or keep the first of each with "
        "data.loc[:, ~data.columns.duplicated()]",
    )


def check_columns_exist(data: pd.DataFrame, columns: Iterable[str], role: str = "") -> None:
    """Every named column must be in the data, and name exactly one column."""
    columns = list(dict.fromkeys(columns))
    missing = [c for c in columns if c not in data.columns]
    if missing:
        where = f" ({role})" if role else ""
        raise DataError(
            missing[0],
            f"column not found in data{where}; "
            f"missing: {', '.join(map(repr, missing))}; "
            f"available: {_preview(list(data.columns))}",
        )
    check_single_columns(data, columns)


def check_single_columns(data: pd.DataFrame, columns: Iterable) -> None:
    """With MultiIndex columns, each name must select one column, not a group of them.

    ``data["x"]`` on columns ``("x", "mean"), ("x", "sd")`` is a DataFrame; a full key
    (``("x", "mean")``) or a name whose other levels are empty (``("x", "")``) is one column.
    """
    if not isinstance(data.columns, pd.MultiIndex):
        return
    for column in columns:
        if isinstance(data.columns.get_loc(column), int | np.integer):
            continue
        picked = data[column]
        if isinstance(picked, pd.DataFrame):
            raise DataError(
                column,
                f"with MultiIndex columns, {column!r} selects {picked.shape[1]} columns "
                f"(sub-columns {_preview(list(picked.columns), 4)}), not one; name one of "
                "them with a full tuple or flatten the columns, e.g. "
                "data.columns = ['_'.join(map(str, c)).strip('_') for c in data.columns]",
            )


def _preview(names: list, limit: int = 12) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return shown + (f", ... ({len(names)} columns)" if len(names) > limit else "")


def check_finite(data: pd.DataFrame, columns: Iterable[str], id: str) -> None:
    """No NaN/None (any column) and no +-inf (numeric columns) in the columns used.

    Each column's cells must also be usable values (``check_cell_values``): no complex
    numbers, no lists or other unhashable objects, no numbers and text that read the same.
    """
    ids = data[id]
    for column in dict.fromkeys(columns):
        values = data[column]
        check_cell_values(values, column)
        if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub":
            continue  # plain numpy integers and booleans hold no NaN or inf
        bad = values.isna().to_numpy()
        n_missing = int(bad.sum())
        n_inf = 0
        if pd.api.types.is_float_dtype(values.dtype):
            infinite = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
            n_inf = int(infinite.sum())
            bad = bad | infinite
        if n_missing or n_inf:
            counts = []
            if n_missing:
                counts.append(f"{n_missing} missing (NaN)")
            if n_inf:
                counts.append(f"{n_inf} infinite")
            offenders = _unique_in_order(ids.to_numpy()[bad]) if column != id else []
            what = "ids"
            if column == id:
                offenders = list(data.index[bad])
                what = "rows"
            raise DataError(
                column,
                f"{' and '.join(counts)} value(s) out of {len(values)} rows; "
                "drop or impute them before weighting",
                offenders,
                what=what,
            )


def check_finite_by(data: pd.DataFrame, columns: Iterable[str], group: str | None) -> None:
    """``check_finite`` naming offenders by ``group`` (cluster ids), or by row label if None."""
    if group is not None:
        check_finite(data, [group], group)  # the group column first: its ids must exist
        check_finite(data, columns, group)
        return
    for column in dict.fromkeys(columns):
        check_finite(data, [column], column)  # id == column: offenders are row labels


def check_cell_values(values: pd.Series, column, *, mixed: bool = True) -> None:
    """The cells of a column msm reads must be real numbers or hashable scalar labels.

    Raises DataError naming the column for: complex numbers (a model, a time or an id needs
    real numbers; numba and numpy would otherwise fail or drop the imaginary part); cells
    holding lists, arrays, dicts or other unhashable objects (rows named); and an object
    column mixing numbers and text that read the same (``3`` and ``"3"``), which pandas
    keeps apart, so one subject (or cluster, or level) would silently become two
    (``mixed=False`` skips this last rule).
    """
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "c":
        raise DataError(
            column,
            f"holds complex numbers ({dtype}); msm needs real numbers: pass the real part, "
            f"e.g. data[{column!r}].to_numpy().real, if the imaginary parts are all 0",
        )
    if not pd.api.types.is_object_dtype(dtype):
        return
    present = values[values.notna().to_numpy()]
    try:
        uniques = pd.unique(present)
    except TypeError:  # unhashable cells: lists, arrays, dicts, sets
        bad = np.array([not _hashable(v) for v in values], dtype=bool)
        first = values[bad].iloc[0]
        raise DataError(
            column,
            f"holds {int(bad.sum())} cell(s) that are not single values (e.g. "
            f"{type(first).__name__} {_short(first)}); each cell must be one number or "
            "label: unpack them first, e.g. with data.explode(...)",
            list(values.index[bad]),
            what="rows",
        ) from None
    if any(isinstance(u, complex | np.complexfloating) for u in uniques):
        raise DataError(
            column,
            "holds complex numbers (objects); msm needs real numbers",
        )
    if not mixed or uniques.size < 2:
        return
    text = pd.Series([str(u).strip() for u in uniques])
    clash = text.duplicated(keep=False).to_numpy()
    if clash.any():
        clashing = list(uniques[clash])
        shown = ", ".join(f"{_show(u)} ({type(u).__name__})" for u in clashing[:SHOWN_IDS])
        raise DataError(
            column,
            f"mixes numbers and text that read the same: {shown}; pandas keeps them apart, "
            "so rows meant to be one subject, cluster or level would be split: convert the "
            f"column to one type first, e.g. data[{column!r}].astype(str)",
            clashing,
            what="values",
        )


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unique_in_order(values: np.ndarray) -> list:
    return list(pd.unique(values))


def check_numeric(data: pd.DataFrame, column: str, role: str) -> None:
    """The column must hold real numbers (or datetimes): DataError naming it otherwise."""
    check_cell_values(data[column], column)
    dtype = data[column].dtype
    if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
        if not pd.api.types.is_datetime64_any_dtype(dtype):
            raise DataError(
                column,
                f"{role} must be numeric (or datetime), got {describe_dtype(dtype)}; "
                f"convert it, e.g. pd.to_numeric(data[{column!r}])",
            )


def describe_dtype(dtype) -> str:
    """A dtype in words; text is "text" whether pandas stores it as object or str."""
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "text"
    return f"dtype {dtype}"


def binary_values(panel: Panel, values: np.ndarray, column: str, role: str) -> np.ndarray:
    """Sorted 0/1 values as float64, or DataError naming the subjects with other values."""
    if values.dtype == bool:
        return values.astype(np.float64)
    if values.dtype.kind == "c":
        raise DataError(column, f"{role} must be 0/1 (numeric or bool), got {values.dtype}")
    if not np.issubdtype(values.dtype, np.number):
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(
                column, f"{role} must be 0/1 (numeric or bool), got {describe_dtype(values.dtype)}"
            ) from None
    values = values.astype(np.float64, copy=False)
    bad = (values != 0.0) & (values != 1.0)
    if bad.any():
        seen = pd.unique(values[bad])[:SHOWN_IDS]
        raise DataError(
            column,
            f"{role} must be 0/1; found {', '.join(map(_show, seen))}",
            _unique_in_order(panel.ids[bad]),
        )
    return values


def check_absorbing(panel: Panel, a: np.ndarray, column: str) -> None:
    """A 0/1 treatment (sorted rows) must never go from 1 back to 0 within a subject."""
    same_subject = ~panel.first_rows()[1:]
    reverts = same_subject & (a[:-1] == 1.0) & (a[1:] == 0.0)
    if reverts.any():
        raise DataError(
            column,
            "with absorbing=True treatment must stay 1 once it is 1, but goes from 1 back to 0",
            list(pd.unique(panel.ids[1:][reverts])),
        )


# ---------------------------------------------------------------------------------------------
# building the panel


def build_panel(data: pd.DataFrame, id: str, time: str) -> Panel:
    """Validate id and time and sort once, stably, by (id, time).

    Raises DataError for non-numeric time and duplicate (id, time) rows; missing values must
    have been checked before (``check_finite``).
    """
    check_numeric(data, time, "time")
    id_values = data[id].to_numpy()
    time_values = data[time].to_numpy()
    if pd.api.types.is_datetime64_any_dtype(time_values.dtype):
        time_key = time_values.astype("datetime64[ns]").view(np.int64)
    else:
        time_key = time_values
    if np.issubdtype(id_values.dtype, np.number):
        id_key = id_values
    else:
        id_key, _ = pd.factorize(id_values, sort=False)

    n = len(data)
    same_subject = id_key[1:] == id_key[:-1]
    already_sorted = bool(np.all(id_key[1:] >= id_key[:-1])) and bool(
        np.all(time_key[1:][same_subject] > time_key[:-1][same_subject])
    )
    if already_sorted:
        order = np.arange(n, dtype=np.int64)
        sorted_id_key = id_key
        sorted_time_key = time_key
    else:
        order = np.lexsort((time_key, id_key)).astype(np.int64)  # lexsort is stable
        sorted_id_key = id_key[order]
        sorted_time_key = time_key[order]
        same_subject = sorted_id_key[1:] == sorted_id_key[:-1]
        duplicated = same_subject & (sorted_time_key[1:] == sorted_time_key[:-1])
        if duplicated.any():
            dup_ids = _unique_in_order(id_values[order[1:][duplicated]])
            raise DataError(
                time,
                f"(id, time) must be unique: {int(duplicated.sum())} duplicated "
                f"({id!r}, {time!r}) pair(s); find them with "
                f"data[data.duplicated([{id!r}, {time!r}], keep=False)]",
                dup_ids,
            )
    boundaries = np.flatnonzero(~same_subject) + 1
    starts = np.concatenate(([0], boundaries, [n])).astype(np.int64)
    return Panel(
        order=order,
        starts=starts,
        index=data.index,
        ids=id_values if already_sorted else id_values[order],
        time=time_values if already_sorted else time_values[order],
        id_name=id,
        time_name=time,
        is_identity=already_sorted,
    )
