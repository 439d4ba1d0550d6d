"""One validation layer for the diagnostics: data, treatment, covariates, weights, time, id.

Everything is resolved once into plain arrays in the caller's row order (``Inputs``); the
diagnostics never touch the caller's DataFrame again.  A ``Weights`` object supplies ``id``,
``time``, ``absorbing`` and ``treatment`` so the user need not repeat them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm import _kernels
from msm._formula import design_matrix, intercept_columns, parse_terms
from msm.panel import (
    DataError,
    Panel,
    binary_column,
    build_panel,
    check_absorbing,
    check_columns_exist,
    check_finite_by,
    check_frame,
    resolve_weights,
    weight_exponent,
)
from msm.weights import Weights

Covariates = str | Sequence[str]


@dataclass(frozen=True, eq=False)
class Inputs:
    """Validated diagnostic inputs, all arrays in the caller's row order."""

    treatment: str
    a: np.ndarray  # 0/1 as float64
    X: np.ndarray  # (n, p) float64, C-contiguous
    names: list[str]
    binary: np.ndarray  # (p,) bool: covariate takes only the values 0 and 1
    w: np.ndarray  # the weights times a power of two that brings their mean near 1
    weights_label: str | None  # None: no weights given
    id: str | None
    time: str | None
    by: str | None  # the column results are given by (defaults to time)
    by_values: np.ndarray | None
    risk_set: bool
    compared: np.ndarray  # (n,) bool: rows in the comparison (the risk set, or all rows)
    panel: Panel | None  # sorted by (id, time) when both are known
    # categorical covariates: name -> positions of its level columns in X (reference first)
    factors: dict = field(default_factory=dict)
    weight_exponent: int = 0  # w is the weights times 2**-weight_exponent

    @property
    def n(self) -> int:
        return self.a.size


def weights_defaults(weights) -> dict:
    """``id``, ``time``, ``absorbing``, ``treatment`` carried by a Weights object."""
    if not isinstance(weights, Weights):
        return {}
    panel = weights.panel
    time = panel.time_name  # None for a point treatment (time=None)
    return {
        "id": panel.id_name,
        "time": time,
        "absorbing": bool(weights.settings["absorbing"]),
        "treatment": weights.settings["treatment"],
    }


def describe_weights(weights) -> str | None:
    if weights is None:
        return None
    if isinstance(weights, Weights):
        kind = "stabilized" if weights.settings["stabilized"] else "unstabilized"
        estimand = weights.settings.get("estimand", "ATE")
        if weights.settings.get("policy") is not None:
            return f"{kind} IPTW, a stochastic plan"
        return f"{kind} IPTW" + ("" if estimand == "ATE" else f", {estimand}")
    if isinstance(weights, str):
        return f"column {weights!r}"
    return "weights given as an array"


