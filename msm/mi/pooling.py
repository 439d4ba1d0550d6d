"""Rubin's rules with the Barnard-Rubin small-sample degrees of freedom (R ``mice::pool``).

With m completed-data estimates q_i of one quantity and their variances u_i:

- ``estimate`` = mean(q_i); ``ubar`` = mean(u_i); ``b`` = var(q_i) (divisor m - 1);
  ``t`` = ubar + (1 + 1/m) b;
- ``riv`` = (1 + 1/m) b / ubar (relative increase in variance); ``lambda`` = (1 + 1/m) b / t
  (proportion of the variance due to missingness);
- degrees of freedom (Barnard & Rubin 1999): with l = max(lambda, 1e-4) (the floor enters
  only the df, as in mice 3.15), dfold = (m - 1) / l^2, dfobs = (dfcom + 1) / (dfcom + 3)
  * dfcom * (1 - l), df = dfold * dfobs / (dfold + dfobs) (dfold when dfcom is infinite);
- ``fmi`` = (riv + 2 / (df + 3)) / (riv + 1) (fraction of missing information);
- intervals ``estimate -+ t_{df}(1 - alpha/2) sqrt(t)``; ``statistic`` = estimate / sqrt(t),
  ``p_value`` two-sided on t_df.

Quantities pooled on a transformed scale (risks on the complementary log-log scale, ratios
on the log scale) are transformed with their variances (by the delta method, or from
bootstrap replicates) before pooling, and the estimate and limits transformed back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

__all__ = ["SCALES", "pool", "rubin", "to_scale", "from_scale"]

# the scales a quantity can be pooled on: name -> (transform, its derivative, the inverse)
SCALES = {
    "identity": (lambda x: x, lambda x: np.ones_like(x), lambda z: z),
    "log": (np.log, lambda x: 1.0 / x, np.exp),
    "cloglog": (
        lambda r: np.log(-np.log1p(-r)),
        lambda r: -1.0 / ((1.0 - r) * np.log1p(-r)),
        lambda z: -np.expm1(-np.exp(z)),
    ),
}
COLUMNS = [
    "estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi",
    "std_error", "statistic", "p_value", "lower", "upper",
]  # fmt: skip


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    return scale


def to_scale(estimates, variances, scale: str):
    """Estimates and variances on ``scale`` (delta method for the variances)."""
    forward, slope, _ = SCALES[_check_scale(scale)]
    q = np.asarray(estimates, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return forward(q), np.asarray(variances, dtype=np.float64) * slope(q) ** 2


def from_scale(values, scale: str):
    """Values on ``scale`` transformed back."""
    return SCALES[_check_scale(scale)][2](np.asarray(values, dtype=np.float64))


def rubin(q: np.ndarray, u: np.ndarray, dfcom, alpha: float = 0.05) -> dict:
    """Rubin's rules on (m, k) arrays of estimates and variances; a dict of (k,) arrays."""
    q = np.asarray(q, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    m = q.shape[0]
    dfcom = np.broadcast_to(np.asarray(dfcom, dtype=np.float64), q.shape[1:]).copy()
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1.0 + 1.0 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1.0 + 1.0 / m) * b / ubar
        lam = (1.0 + 1.0 / m) * b / t
        floor = np.maximum(lam, 1e-4)
        dfold = (m - 1) / floor**2
        dfobs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - floor)
        df = np.where(np.isinf(dfcom), dfold, dfold * dfobs / (dfold + dfobs))
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
        se = np.sqrt(t)
        statistic = qbar / se
    quantile = scipy.stats.t.ppf(1.0 - alpha / 2.0, df)
    return {
        "estimate": qbar,
        "ubar": ubar,
        "b": b,
        "t": t,
        "dfcom": dfcom,
        "df": df,
        "riv": riv,
        "lambda": lam,
        "fmi": fmi,
        "std_error": se,
        "statistic": statistic,
        "p_value": 2.0 * scipy.stats.t.sf(np.abs(statistic), df),
        "lower": qbar - quantile * se,
        "upper": qbar + quantile * se,
    }


def pool(
    estimates,
    variances,
    *,
    dfcom=np.inf,
    alpha: float = 0.05,
    scale: str | dict = "identity",
) -> pd.DataFrame:
    """Pool m completed-data estimates by Rubin's rules (R ``mice::pool``'s numbers).

    Parameters
    ----------
    estimates, variances : array_like, shape (m,) or (m, k), or DataFrame
        One row per imputation, one column per quantity (a DataFrame's columns name the
        quantities).  Variances are the squared standard errors of each completed-data
        analysis.
    dfcom : float or array_like of shape (k,)
        Complete-data degrees of freedom (``np.inf``: large sample, the default here; R's
        ``mice::pool`` takes it from the fit).
    alpha : float
        ``1 - alpha`` intervals.
    scale : str or dict of quantity to str
        ``"identity"``, ``"log"`` (ratios) or ``"cloglog"`` (risks): each quantity is pooled
        on its scale and its ``estimate``, ``lower`` and ``upper`` transformed back (the other
        columns stay on the pooling scale).

    Returns
    -------
    pandas.DataFrame
        One row per quantity: ``m``, ``estimate``, ``ubar``, ``b``, ``t``, ``dfcom``, ``df``,
        ``riv``, ``lambda``, ``fmi``, ``std_error``, ``statistic``, ``p_value``, ``lower``,
        ``upper`` and ``scale``.

    Examples
    --------
    >>> import msm
    >>> table = msm.mi.pool([1.2, 1.45, 0.98, 1.31, 1.12],
    ...                     [0.04, 0.052, 0.047, 0.039, 0.05], dfcom=20)
    >>> round(float(table["estimate"].iloc[0]), 3), round(float(table["df"].iloc[0]), 3)
    (1.212, 6.508)
    """
    names = None
    if isinstance(estimates, pd.DataFrame):
        names = list(estimates.columns)
        if isinstance(variances, pd.DataFrame):
            variances = variances[names]
    q = np.asarray(estimates, dtype=np.float64)
    u = np.asarray(variances, dtype=np.float64)
    if q.ndim == 1:
        q, u = q[:, None], u[:, None] if u.ndim == 1 else u
    if q.ndim != 2 or q.shape != u.shape:
        raise ValueError(
            f"estimates and variances must have the same shape (m,) or (m, k), got "
            f"{np.shape(estimates)} and {np.shape(variances)}"
        )
    m, k = q.shape
    if m < 2:
        raise ValueError(f"pooling needs at least 2 imputations, got m={m}")
    if not (np.isfinite(q).all() and np.isfinite(u).all()) or (u < 0).any():
        raise ValueError("estimates and variances must be finite, variances non-negative")
    if names is None:
        names = list(range(k))
    scales = scale if isinstance(scale, dict) else {n: scale for n in names}
    per = [_check_scale(scales.get(n, "identity")) for n in names]
    qs, us = q.copy(), u.copy()
    for j, s in enumerate(per):
        qs[:, j], us[:, j] = to_scale(q[:, j], u[:, j], s)
    if not (np.isfinite(qs).all() and np.isfinite(us).all()):
        raise ValueError(
            "an estimate is outside its scale's range (a risk of 0 or 1 on the cloglog scale, "
            "a ratio <= 0 on the log scale)"
        )
    out = rubin(qs, us, dfcom, alpha)
    table = pd.DataFrame({"m": m, **out}, index=pd.Index(names, name="term"))
    for j, s in enumerate(per):
        if s != "identity":
            for col in ("estimate", "lower", "upper"):
                table.iloc[j, table.columns.get_loc(col)] = from_scale(table[col].iloc[j], s)
    table["scale"] = per
    return table
