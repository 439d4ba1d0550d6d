"""pytest setup for the whole repository: docstring examples and CI's no-skip rule.

``pytest -q`` collects ``tests/`` and the docstring examples in ``msm/`` (``--doctest-modules``
in pyproject.toml).  Examples see ``msm``, ``np`` and ``pd`` without importing them, as the
documentation assumes.  Examples of the optional parts (``msm.plot``: matplotlib; ``msm._dask``:
dask) skip when their extra is not installed; the test extra installs both.

With ``MSM_FORBID_SKIPS=1`` (set by ``.ci/run``) a run in which anything skipped fails: in CI
every optional comparison (R's numbers in ``../shared``, lifelines, dask, matplotlib) must run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msm

MSM = Path(__file__).resolve().parent / "msm"

# examples under these paths need these modules (the plot and dask extras)
OPTIONAL = {MSM / "plot.py": "matplotlib", MSM / "_dask": "dask"}


def in_msm(item: pytest.Item) -> bool:
    """Whether the item comes from msm/ (only docstring examples do)."""
    return MSM in Path(item.path).resolve().parents


@pytest.fixture(autouse=True, scope="session")
def _doctest_globals(doctest_namespace):
    doctest_namespace.update(msm=msm, np=np, pd=pd)


def pytest_runtest_setup(item):
    if not in_msm(item):
        return
    path = Path(item.path).resolve()
    for where, module in OPTIONAL.items():
        if (path == where or where in path.parents) and importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (the example needs an optional extra)")


def pytest_runtest_teardown(item):
    if in_msm(item) and "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")  # figures an example made


def forbidden_skips(config) -> int:
    """The number of skipped tests when MSM_FORBID_SKIPS=1 forbids them (else 0)."""
    if os.environ.get("MSM_FORBID_SKIPS") != "1":
        return 0
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return len(reporter.stats.get("skipped", [])) if reporter is not None else 0


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == pytest.ExitCode.OK and forbidden_skips(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = forbidden_skips(config)
    if n:
        terminalreporter.write_sep(
            "!", f"MSM_FORBID_SKIPS=1: {n} test(s) skipped, and in CI every test must run", red=True
        )
