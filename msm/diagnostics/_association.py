"""The reweighted-association test (Pullenayegum et al., J Clin Epidemiol 2008;61:875-81),
and comparing candidate weight models with it.

In the data reweighted by correct IP weights the covariates no longer predict treatment.
So fit a weighted logistic regression of treatment on the covariates (on the risk-set rows
when the treatment is absorbing), with cluster-robust variance by subject, and test the
covariates' coefficients jointly; the same unweighted shows how much association the
weights removed.  The regressions are fitted by the GLM engine (``msm._glm``) with the
covariance registry of ``msm.inference`` (``variance``): diagnostics do not import outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.stats

from msm._formula import design_matrix, intercept_columns, parse_terms
from msm._glm import BINOMIAL, fit_glm
from msm.diagnostics._balance import balance
from msm.diagnostics._inputs import Covariates, kish, resolve_inputs
from msm.inference import (
    CoefficientResults,
    CovarianceEstimator,
    SandwichParts,
    covariance_estimator,
    glm_meat,
)
from msm.panel import (
    DataError,
    check_columns_exist,
    check_finite,
    check_finite_by,
    check_frame,
    weight_exponent,
)
from msm.weights import Weights, iptw

_SAMPLES = ("unweighted", "weighted")


@dataclass(frozen=True, eq=False)
class Association:
    """Result of :func:`reweighted_association`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per tested covariate term and sample (``"unweighted"``, ``"weighted"``):
        ``term``, ``sample``, ``log_or``, ``std_error``, ``lower``, ``upper``, ``z``,
        ``p_value``.
    wald : pandas.DataFrame
        Per sample: joint Wald ``chi2`` of the tested terms, ``df``, ``p_value``, and ``auc``
        (weighted AUC of the tested terms' part of the linear predictor; 0.5 means no
        separation of the arms).
    wald_chi2, wald_p, auc : float
        The weighted sample's values.
    fits : dict of str to AssociationFit
        The two logistic regressions (``params``, ``cov``, ``bse``, ``summary()``, ...).
    settings : dict
    """

    table: pd.DataFrame
    wald: pd.DataFrame
    fits: dict[str, AssociationFit] = field(repr=False)
    settings: dict = field(repr=False)

    @property
    def wald_chi2(self) -> float:
        return float(self.wald.loc["weighted", "chi2"])

    @property
    def wald_p(self) -> float:
        return float(self.wald.loc["weighted", "p_value"])

    @property
    def auc(self) -> float:
        return float(self.wald.loc["weighted", "auc"])

    def __repr__(self) -> str:
        s = self.settings
        where = " in the risk set (not yet treated)" if s["risk_set"] else ""
        lines = [
            f"Reweighted association (Pullenayegum et al. 2008): {s['treatment']!r} ~ "
            f"{' + '.join(s['terms'])}{where}",
            f" - {s['n_rows']} rows; weights: {s['weights'] or 'none given'}; "
            + (f"adjusted for {s['adjust']} (not tested)" if s["adjust"] else "no adjustment"),
        ]
        if s["conditioned_on"]:
            lines.append(f" - not tested (already adjusted for): {', '.join(s['conditioned_on'])}")
        lines.append(
            " - "
            + self.fits["weighted"].covariance_estimator.describe(
                self.fits["weighted"].sandwich_parts
            )
        )
        wide = self.table.pivot(index="term", columns="sample", values=["log_or", "p_value"])
        wide = wide.reindex(s["terms"])
        wide.columns = [f"{v} {sample}" for v, sample in wide.columns]
        lines += [
            "Per covariate (log odds ratio of treatment per unit):",
            wide.to_string(float_format="{:.4g}".format),
        ]
        lines += ["Joint Wald test and AUC:", self.wald.to_string(float_format="{:.4g}".format)]
        verdict = "rejects" if self.wald_p < s["alpha"] else "does not reject"
        lines.append(
            f"At alpha={s['alpha']:g} the weighted test {verdict} 'no association' "
            f"(p = {self.wald_p:.3g})"
        )
        return "\n".join(lines)


def reweighted_association(
    data: pd.DataFrame,
    *,
    treatment: str | None = None,
    covariates: Covariates,
    weights,
    cluster: str | None = None,
    adjust: str | Sequence[str] | None = None,
    id: str | None = None,
    time: str | None = None,
    absorbing: bool | None = None,
    risk_set: bool | None = None,
    variance: str = "robust",
    alpha: float = 0.05,
) -> Association:
    """Pullenayegum's check: do the covariates still predict treatment in the reweighted data?

    Fits a logistic regression of treatment on ``adjust`` terms plus the covariates, weighted
    by the IP weights (each row's cumulative weight), on the compared rows (the risk set for
    an absorbing treatment), and another unweighted for contrast.  Reports per covariate term
    the log odds ratio with cluster-robust standard error (``msm.glm``, ``variance``), Wald
    CI and p-value; the joint Wald chi-square of all covariate terms; and the weighted AUC of
    the covariates' part of the linear predictor.  With correct weights the covariates'
    coefficients are 0 in the weighted population, so the weighted test should not reject.

    Stabilized weights make treatment independent of the covariates only *given* the
    numerator's covariates; so by default (``adjust=None`` with a Weights object) the
    numerator's terms are adjusted for and not tested.  Add time or treatment-history
    columns to ``adjust`` to test within them.

    Parameters
    ----------
    data : DataFrame
        Long person-time data, any row order; never modified.
    treatment : str
        0/1 treatment column (from ``weights`` when it is a Weights object).
    covariates : list of str or str
        Terms to test (columns or a formula right-hand side).
    weights : Weights, str or array-like
        IP weights (a Weights object, a column, or one per row).
    cluster : str, optional
        Cluster for the robust variance; defaults to the subject ``id``.
    adjust : str or list of str, optional
        Terms in the model but not in the test; default the Weights' numerator terms
        (``"1"`` for none).
    id, time, absorbing, risk_set
        As in :func:`msm.balance` (taken from a Weights object).
    variance : str
        Covariance estimator of ``msm.glm`` (``"robust"``, ``"cr1"``, ``"cr1s"``).
    alpha : float
        For the confidence intervals and the verdict in the printout.

    Returns
    -------
    Association

    Examples
    --------
    >>> import msm
    >>> cohort = msm.datasets.simulate_panel(n_subjects=500, seed=2)
    >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
    ...              denominator="x + l + time", numerator="time", absorbing=True)
    >>> r = msm.reweighted_association(cohort, covariates=["x", "l"], weights=w)
    >>> sorted(r.table["term"].unique()), r.settings["adjust"]
    (['l', 'x'], 'time')
    >>> bool(r.wald.loc["unweighted", "chi2"] > r.wald_chi2)
    True
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if weights is None:
        raise TypeError("reweighted_association() needs weights= (the IP weights to check)")
    inputs = resolve_inputs(
        data,
        treatment=treatment,
        covariates=covariates,
        weights=weights,
        time=time,
        id=id,
        absorbing=absorbing,
        risk_set=risk_set,
        caller="reweighted_association",
    )
    cluster = inputs.id if cluster is None else cluster
    if cluster is not None:
        check_columns_exist(data, [cluster], "cluster")
        check_finite(data, [cluster], cluster)
    if adjust is None and isinstance(weights, Weights) and weights.settings["stabilized"]:
        adjust = weights.settings["numerator"]
        if isinstance(adjust, dict):
            raise ValueError(
                "these weights have one numerator model per time "
                f"({', '.join(f'{t}: {f}' for t, f in adjust.items())}); give adjust= (the "
                "covariates to condition on, e.g. the numerators' columns) explicitly"
            )
    adjust_terms = parse_terms(adjust, data, "reweighted_association adjust")
    covariate_terms = parse_terms(covariates, data, "reweighted_association covariates")
    rows = inputs.compared
    columns = list(
        dict.fromkeys(
            [inputs.treatment, *adjust_terms.columns, *covariate_terms.columns]
            + ([cluster] if cluster is not None else [])
        )
    )
    frame = data[columns].iloc[np.flatnonzero(rows)]  # a new frame: the caller's is untouched
    adjust_names = set() if adjust_terms.is_empty else set(_covariate_names(adjust_terms, frame))
    covariate_design = design_matrix(covariate_terms, frame)
    adjust_text = "" if adjust_terms.is_empty else f"{adjust_terms.text} + "
    check_finite_by(frame, adjust_terms.columns, cluster)
    model_terms = parse_terms(
        f"{adjust_text}{covariate_terms.text}", frame, "reweighted_association model"
    )
    fits = _fit_samples(
        frame,
        design_matrix(model_terms, frame),
        inputs.a[rows],
        inputs.w[rows],
        treatment=inputs.treatment,
        cluster=cluster,
        estimator=covariance_estimator(variance, supported=VARIANCES),
    )
    w = inputs.w[rows]
    covariate_names = _covariate_names(covariate_terms, frame, covariate_design)
    tested = [n for n in covariate_names if n not in adjust_names]
    conditioned = [n for n in covariate_names if n in adjust_names]
    if not tested:
        raise DataError(
            None,
            "reweighted_association: every covariate is also an adjustment term "
            f"({sorted(conditioned)}); nothing is left to test",
        )
    if "Intercept" in tested:  # the association model's own intercept has that name
        raise DataError(
            "Intercept",
            "reweighted_association: covariate 'Intercept' has the name of the intercept of "
            "the association model, so its coefficient cannot be told apart; rename the "
            "column, e.g. data.rename(columns={'Intercept': 'intercept_'})",
        )
    positions = {n: j for j, n in enumerate(covariate_design.names)}
    X = covariate_design.matrix[:, [positions[n] for n in tested]]
    table, wald = _tables(fits, tested, X, inputs.a[rows], w, alpha)
    settings = {
        "treatment": inputs.treatment,
        "terms": tested,
        "conditioned_on": conditioned,
        "adjust": None if adjust_terms.is_empty else adjust_terms.text,
        "cluster": cluster,
        "risk_set": inputs.risk_set,
        "weights": inputs.weights_label,
        "n_rows": int(rows.sum()),
        "alpha": alpha,
    }
    return Association(table=table, wald=wald, fits=fits, settings=settings)


