"""Sensitivity of an MSM to unmeasured confounding by bias functions (Brumback et al. 2004).

Brumback, Hernán, Haneuse and Robins (Stat Med 2004; 23:749) write the unmeasured
confounding of a treatment decision as a confounding function: for the decision A_k at row k
(given the history before it), ``c_k = E[Y(a) | A_k = a_k, history] - E[Y(a) | A_k = 1 - a_k,
history]``, the difference in the potential outcome between those who took the treatment they
took and those who did not, with the same measured history.  Under a given c, the
bias-corrected outcome

    Y^c_t = Y_t - sum_{k <= t} c_k P(A_k = 1 - a_k | history)

has the mean the MSM describes, so refitting the same IP-weighted MSM on Y^c gives the
estimate corrected for that much confounding.  ``bias_sensitivity`` scales a user-given c
by a grid of strengths, refits the analysis at each, and reports where the confidence
interval first covers the null (the tipping point).  P(A_k = 1 - a_k | history) is the
weights' own denominator model, so the correction uses the same treatment model as the
weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm import _kernels
from msm.panel import check_columns_exist
from msm.weights import Weights

__all__ = ["BiasSensitivity", "bias_sensitivity"]


@dataclass(frozen=True, eq=False, repr=False)
class BiasSensitivity:
    """The MSM estimate as a function of the strength of unmeasured confounding.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per strength: ``strength``, ``estimate``, ``std_error``, ``lower``,
        ``upper``, ``covers_null``.
    term : str
        The coefficient followed.
    null : float
        The value "explained away" to (0 for a coefficient).
    tipping_point : float or None
        The smallest strength on the grid whose interval covers ``null`` (None: none does);
        ``tipping_interpolated`` interpolates linearly between the grid points around it.
    correction : pandas.Series
        Each row's correction at strength 1 (``sum_{k <= t} c_k P(A_k = 1 - a_k)``).
    """

    table: pd.DataFrame
    term: str
    null: float
    tipping_point: float | None
    tipping_interpolated: float | None
    correction: pd.Series
    alpha: float

    def __repr__(self) -> str:
        level = int(round(100 * (1 - self.alpha)))
        if self.tipping_point is None:
            tip = f"no strength on the grid moves the {level}% interval to cover {self.null:g}"
        elif self.tipping_point == self.table["strength"].iloc[0]:
            tip = f"the {level}% interval covers {self.null:g} already at strength " + (
                f"{self.tipping_point:g}"
            )
        else:
            tip = (
                f"the {level}% interval first covers {self.null:g} at strength "
                f"{self.tipping_point:g} (about {self.tipping_interpolated:.3g} interpolated)"
            )
        return "\n".join(
            [
                f"Bias-function sensitivity analysis of {self.term!r} (Brumback et al. 2004)",
                f" - {tip}",
                self.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
            ]
        )


def _other_decision_probability(weights: Weights) -> np.ndarray:
    """P(A_k = 1 - a_k | history) on each row (caller order) from the denominator model; 0
    where no decision is modelled (after an absorbing treatment's start)."""
    if weights.spec.family != "binomial":
        raise ValueError(
            "bias_sensitivity needs a binary treatment (the probability of the other "
            f"decision); these weights model family={weights.spec.family!r}"
        )
    log_p = weights.log_factors["denominator"]  # sorted order: log P(A = a | history)
    rows = weights.panel.sort(weights.risk_set)
    other = np.where(rows, -np.expm1(log_p), 0.0)
    return weights.panel.unsort(other)


def bias_sensitivity(
    analysis: Callable[[pd.DataFrame], object],
    data: pd.DataFrame,
    *,
    weights: Weights,
    outcome: str,
    bias: Callable[[pd.DataFrame], np.ndarray],
    strengths: Sequence[float] = tuple(np.linspace(0.0, 1.0, 11)),
    term: str,
    null: float = 0.0,
    alpha: float = 0.05,
    cumulative: bool = True,
) -> BiasSensitivity:
    """Refit an MSM on bias-corrected outcomes over a grid of confounding strengths.

    Parameters
    ----------
    analysis : callable
        ``analysis(frame)`` fits the MSM on ``frame`` (``data`` with ``outcome`` replaced by
        the corrected outcome) and returns a fit with ``params`` and ``conf_int`` (``msm.glm``
        with ``weights=weights``, say).
    data : pandas.DataFrame
        The data the weights and the MSM were estimated on.  Not modified.
    weights : Weights
        The IP weights (``msm.iptw``, binary treatment): their denominator model gives
        P(A_k = 1 - a_k | history).
    outcome : str
        The outcome column the correction is subtracted from.
    bias : callable
        ``bias(data)`` returns the confounding function c_k on each row (one number per row,
        in ``data``'s order): the difference in the potential outcome between those who took
        the row's decision and those who did not, given the measured history.  A positive c
        for the treated says the treated would have done better anyway.
    strengths : sequence of float
        Multipliers of ``bias`` (0: no unmeasured confounding), increasing.
    term : str
        The MSM coefficient to follow (``"ivig"``).
    null : float
        The coefficient's null value.
    alpha : float
        ``1 - alpha`` intervals (the fit's own).
    cumulative : bool
        Sum the corrections of every decision up to the row (``sum_{k <= t}``, Brumback et al.'s
        repeated-measures form: an outcome at t depends on every earlier decision), or only
        the row's own decision (``False``).

    Returns
    -------
    BiasSensitivity

    Examples
    --------
    >>> import msm, numpy as np
    >>> d = msm.datasets.simulate_panel(n_subjects=400, n_visits=3, seed=2)
    >>> w = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l + time")
    >>> def fit(frame):
    ...     return msm.glm("y ~ a", frame, weights=w, cluster="id")
    >>> s = msm.bias_sensitivity(fit, d, weights=w, outcome="y", term="a",
    ...                          bias=lambda f: np.where(f["a"] == 1, 0.05, -0.05),
    ...                          strengths=[0, 1, 2])
    >>> list(s.table.columns)
    ['strength', 'estimate', 'std_error', 'lower', 'upper', 'covers_null']
    """
    if not isinstance(weights, Weights):
        raise TypeError(f"weights must be msm.iptw's Weights, got {type(weights).__name__}")
    if not callable(analysis) or not callable(bias):
        raise TypeError("analysis and bias must be functions of the data")
    check_columns_exist(data, [outcome], "outcome")
    if len(weights.panel.index) != len(data) or not weights.panel.index.equals(data.index):
        raise ValueError(
            "the weights were estimated on other rows than data: pass the frame msm.iptw saw"
        )
    grid = np.asarray(list(strengths), dtype=np.float64)
    if grid.size == 0 or not np.isfinite(grid).all() or np.any(np.diff(grid) <= 0):
        raise ValueError(f"strengths must be finite and increasing, got {list(strengths)!r}")
    c = np.asarray(bias(data), dtype=np.float64).reshape(-1)
    if c.size != len(data) or not np.isfinite(c).all():
        raise ValueError(
            f"bias(data) must return one finite number per row ({len(data)}), got "
            f"{c.size} values" + ("" if np.isfinite(c).all() else " with non-finite ones")
        )
    step = c * _other_decision_probability(weights)
    if cumulative and weights.panel.time_name is not None:
        panel = weights.panel
        sorted_step = panel.sort(step)
        summed = _kernels.grouped_cumsum(sorted_step.copy(), panel.starts, np.empty(step.size))
        step = panel.unsort(summed)
    y = data[outcome].to_numpy(dtype=np.float64)
    rows = []
    for s in grid:
        frame = data.assign(**{outcome: y - s * step})
        fit = analysis(frame)
        if term not in fit.params.index:
            raise KeyError(f"the analysis has no term {term!r}: {list(fit.params.index)}")
        ci = fit.conf_int(alpha).loc[term]
        rows.append(
            {
                "strength": float(s),
                "estimate": float(fit.params[term]),
                "std_error": float(fit.bse[term]),
                "lower": float(ci["lower"]),
                "upper": float(ci["upper"]),
            }
        )
    table = pd.DataFrame(rows)
    table["covers_null"] = (table["lower"] <= null) & (null <= table["upper"])
    tipping = interpolated = None
    covered = np.flatnonzero(table["covers_null"].to_numpy())
    if covered.size:
        j = int(covered[0])
        tipping = float(grid[j])
        interpolated = tipping
        if j > 0:  # the limit nearest the null crosses it between grid points j-1 and j
            side = "lower" if table["estimate"].iloc[j - 1] > null else "upper"
            a, b = table[side].iloc[j - 1], table[side].iloc[j]
            if b != a:
                interpolated = float(grid[j - 1] + (null - a) / (b - a) * (grid[j] - grid[j - 1]))
    return BiasSensitivity(
        table=table,
        term=term,
        null=null,
        tipping_point=tipping,
        tipping_interpolated=interpolated,
        correction=pd.Series(step, index=data.index, name="correction"),
        alpha=alpha,
    )
