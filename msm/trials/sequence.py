"""Sequential target trials (``trial_sequence``), with R TrialEmulation's definitions.

Data path: validate the arguments once (a frozen ``TrialSpec``), validate and sort the rows
once (``msm.panel``), clean each subject's rows (drop those before its first eligible row and
after its first outcome), fit the censoring models on the cleaned rows, turn each row's
fitted probabilities into a log factor and accumulate the factors within subject
(``msm._kernels``), then expand: a trial starts at every eligible row, and the trial's
weight at a later row is the product of the row factors after its start
(``msm._kernels.sequential_trials``: C(s) - C(t) in log space).  The caller's frame is only
read.  With ``materialize=False`` the expansion is not stored: ``msm.trials.stream`` fits the
MSM by Newton passes that regenerate it (``StreamedTrials``).

The definitions, word for word as TrialEmulation 0.0.4.8 computes them, are in
``../shared/conformance/trialemulation/cases.json`` (``definitions``); the tests reproduce
its expanded rows exactly and its weights to rounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm import _kernels
from msm._formula import Terms, design_rows, intercept_columns, parse_terms
from msm._glm import check_fit_options
from msm._warnings import DataWarning, warn
from msm.inference import models_table
from msm.models.logit import LogitFit, fit_logit, log_prob
from msm.outcome import GLMResults, glm
from msm.outcome.glm_model import check_glm_arguments, fit_terms
from msm.panel import (
    DataError,
    Panel,
    binary_values,
    build_panel,
    check_columns_exist,
    check_finite,
    check_frame,
)
from msm.trials.curves import sequence_risk_curves
from msm.trials.stream import (
    StreamedTrials,
    StreamSource,
    check_truncate,
    expansion_codes,
    fast_design,
    trial_runs,
)
from msm.weights import not_varying, warn_no_censoring

Spec = str | Sequence[str] | None

ESTIMANDS = ("ITT", "PP")
POOLS = ("none", "numerator", "both")
# the columns of ``expanded`` that msm names (the id, treatment and outcome keep the caller's)
TRIAL, FOLLOWUP, ASSIGNED, WEIGHT = "trial", "followup", "assigned", "weight"
SAMPLE_WEIGHT = "sample_weight"


@dataclass(frozen=True)
class TrialSpec:
    """The arguments of ``trial_sequence``, checked once, with the formulas parsed."""

    id: Hashable
    time: Hashable
    treatment: Hashable
    outcome: Hashable
    eligible: Hashable
    estimand: str
    censor: Hashable | None
    censor_numerator: Terms | None
    censor_denominator: Terms | None
    pool_censor: str
    covariates: tuple  # baseline columns copied from each trial's start row
    convergence: str
    switch_numerator: Terms | None = None  # per protocol only
    switch_denominator: Terms | None = None

    @property
    def columns(self) -> tuple:
        """Every data column the computation reads."""
        used = [self.id, self.time, self.treatment, self.outcome, self.eligible]
        if self.censor is not None:
            used.append(self.censor)
        for terms in (
            self.switch_numerator,
            self.switch_denominator,
            self.censor_numerator,
            self.censor_denominator,
        ):
            if terms is not None:
                used.extend(terms.columns)
        used.extend(self.covariates)
        return tuple(dict.fromkeys(used))

    def settings(self) -> dict:
        return {
            "estimand": self.estimand,
            "id": self.id,
            "time": self.time,
            "treatment": self.treatment,
            "outcome": self.outcome,
            "eligible": self.eligible,
            "switch_numerator": None
            if self.switch_numerator is None
            else self.switch_numerator.text,
            "switch_denominator": None
            if self.switch_denominator is None
            else self.switch_denominator.text,
            "censor": self.censor,
            "censor_numerator": None
            if self.censor_numerator is None
            else self.censor_numerator.text,
            "censor_denominator": None
            if self.censor_denominator is None
            else self.censor_denominator.text,
            "pool_censor": self.pool_censor,
            "covariates": list(self.covariates),
            "convergence": self.convergence,
        }


def _formula_text(spec: Spec) -> Spec:
    """A right-hand side as given; a leading ``~`` (R's one-sided formula) is dropped."""
    if isinstance(spec, str):
        text = spec.strip()
        return text[1:].strip() or "1" if text.startswith("~") else text
    return spec


def trial_spec(
    data: pd.DataFrame,
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
    columns_only: bool = False,
) -> TrialSpec:
    """Check the arguments of ``trial_sequence`` against ``data``'s columns; parse formulas.

    ``columns_only``: ``data`` stands for the columns of a larger frame (a Dask frame's
    ``_meta``), so it may have no rows.
    """
    check_frame(data, columns_only=columns_only)
    if not isinstance(estimand, str) or estimand not in ESTIMANDS:
        raise ValueError(f"estimand must be 'ITT' or 'PP', got estimand={estimand!r}")
    per_protocol = estimand == "PP"
    if per_protocol and switch_denominator is None:
        raise ValueError(
            "estimand='PP' needs the switch (treatment) models: switch_denominator= (and "
            "switch_numerator=, default intercept only), e.g. switch_numerator='age', "
            "switch_denominator='age + x1 + x3'; switch_numerator='1', switch_denominator='1' "
            "gives switch weights 1 (artificial censoring without weights)"
        )
    if not per_protocol and (switch_numerator is not None or switch_denominator is not None):
        raise ValueError(
            "switch_numerator and switch_denominator are the per-protocol switch models: they "
            f"need estimand='PP', got estimand={estimand!r}"
        )
    if pool_censor is None:
        pool_censor = "none" if per_protocol else "numerator"
    if not isinstance(pool_censor, str) or pool_censor not in POOLS:
        raise ValueError(
            f"pool_censor must be 'none', 'numerator' or 'both', got pool_censor={pool_censor!r}"
        )
    _, _, convergence = check_fit_options(50, 1e-10, convergence)
    if censor is None and (censor_numerator is not None or censor_denominator is not None):
        raise ValueError(
            "censor_numerator and censor_denominator need censor= (the 0/1 censoring column)"
        )
    if covariates is None:
        covariates = []
    elif isinstance(covariates, str) or not isinstance(covariates, Sequence):
        covariates = [covariates]
    covariates = list(covariates)
    roles = {id: "id", time: "time", treatment: "treatment", outcome: "outcome"}
    roles.setdefault(eligible, "eligible")
    columns = [id, time, treatment, outcome, eligible]
    if censor is not None:
        roles.setdefault(censor, "censor")
        columns.append(censor)
    check_columns_exist(data, columns, "trial_sequence")
    check_columns_exist(data, covariates, "covariates")
    named = [id, time, treatment, outcome, eligible] + ([censor] if censor is not None else [])
    repeated = [c for c in dict.fromkeys(named) if named.count(c) > 1]
    if repeated:
        raise DataError(
            repeated[0],
            "id, time, treatment, outcome, eligible and censor must be different columns; "
            f"{repeated[0]!r} is given for more than one of them",
        )
    switch_num = switch_den = None
    if per_protocol:
        switch_num = parse_terms(_formula_text(switch_numerator), data, "switch numerator")
        switch_den = parse_terms(_formula_text(switch_denominator), data, "switch denominator")
    numerator = denominator = None
    if censor is not None:
        numerator = parse_terms(_formula_text(censor_numerator), data, "censor numerator")
        denominator = parse_terms(_formula_text(censor_denominator), data, "censor denominator")
    # baseline covariates: those named, then the numerator models' (TrialEmulation adds the
    # numerator terms to the outcome model, so their values at the trial start are kept)
    baseline = list(
        dict.fromkeys(
            [
                *covariates,
                *(switch_num.columns if switch_num else ()),
                *(numerator.columns if numerator else ()),
            ]
        )
    )
    baseline = [c for c in baseline if c != id]
    names = [id, TRIAL, FOLLOWUP, ASSIGNED, treatment, outcome, WEIGHT, *baseline]
    clash = [c for c in dict.fromkeys(names) if names.count(c) > 1]
    if clash:
        raise DataError(
            clash[0],
            f"the expanded data has the columns {id!r}, {TRIAL!r}, {FOLLOWUP!r}, "
            f"{ASSIGNED!r}, {treatment!r} (current), {outcome!r}, {WEIGHT!r} and the baseline "
            f"covariates; {clash[0]!r} would be two of them: rename it in the data",
        )
    return TrialSpec(
        id=id,
        time=time,
        treatment=treatment,
        outcome=outcome,
        eligible=eligible,
        estimand=estimand,
        censor=censor,
        censor_numerator=numerator,
        censor_denominator=denominator,
        pool_censor=pool_censor,
        covariates=tuple(baseline),
        convergence=convergence,
        switch_numerator=switch_num,
        switch_denominator=switch_den,
    )


@dataclass(frozen=True, eq=False)
class TrialSequence:
    """Sequential trials emulated from a person-time panel: the expanded data and its weights.

    Attributes
    ----------
    expanded : pandas.DataFrame
        One row per (trial, subject, follow-up row), sorted by id, trial, followup: the id
        (the caller's column name), ``trial`` (the time value of the trial's start row),
        ``followup`` (time minus ``trial``), ``assigned`` (treatment at the trial's start
        row), the treatment at the row (the caller's name), the outcome at the row (the
        caller's name; 1 only on the event row), ``weight`` (the product of the censoring
        factors after the trial's start row: 1 at followup 0), then the baseline covariates,
        their values at the trial's start row.  A fresh RangeIndex.
    cleaned : pandas.DataFrame
        The rows kept after cleaning, sorted by id and time and indexed by the caller's
        labels: id, time, treatment, eligible, ``am_1`` (previous treatment, 0 on the
        subject's first kept row), ``switch``, and with censoring ``p_censor_numerator`` and
        ``p_censor_denominator`` (fitted P(uncensored)) and ``factor`` (the row's weight
        factor; with censoring weights only, their ratio, TrialEmulation's ``wtC``).  Per
        protocol, only the rows left by the row deletion, with ``p_switch_numerator`` and
        ``p_switch_denominator`` (fitted P(treatment = 1)), ``switch_factor`` (``wtS``),
        with censoring ``censor_factor`` (``wtC``), and ``factor`` = ``wtS * wtC``.
    models : dict of str to LogitFit
        Per protocol, the switch models of the treatment, ``"switch_numerator_0"`` /
        ``"_1"`` and ``"switch_denominator_0"`` / ``"_1"`` (fitted on rows with ``am_1``
        0 / 1); then the fitted censoring models of ``1 - censor`` (P(uncensored)):
        ``"censor_numerator"`` or ``"censor_numerator_0"`` / ``"_1"``, and
        ``"censor_denominator"`` or ``"censor_denominator_0"`` / ``"_1"``, as
        ``pool_censor`` asks.
    spec : TrialSpec
        The arguments, checked.
    rows, trial_rows : ndarray of int64
        For each expanded row, the position in the caller's data of its row and of its
        trial's start row.
    n_dropped : dict
        Rows dropped in cleaning: ``"before_eligible"`` and ``"after_outcome"``; per
        protocol also ``"after_deviation"`` (the row deletion).
    sampling : tuple or None
        ``(p, seed)`` after ``sample_controls``: ``expanded`` then holds every case and a
        sample of the controls, with their ``sample_weight``.
    starts : pandas.DataFrame or None
        After ``sample_controls``: every trial's row at followup 0 (before sampling), the
        rows the risk curves standardize over.
    """

    expanded: pd.DataFrame
    cleaned: pd.DataFrame
    models: dict[str, LogitFit]
    spec: TrialSpec
    rows: np.ndarray = field(repr=False)
    trial_rows: np.ndarray = field(repr=False)
    n_dropped: dict = field(default_factory=dict)
    sampling: tuple | None = None
    starts: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def settings(self) -> dict:
        """The arguments as given (formulas as text)."""
        return self.spec.settings()

    @property
    def n_trials(self) -> int:
        """Trials with at least one subject (distinct ``trial`` values)."""
        return int(self.expanded[TRIAL].nunique())

    def emulate_on(self, data: pd.DataFrame) -> TrialSequence:
        """The same emulation (this sequence's arguments, and its control sampling) on
        other data: a bootstrap resample of the panel, say."""
        seq = compute_trials(data, self.spec)
        if self.sampling is not None:
            seq = seq.sample_controls(*self.sampling)
        return seq

    def sample_controls(self, p: float, seed: int | np.random.Generator | None = None):
        """Case-control sampling of the expanded rows, with sampling weights.

        TrialEmulation's ``sample_controls`` / ``case_control_sampling_trials``: every row
        with the outcome (a case) is kept with ``sample_weight`` 1, and each row without it
        (a control) is kept with probability ``p`` and ``sample_weight`` 1 / p (independent
        draws, seeded: TrialEmulation draws a binomial number of controls per trial and
        follow-up time and then which ones, the same distribution).  The MSM fitted on the
        sample (``fit`` multiplies ``weight`` by ``sample_weight``, before truncation, as
        TrialEmulation does) estimates the same coefficients as on all rows, from far fewer
        rows when the outcome is rare.  The risk curves still standardize over every
        trial's start row (kept in ``starts``).

        Parameters
        ----------
        p : float
            Probability of keeping a control row, in (0, 1].
        seed : int or numpy.random.Generator, optional
            Seed of the draws (``numpy.random.default_rng``); the same seed gives the same
            sample.

        Returns
        -------
        TrialSequence
            A new sequence (this one is unchanged) whose ``expanded`` is the sample, with a
            ``sample_weight`` column.

        Examples
        --------
        >>> import msm
        >>> panel = msm.datasets.simulate_panel(n_subjects=300, seed=2, stop_at_event=True)
        >>> panel["eligible"] = (panel["time"] < 5).astype(int)
        >>> seq = msm.trial_sequence(panel, id="id", time="time", treatment="a",
        ...                          outcome="y", eligible="eligible")
        >>> sampled = seq.sample_controls(0.2, seed=1)
        >>> bool(sampled.expanded["y"].sum() == seq.expanded["y"].sum())  # every case
        True
        >>> sorted(sampled.expanded["sample_weight"].unique().tolist())
        [1.0, 5.0]
        """
        if self.sampling is not None:
            raise ValueError(
                "these trials are a sample already (sample_controls was called): sample "
                "from the full sequence"
            )
        if isinstance(p, bool) or not isinstance(p, int | float | np.floating) or not 0 < p <= 1:
            raise ValueError(f"p must be a probability in (0, 1], got p={p!r}")
        if isinstance(seed, bool) or not (
            seed is None or isinstance(seed, int | np.integer | np.random.Generator)
        ):
            raise ValueError(f"seed must be an integer or a numpy Generator, got {seed!r}")
        if SAMPLE_WEIGHT in self.expanded.columns:
            raise DataError(
                SAMPLE_WEIGHT,
                f"the expanded data has a column {SAMPLE_WEIGHT!r} already (a baseline "
                "covariate?): rename it in the data",
            )
        expanded = self.expanded
        case = expanded[self.spec.outcome].to_numpy() == 1
        draws = np.random.default_rng(seed).random(len(expanded))
        keep = case | (draws < p)
        sample = expanded.loc[keep].reset_index(drop=True)
        sample[SAMPLE_WEIGHT] = np.where(case[keep], 1.0, 1.0 / float(p))
        starts = expanded.loc[expanded[FOLLOWUP].to_numpy() == 0].reset_index(drop=True)
        return dataclasses.replace(
            self,
            expanded=sample,
            rows=self.rows[keep],
            trial_rows=self.trial_rows[keep],
            sampling=(float(p), seed),
            starts=starts,
        )

    def summary(self) -> pd.DataFrame:
        """The weight models' coefficients (switch, censoring): one row per (model, term).

        Columns ``model``, ``term``, ``estimate``, ``std_error``, ``z``, ``p_value``; empty
        without censoring models.
        """
        return models_table(self.models)

    def analysis_weights(self, truncate: tuple | None = None) -> np.ndarray:
        """The expanded weights, truncated at percentiles of their own distribution.

        After ``sample_controls`` the weights are ``weight * sample_weight``, truncated as a
        product (TrialEmulation's ``weight_cols`` then ``modify_weights``).

        ``truncate=(lower, upper)`` in percent, either None: weights below the ``lower``
        quantile become it and weights above the ``upper`` quantile become it (quantiles of
        type 7, numpy's default; TrialEmulation's ``pmin(w, quantile(w, 0.99))`` is
        ``(None, 99)``).  None: the weights as they are.
        """
        w = self._weights(truncate)
        return w.copy() if truncate is None else w

    def _weights(self, truncate: tuple | None) -> np.ndarray:
        """``analysis_weights`` without its copy when nothing is truncated (a read-only view
        of the weight column then: ``msm.glm`` copies the weights it is given)."""
        w = self.expanded[WEIGHT].to_numpy(dtype=np.float64)
        if SAMPLE_WEIGHT in self.expanded.columns and self.sampling is not None:
            w = w * self.expanded[SAMPLE_WEIGHT].to_numpy(dtype=np.float64)
        if truncate is None:
            return w
        lower, upper = check_truncate(truncate)
        out = w.copy()
        if upper is not None:
            np.minimum(out, np.quantile(w, upper / 100.0), out=out)
        if lower is not None:
            np.maximum(out, np.quantile(w, lower / 100.0), out=out)
        return out

    def fit(
        self,
        formula: str,
        *,
        truncate: tuple | None = None,
        variance: str = "cr1",
        convergence: str = "full",
    ) -> GLMResults:
        """The marginal structural model: a weighted pooled logistic regression on ``expanded``.

        ``msm.glm(formula, expanded, weights=..., cluster=<id>, family="binomial")``: the
        formula names the columns of ``expanded`` (``assigned``, ``followup``, ``trial``,
        the outcome, the baseline covariates).  Unlike TrialEmulation, the numerator model's
        terms are not added to the formula for you: name them.  A formula of columns, integer
        powers and products of them (``msm.trials.stream.msm_program``) has its design built
        straight from the expansion's columns (the matrix formulaic gives, bit for bit).

        Parameters
        ----------
        formula : str
            ``"<outcome> ~ assigned + followup + I(followup**2) + trial + I(trial**2) + x2"``
            (TrialEmulation's default model, with its adjustment term ``x2``).
        truncate : (lower, upper) or None
            Percentiles at which the weights are truncated (``analysis_weights``).
        variance : str
            Default ``"cr1"``: the cluster-robust sandwich by subject times G/(G-1), as
            TrialEmulation's ``sandwich::vcovCL``.  Any ``variance=`` of ``msm.glm`` but
            ``"stacked"``.
        convergence : {"full", "r"}
            As in ``msm.glm``; ``"r"`` replays R's ``glm.fit`` (TrialEmulation's fit).

        Returns
        -------
        GLMResults

        Examples
        --------
        >>> import msm
        >>> panel = msm.datasets.simulate_panel(n_subjects=300, seed=2, stop_at_event=True,
        ...                                     event_coefs=(-2.5, 0.2, 0.5, -0.7))
        >>> panel["eligible"] = (panel["time"] < 5).astype(int)
        >>> seq = msm.trial_sequence(panel, id="id", time="time", treatment="a",
        ...                          outcome="y", eligible="eligible", covariates=["x"])
        >>> fit = seq.fit("y ~ assigned + followup + trial + x")
        >>> fit.params.index.tolist()
        ['Intercept', 'assigned', 'followup', 'trial', 'x']
        """
        check_sequence_variance(variance)
        weights = self._weights(truncate)
        expanded = self.expanded
        options = check_glm_arguments(formula, "binomial", variance, self.spec.id, None, 50,
                                      1e-10, convergence)  # fmt: skip
        if options.outcome != self.spec.outcome or options.outcome not in expanded.columns:
            return glm(formula, expanded, weights=weights, cluster=self.spec.id,
                       family="binomial", variance=variance, convergence=convergence)  # fmt: skip
        # the design built straight from the expansion's columns when the formula allows
        # (the matrix formulaic gives, bit for bit), and the cluster codes from its id runs
        terms = parse_terms(options.rhs, expanded, "outcome model")
        ids = expanded[self.spec.id].to_numpy()
        numeric = ids.dtype.kind in "biuf"
        return fit_terms(
            options, expanded, terms, weights=weights, cluster=self.spec.id,
            design=fast_design(terms, expanded),
            codes=expansion_codes(ids) if numeric else None,
            # each trial's rows: the intercept, assigned, trial and the baseline covariates
            # are constant on them, so a Newton pass sums them once per trial
            row_runs=trial_runs(ids, expanded[TRIAL].to_numpy()) if numeric else None,
        )  # fmt: skip

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
        data: pd.DataFrame | None = None,
        truncate: tuple | None = None,
        n_jobs: int | None = None,
    ) -> pd.DataFrame:
        """Cumulative incidence by follow-up time under ``assigned = 0`` and ``1``, with CIs.

        As TrialEmulation's ``predict()``: the baseline rows (``followup == 0``: every
        trial's start row, one per subject and trial) are each followed over the follow-up
        times with ``assigned`` set to 0 and to 1 (their other covariates, ``trial``
        included, as at the start), the MSM's hazard ``h_j = expit(x_j'b)`` is predicted at
        every follow-up time ``j``, and the risk by ``k`` is ``1 - mean over baseline rows of
        prod_{j <= k} (1 - h_j)`` (an unweighted mean).

        Parameters
        ----------
        fit : GLMResults
            The MSM from ``self.fit(...)``; its formula must use ``assigned``.
        followup : sequence of numbers
            The follow-up times reported, increasing; each must occur in ``expanded``.
            Hazards are accumulated over every observed follow-up time up to the largest
            (TrialEmulation multiplies only over the times listed: the same for ``0..K``).
        predict_rows : DataFrame or callable, optional
            The rows to standardize over (their rows with ``followup == 0`` are used), as
            TrialEmulation's ``newdata``; default ``expanded``.  A callable is applied to
            ``expanded`` (and, with the bootstrap, to each replicate's), e.g.
            ``lambda e: e[e["trial"] == 1]``.
        ci : {"simulation", "bootstrap", None}
            ``"simulation"``: coefficients drawn from ``N(b, fit.cov)`` (the robust
            covariance; ``n_sim`` draws with ``numpy.random.default_rng(seed)``), the curves
            recomputed for each draw and the ``alpha/2``, ``1 - alpha/2`` quantiles taken (as
            TrialEmulation, whose quantiles also include the point estimate).
            ``"bootstrap"``: ``msm.bootstrap`` over subjects of the original panel ``data``
            (``n_boot`` replicates, percentile intervals): every replicate re-emulates the
            trials of the resampled subjects (all trials of a subject together), re-estimates
            the censoring weights, refits the MSM (same formula, ``truncate``, and this
            sequence's ``convergence``) and recomputes the curves.  None: no intervals.
        n_sim, n_boot : int
            Draws and bootstrap replicates.
        seed : int, optional
            Seeds the draws (``numpy.random.default_rng``) or the bootstrap.
        alpha : float
            ``1 - alpha`` intervals.
        data : DataFrame
            With ``ci="bootstrap"``: the panel this sequence was built from (checked: its
            curves must be these).
        truncate : (lower, upper) or None
            With ``ci="bootstrap"``: the truncation the fit used (checked against the fit's
            sum of weights).
        n_jobs : int, optional
            Bootstrap worker processes, as ``msm.bootstrap``.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``followup``; columns ``risk_0``, ``risk_1`` (cumulative incidence
            under assigned 0 and 1), ``difference`` (``risk_1 - risk_0``) and with ``ci``
            ``<column>_lower`` and ``<column>_upper`` for each.

        Raises
        ------
        DataError
            A follow-up time beyond or not in the expanded data; predict rows lacking a
            column of the MSM or a row at followup 0.
        ValueError
            ``fit`` is not a logistic fit of this sequence's expanded data or does not use
            ``assigned``; bad ``ci``, ``n_sim``, ``n_boot``, ``alpha``; with the bootstrap,
            no ``data``, a ``data`` or ``truncate`` that does not give this fit.

        Examples
        --------
        >>> import msm
        >>> panel = msm.datasets.simulate_panel(n_subjects=400, seed=2, stop_at_event=True,
        ...                                     event_coefs=(-2.5, 0.2, 0.5, -0.7))
        >>> panel["eligible"] = (panel["time"] < 3).astype(int)
        >>> seq = msm.trial_sequence(panel, id="id", time="time", treatment="a",
        ...                          outcome="y", eligible="eligible", covariates=["x"])
        >>> fit = seq.fit("y ~ assigned + followup + trial + x")
        >>> curves = seq.risk_curves(fit, followup=range(4), n_sim=200, seed=1)
        >>> curves.columns.tolist()[:3]
        ['risk_0', 'risk_1', 'difference']
        >>> bool((curves["risk_1_lower"] < curves["risk_1"]).all())
        True
        >>> boot = seq.risk_curves(fit, followup=range(4), ci="bootstrap", data=panel,
        ...                        n_boot=20, seed=1, n_jobs=1)
        >>> bool(boot["risk_0"].equals(curves["risk_0"]))
        True
        """
        return sequence_risk_curves(
            self, fit, followup, predict_rows=predict_rows, ci=ci, n_sim=n_sim, n_boot=n_boot,
            seed=seed, alpha=alpha, data=data, truncate=truncate, n_jobs=n_jobs,
        )  # fmt: skip

    def __repr__(self) -> str:
        e = self.expanded
        n_ids = e[self.spec.id].nunique()
        lines = [
            f"TrialSequence({self.spec.estimand}: {self.n_trials} trials, {len(e)} expanded "
            f"rows, {n_ids} subjects, {int(e[self.spec.outcome].sum())} events)",
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
            w = e[WEIGHT].to_numpy()
            lines.append(f"weights: min {w.min():.4g}, mean {w.mean():.4g}, max {w.max():.4g}")
        else:
            lines.append("no censoring weights (weight 1)")
        return "\n".join(lines)


def truncation_percentiles(truncate) -> tuple:
    """``truncate=(lower, upper)`` of ``TrialSequence.fit``, checked (``check_truncate``; not
    None): percentiles in [0, 100], either None, lower not above upper."""
    return check_truncate(truncate)


def check_sequence_variance(variance) -> None:
    """``TrialSequence.fit``'s ``variance=``: any of ``msm.glm``'s but ``"stacked"``."""
    if variance == "stacked":
        raise ValueError(
            "variance='stacked' is not available for trial sequences yet; use 'cr1' "
            "(or msm.bootstrap)"
        )


def trial_sequence(
    data: pd.DataFrame,
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
    materialize: bool = True,
) -> TrialSequence | StreamedTrials:
    """Emulate a sequence of target trials, one starting at every eligible row.

    With R TrialEmulation's definitions (version 0.0.4.8), so its expanded rows and weights
    are reproduced:

    * **Cleaning**, per subject: rows before its first eligible row and rows after its first
      outcome (among the rows kept) are dropped; ``am_1`` is the previous kept row's treatment
      (0 on the first); ``switch`` is 1 where treatment differs from ``am_1``.
    * **Per-protocol row deletion** (``estimand="PP"``), before any weight model: walking a
      subject's rows, a regime starts at an eligible row; a switch at an eligible row starts
      a new regime (the row is kept); a switch at a non-eligible row ends the regime after
      that row (kept), and the rows up to the next eligible row are deleted.
    * **Switch weights** (PP): logistic models of P(treatment = 1), numerator and
      denominator, each fitted separately on the rows with ``am_1 == 0`` and with
      ``am_1 == 1``; a row's factor is P_n / P_d if treated, (1 - P_n) / (1 - P_d) if not.
    * **Censoring weights** (with ``censor=``): logistic models of ``1 - censor``
      (P(uncensored)) on the cleaned rows; ``pool_censor="numerator"`` fits the numerator on
      all rows and the denominator separately on the rows with ``am_1 == 0`` and
      ``am_1 == 1``; ``"both"`` fits both on all rows; ``"none"`` fits each separately by
      ``am_1`` (TrialEmulation allows only ``"numerator"`` and ``"both"`` for ITT).  Every
      row's factor is P_numerator / P_denominator, including the row where ``censor`` is 1
      (that row stays in the data).
    * **Expansion**: a trial starts at every kept row with ``eligible == 1``; it holds the
      subject's rows from there to the subject's last kept row (ITT), or (PP) up to but
      excluding the first row with ``followup > 0`` and a switch: the first deviation from
      the assigned treatment (artificial censoring); ``followup`` is the difference of time
      values; ``assigned`` and the baseline covariates come from the start row; the weight
      of trial t at row s is the product of the row factors (switch x censoring) over
      t < time <= s (1 at followup 0).  Weights are not truncated.

    Parameters
    ----------
    data : DataFrame
        Long person-time data, one row per subject-interval, in any row order.  A Dask
        DataFrame too (each subject's rows in one partition, else it is shuffled by id): the
        result is then a ``DaskTrialSequence`` with the same models and numbers, whose
        expanded rows are computed per partition (lazily) and whose MSM is fitted from sums
        over partitions (docs/dask.md).
    id, time : str
        Subject and (numeric) time columns; (id, time) unique.
    treatment, outcome, eligible : str
        0/1 columns: the treatment in the interval, the outcome event (1 on the event's
        row), and eligibility for a trial starting in the interval.
    estimand : {"ITT", "PP"}
        Intention to treat, or per protocol (row deletion, switch weights and artificial
        censoring at the first deviation, above).
    switch_numerator, switch_denominator : str or list of str, optional
        PP only (and ``switch_denominator`` required there): right-hand sides of the switch
        models of the treatment, e.g. ``"age"`` and ``"age + x1 + x3"``; numerator default
        intercept only.  ``"1"`` and ``"1"`` give switch factors 1 (artificial censoring
        without switch weights).  The numerator's columns are carried into ``expanded``.
        Where the treatment is constant on the rows with ``am_1 == k`` (treatment never
        stopped, say), no model is fitted there and the factors are 1, with a DataWarning.
    censor : str, optional
        0/1 censoring indicator (1 on the row where the subject is lost); with it, censoring
        weights are estimated.
    censor_numerator, censor_denominator : str or list of str, optional
        Right-hand sides of the censoring models (a formula such as ``"x2 + x1"``, R's
        ``"~ x2 + x1"`` also accepted, or a list of columns); default intercept only.
    pool_censor : {"numerator", "both", "none"}, optional
        Which censoring models are pooled over ``am_1`` (see above); default ``"numerator"``
        for ITT and ``"none"`` for PP (TrialEmulation's defaults).
    covariates : list of str, optional
        Baseline covariates to carry into ``expanded`` (values at each trial's start row),
        for adjustment in the outcome model.  The numerator model's columns are always
        carried (TrialEmulation adds them to the outcome model), and so are the switch
        numerator's.
    convergence : {"full", "r"}
        The switch and censoring models: ``"full"`` iterates Newton to a step below 1e-10
        (relative); ``"r"`` replays R's ``glm.fit`` (its 1e-8 relative-deviance stopping
        rule), so the weights equal TrialEmulation's to rounding instead of to about 1e-7.
    materialize : bool
        True (default): store the expansion (``TrialSequence.expanded``).  False: do not
        store it (for expansions that do not fit in memory): the result is a
        ``msm.trials.stream.StreamedTrials``, whose ``fit`` regenerates the expanded rows in
        every Newton pass (a restricted set of MSM terms; ``StreamedTrials.fit``) and equals
        the stored expansion's fit to rounding; its ``risk_curves`` work from the baseline
        rows.

    Returns
    -------
    TrialSequence or StreamedTrials

    Raises
    ------
    DataError
        Naming the column (and the ids): a column not in the data, a missing or infinite
        value in a column used, treatment, outcome, eligible or censor not 0/1, duplicated
        (id, time) rows, non-numeric time, no eligible row, or a censoring model whose
        outcome does not vary on its rows.
    ValueError
        An unknown estimand or pool_censor, switch models without ``estimand="PP"``, or
        ``estimand="PP"`` without ``switch_denominator``.

    Examples
    --------
    >>> import msm
    >>> panel = msm.datasets.simulate_panel(n_subjects=200, seed=1, stop_at_event=True,
    ...                                     censor_coefs=(-3.0, 0.5))
    >>> panel["eligible"] = (panel["time"] < 4).astype(int)
    >>> seq = msm.trial_sequence(panel, id="id", time="time", treatment="a", outcome="y",
    ...                          eligible="eligible", censor="lost", censor_numerator="x",
    ...                          censor_denominator="x + l")
    >>> seq.expanded.columns.tolist()
    ['id', 'trial', 'followup', 'assigned', 'a', 'y', 'weight', 'x']
    >>> sorted(seq.expanded["trial"].unique().tolist())
    [0, 1, 2, 3]
    >>> bool((seq.expanded.loc[seq.expanded["followup"] == 0, "weight"] == 1).all())
    True
    >>> list(seq.models)
    ['censor_numerator', 'censor_denominator_0', 'censor_denominator_1']

    Per protocol, with a treatment that starts and stops (more often when the confounder
    ``l`` is high): each trial stops before the first switch after its start.

    >>> import numpy as np
    >>> noise = np.random.default_rng(0).normal(size=len(panel))
    >>> panel["a"] = (panel["l"] + noise > 0).astype(int)
    >>> pp = msm.trial_sequence(panel, id="id", time="time", treatment="a", outcome="y",
    ...                         eligible="eligible", estimand="PP", switch_numerator="x",
    ...                         switch_denominator="x + l", censor="lost",
    ...                         censor_numerator="x", censor_denominator="x + l")
    >>> list(pp.models)[:4]
    ['switch_numerator_0', 'switch_numerator_1', 'switch_denominator_0', 'switch_denominator_1']
    >>> bool((pp.expanded["a"] == pp.expanded["assigned"]).all())
    True
    >>> pp.n_dropped["after_deviation"] > 0
    True
    """
    spec = trial_spec(
        data,
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
    )
    if not isinstance(materialize, bool):
        raise TypeError(f"materialize must be True or False, got {materialize!r}")
    if not materialize:
        return stream_trials(data, spec)
    return compute_trials(data, spec)


@dataclass(frozen=True, eq=False)
class CleanedRows:
    """The rows kept after cleaning, as positions into the sorted panel, with their arrays."""

    kept: np.ndarray  # sorted-row positions of the kept rows
    starts: np.ndarray  # subject offsets into the kept rows
    a: np.ndarray  # treatment (0/1 float) on kept rows
    am_1: np.ndarray
    switch: np.ndarray  # int64: treatment differs from am_1 (0 on each first kept row)
    eligible: np.ndarray  # bool
    n_before_eligible: int
    n_after_outcome: int
    # the subjects with rows dropped after their first outcome (sorted order, each once)
    ids_after_outcome: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)


