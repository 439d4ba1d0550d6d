"""``trial_sequence`` on a dask DataFrame: trials expanded per partition, models fitted on Dask.

Every subject's rows sit in one partition (``msm._dask.partitions``: checked from the id
ranges, shuffled when they overlap), so everything a subject's trials need is in its
partition.  Each partition is prepared once per call (``prepare_partition``): the in-memory
row checks, sort, cleaning and per-protocol row deletion (``msm.trials.sequence``:
``check_trial_columns``, ``msm.panel.build_panel`` and ``binary_values``, ``clean_rows``,
``per_protocol_rows``) and every switch and censoring model's design on the cleaned rows,
kept compactly on the workers.  The models are fitted together, one task per partition per
Newton round (``msm._dask.partitions.fit_models``: the in-memory start, warm start and
convergence), so the weights are the in-memory ones.  With the coefficients, each partition
turns its rows' fitted probabilities into row factors and expands its trials with the
in-memory kernel (``msm._kernels.sequential_trials``) and frame builder
(``msm.trials.sequence.expanded_frame``).

The expanded data are never gathered: ``DaskTrialSequence.expanded`` is a lazy dask frame
(one partition per input partition), the MSM is fitted from per-partition sums
(``msm._dask.outcome.fit_prepared``: cluster-robust by subject, exact because a subject's
trials sit in its partition; truncation at exact type-7 quantiles), and the risk curves need
only the baseline rows (``followup == 0``), which are brought to the client.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm import _kernels
from msm._dask.outcome import MODEL, GLMSpec, PreparedGLM, fit_prepared, prepare_rows
from msm._dask.partitions import (
    Columns,
    Constant,
    ModelTask,
    arrange,
    check_columns,
    compute_each,
    fit_models,
    id_range,
    is_dask,
    model_summaries,
    partitions_of,
    persist_each,
    require_dask,
)
from msm._dask.quantiles import type7_quantiles
from msm._dask.weights import in_memory_order
from msm._formula import Terms, design_rows, intercept_columns, parse_terms
from msm._glm import BINOMIAL
from msm.inference import models_table
from msm.models import registry
from msm.models.logit import LogitFit, log_prob
from msm.outcome import GLMResults
from msm.outcome.glm_model import check_glm_arguments
from msm.panel import DataError, binary_values, build_panel
from msm.trials.curves import (
    baseline_rows,
    check_curve_options,
    check_fit_form,
    followup_grid,
    standardized_curves,
)
from msm.trials.sequence import (
    ASSIGNED,
    FOLLOWUP,
    TRIAL,
    WEIGHT,
    Spec,
    TrialSpec,
    check_sequence_variance,
    check_trial_columns,
    clean_rows,
    expanded_frame,
    no_eligible_row,
    no_previous_treatment,
    per_protocol_rows,
    trial_spec,
    truncation_percentiles,
    warn_after_outcome,
    warn_constant_treatment,
)
from msm.weights import not_varying, warn_no_censoring

# ---------------------------------------------------------------------------------------------
# the weight models: which rows and outcome each has, as in memory


@dataclass(frozen=True)
class Slot:
    """One switch or censoring model of the in-memory ``trial_sequence``: its key in
    ``models``, its rows (``group``: the previous treatment ``am_1``, None for every cleaned
    row) and how it is named."""

    key: str
    kind: str  # "switch" or "censor"
    part: str  # "numerator" or "denominator"
    group: int | None
    terms: Terms
    base: str  # e.g. "switch numerator", for the error when a group has no rows
    role: str  # e.g. "switch numerator (rows with am_1 = 0)"
    outcome: str  # the modelled column, as the in-memory model names it
    hint: str = ""


def model_slots(spec: TrialSpec) -> tuple[Slot, ...]:
    """The models the in-memory ``trial_sequence`` may fit, in its order."""
    slots = []
    if spec.estimand == "PP":
        for part, terms in (
            ("numerator", spec.switch_numerator),
            ("denominator", spec.switch_denominator),
        ):
            for k in (0, 1):
                slots.append(Slot(f"switch_{part}_{k}", "switch", part, k, terms,
                                  f"switch {part}", f"switch {part} (rows with am_1 = {k})",
                                  str(spec.treatment)))  # fmt: skip
    if spec.censor is not None:
        pooled = {
            "numerator": spec.pool_censor in ("numerator", "both"),
            "denominator": spec.pool_censor == "both",
        }
        hint = "; pool the model over am_1 (pool_censor='both')"
        for part, terms in (
            ("numerator", spec.censor_numerator),
            ("denominator", spec.censor_denominator),
        ):
            outcome = f"1 - {spec.censor}"
            if pooled[part]:
                slots.append(Slot(f"censor_{part}", "censor", part, None, terms,
                                  f"censor {part}", f"censor {part}", outcome))  # fmt: skip
                continue
            for k in (0, 1):
                slots.append(Slot(f"censor_{part}_{k}", "censor", part, k, terms,
                                  f"censor {part}", f"censor {part} (rows with am_1 = {k})",
                                  outcome, hint))  # fmt: skip
    return tuple(slots)


# ---------------------------------------------------------------------------------------------
# one partition's rows, as in memory


@dataclass(eq=False)
class TrialRows:
    """One partition validated, sorted and cleaned (``msm.trials.sequence.compute_trials``'s
    steps before the weight models)."""

    panel: object  # msm.panel.Panel
    cleaned: object  # msm.trials.sequence.CleanedRows
    rows: np.ndarray  # partition positions of the cleaned rows, in (id, time) order
    y: np.ndarray  # outcome on the sorted rows
    c_kept: np.ndarray | None  # censor on the cleaned rows
    n_deviation: int
    n_eligible: int  # rows with eligible == 1 before cleaning

    @property
    def n_kept(self) -> int:
        return int(self.cleaned.kept.size)


def trial_rows(part: pd.DataFrame, spec: TrialSpec) -> TrialRows | None:
    """The in-memory checks, sort and cleaning of one partition (None when it has no rows)."""
    if len(part) == 0:
        return None
    check_trial_columns(part, spec)
    panel = build_panel(part, spec.id, spec.time)

    def binary(column, role):
        return binary_values(panel, panel.sort(part[column].to_numpy()), column, role)

    a = binary(spec.treatment, "treatment")
    y = binary(spec.outcome, "outcome")
    e = binary(spec.eligible, "eligible")
    c = None if spec.censor is None else binary(spec.censor, "censor")
    cleaned = clean_rows(panel, a, y, e, spec.outcome, warn_dropped=False)
    n_deviation = 0
    if spec.estimand == "PP":
        cleaned, n_deviation = per_protocol_rows(cleaned)
    rows = panel.order[cleaned.kept]
    c_kept = None if c is None else c[cleaned.kept]
    return TrialRows(panel, cleaned, rows, y, c_kept, n_deviation, int(e.sum()))


def slot_rows(tr: TrialRows, slot: Slot) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """A model's rows among the cleaned rows (a mask, None for all), outcome and positions."""
    cleaned = tr.cleaned
    mask = None if slot.group is None else cleaned.am_1 == float(slot.group)
    values = cleaned.a if slot.kind == "switch" else 1.0 - tr.c_kept
    if mask is None:
        return None, values, tr.rows
    return mask, values[mask], tr.rows[mask]