VARIANCES = ("robust", "cr1", "cr1s")  # cluster-robust estimators of the registry


@dataclass(frozen=True, eq=False, repr=False)  # printing: CoefficientResults
class AssociationFit(CoefficientResults):
    """One logistic regression of the treatment on the adjustment terms and covariates.

    Fitted by the GLM engine (``msm._glm.fit_glm``) with the cluster-robust covariance of
    the registry; the coefficient table (``bse``, ``pvalues``, ``conf_int``, ``summary``,
    ``with_variance``) comes from ``msm.inference.CoefficientResults``.
    """

    params: pd.Series
    cov: pd.DataFrame
    variance: str
    covariance_estimator: CovarianceEstimator
    sandwich_parts: SandwichParts = field(repr=False)
    nobs: int
    converged: bool
    n_iter: int

    exp_columns = ("odds_ratio", "or_lower", "or_upper")
    variances = VARIANCES
    variance_note = "the association test's variances are cluster-robust"


def _fit_samples(frame, design, a, w, *, treatment, cluster, estimator) -> dict:
    """The unweighted and the weighted logistic regression of ``a`` on ``design``."""
    X = np.ascontiguousarray(design.matrix, dtype=np.float64)
    names = list(design.names)
    codes, n_groups = None, 0
    if cluster is not None:
        codes, uniques = pd.factorize(frame[cluster], sort=False)
        codes, n_groups = codes.astype(np.int64), uniques.size
    fits = {}
    for sample in _SAMPLES:
        given = np.ones_like(w) if sample == "unweighted" else w
        k = weight_exponent(given)  # exact: the fit does not depend on the weights' scale
        w_fit = np.ldexp(given, -k) if k else given
        informative = a[w_fit > 0]
        if informative.size and np.all(informative == informative[0]):
            raise DataError(
                treatment,
                f"reweighted_association: the treatment is {informative[0]:g} on every "
                f"compared row with positive weight ({sample}): there is nothing to test",
            )
        model_name = f"reweighted_association {sample} model {treatment} ~ {' + '.join(names)}"
        fit = fit_glm(
            X, a, w_fit, np.zeros(a.size), BINOMIAL, names, model_name, require_variance=True
        )
        scores = glm_meat(fit, X, a, w_fit, BINOMIAL, codes, n_groups)
        parts = SandwichParts(
            names=names,
            information=fit.information,
            meat=scores.meat,
            n_obs=int(np.count_nonzero(w_fit > 0)),
            n_clusters=scores.n_clusters,
            cluster=cluster,
            dispersion=1.0,
            dispersion_label="1 (binomial)",
            weight_scale=float(np.ldexp(1.0, -k)),
            centred=scores.centred,
        )
        fits[sample] = AssociationFit(
            params=pd.Series(fit.beta, index=names, name="estimate"),
            cov=pd.DataFrame(estimator.cov(parts), index=names, columns=names),
            variance=estimator.name,
            covariance_estimator=estimator,
            sandwich_parts=parts,
            nobs=parts.n_obs,
            converged=fit.converged,
            n_iter=fit.n_iter,
        )
    return fits


