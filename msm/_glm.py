"""GLMs by Newton/IRLS (Fisher scoring for non-canonical links) on the numba pass: the one
fitting engine.

Private, arrays in and out.  Used by the logistic treatment and censoring models
(``msm.models.logit``) and by the weighted outcome GLM (``msm.outcome.glm_model``), so there is one
Newton loop, one collinearity check and one set of convergence and separation warnings.

Each iteration is one fused kernel pass (deviance, Pearson chi-square, score and information
together, ``msm._kernels.glm``).  Steps are halved until the deviance does not rise; the fit
has converged when the next Newton step is below ``tol * (1 + max |beta|)``, so every quantity
returned belongs to the returned ``beta``.

A non-canonical link (``link=``: binomial identity, log, probit, cloglog; poisson identity)
is fitted by Fisher scoring (the expected information, R's working weights
``w mu'^2 / V(mu)``) from R's starting values, and a step whose fitted means leave the
family's range (binomial (0, 1), poisson (0, inf)) is halved until they are back inside, as R's
``glm.fit`` does (its ``validmu``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg

from msm import _kernels
from msm._warnings import PROBABILITY_EPS, ConvergenceWarning, SeparationWarning, warn
from msm.panel import DataError

GAUSSIAN = _kernels.GAUSSIAN
BINOMIAL = _kernels.BINOMIAL
POISSON = _kernels.POISSON
IDENTITY = _kernels.IDENTITY
LOG = _kernels.LOG
LOGIT = _kernels.LOGIT
PROBIT = _kernels.PROBIT
CLOGLOG = _kernels.CLOGLOG
#: the canonical link of each family (fitted by the canonical pass: ``link=None``)
CANONICAL_LINK = {GAUSSIAN: IDENTITY, BINOMIAL: LOGIT, POISSON: LOG}


@dataclass(frozen=True, eq=False)
class Centring:
    """A design centred for accuracy, and a fit's coefficients on it.

    A covariate far from 0 relative to its spread (``l + 1e5``, ``l * 1e-6 + 1e8``) loses
    the digits of its spread in ``X'WX`` and in ``X beta`` (the intercept then cancels most
    of the covariate's term).  The fit is computed on ``Xc = X - 1 centre'`` (the intercept
    column kept at 1; see ``centring_transform``), whose coefficients ``beta`` map to those of
    ``X`` by ``A``.  Linear predictors, scores, information and covariances computed on
    ``Xc`` keep the digits; map covariances back with ``map_back``.

    Attributes
    ----------
    centre : ndarray
        Column centres, 0 at the intercept.
    intercept : int
        The intercept's column.
    beta : ndarray
        The coefficients on the centred design.
    information : ndarray or None
        The information on the centred design, computed there (None when not kept).
    """

    centre: np.ndarray
    intercept: int
    beta: np.ndarray
    information: np.ndarray | None = None

    def transform(self) -> np.ndarray:
        """``A`` with (coefficients of ``X``) = ``A`` @ (coefficients of ``Xc``)."""
        return centring_transform(self.centre, self.intercept)

    def design(self, X: np.ndarray) -> np.ndarray:
        """``Xc``: ``X`` centred (any rows with the same columns)."""
        return centre_design(X, self.centre, self.intercept)

    def linear_predictor(self, X: np.ndarray) -> np.ndarray:
        """``X beta_X`` computed as ``Xc beta``: accurate where ``X beta_X`` cancels."""
        return self.design(X) @ self.beta


@dataclass(frozen=True, eq=False)
class GLMFit:
    """The estimate and what the last kernel pass computed at it."""

    beta: np.ndarray
    mu: np.ndarray  # fitted means, one per row
    deviance: float
    pearson: float
    information: np.ndarray  # X' diag(w v(mu)) X at beta
    mu_min: float
    mu_max: float
    converged: bool
    n_iter: int
    # convergence="r": the means at which ``information`` was computed (R's working weights
    # come from them), else None
    mu_lagged: np.ndarray | None = None
    # the inverse of ``information`` when the fit was computed on the centred design (the
    # inverse is then taken there, where it is well conditioned), else None
    covariance: np.ndarray | None = None
    # the centred design the fit was computed on (its centre, coefficients and information),
    # else None: a sandwich accurate to the same digits takes its meat from the centred
    # design and maps the covariance back (cov = A cov_centred A'; ``centring_transform``)
    centring: Centring | None = None
    # a non-canonical link: each row's mu'(eta) / V(mu) at the estimate (its score row is
    # w (y - mu) score_factor x, and ``information`` the expected one); None for a canonical
    # link, where it is 1
    score_factor: np.ndarray | None = None

    def inverse_information(self) -> np.ndarray:
        """The model-based covariance ``information^-1`` (a pseudo-inverse when singular).

        For a design centred for accuracy (a covariate far from 0 relative to its spread) it
        is the inverse on the centred design, transformed back: accurate where inverting
        ``information`` itself would lose the digits of the spread.
        """
        if self.covariance is not None:
            return self.covariance
        return inverse(self.information)

    @property
    def centre(self) -> np.ndarray | None:
        """The column centres of the centred design the fit was computed on, else None."""
        return None if self.centring is None else self.centring.centre

    def centred_design(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the fit was computed on: centred when the fit was, else ``X`` itself."""
        return X if self.centring is None else self.centring.design(X)


def inverse(info: np.ndarray) -> np.ndarray:
    """Inverse of an information matrix; a pseudo-inverse when it is singular (separation)."""
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(info)


def centring_transform(centre: np.ndarray, intercept: int) -> np.ndarray:
    """``A = I - e_intercept centre'``: coefficients of ``X`` from those of the centred design.

    The centred design is ``Xc = X - 1 centre'`` (``centre[intercept] = 0``, so its intercept
    column stays 1), i.e. row by row ``xc = A' x``.  Then ``Xc gamma = X A gamma``, so the
    coefficients of ``X`` are ``beta = A gamma``; scores and information transform as
    ``psi_c = A' psi`` and ``I_c = A' I A``, and any covariance (model-based or sandwich)
    computed on the centred design maps back as ``cov = A cov_c A'``.

    Examples
    --------
    >>> centring_transform(np.array([0.0, 1e5]), 0)
    array([[ 1.e+00, -1.e+05],
           [ 0.e+00,  1.e+00]])
    """
    A = np.eye(centre.size)
    A[intercept] -= centre
    return A


