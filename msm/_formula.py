"""Right-hand sides of model formulas: parsing, the columns they read, design matrices.

A specification is either a Wilkinson formula parsed by formulaic (``"sex + age + I(t**2)"``;
R's ``^`` for powers inside ``I()`` is accepted too) or a list of column names.  An intercept
is always included unless the formula removes it (``"0 + x"`` or ``"- 1"``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec, model_matrix

from msm import _kernels
from msm.panel import DataError

_BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Terms:
    """A parsed right-hand side: its text, the data columns it reads, how to build it."""

    text: str
    columns: tuple[str, ...]
    plain_columns: tuple[str, ...] | None = None  # a list spec: numeric columns, no formulaic
    formula: Formula | None = field(default=None, repr=False)

    @property
    def is_empty(self) -> bool:
        """Intercept only."""
        return not self.columns and self.text.strip() in {"", "1"}


def parse_terms(spec: str | Sequence[str] | None, data: pd.DataFrame, role: str) -> Terms:
    """Parse a formula RHS or a list of columns and check every column it names exists.

    Raises DataError naming the unknown column(s) and the formula.
    """
    if spec is None:
        spec = "1"
    if isinstance(spec, str):
        text = _r_powers_to_python(spec.split("~")[-1].strip()) or "1"
        try:
            formula = Formula(text)
        except Exception as exc:  # formulaic's parser errors have several types
            raise DataError(None, f"{role} formula {spec!r} could not be parsed: {exc}") from None
        columns = _columns_read(formula)
        unknown = [c for c in columns if c not in data.columns]
        if unknown:
            raise DataError(
                unknown[0],
                f"{role} formula {spec!r} names column(s) not in data: "
                f"{', '.join(map(repr, unknown))} (quote names with dots or spaces in "
                "backticks, e.g. `cd4.sqrt`)",
            )
        plain = _plain_columns(formula, data)
        return Terms(text=text, columns=tuple(columns), plain_columns=plain, formula=formula)
    columns = list(spec)
    unknown = [c for c in columns if c not in data.columns]
    if unknown:
        raise DataError(
            unknown[0],
            f"{role} covariate(s) not in data: {', '.join(map(repr, unknown))}",
        )
    text = " + ".join(f"`{c}`" for c in columns) or "1"
    if all(_is_plain_numeric(data[c]) for c in columns):
        return Terms(text=text, columns=tuple(columns), plain_columns=tuple(columns))
    return Terms(text=text, columns=tuple(columns), formula=Formula(text))


def _plain_columns(formula: Formula, data: pd.DataFrame) -> tuple[str, ...] | None:
    """The columns of a formula that is only an intercept plus numeric columns, else None.

    Such a design is built directly from the columns (formulaic's general machinery costs
    seconds on millions of rows); anything else goes through formulaic.
    """
    terms = list(formula)
    if not terms or [f.expr for f in terms[0].factors] != ["1"]:
        return None
    columns = []
    for term in terms[1:]:
        factors = list(term.factors)
        if len(factors) != 1 or factors[0].eval_method.name != "LOOKUP":
            return None
        column = factors[0].expr
        if not _is_plain_numeric(data[column]):
            return None
        columns.append(column)
    return tuple(columns)


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


def _columns_read(formula: Formula) -> list[str]:
    """The data columns a formula reads, in order of appearance.

    formulaic's own ``required_variables`` misses arguments of stateful transforms
    (``center(x)``), so the factor expressions are walked here: plain lookups are columns;
    in Python expressions every bare name that is neither called nor an attribute base is.
    """
    columns: list[str] = []
    for term in formula:
        for factor in term.factors:
            method = factor.eval_method.name
            if method == "LOOKUP":
                columns.append(factor.expr)
            elif method == "PYTHON":
                columns.extend(_names_in_expression(factor.expr))
    return list(dict.fromkeys(columns))


def _names_in_expression(expr: str) -> list[str]:
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:
        key = f"__msm_quoted_{len(quoted)}"
        quoted[key] = match.group(1)
        return key

    tree = ast.parse(_BACKTICKED.sub(placeholder, expr), mode="eval")
    not_columns = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            not_columns.add(id(node.func))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            not_columns.add(id(node.value))
    names = [
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and id(node) not in not_columns
    ]
    return [quoted.get(name, name) for name in names]


@dataclass(frozen=True)
class Design:
    """A design matrix (C-contiguous float64) with column names and the spec to rebuild it."""

    matrix: np.ndarray
    names: list[str]
    spec: ModelSpec | None = None


def design_matrix(terms: Terms, frame: pd.DataFrame) -> Design:
    """Build the design matrix of ``terms`` on ``frame`` (rows as given)."""
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
    model = model_matrix(terms.formula, frame, na_action="raise")
    matrix = np.ascontiguousarray(model.to_numpy(dtype=np.float64))
    return Design(matrix, list(model.columns), model.model_spec)


def rebuild(terms: Terms, spec: ModelSpec | None, frame: pd.DataFrame) -> np.ndarray:
    """The same design on new rows (stateful transforms keep their fitted state).

    ``spec`` is ``Design.spec`` of the original design (None for a direct design).
    """
    if spec is None:
        return design_matrix(terms, frame).matrix
    model = spec.get_model_matrix(frame, na_action="raise")
    return np.ascontiguousarray(model.to_numpy(dtype=np.float64))


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
        return design_matrix(terms, model_frame(data, terms, rows))
    matrix = np.empty((rows.size, len(terms.plain_columns) + 1))
    matrix[:, 0] = 1.0
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    for j, column in enumerate(terms.plain_columns, start=1):
        source = data[column].to_numpy()  # a view for numpy-backed numeric columns
        if source.dtype == bool:
            source = source.view(np.uint8)
        _kernels.gather_column(source, rows, matrix, j)
    return Design(matrix, ["Intercept", *terms.plain_columns])
