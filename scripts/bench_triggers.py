"""Benchmark: 1,000 deferred waits in one event loop (what a triggerer does), against the local Runtype on loopback.

Three kinds of wait, measured in interleaved rounds in the same run, each wait in its own trigger:

* ``http``: Airflow's ``HttpSensorTrigger`` (the baseline), each polling a URL of the local Runtype that answers 404
  until the bench creates it, ``--run-seconds`` after the triggers start (one request per wait per poll);
* ``per-run``: ``RuntypeScheduleRunTrigger`` with its defaults, one run per wait over ``--schedules`` schedules
  (one batch-status request per wait per poll; the triggers share one client and one connection read);
* ``run-list``: the same waits on a connection with the extra ``shared_run_list_polls: true`` (one run-list request
  per schedule per poll, a batch-status read per wait when its run finishes).

Per kind it prints min / median / max over the rounds of: requests counted by the server's request log per poll
interval and per wait-interval (a wait's time divided by the poll interval, summed over the waits), split by
operation; client CPU per request and per wait-interval (passes without tracemalloc; CPU of this process, the server
runs in another); the worst event-loop lag seen by a 10 ms ticker, overall and in the first poll interval (when the
thousand triggers start at once), and the CPU this thread spent in the worst gap (on a loaded machine the wall lag
exceeds it); the sockets this process held (sampled from /proc/self/fd); how long after the run finished (the
server's completedAt, or the URL's creation) each wait reported it; wall and CPU time; then the memory held per wait
(peak traced by tracemalloc over the waits, in separate passes); the lag once started (after the first poll
interval); and the progress lines the Runtype triggers logged per wait, the CPU per line and their share of the CPU
(the triggers' class logger wrapped by :class:`TimedLog`). Ratios are to ``http``. What the triggers log goes to
/dev/null, and the heap built before the passes is frozen (see :func:`warm_up`). Last, the goal rows of issue 18
(``GOAL ...``, collected by ``make bench``): CPU per request against ``http`` (needs it in the run), the logging
share, the API requests per wait per interval, and with ``--waits`` 5000 or more the lag once started and the
memory per wait.

Usage: python scripts/bench_triggers.py [--waits 1000] [--schedules 20] [--rounds 3] [--kinds http,per-run,run-list]
(under three minutes on 2 cores with the defaults). Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-triggers-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from bench_common import admin_headers, local_runtype_process, machine, record_goal, use_connection

KINDS = ("http", "per-run", "run-list")
_pass_ids = itertools.count(1)


@dataclass
class Pass:
    """What one pass of one kind measured."""

    waits: int
    wall: float
    cpu: float = 0.0
    requests: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    wait_intervals: float = 0.0
    lag: float = 0.0
    stall: float = 0.0
    starting_lag: float = 0.0
    settled_lag: float = 0.0
    log_lines: int = 0
    log_cpu: float = 0.0
    sockets: int = 0
    latencies: list[float] = field(default_factory=list)
    peak_bytes: int = 0


def open_sockets() -> int:
    """Sockets this process holds (every kind; the caller subtracts the count before the waits start)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


