"""Plots: love plot by time, weights by time, ESS by time, risk curves under regimes and
under the strategies of an emulated target trial.

matplotlib is an optional extra (``pip install msm[plot]``) and is imported only when a plot
is drawn, so ``import msm`` works without it.  Each function returns the matplotlib Figure;
single-panel plots accept ``ax=`` to draw into an existing Axes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from msm.diagnostics import STATS, Balance
from msm.panel import (
    DataError,
    check_columns_exist,
    check_frame,
    check_unique_columns,
    resolve_weights,
)
from msm.weights import Weights

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_UNWEIGHTED = {"marker": "o", "facecolors": "none", "edgecolors": "0.45", "label": "unweighted"}
_WEIGHTED = {"marker": "o", "color": "C0", "label": "weighted"}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "msm's plots need matplotlib: pip install 'msm[plot]' (or pip install matplotlib)"
        ) from None
    return plt


def _figure(ax, **subplots):
    plt = _pyplot()
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(**subplots)


def love_plot(
    balance: Balance,
    *,
    stat: str = "smd",
    by_time: bool | None = None,
    threshold: float | None = None,
    ncols: int = 4,
    ax: Axes | None = None,
) -> Figure:
    """Love plot: each covariate's balance statistic, unweighted (open) and weighted (filled).

    Parameters
    ----------
    balance : Balance
        From :func:`msm.balance`.
    stat : {"smd", "ks", "vr"}
        Statistic to show; SMD and KS as absolute values.
    by_time : bool, optional
        One panel per time (default when the balance is by time); ``False`` draws one panel
        with each covariate's worst value across times, as cobalt's summary does.
    threshold : float, optional
        Reference line; defaults to the balance's threshold for ``stat``.
    ncols : int
        Panels per row when ``by_time``.
    ax : matplotlib Axes, optional
        Draw a single-panel plot (``by_time=False``) here.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import msm, msm.plot
    >>> cohort = msm.datasets.simulate_panel(n_subjects=300, n_visits=4, seed=1)
    >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
    ...              denominator="x + l + time", absorbing=True)
    >>> fig = msm.plot.love_plot(msm.balance(cohort, covariates=["x", "l"], weights=w))
    >>> fig.axes[0].get_xlabel()
    '|SMD|'
    """
    if stat not in STATS:
        raise ValueError(f"stat must be one of {list(STATS)}, got {stat!r}")
    table = balance.table[balance.table["stat"] == stat]
    if table.empty:
        raise ValueError(f"the balance has no {stat!r} rows (computed: {balance.settings})")
    by = balance.settings["by"]
    by_time = by is not None if by_time is None else bool(by_time) and by is not None
    label = STATS[stat].label
    threshold = balance.settings["thresholds"].get(stat) if threshold is None else threshold
    covariates = list(dict.fromkeys(table["covariate"]))
    y = np.arange(len(covariates))[::-1]
    position = dict(zip(covariates, y, strict=True))
    shown = (lambda v: np.abs(v)) if stat != "vr" else (lambda v: v)

    if not by_time:
        summary = balance.summary()
        summary = summary[summary["stat"] == stat].set_index("covariate").loc[covariates]
        fig, axis = _figure(ax, figsize=(6, 1.5 + 0.35 * len(covariates)), layout="constrained")
        _love_panel(
            axis,
            y,
            shown(summary["worst_unweighted"].to_numpy(dtype=float)),
            shown(summary["worst_weighted"].to_numpy(dtype=float)),
            covariates,
            threshold,
            stat,
        )
        axis.set_xlabel(label)
        title = "worst across times" if by is not None else ""
        axis.set_title(f"Balance of {balance.settings['treatment']!r} {title}".strip())
        axis.legend(loc="best", fontsize="small")
        return fig

    if ax is not None:
        raise ValueError("ax= draws one panel: pass by_time=False, or leave ax out")
    times = list(dict.fromkeys(table[by]))
    ncols = max(1, min(ncols, len(times)))
    nrows = -(-len(times) // ncols)
    plt = _pyplot()
    fig, axes = plt.subplots(
        nrows,
        ncols,
        sharex=True,
        sharey=True,
        squeeze=False,
        figsize=(2.6 * ncols + 1.6, (0.9 + 0.3 * len(covariates)) * nrows + 0.8),
        layout="constrained",
    )
    for k, t in enumerate(times):
        axis = axes.flat[k]
        part = table[table[by] == t]
        rows = np.array([position[c] for c in part["covariate"]])
        _love_panel(
            axis,
            rows,
            shown(part["unweighted"].to_numpy(dtype=float)),
            shown(part["weighted"].to_numpy(dtype=float)),
            covariates,
            threshold,
            stat,
            ticks=y,
        )
        axis.set_title(f"{by} = {t}", fontsize="small")
        if k + ncols >= len(times):  # no panel below: this one carries the x axis
            axis.set_xlabel(label)
            axis.xaxis.set_tick_params(labelbottom=True)
    for axis in list(axes.flat)[len(times) :]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    fig.suptitle(f"Balance of {balance.settings['treatment']!r} by {by}")
    return fig


def _love_panel(axis, rows, unweighted, weighted, covariates, threshold, stat, ticks=None):
    finite = np.isfinite(unweighted) & np.isfinite(weighted)
    for values, style in ((unweighted, _UNWEIGHTED), (weighted, _WEIGHTED)):
        axis.scatter(np.where(np.isfinite(values), values, np.nan), rows, zorder=3, **style)
    if threshold is not None:
        for line in [threshold] if stat != "vr" else [threshold, 1.0 / threshold]:
            axis.axvline(line, color="0.3", linestyle="--", linewidth=0.8)
    if stat == "vr":
        axis.axvline(1.0, color="0.7", linewidth=0.8)
    else:
        axis.axvline(0.0, color="0.7", linewidth=0.8)
    ticks = rows if ticks is None else ticks
    axis.set_yticks(ticks)
    axis.set_ylim(-0.6, len(covariates) - 0.4)
    axis.set_yticklabels([covariates[len(covariates) - 1 - int(r)] for r in ticks])
    axis.grid(axis="x", color="0.92")
    if not finite.all():
        axis.text(
            0.98,
            0.02,
            "some values infinite or undefined: not drawn",
            transform=axis.transAxes,
            ha="right",
            fontsize="x-small",
        )


def weights_by_time(
    weights,
    data: pd.DataFrame | None = None,
    *,
    time: str | None = None,
    log: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Box plots of the weights at each time, on a log scale by default.

    Parameters
    ----------
    weights : Weights, str or array-like
        A Weights object (its own time column is used), a column of ``data``, or one weight
        per row of ``data``.
    data : DataFrame, optional
        Needed unless ``weights`` is a Weights object.
    time : str, optional
        Time column of ``data`` (default: the Weights' time).
    log : bool
        Log scale for the weights (a weight of 1 is the reference line).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import msm, msm.plot
    >>> cohort = msm.datasets.simulate_panel(n_subjects=200, n_visits=4, seed=1)
    >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
    ...              denominator="x + l + time", absorbing=True)
    >>> msm.plot.weights_by_time(w).axes[0].get_yscale()
    'log'
    """
    values, times, time_name = _weights_and_time(weights, data, time)
    keys = np.unique(times)
    groups = [values[times == k] for k in keys]
    fig, axis = _figure(ax, figsize=(max(5.0, 0.45 * len(keys) + 2), 4), layout="constrained")
    axis.boxplot(groups, showfliers=True, flierprops={"markersize": 2, "alpha": 0.5})
    axis.set_xticks(np.arange(1, len(keys) + 1))
    axis.set_xticklabels([str(k) for k in keys])
    if log:
        positive = values[values > 0]
        if positive.size:
            axis.set_yscale("log")
    axis.axhline(1.0, color="0.5", linestyle="--", linewidth=0.8)
    axis.set_xlabel(time_name)
    axis.set_ylabel("weight" + (" (log scale)" if log else ""))
    axis.set_title("Weights by time")
    return fig