def slot_design(part: pd.DataFrame, tr: TrialRows, slot: Slot):
    """A model's mask, outcome and design on its rows (``msm._formula.design_rows``)."""
    mask, y, positions = slot_rows(tr, slot)
    design = design_rows(slot.terms, part, positions)
    intercept_columns(design)
    return mask, y, design


def row_factors(spec: TrialSpec, slots, models: dict, n_kept: int, built: dict):
    """Each cleaned row's log factor and the cleaned frame's extra columns, as in memory.

    ``built`` maps a slot's key to its ``(mask, X, y)`` (``X`` may be None for a switch
    model not fitted: treatment constant on its rows in all the data, factor 1).
    """
    log_factor = np.zeros(n_kept)
    extra: dict[str, np.ndarray] = {}
    switch = [s for s in slots if s.kind == "switch"]
    if switch:
        p = {"numerator": np.empty(n_kept), "denominator": np.empty(n_kept)}
        log_p = {"numerator": np.empty(n_kept), "denominator": np.empty(n_kept)}
        for slot in switch:
            mask, X, y = built[slot.key]
            fit = models.get(slot.key)
            if fit is None:
                p[slot.part][mask] = y
                log_p[slot.part][mask] = 0.0
                continue
            p[slot.part][mask] = np.exp(log_prob(fit, X, np.ones(y.size)))
            log_p[slot.part][mask] = log_prob(fit, X, y)
        log_switch = log_p["numerator"] - log_p["denominator"]
        log_factor = log_factor + log_switch
        extra = {
            "p_switch_numerator": p["numerator"],
            "p_switch_denominator": p["denominator"],
            "switch_factor": np.exp(log_switch),
        }
    censor = [s for s in slots if s.kind == "censor" and s.key in models]
    if censor:
        p = {"numerator": np.empty(n_kept), "denominator": np.empty(n_kept)}
        for slot in censor:
            mask, X, y = built[slot.key]
            at = slice(None) if mask is None else mask
            p[slot.part][at] = np.exp(log_prob(models[slot.key], X, np.ones(y.size)))
        log_censor = np.log(p["numerator"]) - np.log(p["denominator"])
        log_factor = log_factor + log_censor
        extra["p_censor_numerator"] = p["numerator"]
        extra["p_censor_denominator"] = p["denominator"]
        if spec.estimand == "PP":
            extra["censor_factor"] = np.exp(log_censor)
    if extra:
        extra["factor"] = np.exp(log_factor)
    return log_factor, extra


