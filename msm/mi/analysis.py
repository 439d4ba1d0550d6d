"""The whole analysis within each imputed data set, pooled by Rubin's rules (``msm.mi``).

Data path: check the imputations once (same columns, rows, ids and times), run the
analysis on each (in worker processes with ``n_jobs``, a seed per imputation), read each
result's estimates and its own variances (``estimates_of``: a fit's covariance, a
bootstrap's replicates, a risk table's standard errors), put every quantity on its pooling
scale (risks on the complementary log-log scale, ratios on the log scale) and pool
(``msm.mi.pooling``).  Nothing is dropped silently: an imputation whose analysis fails is an
error that names it (or, with ``on_failure="drop"``, a warning and a row of ``failures``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm._bootstrap import resolve_n_jobs, run_tasks
from msm._warnings import DataWarning, warn
from msm.inference import BootstrapResults, CoefficientResults
from msm.mi.imputations import check_imputations
from msm.mi.pooling import SCALES, from_scale, rubin, to_scale
from msm.mi.weights import MIWeights

__all__ = ["Estimates", "MIAnalysisError", "MIResults", "analyze", "check_imputations",
           "estimates_of"]  # fmt: skip

MODEL_BASED = ("model", "naive")


class MIAnalysisError(RuntimeError):
    """The analysis failed in some imputations (each named with its error)."""


@dataclass(frozen=True)
class Estimates:
    """One completed-data analysis: estimates and variances on their pooling scales.

    ``values`` and ``variances`` are on the scale of each quantity (``scales``);
    ``dfcom`` the complete-data degrees of freedom; ``variance`` how the variances were
    obtained (for the printout).
    """

    values: pd.Series
    variances: pd.Series
    scales: dict
    dfcom: float
    variance: str


def _label_scale(key) -> str:
    """The pooling scale of a quantity from its label: risks cloglog, ratios log."""
    last = key[-1] if isinstance(key, tuple) else key
    if last == "ratio":
        return "log"
    if last == "risk":
        return "cloglog"
    return "identity"


def _quantity_scale(key) -> str:
    """A clone-censor risk table (index time, quantity): strategies' risks cloglog."""
    last = key[-1] if isinstance(key, tuple) else key
    return {"ratio": "log", "difference": "identity"}.get(last, "cloglog")


def estimates_of(result, scales: dict | None = None) -> Estimates:
    """Estimates and their own variances from one completed-data analysis.

    Understood results:

    * a fit (``GLMResults``, ``CoxResults``, ``AssociationFit``, any
      ``CoefficientResults``): ``params`` and the diagonal of ``cov`` (the fit's own
      variance, robust or stacked); ``dfcom`` = clusters - parameters with a cluster-robust
      variance, rows - parameters otherwise;
    * a ``BootstrapResults`` (``msm.bootstrap`` of any statistic, e.g. ``msm.risk_curves``):
      the estimate and the variance of the replicates, computed on the pooling scale
      (entries labelled ``risk`` on the complementary log-log scale, ``ratio`` on the log
      scale);
    * a clone-censor risk table (``CloneCensor.risk_curves``: index ``time, quantity``,
      columns ``estimate`` and ``std_error``): risks cloglog, ratios log, differences as
      they are (delta-method variances);
    * a dict of name to ``(estimate, variance)`` or ``(estimate, variance, scale)``.

    ``scales`` overrides the scale of named quantities.
    """
    scales = dict(scales or {})
    if isinstance(result, CoefficientResults):
        values = result.params.astype(np.float64)
        variances = pd.Series(np.diag(result.cov.to_numpy(dtype=np.float64)), index=values.index)
        p = values.size
        cluster = getattr(result, "cluster", None)
        nobs = getattr(result, "nobs", None)
        n_clusters = getattr(result, "n_clusters", None)
        if cluster is not None and n_clusters:
            dfcom = float(n_clusters - p)
        elif nobs is not None:
            dfcom = float(nobs - p)
        else:  # pragma: no cover - every fit records its rows
            dfcom = np.inf
        variance = str(getattr(result, "variance", "the fit's"))
        return _on_scales(values, variances, scales, dfcom, variance)
    if isinstance(result, BootstrapResults):
        values = result.estimate.astype(np.float64)
        reps = result.replicates[values.index].to_numpy(dtype=np.float64)
        per = {k: scales.get(k, _label_scale(k)) for k in values.index}
        on_scale = values.to_numpy().copy()
        var = np.empty(values.size)
        for j, key in enumerate(values.index):
            forward = SCALES[per[key]][0]
            with np.errstate(divide="ignore", invalid="ignore"):
                on_scale[j] = forward(values.iloc[j])
                column = forward(reps[:, j])
            var[j] = np.nanvar(column, ddof=1)
        return Estimates(
            values=pd.Series(on_scale, index=values.index),
            variances=pd.Series(var, index=values.index),
            scales=per,
            dfcom=np.inf,
            variance=f"bootstrap ({result.n_boot} replicates)",
        )
    if isinstance(result, pd.DataFrame) and {"estimate", "std_error"} <= set(result.columns):
        if "quantity" in (result.index.names or []):
            default = _quantity_scale
        else:
            default = lambda key: "identity"  # noqa: E731 - a coefficient table, say
        values = result["estimate"].astype(np.float64)
        variances = result["std_error"].astype(np.float64) ** 2
        for key in values.index:
            scales.setdefault(key, default(key))
        return _on_scales(values, variances, scales, np.inf, "the table's standard errors")
    if isinstance(result, dict) and result:
        keys, est, var, per = [], [], [], {}
        for key, entry in result.items():
            if not isinstance(entry, tuple | list) or len(entry) not in (2, 3):
                raise TypeError(
                    f"a dict result maps each name to (estimate, variance) or (estimate, "
                    f"variance, scale); {key!r} maps to {entry!r}"
                )
            keys.append(key)
            est.append(float(entry[0]))
            var.append(float(entry[1]))
            per[key] = scales.get(key, entry[2] if len(entry) == 3 else "identity")
        index = pd.Index(keys)
        return _on_scales(
            pd.Series(est, index=index), pd.Series(var, index=index), per, np.inf, "given"
        )
    raise TypeError(
        "the analysis must return a fit (msm.glm, msm.cox, ...), a BootstrapResults "
        "(msm.bootstrap of risk curves, say), a clone-censor risk table, or a dict of name "
        f"to (estimate, variance); got {type(result).__name__}"
    )


