"""Treatment strategies as data (msm.start_within, msm.never): prescriptions and adherence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import msm
from msm.strategies import FREE, Never, StartWithin


def _follows_by_hand(strategy, history):
    """Adherence interval by interval, from the definitions in words."""
    out, treated_before, ok = [], False, True
    for k, a in enumerate(history):
        if isinstance(strategy, StartWithin):
            must_on = treated_before or k >= strategy.grace - 1
            agrees = a == 1 if must_on else True
        else:
            off = strategy.before is None or k < strategy.before
            agrees = a == 0 if off else True
        ok = ok and agrees
        out.append(ok)
        treated_before = treated_before or a == 1
    return out


@pytest.mark.parametrize(
    "strategy",
    [msm.start_within(1), msm.start_within(3), msm.never(), msm.never(before=2)],
    ids=repr,
)
def test_follows_matches_the_definitions_on_every_history_of_five(strategy):
    histories = np.array([[(i >> j) & 1 for j in range(5)] for i in range(32)])
    got = strategy.follows(histories)
    assert got.shape == histories.shape
    for h, row in zip(histories, got, strict=True):
        assert row.tolist() == _follows_by_hand(strategy, h.tolist())
    assert strategy.follows(histories[7]).tolist() == got[7].tolist()  # 1-d the same


def test_start_within_prescribes_free_then_on_and_stays_on():
    s = msm.start_within(3)
    k = np.array([0, 1, 2, 3, 0, 1])
    before = np.array([False, False, False, False, True, True])
    assert s.prescription(k, before).tolist() == [FREE, FREE, 1, 1, 1, 1]
    assert s.follows([1, 1, 1]).all()
    assert s.follows([0, 0, 1, 1]).all()
    assert s.follows([0, 0, 0, 1]).tolist() == [True, True, False, False]  # g-1 not started
    assert s.follows([1, 0, 1]).tolist() == [True, False, False]  # stopping is a deviation
    assert msm.start_within(1).follows([0, 1]).tolist() == [False, False]


def test_never_prescribes_off_then_free():
    assert msm.never().prescription(np.arange(4), np.zeros(4, bool)).tolist() == [0, 0, 0, 0]
    assert msm.never(before=2).prescription(np.arange(4), False).tolist() == [0, 0, FREE, FREE]
    assert msm.never(before=2).follows([0, 0, 1, 1]).all()
    assert msm.never().follows([0, 0, 1, 1]).tolist() == [True, True, False, False]


def test_strategies_are_frozen_hashable_data_shown_as_their_call():
    assert msm.start_within(3) == StartWithin(3) and msm.never() == Never(None)
    assert msm.never(before=12) != msm.never()
    assert len({msm.start_within(3), msm.start_within(3), msm.never()}) == 2
    assert repr(msm.start_within(3)) == "start_within(3)"
    assert repr(msm.never()) == "never()" and repr(msm.never(before=12)) == "never(before=12)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        msm.start_within(3).grace = 4
    assert "0..1" in msm.start_within(3).description
    assert "starts at 2" in msm.start_within(3).description
    assert msm.never().description == "never start"


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None])
def test_bad_grace_or_before_raises(bad):
    with pytest.raises(ValueError, match="grace must be a positive integer"):
        msm.start_within(bad)
    if bad is not None:
        with pytest.raises(ValueError, match="before must be a positive integer"):
            msm.never(before=bad)


def test_follows_rejects_a_history_that_is_not_0_1():
    with pytest.raises(ValueError, match="0/1"):
        msm.never().follows([0, 2])
    with pytest.raises(ValueError, match="0/1"):
        msm.never().follows(np.zeros((2, 2, 2)))