def expand_trials(spec: TrialSpec, cleaned, log_factor: np.ndarray):
    """The in-memory expansion kernel: kept-row positions of each expanded row and of its
    trial's start row, and its weight."""
    log_cumulative = _kernels.cumulative_log_weights(log_factor, cleaned.starts)
    return _kernels.sequential_trials(
        cleaned.eligible,
        cleaned.starts,
        log_cumulative,
        cleaned.switch if spec.estimand == "PP" else None,
    )


# ---------------------------------------------------------------------------------------------
# the partitions kept for the fits


@dataclass(eq=False)
class PreparedTrials:
    """One partition's cleaned rows reduced to what the fits and the expansion counts read."""

    columns: Columns  # every model's design, outcome and rows (cleaned rows, sorted order)
    eligible: np.ndarray
    starts: np.ndarray
    switch: np.ndarray
    time: np.ndarray  # time on the cleaned rows
    y: np.ndarray  # outcome on the cleaned rows (int8)
    id_range: tuple
    first_id: object
    counts: dict


def prepare_partition(part: pd.DataFrame, spec: TrialSpec, slots) -> PreparedTrials:
    """Validate, sort and clean one partition and build every model's design: once per call."""
    tr = trial_rows(part, spec)
    n_kept = 0 if tr is None else tr.n_kept
    columns = Columns(n_kept)
    # the models on every cleaned row first, so the others' columns can refer to theirs
    for slot in sorted(slots, key=lambda s: s.group is not None):
        if n_kept == 0:
            names = design_rows(slot.terms, part, np.empty(0, np.int64)).names
            rows = None if slot.group is None else np.zeros(0, dtype=bool)
            columns.add(slot.key, np.empty((0, len(names))), names, np.empty(0), rows=rows)
            continue
        mask, y, design = slot_design(part, tr, slot)
        columns.add(slot.key, design.matrix, design.names, y, rows=mask)
    counts = {"n_rows": len(part), "n_kept": n_kept, "n_eligible": 0, "n_before_eligible": 0,
              "n_after_outcome": 0, "ids_after_outcome": np.empty(0), "n_deviation": 0,
              "n_censored": 0, "groups": {0: 0, 1: 0}}  # fmt: skip
    if tr is None:
        empty = np.empty(0, np.int64)
        return PreparedTrials(columns, np.empty(0, bool), np.zeros(1, np.int64), empty,
                              np.empty(0), np.empty(0, np.int8), id_range(part, spec.id),
                              None, counts)  # fmt: skip
    cleaned = tr.cleaned
    counts.update(
        n_eligible=tr.n_eligible,
        n_before_eligible=cleaned.n_before_eligible,
        n_after_outcome=cleaned.n_after_outcome,
        ids_after_outcome=np.asarray(cleaned.ids_after_outcome),
        n_deviation=tr.n_deviation,
        n_censored=0 if tr.c_kept is None else int(tr.c_kept.sum()),
        groups={k: int((cleaned.am_1 == float(k)).sum()) for k in (0, 1)},
    )
    kept = cleaned.kept
    return PreparedTrials(
        columns=columns,
        eligible=cleaned.eligible,
        starts=cleaned.starts,
        switch=cleaned.switch,
        time=tr.panel.time[kept],
        y=tr.y[kept].astype(np.int8),
        id_range=id_range(part, spec.id),
        first_id=tr.panel.ids[0],
        counts=counts,
    )


def partition_summary(prepared: PreparedTrials, keys: list[str]) -> tuple:
    """The partition's id range, first id, counts and models' sums (``model_summaries``)."""
    if prepared.first_id is None:
        return prepared.id_range, None, prepared.counts, {key: None for key in keys}
    summaries = model_summaries(prepared, keys)
    return prepared.id_range, prepared.first_id, prepared.counts, summaries


def _built_from_columns(prepared: PreparedTrials, slots, models: dict) -> dict:
    built = {}
    for slot in slots:
        if slot.kind == "censor" and slot.key not in models:
            continue
        rows = prepared.columns.rows(slot.key)
        design = prepared.columns.design(slot.key)
        if design is None:  # no rows of this model here
            mask = None if rows is None else np.zeros(prepared.eligible.size, dtype=bool)
            built[slot.key] = (mask, np.empty((0, len(prepared.columns.names(slot.key)))),
                               np.empty(0))  # fmt: skip
        else:
            built[slot.key] = (rows, design[0], design[1])
    return built


