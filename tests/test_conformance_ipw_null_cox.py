"""R's ?ipwtm example 2 (TB and CD4): a null Cox numerator, ``model="cox"``, ``numerator="1"``.

The R call (ipw 1.2.1, survival 3.5-3, R 4.2.2) on ``../shared/data/ipw/tb_startstop.csv``::

    library(ipw); library(survival)
    startstop <- read.csv("tb_startstop.csv")
    temp <- ipwtm(exposure = tb, family = "survival", numerator = ~ 1,
                  denominator = ~ cd4.sqrt, id = id, tstart = tstart, timevar = fuptime,
                  type = "first", data = startstop)
    sprintf("%.17g", temp$ipw.weights[rows])      # R_WEIGHTS below
    summary(temp$ipw.weights)

ipw fits the numerator as ``coxph(Surv(tstart, fuptime, tb) ~ 1, method = "efron")`` on the
risk-set rows: no coefficients, every risk score 1, and ``basehaz(centered = TRUE)`` is then
the Nelson-Aalen estimator with Fleming-Harrington's tie correction (``ctype = 2``, Efron): an
event time with ``d`` tied starts among ``n`` at risk adds ``sum_{k<d} 1 / (n - k)``.  The
numerator factors are checked against a plain numpy version of that, every row, to 1e-10.
"""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

import msm

# 1-based row -> R's weight, printed with sprintf("%.17g") (the R code above)
R_WEIGHTS = {
    1: 0.99991599270189546,
    2: 0.99991599270189546,
    100: 0.99547343100171648,
    776: 13.653856929684714,  # the largest weight
    781: 2.5348124115062709,  # patient 3 starts TB here
    782: 2.5348124115062709,
    1000: 1.0985301230914613,
    1491: 0.99056701048742779,
    2187: 0.32295626562055635,
    2435: 1.4693835803184032,
    5000: 0.976980756663403,
    20000: 1.0899715126420457,
    29949: 0.21165706649746147,  # the smallest weight
    50000: 0.98720127520422074,
    84494: 1.1028617513135563,
}
# summary(temp$ipw.weights): R prints 4 significant digits
R_SUMMARY = {"min": 0.2117, "q1": 0.9409, "median": 0.9908, "mean": 1.0373, "q3": 1.0125}


@pytest.fixture(scope="module")
def tb(shared_dir):
    return pd.read_csv(shared_dir / "data" / "ipw" / "tb_startstop.csv")


def _weights(data, numerator="1"):
    return msm.iptw(
        data,
        id="id",
        time="fuptime",
        start="tstart",
        treatment="tb",
        model="cox",
        absorbing=True,
        numerator=numerator,
        denominator="`cd4.sqrt`",
    )


@pytest.fixture(scope="module")
def weights(tb):
    before = tb.copy(deep=True)
    w = _weights(tb)
    pd.testing.assert_frame_equal(tb, before, check_exact=True)
    return w


def test_r_weights(weights):
    rows = np.array(list(R_WEIGHTS)) - 1
    npt.assert_allclose(
        weights.weights.to_numpy()[rows], np.array(list(R_WEIGHTS.values())), rtol=1e-10
    )


def test_r_summary(weights):
    v = weights.weights.to_numpy()
    ours = [v.min(), np.quantile(v, 0.25), np.median(v), v.mean(), np.quantile(v, 0.75)]
    npt.assert_allclose(ours, list(R_SUMMARY.values()), atol=6e-5)


def _null_numerator(data: pd.DataFrame) -> np.ndarray:
    """Cumulative numerator factors of ipw's null Cox model, plain numpy, in data's order."""
    d = data.sort_values(["id", "fuptime"], kind="stable")
    tb = d["tb"].to_numpy()
    # risk set of type="first": rows up to and including each patient's first TB row
    before = d.groupby("id")["tb"].cumsum().to_numpy() - tb
    at_risk = before == 0
    start = d["tstart"].to_numpy(float)[at_risk]
    stop = d["fuptime"].to_numpy(float)[at_risk]
    event = tb[at_risk]
    times = np.unique(stop[event == 1])
    increments = []
    for t in times:  # Fleming-Harrington: sum_{k<d} 1 / (n - k)
        n = np.sum((start < t) & (stop >= t))
        dead = np.sum((stop == t) & (event == 1))
        increments.append(sum(1.0 / (n - k) for k in range(dead)))
    cumhaz = np.cumsum(increments)
    grid = np.unique(d["fuptime"].to_numpy(float))  # all rows' times, as ipw uses
    on_grid = np.array([cumhaz[times <= g][-1] if np.any(times <= g) else 0.0 for g in grid])
    step = np.diff(on_grid, prepend=0.0)
    hazard = step[np.searchsorted(grid, d["fuptime"].to_numpy(float))]
    factor = np.where(tb == 1, 1.0 - np.exp(-hazard), np.exp(-hazard))
    factor = np.where(at_risk, factor, 1.0)
    cumulative = pd.Series(factor, index=d.index).groupby(d["id"].to_numpy()).cumprod()
    return cumulative.reindex(data.index).to_numpy()


def test_null_numerator_is_nelson_aalen_fleming_harrington(tb, weights):
    unstabilized = _weights(tb, numerator=None)
    ratio = weights.weights.to_numpy() / unstabilized.weights.to_numpy()
    npt.assert_allclose(ratio, _null_numerator(tb), rtol=1e-10)


def test_null_model_reported(weights):
    fit = weights.models["numerator"]
    assert fit.params.empty and fit.bse.empty
    assert fit.converged and fit.n_events == 105


def test_null_cox_outcome_model_still_needs_a_covariate(tb):
    data = tb.assign(event=tb["event"])
    with pytest.raises(msm.DataError, match="at least one covariate"):
        msm.cox(data, start="tstart", stop="fuptime", event="event", covariates="1")
