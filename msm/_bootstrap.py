"""The engine of ``msm.bootstrap``: draw whole clusters, run replicates, in parallel or not.

Private.  Replicate ``b`` draws its clusters from its own ``SeedSequence`` child, so the
draws do not depend on which process runs it.  Rows are drawn with numpy index arrays (one
``DataFrame.take`` per replicate); worker processes (joblib's loky backend) receive the data
with each chunk of replicates, keep the first copy they receive (``origin_for``), and run
numba kernels on ``cpus // workers`` threads.

Provenance.  Every resampled frame is registered (``register_resample``) with the original
data and the rows it was gathered from, so work that depends on the data only row by row
can be done once on the original and gathered for each replicate: ``msm._formula`` gathers
the rows of a formula's design built once on the original (``Origin.designs``), after
checking that every column the formula reads is still the original's rows (a statistic may
change its frame).  A frame derived from a resample (``frame.assign(...)``, ``frame.copy()``)
is not registered and takes the ordinary path.
"""

from __future__ import annotations

import math
import uuid
import warnings
import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(eq=False)
class Origin:
    """The original data of a bootstrap and what has been computed once on it.

    ``designs`` belongs to ``msm._formula`` (formula key -> the design on ``data`` and the
    columns it was built from, or None where replicates must build their own).
    """

    data: pd.DataFrame
    designs: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Provenance:
    """Where a resampled frame came from: row ``i`` is row ``rows[i]`` of ``origin.data``,
    except that the ``cluster`` column is relabelled by draw."""

    origin: Origin
    rows: np.ndarray
    cluster: str


_REGISTRY: dict[int, tuple[weakref.ref, Provenance]] = {}


def register_resample(frame: pd.DataFrame, provenance: Provenance) -> None:
    """Record ``frame``'s provenance for as long as ``frame`` lives."""
    key = id(frame)
    _REGISTRY[key] = (weakref.ref(frame), provenance)
    weakref.finalize(frame, _REGISTRY.pop, key, None)


def provenance_of(frame) -> Provenance | None:
    """The provenance of a frame made by ``Resampler.resample``, else None."""
    entry = _REGISTRY.get(id(frame))
    if entry is None or entry[0]() is not frame:
        return None
    return entry[1]


_ORIGINS: dict[str, Origin] = {}  # in this process (a worker): token -> its first copy


def origin_for(token: str, data: pd.DataFrame) -> Origin:
    """The ``Origin`` of a bootstrap run (``token``): made from the first copy of the data
    this process receives, so a worker keeps its designs across chunks of replicates."""
    origin = _ORIGINS.get(token)
    if origin is None:
        while len(_ORIGINS) >= 2:  # earlier runs in this process
            _ORIGINS.pop(next(iter(_ORIGINS)))
        origin = _ORIGINS[token] = Origin(data)
    return origin