def _covariate_names(terms, frame: pd.DataFrame, design=None) -> list[str]:
    """The design's column names without the intercept, dropped by position (not by name)."""
    design = design_matrix(terms, frame) if design is None else design
    intercept = intercept_columns(design)
    return [name for j, name in enumerate(design.names) if j not in intercept]


def _tables(fits: dict, tested: list[str], X: np.ndarray, a: np.ndarray, w: np.ndarray, alpha):
    """Per-term rows and the joint Wald test per sample; ``X``: the tested design columns."""
    z_crit = scipy.stats.norm.ppf(1.0 - alpha / 2.0)
    parts, wald = [], {}
    for sample, fit in fits.items():
        beta = fit.params[tested]
        se = fit.bse[tested]
        z = beta / se
        parts.append(
            pd.DataFrame(
                {
                    "term": tested,
                    "sample": sample,
                    "log_or": beta.to_numpy(),
                    "std_error": se.to_numpy(),
                    "lower": (beta - z_crit * se).to_numpy(),
                    "upper": (beta + z_crit * se).to_numpy(),
                    "z": z.to_numpy(),
                    "p_value": 2.0 * scipy.stats.norm.sf(np.abs(z.to_numpy())),
                }
            )
        )
        cov = fit.cov.loc[tested, tested].to_numpy()
        b = beta.to_numpy()
        chi2 = float(b @ np.linalg.solve(cov, b))
        weights = np.ones_like(w) if sample == "unweighted" else w
        wald[sample] = {
            "chi2": chi2,
            "df": len(tested),
            "p_value": float(scipy.stats.chi2.sf(chi2, len(tested))),
            "auc": weighted_auc(X @ b, a, weights),
        }
    table = pd.concat(parts, ignore_index=True)
    wald_frame = pd.DataFrame.from_dict(wald, orient="index")
    wald_frame.index.name = "sample"
    return table, wald_frame


