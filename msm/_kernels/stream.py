"""The streamed MSM of sequential trials: Newton passes over the expansion, never stored.

The expanded rows of ``msm._kernels.trials`` are a deterministic function of the cleaned
rows (subject offsets ``starts``, ``eligible``, ``stop`` and the running log weights
``log_cumulative``), so each pass regenerates them: for every subject, every eligible row
``t`` and every row ``s`` of trial ``t`` (up to the first later ``stop``), the weight
``exp(C[s] - C[t])`` (truncated to ``[lower, upper]``, times the power of two ``scale``) and
the design row are computed on the fly and added to the pass's sums.

The design row comes from a small program.  ``values`` (rows x variables' source columns)
holds, per cleaned row, the numbers the MSM reads; variable ``v`` is ``values[t, vcol[v]]``
(``vkind[v] == START``: a value at the trial's start row, as ``assigned``, ``trial`` and the
baseline covariates), ``values[s, vcol[v]]`` (``ROW``: the current treatment) or
``values[s, vcol[v]] - values[t, vcol[v]]`` (``FOLLOWUP``).  Design column ``j`` is the
product over ``k in fstart[j] .. fstart[j + 1] - 1`` of ``variable[fvar[k]] ** fpow[k]``
(1 for an empty product: the intercept), minus ``centre[j]`` (0 unless the fit is computed on
the centred design; never for column ``intercept``).

Subjects are split into fixed chunks of ``SUBJECTS`` (independent of the thread count), each
chunk keeps its own partial sums and the partials are added in chunk order, so results do
not depend on the number of threads.  Rows are added in blocks of 8 by the GLM kernel's
``accumulate_block``.
"""

from __future__ import annotations

import numba
import numpy as np

from msm._kernels._jit import SERIAL_ROWS, jit
from msm._kernels.glm import (
    BLOCK_ROWS,
    accumulate_block,
    add_chunks,
    add_linear_predictors,
    glm_row,
)

START = 0
ROW = 1
FOLLOWUP = 2
SUBJECTS = 64  # subjects per chunk


@jit
def design_row(
    values, t, s, vkind, vcol, fstart, fvar, fpow, centre, intercept, out
):  # pragma: no cover - compiled
    """Write the design row of (trial start ``t``, row ``s``) into ``out``."""
    for j in range(fstart.size - 1):
        x = 1.0
        for k in range(fstart[j], fstart[j + 1]):
            v = fvar[k]
            kind = vkind[v]
            col = vcol[v]
            if kind == START:
                value = values[t, col]
            elif kind == ROW:
                value = values[s, col]
            else:
                value = values[s, col] - values[t, col]
            e = fpow[k]
            if e == 2:
                value = value * value
            elif e != 1:
                value = value ** float(e)
            x = value if k == fstart[j] else x * value
        if j != intercept:
            x = x - centre[j]
        out[j] = x


@jit
def _truncated(w, lower, upper):  # pragma: no cover - compiled
    """``max(min(w, upper), lower)``: the order of ``TrialSequence.analysis_weights``."""
    if w > upper:
        w = upper
    if w < lower:
        w = lower
    return w


@jit
def _flush(
    X, m, ys, ws, beta, family, etas, resid, varw, score, info, acc
):  # pragma: no cover - compiled
    """Add the block's ``m`` rows to the pass's sums (``acc``: deviance, Pearson, min, max)."""
    for t in range(m):
        etas[t] = 0.0
    add_linear_predictors(X, 0, m, beta, etas)
    for t in range(m):
        mu, v, d, r2 = glm_row(ys[t], etas[t], family)
        wi = ws[t]
        if wi == 0.0:
            resid[t] = 0.0
            varw[t] = 0.0
            continue
        acc[2] = min(acc[2], mu)
        acc[3] = max(acc[3], mu)
        acc[0] += wi * d
        acc[1] += wi * r2
        resid[t] = wi * (ys[t] - mu)
        varw[t] = wi * v
    accumulate_block(X, 0, m, resid, varw, score, info)