def resolve_inputs(
    data: pd.DataFrame,
    *,
    treatment: str | None,
    covariates: Covariates,
    weights,
    time: str | None,
    id: str | None,
    absorbing: bool | None,
    by: str | None = None,
    risk_set: bool | None,
    caller: str,
    need_panel: bool = False,
    weights_as: str = "cumulative",
    all_levels: bool = False,
) -> Inputs:
    """Validate everything a diagnostic needs and return it as arrays (caller order).

    ``need_panel`` requires ``id`` and ``time`` (history-aware balance).  With an absorbing
    treatment the compared rows default to the risk set: each subject's rows up to and
    including the first treated one.  ``weights_as="final"`` gives every row its subject's
    final weight (the weight at its last row); ``all_levels`` adds each categorical
    covariate's reference level as a column (``Inputs.factors`` records the levels).
    """
    check_frame(data)
    defaults = weights_defaults(weights)
    treatment = treatment if treatment is not None else defaults.get("treatment")
    id = id if id is not None else defaults.get("id")
    time = time if time is not None else defaults.get("time", by)
    absorbing = absorbing if absorbing is not None else defaults.get("absorbing", False)
    if treatment is None:
        raise TypeError(f"{caller}() needs treatment= (the 0/1 treatment column)")
    if covariates is None or (
        not isinstance(covariates, str) and hasattr(covariates, "__len__") and not covariates
    ):
        raise TypeError(f"{caller}() needs covariates= (a list of columns or a formula)")
    for argument, value in (("absorbing", absorbing), ("risk_set", risk_set)):
        if value is not None and not isinstance(value, bool | np.bool_):
            raise TypeError(f"{argument} must be True, False or None, got {value!r}")
    for argument, value in (("treatment", treatment), ("by", by), ("id", id), ("time", time)):
        if value is not None and not isinstance(value, str | int | np.integer | tuple):
            raise TypeError(
                f"{argument} must be a column name, got {type(value).__name__} {value!r}"
            )
    risk_set = absorbing if risk_set is None else bool(risk_set)
    if (risk_set or need_panel) and (id is None or time is None):
        why = "history-aware balance" if need_panel else "the risk set of an absorbing treatment"
        missing = " and ".join(f"{k}=" for k, v in (("id", id), ("time", time)) if v is None)
        raise TypeError(
            f"{caller}(): {why} needs {missing} (or weights= from msm.iptw, which carries them)"
        )
    by = time if by is None else by
    named = [c for c in dict.fromkeys((id, time, by, treatment)) if c is not None]
    check_columns_exist(data, named, f"{caller}: id/time/by/treatment")
    if by is not None and by == treatment:
        raise DataError(
            by,
            f"{caller}: by= is the treatment column {treatment!r}; within each of its values "
            "everyone has the same treatment, so there is nothing to compare (by= is the "
            "time, or another grouping column)",
        )
    terms = parse_terms(covariates, data, f"{caller} covariates")
    if treatment in terms.columns:
        raise DataError(
            treatment,
            f"{caller}: the covariates {covariates!r} include the treatment column "
            f"{treatment!r}; balance compares the covariates between its arms: remove it",
        )
    # columns iptw validated on this very frame are not checked again
    reuse = isinstance(weights, Weights) and weights.computed_on(data)
    checked = set(weights.spec.columns) if reuse else set()
    check_finite_by(data, [c for c in [*named, *terms.columns] if c not in checked], id)

    a = binary_column(data, treatment, "treatment", id)
    frame = pd.DataFrame({c: data[c] for c in terms.columns}, index=data.index)
    design = design_matrix(terms, frame)
    intercept = intercept_columns(design)  # by position: a column called "Intercept" stays
    keep = [j for j in range(len(design.names)) if j not in intercept]
    X = np.ascontiguousarray(design.matrix[:, keep])
    names = [design.names[j] for j in keep]
    if not names:
        raise DataError(None, f"{caller}: covariates {covariates!r} give no columns to compare")
    factors: dict = {}
    if all_levels:
        X, names, factors = with_reference_levels(X, names, data, terms.columns)
    binary = np.array(
        [bool(np.all((X[:, j] == 0.0) | (X[:, j] == 1.0))) for j in range(X.shape[1])],
        dtype=bool,
    )
    w = resolve_weights(data, weights)
    if weights_as == "final":
        w = final_weights(data, weights, w, id, time, caller)
    k = weight_exponent(w)  # a power of two (exact): every diagnostic is scale-free, and
    w = np.ldexp(w, -k) if k else w  # sums of w**2 must not under- or overflow

    panel = None
    by_values = data[by].to_numpy() if by is not None else None
    compared = np.ones(len(data), dtype=bool)
    if id is not None and time is not None and (risk_set or need_panel or absorbing):
        same = reuse and (weights.panel.id_name, weights.panel.time_name) == (id, time)
        panel = weights.panel if same else build_panel(data, id, time)
        # the Weights' risk set when it is the same treatment's, absorbing there too
        own = same and weights.spec.treatment == treatment and weights.spec.absorbing
        if absorbing and not own:
            a_sorted = panel.sort(a)
            check_absorbing(panel, a_sorted, treatment)
        if risk_set and own:
            compared = weights.risk_set
        elif risk_set:
            a_sorted = panel.sort(a)
            before = _kernels.cumulative_log_weights(a_sorted, panel.starts) - a_sorted
            compared = panel.unsort(before == 0.0)
    return Inputs(
        treatment=treatment,
        a=a,
        X=X,
        names=names,
        binary=binary,
        w=w,
        weights_label=describe_weights(weights),
        id=id,
        time=time,
        by=by,
        by_values=by_values,
        risk_set=risk_set,
        compared=compared,
        panel=panel,
        factors=factors,
        weight_exponent=k,
    )