@dataclass(frozen=True, eq=False)
class Resampler:
    """The caller's rows grouped by cluster, to draw whole clusters with index arrays."""

    rows: np.ndarray  # caller row positions, grouped by cluster
    starts: np.ndarray  # cluster g owns rows[starts[g]:starts[g + 1]]; length G + 1
    cluster: str

    @classmethod
    def from_data(cls, data: pd.DataFrame, cluster: str) -> Resampler:
        codes, uniques = pd.factorize(data[cluster], sort=False)
        rows = np.argsort(codes, kind="stable").astype(np.int64)
        counts = np.bincount(codes, minlength=len(uniques))
        starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(rows=rows, starts=starts, cluster=cluster)

    @property
    def n_clusters(self) -> int:
        return self.starts.size - 1

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of one resample, and the new cluster label (draw number) of each."""
        g = self.n_clusters
        drawn = rng.integers(0, g, size=g)
        lengths = self.starts[drawn + 1] - self.starts[drawn]
        ends = np.cumsum(lengths)
        offsets = np.repeat(self.starts[drawn] - (ends - lengths), lengths)
        positions = np.arange(ends[-1], dtype=np.int64) + offsets
        return self.rows[positions], np.repeat(np.arange(g, dtype=np.int64), lengths)

    def resample(
        self, data: pd.DataFrame, rng: np.random.Generator, origin: Origin | None = None
    ) -> pd.DataFrame:
        """A new frame: the drawn clusters' rows, relabelled 0 .. G-1 by draw, RangeIndex.

        With ``origin`` (whose ``data`` holds the same values as ``data``) the frame is
        registered as a resample of it (``provenance_of``).
        """
        rows, labels = self.draw(rng)
        frame = data.take(rows)
        frame.index = pd.RangeIndex(rows.size)
        frame[self.cluster] = labels
        if origin is not None:
            register_resample(frame, Provenance(origin, rows, self.cluster))
        return frame


@dataclass(frozen=True)
class Outcome:
    """One replicate: its values, or why it failed; other warnings it raised."""

    replicate: int
    values: np.ndarray | None  # None: failed
    error: tuple[str, str] | None  # (exception or warning class, message)
    warnings: tuple[tuple[str, str], ...]


def run_replicates(
    statistic, name, data, resampler, children, keys, fail_on, n_workers, progress
) -> list[Outcome]:
    """All replicates, in replicate order, with a progress bar; ``n_workers`` processes."""
    from tqdm.auto import tqdm

    tasks = list(enumerate(children))
    outcomes: list[Outcome] = []
    token = uuid.uuid4().hex
    with tqdm(total=len(tasks), desc="bootstrap", unit="replicate", disable=not progress) as bar:
        if n_workers == 1:
            try:
                for task in tasks:
                    outcomes.extend(
                        _run_chunk(
                            statistic, name, data, resampler, [task], keys, fail_on, None, token
                        )
                    )
                    bar.update(1)
            finally:
                _ORIGINS.pop(token, None)
        else:
            size = max(1, math.ceil(len(tasks) / (n_workers * 10)))
            chunks = [tasks[i : i + size] for i in range(0, len(tasks), size)]
            threads = worker_threads(n_workers)

            def call(chunk):
                return (
                    _run_chunk,
                    statistic,
                    name,
                    data,
                    resampler,
                    chunk,
                    keys,
                    fail_on,
                    threads,
                    token,
                )

            for done in in_workers(map(call, chunks), n_workers):
                outcomes.extend(done)
                bar.update(len(done))
    outcomes.sort(key=lambda o: o.replicate)
    return outcomes


def worker_threads(n_workers: int) -> int:
    """Numba threads per worker process: the CPUs shared out (at least 1)."""
    from joblib import cpu_count

    return max(1, cpu_count() // n_workers)


def limit_threads(threads: int | None) -> None:
    """In a worker process: run numba kernels on at most ``threads`` threads."""
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def in_workers(calls, n_workers: int):
    """Run ``(function, *arguments)`` calls in ``n_workers`` loky processes; yield each
    call's result as it finishes (any order).  Functions and arguments travel with
    cloudpickle, so lambdas and local functions work."""
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_workers, backend="loky", return_as="generator_unordered")
    yield from parallel(delayed(function)(*arguments) for function, *arguments in calls)


@dataclass(frozen=True)
class TaskOutcome:
    """One task of ``run_tasks``: its value, or why it failed; the warnings it raised."""

    task: int
    value: object  # None when failed
    error: tuple[str, str] | None  # (exception class, message)
    warnings: tuple[tuple[str, str], ...]


def _run_task(function, task: int, argument, threads) -> TaskOutcome:
    limit_threads(threads)
    error = value = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = function(argument)
        except Exception as exc:  # a task may fail in any way; it is recorded
            error = (type(exc).__name__, str(exc))
    seen = tuple(dict.fromkeys((w.category.__name__, str(w.message)) for w in caught))
    return TaskOutcome(task, value, error, seen)


def run_tasks(function, arguments: list, n_workers: int, progress: bool, desc: str, unit: str):
    """``function(argument)`` for each argument, in order, with a progress bar, in
    ``n_workers`` processes (1: this one); failures and warnings recorded, never raised."""
    from tqdm.auto import tqdm

    outcomes = []
    with tqdm(total=len(arguments), desc=desc, unit=unit, disable=not progress) as bar:
        if n_workers == 1:
            for i, argument in enumerate(arguments):
                outcomes.append(_run_task(function, i, argument, None))
                bar.update(1)
        else:
            threads = worker_threads(n_workers)
            calls = ((_run_task, function, i, a, threads) for i, a in enumerate(arguments))
            for done in in_workers(calls, n_workers):
                outcomes.append(done)
                bar.update(1)
    outcomes.sort(key=lambda o: o.task)
    return outcomes


def _run_chunk(statistic, name, data, resampler, tasks, keys, fail_on, threads=None, token=None):
    """Run ``tasks`` (pairs of replicate number and SeedSequence); also in worker processes.

    ``token`` names the run: the chunks of one run share an ``Origin`` in each process.
    """
    limit_threads(threads)
    origin = None if token is None else origin_for(token, data)
    if origin is not None:
        data = origin.data
    out = []
    for b, child in tasks:
        frame = resampler.resample(data, np.random.default_rng(child), origin)
        error = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                flat = flatten(statistic(frame), name)
            except Exception as exc:  # a replicate may fail in any way; it is recorded
                error = (type(exc).__name__, str(exc))
        failing = [w for w in caught if issubclass(w.category, fail_on)]
        others = tuple(
            dict.fromkeys(
                (w.category.__name__, str(w.message))
                for w in caught
                if not issubclass(w.category, fail_on)
            )
        )
        if error is None and failing:
            error = (failing[0].category.__name__, str(failing[0].message))
        if error is None and not flat.index.equals(keys):
            error = ("LabelMismatch", _label_mismatch(flat.index, keys))
        values = None if error is not None else flat.to_numpy(dtype=np.float64)
        out.append(Outcome(b, values, error, others))
    return out


def flatten(value, name: str) -> pd.Series:
    """A statistic's value as a float Series (a DataFrame stacked row by row)."""
    if isinstance(value, pd.DataFrame):
        n_rows, n_cols = value.shape
        idx, cols = value.index, value.columns
        arrays = [idx.get_level_values(i).repeat(n_cols) for i in range(idx.nlevels)]
        arrays.append(pd.Index(np.tile(cols.to_numpy(dtype=object), n_rows)))
        names = [*idx.names, cols.name if cols.name is not None else "column"]
        index = pd.MultiIndex.from_arrays(arrays, names=names)
        raw = value.to_numpy().reshape(-1)
    elif isinstance(value, pd.Series):
        index, raw = value.index, value.to_numpy()
    elif np.ndim(value) == 0 and not isinstance(value, str):
        index, raw = pd.Index([name]), np.asarray([value])
    else:
        raise TypeError(
            "statistic must return a number, a pandas Series or a DataFrame of numbers, got "
            f"{type(value).__name__}"
        )
    try:
        numbers = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"statistic must return numbers; got values of dtype {np.asarray(raw).dtype}"
        ) from None
    return pd.Series(numbers, index=index, name="estimate")


