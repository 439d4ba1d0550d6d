"""Risk curves of sequential trials: cumulative incidence under assigned = 1 and 0.

Data path: take the baseline rows (``followup == 0``) of the expanded data (TrialEmulation's
default ``newdata``: every trial's start row, one per subject and trial), replicate each over
the follow-up grid with ``followup`` set and ``assigned`` set to 0 and to 1, rebuild the
MSM's design on them with the fit's state (``msm.outcome.risk.model_design``), and turn the
hazards ``expit(x'b)`` into standardized cumulative incidence
(``msm.outcome.risk.cumulative_incidence``): ``1 - mean over baseline rows of
prod_{j <= k} (1 - h_j)``.  Confidence intervals by coefficient simulation (draws from
``N(b, V)``, V the fit's robust covariance, as TrialEmulation's ``predict``) or by the
subject bootstrap (``msm.bootstrap`` on the original panel, clustered by subject: each
replicate re-emulates the trials, re-estimates the weights and refits the MSM).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from msm.inference import bootstrap
from msm.inference.covariance import check_alpha
from msm.outcome import GLMResults
from msm.outcome.risk import cumulative_incidence, model_design
from msm.panel import DataError, check_frame

CI_METHODS = ("simulation", "bootstrap")
ARMS = (0, 1)
# draws x rows per block of the simulated linear predictors (memory: 8 bytes each)
_BLOCK_CELLS = 1 << 22
NOT_THIS = (
    "the fit is not a fit of this trial sequence's expanded data (TrialSequence.fit on the "
    "same sequence)"
)


def sequence_risk_curves(
    seq,
    fit: GLMResults,
    followup=range(11),
    *,
    predict_rows: pd.DataFrame | Callable | None = None,
    ci: str | None = "simulation",
    n_sim: int = 1000,
    n_boot: int = 200,
    seed=None,
    alpha: float = 0.05,
    data: pd.DataFrame | None = None,
    truncate: tuple | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Cumulative incidence under ``assigned = 0`` and ``1`` from a trial sequence's MSM.

    ``TrialSequence.risk_curves`` calls this; see its docstring.
    """
    # the arguments that are not data, before any work
    alpha, n_sim, n_boot = check_curve_options(ci, alpha, n_sim, n_boot)
    streamed = getattr(seq, "streamed", False)  # StreamedTrials: the expansion not stored
    expanded = seq.baseline if streamed else seq.expanded
    if streamed:
        seq.check_fit(fit)
    else:
        check_fit(seq, fit)
    observed = seq.followup_values() if streamed else expanded["followup"].to_numpy()
    grid, report = followup_grid(observed, followup)
    baseline = _baseline_rows(seq, fit, predict_rows)
    if ci == "bootstrap":
        if data is None:
            raise ValueError(
                "ci='bootstrap' re-emulates the trials on resampled subjects: give the panel "
                "the sequence was built from as data="
            )
        check_frame(data)
        if isinstance(predict_rows, pd.DataFrame):
            raise ValueError(
                "ci='bootstrap' re-emulates the trials in every replicate, so predict_rows must "
                "be a function of the expanded data (e.g. lambda e: e[e['trial'] == 1]), not "
                "rows of this sequence"
            )
        _check_truncate(seq, fit, truncate)

    if ci != "bootstrap":
        return standardized_curves(
            fit, baseline, grid, report, like=expanded, ci=ci, n_sim=n_sim, seed=seed,
            alpha=alpha,
        )  # fmt: skip
    table = standardized_curves(fit, baseline, grid, report, like=expanded, ci=None, alpha=alpha)
    table.attrs["ci"] = ci
    boot = _bootstrap(seq, fit, data, truncate, followup, predict_rows, n_boot, seed, alpha, n_jobs)
    _check_same_estimate(boot, table)
    ci_table = boot.conf_int(alpha)
    bounds = {
        name: np.vstack([ci_table["lower"].xs(name, level=-1).to_numpy(),
                         ci_table["upper"].xs(name, level=-1).to_numpy()])
        for name in ("risk_0", "risk_1", "difference")
    }  # fmt: skip
    table.attrs.update({"n_boot": n_boot, "n_failed": boot.n_failed, "seed": boot.seed})
    _add_bounds(table, bounds)
    return table


