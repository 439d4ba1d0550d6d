"""Risk curves from a pooled logistic MSM: cumulative incidence under static regimes.

Data path: each subject's first row gives their baseline covariates; for every regime a
counterfactual person-time grid is built (every subject at every time, treatment set by the
regime, treatment-history columns derived from it); the fitted model's design is evaluated on
it with the state learnt from the fitting data (spline knots, centring, category levels); the
discrete-time hazards ``h = expit(x'beta)`` give each subject's survival ``prod (1 - h)``
(summed in log space), and the average over subjects standardizes over the baseline
covariates in the model.  As the IPW "standardized survival curves" of Hernan & Robins,
*Causal Inference: What If*, ch. 17.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from msm._formula import design_matrix, parse_terms, rebuild
from msm._glm import check_column_name
from msm._warnings import DataWarning, warn
from msm.outcome.glm_model import GLMResults
from msm.panel import DataError, build_panel, check_columns_exist, check_finite, check_frame

Regime = float | Callable[[np.ndarray], object]
History = str | Callable[[np.ndarray, np.ndarray], object]

DEFAULT_REGIMES: Mapping[str, Regime] = {"always": 1, "never": 0}

HISTORY_KINDS = {
    "cumsum": "sum of the treatment over the visits up to and including t",
    "ever": "1 from the first treated visit on, else 0",
}

HANDLINGS = {
    "total": "the competing events happen as they would: each cause a state of its own",
    "eliminate": "the competing events are prevented: their hazards set to 0",
}


def risk_curves(
    fit: GLMResults,
    data: pd.DataFrame,
    *,
    id: str,
    time: str,
    treatment: str,
    regimes: Mapping[str, Regime] | None = None,
    reference: str | None = None,
    times=None,
    history: Mapping[str, History] | None = None,
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    competing: GLMResults | Mapping[str, GLMResults] | None = None,
    handling: str = "total",
) -> pd.DataFrame:
    """Cumulative incidence by time under static treatment regimes, standardized.

    ``fit`` is a weighted pooled logistic model of the discrete-time event hazard (one row per
    subject and interval at risk; ``msm.glm(..., family="binomial")``) on treatment, time
    terms and, optionally, baseline covariates.  For each regime every subject is given
    their baseline covariates (their first row in ``data``), treatment set by the regime at
    every time on the grid, and the hazard ``h_t`` predicted; the subject's risk by ``t`` is
    ``1 - prod_{k <= t} (1 - h_k)``, and the risk curve is its mean over subjects.

    Parameters
    ----------
    fit : GLMResults
        The fitted MSM (binomial family, logit link).
    data : pandas.DataFrame
        The data the model was fitted on, in any row order; not modified.  Standardization is
        over its subjects.  Spline knots, centring and category levels of the formula are
        taken from it, so it should be the fitting frame itself.
    id, time, treatment : str
        Subject, time and treatment columns.
    regimes : mapping of name to number or callable
        Static regimes, in the order they are reported.  A number sets the treatment at every
        time (``{"always": 1, "never": 0}``, the default); a callable takes the time grid
        (a numpy array) and returns the treatment at each time, e.g. ``lambda t: t >= 3``
        (start at time 3).
    reference : str, optional
        The regime the others are compared with; default the last one (``"never"``).
    times : array-like, optional
        The time grid: the interval labels at which hazards are predicted and risks reported,
        in increasing order.  Default: every distinct value of ``time`` in ``data``.
    history : mapping of column name to kind or callable, optional
        Treatment-history terms the model uses, rebuilt under each regime: ``"cumsum"``
        (sum of the treatment up to and including t, e.g. cumulative months treated),
        ``"ever"`` (1 from the first treated time on), or a callable ``f(a, times)`` taking
        the regime's treatment as a (subjects x times) array and the time grid and returning
        an array of the same shape (a lag: ``lambda a, t: np.pad(a, ((0, 0), (1, 0)))[:, :-1]``).
    rows : callable, optional
        ``rows(frame) -> frame``: a last hook that builds any other columns of the regime's
        person-time rows.  It receives one regime's rows (sorted by id and time, with the
        model's columns, treatment and history set) and returns a frame with the same rows
        in the same order.  With ``rows=`` the check that non-treatment, non-time covariates
        are constant within subject is skipped: the hook is responsible for them.
    competing : GLMResults or mapping of name to GLMResults, optional
        Competing events: for each, a weighted pooled logistic model of its cause-specific
        hazard fitted on the same rows as ``fit`` (the person-intervals at risk of any event;
        give weight 0 to rows that should not inform one of the fits).  A bare fit is named
        by its outcome column.  ``fit`` is then the cause-specific hazard model of the event
        of interest.
    handling : {"total", "eliminate"}
        With ``competing``: ``"total"`` (default), each competing event is a state of its
        own, and the cumulative incidence of cause c by t is
        ``sum_{k <= t} S(k-1) h_c(k)``, ``S(k) = prod_{j <= k} (1 - sum_c h_c(j))``;
        ``"eliminate"``, the competing events are prevented (their hazards set to 0):
        ``1 - prod (1 - h(k))`` from ``fit`` alone, which must then be weighted for the
        competing events as censoring (see Notes).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(regime, time)`` (level names ``"regime"`` and the time column's name),
        one row per regime and time, with columns

        - ``risk``: standardized cumulative incidence ``P(event by t)`` under the regime,
        - ``difference``: ``risk - risk of the reference regime`` at the same time,
        - ``ratio``: ``risk / risk of the reference regime``,

        so the reference regime's rows have difference 0 and ratio 1.  With ``competing``
        and ``handling="total"``, ``risk`` is the cumulative incidence of ``fit``'s event
        and each competing event c adds the columns ``c_risk``, ``c_difference`` and
        ``c_ratio`` (its cumulative incidence, and its comparison with the reference);
        ``attrs`` record ``"handling"`` and ``"competing"`` (the names).
        ``.reset_index()`` gives a flat table, ``["risk"].unstack("regime")`` one column per
        regime.  All numbers, so ``risk_curves`` can be the statistic of ``msm.bootstrap``.

    Raises
    ------
    DataError
        A column is missing or has missing values, (id, time) repeats, or a model covariate
        other than time, treatment and history varies within a subject (the MSM may adjust
        for baseline covariates only).
    ValueError
        The fit is not a logistic model, the regimes are malformed, or the design rebuilt on
        the regime rows does not match the fitted coefficients.

    Notes
    -----
    The risk at ``t`` is the probability of an event in any interval up to and including the
    one labelled ``t`` (the model's outcome on the row at ``t``).  Every subject is followed
    over the whole grid, whatever their own follow-up.  Standardization is an unweighted mean
    over subjects: the baseline covariate distribution of the study population.  Models with
    an ``offset`` are not supported (the fit does not record it).  Confidence intervals: run
    the whole analysis, weights included, in ``msm.bootstrap`` (example below).

    Competing events (Young et al. 2020, Stat Med 39:1199).  In discrete time both hazards
    of an interval are on the same at-risk set (those event-free at its start), and at most
    one event happens in an interval: ``h_c(k)`` is the probability that the interval ends
    with event c.  ``handling="total"`` estimates the total effect of treatment on the
    event, part of it possibly through the competing event (a treatment that kills or
    forces a switch lowers the risk of the event of interest); the weights need only
    account for treatment (and loss to follow-up), the competing event is an outcome.
    ``handling="eliminate"`` estimates the controlled direct effect: the risk in a world
    where the competing event is prevented.  That world is only reached by weighting:
    ``fit`` must be weighted by the inverse probability of remaining free of the competing
    event (e.g. ``msm.iptw(..., censor="failure")``, with weight 0 on the rows where it
    happens, since their outcome is not seen), under the assumption that the competing
    event depends on the measured history only.  If ``h_1 + h_2 > 1`` somewhere (the
    cause-specific logistic models do not exclude it), the survival factor is set to 0
    there, with a DataWarning.

    Examples
    --------
    >>> cohort = msm.datasets.simulate_panel(n_subjects=500, n_visits=6, seed=3,
    ...                                      stop_at_event=True)
    >>> def curves(d):
    ...     w = msm.iptw(d, id="id", time="time", treatment="a",
    ...                  denominator="x + l + time", numerator="x + time", absorbing=True)
    ...     fit = msm.glm("y ~ a + time + x", d, weights=w, cluster="id", family="binomial")
    ...     return msm.risk_curves(fit, d, id="id", time="time", treatment="a")
    >>> table = curves(cohort)
    >>> table.columns.tolist(), list(table.index.names)
    (['risk', 'difference', 'ratio'], ['regime', 'time'])
    >>> table.loc["never", "ratio"].eq(1.0).all()
    np.True_
    >>> boot = msm.bootstrap(curves, cohort, cluster="id", n_boot=10, seed=1, n_jobs=1,
    ...                      progress=False)
    >>> boot.summary().xs("risk", level="column").columns.tolist()
    ['estimate', 'bias', 'std_error', 'lower', 'upper']

    A competing event: quiescence and treatment failure of simulated JDM, one cause-specific
    MSM each on the same rows, treatment failure a state of its own:

    >>> jdm = msm.datasets.simulate_jdm(400, seed=2, competing=True)
    >>> w = msm.iptw(jdm, id="id", time="month", treatment="ivig",
    ...              denominator="pga + pga_prev + cmas + flare + prednisone + month",
    ...              numerator="month", absorbing=True, censor="lost")
    >>> q = msm.glm("quiescence ~ ivig + month", jdm, weights=w, cluster="id",
    ...             family="binomial")
    >>> f = msm.glm("failure ~ ivig + month", jdm, weights=w, cluster="id", family="binomial")
    >>> cif = msm.risk_curves(q, jdm, id="id", time="month", treatment="ivig", competing=f)
    >>> cif.columns.tolist()
    ['risk', 'difference', 'ratio', 'failure_risk', 'failure_difference', 'failure_ratio']
    """
    # the arguments that are not data, before any work
    beta = _check_fit(fit)
    for argument, value in (("id", id), ("time", time), ("treatment", treatment)):
        if value is None:
            raise TypeError(f"{argument} must be the name of a column, got None")
        check_column_name(value, argument)
    regimes = _check_regimes(DEFAULT_REGIMES if regimes is None else regimes)
    if reference is None:
        reference = list(regimes)[-1]
    elif not isinstance(reference, str) or reference not in regimes:
        raise ValueError(f"reference {reference!r} is not one of the regimes {list(regimes)}")
    history = _check_history(history)
    causes = _check_competing(competing, fit, handling)
    if rows is not None and not callable(rows):
        raise TypeError(f"rows must be a callable rows(frame) -> frame, got {type(rows).__name__}")
    for name in (id, time, treatment):
        if name in history:
            raise ValueError(f"history column {name!r} is the id, time or treatment column")
    if time == "regime":
        raise ValueError("the time column may not be called 'regime' (the result's index level)")
    check_frame(data)
    check_columns_exist(data, [id, time, treatment], "id/time/treatment")
    # the MSM's formula checked against the data the curves are standardised over (its
    # design state comes from the fit: GLMResults.design_spec)
    terms = parse_terms(fit.formula, data, "risk curves: the MSM")
    derived = {time, treatment, *history}
    if rows is None and not {treatment, *history}.intersection(terms.columns):
        raise ValueError(
            f"the MSM ({fit.formula}) uses neither {treatment!r} nor a history column: every "
            "regime would have the same risk; name the treatment terms with history="
        )
    fits = {None: (fit, beta, terms)}  # the event of interest, then the competing events
    for name, other in causes.items():
        other_terms = parse_terms(other.formula, data, f"risk curves: the MSM of {name!r}")
        fits[name] = (other, other.params.to_numpy(dtype=np.float64), other_terms)
    columns = list(dict.fromkeys(c for _, _, t in fits.values() for c in t.columns))
    check_finite(data, [id, time, *columns], id)
    panel = build_panel(data, id, time)
    first = panel.order[panel.starts[:-1]]  # caller positions of each subject's first row
    baseline = [c for c in columns if c not in derived]
    if rows is None:
        _check_baseline(data, panel, baseline)
    grid = _grid(data, time, times)

    n, k = panel.n_subjects, grid.size
    base = {c: data[c].to_numpy()[first] for c in baseline}
    treated = {name: _regime_values(name, r, grid) for name, r in regimes.items()}
    histories = {
        name: {c: _history_values(c, kind, np.broadcast_to(a, (n, k)), grid) for c, kind in
               history.items()}
        for name, a in treated.items()
    }  # fmt: skip
    etas = {
        cause: _regime_eta(
            f, b, t, data, panel, base, treated, histories, grid, id, time, treatment, rows
        )
        for cause, (f, b, t) in fits.items()
        if cause is None or handling == "total"
    }
    names = list(regimes)
    iref = names.index(reference)
    if len(etas) == 1:
        risks = {None: cumulative_incidence(etas[None])}  # (regimes, times)
    else:
        risks = competing_incidence(etas)
    index = pd.MultiIndex.from_product([names, grid], names=["regime", time])
    table = {}
    for cause, risk in risks.items():
        prefix = "" if cause is None else f"{cause}_"
        ref = risk[iref]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = risk / ref
        table[f"{prefix}risk"] = risk.reshape(-1)
        table[f"{prefix}difference"] = (risk - ref).reshape(-1)
        table[f"{prefix}ratio"] = ratio.reshape(-1)
    table = pd.DataFrame(table, index=index)
    table.attrs["reference"] = reference
    if causes:
        table.attrs["handling"] = handling
        table.attrs["competing"] = list(causes)
    return table


def _regime_eta(
    fit, beta, terms, data, panel, base, treated, histories, grid, id, time, treatment, rows
) -> np.ndarray:
    """One fit's linear predictor on the regimes' person-time grid: (regimes, subjects, times)."""
    n, k = panel.n_subjects, grid.size
    centring = fit.centring  # the fit's centred design, if it was computed on one
    history = next(iter(histories.values()), {})  # the history columns (any regime's)
    if terms.plain_columns is not None and rows is None:
        # intercept + numeric columns: the linear predictor by broadcasting, no design rows
        _check_names(["Intercept", *terms.plain_columns], fit)
        # on the centred design when the fit was computed on one (a shifted covariate such
        # as time + 1e5): gamma_0 + sum gamma_j (x_j - c_j), without the cancellation of a
        # large intercept against the covariate's term
        coef = beta if centring is None else centring.beta
        eta = np.full((len(treated), n, k), coef[0])
        for j, (b, column) in enumerate(zip(coef[1:], terms.plain_columns), start=1):
            if column == time:
                values = grid.astype(np.float64)
            elif column == treatment:
                values = np.stack(list(treated.values()))[:, None, :]
            elif column in history:
                values = np.stack([h[column] for h in histories.values()])
            else:
                values = base[column].astype(np.float64)[None, :, None]
            if centring is not None:
                values = values - centring.centre[j]
            eta += b * values
    else:
        eta = _linear_predictor(
            fit, beta, terms, data, panel, base, treated, histories, grid, id, time, treatment,
            rows,
        )  # fmt: skip
    return eta


def _linear_predictor(
    fit, beta, terms, data, panel, base, treated, histories, grid, id, time, treatment, rows
) -> np.ndarray:
    """``x'beta`` on the regimes' person-time rows built as frames: (regimes, subjects, times).

    For formulas formulaic evaluates (splines, categories, transforms) and for ``rows=``; the
    design's state (knots, centring, levels) is the fit's own (``GLMResults.design_spec``,
    learnt on the fitting data).
    """
    n, k = panel.n_subjects, grid.size
    ids = panel.ids[panel.starts[:-1]]
    blocks = []
    for name, a in treated.items():
        frame = pd.DataFrame(
            {
                id: np.repeat(ids, k),
                time: np.tile(grid, n),
                treatment: np.tile(a, n),
                **{c: np.repeat(v, k) for c, v in base.items()},
                **{c: h.reshape(-1) for c, h in histories[name].items()},
            }
        )
        if rows is not None:
            frame = _apply_rows(rows, frame, name)
        blocks.append(frame)
    counterfactual = pd.concat(blocks, ignore_index=True)
    X = model_design(fit, counterfactual, data=data, terms=terms, role="risk curves: regime rows")
    return fit.linear_predictor(X).reshape(len(treated), n, k)


def model_design(
    fit: GLMResults,
    rows: pd.DataFrame,
    *,
    data: pd.DataFrame | None = None,
    terms=None,
    role: str = "prediction rows",
) -> np.ndarray:
    """The fitted model's design matrix on new rows, with the state learnt on the fitting data.

    ``rows`` must have the columns the formula reads.  Spline knots, centring and category
    levels come from the fit (``GLMResults.design_spec``); a fit without one (the Dask front
    end) has its design state rebuilt from ``data``, the fitting frame.  ``terms``: the
    parsed right-hand side (default the fit's own).  ValueError when the rebuilt design's
    terms are not the fit's.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0, 1, 0, 1, 1, 0], "x": [0.0, 1, 2, 3, 4, 5]})
    >>> fit = msm.glm("y ~ x", df, family="binomial")
    >>> model_design(fit, pd.DataFrame({"x": [10.0]})).tolist()
    [[1.0, 10.0]]
    """
    if terms is None:
        terms = fit.terms
    if terms is None:
        if data is None:
            raise ValueError(f"{role}: the fit has no parsed formula; give the fitting data")
        terms = parse_terms(fit.formula, data, role)
    spec = None
    if terms.plain_columns is None:
        spec = fit.design_spec
        if spec is None:  # a fit from the Dask front end: rebuilt from the data given
            if data is None:
                raise ValueError(f"{role}: the fit has no design state; give the fitting data")
            design = design_matrix(terms, data)
            _check_names(design.names, fit)
            spec = design.spec
    check_columns_exist(rows, terms.columns, role)
    if spec is None:
        _check_names(["Intercept", *terms.plain_columns], fit)
        return design_matrix(terms, rows).matrix
    return rebuild(terms, spec, rows)


def cumulative_incidence(eta: np.ndarray) -> np.ndarray:
    """Standardized cumulative incidence from discrete-time hazards on the logit scale.

    ``eta``: linear predictors of shape ``(..., subjects, times)``, the hazard in interval
    ``j`` being ``h_j = expit(eta_j)``.  Returns ``1 - mean over subjects of prod_{j <= k}
    (1 - h_j)``, shape ``(..., times)``; the products are sums in log space
    (``log(1 - expit(e)) = -log(1 + exp(e))``), so hazards near 0 or 1 keep their digits.

    Examples
    --------
    >>> h = np.array([[0.1, 0.2], [0.3, 0.0]])  # two subjects, two intervals
    >>> cumulative_incidence(np.log(h / (1 - h) + 1e-300)).round(6).tolist()
    [0.2, 0.29]
    """
    eta = np.asarray(eta, dtype=np.float64)
    log_survival = np.cumsum(-np.logaddexp(0.0, eta), axis=-1)  # log prod (1 - expit(eta))
    return 1.0 - np.exp(log_survival).mean(axis=-2)


def competing_incidence(etas: Mapping) -> dict:
    """Standardized cumulative incidence of each cause from cause-specific discrete hazards.

    ``etas``: for each cause, linear predictors of shape ``(..., subjects, times)``, the
    cause's hazard in interval ``k`` being ``h_c(k) = expit(eta_c(k))``, all on the same
    at-risk set (free of every event at the start of the interval).  Returns, for each
    cause, ``mean over subjects of sum_{k <= t} S(k-1) h_c(k)`` with ``S(k) = prod_{j <= k}
    (1 - sum_c h_c(j))`` (``S(0) = 1`` before the first interval), shape ``(..., times)``:
    the discrete-time Aalen-Johansen estimator of the cumulative incidence functions.
    Where the hazards sum to more than 1 the survival factor is 0 (DataWarning).

    Examples
    --------
    >>> logit = lambda p: np.log(p / (1 - p))
    >>> cif = competing_incidence({"a": np.full((1, 2), logit(0.1)),
    ...                            "b": np.full((1, 2), logit(0.3))})
    >>> cif["a"].round(6).tolist(), cif["b"].round(6).tolist()
    ([0.1, 0.16], [0.3, 0.48])
    """
    hazards = {c: np.exp(-np.logaddexp(0.0, -np.asarray(e, dtype=np.float64)))
               for c, e in etas.items()}  # fmt: skip
    free = 1.0 - sum(hazards.values())
    if np.any(free < 0.0):
        warn(
            "risk curves: the cause-specific hazards sum to more than 1 in some interval "
            f"(up to {1.0 - free.min():.3g}); event-free survival set to 0 there. The "
            "cause-specific models extrapolate beyond their data",
            DataWarning,
        )
        free = np.clip(free, 0.0, None)
    survival = np.cumprod(free, axis=-1)
    before = np.concatenate([np.ones_like(survival[..., :1]), survival[..., :-1]], axis=-1)
    return {c: np.cumsum(before * h, axis=-1).mean(axis=-2) for c, h in hazards.items()}


# ---------------------------------------------------------------------------------------------
# validation and the regime rows


def _check_fit(fit) -> np.ndarray:
    if not isinstance(fit, GLMResults):
        raise TypeError(f"fit must be a GLMResults from msm.glm, got {type(fit).__name__}")
    if fit.family != "binomial" or fit.link != "logit":
        raise ValueError(
            f"risk curves need a pooled logistic model of the hazard (family='binomial', "
            f"link='logit'); this fit is {fit.family!r} with link {fit.link!r}"
        )
    return fit.params.to_numpy(dtype=np.float64)


def _check_competing(competing, fit: GLMResults, handling) -> dict:
    """``competing=`` as a dict of name to fit: each a logistic fit on ``fit``'s rows."""
    if not isinstance(handling, str) or handling not in HANDLINGS:
        raise ValueError(f"handling must be one of {list(HANDLINGS)}, got {handling!r}")
    if competing is None:
        return {}
    if isinstance(competing, GLMResults):
        competing = {competing.outcome: competing}
    if not isinstance(competing, Mapping) or not competing:
        raise TypeError(
            "competing must be a GLMResults from msm.glm (the competing event's cause-specific "
            "hazard model) or a mapping of name to such fits, e.g. {'failure': fit_failure}; "
            f"got {type(competing).__name__}"
        )
    rows = None
    out = {}
    for name, other in competing.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"competing events must be named by strings, got {name!r}")
        if not isinstance(other, GLMResults):
            raise TypeError(
                f"competing event {name!r}: the fit must be a GLMResults from msm.glm, got "
                f"{type(other).__name__}"
            )
        if other.family != "binomial" or getattr(other, "link", "logit") != "logit":
            raise ValueError(
                f"competing event {name!r}: its model must be a pooled logistic model of the "
                f"cause-specific hazard (family='binomial', logit link); this fit is "
                f"{other.family!r} with the {getattr(other, 'link', '?')!r} link"
            )
        if other.outcome == fit.outcome:
            raise ValueError(
                f"competing event {name!r}: its fit models {other.outcome!r}, the outcome of "
                "the event of interest; fit the competing event's own 0/1 column"
            )
        if name in ("risk", "difference", "ratio"):
            raise ValueError(f"competing event name {name!r} clashes with a result column")
        if rows is None:
            rows = fit.score_rows().index
        if other.n_rows != fit.n_rows or not other.score_rows().index.equals(rows):
            raise ValueError(
                f"competing event {name!r}: its fit has {other.n_rows} rows, the event of "
                f"interest's {fit.n_rows} (or other row labels): the cause-specific models "
                "must be fitted on the same person-intervals at risk (give weight 0 to rows "
                "that should not inform a fit)"
            )
        out[name] = other
    return out


def _check_regimes(regimes: Mapping[str, Regime]) -> dict[str, Regime]:
    if not isinstance(regimes, Mapping) or len(regimes) == 0:
        raise ValueError(f"regimes must be a non-empty mapping of name to regime, got {regimes!r}")
    out = {}
    for name, regime in regimes.items():
        if not isinstance(name, str):
            raise ValueError(f"regime names must be strings, got {name!r}")
        if not callable(regime):
            try:
                value = float(regime)
            except (TypeError, ValueError):
                raise ValueError(
                    f"regime {name!r} must be a number or a callable of the time grid, "
                    f"got {regime!r}"
                ) from None
            if not np.isfinite(value):
                raise ValueError(f"regime {name!r} must be finite, got {regime!r}")
        out[name] = regime
    return out


def _regime_values(name: str, regime: Regime, grid: np.ndarray) -> np.ndarray:
    if not callable(regime):
        return np.full(grid.size, float(regime))
    values = _as_numbers(regime(grid.copy()), f"regime {name!r}")
    values = np.broadcast_to(values, grid.shape) if values.ndim == 0 else values
    if values.shape != grid.shape or not np.isfinite(values).all():
        raise ValueError(
            f"regime {name!r} must return one finite treatment value per time ({grid.size}); "
            f"got shape {values.shape}"
        )
    return values


def _history_values(column: str, kind: History, a: np.ndarray, grid: np.ndarray) -> np.ndarray:
    if callable(kind):
        values = _as_numbers(kind(a.copy(), grid.copy()), f"history {column!r}")
        if values.shape != a.shape or not np.isfinite(values).all():
            raise ValueError(
                f"history {column!r} must return a finite (subjects x times) array of shape "
                f"{a.shape}; got shape {values.shape}"
            )
    elif kind == "cumsum":
        values = np.cumsum(a, axis=1)
    elif kind == "ever":
        values = np.maximum.accumulate((a != 0).astype(np.float64), axis=1)
    else:
        raise ValueError(
            f"history {column!r}: kind must be one of {', '.join(map(repr, HISTORY_KINDS))} "
            f"or a callable f(a, times), got {kind!r}"
        )
    return values


def _as_numbers(values, what: str) -> np.ndarray:
    """A callable's result as float64; ValueError naming the callable when not numbers."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must return numbers (the treatment values), got "
            f"{type(values).__name__} {str(values)[:40]!r}"
        ) from None


def _apply_rows(rows, frame: pd.DataFrame, regime: str) -> pd.DataFrame:
    out = rows(frame.copy())
    if not isinstance(out, pd.DataFrame) or len(out) != len(frame):
        raise ValueError(
            f"rows= must return a DataFrame with the {len(frame)} rows it was given "
            f"(regime {regime!r}); got {type(out).__name__} of length {len(out)}"
        )
    return out.reset_index(drop=True)


def _check_baseline(data: pd.DataFrame, panel, columns: list[str]) -> None:
    """Covariates other than time, treatment and history must be constant within subject."""
    subject = panel.subject_of_row()
    for column in columns:
        values = panel.sort(data[column].to_numpy())
        first = values[panel.starts[:-1]][subject]
        varies = values != first
        if varies.any():
            raise DataError(
                column,
                "varies within subject, but risk curves standardize over baseline covariates "
                "only (an MSM conditions on baseline covariates, not on time-varying "
                "confounders); use a baseline version of it in the model, declare "
                "treatment-history terms with history=, or build it with rows=",
                list(pd.unique(panel.ids[varies])),
            )


def _check_history(history) -> dict:
    """``history=`` as a dict of column name to kind; TypeError/ValueError naming history."""
    if history is None:
        return {}
    if not isinstance(history, Mapping):
        raise TypeError(
            "history must be a mapping of column name to kind ('cumsum', 'ever' or a "
            f"callable f(a, times)), e.g. {{'cum_a': 'cumsum'}}; got {history!r}"
        )
    for column, kind in history.items():
        check_column_name(column, "history")
        if not callable(kind) and (not isinstance(kind, str) or kind not in HISTORY_KINDS):
            raise ValueError(
                f"history {column!r}: kind must be one of {', '.join(map(repr, HISTORY_KINDS))} "
                f"or a callable f(a, times), got {kind!r}"
            )
    return dict(history)


def _grid(data: pd.DataFrame, time: str, times) -> np.ndarray:
    if times is None:
        return np.unique(data[time].to_numpy())
    if isinstance(times, str | bytes):
        raise TypeError(f"times must be an array of times, got the string {times!r}")
    try:
        grid = np.asarray(times)
    except (TypeError, ValueError):
        raise TypeError(f"times must be an array of times, got {type(times).__name__}") from None
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"times must be a non-empty 1-d array of times, got shape {grid.shape}")
    observed = data[time].dtype
    numeric = pd.api.types.is_numeric_dtype(observed) and not pd.api.types.is_bool_dtype(observed)
    if numeric:
        if grid.dtype.kind not in "iuf":
            raise TypeError(
                f"times must be numbers, like the time column {time!r} ({observed}); got "
                f"values of dtype {grid.dtype}"
            )
        if not np.all(np.isfinite(grid)):
            raise ValueError(f"times must be finite; got {grid[~np.isfinite(grid)][:3]}")
    try:
        increasing = grid.size == 1 or bool(np.all(grid[1:] > grid[:-1]))
    except TypeError:
        increasing = False
    if not increasing:
        raise ValueError("times must be strictly increasing")
    return grid


def _check_names(names: list[str], fit: GLMResults) -> None:
    expected = list(fit.params.index)
    if list(names) != expected:
        raise ValueError(
            f"the MSM's design rebuilt on the regime rows has terms {list(names)}, but the fit "
            f"has {expected}; is data the frame the model was fitted on?"
        )


def risk_evalues(
    curves: pd.DataFrame,
    lower: pd.Series | None = None,
    upper: pd.Series | None = None,
    *,
    true: float = 1.0,
) -> pd.DataFrame:
    """E-values of the risk ratios of ``msm.risk_curves`` (each regime against the reference).

    Parameters
    ----------
    curves : pandas.DataFrame
        ``msm.risk_curves`` output (index regime, time; column ``ratio``).
    lower, upper : pandas.Series, optional
        Confidence limits of the ratios with the same index (from ``msm.bootstrap`` of the
        risk curves, say): then the E-value of the limit nearest ``true`` too.
    true : float
        The ratio to explain the estimate away to.

    Returns
    -------
    pandas.DataFrame
        The index of ``curves`` without the reference regime's rows (ratio 1): ``ratio``,
        ``evalue`` and, with limits, ``lower``, ``upper``, ``evalue_ci`` (``msm.evalue`` on
        the risk-ratio scale).

    Examples
    --------
    >>> index = pd.MultiIndex.from_product([["always", "never"], [0, 1]],
    ...                                    names=["regime", "month"])
    >>> curves = pd.DataFrame({"risk": [0.2, 0.4, 0.1, 0.2], "ratio": [2.0, 2.0, 1.0, 1.0]},
    ...                       index=index)
    >>> risk_evalues(curves).round(3)
                  ratio  evalue
    regime month
    always 0        2.0   3.414
           1        2.0   3.414
    """
    from msm.inference.evalue import ratio_evalues

    if "ratio" not in curves.columns or curves.index.nlevels != 2:
        raise ValueError("risk_evalues takes msm.risk_curves output (index regime, time)")
    if (lower is None) != (upper is None):
        raise ValueError("give both lower and upper limits, or neither")
    ratio = curves["ratio"].astype(np.float64)
    # the reference regime (ratio 1 at every time) has nothing to explain away
    regimes = ratio.groupby(level=0, sort=False).apply(lambda r: bool(np.all(r == 1.0)))
    keep = [key for key in ratio.index if not regimes[key[0]]]
    out = []
    for key in keep:
        est = float(ratio[key])
        lo = None if lower is None else float(lower[key])
        hi = None if upper is None else float(upper[key])
        if not np.isfinite(est) or est <= 0:
            row = {"ratio": est, "evalue": np.nan}
        else:
            point, ci = ratio_evalues(est, lo, hi, true=true)
            row = {"ratio": est, "evalue": point}
            if lower is not None:
                row.update(lower=lo, upper=hi, evalue_ci=ci)
        out.append(row)
    return pd.DataFrame(out, index=pd.MultiIndex.from_tuples(keep, names=ratio.index.names))
