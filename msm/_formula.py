"""Right-hand sides of model formulas: parsing, the columns they read, design matrices.

A specification is either a Wilkinson formula parsed by formulaic (``"sex + age + I(t**2)"``;
R's ``^`` for powers inside ``I()`` is accepted too) or a list of column names.  An intercept
is always included unless the formula removes it (``"0 + x"`` or ``"- 1"``).
"""

from __future__ import annotations

import ast
import datetime
import functools
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec, model_matrix
from formulaic.errors import FormulaicError

from msm import _kernels
from msm._bootstrap import provenance_of
from msm.panel import (
    SHOWN_IDS,
    DataError,
    check_cell_values,
    check_single_columns,
    check_unique_columns,
)

_BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Terms:
    """A parsed right-hand side: its text, the data columns it reads, how to build it."""

    text: str
    columns: tuple[str, ...]
    plain_columns: tuple[str, ...] | None = None  # a list spec: numeric columns, no formulaic
    formula: Formula | None = field(default=None, repr=False)
    label: str = ""  # what the user wrote and its role, for messages ("outcome model formula 'x'")

    @property
    def is_empty(self) -> bool:
        """Intercept only."""
        return not self.columns and self.text.strip() in {"", "1"}


def parse_terms(spec: str | Sequence[str] | None, data: pd.DataFrame, role: str) -> Terms:
    """Parse a formula RHS or a list of columns and check every column it reads.

    Raises DataError naming the column for: a column not in the data; duplicated column
    names; a datetime, timedelta or period column (a model needs numbers: the message says
    what to pass instead); an object or text column whose values are all numbers (numbers
    stored as text, which a formula would make a categorical with one level per value; a
    column used only inside ``C()`` is taken as the categorical it asks for); and, in a
    list that formulaic must evaluate, a column name that is not a string.  Pandas nullable
    dtypes (``Int64``, ``Float64``, ``boolean``) are numeric columns like any other.
    """
    check_unique_columns(data)
    if spec is None:
        spec = "1"
    if isinstance(spec, str):
        try:
            parsed = _parse_text(spec)
        except Exception as exc:  # formulaic's parser errors have several types
            raise DataError(None, f"{role} formula {spec!r} could not be parsed: {exc}") from None
        text, formula = parsed.text, parsed.formula
        uses, lookups = parsed.columns
        columns = list(uses)
        unknown = [c for c in columns if c not in data.columns]
        if unknown:
            raise DataError(
                unknown[0],
                f"{role} formula {spec!r} names column(s) not in data: "
                f"{', '.join(map(repr, unknown))} (quote names with dots or spaces in "
                "backticks, e.g. `cd4.sqrt`)",
            )
        check_single_columns(data, columns)
        label = f"{role} formula {spec!r}"
        numeric = _numeric_columns(data, columns)
        for column in columns:
            if column not in numeric:  # a real numeric column passes every check below
                check_model_column(data, column, label, categorical=uses[column])
        plain = None
        if lookups is not None and all(c in numeric or _is_plain_numeric(data[c]) for c in lookups):
            plain = lookups
        return Terms(
            text=text, columns=tuple(columns), plain_columns=plain, formula=formula, label=label
        )
    if isinstance(spec, bytes | dict | pd.Series | pd.DataFrame | np.ndarray) or not isinstance(
        spec, Iterable
    ):
        raise TypeError(
            f"{role}: a model's terms must be a formula string (e.g. 'x + l') or a list of "
            f"column names, got {type(spec).__name__} {spec!r:.60}"
        )
    columns = list(spec)
    unknown = [c for c in columns if c not in data.columns]
    if unknown:
        raise DataError(
            unknown[0],
            f"{role} covariate(s) not in data: {', '.join(map(repr, unknown))}",
        )
    label = (
        f"{role} {columns!r}" if role.endswith("covariates") else f"{role} covariates {columns!r}"
    )
    check_single_columns(data, columns)
    for column in columns:
        check_model_column(data, column, label)
    text = " + ".join(f"`{c}`" for c in columns) or "1"
    if all(_is_plain_numeric(data[c]) for c in columns):
        return Terms(text=text, columns=tuple(columns), plain_columns=tuple(columns), label=label)
    named = [c for c in columns if not isinstance(c, str)]
    if named:
        raise DataError(
            named[0],
            f"{label}: a column that is not plain numeric goes through a formula, which needs "
            f"string column names; rename it, e.g. data.rename(columns={{{named[0]!r}: "
            f"{str(named[0])!r}}})",
        )
    return Terms(text=text, columns=tuple(columns), formula=Formula(text), label=label)


