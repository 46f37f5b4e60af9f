"""Benchmark: collecting per-record results side by side with the usual alternatives, at simulated latencies.

Against the local Runtype in its own process, for one finished run of N records (100 per page), at each simulated
network latency (``latency_seconds`` of ``runtype-local``: every API answer waits that long; 0 is bare loopback):

* sequential loop: a keep-alive ``requests.Session`` over the batch-results pages that only runs ``json.loads`` on
  each body (the floor of any sequential client: no models, no output);
* HttpOperator (``apache-airflow-providers-http``) with a ``pagination_function`` on ``offset``, as it naturally
  runs: its hook requests every page, the operator keeps every response, and a ``response_filter`` writes the same
  per-record outcomes as ours to a JSON Lines file;
* the hook's iterator (typed models; pages after the first fetched up to ``max_concurrent_pages`` at a time);
* ``RuntypeScheduleRunResultsOperator`` in file mode (per-record outcomes, summary, atomic JSON Lines file).

Rounds are interleaved (every latency and method once per round, the order rotated each round). For each it
prints rows/s (median), its ratios to the sequential loop's and to HttpOperator's rows/s, min / median / max wall
time and the median CPU time of this process (all threads); every count is counted (rows iterated, lines in the
written file). At 30 ms and more the two sequential clients read N/10 records (one page at a time, their rows/s
does not depend on N). Then peak traced memory (``tracemalloc``) of each method at N/10 and N records on loopback,
and a plot of rows/s against latency for the sequential loop, HttpOperator and the results operator
(``docs/perf/rows_per_second_vs_latency.svg``). Loopback only; about 2 minutes with the defaults on 2 cores.

Usage: python scripts/bench_results.py [--records 20000] [--rounds 3] [--latencies 0,0.01,0.03,0.1] [--plot PATH]
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
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")  # not "execute called outside of the Task Runner"

from bench_common import finished_run, local_runtype_process, set_latency, use_connection, write_line_plot

LOOP, HTTP, HOOK, OPERATOR = "sequential loop", "HttpOperator", "hook iterator", "results operator"
METHODS = (LOOP, HTTP, HOOK, OPERATOR)
SEQUENTIAL = (LOOP, HTTP)
SLOW_LATENCY = 0.03
"""From this latency on, the sequential clients read N/10 records."""
PLOT = Path(__file__).resolve().parent.parent / "docs" / "perf" / "rows_per_second_vs_latency.svg"


def measure(action: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, rows counted)."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = action()
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latencies", default="0,0.01,0.03,0.1", help="comma-separated seconds per answer")
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args()
    latencies = [float(value) for value in args.latencies.split(",")]

    import requests
    from airflow.providers.http.operators.http import HttpOperator

    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator
    from runtype_provider.runs.reference import RunReference

    with local_runtype_process() as (server_url, api_key):
        use_connection(server_url, api_key)
        os.environ["AIRFLOW_CONN_HTTP_RUNTYPE"] = json.dumps({"conn_type": "http", "host": server_url})
        runs = {args.records: finished_run(server_url, args.records, "sch_bench")}
        small = args.records // 10
        runs[small] = finished_run(server_url, small, "sch_bench_small")
        out_dir = Path(tempfile.mkdtemp(prefix="bench-results-out-"))
        auth = {"Authorization": f"Bearer {api_key}"}

        def endpoint(records: int) -> str:
            return f"/v1/schedules/batch/{runs[records]['batch_execution_id']}/results"

        def sequential_loop(records: int) -> int:
            rows, offset = 0, 0
            with requests.Session() as session:
                session.headers.update(auth)
                while True:
                    response = session.get(
                        server_url + endpoint(records), params={"limit": "100", "offset": str(offset)}, timeout=30
                    )
                    response.raise_for_status()
                    page = json.loads(response.content)
                    for _ in page["data"]:
                        rows += 1
                    offset += len(page["data"])
                    if not page["pagination"]["hasMore"] or not page["data"]:
                        return rows

        def http_operator(records: int) -> int:
            target = out_dir / "http.jsonl"

            def next_page(response: Any) -> dict[str, Any] | None:
                page = response.json()
                if not page["pagination"]["hasMore"] or not page["data"]:
                    return None
                return {"data": {"offset": page["pagination"]["offset"] + len(page["data"])}}

            def write_rows(responses: list[Any]) -> dict[str, Any]:
                with target.open("w") as handle:
                    for response in responses:
                        for r in response.json()["data"]:
                            outcome = {
                                "record_id": r["recordId"],
                                "record_name": (r.get("record") or {}).get("name"),
                                "status": r.get("status"),
                                "error": r.get("error"),
                                "executed_at": r.get("executedAt"),
                                "failed_at": r.get("failedAt"),
                                "result_id": r.get("recordResultId"),
                            }
                            handle.write(json.dumps(outcome) + "\n")
                return {"path": str(target)}

            op = HttpOperator(
                task_id="http_results",
                http_conn_id="http_runtype",
                method="GET",
                endpoint=endpoint(records),
                data={"limit": 100, "offset": 0},
                headers=auth,
                pagination_function=next_page,
                response_filter=write_rows,
                log_response=False,
            )
            op.execute({"ti": MagicMock()})
            return count_lines(target)

        def hook_iterator(records: int) -> int:
            hook = RuntypeHook()
            try:
                return sum(1 for _ in hook.iter_run_results(RunReference.coerce(runs[records])))
            finally:
                hook.close()

        def results_operator(records: int) -> int:
            target = out_dir / "operator.jsonl"
            op = RuntypeScheduleRunResultsOperator(task_id="results", run=runs[records], output_path=f"file://{target}")
            result = op.execute({"ti": MagicMock()})
            lines = count_lines(target)
            assert lines == result["row_count"], (lines, result["row_count"])
            return lines

        actions = dict(zip(METHODS, (sequential_loop, http_operator, hook_iterator, results_operator), strict=True))

        def records_for(name: str, latency: float) -> int:
            return small if name in SEQUENTIAL and latency >= SLOW_LATENCY else args.records

        # Untimed check, once: every record exactly once and in order, from the hook and in both written files, and
        # the same bytes in the HttpOperator's file as in ours (same outcomes, same json.dumps format).
        set_latency(server_url, api_key, 0)
        expected_ids = [f"sch_bench_rec_{i:06d}" for i in range(args.records)]
        assert [r.record_id for r in RuntypeHook().iter_run_results(RunReference.coerce(runs[args.records]))] == (
            expected_ids
        )
        for name in (HTTP, OPERATOR):
            assert actions[name](args.records) == args.records
        with (out_dir / "operator.jsonl").open() as handle:
            assert [json.loads(line)["record_id"] for line in handle] == expected_ids
        assert (out_dir / "operator.jsonl").read_bytes() == (out_dir / "http.jsonl").read_bytes()

        timings: dict[tuple[float, str], list[tuple[float, float, int]]] = {}
        started = time.perf_counter()
        for round_number in range(args.rounds):
            shift = round_number % len(METHODS)
            order = METHODS[shift:] + METHODS[:shift]
            for latency in latencies:
                set_latency(server_url, api_key, latency)
                for name in order:
                    records = records_for(name, latency)
                    wall, cpu, rows = measure(lambda: actions[name](records))  # noqa: B023
                    assert rows == records, (name, latency, rows)
                    timings.setdefault((latency, name), []).append((wall, cpu, rows))
        timed = time.perf_counter() - started
        set_latency(server_url, api_key, 0)

        peaks: dict[str, dict[int, int]] = {}
        for name in METHODS:
            for records in (small, args.records):
                tracemalloc.start()
                assert actions[name](records) == records
                peaks.setdefault(name, {})[records] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()

        cores = os.cpu_count()
        bound = RuntypeHook().settings.max_concurrent_pages
        print(
            f"Results collection: {args.records} records, 100 per page, {args.rounds} interleaved rounds "
            f"({timed:.0f} s), {cores} cores, runtype-local in its own process, max_concurrent_pages {bound}. "
            f"At {SLOW_LATENCY * 1000:.0f} ms and more the sequential loop and HttpOperator read {small} records "
            "(one page at a time: rows/s does not depend on N); 'vs loop' and 'vs Http' compare rows/s."
        )
        print(
            f"  {'latency':>7s}  {'method':17s} {'records':>7s} {'rows/s':>7s} {'vs loop':>7s} {'vs Http':>7s} "
            f"{'wall min / median / max (s)':>27s} {'CPU (s)':>7s}"
        )
        rates: dict[str, list[float]] = {name: [] for name in METHODS}
        for latency in latencies:
            per_row = {name: statistics.median(w / r for w, _, r in timings[(latency, name)]) for name in METHODS}
            for name in METHODS:
                walls = [wall for wall, _, _ in timings[(latency, name)]]
                rate = 1 / per_row[name]
                rates[name].append(rate)
                cpu = statistics.median(cpu for _, cpu, _ in timings[(latency, name)])
                print(
                    f"  {latency * 1000:5.0f}ms  {name:17s} {records_for(name, latency):7d} {rate:7.0f} "
                    f"{per_row[LOOP] / per_row[name]:6.2f}x {per_row[HTTP] / per_row[name]:6.2f}x "
                    f"{min(walls):7.2f} / {statistics.median(walls):6.2f} / "
                    f"{max(walls):6.2f}   {cpu:7.2f}"
                )
        print(f"  peak traced memory (tracemalloc, loopback), {small} -> {args.records} records:")
        for name in METHODS:
            low, high = peaks[name][small], peaks[name][args.records]
            print(f"    {name:17s} {low / 1e6:6.1f} MB -> {high / 1e6:6.1f} MB  (x{high / low:.1f} for 10x the rows)")

        plotted = (LOOP, HTTP, OPERATOR)
        write_line_plot(
            args.plot,
            title=f"Rows per second vs simulated latency ({args.records:,} records, {cores} cores)",
            x_label="simulated latency per request (ms)",
            y_label="rows per second (median of interleaved rounds)",
            xs=[latency * 1000 for latency in latencies],
            series={name: rates[name] for name in plotted},
        )
        print(f"  plot: {args.plot}")


if __name__ == "__main__":
    main()
