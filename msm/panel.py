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


def check_frame(data, *, columns_only: bool = False) -> None:
    """The data must be a non-empty DataFrame with unique column names.

    Every public function that takes a DataFrame calls this first.  Duplicated names (a frame
    from ``pd.concat(axis=1)``, say) make ``data[name]`` a DataFrame instead of a column, so
    they are refused before any column is read.  ``columns_only``: ``data`` stands for the
    columns of a larger frame (a Dask frame's ``_meta``), so it may have no rows.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_unique_columns(data)
    if len(data) == 0 and not columns_only:
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


def offenders_of(data: pd.DataFrame, bad: np.ndarray, group) -> tuple[list, str]:
    """Who the rows ``bad`` (a mask, caller order) are: ``group`` ids, else row labels.

    Returns the offender list (unique, in order of appearance) and what it lists (``"ids"``
    or ``"rows"``), as ``DataError(..., ids, what=)`` takes them.
    """
    if group is not None:
        return _unique_in_order(data[group].to_numpy()[bad]), "ids"
    return list(data.index[bad]), "rows"


def zero_one(values: np.ndarray, column, role: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``values`` as float64 and the mask of those that are not 0 or 1 (None when all are).

    The one 0/1 rule of msm (treatments, censoring and event indicators): numbers or bools;
    DataError naming the column for complex numbers or values that are not numbers.  The
    callers name the offenders (``binary_values``, ``binary_column``).
    """
    if values.dtype == bool:
        return values.astype(np.float64), None
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
    return values, (bad if bad.any() else None)


def _not_zero_one(values: np.ndarray, bad: np.ndarray, column, role: str, ids, what: str):
    seen = pd.unique(values[bad])[:SHOWN_IDS]
    return DataError(
        column, f"{role} must be 0/1; found {', '.join(f'{v:g}' for v in seen)}", ids, what=what
    )


def binary_values(panel: Panel, values: np.ndarray, column, role: str) -> np.ndarray:
    """Sorted 0/1 values as float64, or DataError naming the subjects with other values."""
    values, bad = zero_one(values, column, role)
    if bad is not None:
        raise _not_zero_one(values, bad, column, role, _unique_in_order(panel.ids[bad]), "ids")
    return values


def binary_column(data: pd.DataFrame, column, role: str, group=None) -> np.ndarray:
    """``data[column]`` as 0/1 float64 (caller order); offenders named by ``group`` ids or rows."""
    values, bad = zero_one(data[column].to_numpy(), column, role)
    if bad is not None:
        ids, what = offenders_of(data, bad, group)
        raise _not_zero_one(values, bad, column, role, ids, what)
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


# ---------------------------------------------------------------------------------------------
# weights= of every consumer