def weighted_auc(score: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted area under the ROC curve: P(score of a treated > score of an untreated).

    Each pair counts with the product of its weights; ties count one half.  NaN when an arm
    has no weight.

    Examples
    --------
    >>> weighted_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]), np.ones(4))
    0.75
    """
    order = np.argsort(score, kind="stable")
    s = score[order]
    w1 = np.where(y[order] == 1, w[order], 0.0)
    w0 = np.where(y[order] == 1, 0.0, w[order])
    if s.size == 0:
        return float("nan")
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    g1 = np.add.reduceat(w1, starts)
    g0 = np.add.reduceat(w0, starts)
    total = g1.sum() * g0.sum()
    if total <= 0:
        return float("nan")
    below = np.cumsum(g0) - g0
    return float(np.dot(g1, below + 0.5 * g0) / total)


# ---------------------------------------------------------------------------------------------
# comparing candidate weight models


@dataclass(frozen=True, eq=False)
class ModelComparison:
    """Result of :func:`compare_models`: one row per candidate weight model.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by candidate name: ``denominator``, ``wald_chi2``, ``df``, ``wald_p``,
        ``auc`` (weighted), ``smd_mean`` and ``smd_max`` (|SMD| over covariates and times),
        ``ess``, ``min``, ``p99``, ``max`` of the weights, ``n_truncated``.
    weights : dict of str to Weights
    associations : dict of str to Association
    balances : dict of str to Balance
    """

    table: pd.DataFrame
    weights: dict = field(repr=False)
    associations: dict = field(repr=False)
    balances: dict = field(repr=False)

    def __repr__(self) -> str:
        shown = self.table.drop(columns="denominator")
        lines = [
            "Candidate weight models (Pullenayegum et al. 2008): smaller residual association "
            "(Wald chi2), |SMD| and weight spread, larger ESS are better",
        ]
        for name, spec in self.table["denominator"].items():
            lines.append(f" - {name}: denominator {spec}")
        lines.append(shown.to_string(float_format="{:.4g}".format))
        return "\n".join(lines)


def compare_models(
    data: pd.DataFrame,
    *,
    candidates: Mapping[str, str | Sequence[str]],
    id: str,
    time: str | None,
    treatment: str,
    covariates: Covariates | None = None,
    numerator: str | Sequence[str] | None = None,
    absorbing: bool = False,
    cluster: str | None = None,
    adjust: str | Sequence[str] | None = None,
    **iptw_options,
) -> ModelComparison:
    """Fit each candidate weight model and tabulate how well its weights do their job.

    For each candidate denominator the weights come from :func:`msm.iptw` (same numerator
    and options for all), then: the reweighted-association Wald chi-square, its p-value and
    weighted AUC (:func:`reweighted_association`), the mean and maximum |SMD| over covariates
    and times (:func:`balance`), Kish ESS, and the weight range and 99th percentile.  A
    model whose weights leave less residual association without exploding is preferred, the
    selection strategy Pullenayegum et al. proposed.

    Parameters
    ----------
    data : DataFrame
        Long person-time data; never modified.
    candidates : dict of str to formula or list
        Name -> denominator right-hand side.
    id, time, treatment : str
        As in :func:`msm.iptw`.
    covariates : list of str or str, optional
        Terms to check balance and association on; default every column read by any
        candidate, except ``time``.
    numerator : str or list, optional
        Numerator of stabilized weights, shared by all candidates.
    absorbing : bool
        Once treated, always treated.
    cluster : str, optional
        Cluster for the robust variance (default ``id``).
    adjust : str or list, optional
        Passed to :func:`reweighted_association` (default: the numerator's terms).
    **iptw_options
        Other arguments of :func:`msm.iptw` (``censor``, ``truncate``, ...).

    Returns
    -------
    ModelComparison

    Examples
    --------
    >>> import msm
    >>> cohort = msm.datasets.simulate_panel(n_subjects=400, seed=4)
    >>> cmp = msm.compare_models(cohort, id="id", time="time", treatment="a",
    ...                          candidates={"x only": "x + time", "x and l": "x + l + time"},
    ...                          numerator="time", covariates=["x", "l"], absorbing=True)
    >>> cmp.table.index.tolist()
    ['x only', 'x and l']
    >>> bool(cmp.table.loc["x and l", "wald_chi2"] < cmp.table.loc["x only", "wald_chi2"])
    True
    """
    check_frame(data)
    if not isinstance(candidates, Mapping) or not candidates:
        raise ValueError("candidates must be a non-empty dict of name -> denominator formula")
    if covariates is None:
        columns: list[str] = []
        for name, spec in candidates.items():
            columns.extend(parse_terms(spec, data, f"candidate {name!r} denominator").columns)
        covariates = [c for c in dict.fromkeys(columns) if c != time]
        if not covariates:
            raise ValueError("no covariates to compare: pass covariates=")
    rows, weights_by_name, associations, balances = {}, {}, {}, {}
    for name, spec in candidates.items():
        w = iptw(
            data,
            id=id,
            time=time,
            treatment=treatment,
            denominator=spec,
            numerator=numerator,
            absorbing=absorbing,
            **iptw_options,
        )
        r = reweighted_association(
            data, covariates=covariates, weights=w, cluster=cluster, adjust=adjust
        )
        b = balance(data, covariates=covariates, weights=w, stats=["smd"])
        smd = b.table["weighted"].abs().to_numpy(dtype=float)
        smd = smd[~np.isnan(smd)]  # +inf (separation) stays in
        values = w.weights.to_numpy()
        rows[name] = {
            "denominator": spec if isinstance(spec, str) else " + ".join(spec),
            "wald_chi2": r.wald_chi2,
            "df": int(r.wald.loc["weighted", "df"]),
            "wald_p": r.wald_p,
            "auc": r.auc,
            "smd_mean": float(smd.mean()) if smd.size else np.nan,
            "smd_max": float(smd.max()) if smd.size else np.nan,
            "ess": float(kish(values.sum(), np.dot(values, values))),
            "min": float(values.min()),
            "p99": float(np.percentile(values, 99)),
            "max": float(values.max()),
            "n_truncated": w.n_truncated,
        }
        weights_by_name[name], associations[name], balances[name] = w, r, b
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "candidate"
    return ModelComparison(
        table=table, weights=weights_by_name, associations=associations, balances=balances
    )
