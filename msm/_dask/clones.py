"""``clone_censor`` on a dask DataFrame: clones per partition, censoring models fitted on Dask.

Every patient's rows sit in one partition (checked from the id ranges, shuffled when they
overlap), so each partition clones, censors and weights its own patients with the in-memory
code (``msm.trials.clones``: ``clone_rows``, ``strategy_decisions``, ``loss_log_weights``,
``clone_frame``).  The censoring (treatment initiation) models and the loss-to-follow-up
model are fitted together on Dask, one task per partition per Newton round
(``msm._dask.partitions.fit_models``: the in-memory start, warm start and convergence); a
term constant on a model's risk set is found from the partitions' column ranges and
dropped with the in-memory note.  The weighted hazards per interval are sums over clone
rows, so each partition returns its sums and the client adds them; the pooled-logistic
hazard models are fitted on Dask too.  ``DaskCloneCensor.expanded`` is a lazy dask frame.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm._dask.partitions import (
    Columns,
    ModelTask,
    arrange,
    compute_each,
    fit_models,
    id_range,
    model_summaries,
    partitions_of,
    persist_each,
    require_dask,
)
from msm._dask.weights import in_memory_order
from msm._formula import Terms, design_matrix, intercept_columns
from msm._glm import BINOMIAL
from msm.models import registry
from msm.models.logit import LogitFit, log_prob
from msm.panel import DataError
from msm.strategies import Strategy
from msm.trials.clones import (
    FOLLOWUP,
    STRATEGY,
    WEIGHT,
    CloneCensorSpec,
    check_grace_periods,
    check_method,
    check_times,
    check_weighted,
    clone_censor_spec,
    clone_frame,
    clone_rows,
    constant_term_note,
    loss_log_weights,
    loss_note,
    no_variation,
    nonparametric_hazards,
    pooled_hazards,
    protocol_table,
    protocol_text,
    risk_table,
    strategy_decisions,
)
from msm.trials.sequence import no_eligible_row

LOSS = "loss"


@dataclass(frozen=True)
class ModelSlot:
    """One weight model of the in-memory ``clone_censor``: its key, the label its notes and
    warnings use, its right-hand side and which strategy's risk set (None: shared or loss)."""

    key: str
    label: str  # as in the notes ("censoring model of strategy 'x'", "the loss-to-...")
    name: str  # the fitted model's name (LogitFit.name)
    terms: Terms
    strategy: str | None
    outcome: str


def model_slots(spec: CloneCensorSpec) -> tuple[ModelSlot, ...]:
    """The models the in-memory ``clone_censor`` may fit, in its order."""
    treatment = str(spec.treatment)
    if spec.initiation_model == "shared":
        slots = [ModelSlot("censor:shared", "shared initiation model", "shared initiation model",
                           spec.initiation, None, treatment)]  # fmt: skip
    else:
        slots = [
            ModelSlot(f"censor:{name}", f"censoring model of strategy {name!r}",
                      f"censoring model of strategy {name!r}", spec.initiation, name, treatment)
            for name in spec.strategies
        ]  # fmt: skip
    if spec.censor is not None and spec.loss is not None:
        slots.append(ModelSlot(LOSS, "the loss-to-follow-up model", "loss-to-follow-up model",
                               spec.loss, None, str(spec.censor)))  # fmt: skip
    return tuple(slots)


def _slot_rows(rows, decisions: dict, slot: ModelSlot) -> tuple[np.ndarray, np.ndarray]:
    """A model's rows among the clone rows (a mask) and its outcome there."""
    if slot.key == LOSS:
        mask = rows.lost_possible
        return mask, rows.lost[mask]
    a_r = rows.treated.astype(np.float64)
    mask = ~rows.treated_before if slot.strategy is None else decisions[slot.strategy].risk
    return mask, a_r[mask]


