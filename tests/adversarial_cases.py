"""Adversarial inputs for every public function, and what each must give.

One registry, ``CASES``, of :class:`Case`: a name, the public function it is about, a ``run``
that builds small frames and calls the function through :func:`call` (which deep-compares every
frame and Series it is given before and after the call, also when the call raises), and the
documented result: either :class:`Raises` (a ``DataError`` whose ``column`` and message name
the column, and the offending ids or rows where the rule is about rows) or, when ``raises`` is
None, assertions inside ``run`` against an independent computation (statsmodels, a hand
computation, a relabelled or permuted run).

``tests/test_adversarial.py`` runs every case; ``tests/test_errors.py`` turns the error cases
into docs/errors.md (one section per public function) and checks the file is current.
Cases whose defect is numbered come from issue 10's list.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import numpy.testing as npt
import pandas as pd

import msm

# ---------------------------------------------------------------------------------------------
# the caller's objects are never modified


def _assert_same_object(after, before, what: str) -> None:
    """Values, dtypes, index and column order of ``after`` equal the snapshot ``before``."""
    if isinstance(before, pd.DataFrame):
        assert isinstance(after, pd.DataFrame), f"{what}: no longer a DataFrame"
        assert list(map(repr, after.columns)) == list(map(repr, before.columns)), (
            f"{what}: columns changed: {list(before.columns)} -> {list(after.columns)}"
        )
        assert [str(t) for t in after.dtypes] == [str(t) for t in before.dtypes], (
            f"{what}: dtypes changed: {list(before.dtypes)} -> {list(after.dtypes)}"
        )
        pd.testing.assert_frame_equal(
            after,
            before,
            check_exact=True,
            check_index_type=True,
            check_column_type=True,
            check_flags=True,
            check_freq=True,
            obj=what,
        )
    else:
        pd.testing.assert_series_equal(
            after, before, check_exact=True, check_index_type=True, obj=what
        )
    assert after.index.equals(before.index) and after.index.dtype == before.index.dtype, (
        f"{what}: index changed"
    )
    assert list(after.index.names) == list(before.index.names), f"{what}: index names changed"
    assert after.attrs == before.attrs, f"{what}: attrs changed"


@contextmanager
def unchanged(*objects):
    """Deep-compare each DataFrame/Series in ``objects`` before and after the block.

    The comparison runs also when the block raises; a modified frame then fails the test
    (the block's exception is chained as the context).
    """
    kept = [(obj, obj.copy(deep=True)) for obj in objects]
    try:
        yield
    finally:
        for k, (obj, before) in enumerate(kept):
            _assert_same_object(obj, before, f"caller's object #{k}")


def call(func: Callable, *args, **kwargs):
    """``func(*args, **kwargs)`` with every DataFrame/Series argument checked by ``unchanged``."""
    frames = [v for v in (*args, *kwargs.values()) if isinstance(v, (pd.DataFrame, pd.Series))]
    with unchanged(*frames):
        return func(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Raises:
    """The documented error.

    ``column`` is what ``err.column`` must be (a tuple: any one of these); a ``DataError``
    names it in its message as ``column 'name'``.  ``ids``: the offending subject ids (or row
    labels) that ``err.ids`` must hold.  ``contains``: further words the message must have.
    ``exc``: the exception type (``msm.DataError`` unless the docs say otherwise; then
    ``names`` must appear in the message).
    """

    column: str | None | tuple = None
    ids: tuple | None = None
    contains: tuple[str, ...] = ()
    exc: type[BaseException] = msm.DataError
    names: str | None = None


@dataclass(frozen=True)
class Case:
    """One adversarial input: ``run()`` makes the call; ``raises`` is its error or None."""

    function: str
    name: str
    run: Callable[[], object]
    raises: Raises | None = None
    defect: int | None = None
    tags: tuple[str, ...] = field(default=())
    bug: str | None = None

    @property
    def id(self) -> str:
        return f"{self.function}: {self.name}"


CASES: list[Case] = []


def case(function, name, raises=None, defect=None, tags=(), bug=None):
    """Decorator: register ``run`` as a case of ``function``.

    ``bug``: the case asserts the documented behaviour, which msm does not give yet (the
    words say what happens instead); the test is an expected failure until it is fixed.
    """

    def register(run):
        CASES.append(Case(function, name, run, raises, defect, tuple(tags), bug))
        return run

    return register


def check_raised(c: Case, err: BaseException) -> None:
    """Assert that ``err`` is the documented error of case ``c``."""
    expected = c.raises
    assert isinstance(err, expected.exc), f"{type(err).__name__}: {err}"
    message = str(err)
    if expected.exc is msm.DataError:
        allowed = expected.column if isinstance(expected.column, tuple) else (expected.column,)
        assert err.column in allowed, f"column {err.column!r}, expected {allowed}: {message}"
        if err.column is not None:
            assert f"column {err.column!r}" in message, message
            assert repr(err.column) in message
        if expected.ids is not None:
            assert set(map(_plain, err.ids)) == set(expected.ids), (err.ids, expected.ids)
            for offender in list(expected.ids)[:5]:
                assert repr(offender) in message, (offender, message)
    if expected.names is not None:
        assert expected.names in message, message
    for word in expected.contains:
        assert word in message, (word, message)
    assert "Traceback" not in message


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------------------------
# small frames (cached, handed out as copies)


@functools.cache
def _panel(n=60, seed=1, **kw) -> pd.DataFrame:
    return msm.datasets.simulate_panel(n_subjects=n, seed=seed, **kw)


def panel(n=60, seed=1, **kw) -> pd.DataFrame:
    """simulate_panel: id, time 0..9, x (baseline), l, a (absorbing), y, lost (all 0)."""
    return _panel(n, seed, **kw).copy()


def censored_panel() -> pd.DataFrame:
    """As ``panel`` with some subjects lost to follow-up (``lost`` 1 on their last row)."""
    return panel(80, 2, censor_coefs=(-3.0, 0.5))


def survival_panel() -> pd.DataFrame:
    """Counting-process rows (start, stop] = (time, time + 1], event ``y``, stop at event."""
    d = panel(60, 1, event_coefs=(-2.0, 0.2, 0.5, -0.7), stop_at_event=True)
    return d.assign(start=d["time"].astype(float), stop=d["time"] + 1.0).reset_index(drop=True)


@functools.cache
def _point(n=200, seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    l_ = rng.normal(size=n)
    a = (rng.random(n) < 1 / (1 + np.exp(-(-0.3 + 0.8 * x - 0.5 * l_)))).astype(int)
    eta = np.column_stack([np.zeros(n), 0.2 + 0.7 * x, -0.3 - 0.6 * l_])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    m = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    latent = 0.9 * x - 0.4 * l_ + rng.logistic(size=n)
    o = np.digitize(latent, [-1.0, 0.3, 1.5])
    dose = 1.0 + 0.5 * x - 0.3 * l_ + rng.normal(scale=0.8, size=n)
    y = 0.5 * a + x + rng.normal(size=n)
    return pd.DataFrame(
        {"id": np.arange(n), "x": x, "l": l_, "a": a, "m": m, "o": o, "dose": dose, "y": y}
    )


def point() -> pd.DataFrame:
    """One row per subject: id, x, l, a (0/1), m (0/1/2), o (ordinal 0..3), dose, y."""
    return _point().copy()


def survival_start(n=80, seed=3) -> pd.DataFrame:
    """Rows (tstart, time] per subject with an absorbing treatment ``a`` (time to initiation)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        x = rng.normal()
        t0 = 0.0
        treated = 0
        for _visit in range(8):
            t1 = t0 + rng.integers(1, 4)
            l_ = rng.normal() + 0.3 * x
            if not treated:
                treated = int(rng.random() < 1 / (1 + np.exp(-(-1.8 + 0.6 * l_))))
            rows.append((i, t0, t1, x, l_, treated))
            t0 = t1
    return pd.DataFrame(rows, columns=["id", "tstart", "time", "x", "l", "a"])


IPTW = dict(
    id="id",
    time="time",
    treatment="a",
    denominator="x + l + time",
    numerator="x + time",
    absorbing=True,
)


@functools.cache
def _base_weights() -> pd.Series:
    return msm.iptw(panel(), **IPTW).weights


def base_weights() -> np.ndarray:
    """The weights of ``panel()`` with ``IPTW``, in its row order."""
    return _base_weights().to_numpy().copy()


def iptw(data, **overrides):
    return call(msm.iptw, data, **{**IPTW, **overrides})


def close(actual, expected, rtol=1e-8, atol=0.0, what=""):
    npt.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol, atol, err_msg=what
    )


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# independent computations


def ref_logit_weights(df, den, num, *, id="id", time="time", treatment="a", absorbing=True):
    """IP weights by statsmodels GLM(binomial) on the risk-set rows and a groupby cumprod."""
    import statsmodels.api as sm

    d = df.reset_index(drop=True)
    d = d.assign(_pos=np.arange(len(d))).sort_values([id, time], kind="stable")
    a = d[treatment].to_numpy(float)
    before = d.groupby(id, sort=False)[treatment].cumsum().to_numpy(float) - a
    rows = before == 0 if absorbing else np.ones(len(d), bool)

    def factors(columns):
        if columns is None:
            return np.ones(len(d))
        X = sm.add_constant(d[columns].to_numpy(float), has_constant="add")
        fit = sm.GLM(a[rows], X[rows], family=sm.families.Binomial()).fit(tol=1e-13)
        p = fit.predict(X)
        return np.where(rows, np.where(a == 1, p, 1 - p), 1.0)

    log_ratio = np.log(factors(num)) - np.log(factors(den))
    log_w = pd.Series(log_ratio).groupby(d[id].to_numpy()).cumsum().to_numpy()
    out = np.empty(len(d))
    out[d["_pos"].to_numpy()] = np.exp(log_w)
    return out


def sandwich(X, y, w, mu, deriv, cluster):
    """Cluster-robust (HC0) covariance of a weighted canonical GLM, by hand."""
    bread = np.linalg.inv((X * (w * deriv)[:, None]).T @ X)
    scores = X * (w * (y - mu))[:, None]
    summed = pd.DataFrame(scores).groupby(np.asarray(cluster)).sum().to_numpy()
    return bread @ (summed.T @ summed) @ bread


def ref_glm(formula_columns, outcome, df, w, family, cluster):
    """statsmodels GLM params with a hand-computed clustered sandwich: (params, bse)."""
    import statsmodels.api as sm

    X = sm.add_constant(df[formula_columns].to_numpy(float), has_constant="add")
    y = df[outcome].to_numpy(float)
    fam = {"gaussian": sm.families.Gaussian(), "binomial": sm.families.Binomial()}[family]
    fit = sm.GLM(y, X, family=fam, var_weights=w).fit(tol=1e-13)
    mu = fit.predict(X)
    deriv = np.ones_like(mu) if family == "gaussian" else mu * (1 - mu)
    cov = sandwich(X, y, w, mu, deriv, df[cluster].to_numpy())
    return fit.params, np.sqrt(np.diag(cov))


def ref_cox(df, covariates, ties="efron"):
    """statsmodels PHReg (late entry) params and model-based SEs, unweighted.

    PHReg counts a row at risk at t when ``entry <= t``; the Cox model's ``(start, stop]``
    rows are at risk when ``start < t``, hence the entry nudged past the start.
    """
    from statsmodels.duration.hazard_regression import PHReg

    fit = PHReg(
        df["stop"].to_numpy(float),
        df[covariates].to_numpy(float),
        status=df["y"].to_numpy(float),
        entry=df["start"].to_numpy(float) + 1e-7,
        ties=ties,
    ).fit()
    return fit.params, fit.bse


# ---------------------------------------------------------------------------------------------
# msm.iptw: columns, ids and times


def _edit(df, column, positions, value):
    df = df.copy()
    if isinstance(value, str) or value is None:
        df[column] = df[column].astype(object)
    df.loc[df.index[positions], column] = value
    return df


@case("msm.iptw", "treatment column missing", Raises("a"))
def _():
    iptw(panel().drop(columns="a"))


@case("msm.iptw", "id column missing", Raises("id"))
def _():
    iptw(panel().drop(columns="id"))


@case("msm.iptw", "time column missing", Raises("time"))
def _():
    iptw(panel().drop(columns="time"), denominator="x + l", numerator="x")


@case("msm.iptw", "numerator names an unknown column", Raises("age"))
def _():
    iptw(panel(), numerator="age")


@case("msm.iptw", "censor column missing", Raises("dropout"))
def _():
    iptw(panel(), censor="dropout")


@case("msm.iptw", "empty frame", Raises(None))
def _():
    iptw(panel().iloc[:0])


@case("msm.iptw", "NaN in a covariate at two visits", Raises("l", ids=(3, 7)))
def _():
    d = panel()
    d.loc[(d["id"] == 3) & (d["time"] == 2), "l"] = np.nan
    d.loc[(d["id"] == 7) & (d["time"] == 5), "l"] = np.nan
    iptw(d)


@case("msm.iptw", "+inf in a covariate", Raises("x", ids=(11,)))
def _():
    d = panel()
    d.loc[d["id"] == 11, "x"] = np.inf
    iptw(d)


@case("msm.iptw", "nullable Int64 id with pd.NA", Raises("id"))
def _():
    d = panel()
    d["id"] = d["id"].astype("Int64")
    d.loc[4, "id"] = pd.NA
    iptw(d)


@case("msm.iptw", "nullable Float64 covariate with pd.NA", Raises("l", ids=(2,)))
def _():
    d = panel()
    d["l"] = d["l"].astype("Float64")
    d.loc[d.index[(d["id"] == 2) & (d["time"] == 3)], "l"] = pd.NA
    iptw(d)


@case("msm.iptw", "nullable Float64 time with pd.NA", Raises("time", ids=(5,)))
def _():
    d = panel()
    d["time"] = d["time"].astype("Float64")
    d.loc[d.index[(d["id"] == 5) & (d["time"] == 4)], "time"] = pd.NA
    iptw(d)


@case("msm.iptw", "nullable Int64 treatment with pd.NA", Raises("a", ids=(9,)))
def _():
    d = panel()
    d["a"] = d["a"].astype("Int64")
    d.loc[d.index[(d["id"] == 9) & (d["time"] == 0)], "a"] = pd.NA
    iptw(d)


@case("msm.iptw", "treatment 0/1/2", Raises("a", ids=(4,)))
def _():
    d = panel()
    d.loc[d["id"] == 4, "a"] = 2
    iptw(d, absorbing=False)


@case("msm.iptw", "treatment text 'yes'/'no'", Raises("a"))
def _():
    d = panel()
    d["a"] = np.where(d["a"] == 1, "yes", "no")
    iptw(d)