def label(key) -> str:
    """An entry's label for messages (``"always/3/risk"`` for a tuple)."""
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _label_mismatch(got: pd.Index, expected: pd.Index) -> str:
    missing = expected.difference(got)
    extra = got.difference(expected)
    parts = []
    if len(missing):
        parts.append(f"missing {', '.join(label(k) for k in missing[:3])}")
    if len(extra):
        parts.append(f"extra {', '.join(label(k) for k in extra[:3])}")
    what = "; ".join(parts) or "same labels in another order"
    return f"the statistic's labels differ from the estimate's ({what})"


def warning_table(outcomes: list[Outcome]) -> pd.DataFrame:
    """Non-failing warnings: category, message and the number of replicates that raised it."""
    counts: dict[tuple[str, str], int] = {}
    for outcome in outcomes:
        for key in outcome.warnings:
            counts[key] = counts.get(key, 0) + 1
    return pd.DataFrame(
        [(cat, msg, n) for (cat, msg), n in counts.items()],
        columns=["category", "message", "replicates"],
    )


def resolve_n_jobs(n_jobs: int | None, n_boot: int) -> int:
    """Worker count: None or -1 all CPUs, -2 all but one, ...; at most ``n_boot``."""
    from joblib import cpu_count

    cpus = cpu_count()
    if n_jobs is None:
        n = cpus
    elif isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}")
    elif n_jobs < 0:
        n = max(1, cpus + 1 + int(n_jobs))
    else:
        n = int(n_jobs)
    return max(1, min(n, n_boot))