def warn_after_outcome(outcome: Hashable, n_after: int, ids: Sequence) -> None:
    """The DataWarning of ``clean_rows``: ``n_after`` rows after the first outcome dropped."""
    rule = f"{n_after} row(s) after a subject's first outcome were dropped, as TrialEmulation does"
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in ids[:5])
    more = ", ..." if len(ids) > 5 else ""
    warn(f"column {outcome!r}: {rule} (ids {shown}{more}; {len(ids)} in all)", DataWarning)


def clean_rows(
    panel: Panel,
    a: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    outcome: Hashable,
    *,
    warn_dropped: bool = True,
) -> CleanedRows:
    """Drop each subject's rows before its first eligible row and after its first outcome.

    ``a``, ``y``, ``e``: sorted treatment, outcome and eligibility (0/1 floats).  The first
    outcome is the first among the rows kept by eligibility (TrialEmulation removes the rows
    before eligibility first).  Warns (DataWarning naming ``outcome`` and the ids) when rows
    after an outcome are dropped (unless ``warn_dropped`` is False: the Dask front end warns
    once for all partitions, from ``ids_after_outcome``).
    """
    starts = panel.starts
    eligible_so_far = _kernels.grouped_cumsum(e, starts, np.empty(e.size)) > 0.0
    y_kept = np.where(eligible_so_far, y, 0.0)
    events_before = _kernels.grouped_cumsum(y_kept, starts, np.empty(e.size)) - y_kept
    after_outcome = eligible_so_far & (events_before > 0.0)
    keep = eligible_so_far & ~after_outcome
    n_after = int(after_outcome.sum())
    ids_after = pd.unique(panel.ids[after_outcome]) if n_after else np.empty(0)
    if n_after and warn_dropped:
        warn_after_outcome(outcome, n_after, list(ids_after))
    kept = np.flatnonzero(keep)
    subject = panel.subject_of_row()[kept]
    counts = np.bincount(subject, minlength=panel.n_subjects)
    counts = counts[counts > 0]
    new_starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    a_kept = a[kept]
    am_1 = np.empty_like(a_kept)
    if a_kept.size:
        am_1[1:] = a_kept[:-1]
        am_1[new_starts[:-1]] = 0.0
    switch = (a_kept != am_1).astype(np.int64)
    switch[new_starts[:-1]] = 0
    return CleanedRows(
        kept=kept,
        starts=new_starts,
        a=a_kept,
        am_1=am_1,
        switch=switch,
        eligible=e[kept] == 1.0,
        n_before_eligible=int((~eligible_so_far).sum()),
        n_after_outcome=n_after,
        ids_after_outcome=ids_after,
    )