_MISSING_MARKERS = frozenset(
    {"", "na", "n/a", "nan", "null", "none", ".", "-", "?", "missing", "#n/a"}
)


def check_model_column(
    data: pd.DataFrame, column, label: str, *, categorical: bool = False
) -> None:
    """A column a model reads must hold numbers (or genuine categories).

    Raises DataError for datetime, timedelta and period columns, and for object or text
    columns whose values are all numbers or numeric strings (``categorical=True``, a column
    only used inside ``C()``, allows the latter).  ``label`` says where the column is used,
    e.g. ``"treatment denominator formula 'x + visit'"``.
    """
    values = data[column]
    dtype = values.dtype
    check_cell_values(values, column, mixed=False)  # complex numbers, lists
    if _is_plain_numeric(values):
        return
    if isinstance(dtype, pd.IntervalDtype) and not categorical:
        raise DataError(
            column,
            f"{label} reads an interval column ({dtype}), which a model cannot use as a "
            f"number; pass the midpoints, data[{column!r}].array.mid, or make the intervals "
            f"categories with data[{column!r}].astype('category')",
        )
    if pd.api.types.is_datetime64_any_dtype(dtype) and not categorical:
        raise _datetime_error(column, label, str(dtype))
    if pd.api.types.is_timedelta64_dtype(dtype) and not categorical:
        raise _timedelta_error(column, label, str(dtype))
    if isinstance(dtype, pd.PeriodDtype) and not categorical:
        raise DataError(
            column,
            f"{label} reads a period column ({dtype}), which a model cannot use as a number; "
            f"pass a numeric column instead, e.g. data[{column!r}].dt.to_timestamp() turned "
            "into months since baseline",
        )
    if categorical or not (
        pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
    ):
        return  # categorical dtype, or a column used only inside C(): categories
    kind, markers = _object_contents(values)
    if kind == "dates":
        raise _datetime_error(column, label, "dates stored as objects", objects=True)
    if kind == "numbers":
        n_levels = len(pd.unique(values.dropna()))
        marked = ""
        recipe = f"pd.to_numeric(data[{column!r}])"
        if markers:
            marked = f", with missing-value marker(s) {', '.join(map(repr, markers))}"
            recipe = (
                f"pd.to_numeric(data[{column!r}], errors='coerce') (the markers become NaN, "
                "to drop or impute)"
            )
        raise DataError(
            column,
            f"{label} reads a column that holds numbers stored as text/object "
            f"({_describe(dtype)}"
            f"{marked}), which a formula would make a categorical with {n_levels} levels; "
            f"convert it with {recipe}, or with .astype('category') if the numbers are labels",
        )
    check_cell_values(values, column)  # text categories: 3 and "3" would be two levels


def _describe(dtype) -> str:
    return "dtype object" if pd.api.types.is_object_dtype(dtype) else f"dtype {dtype}"


def _datetime_error(column, label: str, what: str, *, objects: bool = False) -> DataError:
    dates = f"pd.to_datetime(data[{column!r}])" if objects else f"data[{column!r}]"
    return DataError(
        column,
        f"{label} reads a datetime column ({what}), which a model cannot use as a number; "
        "pass a numeric column instead, such as months since baseline: "
        f"data.assign(months=({dates} - {dates}.min()).dt.days / 30.4375) "
        "(subtract each subject's first date instead for time since each subject's baseline); "
        "ordering rows by a datetime time= works as it is",
    )


def _timedelta_error(column, label: str, what: str) -> DataError:
    return DataError(
        column,
        f"{label} reads a timedelta column ({what}), which a model cannot use as a number; "
        f"pass a numeric column instead, e.g. data.assign(months=data[{column!r}] / "
        f"pd.Timedelta(days=30.4375)) or data[{column!r}].dt.days",
    )


