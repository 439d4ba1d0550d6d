"""A generic long person-time cohort with treatment-confounder feedback.

Each subject has a baseline covariate ``x`` and, at visits ``time = 0 .. n_visits - 1``, a
time-varying confounder ``l`` that drives treatment and is lowered by earlier treatment.
Treatment ``a`` is absorbing (once started it stays 1).  The treatment model is logistic in
``x``, ``l`` and ``time``, so ``denominator="x + l + time"`` is correctly specified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from msm.datasets._course import expit

_COLUMNS = ["id", "time", "x", "l", "a", "y", "lost"]


def simulate_panel(
    n_subjects: int = 1000,
    n_visits: int = 10,
    *,
    seed: int | None = None,
    treatment_coefs: tuple[float, float, float, float] = (-2.5, 0.3, 0.8, 0.05),
    confounder_feedback: float = -0.6,
    event_coefs: tuple[float, float, float, float] = (-4.0, 0.2, 0.5, -0.7),
    censor_coefs: tuple[float, float] | None = None,
    stop_at_event: bool = False,
) -> pd.DataFrame:
    """Simulate long person-time data with time-varying confounding.

    Model, per subject and visit t (``expit`` the logistic function)::

        x ~ N(0, 1)                              baseline covariate
        l_0 = 0.3 x + N(0, 1)
        l_t = 0.7 l_{t-1} + 0.3 x + feedback * a_{t-1} + N(0, 0.5^2)
        P(a_t = 1 | a_{t-1} = 0) = expit(b0 + b1 x + b2 l_t + b3 t),  a_t = 1 once started
        P(y_t = 1) = expit(g0 + g1 x + g2 l_t + g3 a_t)           event at visit t
        P(c_t = 1) = expit(c0 + c1 l_t)                            lost after visit t

    Parameters
    ----------
    n_subjects, n_visits : int
        Cohort size and visits per subject (fewer after an event or loss to follow-up).
    seed : int, optional
        Seed for ``numpy.random.default_rng``.
    treatment_coefs : (b0, b1, b2, b3)
        Treatment-initiation model coefficients (intercept, x, l, time).
    confounder_feedback : float
        Effect of being treated on the next visit's ``l`` (treatment-confounder feedback).
    event_coefs : (g0, g1, g2, g3)
        Event model coefficients (intercept, x, l, a).
    censor_coefs : (c0, c1), optional
        Loss-to-follow-up model; ``None`` means no loss to follow-up.
    stop_at_event : bool
        End a subject's follow-up at their first event.

    Returns
    -------
    DataFrame
        Columns ``id, time, x, l, a, y, lost`` sorted by id and time; ``lost`` is 1 on the
        last row of a subject lost to follow-up.

    Examples
    --------
    >>> cohort = simulate_panel(n_subjects=5, n_visits=3, seed=0)
    >>> list(cohort.columns)
    ['id', 'time', 'x', 'l', 'a', 'y', 'lost']
    """
    for argument, value in (("n_subjects", n_subjects), ("n_visits", n_visits)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    for argument, value, size in (
        ("treatment_coefs", treatment_coefs, 4),
        ("event_coefs", event_coefs, 4),
        ("censor_coefs", censor_coefs, 2),
    ):
        if value is None and argument == "censor_coefs":
            continue
        if np.ndim(value) != 1 or len(value) != size:
            raise ValueError(f"{argument} must be {size} numbers, got {value!r}")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer | np.random.Generator)
    ):
        raise TypeError(f"seed must be None or an integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    b0, b1, b2, b3 = treatment_coefs
    g0, g1, g2, g3 = event_coefs
    n = n_subjects
    x = rng.normal(size=n)
    l_prev = np.zeros(n)
    a_prev = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in _COLUMNS}
    for t in range(n_visits):
        if t == 0:
            l_now = 0.3 * x + rng.normal(size=n)
        else:
            l_now = 0.7 * l_prev + 0.3 * x + confounder_feedback * a_prev + rng.normal(0, 0.5, n)
        start = rng.random(n) < expit(b0 + b1 * x + b2 * l_now + b3 * t)
        a_now = np.where(a_prev == 1, 1.0, start.astype(float))
        y_now = (rng.random(n) < expit(g0 + g1 * x + g2 * l_now + g3 * a_now)).astype(float)
        if censor_coefs is not None and t < n_visits - 1:
            lost = (rng.random(n) < expit(censor_coefs[0] + censor_coefs[1] * l_now)).astype(float)
            if stop_at_event:
                lost[y_now == 1] = 0.0  # an event ends follow-up before any loss
        else:
            lost = np.zeros(n)
        idx = np.flatnonzero(alive)
        for name, values in [
            ("id", np.arange(n)),
            ("time", np.full(n, t)),
            ("x", x),
            ("l", l_now),
            ("a", a_now),
            ("y", y_now),
            ("lost", lost),
        ]:
            columns[name].append(values[idx])
        alive &= lost == 0
        if stop_at_event:
            alive &= y_now == 0
        l_prev, a_prev = l_now, a_now
        if not alive.any():
            break
    frame = pd.DataFrame({k: np.concatenate(v) for k, v in columns.items()})
    frame = frame.sort_values(["id", "time"], kind="stable").reset_index(drop=True)
    for name in ["a", "y", "lost"]:
        frame[name] = frame[name].astype(np.int64)
    return frame