class Server:
    """The local Runtype and the admin calls of the bench (a keep-alive ``requests`` session, outside the loop)."""

    def __init__(self, url: str, api_key: str) -> None:
        import requests

        self.url, self.api_key = url, api_key
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def seed(self, schedule_id: str, **options: Any) -> None:
        body = {"schedule_id": schedule_id, **options}
        self.session.post(f"{self.url}/_local/schedules", json=body, headers=admin_headers(), timeout=60)

    def run_now(self, schedule_id: str) -> dict[str, Any]:
        answer = self.session.post(f"{self.url}/v1/schedules/{schedule_id}/run-now", timeout=60).json()
        return {"schedule_id": schedule_id, "run_id": answer["runId"], "batch_execution_id": answer["batchExecutionId"]}

    def take_requests(self) -> Counter[str]:
        """API requests the server logged since the last call, by operation (then its log is emptied)."""
        log = self.session.get(f"{self.url}/_local/requests", headers=admin_headers(), timeout=60).json()["data"]
        self.session.delete(f"{self.url}/_local/requests", headers=admin_headers(), timeout=60).raise_for_status()
        return Counter(entry["operation"] for entry in log)


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def run_waits(triggers: list[Any], poll_interval: float, open_gate: Any = None, gate_after: float = 0.0) -> Pass:
    """Run the triggers concurrently to their first event; measure lag, sockets, wait-intervals, latencies."""
    loop = asyncio.get_running_loop()
    base_sockets = open_sockets()
    worst_lag, worst_stall, starting_lag, settled_lag, most_sockets, done = 0.0, 0.0, 0.0, 0.0, 0, asyncio.Event()
    start = time.perf_counter()
    gate_opened: list[float] = []

    async def ticker() -> None:
        nonlocal worst_lag, worst_stall, starting_lag, settled_lag, most_sockets
        ticks = 0
        while not done.is_set():
            before, busy = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.01)
            lag = time.perf_counter() - before - 0.01
            worst_lag = max(worst_lag, lag)
            worst_stall = max(worst_stall, time.thread_time() - busy)
            if before - start < poll_interval:
                starting_lag = max(starting_lag, lag)
            else:
                settled_lag = max(settled_lag, lag)
            ticks += 1
            if ticks % 25 == 0:
                most_sockets = max(most_sockets, open_sockets() - base_sockets)

    async def gate() -> None:
        await asyncio.sleep(gate_after)
        await loop.run_in_executor(None, open_gate)
        gate_opened.append(time.time())

    async def one(trigger: Any) -> tuple[Any, float]:
        event = await anext(trigger.run())
        return event, time.time()

    tick = asyncio.create_task(ticker())
    opener = asyncio.create_task(gate()) if open_gate else None
    start, start_wall = time.perf_counter(), time.time()
    results = await asyncio.gather(*(one(t) for t in triggers))
    wall = time.perf_counter() - start
    done.set()
    await tick
    if opener:
        await opener
    measured = Pass(
        len(triggers), wall, lag=worst_lag, stall=worst_stall, starting_lag=starting_lag, settled_lag=settled_lag,
        sockets=most_sockets,
    )  # fmt: skip
    measured.log_lines, measured.log_cpu = LOG_TIME[0], LOG_TIME[1]
    for event, at in results:
        measured.wait_intervals += (at - start_wall) / poll_interval
        if open_gate:
            assert event.payload is True, event.payload
            measured.latencies.append(at - gate_opened[0])
        else:
            payload = event.payload
            assert payload["event"] == "finished" and payload["progress"]["status"] == "completed", payload
            measured.latencies.append(at - epoch(payload["progress"]["completed_at"]))
    return measured


LOG_TIME = [0, 0.0]
"""Lines the Runtype triggers logged in this pass and the CPU seconds the logging calls took (:class:`TimedLog`)."""


