"""The MSM of sequential trials without storing the expansion (``materialize=False``), and the
direct design of the materialized fit.

Data path of a streamed fit: ``trial_sequence(..., materialize=False)`` does everything the
materialized sequence does (validation, cleaning, weight models, running log weights) but
the expansion; ``StreamedTrials.fit`` turns the MSM's formula into a small design program
(``msm_program``: each design column a product of powers of the expansion's columns) and
runs Newton with ``msm._glm.newton`` on passes of ``msm._kernels.stream``, each of which
regenerates every expanded row (its follow-up, assigned treatment, baseline covariates and
weight) from the cleaned rows and adds it to the sums.  Memory: the cleaned rows and one
float per design column and subject (the cluster score sums); truncation at weight
quantiles stores the weights alone (8 bytes per expanded row) once, to take the quantiles.

The streamed fit follows the materialized fit step for step (the same subsample start, the
same Newton iterations, the same centring rule, the same CR1 sandwich by subject); only the
order in which rows are summed differs, so the two agree to rounding.
"""

from __future__ import annotations

import ast
import functools
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import model_matrix

from msm import _kernels
from msm._formula import Design, Terms, parse_terms
from msm._glm import (
    BINOMIAL,
    Centring,
    NeedsCentring,
    check_column_sizes,
    newton,
    raise_monotone,
    suspects,
    uncentred_form,
    warm_start,
    warm_start_factors,
    warm_start_step,
    warm_start_stratified,
)
from msm._kernels import stream as kernel
from msm._kernels.trials import trial_row_counts
from msm.inference import CentredParts, models_table
from msm.outcome.glm_model import (
    FAMILIES,
    GLMResults,
    assemble_results,
    check_glm_arguments,
    check_outcome_varies,
)
from msm.panel import DataError

# the expansion's column names (as msm.trials.sequence names them)
TRIAL, FOLLOWUP, ASSIGNED, WEIGHT = "trial", "followup", "assigned", "weight"

SUPPORTED_TERMS = (
    "the intercept, columns of the expansion (assigned, followup, trial, the current "
    "treatment, the baseline covariates), their integer powers (I(followup**2), "
    "I(trial^2)) and products of these (assigned:followup, assigned * I(followup**2))"
)


# ---------------------------------------------------------------------------------------------
# truncation


def check_truncate(truncate) -> tuple | None:
    """``truncate`` as ``(lower, upper)`` percentiles (either None), or None; ValueError."""
    if truncate is None:
        return None
    if not isinstance(truncate, tuple | list) or len(truncate) != 2:
        raise ValueError(
            f"truncate must be (lower, upper) percentiles, either None, got {truncate!r}"
        )
    lower, upper = truncate
    for value in (lower, upper):
        if value is not None and not (
            isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100
        ):
            raise ValueError(f"truncate percentiles must be in [0, 100], got {truncate!r}")
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"truncate: lower above upper percentile, got {truncate!r}")
    return lower, upper


def truncation_limits(w: np.ndarray, truncate) -> tuple[float, float]:
    """The weights' ``(lower, upper)`` quantiles for ``truncate`` (-inf, inf where None).

    Quantiles of type 7 (numpy's default).  Truncation is ``max(min(w, upper), lower)``.
    """
    truncate = check_truncate(truncate)
    if truncate is None:
        return -np.inf, np.inf
    lower, upper = truncate
    return (
        -np.inf if lower is None else float(np.quantile(w, lower / 100.0)),
        np.inf if upper is None else float(np.quantile(w, upper / 100.0)),
    )


# ---------------------------------------------------------------------------------------------
# the design program