@dataclass(eq=False)
class PreparedClones:
    """One partition's patients from time zero on, with every model's design kept compactly."""

    columns: Columns
    intercepts: dict  # model key -> the design's intercept columns (msm._formula)
    id_range: tuple
    first_id: object
    counts: dict


def _header(part: pd.DataFrame) -> pd.DataFrame:
    return part.iloc[:0].assign(**{FOLLOWUP: np.zeros(0, dtype=np.int64)})


def prepare_partition(part: pd.DataFrame, spec: CloneCensorSpec, slots) -> PreparedClones:
    """Validate one partition and keep its patients' rows from time zero on; every model's
    design on its risk set (all terms: which are constant is judged over all partitions)."""
    counts = {"n_rows": len(part), "n_patients": 0, "longest": 0,
              "risk": {name: 0 for name in spec.strategies}}  # fmt: skip
    rows = clone_rows(part, spec, whole=False) if len(part) else None
    if rows is None or rows.n_patients == 0:
        columns, intercepts = Columns(0), {}
        for slot in slots:
            design = design_matrix(slot.terms, _header(part))
            intercepts[slot.key] = intercept_columns(design)
            columns.add(slot.key, design.matrix, list(design.names), np.empty(0),
                        rows=np.zeros(0, dtype=bool))  # fmt: skip
        first = None if rows is None or len(rows.ids) == 0 else rows.ids[0]
        return PreparedClones(columns, intercepts, id_range(part, spec.id), first, counts)
    decisions = {name: strategy_decisions(rows, s) for name, s in spec.strategies.items()}
    columns, intercepts = Columns(rows.followup.size), {}
    for slot in slots:
        mask, y = _slot_rows(rows, decisions, slot)
        design = design_matrix(slot.terms, rows.frame.loc[mask])
        intercepts[slot.key] = intercept_columns(design)
        columns.add(slot.key, design.matrix, list(design.names), y, rows=mask)
    counts.update(
        n_patients=rows.n_patients,
        longest=int(rows.followup.max()) + 1,
        risk={name: int(d.risk.sum()) for name, d in decisions.items()},
    )
    return PreparedClones(columns, intercepts, id_range(part, spec.id), rows.ids[0], counts)


def partition_summary(prepared: PreparedClones, keys: list[str]) -> tuple:
    summaries = model_summaries(prepared, keys)
    return prepared.id_range, prepared.first_id, prepared.counts, prepared.intercepts, summaries


@dataclass(eq=False)
class Restricted:
    """The models' designs without the terms dropped (constant on their risk sets)."""

    columns: Columns


def restrict(prepared: PreparedClones, keep: dict) -> Restricted:
    """Each model's design with only the columns ``keep[key]`` (in-memory column order)."""
    columns = Columns(prepared.columns.n_rows)
    for key, (positions, names) in keep.items():
        rows = prepared.columns.rows(key)
        built = prepared.columns.design(key)
        if built is None:
            columns.add(key, np.empty((0, len(positions))), names, np.empty(0), rows=rows)
            continue
        X, y, _, _ = built
        columns.add(key, np.ascontiguousarray(X[:, positions]), names, y, rows=rows)
    return Restricted(columns)


# ---------------------------------------------------------------------------------------------
# the clones of one partition, from its raw rows


