"""The Aalen-Johansen estimator of competing risks and its infinitesimal jackknife.

One curve (one group) per call, on ``(start, stop]`` rows with a weight per row; plain arrays
in, plain arrays out.  The numpy twin is ``tests/naive_cif.py``.

Everyone starts event-free (column 0); column ``k`` (1 .. K) is the absorbing state reached
by an event of type ``k``.  At each output time ``t`` (ascending):

- at-risk weight ``n0 = sum of w over rows with start < t <= stop`` (a row ending at ``t``
  is at risk at ``t``, events before censoring), ``d_k`` the weight of the rows ending at
  ``t`` in state ``k``, ``d = sum_k d_k``;
- ``p_0(t) = p_0(t-) (1 - d / n0)``, ``p_k(t) = p_k(t-) + p_0(t-) d_k / n0``;
- the per-subject influence (R survfit's IJ, clustered by subject, ``a_g`` the subject's
  at-risk weight, ``e_gk`` its weight ending in ``k``)::

      U_g0(t) = U_g0(t-) (1 - d/n0) - p_0(t-) sum_k e_gk / n0 + a_g p_0(t-) d / n0**2
      U_gk(t) = U_gk(t-) + U_g0(t-) d_k/n0 + p_0(t-) e_gk / n0 - a_g p_0(t-) d_k / n0**2

  and ``std_err = sqrt(sum_g U_g**2)``.

The work is ``O(event times x subjects x states)``, as in R's ``survfitaj.c``: every subject
already seen is updated at every event time.  Subjects are numbered in order of entry, so a
subject who has not entered yet (all of whose influence is still 0) costs nothing.
"""

from __future__ import annotations

import numpy as np

from msm._kernels._jit import jit


@jit
def aalen_johansen(
    start,
    stop,
    weight,
    state,
    subject,
    order_start,
    order_stop,
    times,
    n_subjects,
    n_states,
    origin,
    tau,
):  # pragma: no cover - compiled
    """Aalen-Johansen probabilities, IJ standard errors and (optionally) areas to ``tau``.

    Parameters (all for the rows of one curve)
    ----------
    start, stop, weight : float64 arrays (n,)
    state : int64 array (n,)
        0 for no event at ``stop``, else the state ``1 .. n_states`` entered at ``stop``.
    subject : int64 array (n,)
        Subject number ``0 .. n_subjects - 1``, numbered in order of first entry (a
        subject's rows do not overlap).
    order_start, order_stop : int64 arrays (n,)
        The rows sorted by start, and by stop (ascending; ties in any order).
    times : float64 array (T,)
        The output times, strictly increasing.
    origin, tau : float
        With ``tau`` finite, also the area under each curve over ``(origin, tau]`` and the
        IJ standard error of that area (the integral of each subject's influence).

    Returns
    -------
    pstate, std_err : (T, n_states + 1)
    n_risk : (T,)
        The at-risk weight ``n0`` at each time.
    n_event : (T, n_states + 1)
        Column 0: ``d``, the weight of all events at ``t``; column ``k``: ``d_k``.
    area, area_se : (n_states + 1,)
        Zeros unless ``tau`` is finite.
    """
    n = start.size
    n_times = times.size
    width = n_states + 1
    pstate = np.zeros((n_times, width))
    std_err = np.zeros((n_times, width))
    n_risk = np.zeros(n_times)
    n_event = np.zeros((n_times, width))
    area = np.zeros(width)
    area_se = np.zeros(width)
    with_area = np.isfinite(tau)

    p = np.zeros(width)
    p[0] = 1.0
    U = np.zeros((n_subjects, width))
    UA = np.zeros((n_subjects, width)) if with_area else np.zeros((0, width))
    at_risk = np.zeros(n_subjects)  # a_g: the weight of the subject's row covering t
    d_k = np.zeros(width)
    h_k = np.zeros(width)
    totals = np.zeros(width)
    entered = 0  # subjects 0 .. entered-1 have had a row at risk
    i_start = 0
    i_stop = 0
    previous = origin

    for i in range(n_times):
        t = times[i]
        if with_area and previous < tau:
            upto = t if t < tau else tau
            delta = upto - previous
            for k in range(width):
                area[k] += delta * p[k]
            for g in range(entered):
                for k in range(width):
                    UA[g, k] += delta * U[g, k]
            previous = upto

        # the risk set at t: rows with start < t <= stop (leaving first: at most one row
        # of a subject covers t, so the one entering last is the one at risk)
        while i_stop < n and stop[order_stop[i_stop]] < t:
            at_risk[subject[order_stop[i_stop]]] = 0.0
            i_stop += 1
        while i_start < n and start[order_start[i_start]] < t:
            r = order_start[i_start]
            if stop[r] >= t:
                at_risk[subject[r]] = weight[r]
            if subject[r] >= entered:
                entered = subject[r] + 1
            i_start += 1
        n0 = 0.0
        for g in range(entered):
            n0 += at_risk[g]
        for k in range(width):
            d_k[k] = 0.0
        j = i_stop
        while j < n and stop[order_stop[j]] == t:
            r = order_stop[j]
            if state[r] > 0:
                d_k[state[r]] += weight[r]
            j += 1
        d = 0.0
        for k in range(1, width):
            d += d_k[k]
        d_k[0] = d

        if d > 0.0 and n0 > 0.0:
            p0 = p[0]
            h = d / n0
            scale = p0 / n0
            for k in range(1, width):
                h_k[k] = d_k[k] / n0
            for g in range(entered):
                u0 = U[g, 0]
                a = at_risk[g]
                U[g, 0] = u0 * (1.0 - h) + a * scale * h
                for k in range(1, width):
                    U[g, k] += u0 * h_k[k] - a * scale * h_k[k]
            j = i_stop
            while j < n and stop[order_stop[j]] == t:
                r = order_stop[j]
                k = state[r]
                if k > 0:
                    g = subject[r]
                    U[g, 0] -= scale * weight[r]
                    U[g, k] += scale * weight[r]
                j += 1
            for k in range(1, width):
                p[k] += p0 * d_k[k] / n0
            p[0] = p0 * (1.0 - h)

            for k in range(width):  # U changed: its sums of squares
                totals[k] = 0.0
            for g in range(entered):
                for k in range(width):
                    totals[k] += U[g, k] * U[g, k]
        for k in range(width):
            pstate[i, k] = p[k]
            n_event[i, k] = d_k[k]
            std_err[i, k] = np.sqrt(totals[k])
        n_risk[i] = n0

    if with_area:
        if previous < tau:
            delta = tau - previous
            for k in range(width):
                area[k] += delta * p[k]
            for g in range(entered):
                for k in range(width):
                    UA[g, k] += delta * U[g, k]
        for g in range(entered):
            for k in range(width):
                area_se[k] += UA[g, k] * UA[g, k]
        for k in range(width):
            area_se[k] = np.sqrt(area_se[k])
    return pstate, std_err, n_risk, n_event, area, area_se
