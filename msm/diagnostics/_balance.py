"""Covariate balance between treated and untreated rows, per time: SMD, variance ratio, KS.

A registry of statistics (``STATS``, after cobalt's ``STATS``) drives the table, the summary
and the printout, so a new statistic is a new record.  The table is tidy: one row per
covariate, time and statistic, unweighted and weighted side by side.

Definitions (``docs/diagnostics.md``), within one time's compared rows:

- SMD: (weighted mean treated - weighted mean untreated) / s, with
  ``s = sqrt((s1^2 + s0^2) / 2)`` from the *unweighted* treated and untreated rows (cobalt's
  default ``s.d.denom = "pooled"``), the same ``s`` for the unweighted and weighted SMD.
  Variances are ``p (1 - p)`` for a 0/1 covariate, else the n - 1 sample variance.
- Variance ratio: weighted variance treated / untreated, with the reliability-weights
  correction ``sum w (x - m)^2 / (sum w - sum w^2 / sum w)`` (the n - 1 variance when
  unweighted); not reported for 0/1 covariates (their variance follows from the mean).
- KS: largest distance between the weighted empirical CDFs of the two arms.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msm.diagnostics._inputs import Covariates, Inputs, kish, resolve_inputs, time_groups
from msm.panel import DataError


@dataclass(frozen=True)
class Stat:
    """One balance statistic: how to judge it and how to print it."""

    name: str
    label: str
    threshold: float | None
    distance: Callable[[np.ndarray], np.ndarray]  # larger is worse; 0 is perfect balance
    binary: bool = True  # reported for 0/1 covariates


def _abs(x: np.ndarray) -> np.ndarray:
    return np.abs(x)


def _ratio_distance(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.log(x))  # a ratio of 2 and one of 1/2 are equally far from 1


STATS: dict[str, Stat] = {
    "smd": Stat("smd", "|SMD|", 0.1, _abs),
    "vr": Stat("vr", "variance ratio", 2.0, _ratio_distance, binary=False),
    "ks": Stat("ks", "KS", None, _abs),
}


BINARY = ("std", "raw")
SD_DENOMINATORS = ("pooled", "treated", "control", "weighted")
WEIGHTS_AS = ("cumulative", "final")


@dataclass(frozen=True)
class Definitions:
    """How the SMD is defined (``balance``'s ``binary``, ``sd_denominator``, ``weights_as``).

    ``binary="std"``: a 0/1 covariate's SMD over sqrt(p (1 - p)) like any other (msm's
    default); ``"raw"``: the plain difference in proportions (cobalt's default for 0/1
    covariates).  ``sd_denominator``: ``"pooled"`` sqrt((s1^2 + s0^2) / 2), ``"treated"``
    s1, ``"control"`` s0, all from the unweighted arms (cobalt's ``s.d.denom``); or
    ``"weighted"``, zEpid's: the arms' weighted variances sum w (x - m)^2 / (sum w - 1),
    pooled (for the weighted SMD; the unweighted one has w = 1).  ``weights_as``: the
    weight up to each row (``"cumulative"``) or each subject's final weight (``"final"``,
    cobalt's for MSMs).
    """

    binary: str = "std"
    sd_denominator: str = "pooled"
    weights_as: str = "cumulative"


def check_definitions(binary, sd_denominator, weights_as) -> Definitions:
    for name, value, allowed in (
        ("binary", binary, BINARY),
        ("sd_denominator", sd_denominator, SD_DENOMINATORS),
        ("weights_as", weights_as, WEIGHTS_AS),
    ):
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return Definitions(binary, sd_denominator, weights_as)


def _within(stat: Stat, values: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is None:
        return np.full(values.shape, np.nan)
    return stat.distance(values) <= stat.distance(np.asarray(threshold, dtype=float)) + 1e-12


@dataclass(frozen=True, eq=False)
class Balance:
    """Balance of covariates between treatment arms, per time.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per covariate, time and statistic: ``covariate``, the time column (absent when
        there is no time), ``stat``, ``unweighted``, ``weighted``, ``threshold``, ``balanced``
        (weighted value within the threshold; missing when the statistic has none), and
        ``n_control``, ``n_treated``.
    ess : pandas.DataFrame
        Per time and arm: ``n`` rows, ``sum_weights`` and Kish ``ess``
        ``(sum w)^2 / sum w^2``.
    skipped : list
        Times left out because one arm had no rows there.
    settings : dict
        Treatment, time, whether the risk set was used, the weights, thresholds.
    """

    table: pd.DataFrame
    ess: pd.DataFrame
    skipped: list
    settings: dict = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """Worst case across times, per covariate and statistic (cobalt's MSM summary).

        Columns: ``covariate``, ``stat``, ``worst_unweighted``, ``worst_weighted`` (the
        largest |SMD| or KS, the variance ratio furthest from 1), ``worst_time`` (where the
        weighted worst is), ``mean_weighted`` (mean |SMD| or KS over times; for the variance
        ratio the geometric mean of max(v, 1/v)), ``threshold``, ``balanced`` (at every time).
        """
        rows = []
        by = self.settings["by"]
        for (covariate, stat_name), part in self.table.groupby(
            ["covariate", "stat"], sort=False, observed=True
        ):
            stat = STATS[stat_name]
            dist_w = stat.distance(part["weighted"].to_numpy(dtype=float))
            worst_u = _worst(stat.distance(part["unweighted"].to_numpy(dtype=float)))
            worst_w = _worst(dist_w)
            defined = dist_w[~np.isnan(dist_w)]
            mean_w = defined.mean() if defined.size else np.nan
            balanced = part["balanced"]
            rows.append(
                {
                    "covariate": covariate,
                    "stat": stat_name,
                    "worst_unweighted": _at(part["unweighted"], worst_u),
                    "worst_weighted": _at(part["weighted"], worst_w),
                    "worst_time": _at(part[by], worst_w) if by is not None else None,
                    "mean_weighted": np.exp(mean_w) if stat_name == "vr" else mean_w,
                    "threshold": self.settings["thresholds"].get(stat_name),
                    "balanced": pd.NA if balanced.isna().all() else bool(balanced.all()),
                }
            )
        out = pd.DataFrame(rows)
        if by is None:
            out = out.drop(columns="worst_time")
        out["balanced"] = out["balanced"].astype("boolean")
        return out

    def __repr__(self) -> str:
        s = self.settings
        by = s["by"]
        where = " within the risk set (not yet treated)" if s["risk_set"] else ""
        weights = f"weighted ({s['weights']})" if s["weights"] else "unweighted (no weights given)"
        head = [
            f"Balance: {s['treatment']!r}" + (f" by {by!r}" if by else "") + f"{where}, {weights}",
            f" - {s['n_compared']} of {s['n_rows']} rows compared"
            + (f" at {s['n_times']} time(s)" if by else ""),
        ]
        if self.skipped:
            head.append(f" - skipped (one arm empty) at {by} {_short_list(self.skipped)}")
        if self.table.empty:
            return "\n".join([*head, " - no time with both arms: nothing to compare"])
        summary = self.summary()
        lead_name = "smd" if "smd" in s["thresholds"] else next(iter(s["thresholds"]))
        label = STATS[lead_name].label
        lead = summary[summary["stat"] == lead_name].set_index("covariate")
        threshold = s["thresholds"][lead_name]
        if threshold is not None:
            n_ok = int(lead["balanced"].fillna(False).sum())
            head.append(
                f" - {label} within {threshold:g}{' at every time' if by else ''}: "
                f"{n_ok} of {len(lead)} covariates"
            )
        shown = pd.DataFrame(
            {
                f"worst {label} unw": lead["worst_unweighted"],
                f"worst {label} w": lead["worst_weighted"],
            }
        )
        if lead_name != "vr":
            shown = shown.abs()
        if by is not None:
            shown[f"at {by}"] = lead["worst_time"]
        shown[f"mean {label} w"] = lead["mean_weighted"]
        for stat_name, other in (("ks", "worst KS w"), ("vr", "worst VR w")):
            part = summary[summary["stat"] == stat_name].set_index("covariate")
            if stat_name != lead_name and not part.empty:
                shown[other] = part["worst_weighted"].reindex(shown.index)
        if threshold is not None:
            shown["balanced"] = lead["balanced"]
        title = "Worst case across times:" if by else "Balance:"
        lines = [*head, title, shown.to_string(float_format="{:.3f}".format)]
        lines.append("Effective sample size (Kish) by arm:")
        lines.append(self.ess_wide().to_string(float_format="{:.1f}".format, max_rows=20))
        return "\n".join(lines)

    def ess_wide(self) -> pd.DataFrame:
        """``ess`` with one row per time: rows and ESS of the control and treated arms."""
        by = self.settings["by"]
        frame = self.ess.assign(_key=self.ess[by] if by else "all")
        wide = frame.pivot(index="_key", columns="arm", values=["n", "ess"])
        wide.columns = [f"{value}_{arm}" for value, arm in wide.columns]
        wide.index.name = by
        wide = wide[["n_control", "n_treated", "ess_control", "ess_treated"]]
        return wide.astype({"n_control": np.int64, "n_treated": np.int64})


def _worst(distance: np.ndarray) -> int | None:
    """Position of the largest distance, ignoring NaN (None when all are NaN)."""
    defined = ~np.isnan(distance)
    return int(np.argmax(np.where(defined, distance, -np.inf))) if defined.any() else None


def _at(values: pd.Series, position: int | None):
    return np.nan if position is None else values.iloc[position]


def _short_list(values: Sequence, limit: int = 8) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def check_statistics(stats, thresholds) -> tuple[list[str], dict]:
    """``stats=`` and ``thresholds=`` of ``balance`` (both front ends): the statistics asked
    for, once each in order, and every statistic's threshold (ValueError before any work).

    Examples
    --------
    >>> check_statistics("smd", {"vr": None})
    (['smd'], {'smd': 0.1, 'vr': None, 'ks': None})
    """
    if isinstance(stats, str):
        stats = (stats,)  # stats="smd": one statistic
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ValueError(f"stats must be a non-empty subset of {list(STATS)}, got {list(stats)}")
    limits = {name: stat.threshold for name, stat in STATS.items()}
    for name, value in (thresholds or {}).items():
        if name not in STATS:
            raise ValueError(f"thresholds: unknown statistic {name!r}; known: {list(STATS)}")
        number = isinstance(value, int | float | np.integer | np.floating)
        if value is not None and (
            isinstance(value, bool | np.bool_) or not number or not np.isfinite(value) or value <= 0
        ):
            raise ValueError(
                f"thresholds[{name!r}] must be None or a positive number, got {value!r}"
            )
        limits[name] = value
    return list(dict.fromkeys(stats)), limits


def balance(
    data: pd.DataFrame,
    *,
    treatment: str | None = None,
    covariates: Covariates,
    weights=None,
    by: str | None = None,
    id: str | None = None,
    time: str | None = None,
    absorbing: bool | None = None,
    risk_set: bool | None = None,
    stats: Sequence[str] = ("smd", "vr", "ks"),
    thresholds: dict[str, float | None] | None = None,
    binary: str = "std",
    sd_denominator: str = "pooled",
    weights_as: str = "cumulative",
    multivariate: bool = True,
) -> Balance:
    """Covariate balance between treated and untreated rows, unweighted and weighted, by time.

    At each value of ``by`` (normally the time) the rows of treated and untreated subjects are
    compared.  For an absorbing treatment the comparison is, by default, within the risk set:
    rows of subjects not treated before that time (their first treated row included), which
    are the rows whose treatment the weight model explains.  Weights are each row's
    cumulative weight.

    Standardized mean difference: difference in (weighted) means, treated minus untreated,
    over the pooled SD ``sqrt((s1^2 + s0^2) / 2)`` of the *unweighted* arms at that time
    (cobalt's default), so weighting changes the numerator only; a 0/1 covariate's variance is
    ``p (1 - p)``.  Variance ratio: weighted variance treated over untreated (not for 0/1
    covariates).  KS: the largest gap between the arms' weighted empirical CDFs.  A zero SD
    gives SMD 0 when the arm means agree and +-inf when they differ (perfect separation).

    Parameters
    ----------
    data : DataFrame
        Long person-time data (any row order); never modified.
    treatment : str
        0/1 treatment column; taken from ``weights`` when it is a Weights object.
    covariates : list of str or str
        Columns to compare, or a formula right-hand side (``"age + C(site)"``).
    weights : Weights, str, array-like or None
        A Weights object from :func:`msm.iptw`, a column name, or one weight per row.
        ``None`` reports unweighted balance only (weighted = unweighted).
    by : str, optional
        Column to report by; defaults to ``time`` (from the Weights object).
    id, time : str, optional
        Subject and time columns, needed for the risk set; taken from a Weights object.
    absorbing : bool, optional
        Once treated, always treated; taken from a Weights object, else False.
    risk_set : bool, optional
        Compare within the risk set; defaults to ``absorbing``.
    stats : sequence of {"smd", "vr", "ks"}
        Statistics to compute.
    thresholds : dict, optional
        Overrides of the default thresholds (``{"smd": 0.1, "vr": 2.0, "ks": None}``); a
        variance ratio ``v`` is balanced when ``1/t <= v <= t``.
    binary : {"std", "raw"}
        A 0/1 covariate's SMD standardized by sqrt(p (1 - p)) (the default) or its raw
        difference in proportions (cobalt's default, ``binary = "raw"``).
    sd_denominator : {"pooled", "treated", "control", "weighted"}
        The SMD's standard deviation: from the unweighted arms pooled (the default, cobalt's
        for the ATE), the treated arm (cobalt's for the ATT) or the control arm (ATC); or
        zEpid's weighted SD (arm-wise weighted variances with divisor sum(w) - 1, pooled).
    weights_as : {"cumulative", "final"}
        Each row's weight up to its time (the default), or each subject's final weight
        at every time (cobalt's default for time-varying treatments).
    multivariate : bool
        For a categorical covariate, besides one row per level (every level, the reference
        included), a row named after the covariate with the single multivariate SMD of
        zEpid (Mahalanobis: sqrt(T' S^-1 T), T the differences in proportions of levels
        2..k, S the average of the arms' multinomial covariances).

    Returns
    -------
    Balance
        ``.table`` (tidy), ``.ess``, ``.summary()``; printing it leads with the worst |SMD|
        per covariate across times.

    Examples
    --------
    >>> import msm
    >>> cohort = msm.datasets.simulate_panel(n_subjects=300, seed=1)
    >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
    ...              denominator="x + l + time", numerator="x + time", absorbing=True)
    >>> b = msm.balance(cohort, covariates=["x", "l"], weights=w)
    >>> list(b.table.columns[:6])
    ['covariate', 'time', 'stat', 'unweighted', 'weighted', 'threshold']
    >>> bool(b.summary().query("stat == 'smd' and covariate == 'l'")["worst_weighted"].abs()
    ...      .iloc[0] < b.summary().query("stat == 'smd' and covariate == 'l'")
    ...      ["worst_unweighted"].abs().iloc[0])
    True
    """
    stats, limits = check_statistics(stats, thresholds)
    definitions = check_definitions(binary, sd_denominator, weights_as)
    inputs = resolve_inputs(
        data,
        treatment=treatment,
        covariates=covariates,
        weights=weights,
        time=time,
        id=id,
        absorbing=absorbing,
        risk_set=risk_set,
        by=by,
        caller="balance",
        weights_as=weights_as,
        all_levels=True,
    )
    return _compute(inputs, stats, limits, definitions, multivariate)


def _compute(
    inputs: Inputs,
    stats: list[str],
    limits: dict,
    definitions: Definitions = Definitions(),
    multivariate: bool = True,
) -> Balance:
    mask = inputs.compared
    keys, group = time_groups(inputs.by_values, mask)
    a = inputs.a[mask].astype(np.int64)
    w = inputs.w[mask]
    X = _scaled(inputs.X[mask], inputs.binary)
    moments = group_moments(X, a, w, group, keys.size)
    ks = group_ks(X, a, w, group, keys.size) if "ks" in stats else None
    return tabulate(
        inputs, keys, moments, ks, stats, limits, int(mask.sum()), definitions, multivariate
    )


def _scaled(X: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """Each non-binary column times the power of two that brings its largest value near 1.

    SMD, variance ratio and KS are scale-free, and a power of two scales exactly; without it
    the sums of squares of a covariate at 1e300 overflow (SMD 0, VR NaN) and at 1e-300
    underflow (SMD 0, VR 1).
    """
    if not X.size:
        return X
    top = np.max(np.abs(X), axis=0)
    exponent = np.frexp(np.where(top > 0, top, 1.0))[1]
    exponent[binary] = 0  # 0/1 columns stay 0/1: their SMD uses the proportions
    if not exponent.any():
        return X
    return np.ldexp(X, -exponent)


def tabulate(
    inputs,
    keys,
    moments,
    ks,
    stats: list[str],
    limits: dict,
    n_compared: int,
    definitions: Definitions = Definitions(),
    multivariate: bool = True,
):
    """The Balance of grouped moments (in memory, or reduced over dask partitions).

    ``inputs`` supplies ``names``, ``binary``, ``by``, ``treatment``, ``risk_set``,
    ``weights_label`` and ``n`` (and ``factors``, ``weight_exponent`` when it has them);
    ``ks`` is None when not computed.
    """
    count = moments["count"]  # (G, 2)
    both = (count[:, 0] > 0) & (count[:, 1] > 0)
    values = {}
    exponent = getattr(inputs, "weight_exponent", 0)
    if "smd" in stats:
        values["smd"] = smd_from_moments(moments, inputs.binary, definitions, exponent)
    if "vr" in stats:
        values["vr"] = vr_from_moments(moments)
    if "ks" in stats:
        values["ks"] = ks

    by = inputs.by
    frames = []
    kept = np.flatnonzero(both)
    if kept.size == 0:
        arms = "treated" if not count[:, 1].any() else "untreated"
        where = f" at any value of {inputs.by!r}" if inputs.by is not None else ""
        raise DataError(
            inputs.treatment,
            f"no {arms} rows to compare{where}: balance needs both treatment arms among the "
            f"{n_compared} rows compared" + (" (the risk set)" if inputs.risk_set else ""),
        )
    for j, name in enumerate(inputs.names):
        for stat_name in stats:
            stat = STATS[stat_name]
            if not stat.binary and inputs.binary[j]:
                continue
            unweighted, weighted = values[stat_name]
            part = {
                # a list, not the scalar: a tuple label (MultiIndex columns) would be read
                # by pandas as a column of its elements
                "covariate": [name] * kept.size,
                "stat": stat_name,
                "unweighted": unweighted[kept, j],
                "weighted": weighted[kept, j],
                "threshold": limits[stat_name],
                "n_control": count[kept, 0].astype(np.int64),
                "n_treated": count[kept, 1].astype(np.int64),
            }
            if by is not None:
                part[by] = keys[kept]
            frames.append(pd.DataFrame(part))
    factors = getattr(inputs, "factors", {}) if multivariate and "smd" in stats else {}
    names = list(inputs.names)
    for factor, levels in factors.items():
        unweighted, weighted = multivariate_smd(moments, levels)
        part = {
            "covariate": [factor] * kept.size,
            "stat": "smd",
            "unweighted": unweighted[kept],
            "weighted": weighted[kept],
            "threshold": limits["smd"],
            "n_control": count[kept, 0].astype(np.int64),
            "n_treated": count[kept, 1].astype(np.int64),
        }
        if by is not None:
            part[by] = keys[kept]
        frames.append(pd.DataFrame(part))
        # the factor's row goes before its levels
        names.insert(names.index(inputs.names[levels[0]]), factor)
    columns = ["covariate", *([by] if by else []), "stat", "unweighted", "weighted", "threshold"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    balanced = pd.array([pd.NA] * len(table), dtype="boolean")
    for stat_name in stats:
        rows = (table["stat"] == stat_name).to_numpy()
        if rows.any() and limits[stat_name] is not None:
            ok = _within(STATS[stat_name], table["weighted"].to_numpy()[rows], limits[stat_name])
            balanced[rows] = ok
    table["balanced"] = balanced
    order = {name: i for i, name in enumerate(stats)}
    sort_keys = ["_cov", *([by] if by else []), "_stat"]
    table = (
        table.assign(
            _cov=table["covariate"].map({n: i for i, n in enumerate(names)}),
            _stat=table["stat"].map(order),
        )
        .sort_values(sort_keys, kind="stable")
        .drop(columns=["_cov", "_stat"])
        .reset_index(drop=True)
    )
    table = table[[*columns, "balanced", "n_control", "n_treated"]]

    ess_rows = {
        "arm": np.tile(["control", "treated"], keys.size),
        "n": count.ravel().astype(np.int64),
        "sum_weights": moments["wsum"].ravel(),
        "ess": kish(moments["wsum"], moments["w2sum"]).ravel(),
    }
    if by is not None:
        ess_rows = {by: np.repeat(keys, 2), **ess_rows}
    skipped = list(keys[~both]) if by is not None else []
    settings = {
        "treatment": inputs.treatment,
        "by": by,
        "risk_set": inputs.risk_set,
        "weights": inputs.weights_label,
        "thresholds": {s: limits[s] for s in stats},
        "n_rows": inputs.n,
        "n_compared": n_compared,
        "n_times": int(keys.size),
        "covariates": list(inputs.names),
        "binary": definitions.binary,
        "sd_denominator": definitions.sd_denominator,
        "weights_as": definitions.weights_as,
    }
    return Balance(table=table, ess=pd.DataFrame(ess_rows), skipped=skipped, settings=settings)


# ---------------------------------------------------------------------------------------------
# grouped moments: one bincount pass per covariate over (group, arm) cells


def group_moments(
    X: np.ndarray, a: np.ndarray, w: np.ndarray, group: np.ndarray, n_groups: int
) -> dict[str, np.ndarray]:
    """Per (group, arm) cell: counts, weight sums, unweighted and weighted means and variances.

    Returns arrays ``count``, ``wsum``, ``w2sum`` (G, 2) and ``mean_u``, ``mean_w``,
    ``var_u`` (n - 1), ``var_w`` (reliability-weights correction) (G, 2, p).  Variances are
    two-pass (deviations from the cell mean), so large offsets do not cancel.
    """
    cells = 2 * n_groups
    key = group * 2 + a
    count = np.bincount(key, minlength=cells).astype(np.float64)
    wsum = np.bincount(key, weights=w, minlength=cells)
    w2sum = np.bincount(key, weights=w * w, minlength=cells)
    p = X.shape[1]
    mean_u = np.empty((cells, p))
    mean_w = np.empty((cells, p))
    var_u = np.empty((cells, p))
    var_w = np.empty((cells, p))
    with np.errstate(divide="ignore", invalid="ignore"):
        dof_u = np.where(count > 1, count - 1.0, np.nan)
        dof_w = wsum - w2sum / wsum
        dof_w = np.where(dof_w > 0, dof_w, np.nan)
        for j in range(p):
            x = X[:, j]
            mean_u[:, j] = np.bincount(key, weights=x, minlength=cells) / count
            mean_w[:, j] = np.bincount(key, weights=w * x, minlength=cells) / wsum
            dev = x - mean_u[key, j]
            var_u[:, j] = np.bincount(key, weights=dev * dev, minlength=cells) / dof_u
            dev = x - mean_w[key, j]
            var_w[:, j] = np.bincount(key, weights=w * dev * dev, minlength=cells) / dof_w
    shape = (n_groups, 2, p)
    return {
        "count": count.reshape(n_groups, 2),
        "wsum": wsum.reshape(n_groups, 2),
        "w2sum": w2sum.reshape(n_groups, 2),
        "mean_u": mean_u.reshape(shape),
        "mean_w": mean_w.reshape(shape),
        "var_u": var_u.reshape(shape),
        "var_w": var_w.reshape(shape),
    }


def pooled_sd(mean_u: np.ndarray, var_u: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """``sqrt((s1^2 + s0^2) / 2)`` over the arms (axis -2), ``p (1 - p)`` for 0/1 covariates.

    An arm whose variance is undefined (one row) is left out of the pooling.
    """
    var = np.where(binary, mean_u * (1.0 - mean_u), var_u)
    return np.sqrt(np.nanmean(var, axis=-2))


def standardize(diff: np.ndarray, sd: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``diff / sd``; where ``sd`` is 0: 0 if ``diff`` is rounding noise, else +-inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = diff / sd
    zero_sd = sd == 0
    if zero_sd.any():
        noise = np.abs(diff) <= 1e-10 * np.maximum(1.0, np.abs(scale))
        with np.errstate(invalid="ignore"):
            separated = np.sign(diff) * np.inf
        out = np.where(zero_sd & noise, 0.0, np.where(zero_sd, separated, out))
    return out


def smd_from_moments(
    moments: dict,
    binary: np.ndarray,
    definitions: Definitions = Definitions(),
    weight_exponent: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted and weighted SMD (G, p) by ``definitions`` (default: both over the
    unweighted pooled SD).  ``weight_exponent``: the moments' weights are the weights times
    2**-weight_exponent (zEpid's divisor sum(w) - 1 is not scale-free)."""
    raw = binary & (definitions.binary == "raw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty arms: all-NaN cells
        sd_u = arm_sd(moments["mean_u"], moments["var_u"], binary, definitions.sd_denominator)
        sd_w = sd_u
        if definitions.sd_denominator == "weighted":
            var_w = zepid_weighted_variance(moments, weight_exponent)
            sd_w = arm_sd(moments["mean_w"], var_w, binary, "pooled")
        scale = np.nanmax(np.abs(moments["mean_u"]), axis=1)
    out = []
    for mean, sd in ((moments["mean_u"], sd_u), (moments["mean_w"], sd_w)):
        diff = mean[:, 1] - mean[:, 0]
        out.append(np.where(raw, diff, standardize(diff, sd, scale)))
    return out[0], out[1]


def arm_sd(mean: np.ndarray, var: np.ndarray, binary: np.ndarray, which: str) -> np.ndarray:
    """The SD of the SMD from the arms' (G, 2, p) variances: pooled, treated or control."""
    if which in ("pooled", "weighted"):
        return pooled_sd(mean, var, binary)
    arm = 1 if which == "treated" else 0
    v = np.where(binary, mean * (1.0 - mean), var)[:, arm]
    return np.sqrt(v)


def zepid_weighted_variance(moments: dict, weight_exponent: int) -> np.ndarray:
    """The arms' weighted variances sum w (x - m)^2 / (sum w - 1) (zEpid), from the
    reliability-weighted ones, on the weights' own scale."""
    wsum = moments["wsum"][:, :, None]
    w2sum = moments["w2sum"][:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        squares = moments["var_w"] * (wsum - w2sum / wsum)  # sum w (x - m)^2, scaled weights
        true_wsum = np.ldexp(wsum, weight_exponent)
        return np.ldexp(squares, weight_exponent) / (true_wsum - 1.0)


def multivariate_smd(moments: dict, levels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """zEpid's multivariate SMD of a categorical covariate, unweighted and weighted (G,).

    Over levels 2..k (``levels[1:]``; ``levels[0]`` is the reference): T = p1 - p0 and S
    with diagonal (p1k (1 - p1k) + p0k (1 - p0k)) / 2, off-diagonal -(p1k p1l + p0k p0l) / 2;
    SMD = sqrt(T' S^-1 T), from the arms' (weighted) proportions.
    """
    out = []
    others = levels[1:]
    for key in ("mean_u", "mean_w"):
        p = moments[key][:, :, others]  # (G, 2, k - 1)
        p0, p1 = p[:, 0], p[:, 1]
        t = p1 - p0
        smd = np.full(p.shape[0], np.nan)
        for g in range(p.shape[0]):
            s = -(np.outer(p1[g], p1[g]) + np.outer(p0[g], p0[g])) / 2.0
            np.fill_diagonal(s, (p1[g] * (1 - p1[g]) + p0[g] * (1 - p0[g])) / 2.0)
            if not (np.isfinite(s).all() and np.isfinite(t[g]).all()):
                continue
            solved, *_ = np.linalg.lstsq(s, t[g], rcond=None)
            smd[g] = float(np.sqrt(max(t[g] @ solved, 0.0)))
        out.append(smd)
    return out[0], out[1]


def vr_from_moments(moments: dict) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted and weighted variance ratio treated / untreated (G, p); 0/0 gives 1."""
    out = []
    for var in (moments["var_u"], moments["var_w"]):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = var[:, 1] / var[:, 0]
        out.append(np.where((var[:, 1] == 0) & (var[:, 0] == 0), 1.0, ratio))
    return out[0], out[1]


def group_ks(
    X: np.ndarray, a: np.ndarray, w: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted and weighted two-sample KS statistics per group (G, p).

    One sort per covariate by (group, value); the arms' cumulative (weighted) shares are
    compared at the last row of each run of tied values.
    """
    p = X.shape[1]
    ks_u = np.full((n_groups, p), np.nan)
    ks_w = np.full((n_groups, p), np.nan)
    treated = a == 1
    for j in range(p):
        x = X[:, j]
        order = np.lexsort((x, group))
        xs = x[order]
        gs = group[order]
        ts = treated[order]
        last = np.ones(xs.size, dtype=bool)
        last[:-1] = (xs[1:] != xs[:-1]) | (gs[1:] != gs[:-1])
        for out, weight in ((ks_u, None), (ks_w, w[order])):
            one = np.ones(xs.size) if weight is None else weight
            gaps = _cdf_gaps(one * ts, one * ~ts, gs, n_groups)
            with np.errstate(invalid="ignore"):
                result = np.zeros(n_groups)
                np.maximum.at(result, gs[last], gaps[last])
            out[:, j] = result  # NaN where an arm has no (positive) weight
    return ks_u, ks_w


def _cdf_gaps(m1: np.ndarray, m0: np.ndarray, gs: np.ndarray, n_groups: int) -> np.ndarray:
    """|F1 - F0| after each row, within groups (rows sorted by group)."""
    tot1 = np.bincount(gs, weights=m1, minlength=n_groups)
    tot0 = np.bincount(gs, weights=m0, minlength=n_groups)
    c1 = np.cumsum(m1)
    c0 = np.cumsum(m0)
    first = np.searchsorted(gs, np.arange(n_groups))
    base1 = np.concatenate(([0.0], c1))[first]
    base0 = np.concatenate(([0.0], c0))[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = (c1 - base1[gs]) / tot1[gs]
        f0 = (c0 - base0[gs]) / tot0[gs]
    return np.abs(f1 - f0)