_LEVEL = re.compile(r"^(?P<prefix>[^:]*)\[T\.(?P<level>[^\]]*)\]$")


def is_level_name(name) -> bool:
    """A design column of a categorical covariate's level (formulaic's ``x[T.b]``)."""
    return isinstance(name, str) and _LEVEL.match(name) is not None


def with_reference_levels(X: np.ndarray, names: list, data: pd.DataFrame, columns):
    """Each categorical main effect with its reference level added (1 - the others), so
    every level is listed; ``{factor: [positions of its levels]}``.

    Factors are recognised by formulaic's treatment-coded names ``x[T.b]`` / ``C(x)[T.b]``.
    """
    groups: dict = {}
    for j, name in enumerate(names):
        match = _LEVEL.match(str(name)) if isinstance(name, str) else None
        if match:
            groups.setdefault(match["prefix"], []).append((j, match["level"]))
    if not groups:
        return X, names, {}
    out_cols, out_names, factors = [], [], {}
    position = {}
    for j, name in enumerate(names):
        position[j] = len(out_names)
        match = _LEVEL.match(str(name)) if isinstance(name, str) else None
        prefix = match["prefix"] if match else None
        if match and groups[prefix][0][0] == j:  # the factor's first level: reference first
            column = prefix[2:-1] if prefix.startswith("C(") and prefix.endswith(")") else prefix
            present = {level for _, level in groups[prefix]}
            levels = _levels_of(data, column) if column in columns else []
            missing = [v for v in levels if v not in present]
            if len(missing) == 1:
                block = X[:, [i for i, _ in groups[prefix]]]
                out_cols.append(1.0 - block.sum(axis=1))
                out_names.append(f"{prefix}[T.{missing[0]}]")
                factors[prefix] = [len(out_names) - 1]
        out_cols.append(X[:, j])
        out_names.append(name)
        if prefix in factors:
            factors[prefix].append(len(out_names) - 1)
    return np.ascontiguousarray(np.column_stack(out_cols)), out_names, factors


def _levels_of(data: pd.DataFrame, column) -> list[str]:
    values = data[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(v) for v in values.cat.categories]
    return [str(v) for v in sorted(pd.unique(values.dropna()))]


def final_weights(data, weights, w: np.ndarray, id, time, caller: str) -> np.ndarray:
    """Every row's subject's final weight: the weight at the subject's last row (by time)."""
    if id is None or time is None:
        raise TypeError(
            f"{caller}(): weights_as='final' needs id= and time= (or weights= from msm.iptw)"
        )
    panel = weights.panel if isinstance(weights, Weights) else build_panel(data, id, time)
    sorted_w = panel.sort(w)
    last = sorted_w[panel.starts[1:] - 1]
    return panel.unsort(np.repeat(last, np.diff(panel.starts)))


def time_groups(values: np.ndarray | None, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``values[mask]`` and each masked row's group number."""
    if values is None:
        return np.array(["all"], dtype=object), np.zeros(int(mask.sum()), dtype=np.int64)
    keys, inverse = np.unique(values[mask], return_inverse=True)
    return keys, inverse.astype(np.int64)


def kish(total, squares):
    """Kish ESS from the sum of weights and the sum of squared weights (0 when both are 0)."""
    total = np.asarray(total, dtype=np.float64)
    squares = np.asarray(squares, dtype=np.float64)
    positive = squares > 0
    return np.where(positive, total * total / np.where(positive, squares, 1.0), 0.0)
