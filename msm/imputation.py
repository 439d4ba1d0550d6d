"""Multiple imputation of long person-time data by chained equations (``msm.impute``).

Data path: check the frame once (id and time complete, (id, time) unique, the columns to
impute numeric and observed somewhere), sort once by (id, time) (``msm.panel.build_panel``),
summarize the missing values (per column, per visit), then for each of the ``m`` imputations,
from its own seed: fill every missing cell with the subject's nearest earlier (else later)
observed value, or a random observed value of its column for a subject with none (so the
chains start near the data), and cycle ``max_iter`` times over the columns to impute.  Each
step regresses one column, on the rows where it is observed, on the current values of
everything else:

* the fixed predictors: by default every complete numeric column except the id (time, the
  treatment, the outcome, baseline covariates, the always-measured scores), and the
  previous and next visit values of those that change within subjects (except time);
* the other columns being imputed, at the same visit;
* every imputed column's values at the previous and the next visit of the same subject
  (recomputed from the current imputations at every step), with indicators of a subject's
  first and last visit, where there is no previous or next value, and a slope of their
  own for the one neighbour a first or last visit has;
* every imputed column's mean over the subject's other visits (what all of a subject's
  visits share: with a subject effect, the neighbours alone lose part of it; with a random
  intercept, 4 visits and 40% of values missing at random, the correlation of successive
  visits in the completed data is 0.635 with these means, 0.59 without them and 0.22 with
  no neighbours at all, for a true 0.667: ``tests/test_imputation.py``);

draws the regression's coefficients from their posterior (scikit-learn's ``BayesianRidge``,
the estimator of its ``IterativeImputer``) and fills the missing cells by predictive mean
matching (each gets the observed value of one of the ``donors`` observed rows whose
prediction is closest to its own; mice's default, type 1 matching) or, with
``method="norm"``, by a draw from the posterior predictive normal, clipped to the observed
range and rounded for integer-valued columns.

Why not ``IterativeImputer`` itself: in long data a column's previous and next visit values
are functions of the column being imputed, so they must be recomputed from the current
imputations between steps, which ``IterativeImputer`` (a fixed feature matrix) cannot do; and
its ``sample_posterior`` draws each cell independently from the posterior predictive instead
of one draw of the coefficients per step (the "proper" imputation of Rubin's rules).

A column that is constant within every subject and missing for all or none of a subject's
rows (a baseline covariate) is imputed once per subject, on the subject's first row, and
the value is given to all the subject's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm._bootstrap import resolve_n_jobs, run_tasks
from msm.panel import (
    DataError,
    build_panel,
    check_columns_exist,
    check_finite,
    check_frame,
    describe_dtype,
)

__all__ = ["Imputations", "impute"]

METHODS = ("pmm", "norm")


def _names(value, role: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence):
        raise TypeError(f"{role} must be a column name or a list of them, got {value!r}")
    return list(value)


def _is_number_column(dtype) -> bool:
    """Real numbers or 0/1 flags (bool), not datetimes, timedeltas or text."""
    if pd.api.types.is_bool_dtype(dtype):
        return True
    if not pd.api.types.is_numeric_dtype(dtype):
        return False
    return not (isinstance(dtype, np.dtype) and dtype.kind in "cmM")


def _as_float(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy().astype("datetime64[ns]").view(np.int64).astype(np.float64)
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _missing_summary(data: pd.DataFrame, id: str, time: str, imputed: Sequence[str]):
    """The missing values of a long frame: per column, and per visit.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Per column with missing values (index ``column``): ``n_missing``, ``percent`` (of
        rows), ``ids`` (subjects with at least one missing value) and ``imputed``; per visit
        (index ``time``): ``rows`` and each such column's percent missing.
    """
    isna = data.isna()
    counts = isna.sum()
    columns = [c for c in data.columns if counts[c] > 0]
    ids = data[id].to_numpy()
    per_column = pd.DataFrame(
        {
            "n_missing": [int(counts[c]) for c in columns],
            "percent": [100.0 * counts[c] / len(data) for c in columns],
            "ids": [int(pd.unique(ids[isna[c].to_numpy()]).size) for c in columns],
            "imputed": [c in imputed for c in columns],
        },
        index=pd.Index(columns, name="column"),
    )
    grouped = isna[columns].groupby(data[time].to_numpy(), sort=True)
    per_time = 100.0 * grouped.mean()
    per_time.insert(0, "rows", grouped.size())
    per_time.index.name = time
    return per_column, per_time


@dataclass(frozen=True, eq=False, repr=False)
class Imputations(Sequence):
    """Completed data sets from ``msm.impute``: a list of DataFrames, with what was done.

    Behaves as the list of the ``m`` completed data sets (``len``, indexing, iteration), so
    ``msm.mi.analyze(imputations, analysis)`` and ``msm.mi.iptw(imputations, ...)`` take it
    as it is (and check the rows' alignment on its ``id`` and ``time``).

    Attributes
    ----------
    imputations : list of DataFrame
        The completed data sets, each a copy of the data (same index, columns and order)
        with the missing cells of ``columns`` filled.
    id, time : str
        The subject and time columns.
    columns : list of str
        The columns imputed.
    levels : dict
        Each imputed column's level: ``"visit"`` (imputed row by row) or ``"subject"`` (a
        baseline covariate, imputed once per subject).
    predictors : list of str
        The fixed predictors of every imputation model (the imputed columns, and with
        ``neighbours`` their previous and next visit values, come on top).
    missing : pandas.DataFrame
        The missing values per column (before imputation): ``n_missing``, ``percent``,
        ``ids`` (subjects with any), ``imputed``.
    missing_by_time : pandas.DataFrame
        Per visit: ``rows`` and the percent missing of each column with missing values.
    where : pandas.DataFrame
        True on the cells that were imputed (the data's index, the imputed columns).
    chains : pandas.DataFrame
        Convergence: the mean and standard deviation of the imputed values of each column
        after each iteration, index (``imputation``, ``iteration``), columns (column,
        ``mean``/``sd``), as mice's ``chainMean``/``chainVar``.  Chains that wander or
        separate by imputation after the first iterations call for more ``max_iter``.
    method : str
        ``"pmm"`` or ``"norm"``.
    donors : int
    max_iter : int
    seed : int or None
    """

    imputations: list
    id: str
    time: str
    columns: list
    levels: dict
    predictors: list
    missing: pd.DataFrame
    missing_by_time: pd.DataFrame
    where: pd.DataFrame
    chains: pd.DataFrame
    method: str
    donors: int
    max_iter: int
    seed: int | None
    neighbours: bool

    @property
    def m(self) -> int:
        """The number of completed data sets."""
        return len(self.imputations)

    def __len__(self) -> int:
        return len(self.imputations)

    def __getitem__(self, i):
        return self.imputations[i]

    def __iter__(self):
        return iter(self.imputations)

    def compare(self) -> pd.DataFrame:
        """Observed and imputed values side by side: mean and sd of each imputed column.

        The imputed values pool all imputations.  Under MAR they may differ from the
        observed ones (values missing when the disease is quiet are better, say); a
        difference the predictors cannot explain is a question for the imputation model.

        Returns
        -------
        pandas.DataFrame
            Index ``column``; columns ``n_observed``, ``observed_mean``, ``observed_sd``,
            ``n_imputed`` (cells per imputation), ``imputed_mean``, ``imputed_sd``.
        """
        rows = {}
        first = self.imputations[0]
        for column in self.columns:
            hole = self.where[column].to_numpy()
            seen = first[column].to_numpy(dtype=np.float64)[~hole]
            filled = np.concatenate(
                [f[column].to_numpy(dtype=np.float64)[hole] for f in self.imputations]
            )
            rows[column] = {
                "n_observed": seen.size,
                "observed_mean": seen.mean(),
                "observed_sd": seen.std(ddof=1) if seen.size > 1 else np.nan,
                "n_imputed": int(hole.sum()),
                "imputed_mean": filled.mean() if filled.size else np.nan,
                "imputed_sd": filled.std(ddof=1) if filled.size > 1 else np.nan,
            }
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "column"
        return out

    def __repr__(self) -> str:
        n_ids = int(pd.unique(self.imputations[0][self.id].to_numpy()).size)
        how = f"{self.method}, {self.donors} donors" if self.method == "pmm" else self.method
        lines = [
            f"Imputations: {self.m} completed data sets of {len(self.imputations[0])} rows "
            f"({n_ids} ids), chained equations ({how}), {self.max_iter} iterations, "
            f"seed {self.seed}",
            "Missing values before imputation:",
            self.missing.to_string(float_format=lambda v: f"{v:.1f}")
            if len(self.missing)
            else "  none",
        ]
        if len(self.missing):
            lines.append(f"Percent missing by {self.time}:")
            lines.append(self.missing_by_time.to_string(float_format=lambda v: f"{v:.1f}"))
        subject = [c for c in self.columns if self.levels[c] == "subject"]
        lines.append(
            f"Imputed: {', '.join(self.columns) or 'nothing'}"
            + (f" (once per subject: {', '.join(subject)})" if subject else "")
        )
        extra = " + the other imputed columns"
        if self.neighbours:
            extra += " and their previous and next visit values"
        lines.append(f"Predictors: {', '.join(self.predictors)}{extra}")
        return "\n".join(lines)


@dataclass
class _Setup:
    """The sorted arrays every imputation starts from."""

    order: np.ndarray  # sorted row -> caller row
    starts: np.ndarray
    first: np.ndarray  # sorted rows: True on a subject's first row
    last: np.ndarray
    fixed: np.ndarray  # (n, p) fixed predictors, sorted
    fixed_neighbours: np.ndarray  # previous and next values of the time-varying ones
    y: np.ndarray  # (n, k) columns to impute, sorted, NaN where missing
    missing: np.ndarray  # (n, k) bool
    subject: np.ndarray  # (k,) bool: imputed once per subject
    integer: np.ndarray  # (k,) bool: integer-valued
    low: np.ndarray
    high: np.ndarray


def _subject_level(values: np.ndarray, missing: np.ndarray, starts: np.ndarray) -> bool:
    """Constant within every subject where observed, missing for all or none of its rows,
    and seen on two or more rows of some subject (else nothing says it is a baseline)."""
    sizes = np.diff(starts)
    n_missing = np.add.reduceat(missing.astype(np.int64), starts[:-1])
    if not np.all((n_missing == 0) | (n_missing == sizes)):
        return False
    observed = n_missing == 0
    if not np.any(observed & (sizes > 1)):
        return False
    filled = np.where(missing, 0.0, values)
    low = np.minimum.reduceat(filled, starts[:-1])
    high = np.maximum.reduceat(filled, starts[:-1])
    return bool(np.all(low[observed] == high[observed]))


def _draw_coefficients(fit, rng: np.random.Generator) -> np.ndarray:
    """One draw of the coefficients from their Gaussian posterior (mean coef_, cov sigma_)."""
    cov = (fit.sigma_ + fit.sigma_.T) / 2.0
    values, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return fit.coef_ + root @ rng.standard_normal(fit.coef_.size)


def match_donors(predicted_obs, predicted_mis, observed, donors, rng) -> np.ndarray:
    """Predictive mean matching: each missing cell gets the observed value of one of the
    ``donors`` observed rows with the closest predictions, chosen at random.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> match_donors(np.array([0.0, 1.0, 2.0]), np.array([0.9, 2.2]), np.array([10, 11, 12]),
    ...              1, rng).tolist()
    [11, 12]
    """
    k = min(donors, predicted_obs.size)
    order = np.argsort(predicted_obs, kind="stable")
    sorted_pred = predicted_obs[order]
    at = np.searchsorted(sorted_pred, predicted_mis)
    # the k nearest in one dimension lie within k positions on either side of the insertion
    window = np.arange(-k, k)[None, :] + at[:, None]
    valid = (window >= 0) & (window < sorted_pred.size)
    candidates = sorted_pred[np.clip(window, 0, sorted_pred.size - 1)]
    distance = np.abs(candidates - predicted_mis[:, None])
    distance[~valid] = np.inf
    nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
    pick = nearest[np.arange(nearest.shape[0]), rng.integers(0, k, nearest.shape[0])]
    chosen = np.clip(window[np.arange(window.shape[0]), pick], 0, sorted_pred.size - 1)
    return observed[order[chosen]]


def _neighbour_values(values: np.ndarray, first: np.ndarray, last: np.ndarray, means):
    """Each row's previous and next visit values of the columns of ``values`` (sorted rows);
    a subject's first (last) row, which has none, gets the column's mean."""
    previous = np.empty_like(values)
    previous[1:] = values[:-1]
    previous[first] = means
    following = np.empty_like(values)
    following[:-1] = values[1:]
    following[last] = means
    return np.column_stack([previous, following])


def _varies_within(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Which columns of ``values`` (sorted rows, complete) change within some subject."""
    if values.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    low = np.minimum.reduceat(values, starts[:-1], axis=0)
    high = np.maximum.reduceat(values, starts[:-1], axis=0)
    return (high > low).any(axis=0)


def _others_mean(values: np.ndarray, s: _Setup, means: np.ndarray) -> np.ndarray:
    """The mean of each column over the subject's other visits (a subject seen once: the
    column's mean): what the subject's visits share, beyond the neighbours."""
    sizes = np.diff(s.starts)
    totals = np.add.reduceat(values, s.starts[:-1], axis=0)
    per_row = np.repeat(totals, sizes, axis=0) - values
    others = np.repeat(sizes - 1, sizes)[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = per_row / others
    return np.where(others > 0, out, means)


def _design(s: _Setup, y: np.ndarray, j: int, neighbours: bool, rows: np.ndarray | None):
    """Predictors of column j: the fixed ones, the other imputed columns, and the previous
    and next visit values of every time-varying fixed predictor and visit-level imputed
    column (with first/last flags)."""
    parts = [s.fixed, np.delete(y, j, axis=1)]
    if neighbours and not s.subject[j]:
        visit = y[:, ~s.subject]
        means = np.nanmean(np.where(s.missing[:, ~s.subject], np.nan, visit), axis=0)
        flags = np.column_stack([s.first, s.last]).astype(np.float64)
        around = _neighbour_values(visit, s.first, s.last, means)
        k = visit.shape[1]
        # at a first (last) visit only the next (previous) value is there: its own slope
        edges = np.column_stack([around[:, k:] * s.first[:, None], around[:, :k] * s.last[:, None]])
        parts += [s.fixed_neighbours, around, edges, flags, _others_mean(visit, s, means)]
    x = np.column_stack(parts)
    if rows is not None:
        x = x[rows]
    sd = x.std(axis=0)
    keep = sd > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=0))
    if not keep.any():  # nothing varies (one fixed predictor, constant on first rows): a mean
        return np.zeros((x.shape[0], 1))
    x = x[:, keep]
    return (x - x.mean(axis=0)) / sd[keep]