def expansion_summary(prepared: PreparedTrials, spec: TrialSpec, slots, models: dict) -> dict:
    """What the client reports about a partition's expanded rows, without building them."""
    n_kept = prepared.eligible.size
    if n_kept == 0:
        return {"n": 0, "trials": np.empty(0), "followups": np.empty(0), "w_min": np.inf,
                "w_max": -np.inf, "w_sum": 0.0, "events": 0, "subjects": 0}  # fmt: skip
    built = _built_from_columns(prepared, slots, models)
    log_factor, _ = row_factors(spec, slots, models, n_kept, built)
    cleaned = _Cleaned(prepared.eligible, prepared.starts, prepared.switch)
    source, trial, weight = expand_trials(spec, cleaned, log_factor)
    time = prepared.time
    subjects = np.add.reduceat(prepared.eligible.astype(np.int64), prepared.starts[:-1])
    return {
        "n": int(source.size),
        "trials": np.unique(time[trial]),
        "followups": np.unique(time[source] - time[trial]),
        "w_min": float(weight.min()) if weight.size else np.inf,
        "w_max": float(weight.max()) if weight.size else -np.inf,
        "w_sum": float(weight.sum()),
        "events": int(prepared.y[source].sum(dtype=np.int64)),
        "subjects": int((subjects > 0).sum()),
    }


@dataclass(frozen=True)
class _Cleaned:
    eligible: np.ndarray
    starts: np.ndarray
    switch: np.ndarray


# ---------------------------------------------------------------------------------------------
# the expanded rows of one partition, from its raw rows


def emulate_partition(part: pd.DataFrame, spec: TrialSpec, slots, models: dict, what: str):
    """The partition's expanded rows (``what="expanded"``) or cleaned rows (``"cleaned"``),
    with the in-memory code and the fitted models; empty frames for a partition without
    trials."""
    tr = trial_rows(part, spec)
    if tr is None or tr.n_kept == 0:
        return None
    cleaned = tr.cleaned
    built = {}
    for slot in slots:
        fitted = slot.key in models
        if slot.kind == "censor" and not fitted:
            continue
        if fitted:
            mask, y, design = slot_design(part, tr, slot)
            built[slot.key] = (mask, design.matrix, y)
        else:
            mask, y, _ = slot_rows(tr, slot)
            built[slot.key] = (mask, None, y)
    log_factor, extra = row_factors(spec, slots, models, tr.n_kept, built)
    panel, kept, rows = tr.panel, cleaned.kept, tr.rows
    ids_kept, time_kept = panel.ids[kept], panel.time[kept]
    if what == "cleaned":
        return pd.DataFrame(
            {
                spec.id: ids_kept,
                spec.time: time_kept,
                spec.treatment: cleaned.a.astype(np.int64),
                spec.eligible: cleaned.eligible.astype(np.int64),
                "am_1": cleaned.am_1.astype(np.int64),
                "switch": cleaned.switch,
                **extra,
            },
            index=panel.index[rows],
        )
    source, trial, weight = expand_trials(spec, cleaned, log_factor)
    expanded, _, _ = expanded_frame(
        part, spec, source, trial, weight, ids_kept, time_kept, cleaned.a, tr.y[kept], rows
    )
    return expanded


def _expanded_part(part, spec, slots, models, meta):
    out = emulate_partition(part, spec, slots, models, "expanded")
    return meta if out is None else out


def _cleaned_part(part, spec, slots, models, meta):
    out = emulate_partition(part, spec, slots, models, "cleaned")
    return meta if out is None else out


def expanded_meta(meta: pd.DataFrame, spec: TrialSpec) -> pd.DataFrame:
    """The expanded frame's columns and dtypes (no rows)."""
    time = meta[spec.time].dtype
    dtypes = {spec.id: meta[spec.id].dtype, TRIAL: time, FOLLOWUP: time, ASSIGNED: np.int64,
              spec.treatment: np.int64, spec.outcome: np.int64, WEIGHT: np.float64,
              **{c: meta[c].dtype for c in spec.covariates}}  # fmt: skip
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})


def cleaned_meta(meta: pd.DataFrame, spec: TrialSpec, models: dict) -> pd.DataFrame:
    """The cleaned frame's columns and dtypes (no rows)."""
    dtypes = {spec.id: meta[spec.id].dtype, spec.time: meta[spec.time].dtype,
              spec.treatment: np.int64, spec.eligible: np.int64, "am_1": np.int64,
              "switch": np.int64}  # fmt: skip
    extra = []
    if spec.estimand == "PP":
        extra += ["p_switch_numerator", "p_switch_denominator", "switch_factor"]
    if any(key.startswith("censor") for key in models):
        extra += ["p_censor_numerator", "p_censor_denominator"]
        if spec.estimand == "PP":
            extra.append("censor_factor")
    if extra:
        extra.append("factor")
    dtypes.update({c: np.float64 for c in extra})
    frame = pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})
    frame.index = meta.index[:0]
    return frame


# ---------------------------------------------------------------------------------------------
# the MSM's partitions


