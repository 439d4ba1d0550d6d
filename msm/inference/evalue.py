"""E-values (VanderWeele & Ding 2017, Ann Intern Med 167:268), as R EValue 4.1.4 computes them.

The E-value is the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both the treatment and the outcome, conditional on the
measured covariates, to explain away an observed association (move it to ``true``).

- Conversion to the risk-ratio scale, applied to the estimate, both limits and ``true``
  alike: an odds ratio becomes sqrt(OR) (common outcome, ``rare=False``) or stays (``rare=True``);
  a hazard ratio (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) or stays; a risk ratio stays; a
  standardized mean difference d becomes exp(0.91 d) with limits exp(0.91 d -+ 1.78 se) (it
  needs the standard error, EValue's ``evalues.MD``).
- E(x, true): if x <= 1, x becomes 1/x and true 1/true; then, if true <= x,
  E = (x + sqrt(x (x - true))) / true; otherwise, with r = true / x, E = r + sqrt(r (r - 1)).
- The confidence interval's E-value is that of the limit on the side of ``true`` (the lower
  limit when the estimate is above ``true``, the upper when below); it is 1 when the interval
  contains ``true``; the other limit's is missing.  An estimate equal to ``true`` has E-value 1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["SCALES", "evalue", "ratio_evalues", "to_risk_ratio"]

SCALES = ("RR", "OR", "HR", "SMD")


def _hr_to_rr(hr: float) -> float:
    return (1.0 - 0.5 ** math.sqrt(hr)) / (1.0 - 0.5 ** math.sqrt(1.0 / hr))


def to_risk_ratio(value: float, scale: str, rare: bool = False) -> float:
    """``value`` (an estimate, a limit or ``true``) on the risk-ratio scale (not for SMD)."""
    if scale == "RR" or (rare and scale in ("OR", "HR")):
        return float(value)
    if scale == "OR":
        return math.sqrt(value)
    if scale == "HR":
        return _hr_to_rr(value)
    raise ValueError(f"scale must be one of {list(SCALES[:3])} here, got {scale!r}")


def _e(x: float, true: float) -> float:
    """The E-value of a risk ratio ``x`` against ``true`` (EValue's ``threshold``)."""
    if x <= 1.0:
        x, true = 1.0 / x, 1.0 / true
    if true <= x:
        return (x + math.sqrt(x * (x - true))) / true
    r = true / x
    return r + math.sqrt(r * (r - 1.0))


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def evalue(
    estimate: float,
    lower: float | None = None,
    upper: float | None = None,
    *,
    se: float | None = None,
    scale: str = "RR",
    rare: bool = False,
    true: float | None = None,
) -> pd.DataFrame:
    """E-values of an estimate and its confidence interval (R EValue's ``evalues.*``).

    Parameters
    ----------
    estimate : float
        The point estimate on ``scale`` (a ratio, or a standardized mean difference).
    lower, upper : float, optional
        The confidence limits (ratios).  For ``scale="SMD"`` give ``se`` instead.
    se : float, optional
        The standard error of a standardized mean difference (``scale="SMD"`` only).
    scale : {"RR", "OR", "HR", "SMD"}
        What the estimate is: a risk ratio, odds ratio, hazard ratio or standardized mean
        difference (EValue's ``evalues.RR``, ``.OR``, ``.HR``, ``.MD``).
    rare : bool
        Odds and hazard ratios: the outcome is rare (under about 15% at the end of
        follow-up), so they approximate risk ratios; otherwise they are converted.
    true : float, optional
        The value to explain the estimate away to (default 1 for ratios, 0 for an SMD).

    Returns
    -------
    pandas.DataFrame
        Rows ``"RR"`` (the estimate and limits on the risk-ratio scale) and ``"E-value"``;
        columns ``point``, ``lower``, ``upper`` (missing where EValue gives NA).

    Examples
    --------
    >>> import msm
    >>> msm.evalue(3.9, 1.8, 8.7).round(3)
             point  lower  upper
    RR       3.900    1.8    8.7
    E-value  7.263    3.0    NaN
    >>> float(msm.evalue(0.5, se=0.1, scale="SMD").loc["E-value", "point"].round(4))
    2.5291
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    if not isinstance(rare, bool | np.bool_):
        raise ValueError(f"rare must be True or False, got {rare!r}")
    est = _positive("estimate", estimate)
    if scale == "SMD":
        if se is None:
            raise ValueError(
                "an SMD's E-value needs its standard error: evalue(d, se=..., scale='SMD')"
            )
        if lower is not None or upper is not None:
            raise ValueError("for scale='SMD' give se= (the limits follow from it), not limits")
        se = _positive("se", se)
        if se <= 0:
            raise ValueError(f"se must be positive, got {se!r}")
        true = 0.0 if true is None else _positive("true", true)
        point = math.exp(0.91 * est)
        lo, hi = math.exp(0.91 * est - 1.78 * se), math.exp(0.91 * est + 1.78 * se)
        true_rr = math.exp(0.91 * true)
    else:
        if se is not None:
            raise ValueError("se= is for scale='SMD'; a ratio's interval is given by its limits")
        true = 1.0 if true is None else _positive("true", true)
        values = {"estimate": est, "true": true}
        for name, value in (("lower", lower), ("upper", upper)):
            if value is not None:
                values[name] = _positive(name, value)
        for name, value in values.items():
            if value <= 0:
                raise ValueError(f"{name} must be a positive ratio, got {value!r}")
        if lower is not None and upper is not None and values["lower"] > values["upper"]:
            raise ValueError(f"lower ({lower}) is above upper ({upper})")
        if lower is not None and not values["lower"] <= est:
            raise ValueError(f"the estimate ({est}) is below its lower limit ({lower})")
        if upper is not None and not est <= values["upper"]:
            raise ValueError(f"the estimate ({est}) is above its upper limit ({upper})")
        point = to_risk_ratio(est, scale, rare)
        lo = None if lower is None else to_risk_ratio(values["lower"], scale, rare)
        hi = None if upper is None else to_risk_ratio(values["upper"], scale, rare)
        true_rr = to_risk_ratio(true, scale, rare)
    e_point = 1.0 if point == true_rr else _e(point, true_rr)
    e_lower = e_upper = np.nan
    if point > true_rr and lo is not None:
        e_lower = 1.0 if lo <= true_rr else _e(lo, true_rr)
    elif point < true_rr and hi is not None:
        e_upper = 1.0 if hi >= true_rr else _e(hi, true_rr)
    elif point == true_rr:
        e_lower = 1.0
    table = pd.DataFrame(
        {
            "point": [point, e_point],
            "lower": [np.nan if lo is None else lo, e_lower],
            "upper": [np.nan if hi is None else hi, e_upper],
        },
        index=["RR", "E-value"],
    )
    return table


def ratio_evalues(
    estimate: float, lower: float | None = None, upper: float | None = None, *, true: float = 1.0
) -> tuple[float, float]:
    """The E-values of a risk ratio and of its interval (``evalue``'s two numbers).

    Returns ``(E-value of the estimate, E-value of the limit nearest true)``; the second is
    NaN without limits.
    """
    e = evalue(estimate, lower, upper, true=true)
    limit = e.loc["E-value", ["lower", "upper"]].dropna()
    return float(e.loc["E-value", "point"]), float(limit.iloc[0]) if len(limit) else np.nan
