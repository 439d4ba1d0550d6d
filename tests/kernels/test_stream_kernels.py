"""The streamed-MSM kernels (msm._kernels.stream) against their numpy twins."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from msm import _kernels
from msm._glm import warm_start_rows
from msm._kernels import stream as kernel
from tests import naive_trials


def _problem(rng, n_subjects, max_rows, p_stop, centred):
    sizes = rng.integers(1, max_rows + 1, size=n_subjects)
    starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    n = int(starts[-1])
    eligible = (rng.random(n) < 0.6).astype(np.uint8)
    stop = (rng.random(n) < p_stop).astype(np.uint8)
    log_cumulative = _kernels.cumulative_log_weights(rng.normal(scale=0.2, size=n), starts)
    time = np.concatenate([np.arange(k, dtype=np.float64) for k in sizes])
    values = np.column_stack([time, rng.integers(0, 2, n), rng.normal(size=n)]).astype(float)
    y = (rng.random(n) < 0.2).astype(float)
    vkind = np.array([kernel.START, kernel.FOLLOWUP, kernel.START, kernel.ROW, kernel.START])
    vcol = np.array([0, 0, 1, 1, 2])
    # columns: 1, trial, followup, followup**2, assigned:followup, treatment, x**3 * trial
    factors = [[], [(0, 1)], [(1, 1)], [(1, 2)], [(2, 1), (1, 1)], [(3, 1)], [(4, 3), (0, 1)]]
    fstart = np.cumsum([0] + [len(f) for f in factors]).astype(np.int64)
    fvar = np.array([v for f in factors for v, _ in f], dtype=np.int64)
    fpow = np.array([e for f in factors for _, e in f], dtype=np.int64)
    centre = rng.normal(size=len(factors)) if centred else np.zeros(len(factors))
    centre[0] = 0.0
    return (log_cumulative, starts, eligible, stop, values, y, vkind.astype(np.int64),
            vcol.astype(np.int64), fstart, fvar, fpow, centre, 0, 0.3, 2.5)  # fmt: skip


@pytest.mark.parametrize("centred", [False, True])
@pytest.mark.parametrize(("n_subjects", "max_rows", "p_stop"), [(1, 1, 0.0), (90, 9, 0.0),
                                                                 (300, 12, 0.3)])  # fmt: skip
def test_stream_kernels_match_the_naive_twin(rng, n_subjects, max_rows, p_stop, centred):
    args = _problem(rng, n_subjects, max_rows, p_stop, centred)
    beta = rng.normal(scale=0.02, size=args[8].size - 1)
    got = kernel.stream_pass(*args, 0.5, beta, _kernels.BINOMIAL)
    want = naive_trials.stream_pass(*args, 0.5, beta, _kernels.BINOMIAL)
    for g, w in zip(got, want, strict=True):
        npt.assert_allclose(g, w, rtol=1e-11, atol=1e-12)
    npt.assert_allclose(
        kernel.stream_scores(*args, 0.5, beta, _kernels.BINOMIAL),
        naive_trials.stream_scores(*args, 0.5, beta, _kernels.BINOMIAL),
        rtol=1e-11,
        atol=1e-12,
    )
    X, y, w, _ = naive_trials.stream_design(*args)
    counts = _kernels.trial_row_counts(args[2], args[1], args[3])
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    for step, stratified in [(1, False), (3, False), (3, True), (7, True)]:
        # the warm start's subsample: the rows msm._glm.warm_start_rows takes in memory
        rows, _ = warm_start_rows(0, y, step, stratified)
        taken = kernel.stream_sample_offsets(args[1], args[2], args[3], args[5], offsets, step,
                                             stratified)  # fmt: skip
        assert taken[-1] == rows.size and np.all(np.diff(taken) >= 0)
        m = rows.size
        Xs, ys, ws = kernel.stream_rows(*args, offsets, step, stratified, taken,
                                        np.empty((m, X.shape[1])), np.empty(m),
                                        np.empty(m))  # fmt: skip
        npt.assert_allclose(Xs, X[rows], rtol=1e-13, atol=1e-13)
        npt.assert_array_equal(ys, y[rows])
        npt.assert_allclose(ws, w[rows], rtol=1e-13)
    counts, sums, column = kernel.stream_stats(*args)
    assert counts.tolist() == [X.shape[0], int((w > 0).sum()), int((y == 0).sum()),
                               int((y == 1).sum()), int((y > 0).sum())]  # fmt: skip
    npt.assert_allclose(sums, [w.sum(), w.max(initial=0.0), (w * y).sum()], rtol=1e-12)
    npt.assert_allclose(column[0], np.abs(X).max(axis=0, initial=0.0), rtol=1e-14)
    npt.assert_allclose(column[1], w @ X, rtol=1e-11, atol=1e-11)
    npt.assert_allclose(column[2], X.sum(axis=0), rtol=1e-11, atol=1e-11)
    npt.assert_allclose(column[3], (X * X).sum(axis=0), rtol=1e-11)
    source, trial, _ = naive_trials.sequential_trials(args[2], args[1], args[0], args[3])
    time = args[4][:, 0]
    npt.assert_array_equal(
        kernel.followup_values(args[1], args[2], args[3], time),
        np.unique(time[source] - time[trial]),
    )


def test_serial_and_parallel_passes_agree(rng):
    args = _problem(rng, 3000, 12, 0.1, False)
    beta = rng.normal(scale=0.02, size=args[8].size - 1)
    serial = kernel.stream_pass.serial(*args, 1.0, beta, _kernels.BINOMIAL)
    parallel = kernel.stream_pass.parallel(*args, 1.0, beta, _kernels.BINOMIAL)
    for s, p in zip(serial, parallel, strict=True):
        npt.assert_array_equal(s, p)