def standardized_curves(
    fit: GLMResults,
    baseline: pd.DataFrame,
    grid: np.ndarray,
    report: np.ndarray,
    *,
    like: pd.DataFrame,
    ci: str | None = None,
    n_sim: int = 1000,
    seed=None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The risk table from the baseline rows, with simulation intervals when ``ci`` asks.

    ``baseline``: the rows standardized over (``baseline_rows``); ``grid`` and ``report``:
    from ``followup_grid``; ``like``: rows of the expanded data (the dtypes of ``followup``
    and ``assigned``, and the fitting data for ``msm.outcome.risk.model_design``).
    """
    X = _arm_designs(fit, like, baseline, grid)  # (arms, rows x grid, terms)
    beta = fit.params.to_numpy(dtype=np.float64)
    n_base = len(baseline)
    eta = np.stack([fit.linear_predictor(x) for x in X]).reshape(len(ARMS), n_base, grid.size)
    risk = cumulative_incidence(eta)[:, report]  # (arms, reported times)
    table = pd.DataFrame(
        {"risk_0": risk[0], "risk_1": risk[1], "difference": risk[1] - risk[0]},
        index=pd.Index(grid[report], name="followup"),
    )
    table.attrs.update({"ci": ci, "alpha": alpha, "n_baseline": n_base})
    if ci != "simulation":
        return table
    rng = np.random.default_rng(seed)
    cov = fit.cov.to_numpy(dtype=np.float64)
    draws = rng.multivariate_normal(beta, cov, size=n_sim, method="eigh")
    sims = _simulated_risks(X, draws, n_base, grid.size)[:, :, report]  # (sims, arms, t)
    values = {"risk_0": sims[:, 0], "risk_1": sims[:, 1], "difference": sims[:, 1] - sims[:, 0]}
    bounds = {
        name: np.quantile(v, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0) for name, v in values.items()
    }
    table.attrs.update({"n_sim": n_sim, "seed": seed})
    _add_bounds(table, bounds)
    return table


def _add_bounds(table: pd.DataFrame, bounds: dict) -> None:
    for name in ("risk_0", "risk_1", "difference"):
        table[f"{name}_lower"] = bounds[name][0]
        table[f"{name}_upper"] = bounds[name][1]


# ---------------------------------------------------------------------------------------------
# checks


def check_curve_options(ci, alpha, n_sim, n_boot) -> tuple[float, int, int]:
    """``ci``, ``alpha``, ``n_sim`` and ``n_boot`` of the risk curves, checked."""
    if ci is not None and ci not in CI_METHODS:
        raise ValueError(f"ci must be 'simulation', 'bootstrap' or None, got ci={ci!r}")
    alpha = check_alpha(alpha)
    return alpha, _positive_int(n_sim, "n_sim", 2), _positive_int(n_boot, "n_boot", 2)


def _positive_int(value, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise ValueError(f"{name} must be an integer of at least {least}, got {name}={value!r}")
    return int(value)


def followup_grid(observed: np.ndarray, followup) -> tuple[np.ndarray, np.ndarray]:
    """The follow-up times at which hazards are accumulated, and the positions reported.

    ``observed``: the follow-up times of the expanded data (any order, repeats allowed).
    Hazards are accumulated over every follow-up time observed in the expanded data up to
    the largest one requested; the requested times must be observed ones.
    """
    if isinstance(followup, str | bytes):
        raise TypeError(f"followup must be follow-up times, got the string {followup!r}")
    try:
        wanted = np.asarray(list(followup) if isinstance(followup, range) else followup)
    except (TypeError, ValueError):
        kind = type(followup).__name__
        raise TypeError(f"followup must be follow-up times, got {kind}") from None
    wanted = np.atleast_1d(wanted)
    if wanted.ndim != 1 or wanted.size == 0 or wanted.dtype.kind not in "iuf":
        raise ValueError(f"followup must be a non-empty list of numbers, got {followup!r}")
    if not np.all(np.isfinite(wanted)) or (wanted.size > 1 and np.any(np.diff(wanted) <= 0)):
        raise ValueError(f"followup must be finite and strictly increasing, got {followup!r}")
    observed = np.unique(observed)
    top = observed.max()
    beyond = wanted[wanted > top]
    if beyond.size:
        raise DataError(
            "followup",
            f"risk at followup {beyond[:5].tolist()}{' ...' if beyond.size > 5 else ''} asked "
            "for, but the expanded data are followed "
            f"up to {top} at most: no hazard can be estimated beyond it",
        )
    missing = wanted[~np.isin(wanted, observed)]
    if missing.size:
        raise DataError(
            "followup",
            f"followup {missing.tolist()} is not a follow-up time of the expanded data "
            f"(observed: {observed[:12].tolist()}{' ...' if observed.size > 12 else ''})",
        )
    grid = observed[observed <= wanted.max()]
    return grid, np.searchsorted(grid, wanted)


def check_fit(seq, fit) -> None:
    """ValueError unless ``fit`` is a logistic MSM fitted on ``seq.expanded`` (any weights).

    The fit's fitted values must be those of its coefficients on the expanded rows (so the
    fit was computed on these rows, with these covariate values), and its formula must use
    ``assigned``.
    """
    expanded = seq.expanded
    check_fit_form(fit, len(expanded), seq.spec.outcome, expanded.columns)
    mu = fit.fitted_values.to_numpy()
    X = model_design(fit, expanded, data=expanded, role="risk curves: the expanded rows")
    eta = fit.linear_predictor(X)
    again = np.exp(-np.logaddexp(0.0, -eta))
    if not np.allclose(again, mu, rtol=1e-6, atol=1e-12):
        worst = float(np.max(np.abs(again - mu)))
        raise ValueError(
            f"{NOT_THIS}: its fitted values differ from its coefficients' predictions on the "
            f"expanded rows by up to {worst:.3g}"
        )


def check_fit_form(fit, n_rows: int, outcome, columns) -> None:
    """``check_fit`` without the rows: a logistic ``GLMResults`` with ``n_rows`` rows, the
    sequence's ``outcome``, a formula on ``columns`` (of the expanded data) using
    ``assigned``."""
    if not isinstance(fit, GLMResults):
        kind = type(fit).__name__
        raise TypeError(f"fit must be a GLMResults from TrialSequence.fit, got {kind}")
    if fit.family != "binomial" or fit.link != "logit":
        raise ValueError(
            f"risk curves need the pooled logistic MSM (family='binomial'); this fit is "
            f"{fit.family!r} with link {fit.link!r}"
        )
    if fit.n_rows != n_rows or fit.outcome != outcome:
        raise ValueError(
            f"{NOT_THIS}: it has {fit.n_rows} rows and outcome {fit.outcome!r}, the expanded "
            f"data {n_rows} rows and outcome {outcome!r}"
        )
    terms = fit.terms
    used = () if terms is None else terms.columns
    missing = [c for c in used if c not in columns]
    if missing:
        raise ValueError(f"{NOT_THIS}: its formula reads {missing}, not in the expanded data")
    if "assigned" not in used:
        raise ValueError(
            f"the MSM ({fit.formula}) does not use 'assigned': both arms would have the same "
            "risk; fit a model with the assigned strategy"
        )


def _check_truncate(seq, fit, truncate) -> None:
    """The bootstrap refits with ``truncate``: the fit's weights must be those weights."""
    total = float(seq.analysis_weights(truncate).sum())
    if not np.isclose(total, fit.sum_weights, rtol=1e-9, atol=0.0):
        raise ValueError(
            f"the fit's weights sum to {fit.sum_weights:.10g}, the sequence's weights with "
            f"truncate={truncate!r} to {total:.10g}: pass risk_curves the truncate= the fit "
            "was computed with (the bootstrap refits the MSM with it)"
        )


