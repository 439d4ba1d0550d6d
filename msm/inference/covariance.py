"""Variance of estimates: sandwich pieces and the covariance estimators built from them.

Notation, for an M-estimator ``theta`` solving ``sum_i psi_i(theta) = 0`` (everything is summed
over rows, never averaged, so no ``n`` factors appear):

* ``psi_i`` -- row ``i``'s estimating-function contribution (its *score row*); for a weighted
  canonical-link GLM ``psi_i = w_i (y_i - mu_i) x_i``, for any link
  ``psi_i = w_i (y_i - mu_i) mu'_i / V(mu_i) x_i``;
* ``A = -sum_i d psi_i / d theta'`` -- the information; the *bread* is ``A^-1`` (for a GLM
  with a non-canonical link the expected information ``sum_i w_i mu'^2_i / V(mu_i) x_i x_i'``,
  as R's ``sandwich`` takes it);
* ``U_g = sum_{i in g} psi_i`` -- the cluster scores, and the *meat* ``B = sum_g U_g U_g'``
  (every row its own cluster when there is no cluster variable);
* the sandwich ``A^-1 B A^-1``.

A fitted model hands these over as a :class:`SandwichParts`; each covariance estimator is a
small class with a ``name`` (the key it is chosen by) and ``describe()`` (the footer under a
coefficient table), looked up in :data:`COVARIANCE_ESTIMATORS`.  The same parts will serve
stacked estimating equations.

``Bootstrap`` reports the covariance of the replicates of :func:`msm.bootstrap`
(``msm.inference.resampling``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from msm import _kernels
from msm._glm import GLMFit, map_back, uncentred_form, variance_function
from msm.panel import DataError


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
    weight_scale : float
        ``information``, ``meat`` and ``dispersion`` are those of the weights given times
        ``weight_scale``, a power of two that brings the mean positive weight near 1 (1.0 for
        weights whose mean is near 1), so that neither ``sum w`` nor ``sum w**2`` under- or
        overflows.  The sandwich and the model-based variance with an estimated dispersion do
        not depend on it; a fixed dispersion (``ModelBased(dispersion=...)``) undoes it.
    centred : CentredParts or None
        The information and meat on a design centred for accuracy (a covariate far from 0
        relative to its spread, e.g. ``l + 1e5``), with the map back to these parameters;
        ``bread`` and every sandwich are then computed there and mapped back, so they keep
        the digits that inverting ``information`` itself would lose.  None: no centring
        (``information`` and ``meat`` are used as they are).
    model : {"glm", "cox"}
        The kind of model, for the footer: which R function each estimator reproduces for
        it (``Robust`` is ``geepack::geeglm`` for a GLM, ``coxph(... + cluster())`` for a
        Cox model).

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
    weight_scale: float = 1.0
    centred: CentredParts | None = None
    model: str = "glm"

    @property
    def n_params(self) -> int:
        return len(self.names)

    @cached_property
    def bread(self) -> np.ndarray:
        """``A^-1``, the inverse information (computed on the centred design if any).

        DataError naming the columns when the information is singular (no variance exists).
        """
        if self.centred is None:
            return bread(self.information, self.names)
        return map_back(self.centred.transform, bread(self.centred.information, self.names))

    def sandwich(self) -> np.ndarray:
        """``A^-1 B A^-1`` (computed on the centred design if any, and mapped back)."""
        if self.centred is None:
            return sandwich(self.bread, self.meat)
        c = self.centred
        return map_back(c.transform, sandwich(bread(c.information, self.names), c.meat))


@dataclass(frozen=True, eq=False)
class CentredParts:
    """Information and meat of a fit computed on a design centred for accuracy.

    The centred design is ``Xc = X A`` row by row (``xc = A' x``; ``A = I - e_intercept
    centre'``, see ``msm._glm.centring_transform``), its coefficients ``gamma`` with
    ``theta = A gamma``; its information is ``A' I A`` and its meat ``A' B A``, each computed
    from ``Xc`` itself.  A covariance ``C_c`` there is ``A C_c A'`` for ``theta``.

    Attributes
    ----------
    transform : ndarray, shape (p, p)
        ``A``.
    information, meat : ndarray, shape (p, p)
        On the centred design.
    """

    transform: np.ndarray
    information: np.ndarray
    meat: np.ndarray


@dataclass(frozen=True, eq=False)
class GLMMeat:
    """The meat of a weighted GLM's sandwich, from its score rows summed by cluster.

    Attributes
    ----------
    meat : ndarray, shape (p, p)
        ``sum_g U_g U_g'`` for the parameters of ``X`` (mapped back from the centred design
        when the fit was centred).
    centred : CentredParts or None
        The information and meat on the centred design the fit was computed on, if any.
    n_clusters : int
        Clusters with a positive-weight row (rows, without clusters).
    pearson : float or None
        With R's IRLS path (``convergence="r"``): the Pearson chi2 from R's lagged working
        weights (what ``summary.glm`` uses), on the fitting weights' scale; else None.
    """

    meat: np.ndarray
    centred: CentredParts | None
    n_clusters: int
    pearson: float | None


def glm_meat(
    fit: GLMFit,
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    family: int,
    codes: np.ndarray | None = None,
    n_groups: int = 0,
) -> GLMMeat:
    """The meat of a GLM fitted by ``msm._glm.fit_glm`` on ``X``, ``y`` and weights ``w``.

    Score rows ``w (y - mu) x`` (R's ``estfun.glm`` working residuals with
    ``convergence="r"``; ``w (y - mu) mu' / V(mu) x`` for a non-canonical link, from the
    fit's ``score_factor``), summed within clusters (``codes`` 0..n_groups-1, or each row its own
    cluster when None) and crossed, on the design the fit was computed on (centred when a
    covariate lies far from 0 relative to its spread, so the sandwich keeps its digits).
    Shared by ``msm.glm`` and the diagnostics that fit logistic regressions.

    Examples
    --------
    >>> from msm._glm import BINOMIAL, fit_glm
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(200), rng.normal(size=200)])
    >>> y = (rng.random(200) < 0.4).astype(float)
    >>> fit = fit_glm(X, y, np.ones(200), np.zeros(200), BINOMIAL, ["1", "x"], "m")
    >>> parts = glm_meat(fit, X, y, np.ones(200), BINOMIAL)
    >>> bool(np.allclose(parts.meat, (X * (y - fit.mu)[:, None]).T @ (X * (y - fit.mu)[:, None])))
    True
    """
    r = w * (y - fit.mu)
    if fit.score_factor is not None:  # a non-canonical link: w (y - mu) mu' / V(mu)
        r = r * fit.score_factor
    pearson = None
    if fit.mu_lagged is not None:
        # R's estfun.glm and summary.glm: working weights from the means at the start of the
        # last IRLS iteration times working residuals at the estimate
        v_final = variance_function(family, fit.mu)
        lagged = w * variance_function(family, fit.mu_lagged)
        r = lagged * (y - fit.mu) / v_final
        pearson = float(np.sum(lagged * ((y - fit.mu) / v_final) ** 2))
    X_fit = fit.centred_design(X)
    positive = w > 0
    if codes is None:
        n_clusters = int(np.count_nonzero(positive))
        meat = _kernels.weighted_crossprod(X_fit, r * r)
    else:
        U = _kernels.cluster_score_sums(X_fit, r, codes, n_groups)
        meat = U.T @ U
        # clusters with a row of positive weight: all of them when every weight is
        if positive.all():
            n_clusters = int(np.count_nonzero(np.bincount(codes, minlength=n_groups)))
        else:
            n_clusters = int(np.count_nonzero(np.bincount(codes[positive], minlength=n_groups)))
    centred = None
    if fit.centring is not None:
        A = fit.centring.transform()
        centred = CentredParts(transform=A, information=fit.centring.information, meat=meat)
        meat = uncentred_form(A, meat)
    return GLMMeat(meat=meat, centred=centred, n_clusters=n_clusters, pearson=pearson)


def bread(information: np.ndarray, names: list[str] | None = None) -> np.ndarray:
    """Inverse of the (symmetric positive definite) information matrix ``A``.

    A singular information has no inverse (a coefficient without a finite variance: a
    design collinear on the rows fitted, or a separated model): DataError naming the
    parameters involved (``names``, else their positions).  A pseudo-inverse would report a
    finite variance where none exists.

    Examples
    --------
    >>> bread(np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    try:
        inverse = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        raise singular_information(information, names) from None
    if not np.all(np.isfinite(inverse)):
        raise singular_information(information, names)
    return (inverse + inverse.T) / 2.0


def _ill_conditioned(block: np.ndarray) -> bool:
    """A symmetric information block singular to rounding (or not finite)."""
    with np.errstate(all="ignore"):
        scale = np.sqrt(np.abs(np.diag(block)))
        if not (np.all(np.isfinite(block)) and np.all(scale > 0)):
            return True
        eigval = np.linalg.eigvalsh(block / np.outer(scale, scale))
    return not eigval[0] > 1e-12 * max(eigval[-1], 1.0)


def singular_information(information: np.ndarray, names: list[str] | None = None) -> DataError:
    """The DataError for an information matrix without an inverse, naming the parameters
    that load on its null direction (``names``; positions when None)."""
    p = information.shape[0]
    names = [f"parameter {j}" for j in range(p)] if names is None else list(names)
    bad = list(names)
    with np.errstate(all="ignore"):
        scale = np.sqrt(np.abs(np.diag(information)))
        zero = ~(scale > 0)
        if zero.any():
            bad = [names[j] for j in np.flatnonzero(zero)]
        elif np.all(np.isfinite(information)):
            corr = information / np.outer(scale, scale)
            eigval, eigvec = np.linalg.eigh((corr + corr.T) / 2.0)
            loadings = np.abs(eigvec[:, 0])
            bad = [names[j] for j in np.flatnonzero(loadings > 0.1)] or bad
    return DataError(
        None,
        f"the information matrix is singular at the estimate, so the covariance does not "
        f"exist; the parameters involved: {bad} (collinear on the rows fitted, or a "
        "coefficient running off to infinity under separation: see the fit's warnings); "
        "drop or combine them",
    )


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
        return parts.sandwich()

    #: what it reproduces, by ``SandwichParts.model``
    matches: ClassVar[dict[str, str]] = {
        "glm": "as geepack::geeglm",
        "cox": "as coxph(... + cluster())",
    }

    def describe(self, parts: SandwichParts) -> str:
        if parts.cluster is None:
            return "Std. errors: robust sandwich (HC0; each row its own cluster)"
        return (
            f"Std. errors: cluster-robust sandwich by {parts.cluster!r} "
            f"({parts.n_clusters} clusters), no small-sample factor{_as(self, parts)}"
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
        return self.factor(parts) * parts.sandwich()

    #: what it reproduces, by ``SandwichParts.model``
    matches: ClassVar[dict[str, str]] = {"glm": "as sandwich::vcovCL defaults for glm"}

    def describe(self, parts: SandwichParts) -> str:
        if parts.cluster is None:
            return "Std. errors: robust sandwich x n/(n-1)"
        return (
            f"Std. errors: cluster-robust sandwich by {parts.cluster!r} "
            f"({parts.n_clusters} clusters) x G/(G-1){_as(self, parts)}"
        )


@dataclass(frozen=True, repr=False)
class CR1S(CR1):
    """The robust sandwich times ``G/(G-1) x (n-1)/(n-k)``: the linear-regression factor.

    ``sandwich::vcovCL(type = "HC1")`` (its default for ``lm`` objects) and Stata's
    ``regress, vce(cluster)`` (Stata's maximum-likelihood commands use ``G/(G-1)`` alone,
    i.e. ``"cr1"``).  Without a cluster variable the factor is ``n/(n-k)``, i.e. HC1.
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

    matches: ClassVar[dict[str, str]] = {"glm": "as Stata's regress, sandwich::vcovCL type HC1"}

    def describe(self, parts: SandwichParts) -> str:
        if parts.cluster is None:
            return "Std. errors: robust sandwich x n/(n-k) (HC1)"
        return (
            f"Std. errors: cluster-robust sandwich by {parts.cluster!r} "
            f"({parts.n_clusters} clusters) x G/(G-1) x (n-1)/(n-k){_as(self, parts)}"
        )


@dataclass(frozen=True, repr=False)
class ModelBased(CovarianceEstimator):
    """Inverse information times the dispersion: ``phi A^-1``.

    By default ``phi`` is estimated as Pearson chi2 / residual df, as R's ``glm`` does for
    the quasi families (``quasibinomial``, ``quasipoisson``) and for ``gaussian`` (where it
    is the weighted residual variance).  ``ModelBased(dispersion=1.0)`` gives R's ``binomial``
    and ``poisson`` standard errors.  With IP weights neither accounts for clustering of rows
    within subjects; use ``"robust"`` for inference.

    With an estimated dispersion the variance does not change when every weight is multiplied
    by the same constant (``phi`` grows with the weights as ``A`` does).  A fixed dispersion
    treats the weights as case counts, as R and statsmodels do: multiplying them by ``c``
    divides the variance by ``c``.
    """

    dispersion: float | None = None
    name: ClassVar[str] = "model"

    def value(self, parts: SandwichParts) -> float:
        """The dispersion, on the scale of the weights given."""
        if self.dispersion is None:
            return parts.dispersion / parts.weight_scale
        return float(self.dispersion)

    def cov(self, parts: SandwichParts) -> np.ndarray:
        if self.dispersion is None:
            if not np.isfinite(parts.dispersion):
                raise ValueError(
                    f"variance 'model' needs an estimated dispersion, but there are no residual "
                    f"degrees of freedom ({parts.n_obs} rows, {parts.n_params} parameters); "
                    "use ModelBased(dispersion=...) to fix it"
                )
            # both on the scale of parts.information: the weight scale cancels
            return parts.dispersion * parts.bread
        # a fixed dispersion: the weights are case counts, on the scale given
        return float(self.dispersion) * parts.weight_scale * parts.bread

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
        system = parts.stacked()
        try:
            return system.outcome_cov()
        except np.linalg.LinAlgError:
            pass
        # which model's block has no inverse (a separated or collinear weight model)?
        bad, start = [], 0
        keys = [name.split(":", 1)[0] for name in system.names[: -system.n_outcome]]
        for key in dict.fromkeys(keys):
            size = keys.count(key)
            if _ill_conditioned(system.information[start : start + size, start : start + size]):
                bad.append(key)
            start += size
        involved = [n.split(":", 1)[1] for n in system.names if n.split(":", 1)[0] in bad]
        where = (
            f"the {', '.join(bad)} model's information is singular (its columns {involved}: "
            "a treatment or censoring model separated or collinear on its rows: see its "
            "SeparationWarning)"
            if bad
            else "the stacked information is singular"
        )
        raise DataError(
            None,
            f"variance='stacked': {where}, so the stacked sandwich does not exist; simplify "
            "that model, or use variance='robust' or the bootstrap",
        )

    def describe(self, parts: SandwichParts) -> str:
        system = parts.stacked()
        return (
            f"Std. errors: stacked estimating equations ({len(system.names) - system.n_outcome}"
            f" weight-model parameters estimated jointly), clustered by subject "
            f"({system.n_subjects} subjects)"
        )


@dataclass(frozen=True, repr=False)
class Bootstrap(CovarianceEstimator):
    """The covariance of cluster-bootstrap replicates of the coefficients.

    ``fit.with_variance(Bootstrap(boot))`` reports a fit with the standard errors of
    ``boot = msm.bootstrap(...)``, whose statistic returned the same model's ``params``
    (re-estimating the weights in each replicate, so the variance accounts for them).

    Attributes
    ----------
    results : msm.inference.BootstrapResults or None
        The replicates (typed loosely: ``resampling`` builds on this module, not the reverse).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(100), 3), "x": rng.normal(size=300)})
    >>> df["y"] = df["x"] + rng.normal(size=300)
    >>> boot = msm.bootstrap(lambda d: msm.glm("y ~ x", d).params, df, cluster="id",
    ...                      n_boot=50, seed=1, n_jobs=1, progress=False)
    >>> fit = msm.glm("y ~ x", df, cluster="id").with_variance(Bootstrap(boot))
    >>> fit.variance, bool(np.allclose(fit.bse, boot.bse))
    ('bootstrap', True)
    """

    results: object | None = None  # a BootstrapResults
    name: ClassVar[str] = "bootstrap"

    def cov(self, parts: SandwichParts) -> np.ndarray:
        if self.results is None:
            raise ValueError(
                "variance='bootstrap' needs the replicates: run boot = msm.bootstrap(...) with "
                "a statistic returning the fit's params, then fit.with_variance(Bootstrap(boot))"
            )
        names = list(self.results.estimate.index)
        if names != list(parts.names):
            raise ValueError(
                f"the bootstrap replicates are of {names}, but the model's parameters are "
                f"{list(parts.names)}"
            )
        return self.results.cov.to_numpy()

    def describe(self, parts: SandwichParts) -> str:
        r = self.results
        return (
            f"Std. errors: cluster bootstrap by {r.cluster!r} ({r.n_clusters} clusters, "
            f"{r.n_succeeded} replicates, seed {r.seed})"
        )

    def __repr__(self) -> str:
        return (
            "Bootstrap()"
            if self.results is None
            else f"Bootstrap(<{self.results.n_succeeded} replicates>)"
        )


COVARIANCE_ESTIMATORS: dict[str, type[CovarianceEstimator]] = {
    "robust": Robust,
    "cr0": Robust,
    "cr1": CR1,
    "cr1s": CR1S,
    "model": ModelBased,
    "stacked": Stacked,
    "bootstrap": Bootstrap,
}


def covariance_estimator(
    variance: str | CovarianceEstimator, supported: Sequence[str] | None = None, note: str = ""
) -> CovarianceEstimator:
    """The estimator for ``variance=``: a key of COVARIANCE_ESTIMATORS or an instance.

    ``supported``: the keys a model offers (None: all); another estimator of the registry is
    a ValueError listing them, followed by ``note`` (why the others are not offered).

    Examples
    --------
    >>> covariance_estimator("cr1").name
    'cr1'
    >>> covariance_estimator("stacked", ["robust", "model"])
    Traceback (most recent call last):
    ...
    ValueError: variance must be one of 'robust', 'model' (or a CovarianceEstimator of ...
    """
    keys = list(COVARIANCE_ESTIMATORS) if supported is None else list(supported)
    estimator = None
    if isinstance(variance, CovarianceEstimator):
        estimator = variance
    elif isinstance(variance, type) and issubclass(variance, CovarianceEstimator):
        estimator = variance()
    elif str(variance).lower() in COVARIANCE_ESTIMATORS:
        estimator = COVARIANCE_ESTIMATORS[str(variance).lower()]()
    offered = {COVARIANCE_ESTIMATORS[key].name for key in keys}
    if estimator is None or (supported is not None and estimator.name not in offered):
        those = "" if supported is None else " of those"
        raise ValueError(
            f"variance must be one of {', '.join(map(repr, keys))} (or a CovarianceEstimator"
            f"{those}); got {variance!r}{'' if estimator is None else note}"
        )
    return estimator


def _as(estimator: CovarianceEstimator, parts: SandwichParts) -> str:
    """`` (as <the R function it reproduces for this kind of model>)``, or nothing."""
    match = getattr(estimator, "matches", {}).get(parts.model)
    return f" ({match})" if match else ""


def _need_clusters(parts: SandwichParts, name: str, minimum: int) -> None:
    if parts.n_clusters <= minimum:
        what = f"clusters of {parts.cluster!r}" if parts.cluster else "rows"
        raise ValueError(
            f"variance {name!r} needs more than {minimum} {what} with positive weight; "
            f"got {parts.n_clusters}"
        )


# ---------------------------------------------------------------------------------------------
# the cluster bootstrap

#: Warnings that make a bootstrap replicate count as failed (its estimate is not trusted).


def check_alpha(alpha) -> float:
    """``alpha`` as a float in (0, 1): TypeError for a non-number, ValueError outside.

    Examples
    --------
    >>> check_alpha(0.1)
    0.1
    """
    if isinstance(alpha, bool | np.bool_) or not isinstance(
        alpha, int | float | np.integer | np.floating
    ):
        raise TypeError(
            f"alpha must be a number in (0, 1) (1 - the confidence level), got alpha={alpha!r} "
            f"of type {type(alpha).__name__}"
        )
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got alpha={alpha!r}")
    return float(alpha)