def _object_contents(values: pd.Series) -> tuple[str, list[str]]:
    """What an object/text column holds: "numbers", "dates" or "text", and missing markers.

    "numbers": every non-missing value is a number or a string that parses as one (strings
    such as "NA" or "." count as missing markers, returned); "dates": every non-missing value
    is a date or datetime.  Genuine text returns at its first non-numeric value.
    """
    uniques = pd.unique(values.dropna())
    if uniques.size == 0:
        return "text", []
    first = uniques[0]
    if isinstance(first, datetime.date):  # datetime.datetime and pd.Timestamp included
        is_date = all(isinstance(u, datetime.date) for u in uniques)
        return ("dates" if is_date else "text"), []
    markers: list[str] = []
    n_numbers = 0
    for value in uniques:
        if isinstance(value, bool | np.bool_):
            return "text", []
        if isinstance(value, numbers.Number):
            n_numbers += 1
            continue
        if not isinstance(value, str):
            return "text", []
        stripped = value.strip()
        if stripped.lower() in _MISSING_MARKERS:
            markers.append(value)
            continue
        try:
            float(stripped)
        except ValueError:
            return "text", []
        n_numbers += 1
    return ("numbers" if n_numbers else "text"), markers


class _Parsed:
    """A formula string's right-hand side, formulaic's Formula of it, and (computed on first
    use) the columns it reads: ``(_column_uses, _lookup_columns)``.  Callers must not modify
    the Formula or the dict."""

    def __init__(self, text: str, formula: Formula) -> None:
        self.text = text
        self.formula = formula

    @functools.cached_property
    def columns(self) -> tuple[dict, tuple[str, ...] | None]:
        return _column_uses(self.formula), _lookup_columns(self.formula)


@functools.lru_cache(maxsize=512)
def _parse_text(spec: str) -> _Parsed:
    """The parse of a formula string, cached by the string: it does not depend on data, and
    parsing costs about a millisecond, which a bootstrap would pay for the same few formulas
    in every replicate."""
    text = _r_powers_to_python(spec.split("~")[-1].strip()) or "1"
    return _Parsed(text, Formula(text))


def _lookup_columns(formula: Formula) -> tuple[str, ...] | None:
    """The columns of a formula that is only an intercept plus column lookups, else None.

    When those columns are numeric (``parse_terms`` checks) the design is built directly from
    them (formulaic's general machinery costs seconds on millions of rows); anything else
    goes through formulaic.
    """
    terms = list(formula)
    if not terms or [f.expr for f in terms[0].factors] != ["1"]:
        return None
    columns = []
    for term in terms[1:]:
        factors = list(term.factors)
        if len(factors) != 1 or factors[0].eval_method.name != "LOOKUP":
            return None
        columns.append(factors[0].expr)
    return tuple(columns)


def _numeric_columns(data: pd.DataFrame, columns: list) -> set:
    """Those of ``columns`` that are real numbers or booleans of a numpy dtype: for them every
    check of ``check_model_column`` passes, and reading the frame's dtypes once is cheaper
    than selecting each column (a bootstrap checks the same columns in every replicate)."""
    if isinstance(data.columns, pd.MultiIndex) or not columns:
        return set()
    dtypes = dict(zip(data.columns, data.dtypes.to_numpy(), strict=True))
    return {c for c in columns if isinstance(dt := dtypes[c], np.dtype) and dt.kind in "biuf"}


def _is_plain_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)


def _r_powers_to_python(text: str) -> str:
    """Inside ``I(...)`` R's ``^`` is a power; formulaic evaluates it as Python (``**``)."""
    out = []
    i = 0
    while i < len(text):
        match = re.compile(r"\bI\(").search(text, i)
        if match is None:
            out.append(text[i:])
            break
        out.append(text[i : match.end()])
        depth = 1
        j = match.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        out.append(text[match.end() : j].replace("^", "**"))
        i = j
    return "".join(out)


def _column_uses(formula: Formula) -> dict[str, bool]:
    """The data columns a formula reads, in order of appearance -> used only inside ``C()``.

    formulaic's own ``required_variables`` misses arguments of stateful transforms
    (``center(x)``), so the factor expressions are walked here: plain lookups are columns;
    in Python expressions every bare name that is neither called nor an attribute base is.
    A column whose every use is the first argument of ``C(...)`` maps to True.
    """
    uses: dict[str, bool] = {}
    for term in formula:
        for column, in_c in _factor_columns(term):
            uses[column] = uses.get(column, True) and in_c
    return uses