def per_protocol_rows(cleaned: CleanedRows) -> tuple[CleanedRows, int]:
    """The cleaned rows left by the per-protocol row deletion; the number deleted.

    TrialEmulation's ``censor_func``, before any weight model: walking each subject's rows, a
    regime starts at an eligible row; a switch at an eligible row starts a new regime (row
    kept); a switch at a non-eligible row ends the regime after that row (kept), and rows are
    deleted until the next eligible row.  ``am_1`` and ``switch`` keep their values from
    cleaning (they are not recomputed over the deleted rows).
    """
    keep = _kernels.per_protocol_keep(cleaned.eligible, cleaned.switch, cleaned.starts)
    n_deleted = int(keep.size - keep.sum())
    if not n_deleted:
        return cleaned, 0
    counts = np.add.reduceat(keep.astype(np.int64), cleaned.starts[:-1])
    # every subject keeps its first (eligible) row, so no subject disappears
    new_starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return (
        CleanedRows(
            kept=cleaned.kept[keep],
            starts=new_starts,
            a=cleaned.a[keep],
            am_1=cleaned.am_1[keep],
            switch=cleaned.switch[keep],
            eligible=cleaned.eligible[keep],
            n_before_eligible=cleaned.n_before_eligible,
            n_after_outcome=cleaned.n_after_outcome,
            ids_after_outcome=cleaned.ids_after_outcome,
        ),
        n_deleted,
    )