def _prepare_msm(part, spec, slots, models, meta, glm: GLMSpec) -> PreparedGLM:
    return prepare_rows(_expanded_part(part, spec, slots, models, meta), None, glm)


def _msm_weights(prepared: PreparedGLM) -> tuple:
    return prepared.columns.outcome(MODEL)[1], None


def truncated(prepared: PreparedGLM, lower: float | None, upper: float | None) -> PreparedGLM:
    """The prepared MSM partition with its weights truncated as ``analysis_weights`` does."""
    rows, names, refs, y, w, offset, n = prepared.columns.models[MODEL]
    w = np.full(n, w.value) if isinstance(w, Constant) else np.array(w, dtype=np.float64)
    if upper is not None:
        np.minimum(w, upper, out=w)
    if lower is not None:
        np.maximum(w, lower, out=w)
    columns = Columns(prepared.columns.n_rows)
    columns.full = prepared.columns.full
    columns.models = {MODEL: (rows, names, refs, y, w, offset, n)}
    return PreparedGLM(columns, prepared.codes, prepared.n_clusters)


def _weights_series(part, spec, slots, models, meta, bounds):
    expanded = _expanded_part(part, spec, slots, models, meta)
    w = expanded[WEIGHT].to_numpy(dtype=np.float64).copy()
    lower, upper = bounds
    if upper is not None:
        np.minimum(w, upper, out=w)
    if lower is not None:
        np.maximum(w, lower, out=w)
    return pd.Series(w, index=expanded.index, name=WEIGHT)


def _weight_source(part, spec, slots, models, meta):
    return _expanded_part(part, spec, slots, models, meta)[WEIGHT].to_numpy(np.float64), None