def resolve_weights(data: pd.DataFrame, weights, *, all_zero_ok: bool = False) -> np.ndarray:
    """Turn ``weights=`` into a float array aligned with ``data``'s rows in their current order.

    The one resolver of ``weights=`` (a data rule, so it lives in ``panel``;
    ``msm.weights.resolve_weights`` is the same function) for every consumer (``glm``,
    ``cox``, ``balance``, ``ess``, ``reweighted_association``, ``history_balance``, the
    plots, each partition of a
    Dask frame).

    * ``None``: weight 1 for every row.
    * A ``Weights`` object (anything whose ``weights`` is a pandas Series: ``msm.iptw``'s
      result) or a pandas ``Series``: matched to ``data`` **by index label**, so
      ``w.weights`` may come from a differently ordered copy of the same rows (or a superset
      of them).  When ``data.index`` equals the Series' index (same labels, same order) the
      values are used as they are; otherwise both indexes must be unique and every label of
      ``data`` must be in the Series.  Where either index has duplicated labels, only the
      identical index in the identical order is accepted.  The rule is the same for a
      ``Weights`` computed on another frame whose index happens to share labels: labels,
      not the frame, decide which weight a row gets.
    * A column name: that column of ``data``.
    * A numpy array, list or other 1-D array-like: by position, one value per row.

    The values must be numbers (bool is refused: pass ``mask.astype(float)`` to mean weights 1
    and 0), with no missing value (NaN, ``pd.NA``), finite, ``>= 0``, and not all 0 (unless
    ``all_zero_ok``: the effective sample size of all-zero weights is 0).

    Raises
    ------
    DataError
        Naming the column (``'weights'`` unless a column name was given), the rule broken and
        the offending row labels: labels missing from a Series, an index with duplicated
        labels that differs from ``data``'s, a wrong length or shape, a non-numeric, missing,
        infinite or negative value, every weight 0, or a ``weights=`` of another kind (a
        DataFrame, a scalar, a dict).

    Examples
    --------
    >>> frame = pd.DataFrame({"w": [1.0, 2.0]}, index=["a", "b"])
    >>> resolve_weights(frame, "w")
    array([1., 2.])
    >>> resolve_weights(frame, pd.Series([2.0, 1.0], index=["b", "a"]))  # by label
    array([1., 2.])
    """
    n = len(data)
    if weights is None:
        return np.ones(n)
    name = "weights"
    if isinstance(getattr(weights, "weights", None), pd.Series):  # a Weights object
        values = _aligned(data, weights.weights, "the Weights object's")
    elif isinstance(weights, pd.Series):
        values = _aligned(data, weights, "the weights Series'")
    elif isinstance(weights, str):
        check_columns_exist(data, [weights], "weights")
        values = data[weights]
        if isinstance(values, pd.DataFrame):
            raise DataError(
                weights,
                f"weights={weights!r} names {values.shape[1]} columns of data (duplicated "
                "column name); rename them so the name is unique",
            )
        name = weights
    elif isinstance(weights, (pd.DataFrame, dict, set, frozenset)) or not (
        isinstance(
            weights, (list, tuple, range, np.ndarray, pd.Index, pd.api.extensions.ExtensionArray)
        )
        or hasattr(weights, "__array__")
    ):
        hint = (
            "; pick one column, e.g. weights=frame['w']"
            if isinstance(weights, pd.DataFrame)
            else "; for equal weights pass None"
            if np.ndim(weights) == 0 and not isinstance(weights, (dict, set, frozenset))
            else ""
        )
        raise DataError(
            "weights",
            "weights= must be a Weights object from msm.iptw, a pandas Series (matched by "
            "index label), a column name, or a 1-D array with one value per row; got "
            f"{type(weights).__name__}{hint}",
        )
    else:
        values = weights if isinstance(weights, pd.api.extensions.ExtensionArray) else None
        if values is None:
            values = np.asarray(weights)
        if values.ndim != 1 or values.shape[0] != n:
            more = "; pass a 1-D array (e.g. values.ravel())" if values.ndim > 1 else ""
            raise DataError(
                "weights",
                f"weights must have one value per row ({n}), got shape {values.shape}{more}",
            )
        values = pd.Series(values, index=data.index, copy=False)
    return _checked_weights(values, name, data.index, all_zero_ok)


def _aligned(data: pd.DataFrame, series: pd.Series, whose: str) -> pd.Series:
    """``series`` in ``data``'s row order, matched by index label (see resolve_weights)."""
    index, labels = series.index, data.index
    if index.equals(labels):
        return series
    if not (index.is_unique and labels.is_unique):
        side = "data's index" if not labels.is_unique else f"{whose} index"
        duplicated = labels if not labels.is_unique else index
        raise DataError(
            "weights",
            f"{side} has duplicated labels, so the weights can be matched to data's rows "
            f"only if {whose} index is identical to data's, in the same order, and it is not; "
            "call .reset_index(drop=True) on both (in the same row order), or pass the "
            "weights as an array in data's row order (e.g. w.weights.to_numpy())",
            list(pd.unique(duplicated[duplicated.duplicated()])),
            what="duplicated labels",
        )
    try:
        positions = index.get_indexer(labels)
    except (TypeError, ValueError):  # e.g. a MultiIndex against a flat index
        positions = np.full(len(labels), -1, dtype=np.intp)
    missing = positions < 0
    if missing.any():
        raise DataError(
            "weights",
            f"{int(missing.sum())} of data's {len(labels)} row label(s) are not in {whose} "
            f"index (labels like {_labels_like(index)}), so those rows have no weight; "
            "compute the weights on this data, or pass an array in data's row order",
            list(labels[missing]),
            what="rows",
        )
    return pd.Series(series.array.take(positions), index=labels, name=series.name, copy=False)