def no_previous_treatment(spec: TrialSpec, k: int, role: str, hint: str) -> DataError:
    """The DataError for a model by previous treatment with no row where ``am_1 == k``."""
    return DataError(
        spec.treatment,
        f"no cleaned row has previous treatment am_1 = {k}, so the {role} "
        f"(rows with am_1 = {k}) model has no rows{hint}",
    )


def warn_constant_treatment(spec: TrialSpec, value: int, n: int, k: int) -> None:
    """The DataWarning for switch models skipped where treatment is constant (``am_1 == k``)."""
    warn(
        f"column {spec.treatment!r}: treatment is {value} on all {n} "
        f"rows with am_1 = {k}: no switch models fitted there, "
        "their switch factors are 1",
        DataWarning,
    )


def _by_previous_treatment(spec: TrialSpec, am_1: np.ndarray, role: str, hint: str):
    """The (key suffix, row mask, words) of the rows with am_1 = 0 and 1; DataError if empty."""
    groups = []
    for k in (0, 1):
        mask = am_1 == float(k)
        if not mask.any():
            raise no_previous_treatment(spec, k, role, hint)
        groups.append((f"_{k}", mask, f" (rows with am_1 = {k})"))
    return groups


def _switch_models(
    data: pd.DataFrame, spec: TrialSpec, rows: np.ndarray, a: np.ndarray, am_1: np.ndarray
) -> tuple[dict[str, LogitFit], np.ndarray, np.ndarray, np.ndarray]:
    """Fit the switch models by previous treatment; P(treatment = 1) under each; log factor.

    Numerator and denominator are each fitted separately on the rows with ``am_1 == 0`` and
    ``am_1 == 1`` (TrialEmulation's n0/d0 and n1/d1); the row's factor is
    P_n(A = a) / P_d(A = a) at its observed treatment ``a``.
    """
    models: dict[str, LogitFit] = {}
    p = {"numerator": np.empty(rows.size), "denominator": np.empty(rows.size)}
    log_p = {"numerator": np.empty(rows.size), "denominator": np.empty(rows.size)}
    for part, terms in (
        ("numerator", spec.switch_numerator),
        ("denominator", spec.switch_denominator),
    ):
        for suffix, mask, where in _by_previous_treatment(spec, am_1, f"switch {part}", ""):
            role = f"switch {part}{where}"
            y = a[mask]
            if np.all(y == y[0]):
                # e.g. treatment that is never stopped: P(A = y0) = 1 on these rows under
                # any model (the limit of the fit), so their factor is 1 and no model is fitted
                if part == "numerator":
                    warn_constant_treatment(spec, int(y[0]), y.size, int(suffix[-1]))
                p[part][mask] = y[0]
                log_p[part][mask] = 0.0
                continue
            design = design_rows(terms, data, rows[mask])
            intercept_columns(design)
            fit = fit_logit(
                design.matrix,
                y,
                design.names,
                name=f"{role} model",
                outcome=str(spec.treatment),
                formula=terms.text,
                convergence=spec.convergence,
            )
            models[f"switch_{part}{suffix}"] = fit
            p[part][mask] = np.exp(log_prob(fit, design.matrix, np.ones(y.size)))
            log_p[part][mask] = log_prob(fit, design.matrix, y)
    log_factor = log_p["numerator"] - log_p["denominator"]
    return models, p["numerator"], p["denominator"], log_factor