@case("msm.iptw", "absorbing treatment returns to 0", Raises("a", ids=(13,)))
def _():
    d = panel()
    rows = d.index[d["id"] == 13]
    d.loc[rows, "a"] = [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    iptw(d)


@case("msm.iptw", "duplicated (id, time)", Raises("time", ids=(6,)))
def _():
    d = panel()
    d.loc[d.index[(d["id"] == 6) & (d["time"] == 1)], "time"] = 0
    iptw(d)


@case("msm.iptw", "time=None with repeated ids", Raises("id", ids=(0,)))
def _():
    d = point()
    d.loc[1, "id"] = 0
    call(msm.iptw, d, id="id", time=None, treatment="a", denominator="x + l")


@case("msm.iptw", "censor 0/1/3", Raises("lost", ids=(12,)))
def _():
    d = censored_panel()
    d.loc[d.index[d["id"] == 12][-1], "lost"] = 3
    iptw(d, censor="lost")


@case("msm.iptw", "censor 1 before the last row", Raises("lost", ids=(12,)))
def _():
    d = censored_panel()
    d.loc[d.index[d["id"] == 12][0], "lost"] = 1
    iptw(d, censor="lost")


@case("msm.iptw", "time as text", Raises("time"))
def _():
    d = panel()
    d["time"] = d["time"].astype(str)
    iptw(d, denominator="x + l", numerator="x")


@case("msm.iptw", "duplicate column names after concat", Raises("x"), defect=4)
def _():
    d = panel()
    d = pd.concat([d, d[["x"]]], axis=1)
    iptw(d)


@case("msm.iptw", "log of a covariate that is 0", Raises("z", contains=("log",)), defect=3)
def _():
    d = panel().assign(z=lambda f: np.abs(f["l"]))
    d.loc[5, "z"] = 0.0
    iptw(d, denominator="x + np.log(z) + time")


@case("msm.iptw", "everyone treated at the first visit", Raises("a", contains=("vary",)), defect=2)
def _():
    iptw(panel().assign(a=1))


@case("msm.iptw", "one row", Raises("a", contains=("vary",)), defect=2)
def _():
    iptw(panel().iloc[:1])


@case("msm.iptw", "truly collinear covariates", Raises(("l", "l2")))
def _():
    iptw(panel().assign(l2=lambda f: 2 * f["l"]), denominator="x + l + l2 + time")


@case("msm.iptw", "constant covariate", Raises("c"))
def _():
    iptw(panel().assign(c=3.0), denominator="x + c + time")


@case("msm.iptw", "one subject", Raises("x"))
def _():
    d = panel()
    iptw(d[d["id"] == d.loc[d["a"] == 1, "id"].iloc[0]])


@case("msm.iptw", "truncate percentiles reversed", Raises(exc=ValueError, names="truncate"))
def _():
    iptw(panel(), truncate=(99, 1))


@case("msm.iptw", "unknown family", Raises(exc=ValueError, names="family"))
def _():
    iptw(panel(), family="poisson")


# --- accepted inputs, checked against an independent computation


@case("msm.iptw", "weights equal statsmodels on the risk set", tags=("numbers",))
def _():
    d = panel()
    w = iptw(d)
    close(w.weights, ref_logit_weights(d, ["x", "l", "time"], ["x", "time"]), 1e-7)


@case("msm.iptw", "rows shuffled", tags=("numbers",))
def _():
    order = np.random.default_rng(4).permutation(600)
    d = panel().iloc[order]
    w = iptw(d)
    assert w.weights.index.equals(d.index)
    close(w.weights, base_weights()[order], 1e-10)


@case("msm.iptw", "duplicated index labels", tags=("numbers",))
def _():
    d = panel().set_axis(np.repeat(np.arange(300), 2))
    w = iptw(d)
    assert w.weights.index.equals(d.index)
    close(w.weights, base_weights(), 1e-12)


@case("msm.iptw", "MultiIndex rows", tags=("numbers",))
def _():
    d = panel().set_index(["id", "time"], drop=False)
    w = iptw(d)
    assert w.weights.index.equals(d.index)
    close(w.weights, base_weights(), 1e-12)


@case("msm.iptw", "string index", tags=("numbers",))
def _():
    d = panel().set_axis([f"r{k}" for k in range(600)])
    close(iptw(d).weights, base_weights(), 1e-12)


@case("msm.iptw", "ids relabelled to shuffled strings", tags=("numbers",))
def _():
    d = panel()
    labels = np.random.default_rng(2).permutation([f"P-{k:03d}" for k in range(60)])
    d["id"] = labels[d["id"].to_numpy()]
    close(iptw(d).weights, base_weights(), 1e-10)


@case("msm.iptw", "categorical id", tags=("numbers",))
def _():
    d = panel()
    d["id"] = pd.Categorical(d["id"].map(lambda k: f"s{k}"))
    close(iptw(d).weights, base_weights(), 1e-10)


@case("msm.iptw", "nullable Int64 id and time without NA", tags=("numbers",))
def _():
    d = panel().astype({"id": "Int64", "time": "Int64", "a": "Int64"})
    close(iptw(d).weights, base_weights(), 1e-10)


@case("msm.iptw", "nullable Float64 covariates without NA", tags=("numbers",))
def _():
    d = panel().astype({"x": "Float64", "l": "Float64"})
    close(iptw(d).weights, base_weights(), 1e-10)


@case("msm.iptw", "negative ids and negative times", tags=("numbers",))
def _():
    d = panel().assign(id=lambda f: -7 * f["id"] - 1, time=lambda f: f["time"] - 100)
    close(iptw(d).weights, base_weights(), 1e-7)


@case("msm.iptw", "float times in steps of 0.25", tags=("numbers",))
def _():
    d = panel().assign(time=lambda f: f["time"] * 0.25)
    close(iptw(d).weights, base_weights(), 1e-7)


@case("msm.iptw", "gaps in time (irregular visits)", tags=("numbers",))
def _():
    d = panel()
    grid = np.array([0, 1, 3, 4, 8, 9, 15, 16, 30, 31])
    d["time"] = grid[d["time"].to_numpy()]
    w = iptw(d)
    close(w.weights, ref_logit_weights(d, ["x", "l", "time"], ["x", "time"]), 1e-7)


@case("msm.iptw", "treatment as bool", tags=("numbers",))
def _():
    d = panel().assign(a=lambda f: f["a"].astype(bool))
    close(iptw(d).weights, base_weights(), 1e-12)


@case("msm.iptw", "datetime time, formula without time", tags=("numbers",))
def _():
    d = panel()
    expected = iptw(d, denominator="x + l", numerator="x").weights
    d["time"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(d["time"] * 30, unit="D")
    close(iptw(d, denominator="x + l", numerator="x").weights, expected, 1e-10)


@case("msm.iptw", "datetime time used in the formula", defect=5, tags=("either",))
def _():
    # either supported (time enters linearly, so any unit gives the base weights) or a
    # DataError naming the time column
    d = panel()
    d["time"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(d["time"] * 30, unit="D")
    try:
        w = iptw(d)
    except msm.DataError as err:
        assert err.column == "time" and "'time'" in str(err), str(err)
    else:
        close(w.weights, base_weights(), 1e-6)


@case("msm.iptw", "object-dtype column holding numbers", defect=6, tags=("either",))
def _():
    d = panel().assign(l=lambda f: f["l"].astype(object))
    try:
        w = iptw(d)
    except msm.DataError as err:
        assert err.column == "l" and "'l'" in str(err), str(err)
    else:
        close(w.weights, base_weights(), 1e-10)


@case("msm.iptw", "covariate shifted by 1e5 (not collinear)", defect=7, tags=("numbers",))
def _():
    d = panel().assign(l=lambda f: f["l"] + 1e5)
    close(iptw(d).weights, base_weights(), 1e-6)


@case("msm.iptw", "covariates at 1e8", tags=("numbers",))
def _():
    d = panel().assign(l=lambda f: f["l"] * 1e8, x=lambda f: f["x"] * 1e8)
    close(iptw(d).weights, base_weights(), 1e-6)


@case("msm.iptw", "300 visits per subject (log space)", tags=("numbers",))
def _():
    rng = np.random.default_rng(7)
    n, t = 20, 300
    d = pd.DataFrame({"id": np.repeat(np.arange(n), t), "time": np.tile(np.arange(t), n)})
    d["l"] = rng.normal(size=n * t)
    d["a"] = (rng.random(n * t) < 1 / (1 + np.exp(-(0.2 + 1.5 * d["l"])))).astype(int)
    w = iptw(d, denominator="l", numerator="1", absorbing=False)
    assert np.isfinite(w.weights).all() and (w.weights > 0).all()
    close(w.weights, ref_logit_weights(d, ["l"], [], absorbing=False), 1e-6)


@case("msm.iptw", "probabilities near 0 and 1", tags=("numbers",))
def _():
    rng = np.random.default_rng(8)
    n = 400
    d = pd.DataFrame({"id": np.arange(n), "l": rng.normal(size=n) * 3})
    d["a"] = (rng.random(n) < 1 / (1 + np.exp(-(4 * d["l"])))).astype(int)
    w = quiet(call, msm.iptw, d, id="id", time=None, treatment="a", denominator="l")
    assert np.isfinite(w.weights).all()
    close(w.weights, ref_logit_weights(d.assign(time=0), ["l"], None, absorbing=False), 1e-6)


@case("msm.iptw", "censor given but no one censored", defect=2, tags=("numbers",))
def _():
    import pytest

    d = panel()
    with pytest.warns(Warning, match="lost"):
        w = iptw(d, censor="lost")
    close(w.censoring_weights, np.ones(len(d)), 0)
    close(w.weights, base_weights(), 1e-12)


@case("msm.iptw", "censoring weights equal statsmodels", tags=("numbers",))
def _():
    import statsmodels.api as sm

    d = censored_panel()
    w = iptw(d, censor="lost", numerator=None, censor_numerator=None)
    X = sm.add_constant(d[["x", "l", "time"]].to_numpy(float))
    p = sm.GLM(d["lost"].to_numpy(float), X, family=sm.families.Binomial()).fit(tol=1e-13)
    surv = pd.Series(1 - p.predict(X), index=d.index)
    expected = 1 / surv.groupby(d["id"]).cumprod()
    close(w.censoring_weights, expected, 1e-7)


# ---------------------------------------------------------------------------------------------
# msm.iptw: other treatment-model families


def point_iptw(data, **kw):
    kw = {"id": "id", "time": None, "denominator": "x + l", **kw}
    return call(msm.iptw, data, **kw)


@case("msm.iptw", "multinomial: weights equal statsmodels MNLogit", tags=("numbers", "multinomial"))
def _():
    import statsmodels.api as sm

    d = point()
    w = point_iptw(d, treatment="m", family="multinomial")
    X = sm.add_constant(d[["x", "l"]].to_numpy())
    prob = sm.MNLogit(d["m"].to_numpy(), X).fit(disp=0, method="newton", tol=1e-12).predict(X)
    close(w.weights, 1 / prob[np.arange(len(d)), d["m"].to_numpy()], 1e-6)


@case("msm.iptw", "multinomial: text levels relabelled", tags=("numbers", "multinomial"))
def _():
    d = point()
    expected = point_iptw(d, treatment="m", family="multinomial", numerator="1").weights
    d["m"] = np.array(["low", "mid", "high"])[d["m"].to_numpy()]
    close(point_iptw(d, treatment="m", family="multinomial", numerator="1").weights, expected, 1e-8)


@case("msm.iptw", "multinomial: one level only", Raises("m"), defect=2, tags=("multinomial",))
def _():
    point_iptw(point().assign(m=2), treatment="m", family="multinomial")


@case("msm.iptw", "multinomial: NaN level", Raises("m", ids=(17,)), tags=("multinomial",))
def _():
    d = point().astype({"m": float})
    d.loc[17, "m"] = np.nan
    point_iptw(d, treatment="m", family="multinomial")


@case("msm.iptw", "ordinal: weights equal statsmodels OrderedModel", tags=("numbers", "ordinal"))
def _():
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    d = point()
    w = point_iptw(d, treatment="o", family="ordinal")
    res = OrderedModel(d["o"].to_numpy(), d[["x", "l"]].to_numpy(), distr="logit").fit(
        method="bfgs", disp=0, maxiter=5000, gtol=1e-10
    )
    prob = res.predict()
    close(w.weights, 1 / prob[np.arange(len(d)), d["o"].to_numpy()], 1e-4)


@case("msm.iptw", "ordinal: unordered text levels", Raises("o"), tags=("ordinal",))
def _():
    d = point().assign(o=lambda f: f["o"].map({0: "a", 1: "b", 2: "c", 3: "d"}))
    point_iptw(d, treatment="o", family="ordinal")


@case("msm.iptw", "ordinal: constant treatment", Raises("o"), defect=2, tags=("ordinal",))
def _():
    point_iptw(point().assign(o=1), treatment="o", family="ordinal")


@case("msm.iptw", "gaussian: density ratio equals OLS by hand", tags=("numbers", "gaussian"))
def _():
    import scipy.stats
    import statsmodels.api as sm

    d = point()
    w = point_iptw(d, treatment="dose", family="gaussian", numerator="1")
    X = sm.add_constant(d[["x", "l"]].to_numpy())
    dose = d["dose"].to_numpy()
    ols = sm.OLS(dose, X).fit()
    den = scipy.stats.norm.pdf(dose, ols.fittedvalues, np.std(ols.resid, ddof=1))
    num = scipy.stats.norm.pdf(dose, dose.mean(), dose.std(ddof=1))
    close(w.weights, num / den, 1e-8)


@case(
    "msm.iptw",
    "gaussian: constant dose",
    Raises("dose", contains=("vary",)),
    defect=2,
    tags=("gaussian",),
)
def _():
    point_iptw(point().assign(dose=2.5), treatment="dose", family="gaussian", numerator="1")


@case("msm.iptw", "gaussian: dose as text", Raises("dose"), tags=("gaussian",))
def _():
    d = point().assign(dose=lambda f: f["dose"].round(2).astype(str))
    point_iptw(d, treatment="dose", family="gaussian", numerator="1")


@case(
    "msm.iptw",
    "gaussian: unstabilized",
    Raises(exc=ValueError, names="numerator"),
    tags=("gaussian",),
)
def _():
    point_iptw(point(), treatment="dose", family="gaussian", numerator=None)


# --- model="cox" (time to initiation)


def cox_iptw(data, **kw):
    kw = {
        "id": "id",
        "time": "time",
        "treatment": "a",
        "denominator": "x + l",
        "numerator": "x",
        "absorbing": True,
        "model": "cox",
        "start": "tstart",
        **kw,
    }
    return call(msm.iptw, data, **kw)


@case("msm.iptw", "cox: start column missing", Raises("tstart"), tags=("cox",))
def _():
    cox_iptw(survival_start().drop(columns="tstart"))


@case("msm.iptw", "cox: start not before the time", Raises("tstart", ids=(3,)), tags=("cox",))
def _():
    d = survival_start()
    d.loc[d.index[d["id"] == 3][2], "tstart"] = 100.0
    cox_iptw(d)


@case("msm.iptw", "cox: NaN start", Raises("tstart", ids=(4,)), tags=("cox",))
def _():
    d = survival_start()
    d.loc[d.index[d["id"] == 4][1], "tstart"] = np.nan
    cox_iptw(d)


@case("msm.iptw", "cox: datetime start", defect=5, tags=("cox", "either"))
def _():
    d = survival_start()
    expected = cox_iptw(d).weights
    origin = pd.Timestamp("2021-03-01")
    d["tstart"] = origin + pd.to_timedelta(d["tstart"], unit="D")
    d["time"] = origin + pd.to_timedelta(d["time"], unit="D")
    try:
        w = cox_iptw(d)
    except msm.DataError as err:
        assert err.column in ("tstart", "time") and repr(err.column) in str(err), str(err)
    else:
        close(w.weights, expected, 1e-6)


@case("msm.iptw", "cox: covariate named Intercept", defect=8, tags=("cox", "numbers"))
def _():
    d = survival_start()
    expected = cox_iptw(d, denominator="x + l").weights
    d = d.rename(columns={"l": "Intercept"})
    close(cox_iptw(d, denominator="x + Intercept").weights, expected, 1e-10)


@case("msm.iptw", "cox: null numerator (R ipwtm example 2)", defect=11, tags=("cox", "numbers"))
def _():
    d = survival_start()
    w = cox_iptw(d, numerator="1")
    unstab = cox_iptw(d, numerator=None)
    # the numerator factor by hand: Efron-tied Nelson-Aalen of the null model on the risk set
    s = d.sort_values(["id", "time"], kind="stable")
    a = s["a"].to_numpy()
    before = s.groupby("id")["a"].cumsum().to_numpy() - a
    risk = s[before == 0]
    grid = np.unique(s["time"].to_numpy())
    cum = np.zeros(grid.size)
    events = risk.loc[risk["a"] == 1, "time"].to_numpy()
    for k, t in enumerate(grid):
        at_risk = int(((risk["tstart"] < t) & (risk["time"] >= t)).sum())
        n_events = int((events == t).sum())
        step = sum(1.0 / (at_risk - j) for j in range(n_events))
        cum[k] = (cum[k - 1] if k else 0.0) + step
    dh = pd.Series(np.diff(np.concatenate(([0.0], cum))), index=grid)
    h = dh.reindex(s["time"]).to_numpy()
    factor = np.where(before == 0, np.where(a == 1, 1 - np.exp(-h), np.exp(-h)), 1.0)
    num = pd.Series(factor, index=s.index).groupby(s["id"]).cumprod()
    close(w.weights / unstab.weights, num.reindex(d.index), 1e-8)


# --- a scikit-learn learner


class RecordingLogit:
    """A LogisticRegression (no penalty) that records the features it is fitted on."""

    seen: list = []

    def __init__(self, C=1e10):
        self.C = C

    def get_params(self, deep=True):
        return {"C": self.C}

    def set_params(self, **params):
        self.C = params.get("C", self.C)
        return self

    def fit(self, X, y, sample_weight=None):
        from sklearn.linear_model import LogisticRegression

        names = list(X.columns) if hasattr(X, "columns") else X.shape[1]
        RecordingLogit.seen.append(names)
        self._lr = LogisticRegression(C=self.C, max_iter=5000, tol=1e-10)
        self._lr.fit(X, y, sample_weight=sample_weight)
        self.classes_ = self._lr.classes_
        return self

    def predict_proba(self, X):
        return self._lr.predict_proba(X)


def learner_iptw(data, clip=1e-3, **kw):
    kw = {"id": "id", "time": None, "treatment": "a", "denominator": "x + l", **kw}
    return call(msm.iptw, data, model=RecordingLogit(), clip=clip, **kw)


@case(
    "msm.iptw",
    "learner: clip=0.9",
    Raises(exc=ValueError, names="clip"),
    defect=12,
    tags=("learner",),
)
def _():
    learner_iptw(point(), clip=0.9)


@case(
    "msm.iptw",
    "learner: clip=-0.5",
    Raises(exc=ValueError, names="clip"),
    defect=12,
    tags=("learner",),
)
def _():
    learner_iptw(point(), clip=-0.5)


@case(
    "msm.iptw",
    "learner: clip=1.5",
    Raises(exc=ValueError, names="clip"),
    defect=12,
    tags=("learner",),
)
def _():
    learner_iptw(point(), clip=1.5)


@case(
    "msm.iptw",
    "learner: point treatment gets only the user's features",
    defect=13,
    tags=("learner", "numbers"),
)
def _():
    RecordingLogit.seen.clear()
    learner_iptw(point())
    assert RecordingLogit.seen, "the learner was not fitted"
    for names in RecordingLogit.seen:
        assert names in (["x", "l"], 2), names


@case("msm.iptw", "learner: equals the logistic model", defect=13, tags=("learner", "numbers"))
def _():
    d = point()
    close(learner_iptw(d).weights, point_iptw(d, treatment="a").weights, 1e-4)


@case(
    "msm.iptw", "learner: a feature named Intercept is kept", defect=8, tags=("learner", "numbers")
)
def _():
    d = point().rename(columns={"l": "Intercept"})
    RecordingLogit.seen.clear()
    w = learner_iptw(d, denominator="x + Intercept")
    assert all(n in (["x", "Intercept"], 2) for n in RecordingLogit.seen), RecordingLogit.seen
    close(w.weights, learner_iptw(point()).weights, 1e-8)


@case("msm.iptw", "learner: NaN feature", Raises("l", ids=(21,)), tags=("learner",))
def _():
    d = point()
    d.loc[21, "l"] = np.nan
    learner_iptw(d)


@case(
    "msm.iptw",
    "learner: family gaussian",
    Raises(exc=ValueError, names="family"),
    tags=("learner",),
)
def _():
    learner_iptw(point(), treatment="dose", family="gaussian", numerator="1")


# ---------------------------------------------------------------------------------------------
# the weights= resolver (glm, cox, balance, ess, reweighted_association, risk_curves, ...)


@functools.cache
def _outcome_setup():
    d = panel(60, 1, event_coefs=(-2.0, 0.2, 0.5, -0.7), stop_at_event=True)
    w = msm.iptw(d, **IPTW)
    return d, w


def outcome_setup():
    d, w = _outcome_setup()
    return d.copy(), w


def glm(formula, data, **kw):
    return call(msm.glm, formula, data, **kw)


@case("msm.glm", "weights Series of a shuffled copy, aligned by label", defect=1, tags=("numbers",))
def _():
    d, w = outcome_setup()
    expected = glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
    shuffled = d.sample(frac=1.0, random_state=3)
    got = glm("y ~ a + time", shuffled, weights=w.weights, cluster="id", family="binomial")
    close(got.params, expected.params, 1e-10)
    close(got.bse, expected.bse, 1e-10)


@case(
    "msm.glm",
    "link='identity' without an intercept and no start inside (0, 1)",
    Raises(None, contains=("identity link: no starting values keep every fitted mean",)),
)
def _():
    d = pd.DataFrame({"x": [-3.0, -2.0, -1.0, 0.0], "y": [1.0, 0.0, 1.0, 1.0]})
    glm("y ~ 0 + x", d, family="binomial", link="identity")


@case(
    "msm.glm",
    "link not one the family takes",
    Raises(exc=ValueError, names="link for family='poisson' must be one of 'log', 'identity'"),
)
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d, family="poisson", link="logit")


@case("msm.glm", "weights Series with labels not in the data", Raises("weights"), defect=1)
def _():
    d, w = outcome_setup()
    glm("y ~ a", d, weights=w.weights.set_axis(w.weights.index + 10_000), family="binomial")


@case("msm.glm", "weights Series on a duplicated index, other order", Raises("weights"), defect=1)
def _():
    d, w = outcome_setup()
    d = d.set_axis(np.arange(len(d)) // 2)
    s = pd.Series(w.weights.to_numpy(), index=d.index).iloc[::-1]
    glm("y ~ a", d, weights=s, family="binomial")


@case("msm.glm", "weights Series on a duplicated index, same order", defect=1, tags=("numbers",))
def _():
    d, w = outcome_setup()
    expected = glm("y ~ a", d, weights=w.weights.to_numpy(), family="binomial")
    d = d.set_axis(np.arange(len(d)) // 2)
    s = pd.Series(w.weights.to_numpy(), index=d.index)
    close(glm("y ~ a", d, weights=s, family="binomial").params, expected.params, 1e-12)


@case("msm.glm", "Weights of a subset of the rows", Raises("weights"))
def _():
    d, _ = outcome_setup()
    sub = d[d["id"] < 30]
    glm("y ~ a", d, weights=msm.iptw(sub, **IPTW), family="binomial")


@case("msm.glm", "fit on a subset with the full Weights, aligned by label", tags=("numbers",))
def _():
    d, w = outcome_setup()
    sub = d[d["time"] >= 2]
    got = glm("y ~ a + time", sub, weights=w, cluster="id", family="binomial")
    expected = glm(
        "y ~ a + time",
        sub,
        weights=w.weights.loc[sub.index].to_numpy(),
        cluster="id",
        family="binomial",
    )
    close(got.params, expected.params, 1e-12)


@case("msm.glm", "zero weights equal dropping those subjects", tags=("numbers",))
def _():
    d, w = outcome_setup()
    keep = (d["id"] % 3 != 0).to_numpy()
    weights = np.where(keep, w.weights.to_numpy(), 0.0)
    got = glm("y ~ a + time", d, weights=weights, cluster="id", family="binomial")
    expected = glm("y ~ a + time", d[keep], weights=weights[keep], cluster="id", family="binomial")
    close(got.params, expected.params, 1e-9)
    close(got.bse, expected.bse, 1e-9)


@case("msm.glm", "categorical covariate equals statsmodels dummies", tags=("numbers",))
def _():
    import statsmodels.api as sm

    d, w = outcome_setup()
    d["site"] = pd.Categorical(np.array(["north", "south", "east"])[d["id"].to_numpy() % 3])
    fit = glm("l ~ a + site", d, weights=w, cluster="id")
    X = pd.get_dummies(d["site"], drop_first=True, dtype=float).assign(a=d["a"])
    ref = sm.WLS(d["l"], sm.add_constant(X), weights=w.weights).fit()
    names = {"const": "Intercept", "a": "a", "north": "site[T.north]", "south": "site[T.south]"}
    close(fit.params[[names[k] for k in ref.params.index]], ref.params, 1e-9)


@case("msm.glm", "weights array of the wrong length", Raises("weights"))
def _():
    d, w = outcome_setup()
    glm("y ~ a", d, weights=np.ones(len(d) - 1), family="binomial")


@case("msm.glm", "negative weight", Raises("weights", ids=(5,)))
def _():
    d, _ = outcome_setup()
    weights = np.ones(len(d))
    weights[5] = -1.0
    glm("y ~ a", d, weights=weights, family="binomial")


@case("msm.glm", "NaN weight", Raises("weights", ids=(7,)))
def _():
    d, _ = outcome_setup()
    weights = np.ones(len(d))
    weights[7] = np.nan
    glm("y ~ a", d, weights=weights, family="binomial")


@case("msm.glm", "every weight 0", Raises("weights"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d, weights=np.zeros(len(d)), family="binomial")


@case("msm.glm", "weights column name missing", Raises("sw"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d, weights="sw", family="binomial")


@case("msm.glm", "weights column as text", Raises("sw"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d.assign(sw="high"), weights="sw", family="binomial")


@case("msm.glm", "weighted gaussian fit equals statsmodels and a hand sandwich", tags=("numbers",))
def _():
    d, w = outcome_setup()
    fit = glm("l ~ a + x", d, weights=w, cluster="id")
    params, bse = ref_glm(["a", "x"], "l", d, w.weights.to_numpy(), "gaussian", "id")
    close(fit.params, params, 1e-8)
    close(fit.bse, bse, 1e-7)


@case("msm.glm", "weighted binomial fit equals statsmodels and a hand sandwich", tags=("numbers",))
def _():
    d, w = outcome_setup()
    fit = glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
    params, bse = ref_glm(["a", "time"], "y", d, w.weights.to_numpy(), "binomial", "id")
    close(fit.params, params, 1e-7)
    close(fit.bse, bse, 1e-6)


@case("msm.glm", "weights rescaled by 1e-200", defect=10, tags=("numbers",))
def _():
    d, w = outcome_setup()
    base = glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
    tiny = glm("y ~ a + time", d, weights=w.weights * 1e-200, cluster="id", family="binomial")
    close(tiny.params, base.params, 1e-8)
    close(tiny.bse, base.bse, 1e-8)


@case("msm.glm", "weights rescaled by 1e200", defect=10, tags=("numbers",))
def _():
    d, w = outcome_setup()
    base = glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
    huge = glm("y ~ a + time", d, weights=w.weights * 1e200, cluster="id", family="binomial")
    close(huge.params, base.params, 1e-8)
    close(huge.bse, base.bse, 1e-8)


@case("msm.glm", "outcome column missing", Raises("death"))
def _():
    d, _ = outcome_setup()
    glm("death ~ a", d, family="binomial")


@case("msm.glm", "covariate column missing", Raises("age"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a + age", d, family="binomial")


@case("msm.glm", "binomial outcome 0/1/2", Raises("y"))
def _():
    d, _ = outcome_setup()
    d.loc[d.index[3], "y"] = 2
    glm("y ~ a", d, family="binomial")


@case("msm.glm", "poisson outcome negative", Raises("y"))
def _():
    d, _ = outcome_setup()
    d.loc[d.index[3], "y"] = -1
    glm("y ~ a", d, family="poisson")


@case("msm.glm", "constant outcome", Raises("y"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d.assign(y=0), family="binomial")


@case("msm.glm", "NaN outcome", Raises("y", ids=(11,)))
def _():
    d, _ = outcome_setup()
    d = d.reset_index(drop=True)
    d.loc[11, "y"] = np.nan
    glm("y ~ a", d, family="binomial")


@case("msm.glm", "nullable Int64 covariate with pd.NA", Raises("a", ids=(4,)))
def _():
    d, _ = outcome_setup()
    d = d.astype({"a": "Int64"})
    d.loc[d.index[d["id"] == 4][0], "a"] = pd.NA
    glm("y ~ a", d, cluster="id", family="binomial")


@case("msm.glm", "NaN cluster", Raises("id"))
def _():
    d, _ = outcome_setup()
    d = d.astype({"id": float})
    d.loc[d.index[2], "id"] = np.nan
    glm("y ~ a", d, cluster="id", family="binomial")


@case("msm.glm", "cluster column missing", Raises("patient"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d, cluster="patient", family="binomial")


@case("msm.glm", "offset column missing", Raises("logt"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d, offset="logt", family="poisson")


@case("msm.glm", "unknown family", Raises(exc=ValueError, names="family"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d, family="gamma")


@case("msm.glm", "log of a covariate that is 0", Raises("z", contains=("log",)), defect=3)
def _():
    d, _ = outcome_setup()
    d = d.assign(z=lambda f: np.abs(f["l"]) + 0.1)
    d.loc[d.index[4], "z"] = 0.0
    glm("y ~ a + np.log(z)", d, family="binomial")


@case("msm.glm", "duplicate column names after concat", Raises("a"), defect=4)
def _():
    d, _ = outcome_setup()
    glm("y ~ a", pd.concat([d, d[["a"]]], axis=1), family="binomial")


@case("msm.glm", "datetime covariate in the formula", defect=5, tags=("either",))
def _():
    d, _ = outcome_setup()
    expected = glm("l ~ a + time", d)
    d = d.assign(when=pd.Timestamp("2020-01-01") + pd.to_timedelta(d["time"], unit="D"))
    try:
        got = glm("l ~ a + when", d)
    except msm.DataError as err:
        assert err.column == "when" and "'when'" in str(err), str(err)
    else:
        close(got.params["a"], expected.params["a"], 1e-8)


@case("msm.glm", "object-dtype covariate holding numbers", defect=6, tags=("either",))
def _():
    d, _ = outcome_setup()
    expected = glm("l ~ a + x", d)
    try:
        got = glm("l ~ a + x", d.assign(x=d["x"].astype(object)))
    except msm.DataError as err:
        assert err.column == "x" and "'x'" in str(err), str(err)
    else:
        close(got.params, expected.params, 1e-10)


@case("msm.glm", "covariate shifted by 1e5 (not collinear)", defect=7, tags=("numbers",))
def _():
    d, _ = outcome_setup()
    expected = glm("y ~ a + l", d, family="binomial")
    got = glm("y ~ a + l", d.assign(l=d["l"] + 1e5), family="binomial")
    close(got.params[["a", "l"]], expected.params[["a", "l"]], 1e-6)
    close(got.bse[["a", "l"]], expected.bse[["a", "l"]], 1e-6)


@case("msm.glm", "covariate at 1e8", tags=("numbers",))
def _():
    d, _ = outcome_setup()
    expected = glm("y ~ a + l", d, family="binomial")
    got = glm("y ~ a + l", d.assign(l=d["l"] * 1e8), family="binomial")
    close(got.params["l"] * 1e8, expected.params["l"], 1e-6)
    close(got.params["a"], expected.params["a"], 1e-6)


@case("msm.glm", "truly collinear covariates", Raises(("l", "l2")))
def _():
    d, _ = outcome_setup()
    glm("y ~ a + l + l2", d.assign(l2=d["l"] * 3), family="binomial")


@case("msm.glm", "stacked variance with a duplicated index", Raises((None, "weights")), defect=9)
def _():
    d, _ = outcome_setup()
    d = d.set_axis(np.arange(len(d)) // 2)
    w = msm.iptw(d, **IPTW)
    glm("y ~ a + time", d, weights=w, family="binomial", variance="stacked")


@case("msm.glm", "MultiIndex and shuffled rows", tags=("numbers",))
def _():
    d, w = outcome_setup()
    expected = glm("y ~ a + time", d, weights=w, cluster="id", family="binomial")
    m = d.set_index(["id", "time"], drop=False).sample(frac=1.0, random_state=5)
    wm = call(msm.iptw, m, **IPTW)
    got = glm("y ~ a + time", m, weights=wm, cluster="id", family="binomial")
    close(got.params, expected.params, 1e-9)
    close(got.bse, expected.bse, 1e-9)


@case("msm.glm", "one row", Raises("y"))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d.iloc[:1], family="binomial")


@case("msm.glm", "empty frame", Raises(None))
def _():
    d, _ = outcome_setup()
    glm("y ~ a", d.iloc[:0], family="binomial")


# ---------------------------------------------------------------------------------------------
# msm.cox


def cox(data, **kw):
    kw = {"start": "start", "stop": "stop", "event": "y", "covariates": "a + x", **kw}
    return call(msm.cox, data, **kw)


@case("msm.cox", "unweighted fit equals statsmodels PHReg (Efron)", tags=("numbers",))
def _():
    d = survival_panel()
    fit = cox(d)
    params, bse = ref_cox(d, ["a", "x"])
    close(fit.params, params, 1e-7)
    close(fit.bse, bse, 1e-6)


@case("msm.cox", "unweighted fit equals statsmodels PHReg (Breslow)", tags=("numbers",))
def _():
    d = survival_panel()
    fit = cox(d, ties="breslow")
    params, bse = ref_cox(d, ["a", "x"], ties="breslow")
    close(fit.params, params, 1e-7)
    close(fit.bse, bse, 1e-6)


@case("msm.cox", "integer weights equal duplicated rows (Breslow)", tags=("numbers",))
def _():
    d = survival_panel()
    k = np.random.default_rng(1).integers(1, 4, len(d))
    fit = cox(d, weights=k.astype(float), ties="breslow")
    rep = cox(d.loc[d.index.repeat(k)].reset_index(drop=True), ties="breslow")
    close(fit.params, rep.params, 1e-9)
    close(fit.bse, rep.bse, 1e-8)


@case("msm.cox", "zero weights equal dropping those rows", tags=("numbers",))
def _():
    d = survival_panel()
    keep = (d["id"] % 4 != 0).to_numpy()
    got = cox(d, weights=keep.astype(float), cluster="id")
    expected = cox(d[keep], cluster="id")
    close(got.params, expected.params, 1e-9)
    close(got.bse, expected.bse, 1e-9)


@case("msm.cox", "stop equal to start", Raises(("stop", "start"), ids=(2,)))
def _():
    d = survival_panel()
    d.loc[d.index[d["id"] == 2][0], "stop"] = d.loc[d.index[d["id"] == 2][0], "start"]
    cox(d, cluster="id")


@case("msm.cox", "stop before start", Raises(("stop", "start"), ids=(5,)))
def _():
    d = survival_panel()
    row = d.index[d["id"] == 5][1]
    d.loc[row, "stop"] = d.loc[row, "start"] - 1
    cox(d, cluster="id")


@case("msm.cox", "event 0/1/2", Raises("y"))
def _():
    d = survival_panel()
    d.loc[d.index[0], "y"] = 2
    cox(d)


@case("msm.cox", "event as text", Raises("y"))
def _():
    d = survival_panel()
    cox(d.assign(y=d["y"].map({0: "no", 1: "yes"})))


@case("msm.cox", "no events", Raises("y"))
def _():
    cox(survival_panel().assign(y=0))


@case("msm.cox", "NaN stop", Raises("stop"))
def _():
    d = survival_panel()
    d.loc[d.index[3], "stop"] = np.nan
    cox(d)


@case("msm.cox", "nullable Float64 start with pd.NA", Raises("start"))
def _():
    d = survival_panel().astype({"start": "Float64"})
    d.loc[d.index[3], "start"] = pd.NA
    cox(d)


@case("msm.cox", "start column missing", Raises("tstart"))
def _():
    cox(survival_panel(), start="tstart")


@case("msm.cox", "covariate missing", Raises("age"))
def _():
    cox(survival_panel(), covariates="a + age")


@case("msm.cox", "negative weight", Raises("weights", ids=(4,)))
def _():
    d = survival_panel()
    weights = np.ones(len(d))
    weights[4] = -0.5
    cox(d, weights=weights)


@case("msm.cox", "weights array of the wrong length", Raises("weights"))
def _():
    d = survival_panel()
    cox(d, weights=np.ones(len(d) + 1))


@case("msm.cox", "weights Series of a shuffled copy, aligned by label", defect=1, tags=("numbers",))
def _():
    d = survival_panel()
    w = msm.iptw(d, **IPTW)
    expected = cox(d, weights=w, cluster="id")
    got = cox(d.sample(frac=1.0, random_state=2), weights=w.weights, cluster="id")
    close(got.params, expected.params, 1e-10)
    close(got.bse, expected.bse, 1e-10)


@case("msm.cox", "weights rescaled by 1e-200", defect=10, tags=("numbers",))
def _():
    d = survival_panel()
    w = msm.iptw(d, **IPTW).weights
    base = cox(d, weights=w, cluster="id")
    tiny = cox(d, weights=w * 1e-200, cluster="id")
    close(tiny.params, base.params, 1e-8)
    close(tiny.bse, base.bse, 1e-8)


@case("msm.cox", "weights rescaled by 1e200", defect=10, tags=("numbers",))
def _():
    d = survival_panel()
    w = msm.iptw(d, **IPTW).weights
    base = cox(d, weights=w, cluster="id")
    huge = cox(d, weights=w * 1e200, cluster="id")
    close(huge.params, base.params, 1e-8)
    close(huge.bse, base.bse, 1e-8)


@case("msm.cox", "covariate named Intercept is kept", defect=8, tags=("numbers",))
def _():
    d = survival_panel()
    expected = cox(d, covariates="a + x")
    got = cox(d.rename(columns={"x": "Intercept"}), covariates="a + Intercept")
    assert list(got.params.index) == ["a", "Intercept"], list(got.params.index)
    close(got.params, expected.params, 1e-10)


@case("msm.cox", "covariate shifted by 1e5 (not collinear)", defect=7, tags=("numbers",))
def _():
    d = survival_panel()
    expected = cox(d, covariates="a + l")
    got = cox(d.assign(l=d["l"] + 1e5), covariates="a + l")
    close(got.params, expected.params, 1e-6)
    close(got.bse, expected.bse, 1e-6)


@case("msm.cox", "log of a covariate that is 0", Raises("z", contains=("log",)), defect=3)
def _():
    d = survival_panel().assign(z=lambda f: np.abs(f["l"]) + 0.1)
    d.loc[d.index[6], "z"] = 0.0
    cox(d, covariates="a + np.log(z)")


@case("msm.cox", "duplicate column names after concat", Raises("x"), defect=4)
def _():
    d = survival_panel()
    cox(pd.concat([d, d[["x"]]], axis=1))


@case("msm.cox", "datetime start and stop", defect=5, tags=("either",))
def _():
    d = survival_panel()
    expected = cox(d)
    origin = pd.Timestamp("2021-01-01")
    d = d.assign(
        start=origin + pd.to_timedelta(d["start"], unit="D"),
        stop=origin + pd.to_timedelta(d["stop"], unit="D"),
    )
    try:
        got = cox(d)
    except msm.DataError as err:
        assert err.column in ("start", "stop") and repr(err.column) in str(err), str(err)
    else:
        close(got.params, expected.params, 1e-8)


@case("msm.cox", "object-dtype covariate holding numbers", defect=6, tags=("either",))
def _():
    d = survival_panel()
    expected = cox(d)
    try:
        got = cox(d.assign(x=d["x"].astype(object)))
    except msm.DataError as err:
        assert err.column == "x" and "'x'" in str(err), str(err)
    else:
        close(got.params, expected.params, 1e-10)


@case("msm.cox", "constant covariate", Raises("c"))
def _():
    cox(survival_panel().assign(c=1.0), covariates="a + c")


@case("msm.cox", "empty frame", Raises(None))
def _():
    cox(survival_panel().iloc[:0])


# ---------------------------------------------------------------------------------------------
# msm.risk_curves


@functools.cache
def _risk_setup():
    d = panel(80, 3, n_visits=6, stop_at_event=True, event_coefs=(-2.5, 0.2, 0.5, -0.7))
    w = msm.iptw(d, **IPTW)
    fit = msm.glm("y ~ a + time + x", d, weights=w, cluster="id", family="binomial")
    return d, fit


def risk_setup():
    d, fit = _risk_setup()
    return d.copy(), fit


def risk(fit, data, **kw):
    return call(msm.risk_curves, fit, data, **{"id": "id", "time": "time", "treatment": "a", **kw})


@case("msm.risk_curves", "risks equal a hand computation", tags=("numbers",))
def _():
    d, fit = risk_setup()
    table = risk(fit, d)
    b = fit.params
    x = d.sort_values(["id", "time"]).groupby("id")["x"].first().to_numpy()
    times = np.sort(d["time"].unique())
    for regime, a in (("always", 1), ("never", 0)):
        eta = b["Intercept"] + b["a"] * a + b["time"] * times[None, :] + b["x"] * x[:, None]
        h = 1 / (1 + np.exp(-eta))
        expected = (1 - np.cumprod(1 - h, axis=1)).mean(axis=0)
        close(table.loc[regime, "risk"], expected, 1e-10)


@case("msm.risk_curves", "rows shuffled and ids relabelled", tags=("numbers",))
def _():
    d, fit = risk_setup()
    expected = risk(fit, d)
    labels = np.random.default_rng(3).permutation([f"id{k}" for k in range(80)])
    e = d.assign(id=labels[d["id"].to_numpy()]).sample(frac=1.0, random_state=4)
    got = risk(fit, e)
    pd.testing.assert_index_equal(got.index, expected.index)
    close(got.to_numpy(), expected.to_numpy(), 1e-12)


@case("msm.risk_curves", "treatment column missing", Raises("a"))
def _():
    d, fit = risk_setup()
    risk(fit, d.drop(columns="a"))


@case("msm.risk_curves", "id column missing", Raises("patient"))
def _():
    d, fit = risk_setup()
    risk(fit, d, id="patient")


@case("msm.risk_curves", "duplicated (id, time)", Raises("time", ids=(2,)))
def _():
    d, fit = risk_setup()
    d.loc[d.index[d["id"] == 2][1], "time"] = 0
    risk(fit, d)


@case("msm.risk_curves", "baseline covariate varies within subject", Raises("x", ids=(1,)))
def _():
    d, fit = risk_setup()
    d.loc[d.index[d["id"] == 1][1], "x"] += 1.0
    risk(fit, d)


@case("msm.risk_curves", "NaN in a model covariate", Raises("x", ids=(6,)))
def _():
    d, fit = risk_setup()
    d.loc[d.index[d["id"] == 6], "x"] = np.nan
    risk(fit, d)


@case("msm.risk_curves", "gaussian fit", Raises(exc=ValueError, names="logistic"))
def _():
    d, _ = risk_setup()
    fit = msm.glm("l ~ a + time", d)
    risk(fit, d)


@case("msm.risk_curves", "malformed regime", Raises(exc=ValueError, names="regime"))
def _():
    d, fit = risk_setup()
    risk(fit, d, regimes={"sometimes": "yes"})


@case("msm.risk_curves", "times not increasing", Raises(exc=ValueError, names="times"))
def _():
    d, fit = risk_setup()
    risk(fit, d, times=[3, 1, 2])


# ---------------------------------------------------------------------------------------------
# msm.balance


def balance(data, **kw):
    kw = {"treatment": "a", "covariates": ["x", "l"], **kw}
    return call(msm.balance, data, **kw)


@functools.cache
def _balance_setup():
    d = panel()
    return d, msm.iptw(d, **IPTW)


def balance_setup():
    d, w = _balance_setup()
    return d.copy(), w


@case("msm.balance", "unweighted SMD equals a hand computation", tags=("numbers",))
def _():
    d = panel()
    b = balance(d, by="time")
    t = b.table.query("stat == 'smd' and covariate == 'l'").set_index("time")["unweighted"]
    for time, rows in d.groupby("time"):
        one, zero = rows.loc[rows["a"] == 1, "l"], rows.loc[rows["a"] == 0, "l"]
        if len(one) < 2 or len(zero) < 2:
            continue
        pooled = np.sqrt((one.var() + zero.var()) / 2)
        close(t.loc[time], (one.mean() - zero.mean()) / pooled, 1e-10)


@case("msm.balance", "constant covariate gives SMD 0", tags=("numbers",))
def _():
    b = balance(panel().assign(c=1.0), covariates=["c"], by="time")
    smd = b.table.query("stat == 'smd'")
    assert (smd["unweighted"] == 0).all() and (smd["weighted"] == 0).all(), smd


@case(
    "msm.balance",
    "weights Series of a shuffled copy, aligned by label",
    defect=1,
    tags=("numbers",),
)
def _():
    d, w = balance_setup()
    expected = balance(d, weights=w.weights.to_numpy(), by="time").table
    got = balance(d.sample(frac=1.0, random_state=6), weights=w.weights, by="time").table
    cols = ["unweighted", "weighted"]
    close(got[cols].to_numpy(), expected[cols].to_numpy(), 1e-12)


@case("msm.balance", "weighted SMD equals a hand computation", tags=("numbers",))
def _():
    d = panel()
    wts = np.where(d["id"] % 2 == 0, 0.0, 1.0 + d["x"].abs().to_numpy())
    b = balance(d, weights=wts, by="time")
    t = b.table.query("stat == 'smd' and covariate == 'l'").set_index("time")["weighted"]
    for time, rows in d.groupby("time"):
        one, zero = rows["a"] == 1, rows["a"] == 0
        if one.sum() < 2 or zero.sum() < 2 or wts[one.index[one]].sum() == 0:
            continue
        if wts[zero.index[zero]].sum() == 0:
            continue
        m1 = np.average(rows.loc[one, "l"], weights=wts[one.index[one]])
        m0 = np.average(rows.loc[zero, "l"], weights=wts[zero.index[zero]])
        pooled = np.sqrt((rows.loc[one, "l"].var() + rows.loc[zero, "l"].var()) / 2)
        close(t.loc[time], (m1 - m0) / pooled, 1e-10)


@case("msm.balance", "weights array of the wrong length", Raises("weights"))
def _():
    d, _ = balance_setup()
    balance(d, weights=np.ones(10))


@case("msm.balance", "negative weight", Raises("weights", ids=(0,)))
def _():
    d, _ = balance_setup()
    weights = np.ones(len(d))
    weights[0] = -2.0
    balance(d, weights=weights)


@case("msm.balance", "weights Series with labels not in the data", Raises("weights"), defect=1)
def _():
    d, w = balance_setup()
    balance(d, weights=w.weights.iloc[:-5])


@case("msm.balance", "Weights of other data", Raises("weights"))
def _():
    d, w = balance_setup()
    balance(d.set_axis(np.arange(len(d)) + 5000), weights=w)


@case("msm.balance", "covariate missing", Raises("cmas"))
def _():
    d, w = balance_setup()
    balance(d, covariates=["x", "cmas"], weights=w)


@case("msm.balance", "treatment 0/1/2", Raises("a"))
def _():
    d = panel()
    d.loc[3, "a"] = 2
    balance(d)


@case("msm.balance", "NaN in a covariate", Raises("l"))
def _():
    d = panel()
    d.loc[3, "l"] = np.nan
    balance(d)


@case("msm.balance", "by column missing", Raises("month"))
def _():
    balance(panel(), by="month")


@case("msm.balance", "empty frame", Raises(None))
def _():
    balance(panel().iloc[:0])


@case("msm.balance", "duplicate column names after concat", Raises("l"), defect=4)
def _():
    d = panel()
    balance(pd.concat([d, d[["l"]]], axis=1))


@case("msm.balance", "unknown statistic", Raises(exc=ValueError, names="stats"))
def _():
    balance(panel(), stats=("smd", "t"))


# ---------------------------------------------------------------------------------------------
# msm.reweighted_association


def association(data, **kw):
    kw = {"covariates": ["x", "l"], **kw}
    return call(msm.reweighted_association, data, **kw)


@case("msm.reweighted_association", "weighted coefficients equal statsmodels", tags=("numbers",))
def _():
    d = point()
    wts = np.random.default_rng(3).uniform(0.5, 2.0, len(d))
    r = association(d, treatment="a", weights=wts, cluster="id", adjust="1")
    params, bse = ref_glm(["x", "l"], "a", d, wts, "binomial", "id")
    got = r.table[r.table["sample"] == "weighted"].set_index("term")
    close(got.loc[["x", "l"], "log_or"], params[1:], 1e-7)
    close(got.loc[["x", "l"], "std_error"], bse[1:], 1e-6)


@case(
    "msm.reweighted_association", "weights Series of a shuffled copy", defect=1, tags=("numbers",)
)
def _():
    d, w = balance_setup()
    kw = dict(treatment="a", id="id", time="time", absorbing=True, cluster="id", adjust="time")
    expected = association(d, weights=w.weights.to_numpy(), **kw)
    got = association(d.sample(frac=1.0, random_state=1), weights=w.weights, **kw)
    close(got.wald_chi2, expected.wald_chi2, 1e-9)


@case("msm.reweighted_association", "cluster column missing", Raises("patient"))
def _():
    d, w = balance_setup()
    association(d, weights=w, cluster="patient")


@case("msm.reweighted_association", "covariate missing", Raises("cmas"))
def _():
    d, w = balance_setup()
    association(d, covariates=["x", "cmas"], weights=w)


@case("msm.reweighted_association", "NaN in a covariate", Raises("l"))
def _():
    d, w = balance_setup()
    d.loc[d.index[8], "l"] = np.nan
    association(d, weights=w)


@case("msm.reweighted_association", "negative weight", Raises("weights", ids=(1,)))
def _():
    d = point()
    wts = np.ones(len(d))
    wts[1] = -1
    association(d, treatment="a", weights=wts, cluster="id")


@case("msm.reweighted_association", "treatment constant", Raises("a"))
def _():
    association(point().assign(a=0), treatment="a", weights=np.ones(200), cluster="id")


@case("msm.reweighted_association", "log of a covariate that is 0", Raises("z"), defect=3)
def _():
    d = point().assign(z=lambda f: np.abs(f["l"]) + 0.1)
    d.loc[2, "z"] = 0.0
    association(d, covariates="x + np.log(z)", treatment="a", weights=np.ones(200), cluster="id")


# ---------------------------------------------------------------------------------------------
# msm.history_balance


def history(data, **kw):
    kw = {"covariates": ["x", "l"], **kw}
    return call(msm.history_balance, data, **kw)


@case("msm.history_balance", "pooled histories, lag 0: mean difference by hand", tags=("numbers",))
def _():
    d = panel()
    hb = history(d, treatment="a", id="id", time="time", history=0, max_lag=0, absorbing=False)
    t = hb.table
    got = t[(t["stat"] == "mean_diff") & (t["covariate"] == "l")]
    col = "unweighted" if "unweighted" in t.columns else "value"
    for _, row in got.iterrows():
        time = row["time"]
        rows = d[d["time"] == time]
        one, zero = rows.loc[rows["a"] == 1, "l"], rows.loc[rows["a"] == 0, "l"]
        if len(one) and len(zero):
            close(row[col], one.mean() - zero.mean(), 1e-10)


@case("msm.history_balance", "weights Series of a shuffled copy", defect=1, tags=("numbers",))
def _():
    d, w = balance_setup()
    kw = dict(treatment="a", id="id", time="time", absorbing=True, max_lag=1)
    expected = history(d, weights=w.weights.to_numpy(), **kw).table
    got = history(d.sample(frac=1.0, random_state=2), weights=w.weights, **kw).table
    num = expected.select_dtypes("number").columns
    close(got[num].to_numpy(), expected[num].to_numpy(), 1e-12)


@case("msm.history_balance", "id column missing", Raises("patient"))
def _():
    history(panel(), treatment="a", id="patient", time="time")


@case("msm.history_balance", "duplicated (id, time)", Raises("time", ids=(3,)))
def _():
    d = panel()
    d.loc[d.index[d["id"] == 3][1], "time"] = 0
    history(d, treatment="a", id="id", time="time")


@case("msm.history_balance", "NaN treatment", Raises("a", ids=(8,)))
def _():
    d = panel().astype({"a": float})
    d.loc[d.index[d["id"] == 8][0], "a"] = np.nan
    history(d, treatment="a", id="id", time="time")


@case("msm.history_balance", "unknown history", Raises(exc=ValueError, names="history"))
def _():
    history(panel(), treatment="a", id="id", time="time", history="partial")


@case("msm.history_balance", "negative history", Raises(exc=ValueError, names="history"))
def _():
    history(panel(), treatment="a", id="id", time="time", history=-1)


# ---------------------------------------------------------------------------------------------
# msm.ess, msm.weight_summary, msm.compare_models, msm.bootstrap


@case("msm.ess", "Kish ESS by hand", tags=("numbers",))
def _():
    w = np.array([0.5, 1.0, 2.0, 4.0])
    close(call(msm.ess, w), w.sum() ** 2 / (w**2).sum(), 1e-15)


@case("msm.ess", "rescaled by 1e-200 and 1e200", defect=10, tags=("numbers",))
def _():
    w = np.array([0.5, 1.0, 2.0, 4.0])
    base = msm.ess(w)
    close(call(msm.ess, w * 1e-200), base, 1e-12)
    close(call(msm.ess, w * 1e200), base, 1e-12)


@case("msm.ess", "by time with a Series of a shuffled copy", defect=1, tags=("numbers",))
def _():
    d, w = balance_setup()
    expected = call(msm.ess, w.weights.to_numpy(), d, by="time")
    got = call(msm.ess, w.weights, d.sample(frac=1.0, random_state=9), by="time")
    close(got.sort_index(), expected.sort_index(), 1e-12)


@case("msm.ess", "negative weight", Raises("weights"))
def _():
    call(msm.ess, np.array([1.0, -1.0, 2.0]))


@case("msm.ess", "NaN weight", Raises("weights"))
def _():
    call(msm.ess, np.array([1.0, np.nan, 2.0]))


@case("msm.ess", "by column missing", Raises("month"))
def _():
    d, w = balance_setup()
    call(msm.ess, w.weights.to_numpy(), d, by="month")


@case("msm.ess", "weights column missing", Raises("sw"))
def _():
    call(msm.ess, "sw", panel())


@case("msm.weight_summary", "data shuffled: the same extremes", tags=("numbers",))
def _():
    d, w = balance_setup()
    expected = call(msm.weight_summary, w, d, k=3).extreme
    got = call(msm.weight_summary, w, d.sample(frac=1.0, random_state=1), k=3).extreme
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))


@case("msm.weight_summary", "covariate missing", Raises("cmas"))
def _():
    d, w = balance_setup()
    call(msm.weight_summary, w, d, covariates=["cmas"])


@case("msm.weight_summary", "data of other rows", Raises(None))
def _():
    d, w = balance_setup()
    call(msm.weight_summary, w, d.set_axis(np.arange(len(d)) + 10_000))


@case("msm.compare_models", "table equals direct calls", tags=("numbers",))
def _():
    d = panel()
    cmp = call(
        msm.compare_models,
        d,
        candidates={"xl": "x + l + time"},
        id="id",
        time="time",
        treatment="a",
        numerator="time",
        covariates=["x", "l"],
        absorbing=True,
    )
    w = msm.iptw(
        d,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="time",
        absorbing=True,
    )
    r = msm.reweighted_association(d, covariates=["x", "l"], weights=w)
    close(cmp.table.loc["xl", "wald_chi2"], r.wald_chi2, 1e-10)


@case("msm.compare_models", "candidate names an unknown column", Raises("cmas"))
def _():
    call(
        msm.compare_models,
        panel(),
        candidates={"bad": "x + cmas"},
        id="id",
        time="time",
        treatment="a",
        covariates=["x"],
        absorbing=True,
    )


@case("msm.compare_models", "treatment missing", Raises("ivig"))
def _():
    call(
        msm.compare_models,
        panel(),
        candidates={"x": "x"},
        id="id",
        time="time",
        treatment="ivig",
        covariates=["x"],
        absorbing=True,
    )


def _mean_x(frame):
    return float(frame["x"].mean())


@case("msm.bootstrap", "same seed gives identical replicates", tags=("numbers",))
def _():
    d = panel()
    a = call(msm.bootstrap, _mean_x, d, cluster="id", n_boot=20, seed=4, n_jobs=1, progress=False)
    b = call(msm.bootstrap, _mean_x, d, cluster="id", n_boot=20, seed=4, n_jobs=1, progress=False)
    npt.assert_array_equal(np.asarray(a.replicates), np.asarray(b.replicates))


@case("msm.bootstrap", "cluster column missing", Raises("patient"))
def _():
    call(msm.bootstrap, _mean_x, panel(), cluster="patient", n_boot=5, n_jobs=1, progress=False)


@case("msm.bootstrap", "NaN cluster", Raises("id"))
def _():
    d = panel().astype({"id": float})
    d.loc[3, "id"] = np.nan
    call(msm.bootstrap, _mean_x, d, cluster="id", n_boot=5, n_jobs=1, progress=False)


@case("msm.bootstrap", "statistic not callable", Raises(exc=TypeError, names="statistic"))
def _():
    call(msm.bootstrap, "mean", panel(), cluster="id", n_boot=5, n_jobs=1, progress=False)


@case("msm.bootstrap", "n_boot=1", Raises(exc=ValueError, names="n_boot"))
def _():
    call(msm.bootstrap, _mean_x, panel(), cluster="id", n_boot=1, n_jobs=1, progress=False)


@case("msm.bootstrap", "empty frame", Raises(None))
def _():
    call(msm.bootstrap, _mean_x, panel().iloc[:0], cluster="id", n_boot=5, n_jobs=1, progress=False)


# ---------------------------------------------------------------------------------------------
# msm.plot


def _plot(func, *args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        return call(func, *args, **kwargs)
    finally:
        plt.close("all")


@case("msm.plot.weights_by_time", "weights array of the wrong length", Raises("weights"))
def _():
    _plot(msm.plot.weights_by_time, np.ones(5), panel(), time="time")


@case("msm.plot.weights_by_time", "time column missing", Raises("month"))
def _():
    _plot(msm.plot.weights_by_time, np.ones(600), panel(), time="month")


@case("msm.plot.weights_by_time", "negative weight", Raises("weights"))
def _():
    w = np.ones(600)
    w[2] = -1
    _plot(msm.plot.weights_by_time, w, panel(), time="time")


@case(
    "msm.plot.weights_by_time",
    "Series of a shuffled copy, aligned by label",
    defect=1,
    tags=("numbers",),
)
def _():
    d, w = balance_setup()
    fig = _plot(
        msm.plot.weights_by_time, w.weights, d.sample(frac=1.0, random_state=1), time="time"
    )
    assert fig is not None


@case("msm.plot.love_plot", "unknown statistic", Raises(exc=ValueError, names="stat"))
def _():
    d, w = balance_setup()
    _plot(msm.plot.love_plot, msm.balance(d, covariates=["x"], weights=w), stat="t")


@case("msm.plot.risk_curves", "curves without a risk column", Raises("risk"))
def _():
    index = pd.MultiIndex.from_product([["always", "never"], [0, 1]], names=["regime", "t"])
    _plot(msm.plot.risk_curves, pd.DataFrame({"p": [0.1, 0.2, 0.1, 0.1]}, index=index))


@case("msm.plot.risk_curves", "curves not indexed by (regime, time)", Raises(None))
def _():
    _plot(msm.plot.risk_curves, pd.DataFrame({"risk": [0.1, 0.2]}))


@case("msm.plot.strategy_risk_curves", "table without an estimate column", Raises("estimate"))
def _():
    index = pd.MultiIndex.from_product([[1, 2], ["w3", "never"]], names=["time", "quantity"])
    _plot(msm.plot.strategy_risk_curves, pd.DataFrame({"risk": [0.1, 0.2, 0.1, 0.1]}, index))


@case("msm.plot.strategy_risk_curves", "table not indexed by (time, quantity)", Raises(None))
def _():
    _plot(msm.plot.strategy_risk_curves, pd.DataFrame({"estimate": [0.1, 0.2]}))


@case("msm.plot.ess_by_time", "not a Balance or Weights", Raises(exc=TypeError, names="Balance"))
def _():
    _plot(msm.plot.ess_by_time, panel())


# ---------------------------------------------------------------------------------------------
# every other DataError the package can raise (tests/test_errors.py checks each construction
# site of DataError in msm/ is reached by a case): msm.iptw


@case("msm.iptw", "formula that cannot be parsed", Raises(None, contains=("could not be parsed",)))
def _():
    iptw(panel(), denominator="x + (")


@case("msm.iptw", "interval covariate", Raises("l", contains=("interval", ".array.mid")))
def _():
    d = panel()
    d["l"] = pd.arrays.IntervalArray.from_breaks(np.arange(len(d) + 1.0))
    iptw(d)


@case("msm.iptw", "period covariate", Raises("l", contains=("period",)))
def _():
    d = panel()
    d["l"] = pd.period_range("2020-01", periods=len(d), freq="M")
    iptw(d)


@case("msm.iptw", "datetime covariate", Raises("l", contains=("datetime", "months since")))
def _():
    d = panel()
    d["l"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(d)), "D")
    iptw(d)


@case("msm.iptw", "timedelta covariate", Raises("l", contains=("timedelta",)))
def _():
    d = panel()
    d["l"] = pd.to_timedelta(np.arange(len(d)), "D")
    iptw(d)


@case("msm.iptw", "numbers stored as text", Raises("l", contains=("numbers stored as text",)))
def _():
    d = panel()
    d["l"] = d["l"].round(3).astype(str)
    iptw(d)


@case("msm.iptw", "list in every cell", Raises("l", contains=("not single values",)))
def _():
    d = panel()
    d["l"] = [[v] for v in d["l"]]
    iptw(d)


@case("msm.iptw", "complex numbers as objects", Raises("l", contains=("complex",)))
def _():
    d = panel()
    d["l"] = pd.Series([complex(v, 1.0) for v in d["l"]], index=d.index, dtype=object)
    iptw(d)


@case("msm.iptw", "id mixing 3 and text '3'", Raises("id", ids=(3, "3"), contains=("'3' (str)",)))
def _():
    d = panel()
    d["id"] = d["id"].astype(object)
    d.loc[(d["id"] == 3) & (d["time"] > 4), "id"] = "3"
    iptw(d)


@case("msm.iptw", "MultiIndex columns: a name selecting two", Raises("x", contains=("selects 2",)))
def _():
    d = panel()
    d.columns = pd.MultiIndex.from_tuples([(c, "") for c in d.columns])
    d[("x", "copy")] = d[("x", "")]
    call(msm.iptw, d, id="id", time="time", treatment="a", denominator="x + l")


@case("msm.iptw", "censor as text", Raises("lost", contains=("0/1",)))
def _():
    d = censored_panel()
    d["lost"] = d["lost"].map({0: "no", 1: "yes"})
    iptw(d, censor="lost")


@case("msm.iptw", "treatment is the id column", Raises("id", contains=("given as both",)))
def _():
    iptw(panel(), treatment="id", numerator=None)


@case("msm.iptw", "censor is the treatment column", Raises("a", contains=("given as both",)))
def _():
    iptw(panel(), censor="a")


@case("msm.iptw", "left-hand side names another column", Raises("a", contains=("left-hand side",)))
def _():
    iptw(panel(), denominator="y ~ x + l", numerator=None)


@case(
    "msm.iptw", "denominator reads the treatment", Raises("a", contains=("the column it models",))
)
def _():
    iptw(panel(), denominator="x + a", numerator=None)


@case(
    "msm.iptw", "formula column clashes with Intercept", Raises("Intercept", contains=("rename",))
)
def _():
    d = panel().rename(columns={"l": "Intercept"})
    d["grp"] = np.where(d["x"] > 0, "f", "m")
    iptw(d, denominator="Intercept + C(grp)", numerator="1")


@case("msm.iptw", "weights beyond the floating-point range", Raises("a", contains=("exceed",)))
def _():
    d = msm.datasets.simulate_panel(30, 300, seed=4, treatment_coefs=(-1.0, 0.0, 3.0, 0.0))
    call(msm.iptw, d, id="id", time="time", treatment="a", denominator="l", absorbing=False)


@case("msm.iptw", "covariate at 1e200", Raises("l", contains=("outside what the fit",)))
def _():
    d = panel()
    iptw(d.assign(l=d["l"] * 1e200))


@case(
    "msm.iptw",
    "ordinal: unordered Categorical",
    Raises("o", contains=("ordered Categorical",)),
    tags=("ordinal",),
)
def _():
    p = point()
    p["o"] = pd.Categorical(p["o"].map(dict(enumerate("abcd"))))
    point_iptw(p, treatment="o", family="ordinal")


@case(
    "msm.iptw",
    "multinomial: levels mixing numbers and text",
    Raises("m", contains=("all numbers or all text",)),
    tags=("multinomial",),
)
def _():
    p = point()
    p["m"] = p["m"].map({0: "a", 1: "b", 2: "c"}).astype(object)
    p.loc[0, "m"] = 3
    point_iptw(p, treatment="m", family="multinomial")


@case(
    "msm.iptw",
    "multinomial: collinear covariates",
    Raises(("l", "l2"), contains=("collinear",)),
    tags=("multinomial",),
)
def _():
    p = point().assign(l2=lambda f: 2.0 * f["l"])
    point_iptw(p, treatment="m", family="multinomial", denominator="x + l + l2")


@case(
    "msm.iptw",
    "multinomial: all-zero covariate, no intercept",
    Raises("z", contains=("all zero",)),
    tags=("multinomial",),
)
def _():
    p = point().assign(z=0.0)
    point_iptw(p, treatment="m", family="multinomial", denominator="0 + x + z")


@case(
    "msm.iptw",
    "learner: more folds than subjects",
    Raises("a", contains=("crossfit",)),
    tags=("learner",),
)
def _():
    learner_iptw(point().head(4), crossfit=5)


@case(
    "msm.iptw",
    "cox: datetime start, numeric time",
    Raises("tstart", contains=("datetime",)),
    tags=("cox",),
)
def _():
    d = survival_start()
    d["tstart"] = pd.Timestamp("2015-06-01") + pd.to_timedelta(d["tstart"], "D")
    cox_iptw(d)


@case(
    "msm.iptw",
    "cox: time zone aware start, naive datetime time",
    Raises("tstart", contains=("cannot be compared", "time zone")),
    tags=("cox",),
)
def _():
    d = survival_start()
    day0 = pd.Timestamp("2015-06-01")
    d["time"] = day0 + pd.to_timedelta(d["time"], "D")
    d["tstart"] = (day0 + pd.to_timedelta(d["tstart"], "D")).dt.tz_localize("UTC")
    cox_iptw(d)


# --- msm.glm


@case(
    "msm.glm",
    "formula that cannot be evaluated",
    Raises(None, contains=("could not be evaluated",)),
)
def _():
    glm("y ~ a + nosuchfunction(x)", panel())


@case("msm.glm", "gaussian outcome at 1e200", Raises("g", contains=("outcome lies on a scale",)))
def _():
    d = panel()
    glm("g ~ a + l", d.assign(g=d["l"] * 1e200))


@case("msm.glm", "covariate at 1e200", Raises("l", contains=("outside what the fit",)))
def _():
    d, w = outcome_setup()
    glm("y ~ a + l", d.assign(l=d["l"] * 1e200), family="binomial", weights=w)


@case("msm.glm", "complete separation", Raises("sep", contains=("monotone", "complete separation")))
def _():
    d = panel(100, 1)
    w = msm.iptw(d, **IPTW)
    glm("y ~ a + sep", d.assign(sep=2 * d["y"] - 1), family="binomial", weights=w, cluster="id")


@case("msm.glm", "covariate all zero", Raises("z", contains=("all zero",)))
def _():
    glm("y ~ a + z", panel().assign(z=0.0), family="binomial")


@case("msm.glm", "constant covariate", Raises("c", contains=("constant",)))
def _():
    glm("y ~ a + c", panel().assign(c=3.0), family="binomial")


@case(
    "msm.glm",
    "covariate constant on the rows with positive weight",
    Raises("c", contains=("constant",)),
)
def _():
    d = panel()
    zero = d.index < 10
    glm("y ~ a + c", d.assign(c=np.where(zero, 5.0, 3.0)), weights=np.where(zero, 0.0, 1.0))


@case("msm.glm", "offset as datetimes", Raises("o", contains=("must be numeric",)))
def _():
    glm("y ~ a", panel().assign(o=pd.Timestamp("2020-01-01")), family="poisson", offset="o")


@case("msm.glm", "outcome an expression", Raises("y", contains=("must be a column name",)))
def _():
    glm("np.log(y+1) ~ a", panel())


@case("msm.glm", "offset as text", Raises("o", contains=("numeric",)))
def _():
    d = panel()
    glm("y ~ a", d.assign(o=d["l"].round(2).astype(str)), family="poisson", offset="o")


@case("msm.glm", "offset beyond exp's range", Raises("o", contains=("log scale",)))
def _():
    d = panel().assign(o=1e200)
    d.loc[d.index[:3], "o"] = 0.0
    glm("y ~ a", d, family="poisson", offset="o")


@case("msm.glm", "poisson outcome 0 on every row", Raises("y", contains=("0 on every row",)))
def _():
    glm("y ~ a + x", panel().assign(y=0), family="poisson")


@case(
    "msm.glm",
    "stacked variance with a separated weight model",
    Raises(None, contains=("variance='stacked'", "denominator model")),
)
def _():
    p = point().assign(sep=lambda f: 2.0 * f["a"] - 1.0)
    w = quiet(msm.iptw, p, id="id", time=None, treatment="a", denominator="x + sep")
    glm("y ~ a", p, weights=w, variance="stacked")


@case("msm.glm", "weights= a float", Raises("weights", contains=("got float",)))
def _():
    glm("y ~ a", panel(), weights=3.0)


@case("msm.glm", "weights= a DataFrame", Raises("weights", contains=("got DataFrame",)))
def _():
    d = panel()
    glm("y ~ a", d, weights=d[["x"]].abs())


@case("msm.glm", "weights= a boolean mask", Raises("weights", contains=("bool",)))
def _():
    d = panel()
    glm("y ~ a", d, weights=d["time"] < 3)


@case("msm.glm", "weights= booleans as objects", Raises("weights", contains=("bool",)))
def _():
    d = panel()
    glm("y ~ a", d, weights=(d["time"] < 3).astype(object))


@case("msm.glm", "weights= text as objects", Raises("weights", contains=("numeric, got string",)))
def _():
    d = panel()
    glm("y ~ a", d, weights=d["x"].round(2).astype(str).astype(object))


# --- msm.cox


@case("msm.cox", "start and stop the same column", Raises(("stop", "start"), contains=("start=",)))
def _():
    cox(survival_panel(), start="stop")


@case("msm.cox", "event among the covariates", Raises("y", contains=("event column",)))
def _():
    cox(survival_panel(), covariates="y + x")


@case("msm.cox", "no covariate columns", Raises(None, contains=("no covariate columns",)))
def _():
    cox(survival_panel(), covariates="1")


@case("msm.cox", "start as text", Raises("start", contains=("must be numeric",)))
def _():
    s = survival_panel()
    cox(s.assign(start=s["start"].astype(str)))


@case("msm.cox", "covariate at 1e200", Raises("x", contains=("rescale",)))
def _():
    s = survival_panel()
    cox(s.assign(x=s["x"] * 1e200))


@case("msm.cox", "covariate that separates the events", Raises("x", contains=("monotone",)))
def _():
    s = survival_panel()
    cox(s.assign(x=s["y"] * 1.0))


@case("msm.cox", "truly collinear covariates", Raises(("x", "x2"), contains=("collinear",)))
def _():
    s = survival_panel()
    cox(s.assign(x2=2.0 * s["x"]), covariates="a + x + x2")


@case(
    "msm.cox",
    "weight 0 on every event row",
    Raises("y", contains=("no events",)),
)
def _():
    s = survival_panel()
    cox(s, weights=np.where(s["y"] == 1, 0.0, 1.0))


@case("msm.cox", "complex covariate", Raises("x", contains=("complex",)))
def _():
    s = survival_panel()
    cox(s.assign(x=s["x"].astype(complex)))


@case("msm.cox", "formula column clashes with Intercept", Raises("Intercept", contains=("rename",)))
def _():
    s = survival_panel().rename(columns={"l": "Intercept"})
    s["grp"] = np.where(s["x"] > 0, "f", "m")
    cox(s, covariates="Intercept + C(grp)")


# --- msm.balance, msm.reweighted_association, msm.weight_summary


@case("msm.balance", "integer-named text column", Raises(3, contains=("string column names",)))
def _():
    d = panel().assign(g=lambda f: np.where(f["time"] % 2 == 0, "even", "odd"))
    balance(d.rename(columns={"g": 3}), covariates=["x", 3])


@case("msm.balance", "complex covariate", Raises("x", contains=("complex",)))
def _():
    d = panel()
    balance(d.assign(x=d["x"].astype(complex)), covariates=["x"])


@case("msm.balance", "no treated rows", Raises("a", contains=("no treated rows",)))
def _():
    balance(panel().assign(a=0), covariates=["x"])


@case("msm.balance", "by= the treatment", Raises("a", contains=("by=",)))
def _():
    balance(panel(), covariates=["x"], by="a")


@case(
    "msm.balance",
    "treatment among the covariates",
    Raises("a", contains=("include the treatment",)),
)
def _():
    balance(panel(), covariates=["a", "x"])


@case("msm.balance", "covariates giving no columns", Raises(None, contains=("no columns",)))
def _():
    balance(panel(), covariates="1")


@case("msm.balance", "treatment as text", Raises("a", contains=("0/1",)))
def _():
    d = panel()
    balance(d.assign(a=d["a"].map({0: "no", 1: "yes"})))


@case("msm.balance", "treatment 0/1/2 with id", Raises("a", ids=(4,), contains=("0/1",)))
def _():
    d = panel()
    d.loc[d["id"] == 4, "a"] = 2
    balance(d, id="id", time="time")


@case(
    "msm.reweighted_association",
    "every covariate already adjusted for",
    Raises(None, contains=("nothing is left to test",)),
)
def _():
    d, w = balance_setup()
    association(d, covariates=["x"], weights=w)


@case(
    "msm.reweighted_association",
    "covariate named Intercept",
    Raises("Intercept", contains=("rename",)),
)
def _():
    d = panel().rename(columns={"l": "Intercept"})
    w = msm.iptw(d, **{**IPTW, "denominator": "x + Intercept"})
    association(d, treatment="a", covariates=["Intercept"], weights=w)


@case("msm.weight_summary", "data with a duplicated index", Raises(None, contains=("unique",)))
def _():
    d, w = balance_setup()
    call(msm.weight_summary, w, d.set_axis(np.arange(len(d)) // 2), covariates=["x"])


# ---------------------------------------------------------------------------------------------
# msm.trial_sequence: sequential trials (ITT and per protocol)


def trials_panel() -> pd.DataFrame:
    """80 subjects followed to the outcome ``y`` or loss (``lost``), ``eligible`` at times 0..3."""
    d = panel(80, 2, censor_coefs=(-3.0, 0.5), stop_at_event=True)
    return d.assign(eligible=(d["time"] < 4).astype(int))


TRIALS = dict(id="id", time="time", treatment="a", outcome="y", eligible="eligible")


def trials(data, **overrides):
    return call(msm.trial_sequence, data, **{**TRIALS, **overrides})


@case("TrialSequence.sample_controls", "a covariate named sample_weight", Raises("sample_weight"))
def _():
    d = trials_panel().assign(sample_weight=1.0)
    seq = msm.trial_sequence(d, **TRIALS, covariates=["sample_weight"])
    call(seq.sample_controls, 0.5, seed=1)


@case("msm.trial_sequence", "eligible column missing", Raises("eligible"))
def _():
    trials(trials_panel().drop(columns="eligible"))


@case("msm.trial_sequence", "censoring formula names an unknown column", Raises("age"))
def _():
    trials(trials_panel(), censor="lost", censor_denominator="x + age")


@case("msm.trial_sequence", "eligible is 2 for two subjects", Raises("eligible", ids=(3, 8)))
def _():
    d = trials_panel()
    d.loc[d["id"].isin([3, 8]) & (d["time"] == 1), "eligible"] = 2
    trials(d)


@case("msm.trial_sequence", "outcome is -1 at one visit", Raises("y", ids=(5,)))
def _():
    d = trials_panel()
    d.loc[(d["id"] == 5) & (d["time"] == 2), "y"] = -1
    trials(d)


@case("msm.trial_sequence", "no eligible row", Raises("eligible", contains=("no row is eligible",)))
def _():
    trials(trials_panel().assign(eligible=0))


@case("msm.trial_sequence", "NaN in a baseline covariate", Raises("x", ids=(4,)))
def _():
    d = trials_panel()
    d.loc[d["id"] == 4, "x"] = np.nan
    trials(d, covariates=["x"])


@case(
    "msm.trial_sequence",
    "streamed MSM of another outcome",
    Raises("lost", contains=("the sequence's outcome",)),
)
def _():
    seq = msm.trial_sequence(trials_panel(), materialize=False, **TRIALS)
    call(seq.fit, "lost ~ assigned + followup")


@case("msm.trial_sequence", "datetime time", Raises("time", contains=("numeric (periods)",)))
def _():
    d = trials_panel()
    d["time"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(d["time"] * 30, unit="D")
    trials(d)


@case("msm.trial_sequence", "treatment given as the outcome too", Raises("a"))
def _():
    trials(trials_panel(), outcome="a")


@case("msm.trial_sequence", "a covariate named like an expanded column", Raises("followup"))
def _():
    d = trials_panel().rename(columns={"l": "followup"})
    trials(d, covariates=["followup"])


@case("msm.trial_sequence", "PP switch formula names an unknown column", Raises("age"))
def _():
    trials(trials_panel(), estimand="PP", switch_numerator="age", switch_denominator="x + l")


@case("msm.trial_sequence", "PP switch denominator names an unknown column", Raises("bmi"))
def _():
    trials(trials_panel(), estimand="PP", switch_denominator="x + bmi")


@case("msm.trial_sequence", "PP, never treated: no rows with am_1 = 1", Raises("a"))
def _():
    trials(trials_panel().assign(a=0), estimand="PP", switch_denominator="x")


@case("msm.trial_sequence", "never treated: no rows with am_1 = 1", Raises("a"))
def _():
    trials(trials_panel().assign(a=0), censor="lost", censor_denominator="x")


@case("msm.trial_sequence", "rows after the outcome: dropped with a DataWarning")
def _():
    d = trials_panel()
    rows = d.index[(d["id"] == 6) & (d["time"] == 1)]
    d.loc[rows, "y"] = 1  # id 6 has rows after its outcome at time 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seq = trials(d)
    words = [str(w.message) for w in caught if issubclass(w.category, msm.DataWarning)]
    assert any("column 'y'" in m and "(ids 6; 1 in all)" in m for m in words), words
    kept = seq.expanded[seq.expanded["id"] == 6]
    assert (kept["trial"] + kept["followup"]).max() == 1  # nothing after the event row
    clean = trials(d[~((d["id"] == 6) & (d["time"] > 1))])
    pd.testing.assert_frame_equal(seq.expanded, clean.expanded)


@case("msm.trial_sequence", "permuted rows and string ids: the same expansion")
def _():
    d = trials_panel()
    base = trials(d, censor="lost", censor_numerator="x", censor_denominator="x + l")
    shuffled = d.sample(frac=1.0, random_state=7).assign(id=lambda f: "s" + f["id"].astype(str))
    other = trials(shuffled, censor="lost", censor_numerator="x", censor_denominator="x + l")
    key = ["trial", "followup"]
    a = base.expanded.assign(id="s" + base.expanded["id"].astype(str))
    a = a.sort_values(["id", *key], kind="stable").reset_index(drop=True)
    b = other.expanded.sort_values(["id", *key], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# msm.TrialSequence.risk_curves: cumulative incidence under assigned = 0 and 1


@functools.cache
def _trial_fit():
    seq = trials(trials_panel(), covariates=["x"])
    return seq, seq.fit("y ~ assigned + followup + trial + x")


def _curves(**kw):
    seq, fit = _trial_fit()
    return call(seq.risk_curves, fit, **{"ci": None, **kw})


@case("msm.TrialSequence.risk_curves", "followup beyond the data", Raises("followup"))
def _():
    _curves(followup=range(40))


@case("msm.TrialSequence.risk_curves", "followup not observed", Raises("followup"))
def _():
    _curves(followup=[0, 0.5])


@case("msm.TrialSequence.risk_curves", "predict_rows without a model column", Raises("x"))
def _():
    _curves(followup=range(2), predict_rows=_trial_fit()[0].expanded.drop(columns="x"))


@case("msm.TrialSequence.risk_curves", "predict_rows without a trial start", Raises("followup"))
def _():
    e = _trial_fit()[0].expanded
    _curves(followup=range(2), predict_rows=e[e["followup"] > 0])


@case("msm.TrialSequence.risk_curves", "NaN in predict_rows", Raises("x", ids=(0,)))
def _():
    e = _trial_fit()[0].expanded.copy()
    e.loc[0, "x"] = np.nan
    _curves(followup=range(2), predict_rows=e)


@case(
    "msm.TrialSequence.risk_curves",
    "a fit of other rows",
    Raises(exc=ValueError, names="not a fit"),
)
def _():
    seq, _ = _trial_fit()
    other = trials(trials_panel().query("id < 40"), covariates=["x"])
    call(seq.risk_curves, other.fit("y ~ assigned + followup + x"), ci=None)


# ---------------------------------------------------------------------------------------------
# arguments that are not columns: a ValueError (a value out of range) or a TypeError (a value
# of the wrong kind) naming the argument, raised before any work


def _arguments(function, run, table):
    """Register one case per (name, keyword arguments, exception, words of the message)."""
    for name, kwargs, exc, words in table:
        case(function, name, Raises(exc=exc, names=words))(functools.partial(run, **kwargs))


def _trials_arguments(**kw):
    trials(trials_panel(), **kw)


_arguments(
    "msm.trial_sequence",
    _trials_arguments,
    [
        ("estimand='PP' without switch models", dict(estimand="PP"), ValueError, "switch_"),
        (
            "switch formulas without estimand='PP'",
            dict(switch_numerator="x", switch_denominator="x + l"),
            ValueError,
            "estimand='PP'",
        ),
        ("estimand unknown", dict(estimand="ATE"), ValueError, "estimand"),
        ("pool_censor unknown", dict(censor="lost", pool_censor="all"), ValueError, "pool_censor"),
        ("censor model without censor=", dict(censor_numerator="x"), ValueError, "censor="),
    ],
)


def _iptw_arguments(**kw):
    iptw(panel(), **kw)


_arguments(
    "msm.iptw",
    _iptw_arguments,
    [
        ("model name unknown", dict(model="lgit"), ValueError, "model='lgit' does not serve"),
        ("model a list", dict(model=["logit"]), TypeError, "model must be a name"),
        ("truncate a scalar", dict(truncate=99), ValueError, "truncate must be (lower, upper)"),
        ("truncate as fractions", dict(truncate=(0.01, 0.99)), ValueError, "truncate=(1, 99)"),
        ("truncate_by without truncate", dict(truncate_by="time"), ValueError, "truncate= is None"),
        ("absorbing 'yes'", dict(absorbing="yes"), TypeError, "absorbing must be True or False"),
        ("convergence 'R'", dict(convergence="R"), ValueError, "convergence must be 'full' or 'r'"),
        (
            "censor_denominator without censor",
            dict(censor_denominator="x"),
            ValueError,
            "censor_denominator given without censor=",
        ),
        ("treatment a list", dict(treatment=["a"]), TypeError, "treatment must be a column name"),
        ("denominator a number", dict(denominator=5), TypeError, "formula string"),
    ],
)


def _learner_arguments(**kw):
    learner_iptw(point(), **kw)


_arguments(
    "msm.iptw",
    _learner_arguments,
    [
        ("learner: crossfit=0", dict(crossfit=0), ValueError, "crossfit must be"),
        ("learner: seed=-1", dict(crossfit=2, seed=-1), ValueError, "seed must be"),
        ("learner: seed='a'", dict(crossfit=2, seed="a"), TypeError, "seed must be"),
    ],
)


def _glm_arguments(**kw):
    glm("y ~ a", panel(), **kw)


_arguments(
    "msm.glm",
    _glm_arguments,
    [
        ("max_iter=0", dict(max_iter=0), ValueError, "max_iter=0"),
        ("max_iter=1.5", dict(max_iter=1.5), TypeError, "max_iter=1.5"),
        ("tol=nan", dict(tol=np.nan), ValueError, "tol=nan"),
        ("tol='x'", dict(tol="x"), TypeError, "tol='x'"),
        ("convergence='R'", dict(convergence="R"), ValueError, "convergence='R'"),
        ("variance='hc3'", dict(variance="hc3"), ValueError, "variance must be one of"),
        ("cluster a list", dict(cluster=["id"]), TypeError, "cluster must be the name of a column"),
        ("offset a list", dict(offset=["l"]), TypeError, "offset must be the name of a column"),
    ],
)


@case("msm.glm", "cluster given as a Series", Raises(exc=TypeError, names="cluster='id'"))
def _():
    d = panel()
    glm("y ~ a", d, cluster=d["id"])


@case("msm.glm", "conf_int alpha=1.5", Raises(exc=ValueError, names="alpha"))
def _():
    glm("l ~ a + x", panel()).conf_int(1.5)


def _cox_arguments(**kw):
    cox(survival_panel(), **kw)


_arguments(
    "msm.cox",
    _cox_arguments,
    [
        ("max_iter=0", dict(max_iter=0), ValueError, "max_iter=0"),
        ("tol=-1", dict(tol=-1), ValueError, "tol=-1"),
        ("ties='exact'", dict(ties="exact"), ValueError, "ties="),
        ("variance a list", dict(variance=["robust"]), ValueError, "variance must be one of"),
        ("start a list", dict(start=["start"]), TypeError, "start must be the name of a column"),
        ("event=None", dict(event=None), TypeError, "event must be the name of a column"),
        ("covariates a number", dict(covariates=5), TypeError, "formula string"),
    ],
)


def _risk_arguments(**kw):
    data, fit = risk_setup()
    if isinstance(kw.get("history"), dict) and "h" in kw["history"]:
        data = data.assign(h=0.0)
    risk(fit, data, **kw)


_arguments(
    "msm.risk_curves",
    _risk_arguments,
    [
        (
            "regime returning text",
            dict(regimes={"bad": lambda t: np.array(["x"] * t.size)}),
            ValueError,
            "regime 'bad' must return numbers",
        ),
        ("reference not a regime", dict(reference=["never"]), ValueError, "reference ['never']"),
        ("times with NaN", dict(times=[0, np.nan]), ValueError, "times must be finite"),
        ("times as text", dict(times=["a", "b"]), TypeError, "times must be numbers"),
        ("times a string", dict(times="0:5"), TypeError, "times must be an array"),
        ("history a string", dict(history="cumsum"), TypeError, "history must be a mapping"),
        (
            "history kind unknown",
            dict(history={"x": "sum"}),
            ValueError,
            "history 'x': kind must be one of",
        ),
        (
            "history returning text",
            dict(history={"h": lambda a, t: np.full(a.shape, "z")}),
            ValueError,
            "history 'h' must return numbers",
        ),
        ("rows not callable", dict(rows=5), TypeError, "rows must be a callable"),
        ("id=None", dict(id=None), TypeError, "id must be the name of a column"),
    ],
)


def _bootstrap_arguments(**kw):
    def statistic(frame):
        raise AssertionError("the statistic ran before the arguments were checked")

    kw = {"cluster": "id", "n_boot": 3, "n_jobs": 1, "progress": False, **kw}
    call(msm.bootstrap, statistic, panel(), **kw)


_arguments(
    "msm.bootstrap",
    _bootstrap_arguments,
    [
        ("seed='a'", dict(seed="a"), TypeError, "seed='a'"),
        ("seed=-1", dict(seed=-1), ValueError, "seed=-1"),
        ("alpha=0", dict(alpha=0), ValueError, "alpha=0"),
        ("n_boot=1.5", dict(n_boot=1.5), ValueError, "n_boot=1.5"),
        ("n_jobs=1.5", dict(n_jobs=1.5), ValueError, "n_jobs"),
        ("fail_on=None", dict(fail_on=None), TypeError, "fail_on"),
        ("progress='yes'", dict(progress="yes"), TypeError, "progress="),
        ("cluster=None", dict(cluster=None), TypeError, "cluster must be the name"),
    ],
)


def _balance_arguments(**kw):
    balance(panel(), **kw)


_arguments(
    "msm.balance",
    _balance_arguments,
    [
        ("by a list", dict(by=["time"]), TypeError, "by must be a column name"),
        ("absorbing 'yes'", dict(absorbing="yes"), TypeError, "absorbing must be True"),
        ("threshold negative", dict(thresholds={"smd": -1}), ValueError, "thresholds['smd']"),
        ("covariates a number", dict(covariates=5), TypeError, "formula string"),
    ],
)


@case("msm.ess", "by a list", Raises(exc=TypeError, names="by must be a column name"))
def _():
    d, w = balance_setup()
    call(msm.ess, w, d, by=["time"])


# ---------------------------------------------------------------------------------------------
# msm.clone_censor: clone-censor-weight


def clones_panel() -> pd.DataFrame:
    """80 subjects, ``eligible`` at time 0, treatment ``a`` made absorbing, to ``y`` or loss."""
    d = trials_panel()
    d = d.assign(a=d.groupby("id")["a"].cummax(), eligible=(d["time"] == 0).astype(int))
    return d


CLONES = dict(
    id="id", time="time", treatment="a", outcome="y", eligible="eligible",
    strategies={"within 2": msm.start_within(2), "never": msm.never()}, censor_denominator="x",
)  # fmt: skip


def clones(data, **overrides):
    return call(msm.clone_censor, data, **{**CLONES, **overrides})


@case("msm.clone_censor", "a column named followup", Raises("followup"))
def _():
    clones(clones_panel().assign(followup=1))


@case("msm.clone_censor", "no eligible row", Raises("eligible", contains=("no row is eligible",)))
def _():
    clones(clones_panel().assign(eligible=0))


@case("msm.clone_censor", "a missing interval", Raises("time", ids=(7,)))
def _():
    d = clones_panel()
    clones(d[~((d["id"] == 7) & (d["time"] == 1))])


@case("msm.clone_censor", "rows after the outcome", Raises("y", ids=(9,)))
def _():
    d = clones_panel()
    first = d[d["id"] == 9].index[0]
    d.loc[first, "y"] = 1
    if (d["id"] == 9).sum() < 2:  # pragma: no cover - the panel follows id 9 for a while
        raise AssertionError("id 9 has one row")
    clones(d)


@case("msm.clone_censor", "rows after loss to follow-up", Raises("lost", ids=(4,)))
def _():
    d = clones_panel()
    first = d[d["id"] == 4].index[0]
    d.loc[first, "lost"] = 1
    clones(d, censor="lost")


@case("msm.clone_censor", "grace period longer than the data", Raises("time"))
def _():
    clones(clones_panel(), strategies={"within 99": msm.start_within(99)})


@case("msm.clone_censor", "treatment constant on a risk set", Raises("a"))
def _():
    clones(clones_panel().assign(a=0))


@case("msm.clone_censor", "treatment is 2", Raises("a", ids=(3,)))
def _():
    d = clones_panel()
    d.loc[(d["id"] == 3) & (d["time"] == 0), "a"] = 2
    clones(d)


@case("msm.clone_censor", "outcome also given as treatment", Raises("a"))
def _():
    clones(clones_panel(), outcome="a")


@case("msm.clone_censor", "censoring model uses the treatment", Raises("a"))
def _():
    clones(clones_panel(), censor_denominator="x + a")


@case("msm.clone_censor", "loss model uses the outcome", Raises("y"))
def _():
    clones(clones_panel(), censor="lost", loss_denominator="x + y")


# ---------------------------------------------------------------------------------------------
# msm.mi: imputations that are not the same data


def mi_imputations() -> list[pd.DataFrame]:
    d = panel(40, 1)
    return [d, d.assign(l=d["l"] + 0.1), d.assign(l=d["l"] - 0.1)]


def mi_analysis(d):
    return {"mean_l": (float(d["l"].mean()), 0.01)}


@case("msm.mi.analyze", "an imputation with another column", Raises("extra"))
def _():
    imps = mi_imputations()
    imps[1] = imps[1].assign(extra=1)
    call(msm.mi.analyze, imps, mi_analysis)


@case("msm.mi.analyze", "an imputation with fewer rows", Raises("id"))
def _():
    imps = mi_imputations()
    imps[2] = imps[2].iloc[:-3]
    call(msm.mi.analyze, imps, mi_analysis, id="id")


@case("msm.mi.analyze", "an id column that is not there", Raises("subject"))
def _():
    call(msm.mi.analyze, mi_imputations(), mi_analysis, id="subject")


@case("msm.mi.analyze", "imputation rows reordered", Raises("time"))
def _():
    imps = mi_imputations()
    d = imps[1]
    imps[1] = d.sort_values(["time", "id"], kind="stable").reset_index(drop=True)
    call(msm.mi.analyze, imps, mi_analysis, time="time")


@case("msm.mi.analyze", "imputation index reordered", Raises(None))
def _():
    imps = mi_imputations()
    imps[1] = imps[1].iloc[::-1]
    call(msm.mi.analyze, imps, mi_analysis)


# ---------------------------------------------------------------------------------------------
# msm.to_long


def wide_frame() -> pd.DataFrame:
    return pd.DataFrame({"id": [3, 1, 2], "X_0": [2.0, 4.0, 1.0], "A_1": [1, 0, 1],
                         "X_1": [5.0, 9.0, 3.0], "sex": ["f", "m", "f"]})  # fmt: skip


@case("msm.to_long", "a missing id", Raises("id"))
def _():
    call(msm.to_long, wide_frame().assign(id=[3.0, np.nan, 2.0]), id="id")


@case("msm.to_long", "an id twice", Raises("id", ids=(3,)))
def _():
    call(msm.to_long, wide_frame().assign(id=[3, 1, 3]), id="id")


@case("msm.to_long", "no time-suffixed column", Raises(None))
def _():
    call(msm.to_long, wide_frame()[["id", "sex"]], id="id")


@case("msm.to_long", "a plain column with a variable's name", Raises("X"))
def _():
    call(msm.to_long, wide_frame().assign(X=1), id="id")


@case("msm.to_long", "treatment not time-suffixed", Raises("sex"))
def _():
    call(msm.to_long, wide_frame(), id="id", treatment="sex")


# msm.impute: chained equations on the long frame


@functools.cache
def _impute_panel() -> pd.DataFrame:
    d = _panel(40, seed=2)
    d = d.assign(l=d["l"].where(d.index % 5 != 1))  # l missing on every fifth row
    return d


def impute_panel() -> pd.DataFrame:
    return _impute_panel().copy()


def impute(data, **overrides):
    args = dict(id="id", time="time", treatment="a", outcome="y", m=2, seed=1, max_iter=2)
    return call(msm.impute, data, **{**args, **overrides})


@case("msm.impute", "a missing id", Raises("id", ids=(3,)))
def _():
    d = impute_panel().astype({"id": float})
    d.loc[3, "id"] = np.nan
    impute(d)


@case("msm.impute", "a missing time", Raises("time", ids=(2,)))
def _():
    d = impute_panel().astype({"time": float})
    d.loc[d.index[d["id"] == 2][1], "time"] = np.nan
    impute(d)


@case("msm.impute", "duplicated (id, time)", Raises("time", ids=(0,)))
def _():
    d = impute_panel()
    impute(pd.concat([d, d.iloc[[0]]], ignore_index=True))


@case("msm.impute", "imputing the time", Raises("time", contains=("never imputed",)))
def _():
    impute(impute_panel(), columns=["l", "time"])


@case("msm.impute", "a column both imputed and protected", Raises("l"))
def _():
    impute(impute_panel(), columns=["l"], protected=["l"])


@case("msm.impute", "a text column to impute", Raises("site", contains=("numeric",)))
def _():
    d = impute_panel()
    impute(d.assign(site=np.where(d.index % 3 == 0, None, "a")), columns=["l", "site"])


@case("msm.impute", "a column missing on every row", Raises("z"))
def _():
    impute(impute_panel().assign(z=np.nan), columns=["z"])


@case("msm.impute", "a column observed on one row", Raises("z"))
def _():
    d = impute_panel()
    impute(d.assign(z=np.where(d.index == 0, 1.0, np.nan)), columns=["z"])


@case("msm.impute", "an infinite value to impute", Raises("l", ids=(4,)))
def _():
    d = impute_panel()
    d.loc[d.index[d["id"] == 4][2], "l"] = np.inf
    impute(d)


@case("msm.impute", "a text predictor", Raises("site", contains=("predictor",)))
def _():
    impute(impute_panel().assign(site="a"), predictors=["x", "site"])


@case("msm.impute", "a predictor with missing values", Raises("x", ids=(5,)))
def _():
    d = impute_panel()
    d.loc[d.index[d["id"] == 5][0], "x"] = np.nan
    impute(d, columns=["l"], predictors=["x", "time"])


@case("msm.impute", "an infinite predictor", Raises("x", ids=(6,)))
def _():
    d = impute_panel()
    d.loc[d.index[d["id"] == 6][0], "x"] = np.inf
    impute(d)


@case("msm.impute", "m of 0", Raises(exc=ValueError, contains=("m must be",)))
def _():
    impute(impute_panel(), m=0)


@case("msm.impute", "a column without missing values asked for (nothing to impute)")
def _():
    imp = impute(impute_panel(), columns=["x"])
    assert imp.columns == [] and imp[0].equals(impute_panel())


# ---------------------------------------------------------------------------------------------
# msm.iptw with one model per time (WeightIt's weightitMSM)


def per_time_long() -> pd.DataFrame:
    """msm.to_long of a small wide frame: times 1-2, X_lag1 and A_lag1 (missing at time 1)."""
    rng = np.random.default_rng(4)
    n = 40
    x0 = rng.normal(size=n)
    a1 = (rng.random(n) < 0.5).astype(int)
    x1 = x0 + rng.normal(size=n)
    a2 = (rng.random(n) < 0.5).astype(int)
    wide = pd.DataFrame({"id": np.arange(n), "X_0": x0, "A_1": a1, "X_1": x1, "A_2": a2})
    return msm.to_long(wide, id="id", treatment="A")


@case("msm.iptw", "per-time models: a time without a formula", Raises("time", contains=("time=2",)))
def _():
    call(msm.iptw, per_time_long(), id="id", time="time", treatment="A",
         denominator={1: "X_lag1"})  # fmt: skip


@case("msm.iptw", "per-time models: a time not in the data", Raises("time", contains=("7",)))
def _():
    call(msm.iptw, per_time_long(), id="id", time="time", treatment="A",
         denominator={1: "X_lag1", 2: "X_lag1", 7: "X_lag1"})  # fmt: skip


@case(
    "msm.iptw",
    "per-time models: a lag missing at a time whose formula reads it",
    Raises("A_lag1", ids=tuple(range(40)), contains=("at time=1",)),
)
def _():
    call(msm.iptw, per_time_long(), id="id", time="time", treatment="A",
         denominator="X_lag1 + A_lag1", by_time=True)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# msm.cumulative_incidence, msm.rmst, msm.plot.cumulative_incidence


def competing_frame() -> pd.DataFrame:
    """Eight subjects, 1-3 contiguous rows each, events 1 and 2 on last rows, weights, arm."""
    return pd.DataFrame(
        {
            "id": [1, 1, 2, 3, 3, 3, 4, 5, 5, 6, 7, 8, 8],
            "start": [0.0, 1, 0, 0, 1, 2, 0, 0, 1, 0, 0, 0, 1],
            "stop": [1.0, 2, 1.5, 1, 2, 3, 2.5, 1, 3, 0.5, 2, 1, 2.5],
            "event": [0, 1, 2, 0, 0, 0, 1, 0, 2, 1, 0, 0, 1],
            "w": [1.0, 1.2, 0.8, 1, 1.1, 0.9, 1.3, 1, 0.7, 1.5, 1, 0.6, 0.9],
            "arm": [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
        }
    )


def cif(data, **kw):
    kw = {"id": "id", "start": "start", "stop": "stop", "event": "event", **kw}
    return call(msm.cumulative_incidence, data, **kw)


@case("msm.cumulative_incidence", "rows shuffled and ids relabelled", tags=("numbers",))
def _():
    d = competing_frame()
    fit = cif(d, weights="w", by="arm")
    other = d.sample(frac=1.0, random_state=3).assign(id=lambda f: "s" + f["id"].astype(str))
    again = cif(other, weights="w", by="arm")
    pd.testing.assert_frame_equal(fit.table, again.table, check_exact=False, rtol=1e-13)


@case("msm.cumulative_incidence", "weights of 0 equal dropping those subjects", tags=("numbers",))
def _():
    d = competing_frame()
    kept = d["id"] != 4
    fit = cif(d, weights=d["w"].where(kept, 0.0))
    dropped = cif(d[kept], weights="w")
    t = fit.table[fit.table["time"].isin(dropped.table["time"])].reset_index(drop=True)
    close(t["probability"], dropped.table["probability"], 1e-13)
    close(t["std_err"], dropped.table["std_err"], 1e-12)


@case("msm.cumulative_incidence", "start column missing", Raises("begin"))
def _():
    cif(competing_frame(), start="begin")


@case("msm.cumulative_incidence", "start= and stop= the same column", Raises("stop"))
def _():
    cif(competing_frame(), start="stop")


@case("msm.cumulative_incidence", "NaN stop", Raises("stop", ids=(3,)))
def _():
    d = competing_frame()
    d.loc[4, "stop"] = np.nan
    cif(d)


@case("msm.cumulative_incidence", "stop as text", Raises("stop"))
def _():
    d = competing_frame()
    cif(d.assign(stop=d["stop"].astype(str)))


@case("msm.cumulative_incidence", "stop not after start", Raises("stop", ids=(2,)))
def _():
    d = competing_frame()
    d.loc[2, "stop"] = 0.0
    cif(d)


@case("msm.cumulative_incidence", "a subject's rows overlap", Raises("start", ids=(3,)))
def _():
    d = competing_frame()
    d.loc[4, "start"] = 0.5
    cif(d)


@case("msm.cumulative_incidence", "a gap between a subject's rows", Raises("start", ids=(5,)))
def _():
    d = competing_frame()
    d.loc[8, "start"] = 1.5
    cif(d)


@case(
    "msm.cumulative_incidence",
    "an event on a row the subject continues after",
    Raises("event", ids=(1,)),
)
def _():
    d = competing_frame()
    d.loc[0, "event"] = 2
    cif(d)


@case("msm.cumulative_incidence", "negative event code", Raises("event", ids=(6,)))
def _():
    d = competing_frame()
    d.loc[9, "event"] = -1
    cif(d)


@case("msm.cumulative_incidence", "event as text", Raises("event"))
def _():
    d = competing_frame()
    cif(d.assign(event=d["event"].map({0: "none", 1: "death", 2: "relapse"})))


@case("msm.cumulative_incidence", "group changes within a subject", Raises("arm", ids=(8,)))
def _():
    d = competing_frame()
    d.loc[12, "arm"] = 0
    cif(d, by="arm")


@case("msm.cumulative_incidence", "negative weight", Raises("w"))
def _():
    d = competing_frame()
    d.loc[3, "w"] = -1.0
    cif(d, weights="w")


@case("msm.cumulative_incidence", "unknown conf_type", Raises(exc=ValueError, names="conf_type"))
def _():
    cif(competing_frame(), conf_type="probit")


@case("msm.rmst", "tau beyond a group's follow-up", Raises(exc=ValueError, names="tau"))
def _():
    fit = cif(competing_frame(), by="arm")
    msm.rmst(fit, tau=3.5)


@case("msm.plot.cumulative_incidence", "table without a probability column", Raises("probability"))
def _():
    table = cif(competing_frame()).table.drop(columns="probability")
    _plot(msm.plot.cumulative_incidence, table)


def cases_by_id() -> dict[str, Case]:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return {c.id: c for c in CASES}