def emulate_partition(part: pd.DataFrame, spec: CloneCensorSpec, fitted: dict):
    """The partition's clone rows with the in-memory code and the fitted models (None when
    the partition has no eligible patient).

    ``fitted`` maps a model key to ``(LogitFit, kept column positions)``.
    """
    if len(part) == 0:
        return None
    rows = clone_rows(part, spec, whole=False)
    if rows.n_patients == 0:
        return None
    decisions = {name: strategy_decisions(rows, s) for name, s in spec.strategies.items()}

    def probabilities(key, mask, observed):
        fit, positions = fitted[key]
        X = design_matrix(spec.initiation if key != LOSS else spec.loss, rows.frame.loc[mask])
        X = np.ascontiguousarray(X.matrix[:, positions])
        return log_prob(fit, X, observed(mask.sum()))

    p_start = {}
    if "censor:shared" in fitted:
        # a strategy without a risk set in all the data has none here: weight 1 either way
        untreated = ~rows.treated_before
        p_all = np.full(untreated.size, np.nan)
        p_all[untreated] = np.exp(probabilities("censor:shared", untreated, np.ones))
        for name, d in decisions.items():
            p_start[name] = p_all[d.risk]
    else:
        for name, d in decisions.items():
            if f"censor:{name}" in fitted:
                p_start[name] = np.exp(probabilities(f"censor:{name}", d.risk, np.ones))
    loss_log = np.zeros(rows.followup.size)
    if LOSS in fitted:
        risk = rows.lost_possible
        loss_log = loss_log_weights(rows, risk, probabilities(LOSS, risk, np.zeros))
    return clone_frame(rows, spec, decisions, p_start, loss_log)


def _expanded_part(part, spec, fitted, meta):
    out = emulate_partition(part, spec, fitted)
    return meta if out is None else out


def _hazard_sums(part, spec, fitted, meta) -> dict:
    """Per strategy: sum(weight * outcome), sum(weight), the rows and the outcomes at each
    interval (the last two for ``weighted=False``)."""
    expanded = _expanded_part(part, spec, fitted, meta)
    out = {}
    for name in spec.strategies:
        rows = expanded[expanded[STRATEGY] == name]
        w = rows[WEIGHT].to_numpy()
        k = rows[FOLLOWUP].to_numpy()
        y = rows[spec.outcome].to_numpy(dtype=np.float64)
        out[name] = (
            np.bincount(k, weights=w * y),
            np.bincount(k, weights=w),
            np.bincount(k),
            np.bincount(k, weights=y),
        )
    return out


@dataclass(eq=False)
class HazardDesigns:
    columns: Columns


def _hazard_designs(part, spec, fitted, meta, terms: Terms, weighted: bool = True):
    """Each strategy's pooled-logistic hazard design on its clone rows, with the weights
    (1 with ``weighted=False``)."""
    expanded = _expanded_part(part, spec, fitted, meta)
    columns = Columns(len(expanded))
    for name in spec.strategies:
        mask = (expanded[STRATEGY] == name).to_numpy()
        rows = expanded[mask]
        design = design_matrix(terms, rows)
        y = rows[spec.outcome].to_numpy(dtype=np.float64)
        w = rows[WEIGHT].to_numpy(dtype=np.float64) if weighted else np.ones(len(rows))
        columns.add(f"hazard:{name}", design.matrix, list(design.names), y, rows=mask, w=w)
    return HazardDesigns(columns)


def expanded_meta(meta: pd.DataFrame, spec: CloneCensorSpec) -> pd.DataFrame:
    """The clone frame's columns and dtypes (no rows)."""
    treatment, outcome = spec.treatment, spec.outcome
    covariates = [
        c
        for c in dict.fromkeys(
            [*spec.initiation.columns, *(spec.loss.columns if spec.loss else ())]
        )
        if c not in (FOLLOWUP, spec.id, outcome, treatment)
    ]
    frame = pd.DataFrame(
        {
            spec.id: pd.Series(dtype=meta[spec.id].dtype),
            STRATEGY: pd.Categorical([], categories=list(spec.strategies)),
            FOLLOWUP: pd.Series(dtype=np.int64),
            outcome: pd.Series(dtype=np.int64),
            WEIGHT: pd.Series(dtype=np.float64),
            treatment: pd.Series(dtype=np.int64),
            **{c: pd.Series(dtype=meta[c].dtype) for c in covariates},
        }
    )
    return frame