def _on_scales(values, variances, scales, dfcom, variance) -> Estimates:
    per = {k: scales.get(k, "identity") for k in values.index}
    on_values, on_variances = values.to_numpy().copy(), variances.to_numpy().copy()
    for j, key in enumerate(values.index):
        if per[key] not in SCALES:
            raise ValueError(f"scale of {key!r} must be one of {list(SCALES)}, got {per[key]!r}")
        on_values[j], on_variances[j] = to_scale(values.iloc[j], variances.iloc[j], per[key])
    return Estimates(
        values=pd.Series(on_values, index=values.index),
        variances=pd.Series(on_variances, index=values.index),
        scales=per,
        dfcom=dfcom,
        variance=variance,
    )


def _accepts_seed(analysis: Callable) -> bool:
    try:
        return "seed" in inspect.signature(analysis).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


@dataclass(frozen=True, eq=False)
class _Call:
    """One imputation's analysis (picklable for the workers)."""

    analysis: Callable
    scales: dict | None
    with_seed: bool

    def __call__(self, task):
        frame, seed, extra = task
        kwargs = {"seed": seed} if self.with_seed else {}
        result = self.analysis(frame, *extra, **kwargs)
        return result, estimates_of(result, self.scales)


@dataclass(frozen=True, eq=False, repr=False)
class MIResults:
    """An analysis run within each imputed data set (``msm.mi.analyze``), ready to pool.

    Attributes
    ----------
    results : list
        Each imputation's result (None for a failed one dropped with ``on_failure="drop"``).
    estimates, variances : pandas.DataFrame
        One row per imputation pooled, one column per quantity, on the pooling scales.
    scales : dict
        Each quantity's pooling scale (``"identity"``, ``"log"``, ``"cloglog"``).
    dfcom : float
        The complete-data degrees of freedom of the fits (the smallest over imputations;
        inf when the results carry none).
    variance : str
        Where the within-imputation variances come from.
    failures : pandas.DataFrame
        Imputations whose analysis failed: ``imputation``, ``error``, ``message``.
    warnings : pandas.DataFrame
        Warnings the analyses raised: ``category``, ``message``, ``imputations``.
    """

    results: list
    estimates: pd.DataFrame
    variances: pd.DataFrame
    scales: dict
    dfcom: float
    variance: str
    failures: pd.DataFrame
    warnings: pd.DataFrame
    alpha: float = 0.05
    extras: dict = field(default_factory=dict)

    @property
    def m(self) -> int:
        """Imputations pooled."""
        return len(self.estimates)

    def pool(self, dfcom: float | None = None, alpha: float | None = None) -> pd.DataFrame:
        """Rubin's rules by quantity (R ``mice::pool``'s columns).

        Parameters
        ----------
        dfcom : float, optional
            Complete-data degrees of freedom; default the fits' (clusters - parameters for a
            cluster-robust variance, rows - parameters otherwise; inf without).
        alpha : float, optional
            ``1 - alpha`` intervals (default the one given to ``analyze``).

        Returns
        -------
        pandas.DataFrame
            Index ``term``; columns ``m``, ``estimate``, ``ubar``, ``b``, ``t``, ``dfcom``,
            ``df``, ``riv``, ``lambda``, ``fmi``, ``std_error``, ``statistic``, ``p_value``,
            ``lower``, ``upper``, ``scale``.  For a quantity pooled on the log or cloglog
            scale, ``estimate``, ``lower`` and ``upper`` are transformed back; the other
            columns are on the pooling scale.
        """
        dfcom = self.dfcom if dfcom is None else dfcom
        if isinstance(dfcom, bool) or not isinstance(dfcom, int | float | np.number) or dfcom <= 0:
            raise ValueError(f"dfcom must be a positive number (or inf), got {dfcom!r}")
        alpha = self.alpha if alpha is None else alpha
        out = rubin(self.estimates.to_numpy(), self.variances.to_numpy(), dfcom, alpha)
        table = pd.DataFrame({"m": self.m, **out}, index=self.estimates.columns)
        table.index.name = "term"
        for key in table.index:
            scale = self.scales[key]
            if scale != "identity":
                for col in ("estimate", "lower", "upper"):
                    table.loc[key, col] = from_scale(table.loc[key, col], scale)
        table["scale"] = [self.scales[k] for k in table.index]
        return table

    def __repr__(self) -> str:
        table = self.pool()
        shown = table[["estimate", "std_error", "df", "lower", "upper", "fmi", "riv"]]
        level = int(round(100 * (1 - self.alpha)))
        lines = [
            f"Multiple imputation: {self.m} imputations pooled by Rubin's rules "
            f"(Barnard-Rubin df, dfcom {self.dfcom:g})",
            f" - within-imputation variance: {self.variance}",
        ]
        scaled = sorted({s for s in self.scales.values() if s != "identity"})
        if scaled:
            lines.append(
                f" - pooled on the {' and '.join(scaled)} scale where marked; estimates and "
                "limits transformed back"
            )
        if len(self.failures):
            lines.append(f" - {len(self.failures)} imputation(s) failed and were dropped")
        lines.append(f"Pooled ({level}% intervals; fmi: fraction of missing information):")
        lines.append(shown.to_string(float_format=lambda v: f"{v:.4g}"))
        return "\n".join(lines)


