"""Weights and a pooled logistic MSM on a parquet dataset larger than a worker's memory.

Generates ``--rows`` person-intervals on disk in blocks of subjects (never all in memory; each
block is ``msm.datasets.simulate_panel`` with its own seed and shifted ids, one parquet file
per block, so every subject sits in one partition), then runs ``msm.iptw`` and ``msm.glm``
(robust variance clustered by subject) on a LocalCluster whose workers have a memory limit
well below the data size, sampling each worker's memory.  For comparison it runs the same
analysis in memory (pandas) on the largest size up to ``--in-memory-rows``.

    python benchmarks/dask_scale.py --quick          # 1e6 rows
    python benchmarks/dask_scale.py --rows 5e7       # the issue's size (disk: ~2.5 GB)

Prints a table and writes ``benchmarks/results/dask_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

import msm

VISITS = 10
SUBJECTS_PER_FILE = 100_000  # 1e6 rows per file
KW = dict(
    id="id",
    time="time",
    treatment="a",
    denominator="x + l + time",
    numerator="x + time",
    absorbing=True,
    censor="lost",
)
MSM_FORMULA = "y ~ a + time"


def generate(directory: Path, rows: int) -> tuple[int, float]:
    """Write about ``rows`` person-intervals as parquet files of whole subjects."""
    directory.mkdir(parents=True, exist_ok=True)
    n_subjects = int(np.ceil(rows / VISITS))
    written = 0
    for k, first in enumerate(range(0, n_subjects, SUBJECTS_PER_FILE)):
        size = min(SUBJECTS_PER_FILE, n_subjects - first)
        block = msm.datasets.simulate_panel(
            n_subjects=size, n_visits=VISITS, seed=k, censor_coefs=(-3.5, 0.3)
        )
        block["id"] += first
        block.to_parquet(directory / f"part-{k:05d}.parquet", index=False)
        written += len(block)
    size_gb = sum(f.stat().st_size for f in directory.glob("*.parquet")) / 1e9
    return written, size_gb


class MemorySampler:
    """Peak memory (RSS as reported to the scheduler) of each worker, sampled every 0.2 s."""

    def __init__(self, client):
        self.client = client
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for address, info in self.client.scheduler_info()["workers"].items():
                memory = info["metrics"]["memory"] / 1e9
                self.peak[address] = max(self.peak.get(address, 0.0), memory)
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def analysis(data):
    w = msm.iptw(data, **KW)
    fit = msm.glm(MSM_FORMULA, data, weights=w, cluster="id", family="binomial")
    return w, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=5e7)
    parser.add_argument("--quick", action="store_true", help="1e6 rows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1.5GB", help="per worker")
    parser.add_argument("--in-memory-rows", type=float, default=1e7)
    parser.add_argument("--dir", default=None, help="where to write the parquet files")
    args = parser.parse_args()
    rows = int(1e6 if args.quick else args.rows)

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    root = Path(args.dir or tempfile.mkdtemp(prefix="msm_dask_scale_"))
    try:
        t0 = time.perf_counter()
        n_rows, size_gb = generate(root / "data", rows)
        t_generate = time.perf_counter() - t0
        results = {"rows": n_rows, "parquet_gb": size_gb, "generate_s": t_generate}

        with (
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=args.memory_limit,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            frame = dd.read_parquet(str(root / "data"))
            with MemorySampler(client) as sampler:
                t0 = time.perf_counter()
                w, fit = analysis(frame)
                t_dask = time.perf_counter() - t0
            results.update(
                dask_s=t_dask,
                workers=args.workers,
                memory_limit=args.memory_limit,
                peak_worker_gb=sorted(sampler.peak.values()),
                params=fit.params.tolist(),
                bse=fit.bse.tolist(),
                shuffled=w.shuffled,
            )

        in_memory_rows = min(n_rows, int(args.in_memory_rows))
        files = sorted((root / "data").glob("*.parquet"))
        if in_memory_rows >= n_rows:  # everything fits: the same data, side by side
            take = files
        else:  # files hold at most SUBJECTS_PER_FILE * VISITS rows (fewer after censoring)
            take = files[: max(1, int(np.ceil(in_memory_rows / (SUBJECTS_PER_FILE * VISITS))))]
        data = pd.concat([pd.read_parquet(f) for f in take], ignore_index=True)
        t0 = time.perf_counter()
        _, fit_mem = analysis(data)
        t_mem = time.perf_counter() - t0
        results.update(in_memory_rows=len(data), in_memory_s=t_mem)
        if len(data) == n_rows:
            rel = np.max(np.abs(fit_mem.params.to_numpy() / fit.params.to_numpy() - 1))
            results["max_rel_diff_params"] = float(rel)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)

    table = pd.DataFrame(
        {
            "rows": [results["rows"], results["in_memory_rows"]],
            "engine": [f"dask LocalCluster {args.workers}x{args.memory_limit}", "in memory"],
            "seconds": [results["dask_s"], results["in_memory_s"]],
            "peak GB per worker": [max(results["peak_worker_gb"]), np.nan],
        }
    )
    print(f"parquet: {results['parquet_gb']:.2f} GB, generated in {t_generate:.1f} s")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if "max_rel_diff_params" in results:
        print(f"max relative difference in MSM params: {results['max_rel_diff_params']:.2e}")
    out = Path(__file__).parent / "results" / "dask_scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