# ---------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True, eq=False, repr=False)
class DaskCloneCensor:
    """A clone-censor-weight emulation of a dask DataFrame (``msm.clone_censor``).

    As ``msm.CloneCensor`` (the same ``strategies``, ``models``, ``loss_model``, ``notes``,
    ``n_eligible``, ``protocol``, ``spec``, ``hazards()`` and ``risk_curves()``), except that
    ``expanded`` is a lazy dask DataFrame (one partition per partition of ``data``), there
    are no ``risk_sets``/``loss_risk_set`` (positions in a pandas frame), and the patient
    bootstrap (``risk_curves(ci=True)``) is refused: pass ``ci=False``.
    """

    strategies: dict
    models: dict
    loss_model: object
    notes: list
    n_eligible: int
    protocol: pd.DataFrame
    spec: CloneCensorSpec
    data: object = field(repr=False)
    fitted: dict = field(repr=False)
    order: list = field(repr=False)
    sums: dict = field(repr=False)  # strategy -> (events, at risk, rows) per interval
    n_clone_rows: dict = field(default_factory=dict)
    shuffled: bool = False

    @property
    def id(self) -> Hashable:
        return self.spec.id

    @property
    def outcome(self) -> Hashable:
        return self.spec.outcome

    @property
    def followup_max(self) -> int | None:
        return self.spec.followup_max

    def _meta(self) -> pd.DataFrame:
        return expanded_meta(self.data._meta, self.spec)

    @property
    def expanded(self):
        """The clone rows, a lazy dask DataFrame (columns and values as in memory)."""
        dask = require_dask()
        import dask.dataframe as dd

        meta = self._meta()
        make = dask.delayed(_expanded_part, pure=True)
        parts = [make(p, self.spec, self.fitted, meta) for p in partitions_of(self.data)]
        return dd.from_delayed(parts, meta=meta, verify_meta=False)

    def _horizon(self) -> int:
        if self.followup_max is not None:
            return self.followup_max
        longest = max((s[2].size for s in self.sums.values()), default=0)
        return longest

    def hazards(
        self,
        method: str = "nonparametric",
        hazard_model: str | None = None,
        *,
        weighted: bool = True,
    ):
        """Weighted hazard per interval and strategy, as ``CloneCensor.hazards``: the
        nonparametric ones from the partitions' sums, the pooled-logistic ones from models
        fitted on Dask (``weighted=False``: every clone row counts 1)."""
        method, terms = check_method(method, hazard_model, self._meta())
        return self._hazards(self._horizon(), method, terms, check_weighted(weighted))

    def _hazards(self, horizon: int, method: str, terms, weighted: bool = True) -> pd.DataFrame:
        index = pd.Index(np.arange(horizon), name=FOLLOWUP)
        names = list(self.strategies)
        out = {}
        if method == "pooled_logistic":
            fits = self._hazard_models(terms, weighted)
        for name in names:
            events, at_risk, count, ycount = (_length(a, horizon) for a in self.sums[name])
            if method == "pooled_logistic":
                out[name] = pooled_hazards(fits[name], terms, count > 0, horizon)
            elif weighted:
                out[name] = nonparametric_hazards(events, at_risk)
            else:
                out[name] = nonparametric_hazards(ycount, count.astype(np.float64))
        return pd.DataFrame(out, index=index)

    def _hazard_models(self, terms: Terms, weighted: bool = True) -> dict:
        prepared = persist_each(_hazard_designs, self.data, self.spec, self.fitted, self._meta(),
                                terms, weighted)  # fmt: skip
        outcome = str(self.outcome)
        tasks = [
            ModelTask(f"hazard:{name}", BINOMIAL,
                      f"hazard model of strategy {name!r} for {outcome!r}", outcome)
            for name in self.strategies
        ]  # fmt: skip
        fits = fit_models(prepared, tasks, order=self.order)
        return {
            name: _logit(fits[f"hazard:{name}"], f"hazard model of strategy {name!r}", outcome,
                         terms.text)
            for name in self.strategies
        }  # fmt: skip

    def risk_curves(
        self,
        times: Sequence[int] = (12, 24),
        *,
        method: str = "nonparametric",
        hazard_model: str | None = None,
        n_boot: int = 200,
        seed: int | None = 1,
        ci: bool = True,
        alpha: float = 0.05,
        n_jobs: int | None = 1,
        progress: bool = False,
        weighted: bool = True,
    ) -> pd.DataFrame:
        """Cumulative incidence per strategy at ``times``, as ``CloneCensor.risk_curves``;
        ``ci=True`` (the patient bootstrap, in memory) is refused: pass ``ci=False``.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> data = msm.datasets.simulate_jdm(n_patients=300, months=12, seed=3, eligible=True)
        >>> kw = dict(id="id", time="month", treatment="ivig", outcome="quiescence",
        ...           eligible="eligible", censor="lost", followup_max=9,
        ...           strategies={"within 3": msm.start_within(3), "never": msm.never()},
        ...           censor_denominator="pga + cmas + prednisone + followup")
        >>> cc = msm.clone_censor(dd.from_pandas(data, npartitions=3, sort=False), **kw)
        >>> got = cc.risk_curves(times=[6, 9], ci=False)
        >>> want = msm.clone_censor(data, **kw).risk_curves(times=[6, 9], ci=False)
        >>> bool(np.allclose(got, want, rtol=1e-10, atol=0))
        True
        """
        if ci:
            registry.require_front_end("dask", trial_bootstrap=True)
        times = check_times(times, self.followup_max, self._horizon())
        method, terms = check_method(method, hazard_model, self._meta())
        names = list(self.strategies)
        h = self._hazards(max(times), method, terms, check_weighted(weighted))
        return risk_table(h, names, times).to_frame("estimate")

    def __repr__(self) -> str:
        names = ", ".join(f"{k}: {v!r}" for k, v in self.strategies.items())
        lines = [
            f"DaskCloneCensor: {self.n_eligible} eligible patients cloned into {names}; "
            f"{self.data.npartitions} partitions"
            f"{' (shuffled on ' + repr(self.id) + ')' if self.shuffled else ''}",
            "clone rows kept: "
            + ", ".join(f"{k} {int(self.n_clone_rows.get(k, 0))}" for k in self.strategies),
            "",
            "protocol of the emulated target trial:",
            protocol_text(self.protocol),
        ]
        if self.notes:
            lines += ["", "notes:", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines)


