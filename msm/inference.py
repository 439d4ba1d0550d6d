"""Variance of estimates: sandwich pieces and the covariance estimators built from them.

Notation, for an M-estimator ``theta`` solving ``sum_i psi_i(theta) = 0`` (everything is summed
over rows, never averaged, so no ``n`` factors appear):

* ``psi_i`` -- row ``i``'s estimating-function contribution (its *score row*); for a weighted
  canonical-link GLM ``psi_i = w_i (y_i - mu_i) x_i``;
* ``A = -sum_i d psi_i / d theta'`` -- the information; the *bread* is ``A^-1``;
* ``U_g = sum_{i in g} psi_i`` -- the cluster scores, and the *meat* ``B = sum_g U_g U_g'``
  (every row its own cluster when there is no cluster variable);
* the sandwich ``A^-1 B A^-1``.

A fitted model hands these over as a :class:`SandwichParts`; each covariance estimator is a
small class with a ``name`` (the key it is chosen by) and ``describe()`` (the footer under a
coefficient table), looked up in :data:`COVARIANCE_ESTIMATORS`.  The same parts will serve
stacked estimating equations.

:func:`bootstrap` is the other route to a variance: resample whole subjects, re-run the whole
analysis (weights and outcome model) on each resample, and read standard errors and
confidence intervals off the replicates.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.stats

from msm import _kernels
from msm._warnings import ConvergenceWarning, SeparationWarning
from msm.panel import DataError, check_columns_exist, check_finite, check_frame


@dataclass(frozen=True, eq=False)
class SandwichParts:
    """What a sandwich needs from a fitted M-estimator.

    Attributes
    ----------
    names : list of str
        Parameter names, in order.
    information : ndarray, shape (p, p)
        ``A = -sum_i d psi_i / d theta'`` at the estimate.
    meat : ndarray, shape (p, p)
        ``B = sum_g U_g U_g'`` over clusters (rows, without a cluster variable).
    n_obs : int
        Rows that contribute (positive weight).
    n_clusters : int
        Clusters that contribute (``n_obs`` without a cluster variable).
    cluster : str or None
        The cluster column, for messages.
    dispersion : float
        Estimated dispersion for model-based variance (Pearson chi2 / residual df for a
        GLM); NaN when there are no residual degrees of freedom.
    dispersion_label : str
        How ``dispersion`` was estimated, for the footer.

    Examples
    --------
    >>> parts = SandwichParts(["a"], np.array([[4.0]]), np.array([[2.0]]), n_obs=10,
    ...                       n_clusters=10, cluster=None, dispersion=1.0)
    >>> float(sandwich(parts.bread, parts.meat)[0, 0])
    0.125
    """

    names: list[str]
    information: np.ndarray
    meat: np.ndarray
    n_obs: int
    n_clusters: int
    cluster: str | None
    dispersion: float
    dispersion_label: str = "Pearson chi2 / residual df"
    stacked: object = None  # a callable returning the stacked system (weights estimated)

    @property
    def n_params(self) -> int:
        return len(self.names)

    @cached_property
    def bread(self) -> np.ndarray:
        """``A^-1``, the inverse information."""
        return bread(self.information)


def bread(information: np.ndarray) -> np.ndarray:
    """Inverse of the (symmetric positive definite) information matrix ``A``.

    Examples
    --------
    >>> bread(np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    inverse = np.linalg.inv(information)
    return (inverse + inverse.T) / 2.0


def cluster_scores(score_rows: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-cluster sums ``U_g`` of (n, p) score rows; ``codes`` in ``0 .. n_clusters - 1``.

    Examples
    --------
    >>> cluster_scores(np.array([[1.0], [2.0], [4.0]]), np.array([1, 0, 1]), 2)
    array([[2.],
           [5.]])
    """
    score_rows = np.ascontiguousarray(score_rows, dtype=np.float64)
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    if codes.shape != (score_rows.shape[0],):
        raise ValueError(
            f"codes must have one entry per score row ({score_rows.shape[0]}), "
            f"got shape {codes.shape}"
        )
    if codes.size and (codes.min() < 0 or codes.max() >= n_clusters):
        raise ValueError(f"codes must be in 0 .. {n_clusters - 1}")
    return _kernels.cluster_score_sums(score_rows, np.ones(codes.size), codes, n_clusters)


def meat(cluster_score_sums: np.ndarray) -> np.ndarray:
    """``B = sum_g U_g U_g'`` from (G, p) cluster scores.

    Examples
    --------
    >>> meat(np.array([[1.0, 0.0], [1.0, 2.0]]))
    array([[2., 2.],
           [2., 4.]])
    """
    return cluster_score_sums.T @ cluster_score_sums


def sandwich(bread: np.ndarray, meat: np.ndarray) -> np.ndarray:
    """``bread @ meat @ bread'``, symmetrized.

    Examples
    --------
    >>> sandwich(np.array([[0.5]]), np.array([[8.0]]))
    array([[2.]])
    """
    cov = bread @ meat @ bread.T
    return (cov + cov.T) / 2.0


# ---------------------------------------------------------------------------------------------
# covariance estimators


class CovarianceEstimator:
    """Base class: one variance estimator, chosen by ``name`` from COVARIANCE_ESTIMATORS."""

    name: ClassVar[str] = ""

    def cov(self, parts: SandwichParts) -> np.ndarray:
        """The (p, p) covariance of the estimates."""
        raise NotImplementedError

    def describe(self, parts: SandwichParts) -> str:
        """One line for the footer of a coefficient table."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass(frozen=True, repr=False)
class Robust(CovarianceEstimator):
    """Cluster-robust sandwich ``A^-1 B A^-1`` without small-sample factor.

    geepack ``geeglm``'s default (independence working correlation) and
    ``sandwich::vcovCL(type = "HC0", cadjust = FALSE)``; without a cluster variable each row
    is its own cluster, i.e. HC0.
    """

    name: ClassVar[str] = "robust"

    def cov(self, parts: SandwichParts) -> np.ndarray:
        _need_clusters(parts, self.name, 1)
        return sandwich(parts.bread, parts.meat)

    def describe(self, parts: SandwichParts) -> str:
        if parts.cluster is None:
            return "Std. errors: robust sandwich (HC0; each row its own cluster)"
        return (
            f"Std. errors: cluster-robust sandwich by {parts.cluster!r} "
            f"({parts.n_clusters} clusters), no small-sample factor (as geepack::geeglm)"
        )


@dataclass(frozen=True, repr=False)
class CR1(CovarianceEstimator):
    """The robust sandwich times ``G/(G-1)``: ``sandwich::vcovCL``'s default for a glm.

    For a ``glm`` object ``vcovCL`` defaults to ``type = "HC0"`` with ``cadjust = TRUE``
    (its ``(n-1)/(n-k)`` factor, ``type = "HC1"``, is the default only for ``lm``
    objects); clubSandwich calls this factor CR1.  Without a cluster variable ``G = n``.
    ``G`` counts the clusters that have a row with positive weight.
    """

    name: ClassVar[str] = "cr1"

    def factor(self, parts: SandwichParts) -> float:
        g = parts.n_clusters
        return g / (g - 1)

    def cov(self, parts: SandwichParts) -> np.ndarray:
        _need_clusters(parts, self.name, 1)
        return self.factor(parts) * sandwich(parts.bread, parts.meat)

    def describe(self, parts: SandwichParts) -> str:
        if parts.cluster is None:
            return "Std. errors: robust sandwich x n/(n-1)"
        return (
            f"Std. errors: cluster-robust sandwich by {parts.cluster!r} "
            f"({parts.n_clusters} clusters) x G/(G-1) (as sandwich::vcovCL defaults for glm)"
        )


@dataclass(frozen=True, repr=False)
class CR1S(CR1):
    """The robust sandwich times ``G/(G-1) x (n-1)/(n-k)``: Stata's small-sample factor.

    ``sandwich::vcovCL(type = "HC1")`` (its default for ``lm`` objects) and Stata's
    ``vce(cluster)``.  Without a cluster variable the factor is ``n/(n-k)``, i.e. HC1.
    ``n`` counts rows with positive weight, ``G`` the clusters that have one.
    """

    name: ClassVar[str] = "cr1s"

    def factor(self, parts: SandwichParts) -> float:
        g, n, k = parts.n_clusters, parts.n_obs, parts.n_params
        return g / (g - 1) * (n - 1) / (n - k)

    def cov(self, parts: SandwichParts) -> np.ndarray:
        if parts.n_obs <= parts.n_params:
            raise ValueError(
                f"variance 'cr1s' needs more rows ({parts.n_obs}) than parameters "
                f"({parts.n_params}): its factor (n-1)/(n-k) is undefined"
            )
        return super().cov(parts)

    def describe(self, parts: SandwichParts) -> str:
        if parts.cluster is None:
            return "Std. errors: robust sandwich x n/(n-k) (HC1)"
        return (
            f"Std. errors: cluster-robust sandwich by {parts.cluster!r} "
            f"({parts.n_clusters} clusters) x G/(G-1) x (n-1)/(n-k) "
            "(as Stata, sandwich::vcovCL type HC1)"
        )


@dataclass(frozen=True, repr=False)
class ModelBased(CovarianceEstimator):
    """Inverse information times the dispersion: ``phi A^-1``.

    By default ``phi`` is estimated as Pearson chi2 / residual df, as R's ``glm`` does for
    the quasi families (``quasibinomial``, ``quasipoisson``) and for ``gaussian`` (where it
    is the weighted residual variance).  ``ModelBased(dispersion=1.0)`` gives R's ``binomial``
    and ``poisson`` standard errors.  With IP weights neither accounts for clustering of rows
    within subjects; use ``"robust"`` for inference.
    """

    dispersion: float | None = None
    name: ClassVar[str] = "model"

    def value(self, parts: SandwichParts) -> float:
        return parts.dispersion if self.dispersion is None else float(self.dispersion)

    def cov(self, parts: SandwichParts) -> np.ndarray:
        phi = self.value(parts)
        if not np.isfinite(phi):
            raise ValueError(
                f"variance 'model' needs an estimated dispersion, but there are no residual "
                f"degrees of freedom ({parts.n_obs} rows, {parts.n_params} parameters); "
                "use ModelBased(dispersion=...) to fix it"
            )
        return phi * parts.bread

    def describe(self, parts: SandwichParts) -> str:
        phi = self.value(parts)
        how = parts.dispersion_label if self.dispersion is None else "fixed"
        return f"Std. errors: model-based (inverse information x dispersion {phi:.6g}, {how})"

    def __repr__(self) -> str:
        return f"ModelBased(dispersion={self.dispersion!r})"


@dataclass(frozen=True, repr=False)
class Stacked(CovarianceEstimator):
    """Sandwich of the stacked estimating equations of the weight models and the outcome model.

    Accounts for the weights being estimated: the treatment (and censoring) models' score
    equations are stacked with the weighted outcome model's, and the outcome block of
    ``A^-1 B A^-T`` is returned, clustered by subject (see ``msm.outcome._stacked``).
    Needs ``weights=`` a ``Weights`` from ``msm.iptw`` with logistic models, untruncated.
    """

    name: ClassVar[str] = "stacked"

    def cov(self, parts: SandwichParts) -> np.ndarray:
        if parts.stacked is None:
            raise ValueError(
                "variance='stacked' needs weights= a Weights object from msm.iptw (the "
                "weight models are stacked with the outcome model)"
            )
        return parts.stacked().outcome_cov()

    def describe(self, parts: SandwichParts) -> str:
        system = parts.stacked()
        return (
            f"Std. errors: stacked estimating equations ({len(system.names) - system.n_outcome}"
            f" weight-model parameters estimated jointly), clustered by subject "
            f"({system.n_subjects} subjects)"
        )


COVARIANCE_ESTIMATORS: dict[str, type[CovarianceEstimator]] = {
    "robust": Robust,
    "cr0": Robust,
    "cr1": CR1,
    "cr1s": CR1S,
    "model": ModelBased,
    "stacked": Stacked,
}


def covariance_estimator(variance: str | CovarianceEstimator) -> CovarianceEstimator:
    """The estimator for ``variance=``: a key of COVARIANCE_ESTIMATORS or an instance.

    Examples
    --------
    >>> covariance_estimator("cr1").name
    'cr1'
    """
    if isinstance(variance, CovarianceEstimator):
        return variance
    if isinstance(variance, type) and issubclass(variance, CovarianceEstimator):
        return variance()
    try:
        return COVARIANCE_ESTIMATORS[str(variance).lower()]()
    except KeyError:
        raise ValueError(
            f"variance must be one of {', '.join(map(repr, COVARIANCE_ESTIMATORS))} "
            f"(or a CovarianceEstimator); got {variance!r}"
        ) from None


def _need_clusters(parts: SandwichParts, name: str, minimum: int) -> None:
    if parts.n_clusters <= minimum:
        what = f"clusters of {parts.cluster!r}" if parts.cluster else "rows"
        raise ValueError(
            f"variance {name!r} needs more than {minimum} {what} with positive weight; "
            f"got {parts.n_clusters}"
        )


__all__ = [
    "COVARIANCE_ESTIMATORS",
    "CR1",
    "CR1S",
    "CovarianceEstimator",
    "ModelBased",
    "Robust",
    "SandwichParts",
    "Stacked",
    "bread",
    "cluster_scores",
    "covariance_estimator",
    "meat",
    "sandwich",
]
