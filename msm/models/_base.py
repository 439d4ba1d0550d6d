"""What every treatment or censoring model receives, and the warnings they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm._formula import Design, Terms, design_rows
from msm._glm import Centring, accuracy_centre, centring_transform, check_not_constant
from msm._warnings import PROBABILITY_EPS, ConvergenceWarning, SeparationWarning
from msm.panel import DataError

__all__ = [
    "PROBABILITY_EPS",
    "ConvergenceWarning",
    "ModelInput",
    "SeparationWarning",
    "FittingDesign",
    "check_rank",
    "fitting_design",
]

# smallest eigenvalue of the centred design's correlation matrix, relative to the largest,
# below which the columns are collinear (the rule of msm._glm's rank check)
COLLINEAR = 1e-10


@dataclass(eq=False)
class ModelInput:
    """One model to fit: the rows that inform it and what it predicts.

    Attributes
    ----------
    role : str
        E.g. ``"treatment denominator"``; used in messages and reprs.
    outcome_name : str
        The modelled column.
    formula : str or None
        The right-hand side as the user gave it.
    terms : Terms
        The parsed right-hand side.
    data : DataFrame
        The caller's data (only read).
    rows : ndarray of int
        Positions in ``data`` of the rows the model is fitted on.
    y : ndarray
        The outcome on those rows (0/1, category codes 0..K-1, or continuous values).
    time : ndarray
        Time of each row (learners use it as a feature).
    subject : ndarray
        Subject number of each row (cross-fitting folds are drawn by subject).
    start : ndarray, optional
        Interval start of each row, for Cox models (the row's time is the interval end).
    time_name : str or None
        Name of the time column (learners add time as a feature unless the formula has it);
        None for a point treatment (``time=None``), which has no time feature.
    categories : list, optional
        Category labels for multinomial and ordinal outcomes (code k is categories[k]).
    options : dict
        Model options from ``iptw`` (``crossfit``, ``clip``, ``seed``, ...).
    """

    role: str
    outcome_name: str
    formula: str | None
    terms: Terms
    data: pd.DataFrame
    rows: np.ndarray
    y: np.ndarray
    time: np.ndarray
    subject: np.ndarray
    start: np.ndarray | None = None
    time_name: str | None = "time"
    categories: list | None = None
    options: dict = field(default_factory=dict)

    design_spec: object = field(default=None, init=False, repr=False)

    def design(self) -> Design:
        """The design matrix (with intercept) of this model on its rows.

        Its spec (what rebuilds the same columns on other rows, stateful transforms
        included) is kept in ``design_spec``; the matrix itself is not kept.
        """
        built = design_rows(self.terms, self.data, self.rows)
        self.design_spec = built.spec
        return built


def check_rank(X: np.ndarray, names: list[str], model_name: str, intercept: int | None) -> None:
    """DataError naming the constant or collinear columns of a design, judged centred.

    With an intercept (column ``intercept``) a column is constant when it takes one value on
    the rows (collinear with the intercept), and the rank of the others is judged on their
    correlation matrix, computed from the centred and scaled columns: a covariate far from 0
    relative to its spread (``l + 1e5``, ``l * 1e-6 + 1e8``) is not collinear with anything,
    and only real collinearity is reported.  Without one, a column all zero is reported and
    the rank is judged on the scaled uncentred columns.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 5.0], [2.0, 4.0, 6.0, 10.0]])
    >>> check_rank(X, ["Intercept", "x", "x2"], "model", 0)
    Traceback (most recent call last):
    ...
    msm.panel.DataError: column 'x2': model: design matrix is singular; these columns ...
    """
    n, p = X.shape
    columns = [j for j in range(p) if j != intercept]
    if n == 0 or not columns:
        return
    Z = X[:, columns]
    names_z = [names[j] for j in columns]
    if intercept is not None:
        check_not_constant(np.ptp(Z, axis=0) == 0, names_z, model_name, n)
        Z = Z - Z.mean(axis=0)
        Z -= Z.mean(axis=0)  # a second pass: the first mean's rounding is lost in the spread
    else:
        zero = ~np.any(Z != 0, axis=0)
        if zero.any():
            bad = [name for name, z in zip(names_z, zero) if z]
            raise DataError(
                bad[0], f"{model_name}: column(s) {bad} are all zero on the rows fitted"
            )
    Z = Z / np.sqrt(np.mean(Z * Z, axis=0))
    eigval, eigvec = np.linalg.eigh(Z.T @ Z / n)
    if not eigval[0] > COLLINEAR * max(eigval[-1], 1.0):
        bad = [name for name, loading in zip(names_z, np.abs(eigvec[:, 0])) if loading > 0.1]
        raise DataError(
            bad[-1],
            f"{model_name}: design matrix is singular; these columns are collinear (or "
            f"constant together with the intercept) on the rows fitted: {bad}",
        )


@dataclass(frozen=True, eq=False)
class FittingDesign:
    """The centred and scaled design a model with a shifted covariate is fitted on.

    ``Xs = (X - 1 centre') / scale`` with the intercept column kept at 1: a covariate far from
    0 relative to its spread (``l + 1e5``, ``l * 1e-6 + 1e8``) keeps the digits of its spread
    there, and the columns are on one scale, so the solver's accuracy and stopping rule do not
    depend on the covariate's units.  Coefficients of ``X`` are ``transform() @`` those of
    ``Xs``, and a covariance maps back as ``T cov T'`` (``msm._glm.map_back``).

    Attributes
    ----------
    centre : ndarray
        Column means, 0 at the intercept.
    scale : ndarray
        Root mean square of each centred column, 1 at the intercept.
    intercept : int
        The intercept's column.
    """

    centre: np.ndarray
    scale: np.ndarray
    intercept: int

    def design(self, X: np.ndarray) -> np.ndarray:
        """``Xs`` for any rows with the columns of ``X``."""
        Xs = np.ascontiguousarray((X - self.centre) / self.scale)
        Xs[:, self.intercept] = 1.0
        return Xs

    def transform(self) -> np.ndarray:
        """``T`` with (coefficients of ``X``) = ``T`` @ (coefficients of ``Xs``)."""
        return centring_transform(self.centre, self.intercept) / self.scale

    def centring(self, beta: np.ndarray) -> Centring:
        """The ``msm._glm.Centring`` of coefficients ``beta`` of ``Xs`` (unscaled, centred)."""
        return Centring(self.centre, self.intercept, beta / self.scale)


def fitting_design(X: np.ndarray, intercept: int | None) -> FittingDesign | None:
    """The design to fit ``X`` (with an intercept) on when it needs centring, else None.

    The rule of the logistic and GLM fits (``msm._glm.accuracy_centre``): some column's
    variance is below 1e-3 of its mean square (``l + 1e5``).  Ordinary designs are fitted as
    they are, so their numbers do not change.  Call after ``check_rank`` (no constant column).
    """
    if intercept is None:
        return None
    found = accuracy_centre(X, np.ones(X.shape[0]))
    if found is None or found[1] != intercept:
        return None
    centre = found[0]
    Xc = X - centre
    scale = np.sqrt(np.mean(Xc * Xc, axis=0))
    scale[intercept] = 1.0
    scale[~(scale > 0)] = 1.0
    return FittingDesign(centre, scale, intercept)
