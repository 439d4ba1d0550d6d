"""The one door to ``numba.njit``: every kernel gets the same options.

No ``fastmath``: log weights legitimately reach ``-inf`` (a probability of 0) and LLVM's
fast-math flags would let it assume they never do.  Caching is on unless
``MSM_NUMBA_CACHE=0``; when no cache directory is writable (numba/numba#4908) the kernel
simply compiles on first use instead of failing at import.
"""

from __future__ import annotations

import contextlib
import functools
import os

# numba's OpenMP threads spin at every barrier by default; when other processes share the
# cores (a laptop, a CI runner) that makes every parallel kernel up to 10x slower, and the
# slowdown varies from run to run.  Passive waiting costs nothing measurable when the cores
# are free.  Must be set before the OpenMP runtime starts; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # after the OpenMP setting above


def jit(fn=None, *, parallel: bool = False):
    """Compile ``fn`` with msm's numba options (``cache``, ``error_model="numpy"``)."""
    if fn is None:
        return functools.partial(jit, parallel=parallel)
    dispatcher = numba.njit(parallel=parallel, error_model="numpy", nogil=True)(fn)
    if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1 (coverage runs): a plain function
        return dispatcher
    if os.environ.get("MSM_NUMBA_CACHE", "1") == "1":
        with contextlib.suppress(RuntimeError):  # "no locator available": nowhere to write
            dispatcher.enable_caching()
    return dispatcher