@dataclass(frozen=True, eq=False)
class MSMProgram:
    """The MSM's design as products of powers of the expansion's columns.

    ``factors[j]``: the ``(column, power)`` factors of design column ``j``, multiplied in
    that order (formulaic's); empty for the intercept (column ``intercept``, or None).
    """

    names: list[str]
    factors: list[tuple[tuple[Hashable, int], ...]]
    intercept: int | None
    terms: Terms
    spec: object  # formulaic's ModelSpec (risk curves rebuild the design on new rows)

    def arrays(self, variables: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fstart, fvar, fpow)`` of ``msm._kernels.stream`` for the variables in order."""
        position = {name: v for v, name in enumerate(variables)}
        fstart = [0]
        fvar: list[int] = []
        fpow: list[int] = []
        for factors in self.factors:
            for name, power in factors:
                fvar.append(position[name])
                fpow.append(power)
            fstart.append(len(fvar))
        return (
            np.array(fstart, dtype=np.int64),
            np.array(fvar, dtype=np.int64),
            np.array(fpow, dtype=np.int64),
        )


def _factor(factor, allowed: set, term: str) -> tuple[Hashable, int] | None:
    """``(column, power)`` of one of formulaic's factors; None for the literal 1."""
    method = factor.eval_method.name
    if method == "LITERAL" and factor.expr == "1":
        return None
    if method == "LOOKUP" and factor.expr in allowed:
        return factor.expr, 1
    if method == "PYTHON":
        try:
            node = ast.parse(factor.expr, mode="eval").body
        except SyntaxError:
            node = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "I"
            and len(node.args) == 1
            and not node.keywords
        ):
            node = node.args[0]
        if isinstance(node, ast.Name) and node.id in allowed:
            return node.id, 1
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Pow)
            and isinstance(node.left, ast.Name)
            and node.left.id in allowed
            and isinstance(node.right, ast.Constant)
            and type(node.right.value) is int
            and node.right.value >= 1
        ):
            return node.left.id, node.right.value
    raise ValueError(
        f"the MSM term {term!r} is not supported here ({factor.expr!r}); supported: "
        f"{SUPPORTED_TERMS}"
    )


def msm_program(terms: Terms, frame: pd.DataFrame, allowed) -> MSMProgram:
    """The design program of ``terms`` (parsed on ``frame``, whose columns ``allowed`` the
    program may read); ValueError naming the first term it cannot express.

    ``frame`` (a few rows with the expansion's columns and dtypes) gives formulaic's spec:
    the design's columns, their order and names.
    """
    allowed = set(allowed)
    if terms.formula is None:  # a list of numeric columns
        factors = [()] + [((c, 1),) for c in terms.plain_columns]
        bad = [c for c in terms.plain_columns if c not in allowed]
        if bad:
            raise ValueError(f"the MSM term {bad[0]!r} is not supported here: {SUPPORTED_TERMS}")
        names = ["Intercept", *terms.plain_columns]
        return MSMProgram(names, factors, 0, terms, None)
    model = model_matrix(terms.formula, frame, na_action="ignore")
    spec = model.model_spec
    names = list(model.columns)
    factors: list = [None] * len(names)
    intercept = None
    for term, columns in spec.term_indices.items():
        if len(columns) != 1:
            raise ValueError(
                f"the MSM term {str(term)!r} makes {len(columns)} columns (a category?), "
                f"which is not supported here; supported: {SUPPORTED_TERMS}"
            )
        parts = [_factor(f, allowed, str(term)) for f in term.factors]
        if parts == [None]:
            intercept = columns[0]
            factors[columns[0]] = ()
            continue
        if any(p is None for p in parts):
            raise ValueError(f"the MSM term {str(term)!r} is not supported: {SUPPORTED_TERMS}")
        factors[columns[0]] = tuple(parts)
    if spec.transform_state or any(f is None for f in factors):
        raise ValueError(f"the MSM formula {terms.text!r} is not supported: {SUPPORTED_TERMS}")
    return MSMProgram(names, factors, intercept, terms, spec)


def expanded_design(program: MSMProgram, expanded: pd.DataFrame) -> Design:
    """The program's design on the materialized expansion: the matrix formulaic builds, bit
    for bit (products of powers of the columns' values as float64, in formulaic's order: the
    integer columns' products are exact below 2**53 either way), written row by row into one
    C-contiguous float64 array (``msm._kernels.product_design``, reading the columns where
    they are)."""
    # the columns as they are (views of the frame's blocks): int64 or float64, others cast;
    # all read-only, as the frame's views are, so that each tuple has one numba type
    integers: list = [_read_only(np.empty(0, dtype=np.int64))]  # placeholders: never empty
    floats: list = [_read_only(np.empty(0))]
    where = {}
    for name in dict.fromkeys(n for factors in program.factors for n, _ in factors):
        values = expanded[name].to_numpy()
        if values.dtype.kind in "biu":
            integers.append(_read_only(np.ascontiguousarray(values, dtype=np.int64)))
            where[name] = (0, len(integers) - 1)
        else:
            floats.append(_read_only(np.ascontiguousarray(values, dtype=np.float64)))
            where[name] = (1, len(floats) - 1)
    factors = [where[n] + (e,) for f in program.factors for n, e in f]
    fkind = np.array([k for k, _, _ in factors], dtype=np.int64)
    fvar = np.array([v for _, v, _ in factors], dtype=np.int64)
    fpow = np.array([e for _, _, e in factors], dtype=np.int64)
    fstart = np.cumsum([0] + [len(f) for f in program.factors]).astype(np.int64)
    X = np.empty((len(expanded), len(program.names)))
    _kernels.product_design(X, tuple(integers), tuple(floats), fkind, fvar, fstart, fpow)
    return Design(X, list(program.names), program.spec)