# ---------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True, eq=False)
class DaskTrialSequence:
    """Sequential trials of a dask DataFrame: fitted weight models on the client, the
    expanded rows computed per partition when read.

    As ``msm.TrialSequence`` (the same ``models``, ``spec``, ``settings``, ``n_dropped``,
    ``n_trials``, ``summary()``, ``fit()`` and ``risk_curves()``), except that ``expanded``
    and ``cleaned`` are lazy dask DataFrames (one partition per partition of ``data``; each
    partition's rows in the in-memory order, with a RangeIndex from 0 for ``expanded``),
    ``analysis_weights`` is a lazy dask Series, and there are no ``rows``/``trial_rows``
    (positions in a pandas frame).

    Attributes
    ----------
    models : dict of str to LogitFit
        The fitted switch and censoring models, keyed as in memory.
    spec : TrialSpec
        The arguments, checked.
    data : dask.dataframe.DataFrame
        The columns read, arranged so each subject sits in one partition (shuffled when the
        input was not; ``shuffled`` says which).
    n_rows : int
        Expanded rows.
    n_dropped : dict
        As in memory.
    followups : ndarray
        The follow-up times of the expanded rows (sorted, each once).
    """

    models: dict[str, LogitFit]
    spec: TrialSpec
    data: object = field(repr=False)
    slots: tuple = field(repr=False)
    order: list = field(repr=False)
    n_rows: int = 0
    n_dropped: dict = field(default_factory=dict)
    followups: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    trials: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    n_subjects: int = 0
    n_events: int = 0
    weight_range: tuple = (np.nan, np.nan, np.nan)  # min, mean, max
    shuffled: bool = False

    @property
    def settings(self) -> dict:
        """The arguments as given (formulas as text)."""
        return self.spec.settings()

    @property
    def n_trials(self) -> int:
        """Trials with at least one subject (distinct ``trial`` values)."""
        return int(self.trials.size)

    def _meta(self) -> pd.DataFrame:
        return expanded_meta(self.data._meta, self.spec)

    def _lazy(self, function, meta, *args):
        dask = require_dask()
        import dask.dataframe as dd

        make = dask.delayed(function, pure=True)
        parts = [make(p, self.spec, self.slots, self.models, meta, *args)
                 for p in partitions_of(self.data)]  # fmt: skip
        return dd.from_delayed(parts, meta=meta, verify_meta=False)

    @property
    def expanded(self):
        """The expanded rows, a lazy dask DataFrame (columns and values as in memory)."""
        return self._lazy(_expanded_part, self._meta())

    @property
    def cleaned(self):
        """The cleaned rows, a lazy dask DataFrame indexed by the caller's labels."""
        return self._lazy(_cleaned_part, cleaned_meta(self.data._meta, self.spec, self.models))

    def summary(self) -> pd.DataFrame:
        """The weight models' coefficients, as ``TrialSequence.summary``."""
        return models_table(self.models)

    def truncation_bounds(self, truncate) -> tuple:
        """``(lower, upper)`` weights at which ``truncate=(lower, upper)`` percentiles cut
        (either None), the exact type-7 quantiles of the expanded weights (as in memory)."""
        return _bounds(self.data, truncate, _weight_source, self._extra_args())

    def _extra_args(self) -> tuple:
        return (self.spec, self.slots, self.models, self._meta())

    def analysis_weights(self, truncate: tuple | None = None):
        """The expanded weights, truncated as ``TrialSequence.analysis_weights``: a lazy dask
        Series aligned with ``expanded`` (the bounds are found first, by distributed
        selection)."""
        bounds = (None, None) if truncate is None else self.truncation_bounds(truncate)
        meta = pd.Series(np.empty(0), name=WEIGHT)
        dask = require_dask()
        import dask.dataframe as dd

        make = dask.delayed(_weights_series, pure=True)
        parts = [make(p, *self._extra_args(), bounds) for p in partitions_of(self.data)]
        return dd.from_delayed(parts, meta=meta, verify_meta=False)

    def sample_controls(self, p: float, seed=None):
        """Not on a Dask frame yet: case-control sampling draws over the expanded rows in
        their in-memory order."""
        raise NotImplementedError(
            "sample_controls is not available for a trial sequence of a Dask DataFrame: fit "
            "the MSM on every expanded row (seq.fit), which the partitions share out"
        )

    def emulate_on(self, data):
        """Not on a Dask frame: the bootstrap's re-emulation is in memory."""
        registry.require_front_end("dask", trial_bootstrap=True)

    def fit(
        self,
        formula: str,
        *,
        truncate: tuple | None = None,
        variance: str = "cr1",
        convergence: str = "full",
    ) -> GLMResults:
        """The MSM, as ``TrialSequence.fit``, fitted from sums over the partitions.

        Each partition expands its trials and keeps the MSM's design compactly on the
        workers (the expanded rows are never gathered); Newton's steps and the cluster-robust
        sandwich (clusters: subjects, each within one partition) are sums over partitions,
        added in the in-memory row order.  ``truncate=`` cuts at the exact type-7 quantiles
        of all the expanded weights.  ``convergence="r"`` is not available on Dask.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> panel = msm.datasets.simulate_panel(n_subjects=300, seed=2, stop_at_event=True,
        ...                                     event_coefs=(-2.5, 0.2, 0.5, -0.7))
        >>> panel["eligible"] = (panel["time"] < 5).astype(int)
        >>> frame = dd.from_pandas(panel, npartitions=3, sort=False)
        >>> seq = msm.trial_sequence(frame, id="id", time="time", treatment="a",
        ...                          outcome="y", eligible="eligible", covariates=["x"])
        >>> fit = seq.fit("y ~ assigned + followup + trial + x", truncate=(None, 99))
        >>> mem = msm.trial_sequence(panel, id="id", time="time", treatment="a",
        ...                          outcome="y", eligible="eligible", covariates=["x"])
        >>> ref = mem.fit("y ~ assigned + followup + trial + x", truncate=(None, 99))
        >>> bool(np.allclose(fit.params, ref.params, rtol=1e-10, atol=0))
        True
        """
        check_sequence_variance(variance)
        options = check_glm_arguments(
            formula, "binomial", variance, self.spec.id, None, 50, 1e-10, convergence
        )
        registry.require_front_end(
            "dask",
            convergence_r=options.convergence == "r",
            variance_stacked=options.estimator.name == "stacked",
        )
        bounds = None if truncate is None else truncation_percentiles(truncate)
        meta = self._meta()
        check_columns(meta, [options.outcome], "outcome")
        terms = parse_terms(options.rhs, meta, "outcome model")
        glm = GLMSpec(options.outcome, options.rhs, "binomial", self.spec.id, None, WEIGHT)
        prepared = persist_each(_prepare_msm, self.data, *self._extra_args(), glm)
        if bounds is not None:
            cut = _bounds(prepared, bounds, _msm_weights, ())
            prepared = persist_each(truncated, prepared, *cut)
        return fit_prepared(prepared, options, self.spec.id, self.order, terms)

    def risk_curves(
        self,
        fit: GLMResults,
        followup=range(11),
        *,
        predict_rows=None,
        ci: str | None = "simulation",
        n_sim: int = 1000,
        n_boot: int = 200,
        seed=None,
        alpha: float = 0.05,
        data=None,
        truncate: tuple | None = None,
        n_jobs: int | None = None,
    ) -> pd.DataFrame:
        """Cumulative incidence under ``assigned = 0`` and ``1``, as
        ``TrialSequence.risk_curves``.

        The baseline rows (``followup == 0`` of ``expanded``, or of ``predict_rows``: a
        frame, or a function of ``expanded`` returning a dask or pandas frame) are brought
        to the client (only the MSM's columns); the rest is the in-memory computation.
        ``ci="bootstrap"`` is refused (NotImplementedError): use ``"simulation"``.  The fit
        is checked for its rows, outcome and columns (not its fitted values, which a Dask
        fit does not keep).
        """
        alpha, n_sim, n_boot = check_curve_options(ci, alpha, n_sim, n_boot)
        registry.require_front_end("dask", trial_bootstrap=ci == "bootstrap")
        meta = self._meta()
        check_fit_form(fit, self.n_rows, self.spec.outcome, meta.columns)
        grid, report = followup_grid(self.followups, followup)
        rows, what = self.expanded, "the expanded data"
        if predict_rows is not None:
            what = "predict_rows"
            rows = predict_rows(self.expanded) if callable(predict_rows) else predict_rows
        if is_dask(rows):
            rows = _baseline_of(rows, fit, self.spec.id)
        elif not isinstance(rows, pd.DataFrame):
            raise TypeError(
                f"predict_rows must be a DataFrame of expanded rows (e.g. seq.expanded for "
                f"one trial), got {type(rows).__name__}"
            )
        baseline = baseline_rows(rows, fit, what, self.spec.id)
        return standardized_curves(fit, baseline, grid, report, like=baseline, ci=ci,
                                   n_sim=n_sim, seed=seed, alpha=alpha)  # fmt: skip

    def __repr__(self) -> str:
        lines = [
            f"DaskTrialSequence({self.spec.estimand}: {self.n_trials} trials, {self.n_rows} "
            f"expanded rows, {self.n_subjects} subjects, {self.n_events} events; "
            f"{self.data.npartitions} partitions"
            f"{' (shuffled on ' + repr(self.spec.id) + ')' if self.shuffled else ''})",
        ]
        if self.models:
            switch = [k for k in self.models if k.startswith("switch")]
            censor = [k for k in self.models if k.startswith("censor")]
            if switch:
                lines.append(f"switch models ({self.spec.treatment!r}): {', '.join(switch)}")
            if censor:
                lines.append(
                    f"censoring models ({self.spec.censor!r}, pool_censor="
                    f"{self.spec.pool_censor!r}): {', '.join(censor)}"
                )
            lo, mean, hi = self.weight_range
            lines.append(f"weights: min {lo:.4g}, mean {mean:.4g}, max {hi:.4g}")
        else:
            lines.append("no censoring weights (weight 1)")
        return "\n".join(lines)


