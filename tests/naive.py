"""Slow, obviously right twins of the numba kernels, with the same names."""

from __future__ import annotations

import numpy as np
import pandas as pd


def grouped_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    groups = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    return pd.Series(values).groupby(groups, sort=False).cumsum().to_numpy()


def logit_log_prob(X, beta, y):
    eta = X @ beta
    return np.where(y > 0.5, -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta))


def iptw_reference(
    df: pd.DataFrame,
    *,
    id: str,
    time: str,
    treatment: str,
    denominator: str,
    numerator: str | None,
    absorbing: bool,
    censor: str | None = None,
) -> pd.DataFrame:
    """IP weights the obvious way: statsmodels GLM fits, pandas cumprod.  Input-order output.

    Returns columns ``treatment``, ``censoring`` and ``weight``.
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    data = df.sort_values([id, time], kind="stable")
    a = data[treatment].astype(float)
    if absorbing:
        before = a.groupby(data[id]).cumsum() - a
        rows = before == 0
    else:
        rows = pd.Series(True, index=data.index)

    def prob(rhs, outcome, fit_rows):
        fit = smf.glm(f"{outcome} ~ {rhs}", data[fit_rows], family=sm.families.Binomial()).fit(
            tol=1e-13
        )
        return fit.predict(data)

    def factors(rhs, outcome, fit_rows, cens):
        p = prob(rhs, outcome, fit_rows)
        y = data[outcome].astype(float)
        f = 1 - p if cens else np.where(y == 1, p, 1 - p)
        return pd.Series(np.where(fit_rows, f, 1.0), index=data.index)

    ratio = 1.0 / factors(denominator, treatment, rows, False)
    if numerator is not None:
        ratio = ratio * factors(numerator, treatment, rows, False)
    treat_w = ratio.groupby(data[id]).cumprod()
    cens_w = pd.Series(1.0, index=data.index)
    if censor is not None:
        everything = pd.Series(True, index=data.index)
        cratio = 1.0 / factors(denominator, censor, everything, True)
        if numerator is not None:
            cratio = cratio * factors(numerator, censor, everything, True)
        cens_w = cratio.groupby(data[id]).cumprod()
    out = pd.DataFrame({"treatment": treat_w, "censoring": cens_w})
    out["weight"] = out["treatment"] * out["censoring"]
    return out.loc[df.index]


def gather_column(source, rows, out, j):
    out[:, j] = np.asarray(source, dtype=np.float64)[rows]
    return out


def product_design(out, integers, floats, fkind, fvar, fstart, fpow):
    """Column j: the product of factors fstart[j] .. (variable fvar[k] of integers or floats
    by fkind[k], to the power fpow[k]), in float64 (numpy)."""
    for j in range(out.shape[1]):
        column = np.ones(out.shape[0])
        for k in range(fstart[j], fstart[j + 1]):
            source = integers if fkind[k] == 0 else floats
            column = column * source[fvar[k]].astype(np.float64) ** fpow[k]
        out[:, j] = column
    return out


def column_abs_max(X, w):
    fitted = np.abs(X[w > 0])
    return fitted.max(axis=0) if fitted.shape[0] else np.zeros(X.shape[1])