def _weights_and_time(weights, data, time) -> tuple[np.ndarray, np.ndarray, str]:
    if isinstance(weights, Weights) and data is None:
        panel = weights.panel
        if panel.time_name is None:
            raise ValueError("point-treatment weights (time=None) have no time")
        if time not in (None, panel.time_name):
            raise ValueError(f"time={time!r} needs data=; the Weights' time is {panel.time_name!r}")
        return weights.weights.to_numpy(), panel.unsort(panel.time), panel.time_name
    if data is None:
        raise TypeError("weights_by_time() needs data= unless weights is a Weights object")
    if time is None:
        if not isinstance(weights, Weights):
            raise TypeError("weights_by_time() needs time= (the time column of data)")
        if weights.panel.time_name is None:
            raise ValueError("point-treatment weights (time=None) have no time: pass time=")
        time = weights.panel.time_name
    check_frame(data)
    check_columns_exist(data, [time], "time")
    return resolve_weights(data, weights), data[time].to_numpy(), time


def ess_by_time(
    source,
    *,
    show_n: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Kish effective sample size by time: per arm from a Balance, overall from Weights.

    Parameters
    ----------
    source : Balance or Weights
        A Balance (ESS of the control and treated arms within the compared rows at each
        time) or a Weights object (ESS of all rows at each time).
    show_n : bool
        Also draw the number of rows (dashed), the ESS's ceiling.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import msm, msm.plot
    >>> cohort = msm.datasets.simulate_panel(n_subjects=200, n_visits=4, seed=1)
    >>> w = msm.iptw(cohort, id="id", time="time", treatment="a",
    ...              denominator="x + l + time", absorbing=True)
    >>> msm.plot.ess_by_time(w).axes[0].get_ylabel()
    'effective sample size'
    """
    if isinstance(source, Balance):
        by = source.settings["by"]
        if by is None:
            raise ValueError("the balance has no time: ESS by time needs msm.balance(by=...)")
        wide = source.ess_wide()
        series = {
            arm: (wide[f"ess_{arm}"], wide[f"n_{arm}"], f"C{k}")
            for k, arm in enumerate(("control", "treated"))
        }
        time_name = by
    elif isinstance(source, Weights):
        if source.panel.time_name is None:
            raise ValueError("point-treatment weights have no time")
        summary = source.summary(by="time")
        series = {"all rows": (summary["ess"], summary["n"], "C0")}
        time_name = source.panel.time_name
    else:
        raise TypeError(f"ess_by_time() takes a Balance or Weights, got {type(source).__name__}")
    fig, axis = _figure(ax, figsize=(6, 4), layout="constrained")
    for name, (ess, n, color) in series.items():
        x = np.arange(len(ess))
        axis.plot(x, ess.to_numpy(dtype=float), marker="o", color=color, label=f"ESS {name}")
        if show_n:
            axis.plot(x, n.to_numpy(dtype=float), linestyle="--", color=color, label=f"rows {name}")
    labels = [str(k) for k in next(iter(series.values()))[0].index]
    axis.set_xticks(np.arange(len(labels)))
    axis.set_xticklabels(labels)
    axis.set_ylim(bottom=0)
    axis.set_xlabel(time_name)
    axis.set_ylabel("effective sample size")
    axis.set_title("Effective sample size (Kish) by time")
    axis.legend(fontsize="small")
    return fig


def risk_curves(
    curves: pd.DataFrame,
    *,
    lower: pd.Series | None = None,
    upper: pd.Series | None = None,
    truth: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Cumulative incidence by time under each regime, as from :func:`msm.risk_curves`.

    Parameters
    ----------
    curves : DataFrame
        ``msm.risk_curves(...)`` output: indexed by (regime, time) with a ``risk`` column.
    lower, upper : Series, optional
        Pointwise confidence limits with the same index (e.g. from ``msm.bootstrap``),
        drawn as bands.
    truth : DataFrame, optional
        Known true risks (one column per regime, indexed by time), drawn dashed.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> index = pd.MultiIndex.from_product([["always", "never"], [0, 1, 2]],
    ...                                    names=["regime", "month"])
    >>> curves = pd.DataFrame({"risk": [0.1, 0.2, 0.3, 0.05, 0.1, 0.15]}, index=index)
    >>> fig = risk_curves(curves)
    >>> fig.axes[0].get_ylabel()
    'cumulative incidence'
    """
    check_unique_columns(curves)
    _check_curves(curves)
    fig, axis = _figure(ax, figsize=(6, 4))
    time_name = curves.index.names[-1] or "time"
    for k, regime in enumerate(dict.fromkeys(curves.index.get_level_values(0))):
        part = curves.loc[regime]
        color = f"C{k}"
        axis.step(part.index, part["risk"], where="post", color=color, label=str(regime))
        if lower is not None and upper is not None:
            axis.fill_between(
                part.index,
                lower.loc[regime],
                upper.loc[regime],
                step="post",
                color=color,
                alpha=0.2,
                linewidth=0,
            )
        if truth is not None and regime in truth.columns:
            axis.step(
                truth.index,
                truth[regime],
                where="post",
                color=color,
                linestyle="--",
                label=f"{regime} (truth)",
            )
    axis.set_xlabel(str(time_name))
    axis.set_ylabel("cumulative incidence")
    axis.set_ylim(0, None)
    axis.set_title("Risk under each regime")
    axis.legend(frameon=False)
    return fig


def strategy_risk_curves(
    table: pd.DataFrame,
    *,
    truth: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Cumulative incidence under each strategy of an emulated target trial, with bands.

    Draws the table of ``CloneCensor.risk_curves`` (``msm.clone_censor``) with
    :func:`risk_curves`: one step curve per strategy from 0 at time zero, its bootstrap
    percentile band when the table has ``lower`` and ``upper``, and the truth dashed.  Ask
    ``risk_curves`` for every interval (``times=range(1, followup_max + 1)``) to draw whole
    curves; the ``difference`` and ``ratio`` rows are not drawn.

    Parameters
    ----------
    table : DataFrame
        ``cc.risk_curves(times=...)`` output: indexed by (time, quantity) with an
        ``estimate`` column (and ``lower``, ``upper`` for the bands).
    truth : DataFrame, optional
        Known true risks indexed by time since time zero, one column per strategy (e.g.
        ``msm.datasets.jdm_strategy_truth(...).risk``), drawn dashed.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> index = pd.MultiIndex.from_product([[1, 2], ["treat", "never", "difference"]],
    ...                                    names=["time", "quantity"])
    >>> table = pd.DataFrame({"estimate": [0.2, 0.1, 0.1, 0.4, 0.2, 0.2]}, index=index)
    >>> fig = strategy_risk_curves(table)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['treat', 'never']
    """
    check_unique_columns(table)
    _check_strategy_table(table)
    times = table.index.get_level_values(0)
    quantities = table.index.get_level_values(1)
    drawn = ~quantities.isin(["difference", "ratio"])
    names = list(dict.fromkeys(quantities[drawn]))
    columns = ["estimate", *(c for c in ("lower", "upper") if c in table.columns)]
    part = pd.DataFrame(
        {
            "strategy": quantities[drawn],
            "time": times[drawn],
            **{c: table[c].to_numpy()[drawn] for c in columns},
        }
    )
    start = pd.DataFrame({"strategy": names, "time": 0, **{c: 0.0 for c in columns}})
    if not (part["time"] == 0).any():  # every curve starts at 0 at time zero
        part = pd.concat([start, part], ignore_index=True)
    part["strategy"] = pd.Categorical(part["strategy"], categories=names)
    part = part.sort_values(["strategy", "time"]).set_index(["strategy", "time"])
    curves = part.rename(columns={"estimate": "risk"})[["risk"]]
    bands = {}
    if "lower" in part.columns and "upper" in part.columns:
        bands = {"lower": part["lower"], "upper": part["upper"]}
    if truth is not None and 0 not in truth.index:
        truth = pd.concat([pd.DataFrame(0.0, index=[0], columns=truth.columns), truth])
    fig = risk_curves(curves, truth=truth, ax=ax, **bands)
    axis = fig.axes[0] if ax is None else ax
    axis.set_xlabel("intervals since time zero")
    axis.set_title("Risk under each strategy")
    return fig


def _check_strategy_table(table) -> None:
    """``table`` must look like ``CloneCensor.risk_curves`` output: (time, quantity), estimate."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"table must be a DataFrame from CloneCensor.risk_curves, got {type(table).__name__}"
        )
    if "estimate" not in table.columns:
        raise DataError(
            "estimate",
            "table must have an 'estimate' column (the output of CloneCensor.risk_curves); "
            f"columns are {list(table.columns)!r}",
        )
    if table.index.nlevels != 2:
        raise DataError(
            None,
            "table must be indexed by (time, quantity), as CloneCensor.risk_curves returns "
            f"it; got an index with {table.index.nlevels} level(s)",
        )


def _check_curves(curves) -> None:
    """``curves`` must look like ``msm.risk_curves`` output: (regime, time) index, ``risk``."""
    if not isinstance(curves, pd.DataFrame):
        raise TypeError(
            f"curves must be a DataFrame from msm.risk_curves, got {type(curves).__name__}"
        )
    if "risk" not in curves.columns:
        raise DataError(
            "risk",
            "curves must have a 'risk' column (the output of msm.risk_curves); "
            f"columns are {list(curves.columns)!r}",
        )
    if curves.index.nlevels != 2:
        raise DataError(
            None,
            "curves must be indexed by (regime, time), as msm.risk_curves returns them; "
            f"got an index with {curves.index.nlevels} level(s)",
        )


def sensitivity(result, *, ax: Axes | None = None) -> Figure:
    """The estimate and its interval against the strength of unmeasured confounding.

    Parameters
    ----------
    result : BiasSensitivity
        From :func:`msm.bias_sensitivity`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import msm, numpy as np
    >>> d = msm.datasets.simulate_panel(n_subjects=300, n_visits=3, seed=2)
    >>> w = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l + time")
    >>> s = msm.bias_sensitivity(lambda f: msm.glm("y ~ a", f, weights=w, cluster="id"), d,
    ...                          weights=w, outcome="y", term="a",
    ...                          bias=lambda f: np.where(f["a"] == 1, 0.05, -0.05))
    >>> sensitivity(s).axes[0].get_xlabel()
    'strength of the confounding function'
    """
    table = getattr(result, "table", None)
    if table is None or not {"strength", "estimate", "lower", "upper"} <= set(table.columns):
        raise TypeError("sensitivity() draws a BiasSensitivity from msm.bias_sensitivity")
    fig, axis = _figure(ax, figsize=(6, 4))
    x = table["strength"].to_numpy()
    axis.plot(x, table["estimate"], color="C0", marker="o", label=f"{result.term}")
    axis.fill_between(x, table["lower"], table["upper"], color="C0", alpha=0.2, linewidth=0)
    axis.axhline(result.null, color="grey", linewidth=1, linestyle=":")
    if result.tipping_point is not None and result.tipping_interpolated is not None:
        axis.axvline(result.tipping_interpolated, color="C3", linestyle="--",
                     label=f"tipping point ~{result.tipping_interpolated:.3g}")  # fmt: skip
    axis.set_xlabel("strength of the confounding function")
    axis.set_ylabel(f"estimate of {result.term!r}")
    axis.set_title("Sensitivity to unmeasured confounding")
    axis.legend(frameon=False)
    return fig


def cumulative_incidence(
    curves,
    *,
    kind: str = "states",
    states=None,
    bands: bool = True,
    ncols: int = 3,
    ax: Axes | None = None,
) -> Figure:
    """Cumulative incidence of competing events, from :func:`msm.cumulative_incidence`.

    Parameters
    ----------
    curves : CumulativeIncidence or DataFrame
        The result of ``msm.cumulative_incidence``, or its ``.table`` (columns ``group``,
        ``state``, ``time``, ``probability``, and ``lower``, ``upper`` for the bands).
    kind : {"states", "stacked"}
        ``"states"``: one panel per state, one step curve per group with its pointwise band;
        ``"stacked"``: one panel per group, the states stacked (each cause's cumulative
        incidence, then event-free on top: they add up to 1), no bands.
    states : list of str, optional
        The states drawn with ``kind="states"`` (default: the competing events, not
        ``"event-free"``).
    bands : bool
        Draw the ``lower``/``upper`` bands (``kind="states"``).
    ncols : int
        Panels per row.
    ax : matplotlib Axes, optional
        Draw a single panel here (one state, or one group when stacked).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import msm, msm.plot
    >>> d = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "start": 0.0,
    ...                   "stop": [1.0, 2.0, 3.0, 2.5, 1.5, 4.0], "event": [1, 2, 0, 1, 1, 2],
    ...                   "arm": [0, 0, 0, 1, 1, 1]})
    >>> fit = msm.cumulative_incidence(d, id="id", start="start", stop="stop", event="event",
    ...                                by="arm")
    >>> [a.get_title() for a in msm.plot.cumulative_incidence(fit).axes]
    ['1', '2']
    >>> [a.get_title() for a in msm.plot.cumulative_incidence(fit, kind="stacked").axes]
    ['arm = 0', 'arm = 1']
    """
    table = getattr(curves, "table", curves)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            "curves must be the result of msm.cumulative_incidence or its table, got "
            f"{type(curves).__name__}"
        )
    check_unique_columns(table)
    for column in ("group", "state", "time", "probability"):
        if column not in table.columns:
            raise DataError(
                column,
                f"curves must have a {column!r} column (the table of msm.cumulative_incidence); "
                f"columns are {list(table.columns)!r}",
            )
    if kind not in ("states", "stacked"):
        raise ValueError(f"kind must be 'states' or 'stacked', got {kind!r}")
    state_order = (
        list(table["state"].cat.categories)
        if isinstance(table["state"].dtype, pd.CategoricalDtype)
        else list(dict.fromkeys(table["state"]))
    )
    free = state_order[0]
    groups = list(dict.fromkeys(table["group"]))
    times = table["time"].to_numpy(dtype=float)
    origin = float(table.attrs.get("origin", min(0.0, times.min())))
    by = table.attrs.get("by")
    with_bands = bands and {"lower", "upper"} <= set(table.columns)

    def steps(part, column, start_value):
        x = np.concatenate(([origin], part["time"].to_numpy(dtype=float)))
        y = np.concatenate(([start_value], part[column].to_numpy(dtype=float)))
        return x, y

    panels = groups if kind == "stacked" else (state_order[1:] if states is None else list(states))
    unknown = [s for s in panels if kind == "states" and s not in state_order]
    if unknown:
        raise ValueError(f"states {unknown} are not among the curves' states {state_order}")
    if not panels:
        raise ValueError("nothing to draw: the curves have no competing-event state")
    if ax is not None and len(panels) > 1:
        raise ValueError(
            f"ax= draws one panel, and there are {len(panels)}: pick one with states=[...]"
        )
    if ax is not None:
        fig, axes = ax.figure, [ax]
    else:
        plt = _pyplot()
        ncols = max(1, min(ncols, len(panels)))
        nrows = -(-len(panels) // ncols)
        fig, grid = plt.subplots(
            nrows, ncols, squeeze=False, sharey=True, figsize=(3.6 * ncols + 0.8, 3.2 * nrows),
            layout="constrained",
        )  # fmt: skip
        axes = list(grid.flat)
        for axis in axes[len(panels) :]:
            axis.set_visible(False)
    for axis, panel in zip(axes, panels):
        if kind == "states":
            for k, group in enumerate(groups):
                part = table[(table["group"] == group) & (table["state"] == panel)]
                start_value = 1.0 if panel == free else 0.0
                color = f"C{k}"
                x, y = steps(part, "probability", start_value)
                axis.step(x, y, where="post", color=color, label=str(group))
                if with_bands:
                    _, lo = steps(part, "lower", start_value)
                    _, hi = steps(part, "upper", start_value)
                    axis.fill_between(
                        x, lo, hi, step="post", color=color, alpha=0.2, linewidth=0
                    )  # NaN limits (p = 0 on the log scale) leave the band out there
            axis.set_title(str(panel))
            axis.set_ylabel("cumulative incidence" if panel != free else "probability")
            if len(groups) > 1:
                axis.legend(frameon=False, fontsize="small", title=by)
        else:
            part = table[table["group"] == panel]
            bottom = None
            layers = [*state_order[1:], free]
            for k, state in enumerate(layers):
                rows = part[part["state"] == state]
                x, y = steps(rows, "probability", 1.0 if state == free else 0.0)
                base = np.zeros_like(y) if bottom is None else bottom
                axis.fill_between(
                    x, base, base + y, step="post", color=f"C{k}" if state != free else "0.9",
                    label=str(state), linewidth=0,
                )  # fmt: skip
                bottom = base + y
            axis.set_title(f"{by} = {panel}" if by is not None else str(panel))
            axis.set_ylabel("probability")
            axis.legend(frameon=False, fontsize="small", loc="upper left")
        axis.set_xlabel("time")
        axis.set_ylim(0, 1)
    return fig