def accuracy_centre(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``(centre, intercept)`` when a design with an intercept needs centring, else None.

    The rule ``fit_glm`` applies to its starting information: some column's weighted
    variance over the rows with ``w > 0`` is below ``SHIFTED`` times its weighted mean square
    (``l + 1e5``).  The centre is the weighted column means (0 for the intercept).  For
    computations beside a fit (the stacked sandwich's weight models): any centre near the
    means gives the same numbers mathematically, and the digits of the spread.
    """
    intercept = _intercept_column(X)
    positive = w > 0
    if intercept is None or X.shape[1] < 2 or not positive.any():
        return None
    others = [j for j in range(X.shape[1]) if j != intercept]
    fitted = X[positive][:, others]
    weight = w[positive]
    mean = np.average(fitted, axis=0, weights=weight)
    spread = np.average((fitted - mean) ** 2, axis=0, weights=weight)
    square = np.average(fitted * fitted, axis=0, weights=weight)
    if not np.any(spread < SHIFTED * square):
        return None
    centre = np.zeros(X.shape[1])
    centre[others] = mean
    return centre, intercept


def centre_design(X: np.ndarray, centre: np.ndarray, intercept: int) -> np.ndarray:
    """``X - centre`` with the intercept column kept at exactly 1 (C-contiguous)."""
    Xc = np.ascontiguousarray(X - centre)
    Xc[:, intercept] = 1.0
    return Xc


def map_back(A: np.ndarray, cov_centred: np.ndarray) -> np.ndarray:
    """``A cov_centred A'``, symmetrized: a covariance on the centred design mapped back."""
    cov = A @ cov_centred @ A.T
    return (cov + cov.T) / 2.0


def uncentred_form(A: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """``A^-T M_c A^-1``, symmetrized: an information or meat of ``X`` from the centred one."""
    A_inv = 2.0 * np.eye(A.shape[0]) - A  # (I - e c')^-1 = I + e c' (c_intercept = 0)
    form = A_inv.T @ centred @ A_inv
    return (form + form.T) / 2.0


# A column whose weighted variance is below this fraction of its weighted mean square (a
# calendar year, a covariate at 1e8) loses the digits of its spread to cancellation in
# X'WX; the fit is then computed on the design centred at the column means (the estimates
# of a model with an intercept do not depend on it) and transformed back.
SHIFTED = 1e-3
# On a centred design, a column whose variance is below this fraction of its mean square is
# constant on the rows fitted, to rounding.
CONSTANT = 1e-10


class NeedsCentring(Exception):
    """Raised by the rank check when the design must be centred for an accurate fit."""


def start_intercept(family: int, y: np.ndarray, w: np.ndarray, offset: np.ndarray) -> float:
    """Intercept at which the fitted mean is the weighted mean outcome."""
    # elementwise sums, not np.dot: waking BLAS threads for a dot product costs milliseconds
    total = w.sum()
    if family == BINOMIAL:
        ybar = (w * y).sum() / total
        return float(np.log(ybar / (1.0 - ybar)) - (w * offset).sum() / total)
    if family == POISSON:
        return float(np.log((w * y).sum() / (w * np.exp(offset)).sum()))
    return float((w * (y - offset)).sum() / total)


def fit_glm(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    offset: np.ndarray,
    family: int,
    names: list[str],
    model_name: str,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
    convergence: str = "full",
    require_variance: bool = False,
    link: int | None = None,
    row_runs: np.ndarray | None = None,
) -> GLMFit:
    """Fit a weighted GLM; warn (naming ``model_name``) when in trouble.

    Raises DataError naming the columns when the design is collinear (or a column all zero)
    on the rows with positive weight, or when a column's magnitude is outside what double
    precision can hold in the information (``check_magnitude``).  With
    ``require_variance`` (the outcome model, whose covariance is reported), a likelihood
    that is monotone (complete separation: Newton stops where the information is singular)
    is a DataError naming the covariate that runs off; otherwise (a treatment model, whose
    weights are still defined) it is a warning.  Warns ``ConvergenceWarning`` when
    ``max_iter`` Newton iterations do not converge and, for the binomial family,
    ``SeparationWarning`` when fitted probabilities reach 0 or 1 numerically; both name the
    covariates with the largest standardized coefficients.

    ``convergence="full"`` iterates until the Newton step is below ``tol`` (relative);
    ``convergence="r"`` replays R's ``glm.fit``: start from ``mustart``, stop when the
    deviance changes by less than 1e-8 relative, and report the information at the iterate
    before the last (from which R's standard errors come), so estimates and standard errors
    equal R's to rounding.

    With an intercept the fit is shift-invariant: the rank is judged on the centred
    information (the Schur complement of the intercept), and when a covariate lies far from
    0 relative to its spread (``l + 1e5``) the fit is computed on the design centred at the
    weighted column means and transformed back, so only real collinearity is reported and
    the estimates keep their digits.

    ``link``: a link code (``msm._kernels.IDENTITY``, ``LOG``, ``LOGIT``, ``PROBIT``,
    ``CLOGLOG``); None or the family's canonical link fits the canonical model.  A
    non-canonical link is fitted by Fisher scoring with steps halved to keep the fitted
    means inside the family's range (``_fit_link``); ``convergence="r"`` is for canonical
    links only (ValueError).

    ``row_runs`` (int64 run boundaries, runs + 1, from 0 to n): the rows come in runs on
    which some columns may be constant (a sequential trial's rows: the intercept,
    ``assigned``, ``trial`` and the baseline covariates).  The columns that are, checked
    here, let each Newton pass of a canonical link with ``convergence="full"`` sum a run
    once for them (``msm._kernels.glm_block_pass``): the same fit to rounding, several
    times fewer multiply-adds per row.
    """
    max_iter, tol, convergence = check_fit_options(max_iter, tol, convergence)
    if link is not None and link == CANONICAL_LINK.get(family):
        link = None
    if link is not None and convergence == "r":
        raise ValueError(
            "convergence='r' replays R's IRLS path for canonical links only; a non-canonical "
            "link is fitted to full convergence (convergence='full')"
        )
    intercept = _intercept_column(X)
    check_magnitude(X, w, names, model_name, intercept)
    k = outcome_exponent(family, y, w, model_name) if family == GAUSSIAN else 0
    if k:  # a gaussian outcome near 0 (|y| < 2**-20): fit y * 2**k, exactly, and map back
        fit = fit_glm(
            X,
            np.ldexp(y, k),
            w,
            np.ldexp(offset, k),
            family,
            names,
            model_name,
            max_iter=max_iter,
            tol=tol,
            convergence=convergence,
            require_variance=require_variance,
        )
        return _outcome_scaled_back(fit, k)
    args = (X, y, w, offset, family, names, model_name, max_iter, tol)
    runs = row_runs if link is None and convergence == "full" else None
    try:
        return _fit(*args, convergence, intercept, intercept is not None, require_variance, link,
                    runs)  # fmt: skip
    except NeedsCentring:
        pass
    return _fit_centred(*args, convergence, intercept, require_variance, link, runs)


# A gaussian outcome whose largest |value| is below 2**-SMALL_OUTCOME has coefficients so
# small that the convergence rule's absolute floor (tol * (1 + max |beta|)) would stop at the
# start; it is fitted times a power of two (identity link: every coefficient scales with y).
SMALL_OUTCOME = 20


def outcome_exponent(
    family: int, y: np.ndarray, w: np.ndarray, model_name: str, column: str | None = None
) -> int:
    """``k`` with the gaussian outcome fitted as ``y * 2**k`` (0: as given).

    DataError (naming ``column``) when ``|y|`` on the rows fitted is beyond ``MAGNITUDE``
    (its deviance ~y**2 or its variance would under- or overflow).
    """
    positive = w > 0
    fitted = y if positive.all() else y[positive]
    if fitted.size == 0:
        return 0
    size = float(np.max(np.abs(fitted)))
    if size == 0 or MAGNITUDE[0] <= size <= MAGNITUDE[1]:
        if size == 0 or size >= 2.0**-SMALL_OUTCOME:
            return 0
        return -int(np.frexp(size)[1])  # y * 2**k in [0.5, 1)
    raise DataError(
        column,
        f"{model_name}: the outcome lies on a scale outside what the fit can represent in "
        f"double precision (largest |value| ~{size:.0e}; its deviance ~y**2 would under- or "
        f"overflow; |values| from {MAGNITUDE[0]:.0e} to {MAGNITUDE[1]:.0e} are fine); rescale it "
        "to sensible units first, e.g. y / y.std()",
    )


def _outcome_scaled_back(fit: GLMFit, k: int) -> GLMFit:
    """A gaussian fit of ``y * 2**k`` as the fit of ``y`` (exact: powers of two)."""
    centring = fit.centring
    if centring is not None:
        centring = Centring(
            centring.centre, centring.intercept, np.ldexp(centring.beta, -k), centring.information
        )
    return GLMFit(
        beta=np.ldexp(fit.beta, -k),
        mu=np.ldexp(fit.mu, -k),
        deviance=float(np.ldexp(fit.deviance, -2 * k)),
        pearson=float(np.ldexp(fit.pearson, -2 * k)),
        information=fit.information,  # X' W X: does not depend on y
        mu_min=float(np.ldexp(fit.mu_min, -k)),
        mu_max=float(np.ldexp(fit.mu_max, -k)),
        converged=fit.converged,
        n_iter=fit.n_iter,
        mu_lagged=None if fit.mu_lagged is None else np.ldexp(fit.mu_lagged, -k),
        covariance=fit.covariance,
        centring=centring,
    )


def check_fit_options(max_iter, tol, convergence="full") -> tuple:
    """``(max_iter, tol, convergence)`` checked: TypeError or ValueError naming the argument.

    ``max_iter`` an integer >= 1, ``tol`` a finite number > 0, ``convergence`` ``"full"`` or
    ``"r"``.  Shared by ``msm.glm``, ``msm.cox`` and the engine, so
    a bad value fails before any work.

    Examples
    --------
    >>> check_fit_options(50, 1e-10, "full")
    (50, 1e-10, 'full')
    >>> check_fit_options(0, 1e-10)
    Traceback (most recent call last):
    ...
    ValueError: max_iter must be an integer >= 1 (the most Newton iterations), got max_iter=0
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer):
        raise TypeError(
            f"max_iter must be an integer >= 1 (the most Newton iterations), got "
            f"max_iter={max_iter!r} of type {type(max_iter).__name__}"
        )
    if max_iter < 1:
        raise ValueError(
            "max_iter must be an integer >= 1 (the most Newton iterations), got "
            f"max_iter={max_iter!r}"
        )
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.integer | np.floating):
        raise TypeError(
            f"tol must be a positive finite number (the relative convergence tolerance), got "
            f"tol={tol!r} of type {type(tol).__name__}"
        )
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(
            f"tol must be a positive finite number (the relative convergence tolerance), got "
            f"tol={tol!r}"
        )
    if not isinstance(convergence, str) or convergence not in ("full", "r"):
        raise ValueError(f"convergence must be 'full' or 'r', got convergence={convergence!r}")
    return int(max_iter), float(tol), convergence


def check_column_name(value, argument: str) -> None:
    """``value`` (an argument that names a column) is None or a column label, not data.

    TypeError naming ``argument`` for a list, Series, array or any other value that is not a
    column label (a column is passed by name: ``cluster="id"``, not ``cluster=data["id"]``).
    Whether the column exists is checked against the data (``msm.panel.check_columns_exist``).

    Examples
    --------
    >>> check_column_name(["id"], "cluster")
    Traceback (most recent call last):
    ...
    TypeError: cluster must be the name of a column (e.g. cluster='id'), got a list
    """
    if value is None:
        return
    if isinstance(value, pd.Series | pd.Index | np.ndarray | list | dict | set):
        name = value.name if isinstance(value, pd.Series) and value.name is not None else "id"
        raise TypeError(
            f"{argument} must be the name of a column (e.g. {argument}={name!r}), got a "
            f"{type(value).__name__}"
        )
    if isinstance(value, bool | float | np.bool_) or not isinstance(value, Hashable):
        raise TypeError(
            f"{argument} must be the name of a column, got {value!r} of type {type(value).__name__}"
        )


# A column whose largest |value| on the rows fitted is outside this range puts X'WX (~x**2)
# or the covariance (~1/x**2) outside double precision (about 1e-308 .. 1e308): the fit
# would call it "all zero" or "constant".  Within it the fit is scale-invariant to rounding
# (the engine is: scaling a column by a power of two scales its coefficient exactly).
MAGNITUDE = (1e-150, 1e150)


def check_magnitude(
    X: np.ndarray, w: np.ndarray, names: list[str], model_name: str, intercept: int | None
) -> None:
    """DataError naming columns whose magnitude (rows with ``w > 0``) is out of ``MAGNITUDE``.

    Columns that are 0 on every row fitted are left to the rank check (they are "all zero").
    """
    if X.size == 0:
        return
    size = _kernels.column_abs_max(np.ascontiguousarray(X), np.ascontiguousarray(w, np.float64))
    check_column_sizes(size, names, model_name, intercept)


def check_column_sizes(
    size: np.ndarray, names: list[str], model_name: str, intercept: int | None
) -> None:
    """``check_magnitude`` from each column's largest ``|value|`` on the rows fitted (so a
    distributed front end can reduce the sizes over partitions first)."""
    bad = (size > 0) & ((size < MAGNITUDE[0]) | (size > MAGNITUDE[1]))
    if intercept is not None:
        bad[intercept] = False
    if bad.any():
        where = np.flatnonzero(bad)
        shown = ", ".join(f"{names[j]!r} (largest |value| ~{size[j]:.0e})" for j in where)
        raise DataError(
            names[where[0]],
            f"{model_name}: column(s) {shown} lie on a scale outside what the fit can "
            "represent in double precision (their information ~x**2 or variance ~1/x**2 "
            f"would under- or overflow; |values| from {MAGNITUDE[0]:.0e} to {MAGNITUDE[1]:.0e} "
            "are fine); rescale them to sensible units first, e.g. x / x.std()",
        )


def _fit_centred(
    X,
    y,
    w,
    offset,
    family,
    names,
    model_name,
    max_iter,
    tol,
    convergence,
    intercept,
    require_variance=False,
    link=None,
    row_runs=None,
) -> GLMFit:
    """``_fit`` on the design centred at the weighted column means, transformed back.

    Raises DataError naming the columns that are constant on the rows fitted.
    """
    positive = w > 0
    others = [j for j in range(X.shape[1]) if j != intercept]
    fitted = X[positive][:, others]
    check_not_constant(
        np.ptp(fitted, axis=0) == 0, [names[j] for j in others], model_name, int(positive.sum())
    )
    centre = np.zeros(X.shape[1])
    centre[others] = np.average(fitted, axis=0, weights=w[positive])
    fit = _fit(
        centre_design(X, centre, intercept),
        y,
        w,
        offset,
        family,
        names,
        model_name,
        max_iter,
        tol,
        convergence,
        intercept,
        False,
        require_variance,
        link,
        row_runs,
    )
    return uncentre(fit, centre, intercept)


def check_not_constant(constant, names: list[str], model_name: str, n_fit: int) -> None:
    """DataError naming the columns flagged ``constant`` (on the ``n_fit`` rows fitted)."""
    bad = [name for name, c in zip(names, constant) if c]
    if bad:
        raise DataError(
            bad[0],
            f"{model_name}: column(s) {bad} are constant on the {n_fit} rows fitted "
            "(collinear with the intercept: they carry no information)",
        )


def uncentre(fit: GLMFit, centre: np.ndarray, intercept: int) -> GLMFit:
    """A fit computed on the design centred at ``centre``, transformed back to ``X``."""
    # beta = A gamma with A = I - e0 centre' (e0 the intercept)
    A = centring_transform(centre, intercept)
    beta = fit.beta.copy()
    beta[intercept] -= centre @ fit.beta
    return GLMFit(
        beta=beta,
        mu=fit.mu,
        deviance=fit.deviance,
        pearson=fit.pearson,
        information=uncentred_form(A, fit.information),
        mu_min=fit.mu_min,
        mu_max=fit.mu_max,
        converged=fit.converged,
        n_iter=fit.n_iter,
        mu_lagged=fit.mu_lagged,
        covariance=map_back(A, inverse(fit.information)),
        centring=Centring(centre, intercept, fit.beta, fit.information),
        score_factor=fit.score_factor,
    )


def _fit(
    X,
    y,
    w,
    offset,
    family,
    names,
    model_name,
    max_iter,
    tol,
    convergence,
    intercept,
    shifted_ok,
    require_variance=False,
    link=None,
    row_runs=None,
) -> GLMFit:
    """One fit on the design as given (``shifted_ok``: may raise ``NeedsCentring``)."""
    n, p = X.shape
    if link is not None:
        return _fit_link(
            X, y, w, offset, family, link, names, model_name, max_iter, tol, intercept,
            shifted_ok, require_variance,
        )  # fmt: skip
    if convergence == "r":
        return _fit_like_r(
            X,
            y,
            w,
            offset,
            family,
            names,
            model_name,
            max_iter,
            intercept,
            shifted_ok,
        )
    mu = np.empty(n)
    start = np.zeros(p)
    column_sd = functools.cache(lambda: X.std(axis=0) if n > 1 else np.ones(p))  # if needed
    if intercept is not None and w.sum() > 0:
        start[intercept] = start_intercept(family, y, w, offset)

    glm_pass = _run_pass(X, y, w, offset, family, mu, row_runs)
    beta, last, converged, n_iter = newton(
        glm_pass,
        start,
        names,
        model_name,
        family,
        warm=_warm_start(X, y, w, offset, family, names, model_name, start),
        suspects=lambda b: suspects(b, column_sd(), names),
        max_iter=max_iter,
        tol=tol,
        intercept=intercept,
        shifted_ok=shifted_ok,
        on_singular=(
            functools.partial(raise_monotone, column_sd, names, model_name)
            if require_variance
            else None
        ),
    )
    deviance, pearson, _, info, mu_min, mu_max = last
    return GLMFit(
        beta=beta,
        mu=mu,
        deviance=float(deviance),
        pearson=float(pearson),
        information=info,
        mu_min=float(mu_min),
        mu_max=float(mu_max),
        converged=converged,
        n_iter=n_iter,
    )


def _run_pass(X, y, w, offset, family, mu, row_runs) -> Callable[[np.ndarray], tuple]:
    """The fused pass at ``beta``: by runs (``glm_block_pass``) when ``row_runs`` holds at
    least two columns constant on every run, else row by row (``glm_irls_pass``)."""
    if row_runs is not None:
        constant = _kernels.constant_columns(X, row_runs)
        if np.count_nonzero(constant) >= 2:
            fixed = np.flatnonzero(constant).astype(np.int64)
            free = np.flatnonzero(~constant).astype(np.int64)

            def by_runs(beta: np.ndarray) -> tuple:
                return _kernels.glm_block_pass(
                    X, y, w, offset, beta, family, mu, row_runs, fixed, free
                )

            return by_runs

    def by_rows(beta: np.ndarray) -> tuple:
        return _kernels.glm_irls_pass(X, y, w, offset, beta, family, mu)

    return by_rows


#: link names by code, for messages
LINK_NAMES = {IDENTITY: "identity", LOG: "log", LOGIT: "logit", PROBIT: "probit",
              CLOGLOG: "cloglog"}  # fmt: skip


def link_function(mu: np.ndarray, link: int) -> np.ndarray:
    """``eta = g(mu)`` for a link code (``msm._kernels.IDENTITY`` ...), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if link == IDENTITY:
            return np.asarray(mu, dtype=np.float64).copy()
        if link == LOG:
            return np.log(mu)
        if link == LOGIT:
            return np.log(mu / (1.0 - mu))
        if link == PROBIT:
            return scipy.special.ndtri(mu)
        return np.log(-np.log1p(-mu))  # CLOGLOG


def link_mean(eta: np.ndarray, link: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, dmu/deta)`` elementwise for a link code, with R's clamps for probit and cloglog
    (as the kernel's ``link_mean``, in numpy)."""
    eta = np.asarray(eta, dtype=np.float64)
    eps = _kernels.DOUBLE_EPS
    with np.errstate(over="ignore", under="ignore"):
        if link == IDENTITY:
            return eta.copy(), np.ones_like(eta)
        if link == LOG:
            mu = np.exp(eta)
            return mu, mu
        if link == LOGIT:
            mu = scipy.special.expit(eta)
            return mu, mu * scipy.special.expit(-eta)
        if link == PROBIT:
            thresh = _kernels.PROBIT_THRESH
            mu = scipy.special.ndtr(np.clip(eta, -thresh, thresh))
            return mu, np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi), eps)
        mu = np.clip(-np.expm1(-np.exp(eta)), eps, 1.0 - eps)  # CLOGLOG
        capped = np.minimum(eta, 700.0)
        return mu, np.maximum(np.exp(capped) * np.exp(-np.exp(capped)), eps)


# a fitted mean this close to the edge of its range (relative to the mean outcome, for
# poisson) puts the estimate on the boundary of the parameter space
BOUNDARY_GAP = 1e-8


def _near_boundary(family: int, link: int, mu, y, w) -> int:
    """Rows with positive weight whose fitted mean is within ``BOUNDARY_GAP`` of an edge of
    the range that ``link`` can cross (identity: both; log: 1 for the binomial)."""
    fitted = mu[w > 0]
    if family == BINOMIAL and link == IDENTITY:
        return int(np.sum((fitted < BOUNDARY_GAP) | (fitted > 1.0 - BOUNDARY_GAP)))
    if family == BINOMIAL and link == LOG:
        return int(np.sum(fitted > 1.0 - BOUNDARY_GAP))
    if family == POISSON and link == IDENTITY:
        scale = max(float(np.average(y[w > 0], weights=w[w > 0])), 1e-300)
        return int(np.sum(fitted < BOUNDARY_GAP * scale))
    return 0


def _range_of(family: int) -> str:
    return "(0, 1)" if family == BINOMIAL else "(0, inf)" if family == POISSON else "the reals"


def _r_link_start(X, y, w, offset, family, link, names, model_name, intercept, shifted_ok):
    """R's start for a non-canonical link: one weighted least-squares step from
    ``family$initialize``'s ``mustart`` (binomial ``(w y + 1/2) / (w + 1)``, poisson
    ``y + 1/10``), at which the rank of the design is judged."""
    if family == BINOMIAL:
        mu0 = (w * y + 0.5) / (w + 1.0)
    elif family == POISSON:
        mu0 = y + 0.1
    else:
        mu0 = y.astype(np.float64)
    eta0 = link_function(mu0, link)
    _, d0 = link_mean(eta0, link)
    W0 = w * d0 * d0 / variance_function(family, mu0)
    info0 = _kernels.weighted_crossprod(X, W0)
    _check_collinearity(info0, names, model_name, intercept, shifted_ok)
    z = eta0 - offset + (y - mu0) / d0
    try:
        beta = np.linalg.solve(info0, X.T @ (W0 * z))
    except np.linalg.LinAlgError:  # passed the rank check, yet singular to rounding
        return None
    return beta if np.all(np.isfinite(beta)) else None


def _fit_link(
    X, y, w, offset, family, link, names, model_name, max_iter, tol, intercept, shifted_ok,
    require_variance,
) -> GLMFit:  # fmt: skip
    """Fisher scoring for a non-canonical link, keeping the fitted means inside the range.

    Starts from R's start (``_r_link_start``) when its fitted means are inside the family's
    range, else from the intercept-only fit (mean outcome), else raises DataError naming
    the model.  Steps whose fitted means leave the range are halved (R's ``validmu``); a fit
    that stays pressed against the boundary warns ``ConvergenceWarning`` naming the model.
    """
    n, p = X.shape
    mu = np.empty(n)
    factor = np.empty(n)
    column_sd = functools.cache(lambda: X.std(axis=0) if n > 1 else np.ones(p))
    state = {"at": None, "left": False}
    link_name = LINK_NAMES[link]
    where = _range_of(family)

    def glm_pass(beta: np.ndarray) -> tuple:
        dev, pearson, score, info, mu_min, mu_max, outside = _kernels.glm_link_pass(
            X, y, w, offset, beta, family, link, mu, factor
        )
        state["at"] = beta
        if outside:  # R's validmu fails: the step is halved (an infinite deviance)
            state["left"] = True
            dev = np.inf
        return dev, pearson, score, info, mu_min, mu_max

    start = _r_link_start(X, y, w, offset, family, link, names, model_name, intercept,
                          shifted_ok)  # fmt: skip
    if start is None or not np.isfinite(glm_pass(start)[0]):
        start = None
        if intercept is not None:
            start = np.zeros(p)
            total = w.sum()
            ybar = (w * y).sum() / total
            start[intercept] = float(link_function(np.array([ybar]), link)[0]) - (
                (w * offset).sum() / total
            )
            if not np.isfinite(glm_pass(start)[0]):
                start = None
        if start is None:
            raise DataError(
                None,
                f"{model_name}, {link_name} link: no starting values keep every fitted mean "
                f"inside {where} (neither R's start, a weighted least-squares step from the "
                "outcome, nor the mean outcome"
                + ("" if intercept is not None else ", which needs an intercept")
                + f"): the {link_name} link cannot fit these rows; use the canonical link "
                "(link=None), or a design with an intercept",
            )
    state["left"] = False  # from here on: whether a Fisher-scoring step left the range

    def on_failure(beta: np.ndarray) -> str | None:
        if not state["left"]:
            return None
        return (
            f"{model_name}, {link_name} link, did not converge: Fisher scoring keeps stepping "
            f"outside {where}, the range of the mean; each step was halved until every fitted "
            "mean was back inside (as R's glm.fit does), and the estimate is pressed against "
            f"the edge of {where} (the maximum-likelihood estimate with every mean inside lies "
            "on the edge: the data ask for means beyond it); the estimate returned is the "
            "last one inside, and neither it nor its variance is a regular one; largest "
            f"coefficients: {suspects(beta, column_sd(), names)}; use the canonical link "
            "(link=None) or a simpler model"
        )

    beta, last, converged, n_iter = newton(
        glm_pass,
        start,
        names,
        model_name,
        family,
        suspects=lambda b: suspects(b, column_sd(), names),
        max_iter=max_iter,
        tol=tol,
        intercept=intercept,
        shifted_ok=shifted_ok,
        on_singular=(
            functools.partial(raise_monotone, column_sd, names, model_name)
            if require_variance
            else None
        ),
        keep_inside=True,
        on_failure=on_failure,
        check_separation=link in (PROBIT, CLOGLOG),
    )
    if state["at"] is not beta:  # the last pass was at a step not taken: the means at beta
        last = glm_pass(beta)
    deviance, pearson, _, info, mu_min, mu_max = last
    near = _near_boundary(family, link, mu, y, w)
    if converged and near:
        warn(
            f"{model_name}, {link_name} link: the estimate lies on the boundary of the "
            f"parameter space: {near} fitted mean(s) within {BOUNDARY_GAP:g} of the edge of "
            f"{where} (the maximum-likelihood estimate with every mean inside {where} is on "
            "the edge: the data ask for means beyond it); standard errors there are not "
            f"regular ones; largest coefficients: {suspects(beta, column_sd(), names)}; use "
            "the canonical link (link=None) or a simpler model",
            ConvergenceWarning,
        )
    return GLMFit(
        beta=beta,
        mu=mu,
        deviance=float(deviance),
        pearson=float(pearson),
        information=info,
        mu_min=float(mu_min),
        mu_max=float(mu_max),
        converged=converged,
        n_iter=n_iter,
        score_factor=factor,
    )


# R's glm.control(): epsilon on the relative change in deviance
R_EPSILON = 1e-8


def _r_start(family: int, y: np.ndarray, w: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """R's ``family$initialize`` mustart, as a linear predictor (minus the offset)."""
    if family == BINOMIAL:
        mu = (w * y + 0.5) / (w + 1.0)
        return np.log(mu / (1.0 - mu)) - offset
    if family == POISSON:
        return np.log(y + 0.1) - offset
    return y - offset


def _fit_like_r(
    X, y, w, offset, family, names, model_name, max_iter, intercept, shifted_ok
) -> GLMFit:
    """R's IRLS path: from mustart, WLS steps, stop on the relative deviance change.

    The first step solves the WLS problem at R's starting means (whose linear predictor is
    not of the form X beta); later IRLS steps are Newton steps on the fused pass.
    """
    n, p = X.shape
    mu = np.empty(n)
    eta0 = _r_start(family, y, w, offset)
    # one pass at the starting means: information X' W X and X' W z for z the working response
    mu0, var0 = _start_moments(family, eta0 + offset)
    W0 = w * var0
    info0 = _kernels.weighted_crossprod(X, W0)
    _check_collinearity(info0, names, model_name, intercept, shifted_ok)
    rhs = X.T @ (W0 * eta0 + w * (y - mu0))
    try:
        beta = np.linalg.solve(info0, rhs)
    except np.linalg.LinAlgError:  # passed the rank check, yet singular to rounding
        raise DataError(
            names[-1],
            f"{model_name}: design matrix is singular to rounding on the rows fitted (R's "
            f"starting weighted least squares has no solution); columns: {names}",
        ) from None
    deviance_old = _deviance(family, y, mu0, w)
    info_before = info0
    mu_before = mu0
    last = _kernels.glm_irls_pass(X, y, w, offset, beta, family, mu)
    converged = False
    n_iter = 1
    while True:
        deviance = last[0]
        if abs(deviance - deviance_old) / (abs(deviance) + 0.1) < R_EPSILON:
            converged = True
            break
        if n_iter >= max_iter:
            break
        step = _newton_step(last[3], last[2])
        if step is None:
            break
        info_before = last[3]
        mu_before = mu.copy()
        deviance_old = deviance
        beta = beta + step
        last = _kernels.glm_irls_pass(X, y, w, offset, beta, family, mu)
        n_iter += 1
    deviance, pearson, _, _, mu_min, mu_max = last
    if not converged:
        warn(
            f"{model_name} did not converge in {max_iter} IRLS iterations (R's rule)",
            ConvergenceWarning,
        )
    return GLMFit(
        beta=beta,
        mu=mu,
        deviance=float(deviance),
        pearson=float(pearson),
        information=info_before,  # R's standard errors: the WLS fit that produced beta
        mu_min=float(mu_min),
        mu_max=float(mu_max),
        converged=converged,
        n_iter=n_iter,
        mu_lagged=mu_before,
    )


def variance_function(family: int, mu: np.ndarray) -> np.ndarray:
    """V(mu) of the family (binomial mu(1 - mu), poisson mu, gaussian 1)."""
    if family == BINOMIAL:
        return mu * (1.0 - mu)
    if family == POISSON:
        return mu
    return np.ones_like(mu)


def _start_moments(family: int, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if family == BINOMIAL:
        mu = 1.0 / (1.0 + np.exp(-eta))
        return mu, mu * (1.0 - mu)
    if family == POISSON:
        mu = np.exp(eta)
        return mu, mu
    return eta, np.ones_like(eta)


def _deviance(family: int, y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == BINOMIAL:
            unit = 2.0 * (
                np.where(y > 0, y * np.log(y / mu), 0.0)
                + np.where(y < 1, (1.0 - y) * np.log((1.0 - y) / (1.0 - mu)), 0.0)
            )
        elif family == POISSON:
            unit = 2.0 * (np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))
        else:
            unit = (y - mu) ** 2
    return float(np.sum(w * unit))


def newton(
    glm_pass: Callable[[np.ndarray], tuple],
    start: np.ndarray,
    names: list[str],
    model_name: str,
    family: int,
    **options,
) -> tuple[np.ndarray, tuple, bool, int]:
    """Newton/IRLS on any implementation of the fused pass: ``newton_iteration`` driven by
    ``glm_pass`` (``options`` and the result are those of ``newton_iteration``)."""
    steps = newton_iteration(start, names, model_name, family, **options)
    beta = next(steps)
    while True:
        try:
            beta = steps.send(glm_pass(beta))
        except StopIteration as done:
            return done.value


def newton_iteration(
    start: np.ndarray,
    names: list[str],
    model_name: str,
    family: int,
    *,
    warm: np.ndarray | None = None,
    suspects: Callable[[np.ndarray], str],
    max_iter: int = 50,
    tol: float = 1e-10,
    intercept: int | None = None,
    shifted_ok: bool = False,
    on_singular: Callable[[np.ndarray, int], None] | None = None,
    keep_inside: bool = False,
    on_failure: Callable[[np.ndarray], str | None] | None = None,
    check_separation: bool = True,
) -> Generator[np.ndarray, tuple, tuple[np.ndarray, tuple, bool, int]]:
    """Newton/IRLS as a generator: the one copy of the iteration, for any implementation of
    the fused pass (in memory, or summed over partitions of a distributed frame, where one
    pass can serve several models at once).

    Yields each ``beta`` at which it needs the pass and is sent
    ``(deviance, pearson, score, information, mu_min, mu_max)`` summed over all rows there;
    returns (``StopIteration.value``) the estimate, the pass at it, whether it converged and
    the iterations used.

    ``glm_pass(beta)`` returns ``(deviance, pearson, score, information, mu_min, mu_max)``
    summed over all rows.  Starts from ``warm`` when given and the design's information
    there is not singular, else from ``start`` (where every row weighs alike, so the
    information is singular exactly when the design is: DataError naming the columns).
    Returns the estimate, the pass at it, whether it converged and the iterations used.
    ``intercept`` (the intercept's column, if any) makes the rank check judge the centred
    information; ``shifted_ok`` lets it raise ``NeedsCentring`` when the design needs centring.
    ``on_singular(beta, n_iter)``, when given, is called (and should raise) where Newton
    stops because the information at ``beta`` is not positive definite (separation: no
    variance exists there); without it the fit warns and returns.

    ``keep_inside`` (non-canonical links, whose pass reports an infinite deviance where a
    fitted mean leaves the family's range): a step still outside after halving to 1e-10 of
    its length is not taken; the iteration stops at the last ``beta`` inside (not converged).
    ``on_failure(beta)``, when given, returns the message of the non-convergence warning
    (None: the usual one); ``check_separation=False`` skips the quasi-separation warning.
    """
    last = None
    if warm is not None:
        last = yield warm
        try:
            _check_collinearity(last[3], names, model_name, intercept, shifted_ok)
            beta = warm
        except DataError:  # judge collinearity at the start instead (below)
            last = None
    if last is None:
        beta = start
        last = yield beta
        _check_collinearity(last[3], names, model_name, intercept, shifted_ok)
    converged = False
    singular = False
    n_iter = 0
    while True:
        deviance, _, score, info, _, _ = last
        step = _newton_step(info, score)
        if step is None:  # information singular away from the start: separation
            singular = True
            if on_singular is not None:
                on_singular(beta, n_iter)
            break
        if np.max(np.abs(step), initial=0.0) <= tol * (1.0 + np.max(np.abs(beta), initial=0.0)):
            converged = True
            break
        if n_iter == max_iter:
            break
        n_iter += 1
        shrink = 1.0
        while True:
            trial = beta + shrink * step
            new = yield trial
            if np.isfinite(new[0]) and new[0] <= deviance + 1e-12 * abs(deviance):
                break
            if shrink < 1e-10:
                break
            shrink /= 2.0  # step halving: never accept a rise in the deviance
        if keep_inside and not np.isfinite(new[0]):
            break  # no step keeps the means inside: stay at the last beta inside
        beta = trial
        last = new
    mu_min, mu_max = last[4], last[5]
    if not converged:
        why = (
            f": the information became singular after {n_iter} Newton iterations"
            if singular
            else f" in {max_iter} Newton iterations"
        )
        message = None if on_failure is None else on_failure(beta)
        warn(
            message
            or f"{model_name} did not converge{why}; largest coefficients: {suspects(beta)}",
            ConvergenceWarning,
        )
    if (
        check_separation
        and family == BINOMIAL
        and (mu_min < PROBABILITY_EPS or mu_max > 1.0 - PROBABILITY_EPS)
    ):
        warn(
            f"{model_name}: fitted probabilities numerically 0 or 1 occurred "
            f"(quasi-separation); look at {suspects(beta)}: a covariate or "
            "combination predicts the outcome almost perfectly",
            SeparationWarning,
        )
    return beta, last, converged, n_iter


# Above this many rows Newton starts from a fit on an evenly spaced subsample: it converges
# to the same estimate in about two full passes fewer.  For a binomial or Poisson outcome
# with few rows of y > 0 (a rare outcome: the MSM of a trial sequence) the subsample keeps
# every such row and every k-th other row weighted k (case-control sampling with its
# sampling weights): a plain every-k-th subsample of 2e6 rows with 0.2% events holds about
# 100 events, and its fit starts Newton so far off that it takes two more full passes.
WARM_START_ROWS = 200_000
WARM_START_SAMPLE = 50_000


def _warm_start(X, y, w, offset, family, names, model_name, start) -> np.ndarray | None:
    """Coefficients fitted on the warm start's subsample (``warm_start_rows``), or None."""
    k = warm_start_step(X.shape[0])
    if k is None:
        return None
    stratified = warm_start_stratified(family, int(np.count_nonzero(y > 0)))
    sample = warm_start_sample(0, X, y, w, offset, k, stratified)
    return warm_start(*sample, family, names, model_name)


def warm_start_step(n: int) -> int | None:
    """The warm start's subsample of ``n`` rows takes every k-th row, from the first: k, or
    None when ``n`` rows need no warm start."""
    return None if n < WARM_START_ROWS else n // WARM_START_SAMPLE


def warm_start_stratified(family: int, n_positive: int) -> bool:
    """Whether the warm start's subsample also keeps every row with y > 0: for a binomial or
    Poisson outcome with at most ``WARM_START_SAMPLE`` such rows of all ``n`` (so the
    subsample stays below ``3 * WARM_START_SAMPLE`` rows)."""
    return family in (BINOMIAL, POISSON) and 0 < n_positive <= WARM_START_SAMPLE


def warm_start_rows(
    first: int, y: np.ndarray, k: int, stratified: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows of the warm start's subsample among rows ``first .. first + len(y) - 1``
    (positions in the whole data) and their weights' factors (None: 1).

    Row i is taken when ``i % k == 0``; ``stratified`` (``warm_start_stratified``) also
    takes every row with ``y > 0``, and then the other rows, one in k of them, weigh k.
    The distributed and streamed fits take the same rows with the same factors, so every
    front end starts Newton at the same point.
    """
    keep = np.zeros(y.size, dtype=bool)
    keep[(-first) % k :: k] = True  # positions first + j divisible by k
    if stratified:
        keep |= y > 0
    rows = np.flatnonzero(keep)
    return rows, warm_start_factors(y[rows], k, stratified)


def warm_start_factors(y_taken: np.ndarray, k: int, stratified: bool) -> np.ndarray | None:
    """The weights' factors of the warm start's rows with outcomes ``y_taken`` (None: 1):
    stratified, the rows with ``y > 0`` (all taken) weigh 1 and the others (one in k) k."""
    return np.where(y_taken > 0, 1.0, float(k)) if stratified else None


def warm_start_sample(first: int, X, y, w, offset, k: int, stratified: bool) -> tuple:
    """``(X, y, w, offset)`` of the warm start's rows among rows ``first ..`` (positions in
    the whole data; ``warm_start_rows``), the weights times their factors."""
    rows, factor = warm_start_rows(first, y, k, stratified)
    sample = [np.ascontiguousarray(a[rows]) for a in (X, y, w, offset)]
    if factor is not None:
        sample[2] *= factor
    return tuple(sample)


def warm_start(X, y, w, offset, family: int, names: list[str], model_name: str):
    """The warm start fitted on its subsample (``warm_start_rows``), or None.

    Shared with the distributed front end, which gathers the same rows from its partitions,
    so both start Newton at the same point.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the full fit reports what matters
        try:
            fit = fit_glm(X, y, w, offset, family, names, model_name, max_iter=25, tol=1e-8)
        except DataError:  # the subsample is collinear where the data may not be
            return None
    if not (fit.converged and np.all(np.isfinite(fit.beta))):
        return None
    return fit.beta


def raise_monotone(
    sd: Callable[[], np.ndarray], names: list[str], model_name: str, beta: np.ndarray, n_iter: int
) -> None:
    """DataError: the information became singular along the Newton path (separation).

    Names the covariate with the largest standardized coefficient (``sd()``: column SDs).
    """
    column_sd = sd()
    size = np.abs(beta) * np.where(column_sd > 0, column_sd, 0.0)
    order = [j for j in np.argsort(-size, kind="stable") if column_sd[j] > 0]
    column = names[order[0]] if order else names[0]
    running = [j for j in order if size[j] >= 0.1 * size[order[0]]][:3] if order else []
    shown = ", ".join(f"{names[j]!r} (coef {beta[j]:.3g})" for j in running) or "the intercept"
    raise DataError(
        column,
        f"{model_name}: the likelihood is monotone: after {n_iter} Newton step(s) the "
        f"coefficients run off ({shown}) and the information "
        "becomes singular; a covariate (or combination) predicts the outcome perfectly on "
        "the rows fitted (complete separation: e.g. it is one value wherever the outcome is 0 "
        "and another wherever it is 1), so its coefficient is infinite and has no variance: "
        "drop, coarsen or combine it",
    )


def _newton_step(info: np.ndarray, score: np.ndarray) -> np.ndarray | None:
    """Solve ``info @ step = score`` by Cholesky; None when info is not positive definite."""
    try:
        factor = scipy.linalg.cho_factor(info, lower=True, check_finite=True)
    except (np.linalg.LinAlgError, ValueError):
        return None
    step = scipy.linalg.cho_solve(factor, score, check_finite=False)
    return step if np.all(np.isfinite(step)) else None


def _intercept_column(X: np.ndarray) -> int | None:
    if X.shape[0] == 0:
        return None
    for j in range(X.shape[1]):
        if X[0, j] == 1.0 and np.all(X[:, j] == 1.0):
            return j
    return None


def _check_collinearity(
    info: np.ndarray,
    names: list[str],
    model_name: str,
    intercept: int | None = None,
    shifted_ok: bool = False,
) -> None:
    """DataError naming all-zero, constant or collinear columns among positive-weight rows.

    With an intercept (column ``intercept``) the rank is judged on the centred information,
    the Schur complement of the intercept (a weighted covariance of the other columns), so a
    covariate far from 0 (``l + 1e5``) is not collinear with the intercept; a column whose
    centred variance is lost to cancellation there raises ``NeedsCentring`` when ``shifted_ok``
    (the caller refits on the centred design), else counts as constant.
    """
    scale = np.sqrt(np.abs(np.diag(info)))
    if np.any(scale == 0):
        bad = [names[j] for j in np.flatnonzero(scale == 0)]
        raise DataError(bad[0], f"{model_name}: column(s) {bad} are all zero on the rows fitted")
    p = info.shape[0]
    if intercept is not None and p > 1:
        others = np.array([j for j in range(p) if j != intercept])
        edge = info[others, intercept]
        S = info[np.ix_(others, others)] - np.outer(edge, edge) / info[intercept, intercept]
        ratio = np.diag(S) / np.diag(info)[others]
        if shifted_ok and not ratio.min() >= SHIFTED:
            raise NeedsCentring
        if not ratio.min() >= CONSTANT:
            bad = [names[j] for j in others[~(ratio >= CONSTANT)]]
            raise DataError(
                bad[0],
                f"{model_name}: column(s) {bad} are constant on the rows fitted (collinear "
                "with the intercept: they carry no information)",
            )
        spread = np.sqrt(np.diag(S))
        corr = S / np.outer(spread, spread)
        columns = others
    else:
        corr = info / np.outer(scale, scale)
        columns = np.arange(p)
    eigval, eigvec = np.linalg.eigh(corr)
    if not eigval[0] > 1e-10 * max(eigval[-1], 1.0):
        loadings = np.abs(eigvec[:, 0])
        bad = [names[j] for j in columns[loadings > 0.1]]
        raise DataError(
            bad[-1],
            f"{model_name}: design matrix is singular; these columns are collinear (or "
            f"constant together with the intercept) on the rows fitted: {bad}",
        )


def suspects(beta: np.ndarray, column_sd: np.ndarray, names: list[str], k: int = 3) -> str:
    """Covariates with the largest standardized coefficients (|beta_j| x sd(x_j))."""
    size = np.abs(beta) * np.where(column_sd > 0, column_sd, 0.0)
    order = [j for j in np.argsort(-size) if column_sd[j] > 0][:k]
    if not order:
        return "the intercept"
    return ", ".join(f"{names[j]!r} (coef {beta[j]:.3g})" for j in order)
