"""The coefficient table of a fitted model, written once: ``bse``, ``pvalues``, ``conf_int()``,
``summary()`` and ``with_variance()``.

Every fitted model with coefficients inherits :class:`CoefficientResults`: the treatment and
censoring models (``LogitFit``, ``GaussianFit``, ``CategoricalFit``, ``CoxModelFit``), the
weighted GLM (``GLMResults``) and the Cox MSM (``CoxResults``).  A results class is a frozen
dataclass holding ``params`` (a Series) and ``cov`` (a DataFrame with the same labels); what
follows from those two is computed here, the same way for every model:

* ``bse`` (cached), ``zvalues`` (also ``tvalues``), ``pvalues`` from the standard normal (or
  from Student's t when the class has ``reference_df``), ``conf_int(alpha)`` with columns
  ``lower`` and ``upper``, ``exp_params`` and ``exp_conf_int(alpha)``;
* ``coefficient_table(alpha)``, which ``summary()`` builds on: ``estimate, std_error, z,
  p_value, lower, upper`` and, when the class names them in ``exp_columns``, the exponentiated
  estimate and limits (odds, rate or hazard ratios);
* ``cov_for(variance)`` and ``with_variance(variance)``: another covariance estimator of the
  registry (``msm.inference.covariance``) applied to the fit's ``sandwich_parts``, without
  refitting.  A fit that keeps its sandwich pieces has the dataclass fields ``cov``,
  ``variance``, ``covariance_estimator`` and ``sandwich_parts``; a fit that keeps none (the
  treatment models, :class:`ModelBasedResults`) reports its model-based covariance only.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import ClassVar, TypeVar

import numpy as np
import pandas as pd
import scipy.stats

from msm.inference.covariance import CovarianceEstimator, check_alpha, covariance_estimator

_Results = TypeVar("_Results", bound="CoefficientResults")


def models_table(models) -> pd.DataFrame:
    """Several fits' coefficient tables stacked: one row per (model, term).

    ``models``: a mapping of name to fit (each with ``summary()``, the coefficient table).
    Columns ``model``, ``term`` and the tables' own; with no model, an empty frame with the
    columns ``model``, ``term``, ``estimate``, ``std_error``, ``z``, ``p_value``.
    """
    tables = []
    for key, fit in models.items():
        table = fit.summary().rename_axis("term").reset_index()
        table.insert(0, "model", key)
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["model", "term", "estimate", "std_error", "z", "p_value"])
    return pd.concat(tables, ignore_index=True)


def standard_errors(cov: pd.DataFrame) -> pd.Series:
    """Square roots of the diagonal of a labelled covariance, labelled like its rows.

    Examples
    --------
    >>> standard_errors(pd.DataFrame([[4.0, 1.0], [1.0, 9.0]], index=["a", "b"])).tolist()
    [2.0, 3.0]
    """
    return pd.Series(np.sqrt(np.diag(cov.to_numpy())), index=cov.index)


class CoefficientResults:
    """Base of every results object with coefficients: the statsmodels-like surface.

    Subclasses are frozen dataclasses with the fields ``params`` (pandas.Series) and ``cov``
    (pandas.DataFrame, labelled like ``params``), and ``variance`` (the name of the estimator
    ``cov`` comes from) and ``sandwich_parts`` (a ``SandwichParts``, or None when the fit keeps
    no sandwich pieces).  A fit with sandwich pieces also has the field
    ``covariance_estimator``; ``with_variance`` replaces ``cov``, ``variance`` and
    ``covariance_estimator``.

    Class settings: ``statistic`` (``"z"``, or ``"t"`` with ``reference_df``), ``exp_columns``
    (names of the exponentiated estimate and limits in the table, or None), ``variances`` (the
    keys of ``COVARIANCE_ESTIMATORS`` the model offers; None: all) and ``variance_note`` (why
    the others are not offered, appended to the error).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(100), 3), "x": rng.normal(size=300)})
    >>> df["y"] = rng.poisson(np.exp(0.5 + 0.3 * df["x"]))
    >>> fit = msm.glm("y ~ x", df, family="poisson", cluster="id")
    >>> z = scipy.stats.norm.ppf(0.95)
    >>> ci = fit.conf_int(alpha=0.1)
    >>> bool(np.allclose(ci["upper"], fit.params + z * np.sqrt(np.diag(fit.cov))))
    True
    >>> g = fit.n_clusters
    >>> bool(np.allclose(fit.cov_for("cr1"), fit.cov * g / (g - 1)))
    True
    >>> fit.with_variance("cr1").variance
    'cr1'
    """

    statistic: ClassVar[str] = "z"
    exp_columns: ClassVar[tuple[str, str, str] | None] = None
    variances: ClassVar[tuple[str, ...] | None] = None
    variance_note: ClassVar[str] = ""

    @property
    def reference_df(self) -> int | None:
        """Degrees of freedom of Student's t for p-values and intervals; None: standard normal."""
        return None

    # --- the coefficient table -------------------------------------------------------------

    @cached_property
    def bse(self) -> pd.Series:
        """Standard errors: square roots of the diagonal of ``cov``."""
        return standard_errors(self.cov)

    @property
    def zvalues(self) -> pd.Series:
        """Wald statistics ``params / bse``."""
        return self.params / self.bse

    @property
    def tvalues(self) -> pd.Series:
        """``params / bse`` (statsmodels' name; the same as ``zvalues``)."""
        return self.zvalues

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the Wald statistics (standard normal, or t on
        ``reference_df`` degrees of freedom)."""
        stat = np.abs(self.zvalues.to_numpy())
        df = self.reference_df
        tail = scipy.stats.norm.sf(stat) if df is None else scipy.stats.t.sf(stat, df)
        return pd.Series(2.0 * tail, index=self.params.index)

    def _quantile(self, alpha: float) -> float:
        df = self.reference_df
        level = 1.0 - check_alpha(alpha) / 2.0
        return scipy.stats.norm.ppf(level) if df is None else scipy.stats.t.ppf(level, df)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals at level ``1 - alpha``, columns ``lower`` and ``upper``.

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> df = pd.DataFrame({"x": rng.normal(size=300)})
        >>> df["y"] = rng.poisson(np.exp(0.5 + 0.3 * df["x"]))
        >>> ci = msm.glm("y ~ x", df, family="poisson").conf_int(alpha=0.1)
        >>> ci.columns.tolist(), bool(ci.loc["x", "lower"] < 0.3 < ci.loc["x", "upper"])
        (['lower', 'upper'], True)
        """
        q = self._quantile(alpha)
        return pd.DataFrame(
            {"lower": self.params - q * self.bse, "upper": self.params + q * self.bse}
        )

    @property
    def exp_params(self) -> pd.Series:
        """``exp(params)``: odds, rate or hazard ratios where the model has them."""
        with np.errstate(over="ignore"):  # an infinite ratio is inf, and says so
            return np.exp(self.params)

    def exp_conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """``exp`` of the confidence limits: intervals for odds, rate or hazard ratios."""
        with np.errstate(over="ignore"):  # an unbounded interval is inf, and says so
            return np.exp(self.conf_int(alpha))

    def coefficient_table(self, alpha: float = 0.05, *, intervals: bool = True) -> pd.DataFrame:
        """``estimate, std_error, z (or t), p_value``, then ``lower, upper`` at level
        ``1 - alpha`` (unless ``intervals=False``), then the ``exp_columns``.

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> df = pd.DataFrame({"x": rng.normal(size=300)})
        >>> df["y"] = (rng.random(300) < 0.5).astype(int)
        >>> fit = msm.glm("y ~ x", df, family="binomial")
        >>> fit.coefficient_table(intervals=False).columns.tolist()
        ['estimate', 'std_error', 'z', 'p_value', 'exp_estimate']
        """
        table = pd.DataFrame(
            {
                "estimate": self.params,
                "std_error": self.bse,
                self.statistic: self.zvalues,
                "p_value": self.pvalues,
            }
        )
        exp_names = self.exp_columns
        if not intervals:
            if exp_names is not None:
                table[exp_names[0]] = self.exp_params
            return table
        ci = self.conf_int(alpha)
        table["lower"] = ci["lower"]
        table["upper"] = ci["upper"]
        if exp_names is not None:
            exp_ci = self.exp_conf_int(alpha)
            table[exp_names[0]] = self.exp_params
            table[exp_names[1]] = exp_ci["lower"]
            table[exp_names[2]] = exp_ci["upper"]
        return table

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """The coefficient table as a DataFrame (``coefficient_table(alpha)``)."""
        return self.coefficient_table(alpha)

    # --- sensitivity to unmeasured confounding ----------------------------------------------

    @property
    def evalue_scale(self) -> str | None:
        """What ``exp(coefficient)`` is, for ``evalue``: ``"OR"``, ``"RR"``, ``"HR"``, or
        ``"OLS"`` (a mean difference), None when the model has no such scale."""
        return None

    def evalue(
        self,
        term: str,
        *,
        rare: bool = False,
        true: float | None = None,
        alpha: float = 0.05,
        sd: float | None = None,
        delta: float = 1.0,
    ) -> pd.DataFrame:
        """E-values of ``term``'s estimate and confidence interval (``msm.evalue``).

        The scale is the model's (``evalue_scale``): the odds ratio of a logistic model, the
        risk or rate ratio of a log link, the hazard ratio of a Cox model (``rare``: the
        outcome is rare, so odds and hazard ratios approximate risk ratios), with the fit's
        own ``1 - alpha`` interval; for a linear model (EValue's ``evalues.OLS``) the
        coefficient of a contrast of ``delta`` units becomes a standardized mean difference
        with the outcome's standard deviation ``sd``.

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> df = pd.DataFrame({"a": rng.integers(0, 2, 2000)})
        >>> df["y"] = (rng.random(2000) < np.where(df["a"] == 1, 0.2, 0.1)).astype(int)
        >>> fit = msm.glm("y ~ a", df, family="binomial")
        >>> table = fit.evalue("a", rare=True)
        >>> list(table.index), bool(table.loc["E-value", "point"] > 2)
        (['RR', 'E-value'], True)
        """
        from msm.inference.evalue import evalue

        scale = self.evalue_scale
        if scale is None:
            raise ValueError(
                f"{type(self).__name__} has no ratio scale for an E-value (odds, risk, rate or "
                "hazard ratio, or a linear model's mean difference); use msm.evalue on the "
                "estimate and limits"
            )
        if term not in self.params.index:
            raise KeyError(f"no term {term!r}; the terms are {list(self.params.index)}")
        ci = self.conf_int(alpha).loc[term]
        if scale == "OLS":
            if sd is None:
                raise ValueError(
                    "a linear model's E-value needs sd= (the outcome's standard deviation) to "
                    "make the coefficient a standardized mean difference (EValue's evalues.OLS)"
                )
            d = float(self.params[term]) * delta / sd
            se = float(self.bse[term]) * abs(delta) / sd
            return evalue(d, se=se, scale="SMD", true=true)
        with np.errstate(over="ignore"):
            estimate, lower, upper = np.exp([self.params[term], ci["lower"], ci["upper"]])
        return evalue(estimate, lower, upper, scale=scale, rare=rare, true=true)

    # --- other variances without refitting --------------------------------------------------

    def _estimator(self, variance: str | CovarianceEstimator) -> CovarianceEstimator:
        return covariance_estimator(variance, self.variances, self.variance_note)

    def cov_for(self, variance: str | CovarianceEstimator) -> pd.DataFrame:
        """The covariance under another estimator (``"robust"``, ``"cr1"``, ``"model"``, ...),
        from the fit's sandwich pieces; ValueError naming the estimators the model offers.

        Examples
        --------
        >>> rng = np.random.default_rng(2)
        >>> df = pd.DataFrame({"id": np.repeat(np.arange(50), 4), "x": rng.normal(size=200)})
        >>> df["y"] = df["x"] + rng.normal(size=200)
        >>> fit = msm.glm("y ~ x", df, cluster="id")
        >>> g = fit.n_clusters
        >>> bool(np.allclose(fit.cov_for("cr1"), fit.cov * g / (g - 1)))
        True
        """
        estimator = self._estimator(variance)
        parts = self.sandwich_parts
        if parts is None:
            if estimator == covariance_estimator(self.variance):
                return self.cov
            raise ValueError(
                f"{type(self).__name__} reports its {self.variance!r} covariance only (it "
                f"keeps no sandwich pieces), so variance={variance!r} cannot be computed "
                f"from it{self.variance_note}"
            )
        names = self.params.index
        return pd.DataFrame(estimator.cov(parts), index=names, columns=names)

    def with_variance(self: _Results, variance: str | CovarianceEstimator) -> _Results:
        """The same fit reported with another covariance estimator (no refitting)."""
        estimator = self._estimator(variance)
        cov = self.cov_for(estimator)
        if self.sandwich_parts is None:  # its own variance: nothing changes
            return self
        return dataclasses.replace(
            self, cov=cov, variance=estimator.name, covariance_estimator=estimator
        )

    def variance_footer(self) -> str:
        """The line under a printed coefficient table: which variance was used."""
        return self.covariance_estimator.describe(self.sandwich_parts)

    # --- printing: the model's header lines, the table, the variance used ------------------

    #: the columns of ``summary()`` that ``repr()`` shows (``str()`` shows them all)
    repr_columns: ClassVar[tuple[str, ...]] = ("estimate", "std_error", "p_value")

    def header_lines(self) -> list[str]:
        """Lines describing the fit, printed above its table (each model says its own)."""
        return []

    def __str__(self) -> str:
        table = self.summary().to_string(float_format=lambda v: f"{v:.6g}")
        return "\n".join([*self.header_lines(), table, self.variance_footer()])

    def __repr__(self) -> str:
        short = self.summary()[list(self.repr_columns)]
        table = short.to_string(float_format=lambda v: f"{v:.4g}")
        return "\n".join([*self.header_lines(), table, self.variance_footer()])


class ModelBasedResults(CoefficientResults):
    """A fit that reports its model-based covariance only (keeps no sandwich pieces).

    The treatment and censoring models: their ``cov`` is the inverse information (times the
    residual variance for a normal linear model).  ``with_variance("model")`` returns the fit
    itself; any other estimator is a ValueError.
    """

    variance: ClassVar[str] = "model"
    sandwich_parts: ClassVar[None] = None
    variances: ClassVar[tuple[str, ...]] = ("model",)
    variance_note: ClassVar[str] = (
        "; a treatment or censoring model's variance is model-based: for the MSM's "
        "standard errors accounting for estimated weights use msm.glm(..., "
        "variance='stacked') or msm.bootstrap"
    )

    def variance_footer(self) -> str:
        return "Std. errors: model-based (inverse information)"