def _columns_read(formula: Formula) -> list[str]:
    """The data columns a formula reads, in order of appearance."""
    return list(_column_uses(formula))


def _factor_columns(term) -> list[tuple[str, bool]]:
    """(column, used as the first argument of C()) for each column a term's factors read."""
    out: list[tuple[str, bool]] = []
    for factor in term.factors:
        method = factor.eval_method.name
        if method == "LOOKUP":
            out.append((factor.expr, False))
        elif method == "PYTHON":
            in_c = set(_names_in_expression(factor.expr, categorical_only=True))
            out.extend((name, name in in_c) for name in _names_in_expression(factor.expr))
    return out


def _names_in_expression(expr: str, *, categorical_only: bool = False) -> list[str]:
    """Bare names in a Python expression (the columns it reads).

    With ``categorical_only`` only the names that are the first argument of a ``C(...)`` call.
    """
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:
        key = f"__msm_quoted_{len(quoted)}"
        quoted[key] = match.group(1)
        return key

    tree = ast.parse(_BACKTICKED.sub(placeholder, expr), mode="eval")
    not_columns = set()
    in_c = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            not_columns.add(id(node.func))
            if node.func.id == "C" and node.args and isinstance(node.args[0], ast.Name):
                in_c.add(id(node.args[0]))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            not_columns.add(id(node.value))
    names = [
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and id(node) not in not_columns
        and (not categorical_only or id(node) in in_c)
    ]
    return [quoted.get(name, name) for name in names]


@dataclass(frozen=True)
class Design:
    """A design matrix (C-contiguous float64) with column names and the spec to rebuild it."""

    matrix: np.ndarray
    names: list[str]
    spec: ModelSpec | None = None


def design_matrix(terms: Terms, frame: pd.DataFrame) -> Design:
    """Build the design matrix of ``terms`` on ``frame`` (rows as given).

    A design that formulaic evaluates is checked for non-finite entries (``np.log(z)`` with
    a zero in ``z``): DataError naming the term, the column(s) it reads, where the formula
    is used and the row labels.  The direct design (intercept plus numeric columns) is not:
    callers check those columns for NaN and inf before building it.
    """
    n = len(frame)
    if terms.plain_columns is not None:
        matrix = np.empty((n, len(terms.plain_columns) + 1))
        matrix[:, 0] = 1.0
        if terms.plain_columns:  # one block copy: column-by-column fills of a row-major
            # matrix are several times slower on millions of rows
            columns = list(dict.fromkeys(terms.plain_columns))
            block = frame[columns].to_numpy(dtype=np.float64)
            position = {c: k for k, c in enumerate(columns)}
            matrix[:, 1:] = block[:, [position[c] for c in terms.plain_columns]]
        return Design(matrix, ["Intercept", *terms.plain_columns])
    gathered = resampled_design(terms, frame)
    if gathered is not None:
        return gathered
    model, matrix = _evaluate(
        terms, frame, lambda na: model_matrix(terms.formula, frame, na_action=na)
    )
    return Design(matrix, list(model.columns), model.model_spec)


# ---------------------------------------------------------------------------------------------
# bootstrap resamples: row-local designs built once on the original data, gathered per replicate

# numpy functions a row-local formula may call (elementwise ufuncs), and formulaic's I()
_ELEMENTWISE_OPERATORS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.FloorDiv, ast.Mod, ast.USub, ast.UAdd,
)  # fmt: skip


@functools.lru_cache(maxsize=512)
def is_row_local(text: str) -> bool:
    """Whether every term of a formula is a product of numeric factors each computed from
    one row's values alone: column lookups, numbers, arithmetic, ``I(...)`` and numpy ufuncs
    (``np.log(x)``).  Such a design's rows on a resample are the original design's rows.

    Not row-local: stateful transforms (``center``, ``scale``, splines learn from the data),
    categories (their levels and columns depend on which values occur), and any other call
    or attribute (``x.mean()``).  Whether every column is numeric is checked on the data.
    """
    try:
        formula = _parse_text(text).formula
    except Exception:
        return False
    for term in formula:
        for factor in term.factors:
            method = factor.eval_method.name
            if method == "LITERAL" and factor.expr == "1":
                continue
            if method == "LOOKUP":
                continue
            if method != "PYTHON" or not _elementwise(factor.expr):
                return False
    return True


