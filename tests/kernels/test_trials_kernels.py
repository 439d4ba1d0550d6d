"""The trial-expansion kernels against their numpy twins (tests/naive_trials.py)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from msm import _kernels
from msm._kernels import trials as kernel_module
from tests import naive_trials


def _panel(rng, n_subjects, max_rows, p_eligible):
    sizes = rng.integers(0 if n_subjects > 1 else 1, max_rows + 1, size=n_subjects)
    starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    n = int(starts[-1])
    eligible = (rng.random(n) < p_eligible).astype(np.uint8)
    log_factors = rng.normal(scale=0.3, size=n)
    log_cumulative = _kernels.cumulative_log_weights(log_factors, starts)
    return eligible, starts, log_cumulative


def _stops(rng, n, p_stop):
    return (rng.random(n) < p_stop).astype(np.uint8)


@pytest.mark.parametrize("p_stop", [None, 0.0, 0.3, 1.0])
@pytest.mark.parametrize(
    ("n_subjects", "max_rows", "p_eligible"),
    [(1, 1, 1.0), (1, 12, 0.5), (40, 9, 0.4), (200, 15, 0.9), (30, 6, 0.0), (50, 1, 0.5)],
)
def test_expansion_matches_the_naive_twin(rng, n_subjects, max_rows, p_eligible, p_stop):
    eligible, starts, log_cumulative = _panel(rng, n_subjects, max_rows, p_eligible)
    stop = None if p_stop is None else _stops(rng, eligible.size, p_stop)
    got = _kernels.sequential_trials(eligible, starts, log_cumulative, stop)
    want = naive_trials.sequential_trials(eligible, starts, log_cumulative, stop)
    npt.assert_array_equal(got[0], want[0])
    npt.assert_array_equal(got[1], want[1])
    npt.assert_allclose(got[2], want[2], rtol=1e-12, atol=0)
    kernel_stop = np.zeros(eligible.size, np.uint8) if stop is None else stop
    npt.assert_array_equal(
        _kernels.trial_row_counts(eligible, starts, kernel_stop),
        naive_trials.trial_row_counts(eligible, starts, stop),
    )
    # weight 1 exactly at each trial's start row
    assert np.all(got[2][got[0] == got[1]] == 1.0)


def test_serial_and_parallel_compilations_agree_bit_for_bit(rng):
    eligible, starts, log_cumulative = _panel(rng, 300, 20, 0.5)
    stop = _stops(rng, eligible.size, 0.2)
    counts = kernel_module.trial_row_counts.parallel(eligible, starts, stop)
    npt.assert_array_equal(counts, kernel_module.trial_row_counts.serial(eligible, starts, stop))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    outputs = []
    for compiled in (kernel_module.expand_trials.serial, kernel_module.expand_trials.parallel):
        n = int(offsets[-1])
        out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n))
        outputs.append(compiled(eligible, starts, stop, offsets, log_cumulative, *out))
    for a, b in zip(*outputs, strict=True):
        npt.assert_array_equal(a, b)


def test_huge_log_weights_stay_finite_as_differences():
    # running sums far from 0 (a long history of large factors): only differences matter
    starts = np.array([0, 3], dtype=np.int64)
    eligible = np.array([0, 1, 1], dtype=np.uint8)
    log_cumulative = np.array([800.0, 900.0, 900.5])
    source, trial, weight = _kernels.sequential_trials(eligible, starts, log_cumulative)
    npt.assert_array_equal(source, [1, 2, 2])
    npt.assert_array_equal(trial, [1, 1, 2])
    npt.assert_allclose(weight, [1.0, np.exp(0.5), 1.0], rtol=1e-13)


def test_a_stop_ends_the_trials_before_it_but_not_the_trial_it_starts():
    # one subject, rows 0..4; eligible at 0, 2, 3; a stop (switch) at rows 2 and 4
    starts = np.array([0, 5], dtype=np.int64)
    eligible = np.array([1, 0, 1, 1, 0], dtype=np.uint8)
    stop = np.array([0, 0, 1, 0, 1], dtype=np.uint8)
    log_cumulative = np.log([1.0, 2.0, 6.0, 24.0, 120.0])  # factors 1, 2, 3, 4, 5
    source, trial, weight = _kernels.sequential_trials(eligible, starts, log_cumulative, stop)
    # trial 0: rows 0, 1 (stops before row 2); trial 2: rows 2, 3 (its own stop does not
    # count, stops before row 4); trial 3: row 3 only
    npt.assert_array_equal(source, [0, 1, 2, 3, 3])
    npt.assert_array_equal(trial, [0, 0, 2, 2, 3])
    npt.assert_allclose(weight, [1.0, 2.0, 1.0, 4.0, 1.0], rtol=1e-13)


@pytest.mark.parametrize(
    ("p_eligible", "p_switch"), [(0.3, 0.3), (0.8, 0.5), (0.0, 0.4), (1.0, 1.0)]
)
def test_per_protocol_rows_match_trialemulations_state_machine(rng, p_eligible, p_switch):
    eligible, starts, _ = _panel(rng, 150, 14, p_eligible)
    n = eligible.size
    # a treatment path and its switches (0 on each subject's first row)
    treatment = np.zeros(n, dtype=np.int64)
    switch = np.zeros(n, dtype=np.uint8)
    for g in range(starts.size - 1):
        a = 0
        for i in range(starts[g], starts[g + 1]):
            if i == starts[g]:
                a = int(rng.random() < 0.5)
                eligible[i] = 1  # cleaned rows begin at an eligible row
            elif rng.random() < p_switch:
                a = 1 - a
                switch[i] = 1
            treatment[i] = a
    got = _kernels.per_protocol_keep(eligible, switch, starts)
    want = naive_trials.per_protocol_keep(eligible, switch, treatment, starts)
    npt.assert_array_equal(got, want)
    assert got[eligible == 1].all()  # eligible rows are never deleted
    compiled = kernel_module.per_protocol_rows
    out = [
        f(eligible, switch, starts, np.empty(n, np.uint8))
        for f in (compiled.serial, compiled.parallel)
    ]
    npt.assert_array_equal(out[0], out[1])


def test_per_protocol_rows_by_hand():
    # eligible 1 0 0 0 1 0 1 0 ; switch 0 0 1 0 0 1 1 0
    # row 2 switches off-eligibility: kept, regime ends; row 3 deleted; row 4 eligible: new
    # regime; row 5 switches: kept, ends; row 6 eligible and a switch: new regime; row 7 kept
    starts = np.array([0, 8], dtype=np.int64)
    eligible = np.array([1, 0, 0, 0, 1, 0, 1, 0], dtype=np.uint8)
    switch = np.array([0, 0, 1, 0, 0, 1, 1, 0], dtype=np.uint8)
    got = _kernels.per_protocol_keep(eligible, switch, starts)
    npt.assert_array_equal(got, [1, 1, 1, 0, 1, 1, 1, 1])
    # a switch at row 3 as well (outside any regime): still deleted, nothing else changes
    switch[3] = 1
    npt.assert_array_equal(
        _kernels.per_protocol_keep(eligible, switch, starts), [1, 1, 1, 0, 1, 1, 1, 1]
    )
    # no eligible row after the first switch: the rest is deleted
    eligible = np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=np.uint8)
    switch = np.array([0, 1, 0, 1, 0, 0, 0, 0], dtype=np.uint8)
    npt.assert_array_equal(
        _kernels.per_protocol_keep(eligible, switch, starts), [1, 1, 0, 0, 0, 0, 0, 0]
    )