def _labels_like(index: pd.Index) -> str:
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in index[:3])
    more = ", ..." if len(index) > 3 else ""
    return f"{shown}{more}; dtype {index.dtype}"


def _checked_weights(
    values: pd.Series, name: str, labels: pd.Index, all_zero_ok: bool = False
) -> np.ndarray:
    """Float64 weights from a Series in data's row order: numeric, finite, >= 0, not all 0."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise DataError(
            name,
            "weights must be numbers, got bool (True/False); for weights 1 and 0 pass "
            "mask.astype(float)",
        )
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind == "boolean":
            raise DataError(name, "weights must be numbers, got bool (True/False) values")
        if kind not in ("floating", "integer", "mixed-integer-float", "decimal", "empty"):
            raise DataError(name, f"weights must be numeric, got {kind} values")
    elif not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        raise DataError(name, f"weights must be numeric, got {describe_dtype(dtype)}")
    missing = values.isna().to_numpy()
    # a writeable copy: never a view of the caller's column
    array = np.array(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    infinite = np.isinf(array)
    negative = array < 0
    bad = missing | infinite | negative
    if bad.any():
        counts = [
            f"{int(mask.sum())} {what}"
            for mask, what in (
                (missing, "missing (NaN/NA)"),
                (infinite, "infinite"),
                (negative, "negative"),
            )
            if mask.any()
        ]
        raise DataError(
            name,
            f"weights must be finite and >= 0; {', '.join(counts)} value(s) out of "
            f"{array.size} rows",
            list(labels[bad]),
            what="rows",
        )
    if array.size and not all_zero_ok and not array.any():
        raise DataError(
            name,
            f"all weights are 0: every weight is 0 on the {array.size} row(s), so no row counts",
        )
    return array


def weight_exponent(w: np.ndarray) -> int:
    """The power of two ``k`` that brings the mean positive weight of ``w / 2**k`` near 1.

    ``np.ldexp(w, -k)`` then has its mean positive weight in ``[2**-0.5, 2**0.5)``.  Scaling by
    a power of two is exact, so a fit on ``np.ldexp(w, -k)`` is bit-identical whatever power
    of two the weights were multiplied by, and neither the information (``sum w``) nor the
    meat of a sandwich (``sum w**2``) under- or overflows for weights of 1e-200 or 1e200.
    ``k`` is 0 for weights whose mean is near 1 (unit weights, stabilized IP weights), which
    are then used exactly as given.

    Examples
    --------
    >>> weight_exponent(np.array([0.9, 1.2])), weight_exponent(np.array([3e10, 0.0]))
    (0, 35)
    """
    mask = w > 0
    positive = w if mask.all() else w[mask]  # no copy when every weight is positive
    if positive.size == 0:
        return 0
    low, high = positive.min(), positive.max()
    top = int(np.frexp(high)[1])
    if 2.0**-500 <= low and high <= 2.0**500:
        # every value, partial sum and the mean stay normal numbers scaled by 2**-top, so
        # scaling the mean is exactly the mean of the scaled values (without their copy)
        mean = np.ldexp(positive.mean(), -top)
    else:
        mean = np.ldexp(positive, -top).mean()  # no overflow
    mantissa, exponent = np.frexp(mean)
    return top + int(exponent) - (1 if mantissa < np.sqrt(0.5) else 0)