def _bounds(source, truncate, weights, args) -> tuple:
    """The weights at the ``truncate`` percentiles (either None) of ``weights``' values."""
    lower, upper = truncation_percentiles(truncate)
    wanted = [p for p in (lower, upper) if p is not None]
    if not wanted:
        return None, None
    _, found = type7_quantiles(source, weights, args, [p / 100.0 for p in wanted], grouped=False)
    values = iter(float(q[0]) for q in found)
    return (None if lower is None else next(values)), (None if upper is None else next(values))


def _baseline_of(rows, fit: GLMResults, id) -> pd.DataFrame:
    """The rows of a dask frame at followup 0, with the MSM's columns (and ``id``)."""
    columns = list(fit.terms.columns) if fit.terms is not None else []
    wanted = [c for c in dict.fromkeys([*columns, FOLLOWUP, id]) if c in rows.columns]
    if FOLLOWUP not in rows.columns:
        return rows._meta[wanted]  # baseline_rows names what is missing
    picked = rows[wanted]
    return picked[picked[FOLLOWUP] == 0].compute()


# ---------------------------------------------------------------------------------------------
# trial_sequence


def trial_sequence(
    data,
    *,
    id: Hashable,
    time: Hashable,
    treatment: Hashable,
    outcome: Hashable,
    eligible: Hashable,
    estimand: str = "ITT",
    switch_numerator: Spec = None,
    switch_denominator: Spec = None,
    censor: Hashable | None = None,
    censor_numerator: Spec = None,
    censor_denominator: Spec = None,
    pool_censor: str | None = None,
    covariates: Sequence[Hashable] | None = None,
    convergence: str = "full",
) -> DaskTrialSequence:
    """``msm.trial_sequence`` for a dask DataFrame: the same trials, weights and models.

    Each subject's rows must sit in one partition (the frame is shuffled by id when they do
    not).  ``convergence="r"`` (R's IRLS path) is not available on Dask.
    """
    require_dask()
    spec = trial_spec(
        data._meta,
        id=id,
        time=time,
        treatment=treatment,
        outcome=outcome,
        eligible=eligible,
        estimand=estimand,
        switch_numerator=switch_numerator,
        switch_denominator=switch_denominator,
        censor=censor,
        censor_numerator=censor_numerator,
        censor_denominator=censor_denominator,
        pool_censor=pool_censor,
        covariates=covariates,
        convergence=convergence,
        columns_only=True,
    )
    registry.require_front_end("dask", convergence_r=spec.convergence == "r")
    slots = model_slots(spec)
    keys = [s.key for s in slots]
    columns = list(spec.columns)
    # whole subjects in each partition before any partition is validated (a subject split
    # over partitions would look like one with missing intervals)
    layout = arrange(data, spec.id, columns)
    frame, shuffled = layout.frame, layout.shuffled
    prepared = persist_each(prepare_partition, frame, spec, slots)
    summaries = compute_each(partition_summary, prepared, keys)
    order = in_memory_order([s[1] for s in summaries])
    counts = [summaries[i][2] for i in order]
    sums = [s[3] for s in summaries]
    total = {k: sum(c[k] for c in counts) for k in
             ("n_rows", "n_kept", "n_eligible", "n_before_eligible", "n_after_outcome",
              "n_deviation", "n_censored")}  # fmt: skip
    if total["n_rows"] == 0:
        raise DataError(None, "data is empty (0 rows)")
    if total["n_eligible"] == 0:
        raise no_eligible_row(spec, total["n_rows"])
    if total["n_after_outcome"]:
        ids = [v for c in counts for v in c["ids_after_outcome"]]
        warn_after_outcome(spec.outcome, total["n_after_outcome"], ids)
    groups = {k: sum(c["groups"][k] for c in counts) for k in (0, 1)}
    tasks = _model_tasks(spec, slots, sums, groups, total)
    fits = fit_models(prepared, tasks, sums, order)
    models = {}
    for task in tasks:
        fit, slot = fits[task.key], next(s for s in slots if s.key == task.key)
        names = fit.names
        models[task.key] = LogitFit(
            name=f"{slot.role} model",
            outcome=slot.outcome,
            formula=slot.terms.text,
            params=pd.Series(fit.beta, index=names),
            cov=pd.DataFrame(fit.covariance, index=names, columns=names),
            n=fit.n,
            loglik=-0.5 * float(fit.last[0]),
            converged=fit.converged,
            n_iter=fit.n_iter,
            centring=fit.centring,
        )
    stats = compute_each(expansion_summary, prepared, spec, slots, models)
    del prepared
    n_rows = sum(s["n"] for s in stats)
    w_sum = sum(s["w_sum"] for s in stats)
    return DaskTrialSequence(
        models=models,
        spec=spec,
        data=frame,
        slots=slots,
        order=order,
        n_rows=int(n_rows),
        n_dropped={
            "before_eligible": total["n_before_eligible"],
            "after_outcome": total["n_after_outcome"],
            **({"after_deviation": total["n_deviation"]} if spec.estimand == "PP" else {}),
        },
        followups=_union([s["followups"] for s in stats]),
        trials=_union([s["trials"] for s in stats]),
        n_subjects=int(sum(s["subjects"] for s in stats)),
        n_events=int(sum(s["events"] for s in stats)),
        weight_range=(
            min(s["w_min"] for s in stats),
            w_sum / n_rows if n_rows else np.nan,
            max(s["w_max"] for s in stats),
        ),
        shuffled=shuffled,
    )


