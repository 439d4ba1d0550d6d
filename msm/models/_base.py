"""What every treatment or censoring model receives, and the warnings they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm._formula import Design, Terms, design_rows
from msm._warnings import PROBABILITY_EPS, ConvergenceWarning, SeparationWarning

__all__ = ["PROBABILITY_EPS", "ConvergenceWarning", "ModelInput", "SeparationWarning"]


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