@jit(parallel=True, serial_below=SERIAL_ROWS)
def stream_pass(
    log_cumulative,
    starts,
    eligible,
    stop,
    values,
    y,
    vkind,
    vcol,
    fstart,
    fvar,
    fpow,
    centre,
    intercept,
    lower,
    upper,
    scale,
    beta,
    family,
):  # pragma: no cover - compiled
    """One fused IRLS/Newton pass over the streamed expansion at ``beta``.

    Returns ``(deviance, pearson_chi2, score, information, mu_min, mu_max)`` as
    ``msm._kernels.glm_irls_pass`` does on the materialized design and weights.
    """  # fmt: skip
    n_subjects = starts.size - 1
    p = fstart.size - 1
    n_chunks = (n_subjects + SUBJECTS - 1) // SUBJECTS
    part_acc = np.zeros((n_chunks, 4))
    part_score = np.zeros((n_chunks, p))
    part_info = np.zeros((n_chunks, p, p))
    for c in numba.prange(n_chunks):
        acc = part_acc[c]
        acc[2] = np.inf
        acc[3] = -np.inf
        score = part_score[c]
        info = part_info[c]
        X = np.empty((BLOCK_ROWS, p))
        ys = np.empty(BLOCK_ROWS)
        ws = np.empty(BLOCK_ROWS)
        etas = np.empty(BLOCK_ROWS)
        resid = np.empty(BLOCK_ROWS)
        varw = np.empty(BLOCK_ROWS)
        m = 0
        for g in range(c * SUBJECTS, min(n_subjects, (c + 1) * SUBJECTS)):
            end = starts[g + 1]
            for t in range(starts[g], end):
                if not eligible[t]:
                    continue
                base = log_cumulative[t]
                for s in range(t, end):
                    if s > t and stop[s]:
                        break
                    w = _truncated(np.exp(log_cumulative[s] - base), lower, upper)
                    design_row(values, t, s, vkind, vcol, fstart, fvar, fpow, centre,
                               intercept, X[m])  # fmt: skip
                    ws[m] = w * scale
                    ys[m] = y[s]
                    m += 1
                    if m == BLOCK_ROWS:
                        _flush(X, m, ys, ws, beta, family, etas, resid, varw, score, info, acc)
                        m = 0
        if m:
            _flush(X, m, ys, ws, beta, family, etas, resid, varw, score, info, acc)
    return add_chunks(part_acc[:, 0], part_acc[:, 1], part_score, part_info, part_acc[:, 2],
                      part_acc[:, 3])  # fmt: skip


@jit(parallel=True, serial_below=SERIAL_ROWS)
def stream_scores(
    log_cumulative,
    starts,
    eligible,
    stop,
    values,
    y,
    vkind,
    vcol,
    fstart,
    fvar,
    fpow,
    centre,
    intercept,
    lower,
    upper,
    scale,
    beta,
    family,
):  # pragma: no cover - compiled
    """Per-subject sums of the score rows ``w (y - mu) x`` at ``beta``: (subjects, p).

    Each subject's rows are added in the order of the expansion (trial, then followup), as
    ``msm._kernels.cluster_score_sums`` adds a cluster's rows of the materialized design.
    """  # fmt: skip
    n_subjects = starts.size - 1
    p = fstart.size - 1
    out = np.zeros((n_subjects, p))
    for g in numba.prange(n_subjects):
        x = np.empty(p)
        acc = out[g]
        end = starts[g + 1]
        for t in range(starts[g], end):
            if not eligible[t]:
                continue
            base = log_cumulative[t]
            for s in range(t, end):
                if s > t and stop[s]:
                    break
                w = _truncated(np.exp(log_cumulative[s] - base), lower, upper) * scale
                design_row(values, t, s, vkind, vcol, fstart, fvar, fpow, centre, intercept, x)
                eta = 0.0
                for j in range(p):
                    eta += x[j] * beta[j]
                mu = glm_row(y[s], eta, family)[0]
                r = w * (y[s] - mu)
                for j in range(p):
                    acc[j] += r * x[j]
    return out


@jit
def _sampled(k, y, step, stratified):  # pragma: no cover - compiled
    """Expanded row ``k`` (outcome ``y``) is in the warm start's subsample
    (``msm._glm.warm_start_rows``)."""
    return k % step == 0 or (stratified and y > 0.0)


@jit
def stream_sample_offsets(
    starts, eligible, stop, y, offsets, step, stratified
):  # pragma: no cover - compiled
    """Where each subject's rows of the warm start's subsample begin (subjects + 1; the last
    is the subsample's size): ``offsets`` are the expansion's (``trial_row_counts``'s
    running sums), ``step`` and ``stratified`` those of ``msm._glm.warm_start_rows``."""
    n_subjects = starts.size - 1
    out = np.zeros(n_subjects + 1, dtype=np.int64)
    for g in range(n_subjects):
        k = offsets[g]
        taken = 0
        end = starts[g + 1]
        for t in range(starts[g], end):
            if not eligible[t]:
                continue
            for s in range(t, end):
                if s > t and stop[s]:
                    break
                if _sampled(k, y[s], step, stratified):
                    taken += 1
                k += 1
        out[g + 1] = out[g] + taken
    return out


