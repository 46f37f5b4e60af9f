"""Benchmark: collecting per-record results at scale, against the local Runtype on loopback.

For one finished run of N records it measures, in the same process and run:

* baseline: the least any client can do, a bare ``requests.Session`` loop over the batch-results pages
  (100 rows a page) that only decodes the JSON;
* the provider: ``RuntypeScheduleRunResultsOperator`` in file mode (typed models, per-record outcomes,
  summary, JSON Lines written through ``ObjectStoragePath``), and the hook's iterator alone.

It prints rows per second and the ratio of each to the baseline (lower is better; 1.0 = no overhead),
then the operator's peak traced memory at N/10 and N records (flat streaming gives a ratio near 1,
accumulating rows gives about 10). The local Runtype runs in its own process (``runtype-local``), so
neither the timings nor the traced memory include the server. Best of ``--repeat`` timings. Loopback
only; stops by itself.

Usage: python scripts/bench_results.py [--records 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-results-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from bench_common import finished_run, local_runtype_process, use_connection


def best_of(repeat: int, action: Callable[[], int]) -> tuple[float, int]:
    timings, rows = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = action()
        timings.append(time.perf_counter() - start)
    return min(timings), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import requests

    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.models.runs import RunReference
    from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator

    with local_runtype_process() as (server_url, api_key):
        use_connection(server_url, api_key)
        run = finished_run(server_url, args.records, "sch_bench")
        url = f"{server_url}/v1/schedules/batch/{run['batch_execution_id']}/results"
        out_dir = Path(tempfile.mkdtemp(prefix="bench-results-out-"))

        def baseline() -> int:
            rows, offset = 0, 0
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {api_key}"
                while True:
                    page = session.get(url, params={"limit": "100", "offset": str(offset)}, timeout=30).json()
                    rows += len(page["data"])
                    offset += len(page["data"])
                    if not page["pagination"]["hasMore"] or not page["data"]:
                        return rows

        def hook_iterator() -> int:
            reference = RunReference.coerce(run)
            return sum(1 for _ in RuntypeHook().iter_run_results(reference, page_size=100))

        def operator(path: Path | None = None, reference: dict[str, Any] = run) -> int:
            target = path or out_dir / "rows.jsonl"
            op = RuntypeScheduleRunResultsOperator(task_id="results", run=reference, output_path=f"file://{target}")
            result = op.execute({"ti": MagicMock()})
            return int(result["row_count"])

        measurements = {
            "baseline (bare requests + json)": best_of(args.repeat, baseline),
            "hook iterator (typed models)": best_of(args.repeat, hook_iterator),
            "results operator, file mode": best_of(args.repeat, operator),
        }
        base_seconds = measurements["baseline (bare requests + json)"][0]
        print(f"{args.records} records, 100 per page, best of {args.repeat}, loopback local Runtype")
        for name, (seconds, rows) in measurements.items():
            assert rows == args.records, (name, rows)
            print(f"  {name:34s} {seconds:7.3f} s  {rows / seconds:9.0f} rows/s  ratio {seconds / base_seconds:5.2f}")

        small_run = finished_run(server_url, args.records // 10, "sch_bench_small")
        peaks = {}
        for label, reference, count in (("N/10", small_run, args.records // 10), ("N", run, args.records)):
            tracemalloc.start()
            assert operator(out_dir / f"peak-{label}.jsonl", reference) == count
            peaks[label] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        print(
            f"  peak traced memory, operator file mode: {peaks['N/10'] / 1e6:.1f} MB at {args.records // 10} records, "
            f"{peaks['N'] / 1e6:.1f} MB at {args.records} (ratio {peaks['N'] / peaks['N/10']:.2f} for 10x the rows)"
        )


if __name__ == "__main__":
    main()
