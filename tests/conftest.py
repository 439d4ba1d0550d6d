"""Shared fixtures: seeded random generators that say their seed, the shared/ directory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def rng(request):
    """A seeded generator; the seed is printed on failure and settable with MSM_SEED."""
    seed = int(os.environ.get("MSM_SEED", "20261121"))
    request.node.user_properties.append(("seed", seed))
    print(f"rng seed: {seed} (rerun with MSM_SEED={seed})")
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (R conformance data) is not present")
    return SHARED