class TimedLog:
    """A trigger's logger that counts its lines and the CPU time they take (the bench's own wrapper)."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._log, name)
        if name not in ("debug", "info", "warning", "error", "exception"):
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                LOG_TIME[0] += 1
                LOG_TIME[1] += time.thread_time() - cpu

        return timed


def build(kind: str, server: Server, args: argparse.Namespace) -> tuple[list[Any], Any]:
    """The triggers of one pass and, for ``http``, the call that makes their URL answer."""
    number = next(_pass_ids)
    if kind == "http":
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        gate_id = f"sch_gate_{number}"
        headers = {"Authorization": f"Bearer {server.api_key}"}
        triggers = [
            HttpSensorTrigger(
                endpoint=f"v1/schedules/{gate_id}", http_conn_id="http_bench", headers=headers,
                poke_interval=args.poll_interval,
            )
            for _ in range(args.waits)
        ]  # fmt: skip
        return triggers, lambda: server.seed(gate_id, record_count=1)
    from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

    schedules = [f"sch_p{number}_{j:03d}" for j in range(args.schedules)]
    for schedule_id in schedules:
        server.seed(schedule_id, record_count=10, queued_seconds=0.5, running_seconds=args.run_seconds)
    runs = [server.run_now(schedules[i % len(schedules)]) for i in range(args.waits)]
    conn_id = "runtype_run_list" if kind == "run-list" else "runtype_default"
    triggers = [
        RuntypeScheduleRunTrigger(run=run, runtype_conn_id=conn_id, poll_interval=args.poll_interval) for run in runs
    ]
    if not isinstance(RuntypeScheduleRunTrigger.__dict__.get("_log"), TimedLog):  # the waits share their class's
        RuntypeScheduleRunTrigger._log = TimedLog(RuntypeScheduleRunTrigger.logger())
    return triggers, None


def one_pass(kind: str, server: Server, args: argparse.Namespace, *, traced: bool) -> Pass:
    triggers, open_gate = build(kind, server, args)
    server.take_requests()
    LOG_TIME[:] = [0, 0.0]
    gc.collect()
    if traced:
        tracemalloc.start()
    cpu = time.process_time()
    measured = asyncio.run(run_waits(triggers, args.poll_interval, open_gate, args.run_seconds))
    measured.cpu = time.process_time() - cpu
    if traced:
        measured.peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    measured.by_operation = server.take_requests()
    measured.requests = sum(measured.by_operation.values())
    return measured


@contextmanager
def quiet() -> Iterator[None]:
    """Send what the triggers log (stdout and stderr) to /dev/null, as a triggerer sends it to log files."""
    saved = [os.dup(1), os.dup(2)]
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, sink):
            os.close(fd)


def warm_up(kinds: list[str], server: Server, args: argparse.Namespace) -> None:
    """One short pass of one wait per kind (imports, first connection reads), then freeze the heap built so far.

    Airflow's modules leave about 170,000 objects whose full garbage collection takes 0.2-0.3 s here; frozen (as
    Airflow's scheduler and workers do before forking), collections during the passes only visit what the waits
    themselves allocate, so the loop lag shows the waits' own work. It is the same for every kind.
    """
    small = argparse.Namespace(**{**vars(args), "waits": 1, "schedules": 1, "run_seconds": 0.5})
    for kind in kinds:
        one_pass(kind, server, small, traced=False)
    gc.collect()
    gc.freeze()


def spread(values: list[float], unit: str = "", digits: int = 1) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f}{unit} ({low:.{digits}f}-{high:.{digits}f})"


def report(kinds: list[str], runs: dict[str, list[Pass]], memory: dict[str, list[Pass]], args: Any) -> None:
    print(
        f"{args.waits} waits in one event loop, poll interval {args.poll_interval:g} s, runs of about "
        f"{args.run_seconds:g} s over {args.schedules} schedules; {os.cpu_count()} cores; "
        f"median (min-max) of {args.rounds} interleaved rounds, memory of {args.memory_rounds}"
    )
    rows = {
        "requests per poll interval": lambda p: p.requests / (p.wall / args.poll_interval),
        "requests per wait-interval": lambda p: p.requests / p.wait_intervals,
        "  run-list reads per interval": lambda p: p.by_operation["list_schedule_runs"] / (p.wall / args.poll_interval),
        "  batch-status reads per wait": lambda p: p.by_operation["get_batch_status"] / p.waits,
        "CPU ms per request": lambda p: p.cpu * 1000 / p.requests,
        "CPU ms per wait-interval": lambda p: p.cpu * 1000 / p.wait_intervals,
        "worst loop lag, ms": lambda p: p.lag * 1000,
        "  in the first poll interval, ms": lambda p: p.starting_lag * 1000,
        "  once started (after it), ms": lambda p: p.settled_lag * 1000,
        "  loop CPU in that gap, worst, ms": lambda p: p.stall * 1000,
        "sockets held (most)": lambda p: p.sockets,
        "seen after finish, median s": lambda p: statistics.median(p.latencies),
        "seen after finish, max s": lambda p: max(p.latencies),
        "wall, s": lambda p: p.wall,
        "CPU, s": lambda p: p.cpu,
        "progress log lines per wait": lambda p: p.log_lines / p.waits,
        "  CPU ms per line": lambda p: p.log_cpu * 1000 / max(p.log_lines, 1),
        "  share of the CPU, %": lambda p: 100 * p.log_cpu / p.cpu,
    }
    base = "http" if "http" in kinds else None
    width = max(len(name) for name in rows) + 2
    print(" " * width + "".join(f"{kind:>26}" for kind in kinds))
    for name, figure in rows.items():
        cells = []
        for kind in kinds:
            values = [figure(p) for p in runs[kind]]
            cell = spread(values, digits=3 if "request" in name or "ms" in name else 2)
            if base and kind != base and name.startswith(("requests", "CPU ms")):
                cell += f" {statistics.median(values) / statistics.median(figure(p) for p in runs[base]):.2f}x"
            cells.append(f"{cell:>26}")
        print(f"{name:<{width}}" + "".join(cells))
    if memory:
        cells = [f"{spread([p.peak_bytes / p.waits / 1024 for p in memory[k]], ' KB'):>26}" for k in kinds]
        print(f"{'memory per wait (traced)':<{width}}" + "".join(cells))
    goals(kinds, runs, memory, args)


def goals(kinds: list[str], runs: dict[str, list[Pass]], memory: dict[str, list[Pass]], args: Any) -> None:
    """The goal rows of issue 18 this run can judge (ratios to ``http`` need it in the same run)."""
    print(f"Goals (deferred waits, {args.waits} waits), {machine()}:")

    def median(kind: str, figure: Any) -> float:
        return statistics.median(figure(p) for p in runs[kind])

    def cpu_per_request(p: Pass) -> float:
        return p.cpu / p.requests

    for kind in ("per-run", "run-list"):
        if kind not in kinds:
            continue
        if "http" in kinds:
            ratio = median(kind, cpu_per_request) / median("http", cpu_per_request)
            record_goal(f"{kind}: CPU per request vs HttpSensorTrigger", "<= 1.0x", ratio, ratio <= 1.0)
        share = median(kind, lambda p: 100 * p.log_cpu / p.cpu)
        per_line = median(kind, lambda p: p.log_cpu * 1000 / max(p.log_lines, 1))
        record_goal(
            f"{kind}: progress logging share of the CPU ({args.waits} waits)", "<= 5%", share, share <= 5, "%",
            f"{median(kind, lambda p: p.log_lines / p.waits):.1f} lines per wait, {per_line:.3f} ms per line",
        )  # fmt: skip
        per_wait = median(kind, lambda p: p.requests / p.wait_intervals)
        record_goal(
            f"{kind}: API requests per wait per interval ({args.waits} waits)", "printed", per_wait, True, ""
        )  # fmt: skip
        if args.waits >= 5000:
            lag = median(kind, lambda p: p.settled_lag * 1000)
            passes = [p.settled_lag * 1000 for p in runs[kind]]
            note = f"median of {len(passes)} passes; worst pass {max(passes):.0f} ms" if len(passes) > 1 else ""
            record_goal(
                f"{kind}: worst loop lag once started, {args.waits} waits", "< 100 ms", lag, lag < 100, " ms", note
            )
            if memory.get(kind):
                kb = statistics.median(p.peak_bytes / p.waits / 1024 for p in memory[kind])
                record_goal(f"{kind}: memory per wait, {args.waits} waits", "<= 15 KB", kb, kb <= 15, " KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--schedules", type=int, default=20, help="schedules the Runtype waits' runs are spread over")
    parser.add_argument("--run-seconds", type=float, default=8.0, help="how long a run (or the 404 of http) lasts")
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-rounds", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {sorted(unknown)}")

    with local_runtype_process() as (url, api_key):
        use_connection(url, api_key)
        host, port = url.removeprefix("http://").split(":")
        os.environ["AIRFLOW_CONN_HTTP_BENCH"] = json.dumps({"conn_type": "http", "host": host, "port": int(port)})
        run_list = {"conn_type": "runtype", "host": url, "password": api_key, "extra": {"shared_run_list_polls": True}}
        os.environ["AIRFLOW_CONN_RUNTYPE_RUN_LIST"] = json.dumps(run_list)
        server = Server(url, api_key)
        runs: dict[str, list[Pass]] = {kind: [] for kind in kinds}
        memory: dict[str, list[Pass]] = {kind: [] for kind in kinds}
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # aiohttp's unclosed-connection notes (http)
        with quiet():
            warm_up(kinds, server, args)
            for _ in range(args.rounds):
                for kind in kinds:
                    runs[kind].append(one_pass(kind, server, args, traced=False))
            for _ in range(args.memory_rounds):
                for kind in kinds:
                    memory[kind].append(one_pass(kind, server, args, traced=True))
    report(kinds, runs, {k: v for k, v in memory.items() if v}, args)


if __name__ == "__main__":
    main()