def _carried(values: np.ndarray, missing: np.ndarray, starts: np.ndarray):
    """Missing cells filled with the subject's last earlier observed value, else its first
    later one (sorted rows); also the mask of cells of subjects with no observed value."""
    n = values.size
    index = np.arange(n)
    sizes = np.diff(starts)
    earlier = np.maximum.accumulate(np.where(missing, -1, index))
    later = np.minimum.accumulate(np.where(missing, n, index)[::-1])[::-1]
    has_earlier = earlier >= np.repeat(starts[:-1], sizes)
    has_later = later < np.repeat(starts[1:], sizes)
    out = values.copy()
    back = missing & has_earlier
    out[back] = values[earlier[back]]
    forward = missing & ~has_earlier & has_later
    out[forward] = values[later[forward]]
    return out, missing & ~has_earlier & ~has_later


def _impute_once(s: _Setup, rng, method, donors, max_iter, neighbours):
    from sklearn.linear_model import BayesianRidge

    y = s.y.copy()
    k = y.shape[1]
    first_rows = np.flatnonzero(s.first)
    subject_of = np.repeat(np.arange(first_rows.size), np.diff(s.starts))
    for j in range(k):  # the start: observed values (so the chains start near the data)
        hole = s.missing[:, j]
        seen = s.y[~hole, j]
        if s.subject[j]:
            holes = hole[first_rows]
            values = rng.choice(seen[s.first[~hole]], holes.sum())
            per_subject = y[first_rows, j].copy()
            per_subject[holes] = values
            y[:, j] = per_subject[subject_of]
        else:  # the subject's nearest earlier (else later) value; none: a random one
            filled, rest = _carried(s.y[:, j], hole, s.starts)
            filled[rest] = rng.choice(seen, rest.sum())
            y[:, j] = filled
    chains = np.empty((max_iter, k, 2))
    for iteration in range(max_iter):
        for j in range(k):
            rows = first_rows if s.subject[j] else None
            target_missing = s.missing[first_rows, j] if s.subject[j] else s.missing[:, j]
            x = _design(s, y, j, neighbours, rows)
            target = (y[first_rows, j] if s.subject[j] else y[:, j]).copy()
            obs = ~target_missing
            fit = BayesianRidge().fit(x[obs], target[obs])
            beta = _draw_coefficients(fit, rng)
            centre = x[obs].mean(axis=0)
            mis = x[target_missing]
            drawn = fit.intercept_ + centre @ (fit.coef_ - beta) + mis @ beta
            if method == "pmm":
                fitted = fit.intercept_ + x[obs] @ fit.coef_
                values = match_donors(fitted, drawn, target[obs], donors, rng)
            else:
                values = drawn + rng.normal(0.0, np.sqrt(1.0 / fit.alpha_), drawn.size)
                values = np.clip(values, s.low[j], s.high[j])
                if s.integer[j]:
                    values = np.round(values)
            target[target_missing] = values
            y[:, j] = target[subject_of] if s.subject[j] else target
            chains[iteration, j] = values.mean(), values.std(ddof=1) if values.size > 1 else 0.0
    return y, chains