def _elementwise(expr: str) -> bool:
    if _BACKTICKED.search(expr):
        return False  # quoted names: keep to the ordinary path
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if node.keywords or not node.args:
                return False
            if isinstance(func, ast.Name) and func.id == "I" and len(node.args) == 1:
                continue
            if not (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in {"np", "numpy"}
                and isinstance(getattr(np, func.attr, None), np.ufunc)
            ):
                return False
        elif isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id in {"np", "numpy"}):
                return False
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                return False
        elif isinstance(node, ast.BinOp | ast.UnaryOp):
            if not isinstance(node.op, _ELEMENTWISE_OPERATORS):
                return False
        elif not isinstance(
            node, ast.Expression | ast.Name | ast.Load | ast.operator | ast.unaryop
        ):
            return False
    return True


def _numeric_array(values: pd.Series) -> np.ndarray | None:
    """A column's values as its own contiguous numpy array when it is a plain numeric column
    (ints or floats; the same ufunc loop then runs on the original and on the resample)."""
    array = values.to_numpy() if isinstance(values.dtype, np.dtype) else None
    if array is None or array.dtype.kind not in "iuf" or not array.flags.c_contiguous:
        return None
    return array


def _original_design(terms: Terms, data: pd.DataFrame):
    """The design of a row-local formula on the original data and the columns it read
    (copies, so a later change to the original cannot go unnoticed); None when replicates
    must build their own design."""
    columns = {}
    for column in terms.columns:
        if column not in data.columns:
            return None
        array = _numeric_array(data[column])
        if array is None:
            return None
        columns[column] = array.copy()
    try:
        model, matrix = _evaluate(
            terms, data, lambda na: model_matrix(terms.formula, data, na_action=na)
        )
    except (DataError, ValueError):
        return None
    spec = model.model_spec
    kinds = [kind for kind, _ in spec.encoder_state.values()]
    if spec.transform_state or any(kind.name != "NUMERICAL" for kind in kinds):
        return None
    return Design(matrix, list(model.columns), spec), columns


def resampled_design(terms: Terms, frame: pd.DataFrame, rows: np.ndarray | None = None):
    """For a bootstrap resample (``msm._bootstrap.provenance_of``) and a row-local formula:
    its design gathered from the design built once on the original data, else None.

    ``rows`` (positions in ``frame``) selects rows of the resample.  Every column the formula
    reads is first compared with the original's rows: a statistic that changed a column
    gets a design built afresh.  The numbers are those formulaic gives on the resample: the
    same elementwise operations on the same values, row by row.
    """
    if terms.formula is None or terms.plain_columns is not None:
        return None
    provenance = provenance_of(frame)
    if provenance is None or not is_row_local(terms.text):
        return None
    designs = provenance.origin.designs
    key = (terms.text, terms.columns)
    if key not in designs:
        designs[key] = _original_design(terms, provenance.origin.data)
    entry = designs[key]
    if entry is None:
        return None
    design, originals = entry
    positions = provenance.rows
    for column, original in originals.items():
        values = _numeric_array(frame[column])
        if (
            values is None
            or values.dtype != original.dtype
            or values.shape != positions.shape
            or not np.array_equal(values, original[positions])
        ):
            return None
    if rows is not None:
        positions = positions[rows]
    return Design(design.matrix[positions], list(design.names), design.spec)


def rebuild(terms: Terms, spec: ModelSpec | None, frame: pd.DataFrame) -> np.ndarray:
    """The same design on new rows (stateful transforms keep their fitted state).

    ``spec`` is ``Design.spec`` of the original design (None for a direct design).  Checked
    for non-finite entries as ``design_matrix`` checks them.
    """
    if spec is None:
        return design_matrix(terms, frame).matrix
    columns = _rebuild_columns(terms, spec, frame)
    if columns is not None:
        cached = _REBUILDS.get(id(spec))
        if cached is not None and cached[0] is spec and _same_columns(cached[1], columns):
            return cached[2].copy()
    _, matrix = _evaluate(terms, frame, lambda na: spec.get_model_matrix(frame, na_action=na))
    if columns is not None:
        _REBUILDS[id(spec)] = (spec, {c: v.copy() for c, v in columns.items()}, matrix.copy())
        while len(_REBUILDS) > 4:
            _REBUILDS.pop(next(iter(_REBUILDS)))
    return matrix


