"""The cluster bootstrap: resample whole subjects, re-run the whole analysis (weights and
outcome model) on each resample, and read standard errors and confidence intervals off the
replicates.  The replicates are drawn and run by ``msm._bootstrap``; a fit reports their
covariance through ``msm.inference.Bootstrap``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.stats

from msm._bootstrap import (
    Resampler,
    flatten,
    label,
    resolve_n_jobs,
    run_replicates,
    warning_table,
)
from msm._glm import check_column_name
from msm._warnings import ConvergenceWarning, SeparationWarning, warn
from msm.inference.covariance import check_alpha
from msm.panel import check_columns_exist, check_finite, check_frame

FAILING_WARNINGS: tuple[type[Warning], ...] = (ConvergenceWarning, SeparationWarning)


class BootstrapWarning(UserWarning):
    """Some bootstrap replicates failed, or gave non-finite values; the message counts them."""


@dataclass(frozen=True, eq=False)
class BootstrapResults:
    """Cluster-bootstrap replicates of a statistic, with standard errors and intervals.

    The statistic's value is flattened to a Series: a float becomes one entry, a Series is
    kept, a DataFrame is stacked so that its row labels and column names become index levels
    (``summary()`` has one row per number; ``.unstack()`` brings the columns back).

    Attributes
    ----------
    estimate : pandas.Series
        The statistic on the original data.
    replicates : pandas.DataFrame
        One row per successful replicate (index: replicate number ``0 .. n_boot - 1``, so the
        failed ones are the gaps), one column per entry of ``estimate``.
    failures : pandas.DataFrame
        One row per failed replicate: ``replicate``, ``error`` (exception or warning class)
        and ``message``.
    warnings : pandas.DataFrame
        Other warnings raised inside replicates: ``category``, ``message`` and ``replicates``
        (how many replicates raised it).
    n_boot : int
        Replicates drawn (successful + failed).
    alpha : float
        Default level for ``conf_int`` and ``summary``: ``1 - alpha`` intervals.
    cluster : str
        The column whose values were resampled.
    n_clusters : int
        Clusters in the data (each replicate draws this many, with replacement).
    seed : int
        Entropy of the ``numpy.random.SeedSequence`` the replicates were drawn from; pass it
        as ``seed=`` to reproduce them.
    n_jobs : int
        Worker processes used (1: in this process).
    statistic_name : str
    """

    estimate: pd.Series
    replicates: pd.DataFrame
    failures: pd.DataFrame
    warnings: pd.DataFrame
    n_boot: int
    alpha: float
    cluster: str
    n_clusters: int
    seed: int
    n_jobs: int
    statistic_name: str

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def n_succeeded(self) -> int:
        return len(self.replicates)

    @cached_property
    def bse(self) -> pd.Series:
        """Bootstrap standard errors: the SD of the replicates (``ddof=1``)."""
        values = self.replicates.to_numpy()
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
            sd = np.nanstd(np.where(np.isfinite(values), values, np.nan), axis=0, ddof=1)
        return pd.Series(sd, index=self.estimate.index, name="std_error")

    @cached_property
    def cov(self) -> pd.DataFrame:
        """Covariance of the replicates (``ddof=1``; replicates with a non-finite entry are
        left out)."""
        values = self.replicates.to_numpy()
        values = values[np.isfinite(values).all(axis=1)]
        cov = np.atleast_2d(np.cov(values, rowvar=False, ddof=1))
        return pd.DataFrame(cov, index=self.estimate.index, columns=self.estimate.index)

    @cached_property
    def bias(self) -> pd.Series:
        """Mean of the replicates minus the estimate."""
        values = self.replicates.to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=0)
        return pd.Series(mean - self.estimate.to_numpy(), index=self.estimate.index, name="bias")

    def conf_int(self, alpha: float | None = None, method: str = "percentile") -> pd.DataFrame:
        """Confidence intervals, columns ``lower`` and ``upper``.

        Parameters
        ----------
        alpha : float, optional
            ``1 - alpha`` intervals; defaults to the ``alpha`` given to ``bootstrap``.
        method : {"percentile", "normal"}
            ``"percentile"``: the ``alpha/2`` and ``1 - alpha/2`` quantiles of the replicates
            (linear interpolation, R's type 7).  ``"normal"``: ``estimate -/+ z * bse`` with
            ``z`` the standard normal ``1 - alpha/2`` quantile.
            Non-finite replicate values are left out, entry by entry.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"id": np.repeat(np.arange(40), 3), "y": rng.normal(size=120)})
        >>> boot = bootstrap(lambda d: d["y"].mean(), df, cluster="id", n_boot=50, seed=1,
        ...                  n_jobs=1, progress=False)
        >>> boot.conf_int(method="normal").columns.tolist()
        ['lower', 'upper']
        """
        alpha = self.alpha if alpha is None else check_alpha(alpha)
        if method == "percentile":
            values = self.replicates.to_numpy()
            values = np.where(np.isfinite(values), values, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lower, upper = np.nanquantile(values, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
        elif method == "normal":
            z = scipy.stats.norm.ppf(1.0 - alpha / 2.0)
            lower = self.estimate.to_numpy() - z * self.bse.to_numpy()
            upper = self.estimate.to_numpy() + z * self.bse.to_numpy()
        else:
            raise ValueError(f"method must be 'percentile' or 'normal', got {method!r}")
        return pd.DataFrame({"lower": lower, "upper": upper}, index=self.estimate.index)

    @property
    def percentile_ci(self) -> pd.DataFrame:
        """``conf_int(method="percentile")`` at the results' ``alpha``."""
        return self.conf_int(method="percentile")

    @property
    def normal_ci(self) -> pd.DataFrame:
        """``conf_int(method="normal")`` at the results' ``alpha``."""
        return self.conf_int(method="normal")

    def summary(self, alpha: float | None = None, method: str = "percentile") -> pd.DataFrame:
        """One row per entry of the estimate: ``estimate, bias, std_error, lower, upper``.

        ``lower`` and ``upper`` are the ``method`` interval (see ``conf_int``).
        """
        ci = self.conf_int(alpha, method)
        return pd.DataFrame(
            {
                "estimate": self.estimate,
                "bias": self.bias,
                "std_error": self.bse,
                "lower": ci["lower"],
                "upper": ci["upper"],
            }
        )

    def _header(self) -> list[str]:
        failed = f", {self.n_failed} failed" if self.n_failed else ""
        lines = [
            f"Bootstrap of {self.statistic_name}: {self.n_succeeded} replicates{failed} "
            f"(of {self.n_boot}), resampling {self.n_clusters} clusters of {self.cluster!r} "
            f"with replacement; seed {self.seed}",
        ]
        if self.n_failed:
            counts = self.failures["error"].value_counts()
            lines.append(
                " - failed: "
                + ", ".join(f"{name} x{n}" for name, n in counts.items())
                + "; see .failures"
            )
        if len(self.warnings):
            lines.append(f" - {len(self.warnings)} other warning(s) in replicates; see .warnings")
        return lines

    def _footer(self) -> str:
        level = f"{100 * (1 - self.alpha):g}%"
        return f"Intervals: {level} percentile of the replicates; std. error: their SD"

    def __str__(self) -> str:
        table = self.summary().to_string(float_format=lambda v: f"{v:.6g}")
        return "\n".join([*self._header(), table, self._footer()])

    def __repr__(self) -> str:
        table = self.summary()
        shown = table if len(table) <= 20 else table.head(20)
        text = shown.to_string(float_format=lambda v: f"{v:.4g}")
        more = [f"... {len(table) - 20} more rows; see .summary()"] if len(table) > 20 else []
        return "\n".join([*self._header(), text, *more, self._footer()])