def _union(values: list) -> np.ndarray:
    """The sorted distinct values of the partitions' (those with rows: their dtype)."""
    present = [v for v in values if v.size]
    return np.unique(np.concatenate(present)) if present else np.empty(0)


def _model_tasks(spec: TrialSpec, slots, sums: list, groups: dict, total: dict) -> list:
    """The models to fit, with the in-memory checks and warnings, in the in-memory order."""

    def rows_of(key):
        present = [s[key] for s in sums if s[key] is not None and s[key]["n"]]
        return sum(s["n"] for s in present), float(sum(s["sy"] for s in present))

    tasks = []
    n_kept = total["n_kept"]
    censored = spec.censor is not None and total["n_censored"] > 0
    if spec.censor is not None and not censored:
        slots = [s for s in slots if s.kind != "censor"]
    by_model: dict[tuple, list[Slot]] = {}
    for slot in slots:
        by_model.setdefault((slot.kind, slot.part), []).append(slot)
    for (kind, _), members in by_model.items():
        for slot in members:  # every group must have rows before any is fitted
            if slot.group is not None and groups[slot.group] == 0:
                raise no_previous_treatment(spec, slot.group, slot.base, slot.hint)
        for slot in members:
            n, sum_y = rows_of(slot.key)
            constant = sum_y == 0 or sum_y == n
            if kind == "switch" and constant:
                if slot.part == "numerator":
                    warn_constant_treatment(spec, int(sum_y > 0), n, slot.group)
                continue
            if constant:
                raise not_varying(spec.censor, slot.role, n, int(sum_y == 0))
            name = f"{slot.role} model for {slot.outcome!r}"
            tasks.append(ModelTask(slot.key, BINOMIAL, name, slot.outcome))
    if spec.censor is not None and not censored:  # after the switch models, as in memory
        warn_no_censoring(spec.censor, n_kept)
    return tasks
