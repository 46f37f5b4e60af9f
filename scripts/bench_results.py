"""Benchmark: collecting per-record results at real-world latency, against the local Runtype in its own process.

For one finished run of N records (100 per page) it measures, in the same run, at each simulated network
latency (``latency_seconds`` of ``runtype-local``: every API answer waits that long; 0 is bare loopback):

* baseline: a sequential keep-alive ``requests.Session`` loop over the batch-results pages that only runs
  ``json.loads`` on each body (what the provider did before pages were fetched concurrently, minus all its work);
* the hook's iterator (typed models; pages after the first fetched up to ``max_concurrent_pages`` at a time);
* ``RuntypeScheduleRunResultsOperator`` in file mode (typed models, per-record outcomes, summary, JSON Lines
  written through ``ObjectStoragePath``).

Rounds are interleaved (every latency and method once per round, the order rotated each round). It prints the
min / median / max wall time, the median CPU time of this process (all threads), rows per second and the ratio
of the median wall time to the baseline's (the speedup is its inverse). Every count is counted: rows iterated,
lines in the written file. Then the operator's peak traced memory (``tracemalloc``) at N/10 and N records on
loopback, where pages arrive fastest and the read-ahead is fullest (flat streaming gives a ratio near 1,
accumulating rows about 10). The server runs in its own process, so neither timings nor memory include it.
Loopback only; stops by itself (about 2.5 minutes with the defaults on 2 cores).

Usage: python scripts/bench_results.py [--records 20000] [--rounds 3] [--latencies 0,0.03,0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-results-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from bench_common import finished_run, local_runtype_process, set_latency, use_connection

METHODS = ("baseline: requests + json.loads loop", "hook iterator", "results operator, file mode")


def measure(action: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, rows counted)."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = action()
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latencies", default="0,0.03,0.1", help="comma-separated seconds per answer")
    args = parser.parse_args()
    latencies = [float(value) for value in args.latencies.split(",")]

    import requests

    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.models.runs import RunReference
    from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator

    with local_runtype_process() as (server_url, api_key):
        use_connection(server_url, api_key)
        run = finished_run(server_url, args.records, "sch_bench")
        small_run = finished_run(server_url, args.records // 10, "sch_bench_small")
        url = f"{server_url}/v1/schedules/batch/{run['batch_execution_id']}/results"
        out_dir = Path(tempfile.mkdtemp(prefix="bench-results-out-"))
        expected_ids = [f"sch_bench_rec_{i:06d}" for i in range(args.records)]

        def baseline() -> int:
            rows, offset = 0, 0
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {api_key}"
                while True:
                    response = session.get(url, params={"limit": "100", "offset": str(offset)}, timeout=30)
                    response.raise_for_status()
                    page = json.loads(response.content)
                    for _ in page["data"]:
                        rows += 1
                    offset += len(page["data"])
                    if not page["pagination"]["hasMore"] or not page["data"]:
                        return rows

        def hook_iterator() -> int:
            hook = RuntypeHook()
            try:
                return sum(1 for _ in hook.iter_run_results(RunReference.coerce(run)))
            finally:
                hook.close()

        def operator(target: Path | None = None, reference: dict[str, Any] = run) -> int:
            target = target or out_dir / "rows.jsonl"
            op = RuntypeScheduleRunResultsOperator(task_id="results", run=reference, output_path=f"file://{target}")
            result = op.execute({"ti": MagicMock()})
            with target.open("rb") as handle:
                lines = sum(1 for _ in handle)
            assert lines == result["row_count"], (lines, result["row_count"])
            return lines

        # Untimed check, once: every record exactly once and in order, from the hook and in the operator's file.
        set_latency(server_url, api_key, 0)
        assert [r.record_id for r in RuntypeHook().iter_run_results(RunReference.coerce(run))] == expected_ids
        operator()
        with (out_dir / "rows.jsonl").open() as handle:
            assert [json.loads(line)["record_id"] for line in handle] == expected_ids

        actions = dict(zip(METHODS, (baseline, hook_iterator, operator), strict=True))
        timings: dict[tuple[float, str], list[tuple[float, float]]] = {}
        for round_number in range(args.rounds):
            order = METHODS[round_number % 3 :] + METHODS[: round_number % 3]
            for latency in latencies:
                set_latency(server_url, api_key, latency)
                for name in order:
                    wall, cpu, rows = measure(actions[name])
                    assert rows == args.records, (name, latency, rows)
                    timings.setdefault((latency, name), []).append((wall, cpu))
        set_latency(server_url, api_key, 0)

        print(
            f"{args.records} records, 100 per page, {args.rounds} interleaved rounds, runtype-local in its own "
            f"process; default max_concurrent_pages ({RuntypeHook().settings.max_concurrent_pages})"
        )
        print(
            f"  {'latency':>7s}  {'method':36s} {'wall min / median / max (s)':>27s} {'CPU (s)':>8s} "
            f"{'rows/s':>8s} {'ratio':>6s} {'speedup':>7s}"
        )
        for latency in latencies:
            base = statistics.median(wall for wall, _ in timings[(latency, METHODS[0])])
            for name in METHODS:
                walls = [wall for wall, _ in timings[(latency, name)]]
                median = statistics.median(walls)
                cpu = statistics.median(cpu for _, cpu in timings[(latency, name)])
                print(
                    f"  {latency * 1000:5.0f}ms  {name:36s} {min(walls):7.2f} / {median:6.2f} / {max(walls):6.2f}   "
                    f"{cpu:8.2f} {args.records / median:8.0f} {median / base:6.2f} {base / median:6.1f}x"
                )

        peaks = {}
        for label, reference, count in (("N/10", small_run, args.records // 10), ("N", run, args.records)):
            tracemalloc.start()
            assert operator(out_dir / f"peak-{label}.jsonl", reference) == count
            peaks[label] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        print(
            f"  peak traced memory, operator file mode (loopback): {peaks['N/10'] / 1e6:.1f} MB at "
            f"{args.records // 10} records, {peaks['N'] / 1e6:.1f} MB at {args.records} "
            f"(ratio {peaks['N'] / peaks['N/10']:.2f} for 10x the rows)"
        )


if __name__ == "__main__":
    main()