def _check_same_estimate(boot, table: pd.DataFrame) -> None:
    est = boot.estimate.unstack(level=-1)[["risk_0", "risk_1", "difference"]]
    got = table[["risk_0", "risk_1", "difference"]].to_numpy()
    if est.shape != got.shape or not np.allclose(est.to_numpy(), got, rtol=1e-7, atol=1e-12):
        raise ValueError(
            "data is not the panel this trial sequence was built from: the curves computed "
            "on it differ from the sequence's own; give the original data= (and the fit's "
            "truncate=)"
        )


# ---------------------------------------------------------------------------------------------
# the prediction rows


def _baseline_rows(seq, fit, predict_rows) -> pd.DataFrame:
    """The rows standardized over: the rows at followup 0 of ``predict_rows`` (default
    ``seq.expanded``, as TrialEmulation's ``predict`` with ``newdata`` missing; a callable is
    applied to ``seq.expanded``)."""
    source = seq.baseline if getattr(seq, "streamed", False) else seq.expanded
    if predict_rows is None and getattr(seq, "starts", None) is not None:
        rows = seq.starts  # sampled controls: every trial's start row
        what = "the trials' start rows"
    elif predict_rows is None:
        rows = source
        what = "the expanded data"
    else:
        if callable(predict_rows):
            predict_rows = predict_rows(source)
        if not isinstance(predict_rows, pd.DataFrame):
            raise TypeError(
                f"predict_rows must be a DataFrame of expanded rows (e.g. seq.expanded for "
                f"one trial), got {type(predict_rows).__name__}"
            )
        rows = predict_rows
        what = "predict_rows"
    return baseline_rows(rows, fit, what, seq.spec.id)