def _read_only(values: np.ndarray) -> np.ndarray:
    view = values.view()
    view.flags.writeable = False
    return view


def fast_design(terms: Terms, expanded: pd.DataFrame) -> Design | None:
    """The direct design of an MSM on the expansion, or None (formulaic builds it then)."""
    numeric = [
        c
        for c in expanded.columns
        if isinstance(expanded[c].dtype, np.dtype) and expanded[c].dtype.kind in "iuf"
    ]
    if terms.plain_columns is not None or not all(c in numeric for c in terms.columns):
        return None
    try:
        program = msm_program(terms, expanded.iloc[:8], numeric)
    except ValueError:
        return None
    return expanded_design(program, expanded)


def expansion_codes(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """``pandas.factorize(ids, sort=False)`` for ids in contiguous runs (the expansion's)."""
    codes = np.empty(ids.size, dtype=np.int64)
    if ids.size == 0:
        return codes, 0
    codes[0] = 0
    np.cumsum(ids[1:] != ids[:-1], out=codes[1:])
    return codes, int(codes[-1]) + 1


def trial_runs(ids: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Boundaries (runs + 1, from 0 to n) of the expansion's runs of one subject's trial."""
    n = ids.size
    change = np.empty(max(n - 1, 0), dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=change)
    change |= trials[1:] != trials[:-1]
    return np.concatenate(([0], np.flatnonzero(change) + 1, [n])).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# the streamed sequence


@dataclass(frozen=True, eq=False)
class StreamSource:
    """The cleaned rows the expansion is generated from (sorted by id and time)."""

    starts: np.ndarray  # subject offsets
    eligible: np.ndarray  # uint8
    stop: np.ndarray  # uint8: a trial ends before a later row with stop (per protocol)
    log_cumulative: np.ndarray
    time: np.ndarray  # time on the cleaned rows (the caller's dtype)
    a: np.ndarray  # treatment, int64
    y: np.ndarray  # outcome, float64
    ids: np.ndarray
    covariates: dict  # baseline covariate -> values on the cleaned rows


@dataclass(frozen=True, eq=False)
class StreamedTrials:
    """Sequential trials whose expansion is not stored: ``trial_sequence(...,
    materialize=False)``.

    The same emulation as ``TrialSequence`` (the same ``cleaned``, ``models``, ``spec``,
    ``n_dropped``); ``fit`` streams the expansion through Newton passes instead of storing
    it, and ``expanded`` is not available (``materialized()`` builds the TrialSequence).

    Attributes
    ----------
    cleaned, models, spec, n_dropped
        As ``TrialSequence``.
    n_rows : int
        Rows of the expansion (counted, not stored).
    baseline : pandas.DataFrame
        The expansion's rows at followup 0 (one per trial and subject), with its columns.
    """

    cleaned: pd.DataFrame
    models: dict
    spec: object
    n_dropped: dict
    source: StreamSource = field(repr=False)
    n_rows: int
    baseline: pd.DataFrame = field(repr=False)
    _emulate: Callable = field(repr=False)
    _materialize: Callable = field(repr=False)
    _fits: weakref.WeakSet = field(default_factory=weakref.WeakSet, repr=False)

    streamed = True

    @property
    def expanded(self) -> pd.DataFrame:
        raise AttributeError(
            "this trial sequence was emulated with materialize=False: its expansion "
            f"({self.n_rows} rows) is not stored; fit the MSM with .fit(...) (streamed), or "
            "build the expanded data with .materialized() (or trial_sequence(..., "
            "materialize=True))"
        )

    def materialized(self):
        """The ``TrialSequence`` with the expansion stored (recomputed from the data)."""
        return self._materialize()

    @property
    def settings(self) -> dict:
        """The arguments as given (formulas as text)."""
        return self.spec.settings()

    @property
    def n_trials(self) -> int:
        """Trials with at least one subject (distinct ``trial`` values)."""
        return int(self.baseline[TRIAL].nunique())

    def emulate_on(self, data: pd.DataFrame) -> StreamedTrials:
        """The same emulation (streamed) on other data: a bootstrap resample, say."""
        return self._emulate(data)

    def summary(self) -> pd.DataFrame:
        """The weight models' coefficients, as ``TrialSequence.summary``."""
        return models_table(self.models)

    def followup_values(self) -> np.ndarray:
        """The distinct follow-up times of the expansion, sorted."""
        s = self.source
        return _followups(self, s)

    def analysis_weights(self, truncate: tuple | None = None) -> np.ndarray:
        """The expansion's weights (stored: 8 bytes per expanded row), truncated as
        ``TrialSequence.analysis_weights``."""
        w = _weights(self.source, self.n_rows)
        lower, upper = truncation_limits(w, truncate)
        if truncate is not None:
            np.minimum(w, upper, out=w)
            np.maximum(w, lower, out=w)
        return w

    def check_fit(self, fit) -> None:
        """ValueError unless ``fit`` is a streamed fit of this sequence using ``assigned``."""
        if not isinstance(fit, GLMResults):
            kind = type(fit).__name__
            raise TypeError(f"fit must be a GLMResults from StreamedTrials.fit, got {kind}")
        if fit not in self._fits:
            raise ValueError(
                "the fit is not a fit of this streamed trial sequence (StreamedTrials.fit on "
                "the same sequence)"
            )
        if "assigned" not in (fit.terms.columns if fit.terms is not None else ()):
            raise ValueError(
                f"the MSM ({fit.formula}) does not use 'assigned': both arms would have the "
                "same risk; fit a model with the assigned strategy"
            )

    def fit(
        self,
        formula: str,
        *,
        truncate: tuple | None = None,
        variance: str = "cr1",
        convergence: str = "full",
    ) -> GLMResults:
        """The MSM streamed: ``TrialSequence.fit`` without storing the expansion.

        Each Newton pass regenerates the expanded rows, their weights and design rows from
        the cleaned rows (``msm._kernels.stream``).  The formula may use the intercept, the
        expansion's columns (``assigned``, ``followup``, ``trial``, the current treatment,
        the baseline covariates), their integer powers (``I(followup**2)``) and products of
        these; anything else is a ValueError naming the term.  ``truncate`` stores the
        weights once (8 bytes per expanded row) to take their quantiles.  ``convergence``
        must be ``"full"``; ``variance`` any of ``TrialSequence.fit``'s.  The result equals
        ``TrialSequence.fit``'s to rounding; it has no per-row arrays (``fitted_values``,
        ``score_rows``).

        Examples
        --------
        >>> import msm
        >>> panel = msm.datasets.simulate_panel(n_subjects=300, seed=2, stop_at_event=True,
        ...                                     event_coefs=(-2.5, 0.2, 0.5, -0.7))
        >>> panel["eligible"] = (panel["time"] < 5).astype(int)
        >>> args = dict(id="id", time="time", treatment="a", outcome="y",
        ...             eligible="eligible", covariates=["x"])
        >>> streamed = msm.trial_sequence(panel, materialize=False, **args)
        >>> fit = streamed.fit("y ~ assigned + followup + I(followup**2) + trial + x")
        >>> stored = msm.trial_sequence(panel, **args).fit(
        ...     "y ~ assigned + followup + I(followup**2) + trial + x")
        >>> bool(np.allclose(fit.params, stored.params, rtol=1e-10, atol=0))
        True
        """
        fit = fit_streamed(self, formula, truncate=truncate, variance=variance,
                           convergence=convergence)  # fmt: skip
        self._fits.add(fit)
        return fit

    def risk_curves(self, fit: GLMResults, followup=range(11), **options) -> pd.DataFrame:
        """``TrialSequence.risk_curves`` from a streamed fit (its baseline rows are
        ``baseline``; a callable ``predict_rows`` is applied to them)."""
        from msm.trials.curves import sequence_risk_curves

        return sequence_risk_curves(self, fit, followup, **options)

    def __repr__(self) -> str:
        n_ids = self.baseline[self.spec.id].nunique()
        return (
            f"StreamedTrials({self.spec.estimand}: {self.n_trials} trials, {self.n_rows} "
            f"expanded rows (not stored), {n_ids} subjects)"
        )


def _followups(seq: StreamedTrials, s: StreamSource) -> np.ndarray:
    cached = getattr(seq, "_followup_cache", None)
    if cached is None:
        time = np.ascontiguousarray(s.time)
        if time.dtype.kind not in "iuf":
            time = time.astype(np.float64)
        cached = kernel.followup_values(s.starts, s.eligible, s.stop, time)
        object.__setattr__(seq, "_followup_cache", cached)
    return cached


def _arguments(source: StreamSource, values, y, vkind, vcol, program_arrays, centre,
               intercept, lower, upper):  # fmt: skip
    fstart, fvar, fpow = program_arrays
    return (
        source.log_cumulative, source.starts, source.eligible, source.stop, values, y,
        vkind, vcol, fstart, fvar, fpow, centre, -1 if intercept is None else intercept,
        lower, upper,
    )  # fmt: skip


def _weights(source: StreamSource, n_rows: int) -> np.ndarray:
    """The expansion's weights, stored (one float per expanded row)."""
    empty = (np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    values = np.zeros((source.starts[-1], 0))
    args = _arguments(source, values, source.y, np.zeros(0, np.int64), np.zeros(0, np.int64),
                      empty, np.zeros(0), None, -np.inf, np.inf)  # fmt: skip
    offsets = _offsets(source)
    w = np.empty(n_rows)
    kernel.stream_rows(*args, offsets, 1, False, offsets, np.empty((n_rows, 0)),
                       np.empty(n_rows), w)  # fmt: skip
    return w


def _offsets(source: StreamSource) -> np.ndarray:
    counts = trial_row_counts(source.eligible, source.starts, source.stop)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _variables(seq: StreamedTrials):
    """The program's variables: names, kinds and source columns, and the values matrix."""
    spec, s = seq.spec, seq.source
    names = [TRIAL, FOLLOWUP, ASSIGNED, spec.treatment]
    kinds = [kernel.START, kernel.FOLLOWUP, kernel.START, kernel.ROW]
    cols = [0, 0, 1, 1]
    columns = [s.time.astype(np.float64), s.a.astype(np.float64)]
    for c, v in s.covariates.items():
        if not (isinstance(v, np.ndarray) and v.dtype.kind in "biuf"):
            continue  # not numeric: not a variable of the streamed design
        names.append(c)
        kinds.append(kernel.START)
        cols.append(len(columns))
        columns.append(v.astype(np.float64))
    values = np.ascontiguousarray(np.column_stack(columns))
    return names, np.array(kinds, np.int64), np.array(cols, np.int64), values


def fit_streamed(seq: StreamedTrials, formula: str, *, truncate=None, variance="cr1",
                 convergence="full") -> GLMResults:  # fmt: skip
    """The streamed MSM of ``seq`` (``StreamedTrials.fit``)."""
    spec, s = seq.spec, seq.source
    if variance == "stacked":
        raise ValueError(
            "variance='stacked' is not available for trial sequences yet; use 'cr1' "
            "(or msm.bootstrap)"
        )
    options = check_glm_arguments(formula, "binomial", variance, spec.id, None, 50, 1e-10,
                                  convergence)  # fmt: skip
    if options.convergence != "full":
        raise ValueError(
            "the streamed MSM iterates Newton to convergence (convergence='full'); "
            "convergence='r' needs the expansion stored (materialize=True)"
        )
    check_truncate(truncate)
    outcome, rhs = options.outcome, options.rhs
    if outcome != spec.outcome:
        raise DataError(
            outcome,
            f"the MSM's outcome must be the sequence's outcome {spec.outcome!r}, got {outcome!r}",
        )
    terms = parse_terms(rhs, seq.baseline, "outcome model")
    names_v, vkind, vcol, values = _variables(seq)
    program = msm_program(terms, seq.baseline.iloc[:8], names_v)
    arrays = program.arrays(names_v)
    names = list(program.names)
    p = len(names)
    model_name = f"outcome model {outcome} ~ {rhs} (binomial)"
    y = s.y
    lower, upper = -np.inf, np.inf
    if truncate is not None:
        lower, upper = truncation_limits(_weights(s, seq.n_rows), truncate)
    intercept = program.intercept
    zero = np.zeros(p)

    def args(centre):
        return _arguments(s, values, y, vkind, vcol, arrays, centre, intercept, lower, upper)

    counts, sums, column = kernel.stream_stats(*args(zero))
    n_rows, n_obs, n_zero, n_one, n_positive = (int(v) for v in counts)
    sum_w, w_max = float(sums[0]), float(sums[1])
    if n_obs == 0:
        raise DataError("weights", "every weight is 0: no rows to fit the outcome model on")
    check_outcome_varies(outcome, FAMILIES["binomial"], n_obs, n_zero, n_one)
    check_column_sizes(column[0], names, model_name, intercept)
    # msm.panel.weight_exponent from the sums: the mean positive weight near 1
    top = int(np.frexp(w_max)[1])
    mantissa, exponent = np.frexp(np.ldexp(sum_w, -top) / n_obs)
    k = top + int(exponent) - (1 if mantissa < np.sqrt(0.5) else 0)
    scale = float(np.ldexp(1.0, -k))
    mean = column[2] / n_rows
    column_sd = np.sqrt(np.maximum(column[3] / n_rows - mean * mean, 0.0))

    def run(centre, shifted_ok):
        a = args(centre)
        start = np.zeros(p)
        if intercept is not None:
            # msm._glm.start_intercept: the fitted mean is the weighted mean outcome
            ybar = sums[2] / sums[0]
            start[intercept] = float(np.log(ybar / (1.0 - ybar)))
        step = warm_start_step(n_rows)
        warm = None
        if step is not None:  # the rows msm._glm.warm_start_rows takes in memory
            stratified = warm_start_stratified(BINOMIAL, n_positive)
            offsets = _offsets(s)
            taken = kernel.stream_sample_offsets(s.starts, s.eligible, s.stop, y, offsets,
                                                 step, stratified)  # fmt: skip
            n_sample = int(taken[-1])
            Xs, ys, ws = (np.empty((n_sample, p)), np.empty(n_sample), np.empty(n_sample))
            kernel.stream_rows(*a, offsets, step, stratified, taken, Xs, ys, ws)
            ws *= scale
            factor = warm_start_factors(ys, step, stratified)
            if factor is not None:
                ws *= factor
            warm = warm_start(Xs, ys, ws, np.zeros(n_sample), BINOMIAL, names, model_name)

        def glm_pass(beta):
            return kernel.stream_pass(*a, scale, beta, BINOMIAL)

        result = newton(
            glm_pass, start, names, model_name, BINOMIAL, warm=warm,
            suspects=lambda b: suspects(b, column_sd, names),
            intercept=intercept, shifted_ok=shifted_ok,
            on_singular=functools.partial(raise_monotone, lambda: column_sd, names, model_name),
        )  # fmt: skip
        return a, result

    centring = None
    try:
        a, (beta, last, converged, n_iter) = run(zero, intercept is not None)
    except NeedsCentring:
        centre = column[1] / sum_w
        centre[intercept] = 0.0
        a, (gamma, last, converged, n_iter) = run(centre, False)
        beta = gamma.copy()
        beta[intercept] -= centre @ gamma
        centring = Centring(centre, intercept, gamma, last[3])
    deviance, pearson, _, info, _, _ = last
    U = kernel.stream_scores(*a, scale, beta if centring is None else centring.beta, BINOMIAL)
    meat = U.T @ U
    centred = None
    if centring is not None:
        A = centring.transform()
        centred = CentredParts(transform=A, information=info, meat=meat)
        meat = uncentred_form(A, meat)
        info = uncentred_form(A, info)
    return assemble_results(
        beta=beta, names=names, information=info, meat=meat, fam=FAMILIES["binomial"],
        estimator=options.estimator, rhs=rhs, outcome=outcome, n_obs=n_obs, n_rows=n_rows,
        n_clusters=int(s.starts.size - 1), cluster=spec.id, sum_weights=sum_w,
        deviance=float(np.ldexp(deviance, k)), pearson=float(np.ldexp(pearson, k)),
        converged=converged, n_iter=n_iter, arrays=None, weight_scale=scale,
        centred=centred, centring=centring, terms=terms, design_spec=program.spec,
    )  # fmt: skip