def _censoring_models(
    data: pd.DataFrame, spec: TrialSpec, rows: np.ndarray, uncensored: np.ndarray, am_1
) -> tuple[dict[str, LogitFit], np.ndarray, np.ndarray]:
    """Fit the censoring models; P(uncensored) under numerator and denominator, per row.

    ``rows``: caller positions of the cleaned rows (sorted order); ``uncensored``: 1 - censor
    on them.
    """
    models: dict[str, LogitFit] = {}
    p = {"numerator": np.empty(rows.size), "denominator": np.empty(rows.size)}
    pooled = {
        "numerator": spec.pool_censor in ("numerator", "both"),
        "denominator": spec.pool_censor == "both",
    }
    for part, terms in (
        ("numerator", spec.censor_numerator),
        ("denominator", spec.censor_denominator),
    ):
        groups = (
            [("", np.ones(rows.size, dtype=bool), "")]
            if pooled[part]
            else _by_previous_treatment(
                spec, am_1, f"censor {part}", "; pool the model over am_1 (pool_censor='both')"
            )
        )
        for suffix, mask, where in groups:
            key = f"censor_{part}{suffix}"
            role = f"censor {part}{where}"
            y = uncensored[mask]
            if np.all(y == y[0]):
                raise not_varying(spec.censor, role, y.size, int(1.0 - y[0]))
            design = design_rows(terms, data, rows[mask])
            intercept_columns(design)
            fit = fit_logit(
                design.matrix,
                y,
                design.names,
                name=f"{role} model",
                outcome=f"1 - {spec.censor}",
                formula=terms.text,
                convergence=spec.convergence,
            )
            models[key] = fit
            p[part][mask] = np.exp(log_prob(fit, design.matrix, np.ones(y.size)))
    return models, p["numerator"], p["denominator"]


