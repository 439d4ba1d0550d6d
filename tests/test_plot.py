"""Plots render with the Agg backend to PNG and carry their labels and data."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import msm  # noqa: E402
from msm import plot  # noqa: E402
from msm.diagnostics import balance  # noqa: E402


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return msm.datasets.simulate_panel(n_subjects=300, n_visits=5, seed=8)


@pytest.fixture(scope="module")
def weights(cohort):
    return msm.iptw(
        cohort, id="id", time="time", treatment="a", denominator="x + l + time", absorbing=True
    )


@pytest.fixture(scope="module")
def bal(cohort, weights):
    return balance(cohort, covariates=["x", "l"], weights=weights)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def render(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    return data


def test_love_plot_by_time(bal):
    fig = plot.love_plot(bal)
    render(fig)
    times = sorted(bal.table["time"].unique())
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(times)
    assert [ax.get_title() for ax in panels] == [f"time = {t}" for t in times]
    assert "by time" in fig._suptitle.get_text()
    first = panels[0]
    labels = dict(zip(first.get_yticks(), [t.get_text() for t in first.get_yticklabels()]))
    assert labels == {1: "x", 0: "l"}  # first covariate on top
    unweighted, weighted = first.collections[:2]
    smd = bal.table.query("stat == 'smd' and time == @times[0]").set_index("covariate")
    npt.assert_allclose(
        np.sort(weighted.get_offsets()[:, 0]), np.sort(smd["weighted"].abs().to_numpy())
    )
    npt.assert_allclose(
        np.sort(unweighted.get_offsets()[:, 0]), np.sort(smd["unweighted"].abs().to_numpy())
    )
    assert any(t.get_text() == "|SMD|" for t in [ax.xaxis.label for ax in panels])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["unweighted", "weighted"]


def test_love_plot_worst_across_times_in_given_axes(bal):
    fig, ax = plt.subplots()
    out = plot.love_plot(bal, by_time=False, ax=ax)
    assert out is fig
    render(fig)
    summary = bal.summary().query("stat == 'smd'").set_index("covariate")
    weighted = ax.collections[1].get_offsets()
    # y = 1 is the first covariate (x), y = 0 the second (l)
    npt.assert_allclose(weighted[:, 0], summary.loc[["x", "l"], "worst_weighted"].abs())
    npt.assert_array_equal(weighted[:, 1], [1, 0])
    assert ax.get_xlabel() == "|SMD|" and "worst across times" in ax.get_title()
    lines = [line.get_xdata()[0] for line in ax.get_lines()]
    assert 0.1 in lines  # threshold


def test_love_plot_variance_ratio_and_ks(bal):
    fig = plot.love_plot(bal, stat="vr", by_time=False)
    render(fig)
    lines = sorted(line.get_xdata()[0] for line in fig.axes[0].get_lines())
    npt.assert_allclose(lines, [0.5, 1.0, 2.0])
    fig = plot.love_plot(bal, stat="ks")
    render(fig)
    with pytest.raises(ValueError, match="stat must be"):
        plot.love_plot(bal, stat="mad")


def test_weights_by_time(weights, cohort):
    fig = plot.weights_by_time(weights)
    render(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "time" and ax.get_ylabel().startswith("weight")
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(t) for t in range(5)]
    w = weights.weights.to_numpy()
    expected = [np.median(w[cohort["time"].to_numpy() == t]) for t in range(5)]
    horizontal = [  # medians and caps: two points at one height
        line.get_ydata()[0]
        for line in ax.lines
        if len(line.get_ydata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]
    ]
    for m in expected:
        assert np.isclose(horizontal, m).any()
    # the same from a column and data, in a shuffled frame
    data = cohort.assign(w=w).sample(frac=1.0, random_state=1)
    fig2 = plot.weights_by_time("w", data, time="time", log=False)
    render(fig2)
    assert fig2.axes[0].get_yscale() == "linear"


def test_ess_by_time_from_balance_and_weights(bal, weights):
    fig = plot.ess_by_time(bal)
    render(fig)
    ax = fig.axes[0]
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    wide = bal.ess_wide()
    npt.assert_allclose(lines["ESS treated"], wide["ess_treated"])
    npt.assert_allclose(lines["rows control"], wide["n_control"])
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "effective sample size"
    fig = plot.ess_by_time(weights, show_n=False)
    render(fig)
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    npt.assert_allclose(lines["ESS all rows"], weights.summary(by="time")["ess"])
    with pytest.raises(TypeError):
        plot.ess_by_time("nope")


def test_package_imports_without_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.pyplot'] = None\n"
        "import msm, msm.plot, msm.diagnostics\n"
        "c = msm.datasets.simulate_panel(n_subjects=50, n_visits=3, seed=1)\n"
        "w = msm.iptw(c, id='id', time='time', treatment='a', denominator='x + l',"
        " absorbing=True)\n"
        "try:\n    msm.plot.weights_by_time(w)\nexcept ImportError as e:\n"
        "    print('ImportError', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ImportError" in out.stdout and "msm[plot]" in out.stdout


def test_risk_curves_plot_with_bands_and_truth(cohort, weights):
    fit = msm.glm("y ~ a + time", cohort, weights=weights, cluster="id", family="binomial")
    curves = msm.risk_curves(fit, cohort, id="id", time="time", treatment="a")
    lower, upper = curves["risk"] * 0.9, curves["risk"] * 1.1
    truth = curves["risk"].unstack("regime") * 1.05
    fig = plot.risk_curves(curves, lower=lower, upper=upper, truth=truth)
    render(fig)
    axis = fig.axes[0]
    assert axis.get_ylabel() == "cumulative incidence" and axis.get_xlabel() == "time"
    labels = [t.get_text() for t in axis.get_legend().get_texts()]
    assert labels == ["always", "always (truth)", "never", "never (truth)"]
    drawn = axis.get_lines()[0].get_ydata()
    npt.assert_allclose(drawn, curves.loc["always", "risk"].to_numpy())
    assert len(axis.collections) == 2  # one band per regime


def test_strategy_risk_curves_from_clone_censor():
    d = msm.datasets.simulate_jdm(n_patients=600, months=16, seed=8, eligible=True)
    cc = msm.clone_censor(d, id="id", time="month", treatment="ivig", outcome="quiescence",
                          eligible="eligible",
                          strategies={"w3": msm.start_within(3), "never": msm.never()},
                          censor_denominator="pga + cmas", censor="lost",
                          followup_max=10)  # fmt: skip
    table = cc.risk_curves(times=range(1, 11), n_boot=3, seed=1)
    truth = pd.DataFrame({"w3": np.linspace(0.05, 0.5, 10)}, index=range(1, 11))
    fig = plot.strategy_risk_curves(table, truth=truth)
    render(fig)
    axis = fig.axes[0]
    assert axis.get_xlabel() == "intervals since time zero"
    labels = [t.get_text() for t in axis.get_legend().get_texts()]
    assert labels == ["w3", "w3 (truth)", "never"]  # no difference or ratio curve
    lines = axis.get_lines()
    # each curve starts at 0 at time zero, then the table's estimates at 1 .. 10
    npt.assert_array_equal(lines[0].get_xdata(), np.arange(11))
    expected = table.xs("w3", level="quantity")["estimate"].to_numpy()
    npt.assert_allclose(lines[0].get_ydata(), np.concatenate([[0.0], expected]))
    npt.assert_allclose(lines[1].get_ydata(), np.concatenate([[0.0], truth["w3"]]))
    assert len(axis.collections) == 2  # the bootstrap bands
    band = axis.collections[1].get_paths()[0].vertices[:, 1]
    upper = table.xs("never", level="quantity")["upper"].to_numpy()
    assert np.isclose(band.max(), upper.max())
    # without lower/upper: no bands
    fig = plot.strategy_risk_curves(table[["estimate"]])
    assert len(fig.axes[0].collections) == 0


def test_sensitivity_plot():
    d = msm.datasets.simulate_panel(n_subjects=300, n_visits=3, seed=2)
    w = msm.iptw(d, id="id", time="time", treatment="a", denominator="x + l + time")
    s = msm.bias_sensitivity(lambda f: msm.glm("y ~ a", f, weights=w, cluster="id"), d,
                             weights=w, outcome="y", term="a",
                             bias=lambda f: np.where(f["a"] == 1, 0.5, -0.5),
                             strengths=np.linspace(0, 3, 7))  # fmt: skip
    fig = plot.sensitivity(s)
    line = fig.axes[0].lines[0]
    npt.assert_allclose(line.get_ydata(), s.table.estimate)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    plt.close(fig)
    with pytest.raises(TypeError, match="BiasSensitivity"):
        plot.sensitivity(s.table)


def competing(seed=3, n=80):
    rng = np.random.default_rng(seed)
    time = rng.exponential(3.0, n).round(1) + 0.1
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "start": 0.0,
            "stop": time,
            "event": np.where(rng.random(n) < 0.8, rng.integers(1, 3, n), 0),
            "arm": np.arange(n) % 2,
            "w": rng.uniform(0.5, 2.0, n),
        }
    )


def test_cumulative_incidence_per_state_with_bands():
    fit = msm.cumulative_incidence(competing(), id="id", start="start", stop="stop",
                                   event="event", weights="w", by="arm",
                                   states={1: "relapse", 2: "death"})  # fmt: skip
    fig = plot.cumulative_incidence(fit)
    render(fig)
    panels = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in panels] == ["relapse", "death"]
    axis = panels[0]
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["0", "1"]
    part = fit.table[(fit.table["group"] == 0) & (fit.table["state"] == "relapse")]
    line = axis.get_lines()[0]
    npt.assert_allclose(line.get_xdata(), np.concatenate([[0.0], part["time"]]))
    npt.assert_allclose(line.get_ydata(), np.concatenate([[0.0], part["probability"]]))
    assert len(axis.collections) == 2  # one band per arm
    band = axis.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(np.nanmax(band), part["upper"].max())
    # the table works as well as the result; bands off; one state into a given Axes
    fig = plot.cumulative_incidence(fit.table, bands=False, states=["event-free"])
    assert len(fig.axes[0].collections) == 0
    assert fig.axes[0].get_lines()[0].get_ydata()[0] == 1.0
    _, ax = plt.subplots()
    assert plot.cumulative_incidence(fit, states=["death"], ax=ax).axes == [ax]
    with pytest.raises(ValueError, match="one panel"):
        plot.cumulative_incidence(fit, ax=ax)
    with pytest.raises(ValueError, match="states"):
        plot.cumulative_incidence(fit, states=["cure"])


def test_cumulative_incidence_stacked_adds_up_to_one():
    fit = msm.cumulative_incidence(competing(), id="id", start="start", stop="stop",
                                   event="event", by="arm")  # fmt: skip
    fig = plot.cumulative_incidence(fit, kind="stacked")
    render(fig)
    panels = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in panels] == ["arm = 0", "arm = 1"]
    labels = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert labels == ["1", "2", "event-free"]
    top = panels[1].collections[-1].get_paths()[0].vertices[:, 1]
    npt.assert_allclose(top.max(), 1.0)
    with pytest.raises(ValueError, match="kind"):
        plot.cumulative_incidence(fit, kind="pie")
    with pytest.raises(TypeError, match="cumulative_incidence"):
        plot.cumulative_incidence([1, 2])
