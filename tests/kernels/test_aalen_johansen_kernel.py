"""The Aalen-Johansen kernel against its numpy twin (``tests/naive_cif.py``)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

import msm._kernels as K
from tests import naive_cif as naive


def make_rows(rng, kind: str, n_subjects: int = 50, n_states: int = 2):
    """Contiguous rows per subject with events on last rows; returns the kernel's arguments."""
    rows = []
    for g in range(n_subjects):
        t = float(rng.integers(0, 4)) if kind != "continuous" else 0.0
        for _ in range(rng.integers(1, 5)):
            step = rng.exponential(1.0) if kind == "continuous" else float(rng.integers(1, 3))
            rows.append([t, t + step, 0, rng.uniform(0.1, 4.0), g])
            t += step
        if rng.random() < 0.75:
            rows[-1][2] = int(rng.integers(1, n_states + 1))
    a = np.array(rows)
    start, stop, w = a[:, 0].copy(), a[:, 1].copy(), a[:, 3].copy()
    state, subject = a[:, 2].astype(np.int64), a[:, 4].astype(np.int64)
    if kind == "zero_weights":
        w[rng.random(w.size) < 0.3] = 0.0
    last = np.r_[subject[1:] != subject[:-1], True]
    times = np.unique(stop[(state > 0) | last])
    order_start = np.argsort(start, kind="stable").astype(np.int64)
    order_stop = np.argsort(stop, kind="stable").astype(np.int64)
    return (start, stop, w, state, subject, order_start, order_stop, times, n_subjects,
            n_states)  # fmt: skip


@pytest.mark.parametrize("kind", ["continuous", "ties", "zero_weights"])
@pytest.mark.parametrize("tau", [np.inf, 3.3, 0.2])
def test_kernel_equals_its_twin(rng, kind, tau):
    args = make_rows(rng, kind)
    origin = float(args[0].min())
    got = K.aalen_johansen(*args, origin, tau)
    expected = naive.aalen_johansen(*args, origin, tau)
    for name, a, b in zip(["pstate", "std_err", "n_risk", "n_event", "area", "area_se"], got,
                          expected):  # fmt: skip
        npt.assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=name)


def test_areas_without_tau_are_zero(rng):
    args = make_rows(rng, "ties")
    area, area_se = K.aalen_johansen(*args, 0.0, np.inf)[4:]
    assert not area.any() and not area_se.any()


def test_influences_of_the_states_add_up_to_zero(rng):
    # sum_k U_gk = 0 for every subject: the standard errors of the event-free probability
    # and of "any event" (1 - event-free) are equal
    args = make_rows(rng, "continuous", n_states=1)
    pstate, std_err = K.aalen_johansen(*args, 0.0, np.inf)[:2]
    npt.assert_allclose(pstate.sum(axis=1), 1.0, atol=1e-14)
    npt.assert_allclose(std_err[:, 0], std_err[:, 1], rtol=1e-12, atol=1e-15)
