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
import types

# numba's OpenMP threads spin at every barrier by default; when other processes share the
# cores (a laptop, a CI runner) that makes every parallel kernel up to 10x slower, and the
# slowdown varies from run to run.  Passive waiting costs nothing measurable when the cores
# are free.  Must be set before the OpenMP runtime starts; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# ... but with no spinning at all (libgomp's PASSIVE means a spin count of 0) the worker
# threads of numba's OpenMP pool contribute nothing on some virtual machines: every parallel
# kernel ran at its serial speed on the 2-vCPU development VM.  A short spin (about a
# microsecond) before sleeping restores the parallel speed and still leaves the cores to
# other processes between kernels.  A user's own setting wins here too.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

import numba  # after the OpenMP setting above

# below this many rows a parallel region costs more than it saves: waking the OpenMP threads
# (passive waiting, above) takes about half a millisecond, as long as a fused GLM pass over
# 10,000 rows; small cohorts and bootstrap replicates call the kernels thousands of times
SERIAL_ROWS = 3 * 8192


def _compile(fn, parallel: bool):
    dispatcher = numba.njit(parallel=parallel, error_model="numpy", nogil=True)(fn)
    if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1 (coverage runs): a plain function
        return dispatcher
    if os.environ.get("MSM_NUMBA_CACHE", "1") == "1":
        with contextlib.suppress(RuntimeError):  # "no locator available": nowhere to write
            dispatcher.enable_caching()
    return dispatcher


def jit(fn=None, *, parallel: bool = False, serial_below: int | None = None):
    """Compile ``fn`` with msm's numba options (``cache``, ``error_model="numpy"``).

    ``serial_below`` (with ``parallel=True``): a kernel called from Python whose first
    argument has fewer rows than this runs its serial compilation instead of the parallel
    one.  Both run the same code, and msm's kernels give the same numbers on any number of
    threads (fixed chunks, partial sums added in chunk order), so the choice changes the
    time only.  The two compilations are the wrapper's ``serial`` and ``parallel``
    attributes (compiled on first use).  Without ``serial_below`` the result is the numba
    dispatcher itself, which other kernels may call.
    """
    if fn is None:
        return functools.partial(jit, parallel=parallel, serial_below=serial_below)
    if not parallel or serial_below is None:
        return _compile(fn, parallel)

    @functools.wraps(fn)
    def kernel(*args):
        return (kernel.serial if args[0].shape[0] < serial_below else kernel.parallel)(*args)

    kernel.serial = _compile(_renamed(fn, "serial"), False)
    kernel.parallel = _compile(_renamed(fn, "parallel"), True)
    return kernel


def _renamed(fn, compilation: str):
    """``fn`` under a qualified name of its own for one of its two compilations.

    numba's on-disk cache files a function's compilations by module, qualified name and
    line, and its index keeps one entry per signature whatever the compile options: the
    serial and the parallel compilation of one function overwrote each other there, and a
    later process loaded whichever was saved last for both, so a "parallel" kernel ran on
    one thread.  Distinct names give each compilation its own cache files.
    """
    twin = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    twin.__qualname__ = f"{fn.__qualname__}__{compilation}"
    twin.__doc__ = fn.__doc__
    twin.__module__ = fn.__module__
    return twin
