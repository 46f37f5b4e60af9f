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
does not depend on N). The heap built before the timed passes is frozen (``gc.freeze``, as Airflow does before
forking): a full collection of Airflow's objects (0.2-0.3 s) would otherwise land on whichever method crossed the
threshold. Then peak traced memory (``tracemalloc``) of each method at N/10 and N records on loopback, and a plot
of rows/s against latency for the sequential loop, HttpOperator and the results operator
(``docs/perf/rows_per_second_vs_latency.svg``).

**Loopback against a fast server.** The local Runtype spends about 1-2 ms of CPU per 100-row page, which hides the
client's own cost. So the same pages, recorded from it, are also served by ``bench_server.py`` (raw sockets, pages
in memory; its CPU per page is measured from /proc and printed, beside the local Runtype's) to the sequential loop,
the results operator and a raw-socket keep-alive client (requests written and answers read by hand, ``json.loads``
per page: the ceiling of any Python client) on one connection, eight, and pipelined. Then the results operator's
peak traced memory at ``--memory-records``/100 and ``--memory-records`` rows, and the goal rows of issue 18
(``GOAL ...`` lines, collected by ``make bench`` into one table). Loopback only; about 3 minutes on 2 cores.

Usage: python scripts/bench_results.py [--records 20000] [--rounds 3] [--latencies 0,0.01,0.03,0.1] [--plot PATH]
       [--fast-rounds 5] [--memory-records 200000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import socket
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-results-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")  # not "execute called outside of the Task Runner"

from bench_common import (
    SERVER_PIDS,
    fast_results_server,
    finished_run,
    local_runtype_process,
    machine,
    process_cpu,
    record_goal,
    set_latency,
    use_connection,
    write_line_plot,
)

LOOP, HTTP, HOOK, OPERATOR = "sequential loop", "HttpOperator", "hook iterator", "results operator"
METHODS = (LOOP, HTTP, HOOK, OPERATOR)
RAW_ONE, RAW_EIGHT, RAW_PIPELINED = "raw socket, 1 connection", "raw socket, 8 connections", "raw socket, pipelined"
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


class RawResponses:
    """HTTP/1.1 answers read off one keep-alive socket by hand (``Content-Length`` bodies only)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def next_body(self) -> bytes:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        found = re.search(rb"(?i)content-length: *(\d+)", self.buffer[:end])
        assert found, bytes(self.buffer[:end])
        start, length = end + 4, int(found.group(1))
        while len(self.buffer) < start + length:
            self._fill()
        body = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        return body


def raw_socket_client(url: str, path: str, pages: int, api_key: str, *, connections: int, pipelined: bool) -> int:
    """The ceiling of any client: requests written and answers read by hand on keep-alive sockets, each page's
    rows counted after ``json.loads`` (no HTTP library, no models, no output). ``connections`` sockets take every
    ``connections``-th page each; ``pipelined`` writes all of a socket's requests before reading its answers."""
    host, port = url.removeprefix("http://").split(":")
    head = f" HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {api_key}\r\nAccept: application/json\r\n\r\n"

    def one(share: list[int]) -> int:
        rows = 0
        with socket.create_connection((host, int(port))) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            answers = RawResponses(sock)
            requests = [f"GET {path}?limit=100&offset={page * 100}{head}".encode() for page in share]
            if pipelined:
                sock.sendall(b"".join(requests))
            for request in requests:
                if not pipelined:
                    sock.sendall(request)
                rows += len(json.loads(answers.next_body())["data"])
        return rows

    shares = [list(range(pages))[k::connections] for k in range(connections)]
    if connections == 1:
        return one(shares[0])
    with ThreadPoolExecutor(connections) as pool:
        return sum(pool.map(one, shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latencies", default="0,0.01,0.03,0.1", help="comma-separated seconds per answer")
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--fast-rounds", type=int, default=5, help="interleaved rounds against the fast stand-in")
    parser.add_argument("--memory-records", type=int, default=200_000, help="records of the memory-flatness check")
    args = parser.parse_args()
    latencies = [float(value) for value in args.latencies.split(",")]

    import requests
    from airflow.providers.http.operators.http import HttpOperator

    from runtype_provider.client.request import build_request
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

        def sequential_loop(records: int, base: str | None = None, path: str | None = None) -> int:
            rows, offset = 0, 0
            with requests.Session() as session:
                session.headers.update(auth)
                while True:
                    response = session.get(
                        (base or server_url) + (path or endpoint(records)),
                        params={"limit": "100", "offset": str(offset)},
                        timeout=30,
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

        def results_operator(records: int, run: dict[str, Any] | None = None) -> int:
            target = out_dir / "operator.jsonl"
            reference = run or runs[records]
            op = RuntypeScheduleRunResultsOperator(task_id="results", run=reference, output_path=f"file://{target}")
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

        # Airflow's modules leave a large heap whose full collections (0.2-0.3 s each) would land on whichever method
        # happens to cross the threshold; frozen (as Airflow does before forking), collections see the methods' own
        # objects. Same for every method.
        gc.collect()
        gc.freeze()
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
        vs_loop: dict[float, float] = {}
        for latency in latencies:
            per_row = {name: statistics.median(w / r for w, _, r in timings[(latency, name)]) for name in METHODS}
            vs_loop[latency] = per_row[LOOP] / per_row[OPERATOR]
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

        # ---- loopback against a fast stand-in, beside the raw-socket ceiling
        pages = -(-args.records // 100)
        loop_cpu = process_cpu(SERVER_PIDS[server_url])
        assert sequential_loop(args.records) == args.records
        local_server_ms = (process_cpu(SERVER_PIDS[server_url]) - loop_cpu) * 1000 / pages
        recorder = requests.Session()
        recorder.headers.update(auth)
        results_path = endpoint(args.records)
        recorded = [
            recorder.get(server_url + results_path, params={"limit": "100", "offset": str(i * 100)}, timeout=60).text
            for i in range(pages)
        ]
        status_path = build_request("get_batch_status", batch_id=runs[args.records]["batch_execution_id"]).path
        status = recorder.get(server_url + status_path, timeout=60).text
        extra = {status_path: status}
        # memory: listings of M/100 and M rows (the local Runtype holds at most 100,000 records), the recorded rows
        # over and over with their own pagination
        memory_sizes = (args.memory_records // 100, args.memory_records)
        memory_runs = {n: {**runs[args.records], "batch_execution_id": f"bench_memory_{n}"} for n in memory_sizes}
        cycles = {build_request("get_batch_results", batch_id=f"bench_memory_{n}").path: n for n in memory_sizes}
        extra.update(
            {build_request("get_batch_status", batch_id=f"bench_memory_{n}").path: status for n in memory_sizes}
        )
        with fast_results_server(results_path, recorded, extra, cycles) as fast_url:

            def fast_operator() -> int:
                use_connection(fast_url, api_key)
                try:
                    return results_operator(args.records)
                finally:
                    use_connection(server_url, api_key)

            def raw(connections: int, pipelined: bool) -> Callable[[], int]:
                return lambda: raw_socket_client(
                    fast_url, results_path, pages, api_key, connections=connections, pipelined=pipelined
                )

            fast_methods: dict[str, Callable[[], int]] = {
                LOOP: lambda: sequential_loop(args.records, fast_url),
                OPERATOR: fast_operator,
                RAW_ONE: raw(1, False),
                RAW_EIGHT: raw(8, False),
                RAW_PIPELINED: raw(1, True),
            }
            for action in fast_methods.values():  # untimed: every row, and the connections warmed
                assert action() == args.records
            fast_timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in fast_methods}
            names = list(fast_methods)
            for round_number in range(args.fast_rounds):
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    before = process_cpu(SERVER_PIDS[fast_url])
                    wall, cpu, rows = measure(fast_methods[name])
                    assert rows == args.records, (name, rows)
                    fast_timings[name].append((wall, cpu, process_cpu(SERVER_PIDS[fast_url]) - before))
            held = {}
            use_connection(fast_url, api_key)
            for records in memory_sizes:
                tracemalloc.start()
                assert results_operator(records, memory_runs[records]) == records
                held[records] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()

            # the latency goals, against the stand-in answering each request after the latency in its own thread
            # (a remote API serves concurrent requests independently; the local Runtype's ~1 ms of CPU per page,
            # one process, would serialize eight of them): sequential loop over N/10 rows, operator over N
            small_path = build_request("get_batch_results", batch_id=f"bench_memory_{memory_sizes[0]}").path
            remote: dict[float, dict[str, list[float]]] = {}
            for latency in (lat for lat in latencies if lat >= SLOW_LATENCY):
                requests.get(f"{fast_url}/_latency", params={"seconds": str(latency)}, timeout=30)
                for _ in range(2):
                    for name, action, records in (
                        (LOOP, lambda: sequential_loop(memory_sizes[0], fast_url, small_path), memory_sizes[0]),
                        (OPERATOR, lambda: results_operator(args.records), args.records),
                    ):
                        wall, _, rows = measure(action)
                        assert rows == records, (name, rows)
                        remote.setdefault(latency, {}).setdefault(name, []).append(wall / rows)
            requests.get(f"{fast_url}/_latency", params={"seconds": "0"}, timeout=30)
            use_connection(server_url, api_key)
        stand_in_vs_loop = {
            latency: statistics.median(times[LOOP]) / statistics.median(times[OPERATOR])
            for latency, times in remote.items()
        }
        server_ms = (
            1000 * sum(c for t in fast_timings.values() for _, _, c in t) / (pages * len(names) * args.fast_rounds)
        )
        fast_rate = {name: args.records / statistics.median(w for w, _, _ in t) for name, t in fast_timings.items()}
        print(
            f"Loopback against a fast stand-in (bench_server.py: the same {pages} recorded pages served from memory), "
            f"{args.fast_rounds} interleaved rounds; server CPU per page: stand-in {server_ms:.3f} ms, local Runtype "
            f"{local_server_ms:.2f} ms. Client CPU is this process's (all threads)."
        )
        print(f"  {'method':28s} {'rows/s':>8s} {'vs loop':>8s} {'vs raw 1':>8s} {'client CPU/page':>16s}")
        for name, t in fast_timings.items():
            cpu_ms = 1000 * statistics.median(c for _, c, _ in t) / pages
            print(
                f"  {name:28s} {fast_rate[name]:8.0f} {fast_rate[name] / fast_rate[LOOP]:7.2f}x "
                f"{fast_rate[name] / fast_rate[RAW_ONE]:7.2f}x {cpu_ms:13.3f} ms"
            )
        shares = [fast_rate[OPERATOR] / fast_rate[name] for name in (RAW_ONE, RAW_EIGHT, RAW_PIPELINED)]
        print(
            "  results operator as a share of the raw-socket client (one connection / 8 connections / pipelined): "
            + " / ".join(f"{value:.2f}" for value in shares)
        )
        print(
            "  at simulated latency against the stand-in (loop over "
            f"{memory_sizes[0]} rows, operator over {args.records}), results operator vs loop: "
            + ", ".join(f"{lat * 1000:.0f} ms {ratio:.2f}x" for lat, ratio in stand_in_vs_loop.items())
        )

        (low_n, low), (high_n, high) = sorted(held.items())
        print(
            f"  results operator peak traced memory: {low_n} rows {low / 1e6:.1f} MB -> {high_n} rows "
            f"{high / 1e6:.1f} MB"
        )

        print(f"Goals (results), {machine()}:")
        record_goal(
            "stand-in server CPU per page (not flattering)", "< 0.3 ms", server_ms, server_ms < 0.3, " ms",
            f"local Runtype {local_server_ms:.2f} ms",
        )  # fmt: skip
        record_goal(
            "results operator vs bare loop, fast loopback", ">= 1.0x", fast_rate[OPERATOR] / fast_rate[LOOP],
            fast_rate[OPERATOR] >= fast_rate[LOOP],
        )  # fmt: skip
        share = fast_rate[OPERATOR] / fast_rate[RAW_ONE]
        record_goal(
            "results operator / raw-socket client (1 conn)", ">= 0.5", share, share >= 0.5, "",
            f"8 conns {fast_rate[OPERATOR] / fast_rate[RAW_EIGHT]:.2f}, pipelined "
            f"{fast_rate[OPERATOR] / fast_rate[RAW_PIPELINED]:.2f}",
        )  # fmt: skip
        for latency, target in ((0.03, 7.0), (0.1, 8.0)):
            if latency in stand_in_vs_loop:
                ratio = stand_in_vs_loop[latency]
                record_goal(
                    f"results operator vs loop at {latency * 1000:.0f} ms", f">= {target:g}x", ratio, ratio >= target,
                    "x", f"stand-in; local Runtype {vs_loop[latency]:.2f}x; max_concurrent_pages {bound}",
                )  # fmt: skip
        record_goal(
            f"operator memory {low_n:,} -> {high_n:,} rows", "<= 1.5x", high / low, high / low <= 1.5, "x",
            f"{low / 1e6:.1f} -> {high / 1e6:.1f} MB traced",
        )  # fmt: skip


if __name__ == "__main__":
    main()
