"""Slow, obviously right twin of ``msm._kernels.aalen_johansen``, same name and signature.

Written from the definitions of ``../shared/conformance/cif/README.md``: at each output time
the risk set, the events and each subject's at-risk weight ``a_g`` and event weights
``e_gk`` are built from scratch with boolean masks over all rows (O(n x times)), and the
influence matrix ``U`` (subjects x states) is updated with whole-array numpy operations.  The
sort orders the kernel takes are accepted and ignored.
"""

from __future__ import annotations

import numpy as np


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
):
    width = n_states + 1
    p = np.zeros(width)
    p[0] = 1.0
    U = np.zeros((n_subjects, width))
    pstate, std_err, n_event = (np.zeros((times.size, width)) for _ in range(3))
    n_risk = np.zeros(times.size)
    # areas: the curves and influences are step functions, right-continuous, starting at
    # (p, U) = ((1, 0, ...), 0) at the origin
    knots = [origin]
    p_steps = [p.copy()]
    U_steps = [U.copy()]
    for i, t in enumerate(times):
        at_risk = (start < t) & (t <= stop)
        n0 = weight[at_risk].sum()
        a = np.bincount(subject[at_risk], weights=weight[at_risk], minlength=n_subjects)
        ending = stop == t
        d_k = np.array([weight[ending & (state == k)].sum() for k in range(1, width)])
        e = np.zeros((n_subjects, width - 1))
        for k in range(1, width):
            rows = ending & (state == k)
            e[:, k - 1] = np.bincount(subject[rows], weights=weight[rows], minlength=n_subjects)
        d = d_k.sum()
        if d > 0 and n0 > 0:
            p0 = p[0]
            U0 = U[:, 0].copy()
            U[:, 0] = U0 * (1 - d / n0) - p0 * e.sum(axis=1) / n0 + a * p0 * d / n0**2
            U[:, 1:] = (
                U[:, 1:]
                + U0[:, None] * d_k[None, :] / n0
                + p0 * e / n0
                - a[:, None] * p0 * d_k[None, :] / n0**2
            )
            p = np.concatenate(([p0 * (1 - d / n0)], p[1:] + p0 * d_k / n0))
        pstate[i] = p
        std_err[i] = np.sqrt((U**2).sum(axis=0))
        n_risk[i] = n0
        n_event[i] = np.concatenate(([d], d_k))
        knots.append(t)
        p_steps.append(p.copy())
        U_steps.append(U.copy())
    area = np.zeros(width)
    area_se = np.zeros(width)
    if np.isfinite(tau):
        edges = np.clip(np.append(knots, np.inf), None, tau)
        lengths = np.clip(np.diff(edges), 0.0, None)  # the step on [knot_j, knot_j+1) to tau
        area = sum(length * step for length, step in zip(lengths, p_steps))
        influence = sum(length * step for length, step in zip(lengths, U_steps))
        area_se = np.sqrt((influence**2).sum(axis=0))
    return pstate, std_err, n_risk, n_event, area, area_se