def bootstrap(
    statistic: Callable[[pd.DataFrame], object],
    data: pd.DataFrame,
    *,
    cluster: str,
    n_boot: int = 200,
    seed: int | np.random.SeedSequence | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    alpha: float = 0.05,
    fail_on: tuple[type[Warning], ...] = FAILING_WARNINGS,
) -> BootstrapResults:
    """Cluster (subject) bootstrap of any statistic of the data, in parallel.

    Each replicate draws ``G`` clusters (subjects) with replacement from the ``G`` in
    ``data``, takes all their rows, and calls ``statistic`` on that frame.  A subject drawn
    twice appears as two subjects: in the resampled frame the ``cluster`` column is relabelled
    ``0 .. G - 1`` by draw, so weights re-estimated inside ``statistic`` (``msm.iptw(...,
    id=cluster)``) and cluster-robust variances treat the copies as separate subjects.  The
    resampled frame has a fresh ``RangeIndex``; the other columns are untouched.

    Put the whole analysis in ``statistic`` (weights, outcome model, risk curves), so that
    the interval reflects the estimation of the weights too.

    Parameters
    ----------
    statistic : callable
        ``statistic(frame)`` returns a float, a pandas Series of numbers (e.g.
        ``fit.params``) or a DataFrame of numbers (e.g. ``msm.risk_curves(...)``), with the
        same labels in every replicate.  Run in worker processes when ``n_jobs > 1``: it is
        sent with cloudpickle, so lambdas and local functions work.
    data : pandas.DataFrame
        Long data, any row order.  Not modified.
    cluster : str
        Column identifying the resampling units (subjects).
    n_boot : int
        Replicates to draw (at least 2).
    seed : int, numpy.random.SeedSequence or None
        Replicate ``b`` draws its clusters from ``SeedSequence(seed).spawn(n_boot)[b]``, so
        the same seed gives the same replicates whatever ``n_jobs`` is.  ``None``: fresh
        entropy, recorded in ``result.seed``.
    n_jobs : int or None
        Worker processes (joblib's loky backend).  ``None`` or ``-1``: one per available CPU;
        ``1``: run in this process.  Workers run numba kernels on ``cpus // n_jobs`` threads
        each, so the cores are not oversubscribed.
    progress : bool
        Show a tqdm progress bar.
    alpha : float
        Default ``1 - alpha`` level for ``conf_int`` and ``summary``.
    fail_on : tuple of Warning classes
        Warnings that make a replicate fail (default: ``msm.ConvergenceWarning`` and
        ``msm.SeparationWarning``: a model that did not converge, or whose fitted
        probabilities hit 0 or 1, gives estimates not worth averaging).  ``()`` keeps such
        replicates.

    Returns
    -------
    BootstrapResults

    Raises
    ------
    DataError
        ``cluster`` is missing or has missing values.
    RuntimeError
        Fewer than 2 replicates succeeded.
    Exception
        Whatever ``statistic`` raises on the original data.

    Notes
    -----
    **Failed replicates.**  A replicate fails when ``statistic`` raises an exception (a
    ``DataError`` for a resample whose outcome is constant, a singular design, ...), when it
    emits one of ``fail_on`` (recorded whatever the warning filters say), or when its result
    has other labels than the estimate's (a category missing from the resample).  Failed
    replicates are not redrawn; they are listed in ``result.failures`` with the error and
    message, counted in the printout, left out of the standard errors and intervals, and a
    ``BootstrapWarning`` says how many there were.  If fewer than 2 succeed, ``bootstrap``
    raises.  Many failures mean the statistic is fragile on resamples: an interval from the
    survivors is then optimistic.  Non-finite values in successful replicates (a ratio of
    zero risks, say) are left out entry by entry, with a ``BootstrapWarning``.

    **Work done once.**  Each resampled frame remembers which rows of ``data`` it holds, so
    a formula whose design is computed row by row from numeric columns (lookups,
    arithmetic, ``I(...)``, numpy ufuncs such as ``np.log``) is built once on ``data`` and
    its rows gathered for every replicate, after checking that the columns it reads still
    hold ``data``'s values (a statistic may change its frame).  Formulas that learn from the
    data (``center()``, splines, categories) are built afresh on each resample, as are
    designs on a frame derived from the resample (``frame.assign(...)``).  The numbers are
    the same either way.

    **Intervals.**  Percentile intervals are the replicates' quantiles; normal intervals
    are ``estimate -/+ z * SE``.  Neither is bias-corrected (``result.bias`` shows the bias).

    Examples
    --------
    >>> cohort = msm.datasets.simulate_panel(n_subjects=1000, n_visits=5, seed=1)
    >>> def effect(d):
    ...     w = msm.iptw(d, id="id", time="time", treatment="a",
    ...                  denominator="x + l + time", numerator="x + time", absorbing=True)
    ...     fit = msm.glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
    ...     return fit.params
    >>> boot = msm.bootstrap(effect, cohort, cluster="id", n_boot=20, seed=7, n_jobs=1,
    ...                      progress=False)
    >>> boot.summary().columns.tolist()
    ['estimate', 'bias', 'std_error', 'lower', 'upper']
    >>> boot.replicates.shape
    (20, 3)
    """
    # the arguments that are not data, before any work
    if not callable(statistic):
        raise TypeError(f"statistic must be callable, got {type(statistic).__name__}")
    if cluster is None:
        raise TypeError("cluster must be the name of the column of resampling units, got None")
    check_column_name(cluster, "cluster")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got n_boot={n_boot!r}")
    n_boot = int(n_boot)
    alpha = check_alpha(alpha)
    fail_on = _check_fail_on(fail_on)
    if not isinstance(progress, bool | np.bool_):
        raise TypeError(f"progress must be True or False, got progress={progress!r}")
    seed_seq = _seed_sequence(seed)
    n_workers = resolve_n_jobs(n_jobs, n_boot)
    check_frame(data)
    check_columns_exist(data, [cluster], "cluster")
    check_finite(data, [cluster], cluster)
    children = seed_seq.spawn(n_boot)
    resampler = Resampler.from_data(data, cluster)
    name = getattr(statistic, "__name__", "statistic")
    name = "statistic" if name == "<lambda>" else name

    estimate = flatten(statistic(data.copy()), name)  # a statistic may write to its frame
    keys = estimate.index
    outcomes = run_replicates(
        statistic, name, data, resampler, children, keys, fail_on, n_workers, progress
    )
    good = [o for o in outcomes if o.values is not None]
    bad = [o for o in outcomes if o.values is None]
    replicates = pd.DataFrame(
        np.array([o.values for o in good]).reshape(len(good), len(keys)),
        index=pd.Index([o.replicate for o in good], name="replicate"),
        columns=keys,
    )
    failures = pd.DataFrame(
        {
            "replicate": [o.replicate for o in bad],
            "error": [o.error[0] for o in bad],
            "message": [o.error[1] for o in bad],
        }
    )
    if len(good) < 2:
        first = f"; the first: {bad[0].error[0]}: {bad[0].error[1]}" if bad else ""
        raise RuntimeError(f"only {len(good)} of {n_boot} bootstrap replicates succeeded{first}")
    if bad:
        counts = failures["error"].value_counts()
        warn(
            f"{len(bad)} of {n_boot} bootstrap replicates failed ("
            + ", ".join(f"{k} x{n}" for k, n in counts.items())
            + f"); standard errors and intervals use the {len(good)} that succeeded "
            "(see result.failures)",
            BootstrapWarning,
        )
    nonfinite = (~np.isfinite(replicates.to_numpy())).sum(axis=0)
    if nonfinite.any():
        shown = [f"{label(k)} ({n})" for k, n in zip(keys, nonfinite) if n][:5]
        warn(
            f"non-finite values in successful replicates, left out entry by entry: "
            f"{', '.join(shown)}{', ...' if np.count_nonzero(nonfinite) > 5 else ''}",
            BootstrapWarning,
        )
    return BootstrapResults(
        estimate=estimate,
        replicates=replicates,
        failures=failures,
        warnings=warning_table(outcomes),
        n_boot=n_boot,
        alpha=alpha,
        cluster=cluster,
        n_clusters=resampler.n_clusters,
        seed=seed_seq.entropy,
        n_jobs=n_workers,
        statistic_name=name,
    )