# the last rebuild of a few small row-local designs: (spec, the columns read, matrix) by
# id(spec).  A bootstrap's replicates share the original's spec (``resampled_design``) and
# often rebuild it on the same rows (risk curves' regime rows when the MSM has no baseline
# covariates): the same spec on the same values gives the same matrix.
_REBUILDS: dict[int, tuple[ModelSpec, dict, np.ndarray]] = {}
_REBUILD_CACHE_CELLS = 1 << 21  # rows x columns read, at most


def _rebuild_columns(terms: Terms, spec: ModelSpec, frame: pd.DataFrame) -> dict | None:
    """The columns a cacheable rebuild reads, else None."""
    if not is_row_local(terms.text) or len(frame) * max(len(terms.columns), 1) > (
        _REBUILD_CACHE_CELLS
    ):
        return None
    if spec.transform_state or any(k.name != "NUMERICAL" for k, _ in spec.encoder_state.values()):
        return None
    columns = {}
    for column in terms.columns:
        if column not in frame.columns:
            return None
        array = _numeric_array(frame[column])
        if array is None:
            return None
        columns[column] = array
    return columns


def _same_columns(cached: dict, columns: dict) -> bool:
    return cached.keys() == columns.keys() and all(
        cached[c].dtype == v.dtype and cached[c].shape == v.shape and np.array_equal(cached[c], v)
        for c, v in columns.items()
    )


def _evaluate(terms: Terms, frame: pd.DataFrame, build):
    """formulaic's model matrix and its C-contiguous float64 array, checked to be finite.

    ``build(na_action)`` makes the model matrix.  formulaic itself refuses a factor that
    evaluates to NaN (``np.sqrt`` of a negative); the design is then rebuilt keeping those
    rows only to say which term, column and rows are at fault.
    """
    label = terms.label or f"formula {terms.text!r}"
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # reported below
        try:
            model = build("raise")
        except FormulaicError as exc:
            raise DataError(None, f"{label} could not be evaluated on the data: {exc}") from None
        except ValueError as exc:  # formulaic: "`np.sqrt(l)` contains null values ..."
            if "null values" not in str(exc):
                raise
            model = build("ignore")
            matrix = model.to_numpy(dtype=np.float64)
            if np.isfinite(matrix).all():  # e.g. a missing category: nothing to point at
                raise DataError(None, f"{label}: {exc}") from None
        matrix = np.ascontiguousarray(model.to_numpy(dtype=np.float64))
    if not np.isfinite(matrix).all():
        raise _not_finite_error(label, matrix, list(model.columns), model.model_spec, frame)
    return model, matrix


def _not_finite_error(label, matrix, names, spec, frame) -> DataError:
    """DataError for the first design column with NaN or inf: its term, source columns, rows."""
    finite = np.isfinite(matrix)
    bad_columns = [j for j in range(matrix.shape[1]) if not finite[:, j].all()]
    j = bad_columns[0]
    name = names[j]
    bad = ~finite[:, j]
    n_inf = int(np.isinf(matrix[:, j]).sum())
    n_nan = int(bad.sum()) - n_inf
    if n_inf and n_nan:
        counts = f"infinite or NaN on {n_inf + n_nan}"
        split = f" ({n_inf} infinite, {n_nan} NaN)"
    else:
        counts, split = f"{'infinite' if n_inf else 'NaN'} on {n_inf + n_nan}", ""
    sources = _sources_of(name, spec, frame)
    plural = "s" if len(sources) > 1 else ""
    read = f" (from column{plural} {', '.join(map(repr, sources))})" if sources else ""
    why = (
        "a transform is undefined or overflows there (log or 1/x of 0, sqrt or log of a "
        "negative number, exp of a large one)"
    )
    source_bad = [c for c in sources if _not_finite_count(frame[c].iloc[np.flatnonzero(bad)])]
    if source_bad:
        why = f"column(s) {', '.join(map(repr, source_bad))} are missing or infinite there"
    also = [names[k] for k in bad_columns[1:]][:SHOWN_IDS]
    others = f"; also not finite: {', '.join(map(repr, also))}" if also else ""
    return DataError(
        sources[0] if sources else name,
        f"{label}: the term {name!r}{read} is {counts} of {matrix.shape[0]} rows{split}: "
        f"{why}; change the formula (e.g. np.log1p or a shifted "
        f"argument) or drop those rows{others}",
        list(frame.index[bad]),
        what="rows",
    )


