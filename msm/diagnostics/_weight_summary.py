"""Weight summaries: overall and by time, Kish ESS, and where the largest weights come from.

A subject's log weight at a row is the running sum of per-row log factors,
``log(numerator) - log(denominator)`` for treatment and for censoring (``Weights.log_factors``,
sorted order).  For each of the largest weights the single largest term of that sum up to the
row, its time and its model, says which visit and which model to look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm._formula import parse_terms
from msm.diagnostics._inputs import kish
from msm.panel import DataError, check_frame, resolve_weights, weight_exponent
from msm.weights import Weights

# the two parts of a weight: (name, denominator model key, numerator model key)
_PARTS = (
    ("treatment", "denominator", "numerator"),
    ("censoring", "censor_denominator", "censor_numerator"),
)


@dataclass(frozen=True, eq=False)
class WeightSummary:
    """Summaries of IP weights.

    Attributes
    ----------
    overall : pandas.DataFrame
        One row: n, min, p1, median, mean, p99, max, sd, Kish ESS, n_truncated.
    by_time : pandas.DataFrame or None
        The same per time (None for point-treatment weights).
    extreme : pandas.DataFrame
        The ``k`` largest weights before truncation, largest first, indexed by the data's row
        labels: id, time, ``weight`` (final), ``untruncated``; ``top_time`` and ``top_model``
        (``"treatment"`` or ``"censoring"``) of the largest single factor up to that row, that
        factor (``top_factor``, numerator over denominator), its share of the log weight
        (``top_share``), the denominator model's probability of what happened there
        (``p_observed``), and the covariate values there (``<column>@top``, when ``data`` was
        given).
    """

    overall: pd.DataFrame
    by_time: pd.DataFrame | None
    extreme: pd.DataFrame
    description: str

    def __repr__(self) -> str:
        lines = [self.description, "Overall:", self.overall.to_string(float_format=_fmt)]
        if self.by_time is not None:
            lines += ["By time:", self.by_time.to_string(float_format=_fmt, max_rows=30)]
        lines += [
            f"Largest {len(self.extreme)} weights and the factor that contributed most:",
            self.extreme.to_string(float_format=_fmt),
        ]
        return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def weight_summary(
    weights: Weights,
    data: pd.DataFrame | None = None,
    *,
    k: int = 5,
    covariates: Sequence[str] | None = None,
) -> WeightSummary:
    """Summarize IP weights: overall and by time, Kish ESS, truncation, the largest weights.

    For each of the ``k`` largest weights the summary finds the visit and model whose factor
    contributed most to it: the largest single term ``log(numerator / denominator)`` of the
    subject's log weight up to that row, over the treatment and censoring models.  Its fitted
    probability of what happened there and the covariate values at that visit show why.

    Parameters
    ----------
    weights : Weights
        From :func:`msm.iptw`.
    data : DataFrame, optional
        The data the weights were computed on (same index labels, any row order), to show
        covariate values at the contributing visits.
    k : int
        How many of the largest weights to explain.
    covariates : list of str, optional
        Columns to show; default: the columns the denominator models read.

    Returns
    -------
    WeightSummary

    Examples
    --------
    >>> import msm
    >>> cohort = msm.datasets.simulate_panel(n_subjects=300, seed=1)
    >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
    ...              denominator="x + l + time", numerator="time", absorbing=True)
    >>> s = msm.weight_summary(w, cohort, k=3)
    >>> list(s.extreme.columns[:5])
    ['id', 'time', 'weight', 'untruncated', 'top_time']
    """
    if not isinstance(weights, Weights):
        raise TypeError(
            f"weight_summary() needs a Weights object from msm.iptw, got {type(weights).__name__}"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k!r}")
    panel = weights.panel
    point = panel.time_name is None  # a point treatment (time=None) has no time
    by_time = None if point else weights.summary(by="time")
    extreme, top_rows = _extreme(weights, k)
    if data is not None:
        extreme = _with_covariates(extreme, top_rows, weights, data, covariates)
    if point:
        extreme = extreme.drop(columns=[panel.time_name, "top_time"])
    s = weights.settings
    kind = "stabilized" if s["stabilized"] else "unstabilized"
    description = (
        f"Weights: {kind} IPTW for {s['treatment']!r}; {panel.n_subjects} subjects, "
        f"{panel.n_rows} rows; {weights.n_truncated} rows truncated"
    )
    return WeightSummary(
        overall=weights.summary(), by_time=by_time, extreme=extreme, description=description
    )


def _log_ratio(weights: Weights, denominator: str, numerator: str) -> np.ndarray | None:
    factors = weights.log_factors
    if denominator not in factors:
        return None
    out = -factors[denominator]
    if numerator in factors:
        out = out + factors[numerator]
    return out


def _extreme(weights: Weights, k: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The k largest weights and, for each, the caller position of its top-factor row."""
    panel = weights.panel
    values = weights.weights.to_numpy()
    untruncated = weights.untruncated.to_numpy()
    top = np.argsort(-untruncated, kind="stable")[:k]  # caller positions
    position = np.empty(panel.n_rows, dtype=np.int64)  # caller position -> sorted position
    position[panel.order] = np.arange(panel.n_rows)
    parts = [(name, den, _log_ratio(weights, den, num)) for name, den, num in _PARTS]
    parts = [(name, den, c) for name, den, c in parts if c is not None]
    contribution = np.column_stack([c for _, _, c in parts])  # (n, parts), sorted order
    subject = np.searchsorted(panel.starts, position[top], side="right") - 1
    log_weight = np.log(untruncated[top])
    records = []
    for q, s in zip(position[top], subject, strict=True):
        block = contribution[panel.starts[s] : q + 1]
        flat = int(np.argmax(block))
        j, part = divmod(flat, block.shape[1])
        name, den, c = parts[part]
        at = panel.starts[s] + j
        records.append(
            {
                "top_time": panel.time[at],
                "top_model": name,
                "top_factor": float(np.exp(c[at])),
                "p_observed": float(np.exp(weights.log_factors[den][at])),
                "_row": panel.order[at],
                "_contribution": c[at],
            }
        )
    extra = pd.DataFrame(
        records,
        columns=["top_time", "top_model", "top_factor", "p_observed", "_row", "_contribution"],
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share = extra["_contribution"].to_numpy(dtype=float) / log_weight
    table = pd.DataFrame(
        {
            panel.id_name: panel.unsort(panel.ids)[top],
            panel.time_name: panel.unsort(panel.time)[top],
            "weight": values[top],
            "untruncated": untruncated[top],
            "top_time": extra["top_time"].to_numpy(),
            "top_model": extra["top_model"].to_numpy(),
            "top_factor": extra["top_factor"].to_numpy(),
            "top_share": share,
            "p_observed": extra["p_observed"].to_numpy(),
        },
        index=weights.weights.index[top],
    )
    return table, extra["_row"].to_numpy(dtype=np.int64)


def _model_columns(weights: Weights, data: pd.DataFrame) -> list[str]:
    columns: list[str] = []
    for key in ("denominator", "censor_denominator"):
        given = weights.settings.get(key)
        # per-time models: {time: formula}, each time's columns
        for spec in given.values() if isinstance(given, dict) else [given]:
            if spec is None:
                continue
            try:
                columns.extend(parse_terms(spec, data, key).columns)
            except DataError:  # a list of names joined with " + " that is not a valid formula
                columns.extend(c.strip() for c in spec.split("+") if c.strip() in data.columns)
    time = weights.panel.time_name
    return [c for c in dict.fromkeys(columns) if c != time]


def _with_covariates(
    table: pd.DataFrame, rows: np.ndarray, weights: Weights, data: pd.DataFrame, covariates
) -> pd.DataFrame:
    """Add the covariate values at each top-factor row (``rows``: caller positions)."""
    check_frame(data)
    index = weights.weights.index
    if data.index.equals(index):
        positions = rows
    else:
        if not data.index.is_unique:
            raise DataError(None, "data's index must be unique to match it with the weights' rows")
        positions = data.index.get_indexer(index[rows])
        if (positions < 0).any():
            raise DataError(
                None,
                "data does not hold the rows the weights were computed on (index labels "
                "differ); pass the same data",
                list(index[rows][positions < 0]),
                what="rows",
            )
    columns = list(covariates) if covariates is not None else _model_columns(weights, data)
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(missing[0], f"covariate(s) not in data: {missing}")
    return table.assign(**{f"{c}@top": data[c].to_numpy()[positions] for c in columns})


def ess(weights, data: pd.DataFrame | None = None, *, by: str | None = None):
    """Kish effective sample size ``(sum w)^2 / sum w^2``, overall or per group.

    Parameters
    ----------
    weights : Weights, str, array-like
        A Weights object, a column of ``data``, or the weights themselves.
    data : DataFrame, optional
        Needed for a column name or a ``by`` column (not for ``by="time"`` with a Weights
        object).
    by : str, optional
        Column to group by; with a Weights object its time column is also accepted without
        ``data``.

    Returns
    -------
    float, or pandas.Series indexed by group

    Examples
    --------
    >>> msm.ess([1.0, 1.0, 2.0])
    2.6666666666666665
    """
    if by is not None and not isinstance(by, str | int | np.integer | tuple):
        raise TypeError(f"by must be a column name, got {type(by).__name__} {by!r}")
    group = None
    if data is None:
        if isinstance(weights, Weights):
            values = weights.weights.to_numpy()
            panel = weights.panel
            if by is not None:
                if panel.time_name is None:
                    raise ValueError("point-treatment weights (time=None) have no time")
                if by not in {"time", panel.time_name}:
                    raise ValueError(
                        f"by={by!r} needs data=; without data only the weights' time works"
                    )
                group, name = panel.unsort(panel.time), panel.time_name
        elif isinstance(weights, str):
            raise TypeError(f"weights={weights!r} is a column name: pass data= too")
        else:
            if isinstance(weights, pd.Series):  # no data to match its labels with
                index = weights.index
            else:
                index = pd.RangeIndex(np.shape(weights)[0] if np.ndim(weights) >= 1 else 0)
            values = resolve_weights(pd.DataFrame(index=index), weights, all_zero_ok=True)
            if by is not None:
                raise ValueError("by= needs data=")
    else:
        check_frame(data)
        values = resolve_weights(data, weights, all_zero_ok=True)
        if by is not None:
            if by not in data.columns:
                raise DataError(by, "column not found in data (by)")
            group, name = data[by].to_numpy(), by
    k = weight_exponent(values)  # exact, so that sum w**2 neither under- nor overflows
    values = np.ldexp(values, -k) if k else values
    if group is None:
        return float(kish(values.sum(), np.dot(values, values)))
    keys, inverse = np.unique(group, return_inverse=True)
    total = np.bincount(inverse, weights=values)
    squares = np.bincount(inverse, weights=values * values)
    return pd.Series(kish(total, squares), index=pd.Index(keys, name=name), name="ess")