def _seed_sequence(seed) -> np.random.SeedSequence:
    """``seed=`` as a SeedSequence: None, a non-negative integer, or a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    entropy = list(seed) if isinstance(seed, list | tuple) else [seed]
    if not entropy or any(
        isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer) for v in entropy
    ):
        raise TypeError(
            "seed must be None, a non-negative integer (or a list of them) or a "
            f"numpy.random.SeedSequence, got seed={seed!r} of type {type(seed).__name__}"
        )
    if any(v < 0 for v in entropy):
        raise ValueError(f"seed must be non-negative, got seed={seed!r}")
    if isinstance(seed, list | tuple):
        return np.random.SeedSequence([int(v) for v in entropy])
    return np.random.SeedSequence(int(seed))


def _check_fail_on(fail_on) -> tuple[type[Warning], ...]:
    """``fail_on=`` as a tuple of Warning classes (one class alone is accepted)."""
    if isinstance(fail_on, type):
        fail_on = (fail_on,)
    try:
        classes = tuple(fail_on)
    except TypeError:
        classes = None
    if classes is None or not all(isinstance(c, type) and issubclass(c, Warning) for c in classes):
        raise TypeError(
            "fail_on must be a tuple of Warning classes (e.g. (msm.ConvergenceWarning,), or "
            f"() to keep every replicate), got fail_on={fail_on!r}"
        )
    return classes