def _length(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` cut or padded with zeros to length ``n`` (``np.bincount(minlength=n)[:n]``)."""
    out = np.zeros(n, dtype=values.dtype)
    m = min(n, values.size)
    out[:m] = values[:m]
    return out


def _logit(fit, name: str, outcome: str, formula: str) -> LogitFit:
    names = fit.names
    return LogitFit(
        name=name,
        outcome=outcome,
        formula=formula,
        params=pd.Series(fit.beta, index=names),
        cov=pd.DataFrame(fit.covariance, index=names, columns=names),
        n=fit.n,
        loglik=-0.5 * float(fit.last[0]),
        converged=fit.converged,
        n_iter=fit.n_iter,
        centring=fit.centring,
    )


def _padded_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(a.size, b.size)
    return _length(a, n) + _length(b, n)


# ---------------------------------------------------------------------------------------------
# clone_censor


def clone_censor(
    data,
    *,
    id: Hashable,
    time: Hashable,
    treatment: Hashable,
    outcome: Hashable,
    eligible: Hashable,
    strategies: Mapping[str, Strategy],
    censor_denominator: str | Sequence[str] | None,
    censor: Hashable | None = None,
    loss_denominator: str | Sequence[str] | None | bool = None,
    followup_max: int | None = None,
    initiation_model: str = "per_strategy",
) -> DaskCloneCensor:
    """``msm.clone_censor`` for a dask DataFrame: the same clones, models and weights.

    Each patient's rows must sit in one partition (the frame is shuffled by id when they do
    not).  The risk curves are computed from sums over partitions; the patient bootstrap is
    not available on Dask.
    """
    require_dask()
    spec = clone_censor_spec(
        data._meta,
        id=id,
        time=time,
        treatment=treatment,
        outcome=outcome,
        eligible=eligible,
        strategies=strategies,
        censor_denominator=censor_denominator,
        censor=censor,
        loss_denominator=loss_denominator,
        followup_max=followup_max,
        initiation_model=initiation_model,
        columns_only=True,
    )
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
    ordered = [summaries[i] for i in order]  # in the in-memory row order
    counts = [s[2] for s in ordered]
    n_rows = sum(c["n_rows"] for c in counts)
    if n_rows == 0:
        raise DataError(None, "data is empty (0 rows)")
    n_patients = sum(c["n_patients"] for c in counts)
    if n_patients == 0:
        raise no_eligible_row(spec, n_rows)
    check_grace_periods(spec, max(c["longest"] for c in counts))
    risk = {name: sum(c["risk"][name] for c in counts) for name in spec.strategies}

    # the in-memory checks and notes, model by model, from the partitions' sums and ranges
    notes: list[str] = []
    tasks, keep = [], {}
    for slot in slots:
        parts = [s[4][slot.key] for s in ordered]
        present = [p for p in parts if p["n"]]
        n = sum(p["n"] for p in present)
        sum_y = sum(p["sy"] for p in present)
        if slot.strategy is not None and n == 0:
            continue  # the strategy prescribes no decision: no model (weight 1)
        if slot.key == LOSS and sum_y == 0:
            notes.append(loss_note(spec, lost=False))
            continue
        names = parts[0]["names"]
        intercept = set(ordered[0][3][slot.key])
        low = np.min([p["colmin"] for p in present], axis=0)
        high = np.max([p["colmax"] for p in present], axis=0)
        positions = []
        for j, term in enumerate(names):
            if j not in intercept and high[j] == low[j]:
                notes.append(constant_term_note(slot.label, term, low[j], n))
                continue
            positions.append(j)
        keep[slot.key] = (positions, [names[j] for j in positions])
        if slot.key != LOSS and (sum_y == 0 or sum_y == n):
            raise no_variation(spec.treatment, slot.label, n, int(sum_y == n))
        tasks.append(ModelTask(slot.key, BINOMIAL, f"{slot.name} for {slot.outcome!r}",
                               slot.outcome))  # fmt: skip
    if spec.censor is not None and spec.loss is None:
        notes.append(loss_note(spec, lost=None))
    restricted = persist_each(restrict, prepared, keep)
    del prepared
    fits = fit_models(restricted, tasks, order=order)
    del restricted
    fitted, models, loss_model = {}, {}, None
    for slot in slots:
        if slot.key not in fits:
            continue
        fit = _logit(fits[slot.key], slot.name, slot.outcome, slot.terms.text)
        fitted[slot.key] = (fit, keep[slot.key][0])
        if slot.key == LOSS:
            loss_model = fit
        elif slot.strategy is not None:
            models[slot.strategy] = fit
        else:  # shared: every strategy with a risk set takes its probabilities from it
            models.update({name: fit for name in spec.strategies if risk[name] > 0})
    # the weighted hazards' sums per interval, added in the in-memory order
    meta = expanded_meta(frame._meta, spec)
    parts = compute_each(_hazard_sums, frame, spec, fitted, meta)
    sums = {}
    for name in spec.strategies:
        total = [np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0)]
        for i in order:
            total = [_padded_sum(t, p) for t, p in zip(total, parts[i][name])]
        sums[name] = tuple(total)
    return DaskCloneCensor(
        strategies=dict(spec.strategies),
        models=models,
        loss_model=loss_model,
        notes=notes,
        n_eligible=int(n_patients),
        protocol=protocol_table(spec),
        spec=spec,
        data=frame,
        fitted=fitted,
        order=order,
        sums=sums,
        n_clone_rows={name: int(sums[name][2].sum()) for name in spec.strategies},
        shuffled=shuffled,
    )
