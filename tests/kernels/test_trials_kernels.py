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


@pytest.mark.parametrize(
    ("n_subjects", "max_rows", "p_eligible"),
    [(1, 1, 1.0), (1, 12, 0.5), (40, 9, 0.4), (200, 15, 0.9), (30, 6, 0.0), (50, 1, 0.5)],
)
def test_expansion_matches_the_naive_twin(rng, n_subjects, max_rows, p_eligible):
    eligible, starts, log_cumulative = _panel(rng, n_subjects, max_rows, p_eligible)
    got = _kernels.sequential_trials(eligible, starts, log_cumulative)
    want = naive_trials.sequential_trials(eligible, starts, log_cumulative)
    npt.assert_array_equal(got[0], want[0])
    npt.assert_array_equal(got[1], want[1])
    npt.assert_allclose(got[2], want[2], rtol=1e-12, atol=0)
    npt.assert_array_equal(
        _kernels.trial_row_counts(eligible, starts),
        naive_trials.trial_row_counts(eligible, starts),
    )
    # weight 1 exactly at each trial's start row
    assert np.all(got[2][got[0] == got[1]] == 1.0)


def test_serial_and_parallel_compilations_agree_bit_for_bit(rng):
    eligible, starts, log_cumulative = _panel(rng, 300, 20, 0.5)
    counts = kernel_module.trial_row_counts.parallel(eligible, starts)
    npt.assert_array_equal(counts, kernel_module.trial_row_counts.serial(eligible, starts))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    outputs = []
    for compiled in (kernel_module.expand_trials.serial, kernel_module.expand_trials.parallel):
        n = int(offsets[-1])
        out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n))
        outputs.append(compiled(eligible, starts, offsets, log_cumulative, *out))
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
