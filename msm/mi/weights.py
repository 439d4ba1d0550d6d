"""Weights estimated within each imputed data set, and their diagnostics across imputations.

``msm.mi.iptw(imputations, **arguments)`` runs ``msm.iptw`` on every completed data set (the
"within" approach: the treatment model is re-fitted in each) and keeps the weights beside
their data, so they cannot be misaligned with the outcome rows.  ``MIWeights.balance``
averages the balance tables across imputations (with their range), ``MIWeights.summary``
lists the weight summaries imputation by imputation, and ``msm.mi.analyze(mw, analysis)``
calls ``analysis(frame, weights)`` on each.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from msm.diagnostics import balance as _balance
from msm.mi.imputations import check_imputations
from msm.weights import Weights
from msm.weights import iptw as _iptw

__all__ = ["MIWeights", "iptw"]


@dataclass(frozen=True, eq=False, repr=False)
class MIWeights:
    """Weights estimated within each imputation (``msm.mi.iptw``).

    Attributes
    ----------
    imputations : list of DataFrame
        The completed data sets.
    weights : list of Weights
        The weights of each, in the same order.
    """

    imputations: list
    weights: list

    @property
    def m(self) -> int:
        return len(self.imputations)

    def summary(self) -> pd.DataFrame:
        """Each imputation's weight summary (``Weights.summary()``), index ``imputation``
        then the summary's own rows."""
        tables = {i: w.summary() for i, w in enumerate(self.weights, start=1)}
        return pd.concat(tables, names=["imputation"])

    def balance(self, *, covariates, **arguments) -> pd.DataFrame:
        """Balance in every imputation, averaged across imputations (MatchThem's ``bal.tab``).

        ``msm.balance(frame, weights=w, covariates=..., **arguments)`` per imputation; the
        rows (covariate, time, statistic) are matched across imputations, and the
        unweighted and weighted statistics are reported as their mean, min and max.

        Returns
        -------
        pandas.DataFrame
            Index (covariate, [time,] stat); columns ``unweighted``, ``unweighted_min``,
            ``unweighted_max``, ``weighted``, ``weighted_min``, ``weighted_max``,
            ``threshold`` and ``balanced_all`` (within the threshold in every imputation).
        """
        tables = []
        for i, (frame, w) in enumerate(zip(self.imputations, self.weights), start=1):
            table = _balance(frame, weights=w, covariates=covariates, **arguments).table
            tables.append(table.assign(imputation=i))
        every = pd.concat(tables, ignore_index=True)
        keys = [c for c in every.columns if c not in _VALUE_COLUMNS and c != "imputation"]
        grouped = every.groupby(keys, sort=False, dropna=False)
        out = pd.DataFrame(
            {
                "unweighted": grouped["unweighted"].mean(),
                "unweighted_min": grouped["unweighted"].min(),
                "unweighted_max": grouped["unweighted"].max(),
                "weighted": grouped["weighted"].mean(),
                "weighted_min": grouped["weighted"].min(),
                "weighted_max": grouped["weighted"].max(),
                "threshold": grouped["threshold"].first(),
                "balanced_all": grouped["balanced"].agg(_all_balanced),
                "imputations": grouped["imputation"].nunique(),
            }
        )
        return out

    def __repr__(self) -> str:
        s = self.summary()
        lines = [f"MIWeights: weights estimated within each of {self.m} imputations"]
        lines.append(s.to_string(float_format=lambda v: f"{v:.4g}"))
        return "\n".join(lines)


_VALUE_COLUMNS = ("unweighted", "weighted", "threshold", "balanced", "n_control", "n_treated")


def _all_balanced(values: pd.Series):
    v = values.dropna()
    return pd.NA if v.empty else bool(v.astype(bool).all())


def iptw(imputations, **arguments) -> MIWeights:
    """``msm.iptw`` within each imputed data set.

    Parameters
    ----------
    imputations : list of DataFrame
        The completed data sets (checked by ``msm.mi.check_imputations`` on ``id`` and
        ``time``).
    **arguments
        ``msm.iptw``'s arguments (``id``, ``time``, ``treatment``, ``denominator``, ...).

    Returns
    -------
    MIWeights

    Examples
    --------
    >>> import msm, numpy as np
    >>> base = msm.datasets.simulate_panel(n_subjects=200, n_visits=4, seed=1)
    >>> imputations = [base.assign(l=base["l"] + np.random.default_rng(i).normal(0, .1, len(base)))
    ...                for i in range(3)]
    >>> mw = msm.mi.iptw(imputations, id="id", time="time", treatment="a",
    ...                  denominator="x + l + time", numerator="x + time")
    >>> mw.summary().index.get_level_values("imputation").unique().tolist()
    [1, 2, 3]
    >>> table = mw.balance(covariates=["l"])
    >>> bool((table["weighted_min"] <= table["weighted"]).all())
    True
    """
    frames = check_imputations(imputations, id=arguments.get("id"), time=arguments.get("time"))
    weights: list[Weights] = [_iptw(frame, **arguments) for frame in frames]
    return MIWeights(imputations=frames, weights=weights)