def impute(
    data: pd.DataFrame,
    *,
    id: str,
    time: str,
    m: int = 5,
    seed: int | None = None,
    columns: Sequence[str] | None = None,
    treatment: str | Sequence[str] | None = None,
    outcome: str | Sequence[str] | None = None,
    protected: Sequence[str] = (),
    predictors: Sequence[str] | None = None,
    method: str = "pmm",
    donors: int = 5,
    max_iter: int = 10,
    neighbours: bool = True,
    n_jobs: int | None = 1,
    progress: bool = False,
) -> Imputations:
    """Multiple imputation of long person-time data by chained equations.

    Each column to impute is regressed, in turn and ``max_iter`` times, on time, the
    treatment, the outcome and the other complete numeric columns, on the other imputed
    columns, on every time-varying column's previous and next visit values (the usual advice
    for longitudinal data in long format) and on each imputed column's mean over the
    subject's other visits (see the module docstring); the coefficients are drawn from their
    posterior (scikit-learn's ``BayesianRidge``) and the cells filled by predictive mean
    matching, so that scores (CMAS 0-52, say), counts and 0/1 flags come back as values
    that were observed.  Each imputation has its own seed.  The missing values are summarized (per
    column and per visit) first, in the result's repr.  Imputations made with any other
    tool (R's mice, say) can be given to ``msm.mi.analyze`` as a list of DataFrames instead.

    Parameters
    ----------
    data : DataFrame
        One row per subject-visit.  Not modified.
    id, time : str
        Subject and time columns: never imputed, and without missing values.
    m : int
        Number of completed data sets.
    seed : int, optional
        Seed of the per-imputation seeds: the same seed gives the same imputations, and
        imputation i is the same whatever ``m``.
    columns : list of str, optional
        The columns to impute; default every numeric column with missing values except
        ``id``, ``time``, ``treatment``, ``outcome`` and ``protected``.  A treatment or an
        outcome is imputed only when listed here.
    treatment, outcome : str or list of str, optional
        Columns not imputed unless listed in ``columns`` (they are predictors when they are
        complete).
    protected : list of str
        Columns never imputed, left as they are (predictors only if complete).
    predictors : list of str, optional
        The fixed predictors of every imputation model (numeric, complete or imputed);
        default every numeric column without missing values except ``id`` (``time``,
        treatment and outcome included).  The imputed columns are predictors of each other
        in any case.
    method : {"pmm", "norm"}
        Predictive mean matching from ``donors`` nearest observed rows (the default), or a
        draw from the Bayesian linear model's predictive distribution, clipped to the
        column's observed range and rounded for integer-valued columns.
    donors : int
        Candidate donors of predictive mean matching (mice's default 5).
    max_iter : int
        Cycles over the columns (mice's default is 5; 10 here).
    neighbours : bool
        Use the previous and next visit values (and the imputed columns' means over the
        subject's other visits) as predictors.
    n_jobs : int, optional
        Worker processes, one imputation per task (1: this process; None: all CPUs); the
        same imputations on any number of workers.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Imputations
        The completed data sets (a list), the missing-data summary (``missing``,
        ``missing_by_time``), the imputed cells (``where``) and the convergence chains
        (``chains``).

    Raises
    ------
    DataError
        For missing ids or times, duplicated (id, time) rows, a column to impute (or a
        predictor) that is not numeric, a column to impute that is entirely missing or
        infinite somewhere, a predictor with missing values that is not imputed, or an
        attempt to impute the id or time.

    Notes
    -----
    Values are assumed missing at random given what the models include, so the outcome and
    the treatment belong among the predictors (Leyrat et al. 2019; White, Royston and Wood
    2011), as they are by default.  Derived columns (a sum of scores, a logarithm) should be
    computed after imputing their parts, not imputed themselves.

    Examples
    --------
    >>> import msm, numpy as np
    >>> cohort = msm.datasets.simulate_jdm(n_patients=200, seed=1, missing=True)
    >>> imp = msm.impute(cohort.drop(columns="das_total"), id="id", time="month",
    ...                  treatment="ivig", outcome="quiescence", m=3, seed=1)
    >>> imp.columns
    ['cmas', 'mmt8', 'das_skin', 'das_muscle', 'ck']
    >>> bool(imp[0][imp.columns].notna().all().all())
    True
    >>> bool(imp[0]["cmas"].between(0, 52).all() and (imp[0]["cmas"] % 1 == 0).all())
    True
    >>> bool(cohort["cmas"].isna().any())  # the caller's frame is untouched
    True
    """
    check_frame(data)
    m = _positive_int("m", m)
    donors = _positive_int("donors", donors)
    max_iter = _positive_int("max_iter", max_iter)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    if not isinstance(id, str) or not isinstance(time, str):
        raise TypeError("id and time must be column names")
    kept = {
        "treatment": _names(treatment, "treatment"),
        "outcome": _names(outcome, "outcome"),
        "protected": _names(protected, "protected"),
    }
    asked = None if columns is None else _names(columns, "columns")
    chosen = None if predictors is None else _names(predictors, "predictors")
    check_columns_exist(data, [id, time], "id and time")
    for role, names in [*kept.items(), ("columns", asked or []), ("predictors", chosen or [])]:
        check_columns_exist(data, names, role)
    check_finite(data, [id], id)
    check_finite(data, [time], id)
    panel = build_panel(data, id, time)

    counts = data.isna().sum()
    if asked is None:
        never = {id, time, *kept["treatment"], *kept["outcome"], *kept["protected"]}
        targets = [
            c
            for c in data.columns
            if c not in never and counts[c] > 0 and _is_number_column(data[c].dtype)
        ]
    else:
        targets = list(dict.fromkeys(asked))
        for c in targets:
            if c in (id, time):
                raise DataError(c, f"the {'id' if c == id else 'time'} column is never imputed")
            if c in kept["protected"]:
                raise DataError(c, "listed both in columns= (to impute) and in protected=")
            if not _is_number_column(data[c].dtype):
                raise DataError(
                    c,
                    f"a column to impute must be numeric (or 0/1), got "
                    f"{describe_dtype(data[c].dtype)}; encode it as numbers first (a "
                    "category as 0/1 indicators), or leave it out of columns=",
                )
        targets = [c for c in targets if counts[c] > 0]
    ids = data[id].to_numpy()
    for c in targets:
        values = _as_float(data[c])
        hole = np.isnan(values)
        if hole.all():
            raise DataError(c, "is missing on every row: there is nothing to impute it from")
        if int((~hole).sum()) < 2:
            raise DataError(c, "is observed on one row only: too little to model it")
        infinite = np.isinf(values)
        if infinite.any():
            raise DataError(
                c,
                f"{int(infinite.sum())} infinite value(s): infinity is not a missing value; "
                "set those cells to NaN to impute them",
                list(pd.unique(ids[infinite])),
            )
    if chosen is None:
        fixed = [
            c
            for c in data.columns
            if c != id
            and c not in targets
            and counts[c] == 0
            and (_is_number_column(data[c].dtype) or c == time)
        ]
    else:
        fixed = [c for c in dict.fromkeys(chosen) if c not in targets and c != id]
        for c in fixed:
            if not (_is_number_column(data[c].dtype) or c == time):
                raise DataError(
                    c,
                    f"a predictor must be numeric (or 0/1), got {describe_dtype(data[c].dtype)}",
                )
            if counts[c] > 0:
                raise DataError(
                    c,
                    f"a predictor with {int(counts[c])} missing value(s) that is not imputed: "
                    "add it to columns= or leave it out of predictors=",
                    list(pd.unique(ids[data[c].isna().to_numpy()])),
                )
    for c in fixed:
        values = _as_float(data[c])
        if np.isinf(values).any():
            raise DataError(
                c,
                "a predictor must be finite",
                list(pd.unique(ids[np.isinf(values)])),
            )

    missing, missing_by_time = _missing_summary(data, id, time, targets)
    order = panel.order
    y = np.column_stack([_as_float(data[c])[order] for c in targets]) if targets else None
    setup = None
    if targets:
        hole = np.isnan(y)
        subject = np.array(
            [_subject_level(y[:, j], hole[:, j], panel.starts) for j in range(len(targets))]
        )
        observed = [y[~hole[:, j], j] for j in range(len(targets))]
        first, last = panel.first_rows(), panel.last_rows()
        x = np.column_stack([_as_float(data[c])[order] for c in fixed]) if fixed else None
        x = np.empty((len(data), 0)) if x is None else x
        # the previous and next values of the fixed predictors that change within subjects
        # (not of time itself: its neighbours are time -+ 1)
        varying = _varies_within(x, panel.starts) & np.array([c != time for c in fixed], bool)
        setup = _Setup(
            order=order,
            starts=panel.starts,
            first=first,
            last=last,
            fixed=x,
            fixed_neighbours=_neighbour_values(
                x[:, varying], first, last, x[:, varying].mean(axis=0)
            ),
            y=y,
            missing=hole,
            subject=subject,
            integer=np.array([bool(np.all(v == np.round(v))) for v in observed]),
            low=np.array([v.min() for v in observed]),
            high=np.array([v.max() for v in observed]),
        )
    children = np.random.SeedSequence(seed).spawn(m)
    frames, chains = [], []
    if setup is not None:
        # one imputation per task, in worker processes with n_jobs (each from its own seed:
        # the same imputations on any number of workers)
        task = _ImputationTask(setup, method, donors, max_iter, neighbours)
        workers = resolve_n_jobs(n_jobs, m)
        outcomes = run_tasks(task, children, workers, progress, "imputations", "imputation")
        failed = [o for o in outcomes if o.error is not None]
        if failed:
            kind, message = failed[0].error
            raise RuntimeError(f"imputation {failed[0].task + 1} failed: {kind}: {message}")
    for i in range(m):
        frame = data.copy()
        if setup is not None:
            completed, chain = outcomes[i].value
            chains.append(chain)
            for j, c in enumerate(targets):
                values = np.empty(len(data))
                values[order] = completed[:, j]
                frame[c] = _restore(values, data[c])
        frames.append(frame)
    where = data[targets].isna() if targets else pd.DataFrame(index=data.index)
    index = pd.MultiIndex.from_product(
        [range(1, m + 1), range(1, max_iter + 1)], names=["imputation", "iteration"]
    )
    chain_columns = pd.MultiIndex.from_product([targets, ["mean", "sd"]])
    chain_table = pd.DataFrame(
        np.concatenate([c.reshape(max_iter, -1) for c in chains]) if chains else None,
        index=index if chains else None,
        columns=chain_columns,
    )
    return Imputations(
        imputations=frames,
        id=id,
        time=time,
        columns=targets,
        levels={c: ("subject" if setup.subject[j] else "visit") for j, c in enumerate(targets)},
        predictors=fixed,
        missing=missing,
        missing_by_time=missing_by_time,
        where=where,
        chains=chain_table,
        method=method,
        donors=donors,
        max_iter=max_iter,
        seed=None if seed is None else int(seed),
        neighbours=bool(neighbours),
    )


@dataclass(frozen=True, eq=False)
class _ImputationTask:
    """One imputation from its seed (picklable for the worker processes)."""

    setup: object
    method: str
    donors: int
    max_iter: int
    neighbours: bool

    def __call__(self, child: np.random.SeedSequence):
        from threadpoolctl import threadpool_limits

        rng = np.random.default_rng(child)
        # the regressions are small (rows x a few dozen columns): BLAS threads only contend
        # with each other there (15x slower on a busy 2-core machine)
        with threadpool_limits(limits=1, user_api="blas"):
            return _impute_once(
                self.setup, rng, self.method, self.donors, self.max_iter, self.neighbours
            )


def _restore(values: np.ndarray, original: pd.Series) -> pd.Series:
    """The completed values in the column's own dtype where it can hold them."""
    dtype = original.dtype
    series = pd.Series(values, index=original.index, name=original.name)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return series.astype(dtype)
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):  # an integer dtype given non-integer draws, say
        return series