def analyze(
    imputations,
    analysis: Callable,
    *,
    id: str | None = None,
    time: str | None = None,
    seed: int | None = None,
    n_jobs: int | None = 1,
    progress: bool = False,
    scales: dict | None = None,
    on_failure: str = "raise",
    alpha: float = 0.05,
) -> MIResults:
    """Run the whole analysis within each imputed data set; pool with ``.pool()``.

    The "within" approach (Leyrat et al. 2019): the weights and the outcome model are
    re-estimated in every completed data set, and the m estimates combined by Rubin's rules
    with the within-imputation variances each analysis reports itself (robust, stacked or
    bootstrap; a model-based variance is used only when the fit asked for it, with a
    warning).

    Parameters
    ----------
    imputations : list of DataFrame, or MIWeights
        The completed data sets (same columns and rows; from ``msm.impute`` or any other
        tool).  With an ``MIWeights`` (``msm.mi.iptw``), ``analysis(frame, weights)`` also
        gets each imputation's weights.
    analysis : callable
        ``analysis(frame)`` (``analysis(frame, weights)`` with MIWeights) returns a fit,
        a ``BootstrapResults``, a clone-censor risk table or a dict of name to
        ``(estimate, variance)`` (see ``estimates_of``).  If it takes a ``seed`` keyword,
        imputation i gets its own seed from ``seed`` (the same on any number of workers).
    id, time : str, optional
        Columns that must agree row by row across the imputations (the alignment check).
    seed : int, optional
        Seed of the per-imputation seeds.
    n_jobs : int, optional
        Worker processes (1: this process; None: all CPUs).
    progress : bool
        Show a progress bar.
    scales : dict, optional
        Pooling scale of named quantities (``"identity"``, ``"log"``, ``"cloglog"``),
        overriding the defaults.
    on_failure : {"raise", "drop"}
        An imputation whose analysis fails: an error naming it and why (the default), or
        dropped with a warning and listed in ``failures``.
    alpha : float
        ``1 - alpha`` intervals of ``pool``.

    Returns
    -------
    MIResults

    Examples
    --------
    >>> import msm, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> base = msm.datasets.simulate_panel(n_subjects=300, n_visits=4, seed=1)
    >>> def complete(i):  # stand-in imputations: l perturbed, as an imputer would
    ...     noise = np.random.default_rng(i).normal(0, 0.1, len(base))
    ...     return base.assign(l=base["l"] + noise)
    >>> imputations = [complete(i) for i in range(5)]
    >>> def analysis(d):
    ...     w = msm.iptw(d, id="id", time="time", treatment="a",
    ...                  denominator="x + l + time", numerator="x + time")
    ...     return msm.glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
    >>> res = msm.mi.analyze(imputations, analysis, id="id", time="time")
    >>> table = res.pool()
    >>> table.loc["a", ["estimate", "fmi"]].round(3).index.tolist()
    ['estimate', 'fmi']
    >>> int(table.loc["a", "dfcom"])  # 300 subjects - 3 parameters
    297
    """
    extras: list[tuple] = []
    if isinstance(imputations, MIWeights):
        frames = imputations.imputations
        extras = [(w,) for w in imputations.weights]
    else:
        frames = check_imputations(imputations, id=id, time=time)
        extras = [() for _ in frames]
    if not callable(analysis):
        raise TypeError(f"analysis must be a function of a data set, got {analysis!r}")
    if on_failure not in ("raise", "drop"):
        raise ValueError(f"on_failure must be 'raise' or 'drop', got {on_failure!r}")
    m = len(frames)
    children = np.random.SeedSequence(seed).spawn(m)
    seeds = [int(c.generate_state(1)[0]) for c in children]
    call = _Call(analysis, scales, _accepts_seed(analysis))
    tasks = [(frame, s, extra) for frame, s, extra in zip(frames, seeds, extras)]
    workers = resolve_n_jobs(n_jobs, m)
    outcomes = run_tasks(call, tasks, workers, progress, "imputations", "imputation")
    failed = [o for o in outcomes if o.error is not None]
    failures = pd.DataFrame(
        [(o.task + 1, *o.error) for o in failed], columns=["imputation", "error", "message"]
    )
    if failed and on_failure == "raise":
        listed = "; ".join(f"imputation {o.task + 1}: {o.error[0]}: {o.error[1]}" for o in failed)
        raise MIAnalysisError(
            f"the analysis failed in {len(failed)} of {m} imputations ({listed}); fix it, "
            "or pass on_failure='drop' to pool the others (reported, never silent)"
        )
    ok = [o for o in outcomes if o.error is None]
    if len(ok) < 2:
        raise MIAnalysisError(
            f"only {len(ok)} of {m} imputations could be analysed: nothing to pool"
        )
    if failed:
        warn(
            f"the analysis failed in {len(failed)} of {m} imputations (numbers "
            f"{failures['imputation'].tolist()}); the other {len(ok)} are pooled (see "
            ".failures)",
            DataWarning,
        )
    first = ok[0].value[1]
    keys = first.values.index
    for o in ok[1:]:
        est = o.value[1]
        if not est.values.index.equals(keys):
            raise MIAnalysisError(
                f"imputation {o.task + 1} gives other quantities than imputation "
                f"{ok[0].task + 1} ({list(est.values.index)[:5]} vs {list(keys)[:5]}): "
                "every analysis must estimate the same terms"
            )
    if first.variance in MODEL_BASED:
        warn(
            "the within-imputation variances are model-based (the fits' variance="
            f"{first.variance!r}); with estimated weights use a robust or stacked variance",
            DataWarning,
        )
    counts: dict = {}
    for o in outcomes:
        for key in o.warnings:
            counts[key] = counts.get(key, 0) + 1
    results = [None] * m
    for o in ok:
        results[o.task] = o.value[0]
    index = pd.Index([o.task + 1 for o in ok], name="imputation")
    return MIResults(
        results=results,
        estimates=pd.DataFrame(
            [o.value[1].values.to_numpy() for o in ok], index=index, columns=keys
        ),  # fmt: skip
        variances=pd.DataFrame(
            [o.value[1].variances.to_numpy() for o in ok], index=index, columns=keys
        ),  # fmt: skip
        scales=dict(first.scales),
        dfcom=float(min(o.value[1].dfcom for o in ok)),
        variance=first.variance,
        failures=failures,
        warnings=pd.DataFrame(
            [(c, msg, n) for (c, msg), n in counts.items()],
            columns=["category", "message", "imputations"],
        ),
        alpha=alpha,
    )