def _numeric(values: np.ndarray) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind in "biuf"


def _gather(values: np.ndarray, index: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:] = values[index]`` in parallel (``out`` 1-d, numeric)."""
    _kernels.gather_column(values, index, out.reshape(-1, 1), 0)
    return out


def expanded_frame(data, spec, source, trial, weight, ids_kept, time_kept, a_kept, y_kept, rows):
    """``expanded``, the caller positions of each row's trial start row and of its row.

    Each run of consecutive numeric columns of one dtype is gathered (in parallel) straight
    into one 2-d block that becomes the frame's block without a copy, so the peak memory is
    the expanded columns plus the two index arrays (``source`` and ``trial`` are turned in
    place into the caller positions returned).
    """
    n = source.size
    a_int = a_kept.astype(np.int64)
    # (name, values, index) of every column; index None: the values are the column
    columns = [
        (spec.id, ids_kept, source),
        (TRIAL, time_kept, trial),
        (FOLLOWUP, time_kept, source),  # minus the trial column, below
        (ASSIGNED, a_int, trial),
        (spec.treatment, a_int, source),
        (spec.outcome, y_kept.astype(np.int64), source),
        (WEIGHT, weight, None),
    ]
    covariates = [(c, data[c].array) for c in spec.covariates]
    covariates = [(c, v.to_numpy() if v.dtype.kind in "biuf" else v) for c, v in covariates]
    runs: list[list] = []  # consecutive numeric columns of one dtype, and the others alone
    for column in columns + [(c, v, "trial_rows") for c, v in covariates]:
        values = column[1]
        if (
            runs
            and _numeric(values)
            and _numeric(runs[-1][0][1])
            and values.dtype == runs[-1][0][1].dtype
        ):
            runs[-1].append(column)
        else:
            runs.append([column])
    blocks: list = [None] * len(runs)
    positions = {}
    for stage in ("expanded", "trial_rows"):  # covariates once the trial positions are known
        for r, run in enumerate(runs):
            late = any(isinstance(column[2], str) for column in run)
            if late != (stage == "trial_rows"):
                continue
            values = run[0][1]
            if not _numeric(values):
                name, values, index = run[0]
                index = positions["trial"] if isinstance(index, str) else index
                blocks[r] = pd.DataFrame({name: values.take(index)}, copy=False)
                continue
            block = np.empty((len(run), n), dtype=values.dtype)
            for j, (name, values, index) in enumerate(run):
                if index is None:
                    block[j] = values
                else:
                    index = positions["trial"] if isinstance(index, str) else index
                    _gather(values, index, block[j])
                    if name == FOLLOWUP:  # the trial column is the one before
                        if j and run[j - 1][0] == TRIAL:
                            block[j] -= block[j - 1]
                        else:
                            block[j] -= _gather(time_kept, trial, np.empty(n, time_kept.dtype))
            blocks[r] = pd.DataFrame(block.T, columns=[c[0] for c in run], copy=False)
        if stage == "expanded":
            # the caller positions, in place: each i reads index[i] before writing it
            positions["source"] = _gather(rows, source, source)
            positions["trial"] = _gather(rows, trial, trial)
    expanded = blocks[0] if len(blocks) == 1 else pd.concat(blocks, axis=1)
    return expanded, positions["trial"], positions["source"]


def check_trial_columns(data: pd.DataFrame, spec: TrialSpec) -> None:
    """The columns used have no missing or infinite value, and time is not datetimes."""
    check_finite(data, list(spec.columns), spec.id)
    if pd.api.types.is_datetime64_any_dtype(data[spec.time].dtype):
        raise DataError(
            spec.time,
            "time must be numeric (periods) for trial sequences, got datetimes; convert them, "
            "e.g. to months since a reference date",
        )


def no_eligible_row(spec: TrialSpec, n_rows: int) -> DataError:
    """The DataError when no row of ``n_rows`` is eligible."""
    return DataError(spec.eligible, f"no row is eligible (all {n_rows} rows are 0): no trial")


@dataclass(frozen=True, eq=False)
class PreparedTrials:
    """Everything the expansion is a function of: the cleaned rows, their weight factors
    and the running sums of the log factors, with the frame ``cleaned`` and the models."""

    cleaned: CleanedRows
    rows: np.ndarray  # caller positions of the kept rows, in (id, time) order
    time: np.ndarray  # time on the kept rows
    ids: np.ndarray  # id on the kept rows
    y: np.ndarray  # outcome (0/1 float) on the kept rows
    log_cumulative: np.ndarray
    stop: np.ndarray | None  # per protocol: the switches (a trial ends before one)
    models: dict
    frame: pd.DataFrame  # TrialSequence.cleaned
    n_dropped: dict


def prepare_trials(data: pd.DataFrame, spec: TrialSpec) -> PreparedTrials:
    """Validate, clean, fit the weight models and accumulate the log factors (``spec`` from
    ``trial_spec``): all but the expansion itself."""
    check_trial_columns(data, spec)
    panel = build_panel(data, spec.id, spec.time)

    def binary(column, role):
        return binary_values(panel, panel.sort(data[column].to_numpy()), column, role)

    a = binary(spec.treatment, "treatment")
    y = binary(spec.outcome, "outcome")
    e = binary(spec.eligible, "eligible")
    c = None if spec.censor is None else binary(spec.censor, "censor")
    if not e.any():
        raise no_eligible_row(spec, e.size)
    cleaned = clean_rows(panel, a, y, e, spec.outcome)
    per_protocol = spec.estimand == "PP"
    n_deviation = 0
    if per_protocol:
        cleaned, n_deviation = per_protocol_rows(cleaned)
    kept = cleaned.kept
    rows = panel.order[kept]  # caller positions of the kept rows, in (id, time) order
    n_kept = kept.size

    models: dict[str, LogitFit] = {}
    log_factor = np.zeros(n_kept)
    extra: dict[str, np.ndarray] = {}
    if per_protocol:
        models, p_num, p_den, log_switch = _switch_models(data, spec, rows, cleaned.a, cleaned.am_1)
        log_factor = log_factor + log_switch
        extra = {
            "p_switch_numerator": p_num,
            "p_switch_denominator": p_den,
            "switch_factor": np.exp(log_switch),
        }
    if c is not None:
        c_kept = c[kept]
        if not c_kept.any():
            warn_no_censoring(spec.censor, n_kept)
        else:
            censor_models, p_num, p_den = _censoring_models(
                data, spec, rows, 1.0 - c_kept, cleaned.am_1
            )
            models.update(censor_models)
            log_censor = np.log(p_num) - np.log(p_den)
            log_factor = log_factor + log_censor
            extra.update({"p_censor_numerator": p_num, "p_censor_denominator": p_den})
            if per_protocol:
                extra["censor_factor"] = np.exp(log_censor)
    if extra:
        extra["factor"] = np.exp(log_factor)
    log_cumulative = _kernels.cumulative_log_weights(log_factor, cleaned.starts)
    time_kept = panel.time[kept]
    ids_kept = panel.ids[kept]
    cleaned_frame = pd.DataFrame(
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
    return PreparedTrials(
        cleaned=cleaned,
        rows=rows,
        time=time_kept,
        ids=ids_kept,
        y=y[kept],
        log_cumulative=log_cumulative,
        # per protocol, a trial ends before the first later switch (deviation from assignment)
        stop=cleaned.switch if per_protocol else None,
        models=models,
        frame=cleaned_frame,
        n_dropped={
            "before_eligible": cleaned.n_before_eligible,
            "after_outcome": cleaned.n_after_outcome,
            **({"after_deviation": n_deviation} if per_protocol else {}),
        },
    )


def compute_trials(data: pd.DataFrame, spec: TrialSpec) -> TrialSequence:
    """The trial sequence of ``spec`` on a pandas frame (``spec`` from ``trial_spec``)."""
    prepared = prepare_trials(data, spec)
    cleaned = prepared.cleaned
    source, trial, weight = _kernels.sequential_trials(
        cleaned.eligible, cleaned.starts, prepared.log_cumulative, prepared.stop
    )
    expanded, trial_positions, source_rows = expanded_frame(
        data, spec, source, trial, weight, prepared.ids, prepared.time, cleaned.a, prepared.y,
        prepared.rows,
    )  # fmt: skip
    return TrialSequence(
        expanded=expanded,
        cleaned=prepared.frame,
        models=prepared.models,
        spec=spec,
        rows=source_rows,
        trial_rows=trial_positions,
        n_dropped=prepared.n_dropped,
    )


def stream_trials(data: pd.DataFrame, spec: TrialSpec) -> StreamedTrials:
    """The trial sequence of ``spec`` without storing its expansion (``materialize=False``)."""
    prepared = prepare_trials(data, spec)
    cleaned = prepared.cleaned
    eligible = np.ascontiguousarray(cleaned.eligible, dtype=np.uint8)
    stop = (
        np.zeros(eligible.size, dtype=np.uint8)
        if prepared.stop is None
        else np.ascontiguousarray(prepared.stop, dtype=np.uint8)
    )
    starts = np.ascontiguousarray(cleaned.starts, dtype=np.int64)
    covariates = {}
    for c in spec.covariates:
        values = data[c].array
        values = values.to_numpy() if values.dtype.kind in "biuf" else values
        covariates[c] = values.take(prepared.rows)
    a = cleaned.a.astype(np.int64)
    source = StreamSource(
        starts=starts,
        eligible=eligible,
        stop=stop,
        log_cumulative=np.ascontiguousarray(prepared.log_cumulative, dtype=np.float64),
        time=prepared.time,
        a=a,
        y=np.ascontiguousarray(prepared.y, dtype=np.float64),
        ids=prepared.ids,
        covariates=covariates,
    )
    n_rows = int(_kernels.trial_row_counts(eligible, starts, stop).sum())
    start_rows = np.flatnonzero(eligible)  # each trial's start row: its followup-0 row
    time0 = prepared.time[start_rows]
    baseline = pd.DataFrame(
        {
            spec.id: prepared.ids[start_rows],
            TRIAL: time0,
            FOLLOWUP: time0 - time0,
            ASSIGNED: a[start_rows],
            spec.treatment: a[start_rows],
            spec.outcome: prepared.y[start_rows].astype(np.int64),
            WEIGHT: np.ones(start_rows.size),
            **{c: pd.Series(v).take(start_rows).to_numpy() if not isinstance(v, np.ndarray)
               else v[start_rows] for c, v in covariates.items()},
        }
    )  # fmt: skip
    return StreamedTrials(
        cleaned=prepared.frame,
        models=prepared.models,
        spec=spec,
        n_dropped=prepared.n_dropped,
        source=source,
        n_rows=n_rows,
        baseline=baseline,
        _emulate=lambda frame: stream_trials(frame, spec),
        _materialize=lambda: compute_trials(data, spec),
    )
