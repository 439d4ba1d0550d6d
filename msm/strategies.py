"""Treatment strategies of an emulated target trial, as data.

A strategy says, interval by interval from each patient's time zero (interval 0 is the
interval of time zero), what the treatment must be.  Within an interval the order is
covariates, then the treatment decision, then the outcome; treatment is absorbing (once
started it stays on), as IVIG in the JDM examples.

``start_within(g)``
    The regime "natural start in intervals 0 .. g-2, and anyone still untreated starts at
    g-1": free to start (or not) in intervals 0 .. g-2, must be on treatment from interval
    g-1 on, and stays treated once started.
``never(before=k)``
    Untreated in intervals 0 .. k-1 (in every interval when ``k`` is None); free after.
``start_when(column, grace=1)``
    A dynamic strategy: do not start before the first interval where the 0/1 ``column`` is
    1 (the indication, e.g. ``pga >= 5``), free in the ``grace - 1`` intervals from it on,
    on treatment from then on (``grace=1``: start at the indication).
``a & b``
    Both: what either prescribes, free where both leave the choice free.  ``never(before=1)
    & start_within(3)`` is "start in interval 1 or 2" (not at time zero).  Strategies that
    prescribe opposite treatments at some interval cannot be combined (ValueError).

A strategy answers two questions, both vectorized over patients:

- ``prescription(k, treated_before, since=None)``: at interval ``k`` (since time zero), for
  patients treated before it or not, the treatment prescribed: ``1`` (must be on), ``0``
  (must be off) or ``FREE`` (-1, the natural course decides).  A dynamic strategy reads
  data columns (``Strategy.columns``); ``since`` maps each to the intervals since it was
  first 1 at or before ``k`` (-1: not yet);
- ``follows(history)``: given the observed treatment (0/1) by interval since time zero,
  whether the strategy is still followed through each interval (False from the first
  deviation on).

Strategies are frozen dataclasses: equal when their numbers are equal, hashable, and shown
as the call that makes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FREE",
    "Both",
    "Never",
    "StartWhen",
    "StartWithin",
    "Strategy",
    "never",
    "start_when",
    "start_within",
]

FREE = -1
"""The code of ``Strategy.prescription`` for "either: the natural course decides"."""


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Strategy:
    """A treatment strategy: what it prescribes at each interval since time zero.

    Subclasses define ``prescription``; ``follows`` derives from it.  See ``start_within``
    and ``never``.
    """

    columns: tuple = ()
    """The data columns a dynamic strategy reads (none for a static one)."""

    def prescription(self, k, treated_before, since=None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @property
    def last_prescribed(self) -> int | None:
        """The last interval whose prescription can differ from later ones (None: none)."""
        return None  # pragma: no cover - every strategy defines it

    def __and__(self, other: Strategy) -> Both:
        """Both strategies at once (``never(before=1) & start_within(3)``)."""
        if not isinstance(other, Strategy):
            return NotImplemented
        return Both(self, other)

    def follows(self, history, columns=None) -> np.ndarray:
        """Whether the strategy is still followed through each interval of ``history``.

        Parameters
        ----------
        history : array_like of 0/1, shape (intervals,) or (patients, intervals)
            Treatment in intervals 0, 1, ... since time zero (1 on treatment).
        columns : dict of str to array_like of 0/1, optional
            A dynamic strategy's columns, each shaped like ``history``.

        Returns
        -------
        numpy.ndarray of bool, the shape of ``history``
            True at interval k when the treatment in intervals 0 .. k all agrees with the
            strategy; False from the first deviation on.

        Examples
        --------
        >>> import msm
        >>> msm.start_within(3).follows([0, 0, 1, 1]).tolist()
        [True, True, True, True]
        >>> msm.start_within(3).follows([0, 0, 0, 1]).tolist()
        [True, True, False, False]
        >>> msm.never().follows([[0, 0, 0], [0, 1, 1]]).tolist()
        [[True, True, True], [True, False, False]]
        """
        h = np.asarray(history)
        one = h.ndim == 1
        h = np.atleast_2d(h)
        if h.ndim != 2 or not np.isin(h, (0, 1)).all():
            raise ValueError("history must be a 0/1 array of shape (intervals,) or (n, intervals)")
        treated = h.astype(bool)
        since = _since_first(self, h.shape, columns)
        ok = np.ones(h.shape, dtype=bool)
        before = np.zeros(h.shape[0], dtype=bool)
        still = np.ones(h.shape[0], dtype=bool)
        for k in range(h.shape[1]):
            rx = self.prescription(k, before, {c: v[:, k] for c, v in since.items()} or None)
            agrees = (rx == FREE) | (rx == treated[:, k])
            still &= agrees
            ok[:, k] = still
            before = before | treated[:, k]
        return ok[0] if one else ok


@dataclass(frozen=True)
class StartWithin(Strategy):
    """Start treatment within ``grace`` intervals of time zero (``start_within``)."""

    grace: int

    def __post_init__(self) -> None:
        _positive("grace", self.grace)

    def prescription(self, k, treated_before, since=None) -> np.ndarray:
        """Treatment prescribed at interval ``k``: 1 once treated or from ``grace - 1`` on.

        Parameters
        ----------
        k : int or array_like of int
            Interval since time zero (0 is time zero), one per patient or shared.
        treated_before : array_like of bool
            On treatment in some interval before ``k``.

        Returns
        -------
        numpy.ndarray of int8
            1 (must be on), 0 (must be off) or ``FREE`` (-1, the natural course decides).

        Examples
        --------
        >>> import msm
        >>> s = msm.start_within(3)
        >>> [int(s.prescription(k, [False])[0]) for k in range(4)]
        [-1, -1, 1, 1]
        >>> int(s.prescription(0, [True])[0])
        1
        """
        k, before = np.broadcast_arrays(np.asarray(k), np.asarray(treated_before, dtype=bool))
        on = before | (k >= self.grace - 1)
        return np.where(on, 1, FREE).astype(np.int8)

    @property
    def description(self) -> str:
        """The strategy in words, for a protocol table."""
        if self.grace == 1:
            return "start at time zero (interval 0), then stay on"
        return (
            f"start within {self.grace} intervals: natural start in intervals "
            f"0..{self.grace - 2}, anyone still untreated starts at {self.grace - 1}; "
            "stay on once started"
        )

    @property
    def last_prescribed(self) -> int:
        return self.grace - 1

    def __repr__(self) -> str:
        return f"start_within({self.grace})"


@dataclass(frozen=True)
class Never(Strategy):
    """No treatment in intervals 0 .. ``before - 1`` (all intervals if None) (``never``)."""

    before: int | None = None

    def __post_init__(self) -> None:
        if self.before is not None:
            _positive("before", self.before)

    def prescription(self, k, treated_before, since=None) -> np.ndarray:
        """Treatment prescribed at interval ``k``: 0 before ``before``, free after.

        Parameters
        ----------
        k : int or array_like of int
            Interval since time zero (0 is time zero), one per patient or shared.
        treated_before : array_like of bool
            On treatment in some interval before ``k`` (not used by ``never``).

        Returns
        -------
        numpy.ndarray of int8
            0 (must be off) or ``FREE`` (-1, the natural course decides).

        Examples
        --------
        >>> import msm
        >>> [int(msm.never(before=2).prescription(k, [False])[0]) for k in range(3)]
        [0, 0, -1]
        """
        k, _ = np.broadcast_arrays(np.asarray(k), np.asarray(treated_before, dtype=bool))
        off = np.ones(k.shape, dtype=bool) if self.before is None else k < self.before
        return np.where(off, 0, FREE).astype(np.int8)

    @property
    def description(self) -> str:
        """The strategy in words, for a protocol table."""
        if self.before is None:
            return "never start"
        return f"do not start in intervals 0..{self.before - 1}; free after"

    @property
    def last_prescribed(self) -> int:
        return 0 if self.before is None else self.before

    def __repr__(self) -> str:
        return "never()" if self.before is None else f"never(before={self.before})"


@dataclass(frozen=True, repr=False)
class Both(Strategy):
    """Two strategies at once (``first & second``): each prescribes where it does.

    Raises ValueError when the two prescribe opposite treatments at some interval (checked
    for every interval where either can prescribe, treated before or not).
    """

    first: Strategy
    second: Strategy

    def __post_init__(self) -> None:
        for part in (self.first, self.second):
            if not isinstance(part, Strategy):
                raise ValueError(f"strategies combine only with strategies, got {part!r}")
        # walk the states a patient following both can be in (untreated, or treated since
        # an interval where starting was allowed): opposite prescriptions there are an error.
        # A dynamic part is walked for each interval its columns could first be 1 at (or never)
        last = max(self.first.last_prescribed or 0, self.second.last_prescribed or 0) + 1
        columns = self.columns
        triggers = [None] + (list(range(last + 1)) if columns else [])
        for trigger in triggers:
            self._walk(last, columns, trigger)

    def _walk(self, last: int, columns: tuple, trigger: int | None) -> None:
        reachable = {False: True, True: False}  # treated before -> reachable at interval k
        for k in range(last + 1):
            since = None
            if columns:
                value = -1 if trigger is None or k < trigger else k - trigger
                since = {c: np.array([value]) for c in columns}
            allowed = {}
            for before in (False, True):
                if not reachable[before]:
                    continue
                a = int(self.first.prescription(k, [before], since)[0])
                b = int(self.second.prescription(k, [before], since)[0])
                if a != FREE and b != FREE and a != b:
                    state = "treated before" if before else "untreated before"
                    raise ValueError(
                        f"{self.first!r} and {self.second!r} contradict each other at "
                        f"interval {k} ({state}): one prescribes treatment, the other forbids it"
                    )
                allowed[before] = a if a != FREE else b
            untreated_ok = allowed.get(False, 1) != 1 and reachable[False]
            treated_ok = (reachable[True] and allowed.get(True, 0) != 0) or (
                reachable[False] and allowed.get(False, 0) != 0
            )
            reachable = {False: untreated_ok, True: treated_ok}

    def prescription(self, k, treated_before, since=None) -> np.ndarray:
        """What either part prescribes at interval ``k`` (``FREE`` where neither does).

        Examples
        --------
        >>> import msm
        >>> s = msm.never(before=1) & msm.start_within(3)
        >>> [int(s.prescription(k, [False])[0]) for k in range(4)]
        [0, -1, 1, 1]
        """
        a = np.asarray(self.first.prescription(k, treated_before, since))
        b = np.asarray(self.second.prescription(k, treated_before, since))
        a, b = np.broadcast_arrays(a, b)
        return np.where(a == FREE, b, a).astype(np.int8)

    @property
    def columns(self) -> tuple:
        return tuple(dict.fromkeys([*self.first.columns, *self.second.columns]))

    @property
    def last_prescribed(self) -> int:
        return max(self.first.last_prescribed or 0, self.second.last_prescribed or 0)

    @property
    def description(self) -> str:
        """The strategy in words, for a protocol table."""
        parts = [getattr(p, "description", repr(p)) for p in (self.first, self.second)]
        return " and ".join(parts)

    def __repr__(self) -> str:
        return f"{self.first!r} & {self.second!r}"


@dataclass(frozen=True)
class StartWhen(Strategy):
    """Start within ``grace`` intervals of an indication, not before (``start_when``)."""

    column: str
    grace: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise ValueError(f"column must name a 0/1 column, got {self.column!r}")
        _positive("grace", self.grace)

    @property
    def columns(self) -> tuple:
        return (self.column,)

    @property
    def last_prescribed(self) -> int:
        return self.grace - 1

    def prescription(self, k, treated_before, since=None) -> np.ndarray:
        """Treatment prescribed at interval ``k``, given the intervals since the indication.

        Parameters
        ----------
        k : int or array_like of int
            Interval since time zero.
        treated_before : array_like of bool
            On treatment in some interval before ``k``.
        since : dict
            ``{column: intervals since column was first 1, at or before k (-1: not yet)}``.

        Returns
        -------
        numpy.ndarray of int8
            0 before the indication (must not start), ``FREE`` in its first ``grace - 1``
            intervals, 1 from then on and once treated.

        Examples
        --------
        >>> import numpy as np, msm
        >>> s = msm.start_when("flare", grace=2)
        >>> s.prescription(3, [False, False, False, True],
        ...                {"flare": np.array([-1, 0, 1, -1])}).tolist()
        [0, -1, 1, 1]
        """
        if since is None or self.column not in since:
            raise ValueError(
                f"{self!r} is a dynamic strategy: its prescription needs the intervals since "
                f"{self.column!r} was first 1"
            )
        k, before, s = np.broadcast_arrays(
            np.asarray(k), np.asarray(treated_before, dtype=bool), np.asarray(since[self.column])
        )
        rx = np.where(s < 0, 0, np.where(s >= self.grace - 1, 1, FREE))
        return np.where(before, 1, rx).astype(np.int8)

    @property
    def description(self) -> str:
        """The strategy in words, for a protocol table."""
        if self.grace == 1:
            return f"start at the first interval with {self.column!r} = 1, not before"
        return (
            f"start within {self.grace} intervals of the first interval with "
            f"{self.column!r} = 1 (natural start in its first {self.grace - 1}), not before"
        )

    def __repr__(self) -> str:
        extra = "" if self.grace == 1 else f", grace={self.grace}"
        return f"start_when({self.column!r}{extra})"


def _since_first(strategy: Strategy, shape: tuple, columns) -> dict:
    """For ``follows``: each column of a dynamic strategy as intervals since its first 1."""
    if not strategy.columns:
        return {}
    columns = columns or {}
    missing = [c for c in strategy.columns if c not in columns]
    if missing:
        raise ValueError(f"{strategy!r} reads the column(s) {missing}: pass columns={{...}}")
    out = {}
    for c in strategy.columns:
        v = np.atleast_2d(np.asarray(columns[c]))
        if v.shape != shape or not np.isin(v, (0, 1)).all():
            raise ValueError(f"columns[{c!r}] must be 0/1 shaped like history {shape}")
        out[c] = intervals_since_first(v.astype(bool))
    return out


def intervals_since_first(flag: np.ndarray) -> np.ndarray:
    """Along the last axis: intervals since ``flag`` was first True (-1 before).

    Examples
    --------
    >>> intervals_since_first(np.array([[0, 1, 0, 1], [0, 0, 0, 0]], dtype=bool)).tolist()
    [[-1, 0, 1, 2], [-1, -1, -1, -1]]
    """
    flag = np.asarray(flag, dtype=bool)
    n = flag.shape[-1]
    first = np.where(flag.any(axis=-1), flag.argmax(axis=-1), n)
    k = np.arange(n)
    since = k - first[..., None]
    return np.where(since >= 0, since, -1)


def start_within(grace: int) -> StartWithin:
    """The strategy "start treatment within ``grace`` intervals of time zero".

    Its estimand is the regime "natural start in intervals 0 .. grace-2, and anyone still
    untreated starts at grace-1": patients may start (or not) as they would in intervals
    0 .. grace-2, must be on treatment from interval grace-1 on, and stay on once started.
    ``start_within(1)`` starts everybody at time zero.

    Parameters
    ----------
    grace : int
        The number of intervals (>= 1), counted from time zero (interval 0).

    Returns
    -------
    StartWithin

    Examples
    --------
    >>> import msm
    >>> s = msm.start_within(3)
    >>> s
    start_within(3)
    >>> s.follows([0, 1, 1]).tolist(), s.follows([0, 0, 0]).tolist()
    ([True, True, True], [True, True, False])
    """
    return StartWithin(grace)


def never(before: int | None = None) -> Never:
    """The strategy "do not start treatment" (in intervals 0 .. before-1, or ever).

    Parameters
    ----------
    before : int, optional
        Untreated in intervals 0 .. before-1 since time zero (e.g. 12 for "no IVIG in the
        first year" with monthly intervals) and free after; None (the default): never.

    Returns
    -------
    Never

    Examples
    --------
    >>> import msm
    >>> msm.never(), msm.never(before=12)
    (never(), never(before=12))
    >>> msm.never(before=2).follows([0, 0, 1]).tolist()
    [True, True, True]
    >>> msm.never().follows([0, 0, 1]).tolist()
    [True, True, False]
    """
    return Never(before)


def start_when(column: str, grace: int = 1) -> StartWhen:
    """The dynamic strategy "start within ``grace`` intervals of the indication, not before".

    The indication is the first interval (since time zero) where the 0/1 ``column`` is 1,
    e.g. a flare, or a column the user makes such as ``pga >= 5``.  Before it treatment is
    withheld; in its first ``grace - 1`` intervals the natural course decides; from interval
    ``grace - 1`` after it anyone still untreated starts; treatment stays on once started.

    Parameters
    ----------
    column : str
        The 0/1 indication column of the data.
    grace : int
        Intervals (>= 1) from the indication; 1: start at the indication.

    Returns
    -------
    StartWhen

    Examples
    --------
    >>> import msm
    >>> s = msm.start_when("flare")
    >>> s, s.columns
    (start_when('flare'), ('flare',))
    >>> s.follows([0, 0, 1, 1], columns={"flare": [0, 0, 1, 0]}).tolist()
    [True, True, True, True]
    >>> s.follows([0, 1, 1, 1], columns={"flare": [0, 0, 1, 0]}).tolist()
    [True, False, False, False]
    """
    return StartWhen(column, grace)