def _not_finite_count(values: pd.Series) -> int:
    if not _is_plain_numeric(values):
        return int(values.isna().sum())
    return int((~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))).sum())


def _sources_of(name: str, spec, frame: pd.DataFrame) -> list:
    """The data columns read by the term that makes design column ``name``."""
    for entry in getattr(spec, "structure", None) or []:
        if name in entry.columns:
            columns = [c for c, _ in _factor_columns(entry.term)]
            return [c for c in dict.fromkeys(columns) if c in frame.columns]
    return []


def model_frame(data: pd.DataFrame, terms: Terms, rows: np.ndarray) -> pd.DataFrame:
    """The columns ``terms`` reads, on the given row positions (copies only those columns)."""
    return pd.DataFrame({c: data[c].iloc[rows] for c in terms.columns}, index=data.index[rows])


def design_rows(terms: Terms, data: pd.DataFrame, rows: np.ndarray) -> Design:
    """The design of ``terms`` on row positions ``rows`` of ``data``.

    A direct design (intercept plus numeric columns) is gathered straight from the columns
    into the matrix in one parallel pass, with no intermediate frame; anything else builds
    the model frame of those rows and goes through formulaic.
    """
    if terms.plain_columns is None:
        gathered = resampled_design(terms, data, rows)
        if gathered is not None:
            return gathered
        return design_matrix(terms, model_frame(data, terms, rows))
    matrix = np.empty((rows.size, len(terms.plain_columns) + 1))
    matrix[:, 0] = 1.0
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    for j, column in enumerate(terms.plain_columns, start=1):
        source = data[column].to_numpy()  # a view for numpy-backed numeric columns
        if source.dtype == bool:
            source = source.view(np.uint8)
        elif source.dtype.kind == "f" and source.dtype.itemsize not in (4, 8):
            source = source.astype(np.float64)  # float16, longdouble: no numba kernel
        _kernels.gather_column(source, rows, matrix, j)
    return Design(matrix, ["Intercept", *terms.plain_columns])


def intercept_columns(design: Design) -> list[int]:
    """Positions of the intercept's column(s) in ``design``, found by position, never by name.

    A direct design (intercept plus numeric columns) has its intercept in column 0; a
    formulaic design's intercept is the column of its intercept term (the term ``1``), absent
    when the formula removes it (``"0 + x"``).  A data column that happens to be called
    ``Intercept`` is therefore a covariate like any other.

    Raises DataError when formulaic has merged such a column with its own intercept column of
    the same name (it keeps one column per name, so the matrix would silently lose one).

    Examples
    --------
    >>> frame = pd.DataFrame({"Intercept": [0.5, 1.5, 2.5], "x": [1.0, 0.0, 1.0]})
    >>> design = design_matrix(parse_terms(["Intercept", "x"], frame, "covariates"), frame)
    >>> design.names, intercept_columns(design)
    (['Intercept', 'Intercept', 'x'], [0])
    """
    if design.spec is None:
        return [0]
    names = list(design.spec.column_names)
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated or len(names) != design.matrix.shape[1]:
        raise DataError(
            duplicated[0] if duplicated else None,
            f"formula columns {duplicated} have the same name as the design column of another "
            "term (formulaic keeps one column per name, so one would be lost); rename the "
            "data column, e.g. data.rename(columns={'Intercept': 'intercept_'})",
        )
    for term, columns in design.spec.term_indices.items():
        if [factor.expr for factor in term.factors] == ["1"]:
            return list(columns)
    return []
