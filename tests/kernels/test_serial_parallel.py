"""Kernels with a serial compilation for small inputs give the parallel kernel's numbers.

``msm._kernels._jit.jit(parallel=True, serial_below=...)`` runs small inputs serially (a
parallel region costs more than it saves there). The kernels split rows into fixed chunks
and add the partial sums in chunk order, so both compilations must agree bit for bit, on
inputs of several chunks and on a small one; and the wrapper picks by the row count.
"""

from __future__ import annotations

import numpy as np
import pytest

from msm import _kernels
from msm._kernels._jit import SERIAL_ROWS
from msm._kernels.glm import CHUNK_ROWS


@pytest.fixture(params=[CHUNK_ROWS * 3 + 17, 500])
def design(request):
    rng = np.random.default_rng(request.param)
    n, p = request.param, 5
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    return rng, X


def both(kernel, *args):
    """The kernel's serial and parallel results on copies of the same inputs."""
    copies = [[a.copy() if isinstance(a, np.ndarray) else a for a in args] for _ in range(2)]
    return kernel.serial(*copies[0]), kernel.parallel(*copies[1]), copies


def same(a, b):
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            same(x, y)
        return
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("family", [_kernels.GAUSSIAN, _kernels.BINOMIAL, _kernels.POISSON])
def test_glm_irls_pass(design, family):
    rng, X = design
    n = X.shape[0]
    beta = rng.normal(scale=0.3, size=X.shape[1])
    y = rng.poisson(1.0, n).astype(float) if family == _kernels.POISSON else (
        (rng.random(n) < 0.4).astype(float))  # fmt: skip
    w = rng.exponential(size=n)
    w[::7] = 0.0
    serial, parallel, copies = both(
        _kernels.glm_irls_pass, X, y, w, np.zeros(n), beta, family, np.empty(n)
    )
    same(serial, parallel)
    same(copies[0][-1], copies[1][-1])  # the fitted means written out


def test_crossprod_cluster_sums_log_prob_gather_abs_max(design):
    rng, X = design
    n = X.shape[0]
    d = rng.exponential(size=n)
    same(*both(_kernels.weighted_crossprod, X, d)[:2])
    codes = rng.integers(0, 40, n).astype(np.int64)
    same(*both(_kernels.cluster_score_sums, X, d, codes, 40)[:2])
    y = (rng.random(n) < 0.5).astype(float)
    same(*both(_kernels.logit_log_prob, X, rng.normal(size=X.shape[1]), y, np.empty(n))[:2])
    rows = rng.integers(0, n, n).astype(np.int64)
    same(*both(_kernels.gather_column, X[:, 1].copy(), rows, np.empty((n, 2)), 1)[:2])
    same(*both(_kernels.column_abs_max, X, d)[:2])


def test_the_wrapper_picks_by_rows(monkeypatch):
    calls = []
    kernel = _kernels.column_abs_max
    monkeypatch.setattr(kernel, "serial", lambda *a: calls.append("serial"))
    monkeypatch.setattr(kernel, "parallel", lambda *a: calls.append("parallel"))
    for n in (1, SERIAL_ROWS - 1, SERIAL_ROWS, 5 * SERIAL_ROWS):
        kernel(np.zeros((n, 2)), np.ones(n))
    assert calls == ["serial", "serial", "parallel", "parallel"]
    assert SERIAL_ROWS >= CHUNK_ROWS  # one chunk always runs serially


@pytest.mark.parametrize(
    ("family", "link"),
    [(_kernels.BINOMIAL, _kernels.IDENTITY), (_kernels.BINOMIAL, _kernels.LOG),
     (_kernels.BINOMIAL, _kernels.PROBIT), (_kernels.BINOMIAL, _kernels.CLOGLOG),
     (_kernels.POISSON, _kernels.IDENTITY)],
)  # fmt: skip
def test_glm_link_pass(design, family, link):
    rng, X = design
    n = X.shape[0]
    beta = np.zeros(X.shape[1])
    beta[0] = {_kernels.IDENTITY: 0.4, _kernels.LOG: -1.0}.get(link, 0.0)
    if family == _kernels.POISSON:
        beta[0] = 2.0
    beta[1:] = rng.normal(scale=0.02, size=X.shape[1] - 1)
    y = rng.poisson(1.0, n).astype(float) if family == _kernels.POISSON else (
        (rng.random(n) < 0.4).astype(float))  # fmt: skip
    w = rng.exponential(size=n)
    w[::7] = 0.0
    serial, parallel, copies = both(
        _kernels.glm_link_pass, X, y, w, np.zeros(n), beta, family, link, np.empty(n),
        np.empty(n),
    )  # fmt: skip
    same(serial, parallel)
    same(copies[0][-1], copies[1][-1])  # the score factors written out
    same(copies[0][-2], copies[1][-2])  # the fitted means written out


CACHED = """
import sys
import numpy as np
from msm import _kernels
X = np.ones((100, 2))
getattr(_kernels.column_abs_max, sys.argv[1])(X, np.ones(100))
"""


def test_the_two_compilations_are_cached_apart(tmp_path):
    """numba's cache keeps one entry per signature whatever the compile options, filed by
    qualified name: the serial and the parallel compilation must have names of their own,
    or a later process loads the serial one for both (and "parallel" runs on one thread)."""
    import os
    import subprocess
    import sys

    kernel = _kernels.glm_irls_pass
    assert kernel.serial.py_func.__qualname__ != kernel.parallel.py_func.__qualname__
    assert kernel.parallel.targetoptions.get("parallel") is True
    assert not kernel.serial.targetoptions.get("parallel", False)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), MSM_NUMBA_CACHE="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    for compilation in ("serial", "parallel"):  # the serial one cached first, in its own run
        subprocess.run([sys.executable, "-c", CACHED, compilation], env=env, check=True,
                       cwd=os.getcwd())  # fmt: skip
    index = sorted(p.name for p in tmp_path.rglob("*column_abs_max*.nbi"))
    assert len(index) == 2, index
    assert any("__serial" in name for name in index)
    assert any("__parallel" in name for name in index)