def baseline_rows(rows: pd.DataFrame, fit: GLMResults, what: str, id) -> pd.DataFrame:
    """The rows of ``rows`` at followup 0, with the MSM's columns (DataError naming ``what``
    when a column is missing, no row is at followup 0 or a value is missing)."""
    columns = list(fit.terms.columns) if fit.terms is not None else []
    if "followup" not in columns:
        columns.append("followup")
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise DataError(missing[0], f"{what} lack the MSM's column(s) {missing}")
    base = rows.loc[rows["followup"].to_numpy() == 0, columns]
    if base.empty:
        raise DataError("followup", f"{what} have no row with followup == 0 (a trial's start)")
    bad = base.columns[base.isna().any().to_numpy()].tolist()
    if bad:
        at = base[bad[0]].isna().to_numpy()
        ids = rows.loc[rows["followup"].to_numpy() == 0, id] if id in rows else None
        raise DataError(
            bad[0],
            f"{what}: missing values in the baseline rows (followup == 0)",
            () if ids is None else list(pd.unique(ids.to_numpy()[at])),
        )
    return base.reset_index(drop=True)


def _arm_designs(fit, expanded, baseline: pd.DataFrame, grid: np.ndarray) -> list[np.ndarray]:
    """The MSM's design on the baseline rows x follow-up grid, for assigned = 0 and 1.

    Row order: baseline row major, follow-up minor, so a reshape gives (rows, grid).
    """
    n, k = len(baseline), grid.size
    rows = baseline.iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    rows["followup"] = np.tile(grid, n).astype(expanded["followup"].dtype, copy=False)
    out = []
    for arm in ARMS:
        rows["assigned"] = np.full(n * k, arm, dtype=expanded["assigned"].dtype)
        out.append(model_design(fit, rows, data=expanded, role="risk curves: prediction rows"))
    return out


def _simulated_risks(X: list[np.ndarray], draws: np.ndarray, n_base: int, k: int) -> np.ndarray:
    """Cumulative incidence for every coefficient draw: (draws, arms, grid)."""
    n_draws = draws.shape[0]
    out = np.empty((n_draws, len(X), k))
    block = max(1, _BLOCK_CELLS // max(1, X[0].shape[0]))
    for a, x in enumerate(X):
        for start in range(0, n_draws, block):
            b = draws[start : start + block]
            eta = (x @ b.T).T.reshape(b.shape[0], n_base, k)
            out[start : start + b.shape[0], a] = cumulative_incidence(eta)
    return out


# ---------------------------------------------------------------------------------------------
# the subject bootstrap


def _bootstrap(seq, fit, data, truncate, followup, predict_rows, n_boot, seed, alpha, n_jobs):
    """``msm.bootstrap`` over subjects of the original panel: each replicate re-emulates the
    trials (every trial of a resampled subject comes with it), re-estimates the weights,
    refits the MSM with the same formula and truncation, and recomputes the curves."""
    spec = seq.spec
    formula = f"{fit.outcome} ~ {fit.formula}"

    def statistic(frame: pd.DataFrame) -> pd.DataFrame:
        replicate = seq.emulate_on(frame)
        refit = replicate.fit(formula, truncate=truncate, convergence=spec.convergence)
        return sequence_risk_curves(replicate, refit, followup, predict_rows=predict_rows, ci=None)

    return bootstrap(
        statistic,
        data,
        cluster=spec.id,
        n_boot=n_boot,
        seed=seed,
        n_jobs=n_jobs,
        progress=False,
        alpha=alpha,
    )