@jit(parallel=True, serial_below=SERIAL_ROWS)
def stream_rows(
    log_cumulative,
    starts,
    eligible,
    stop,
    values,
    y,
    vkind,
    vcol,
    fstart,
    fvar,
    fpow,
    centre,
    intercept,
    lower,
    upper,
    offsets,
    step,
    stratified,
    sample_offsets,
    X_out,
    y_out,
    w_out,
):  # pragma: no cover - compiled
    """The expanded rows of the warm start's subsample, stored: design row, outcome and weight
    (untruncated when ``lower``/``upper`` are -inf/inf; not yet times the subsample's
    factor).

    ``offsets`` (subjects + 1) are the running sums of ``trial_row_counts``; expanded row
    ``k`` (in the expansion's order) is taken when ``k % step == 0`` or, ``stratified``,
    its outcome is positive (``msm._glm.warm_start_rows``), and subject ``g``'s taken rows
    go, in order, from position ``sample_offsets[g]`` (``stream_sample_offsets``).  With
    ``step`` 1 and no design columns this is the weight column of the expansion.
    """  # fmt: skip
    for g in numba.prange(starts.size - 1):
        k = offsets[g]
        i = sample_offsets[g]
        end = starts[g + 1]
        for t in range(starts[g], end):
            if not eligible[t]:
                continue
            base = log_cumulative[t]
            for s in range(t, end):
                if s > t and stop[s]:
                    break
                if _sampled(k, y[s], step, stratified):
                    w_out[i] = _truncated(np.exp(log_cumulative[s] - base), lower, upper)
                    y_out[i] = y[s]
                    design_row(values, t, s, vkind, vcol, fstart, fvar, fpow, centre,
                               intercept, X_out[i])  # fmt: skip
                    i += 1
                k += 1
    return X_out, y_out, w_out


@jit(parallel=True, serial_below=SERIAL_ROWS)
def stream_stats(
    log_cumulative,
    starts,
    eligible,
    stop,
    values,
    y,
    vkind,
    vcol,
    fstart,
    fvar,
    fpow,
    centre,
    intercept,
    lower,
    upper,
):  # pragma: no cover - compiled
    """Sums over the streamed expansion that the fit checks before Newton.

    Returns ``(counts, sums, column)``: ``counts`` = rows, rows with w > 0, of them outcome
    0 and outcome 1, and rows (any w) with outcome > 0; ``sums`` = sum of w, largest w and
    sum of w y (over w > 0); ``column`` (4, p) = per design column the largest |x| and sum
    of w x over rows with w > 0, and the sum of x and of x**2 over all rows.
    """  # fmt: skip
    n_subjects = starts.size - 1
    p = fstart.size - 1
    n_chunks = (n_subjects + SUBJECTS - 1) // SUBJECTS
    part_counts = np.zeros((n_chunks, 5), dtype=np.int64)
    part_sums = np.zeros((n_chunks, 3))
    part_column = np.zeros((n_chunks, 4, p))
    for c in numba.prange(n_chunks):
        x = np.empty(p)
        counts = part_counts[c]
        sums = part_sums[c]
        column = part_column[c]
        for g in range(c * SUBJECTS, min(n_subjects, (c + 1) * SUBJECTS)):
            end = starts[g + 1]
            for t in range(starts[g], end):
                if not eligible[t]:
                    continue
                base = log_cumulative[t]
                for s in range(t, end):
                    if s > t and stop[s]:
                        break
                    w = _truncated(np.exp(log_cumulative[s] - base), lower, upper)
                    design_row(values, t, s, vkind, vcol, fstart, fvar, fpow, centre,
                               intercept, x)  # fmt: skip
                    counts[0] += 1
                    if y[s] > 0.0:
                        counts[4] += 1
                    for j in range(p):
                        column[2, j] += x[j]
                        column[3, j] += x[j] * x[j]
                    if w > 0.0:
                        counts[1] += 1
                        if y[s] == 0.0:
                            counts[2] += 1
                        elif y[s] == 1.0:
                            counts[3] += 1
                        sums[0] += w
                        sums[1] = max(sums[1], w)
                        sums[2] += w * y[s]
                        for j in range(p):
                            column[0, j] = max(column[0, j], abs(x[j]))
                            column[1, j] += w * x[j]
    counts = np.zeros(5, dtype=np.int64)
    sums = np.zeros(3)
    column = np.zeros((4, p))
    for c in range(n_chunks):
        counts += part_counts[c]
        sums[0] += part_sums[c, 0]
        sums[1] = max(sums[1], part_sums[c, 1])
        sums[2] += part_sums[c, 2]
        column[1:] += part_column[c, 1:]
        for j in range(p):
            column[0, j] = max(column[0, j], part_column[c, 0, j])
    return counts, sums, column


@jit
def followup_values(starts, eligible, stop, time):  # pragma: no cover - compiled
    """The distinct follow-up times ``time[s] - time[t]`` of the expansion, sorted."""
    seen = set()
    for g in range(starts.size - 1):
        end = starts[g + 1]
        for t in range(starts[g], end):
            if not eligible[t]:
                continue
            for s in range(t, end):
                if s > t and stop[s]:
                    break
                seen.add(time[s] - time[t])
    out = np.empty(len(seen), dtype=time.dtype)
    i = 0
    for value in seen:
        out[i] = value
        i += 1
    out.sort()
    return out
