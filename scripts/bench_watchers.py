"""Benchmark: API requests per poll interval of N asset watchers on one connection, shared poll vs one poll each.

For 1, 10 and 100 watched schedules, ``RuntypeScheduleRunEventTrigger`` watchers run in one event loop (as in a
triggerer) against the local Runtype in its own process on loopback:

* shared: Airflow 3.3's own ``SharedStreamManager`` drives one ``open_shared_stream`` for the group and each
  watcher's ``filter_shared_stream`` (what the 3.3 triggerer does);
* per-trigger: each watcher's ``run()`` polls its own schedule (Airflow 3.1/3.2, the fallback).

After a warm-up (the baseline poll), one run is started on every schedule, then the server's request log is
counted over ``--intervals`` poll intervals. Printed per size and mode (median over interleaved rounds, with
min-max): requests per poll interval (counted by the server), client CPU ms per interval (process time, the
server is another process) next to the wall time, and the events delivered (must be N: one per finished run).

Usage: python scripts/bench_watchers.py [--sizes 1 10 100] [--interval 1] [--intervals 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-watchers-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import requests
from bench_common import admin_headers, local_runtype_process, use_connection

POLLS = ("list_all_schedule_runs", "list_schedule_runs")


class Server:
    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def seed(self, schedule_ids: list[str]) -> None:
        for schedule_id in schedule_ids:
            body = {"schedule_id": schedule_id, "record_count": 3}
            self.session.post(
                f"{self.url}/_local/schedules", json=body, headers=admin_headers(), timeout=30
            ).raise_for_status()
            self.run_now(schedule_id)  # some history, finished before any watcher starts

    def run_now(self, schedule_id: str) -> None:
        self.session.post(f"{self.url}/v1/schedules/{schedule_id}/run-now", json={}, timeout=30).raise_for_status()

    def clear_log(self) -> None:
        self.session.delete(f"{self.url}/_local/requests", headers=admin_headers(), timeout=30).raise_for_status()

    def polls(self) -> int:
        log = self.session.get(f"{self.url}/_local/requests", headers=admin_headers(), timeout=60).json()["data"]
        return sum(1 for entry in log if entry["operation"] in POLLS)


async def measure(
    server: Server, schedule_ids: list[str], mode: str, interval: float, intervals: int
) -> dict[str, float]:
    from runtype_provider.triggers.events import RuntypeScheduleRunEventTrigger

    triggers = [RuntypeScheduleRunEventTrigger(schedule_id=s, poll_interval=interval) for s in schedule_ids]
    delivered = 0
    manager: Any = None
    if mode == "shared":
        from airflow.triggers.shared_stream import SharedStreamManager

        manager = SharedStreamManager()

    async def watch(index: int, trigger: RuntypeScheduleRunEventTrigger) -> None:
        nonlocal delivered
        if manager is not None:
            stream = manager.subscribe(trigger_id=index, trigger=trigger, key=trigger.shared_stream_key())
            events = trigger.filter_shared_stream(stream)
        else:
            events = trigger.run()
        async for _ in events:
            delivered += 1

    tasks = [asyncio.create_task(watch(i, t)) for i, t in enumerate(triggers)]
    await asyncio.sleep(interval * 1.5)  # every watcher has made its baseline poll
    await asyncio.to_thread(lambda: [server.run_now(s) for s in schedule_ids])
    await asyncio.to_thread(server.clear_log)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(interval * intervals)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    polls = await asyncio.to_thread(server.polls)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if manager is not None:
        await manager.stop_all()
    return {
        "requests": polls / intervals,
        "cpu_ms": cpu * 1000 / intervals,
        "wall": wall,
        "events": delivered,
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--intervals", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from runtype_provider.version_compat import AIRFLOW_V_3_3_PLUS

    modes = ["shared", "per-trigger"] if AIRFLOW_V_3_3_PLUS else ["per-trigger"]
    with local_runtype_process() as (url, api_key):
        use_connection(url, api_key)
        server = Server(url, api_key)
        results: dict[tuple[int, str], list[dict[str, float]]] = {}
        for size in args.sizes:
            schedule_ids = [f"sch_watch_{size}_{i:03d}" for i in range(size)]
            server.seed(schedule_ids)
            for _ in range(args.rounds):
                for mode in modes:  # interleaved rounds
                    outcome = asyncio.run(measure(server, schedule_ids, mode, args.interval, args.intervals))
                    results.setdefault((size, mode), []).append(outcome)

    print(
        f"Asset watchers on one connection: poll interval {args.interval:g} s, {args.intervals} intervals counted, "
        f"{args.rounds} interleaved rounds, median (min-max); one run finished per schedule in each round"
    )
    print(f"{'schedules':>9}  {'mode':<11}  {'requests/interval':>18}  {'client CPU ms/interval':>23}  events")
    for (size, mode), rounds in results.items():
        requests_ = spread([r["requests"] for r in rounds])
        cpu = spread([r["cpu_ms"] for r in rounds])
        events = sorted({int(r["events"]) for r in rounds})
        print(f"{size:>9}  {mode:<11}  {requests_:>18}  {cpu:>23}  {events} of {size}")
    if len(modes) == 2:
        for size in args.sizes:
            shared = statistics.median(r["requests"] for r in results[(size, "shared")])
            alone = statistics.median(r["requests"] for r in results[(size, "per-trigger")])
            print(
                f"{size:>9} schedules: per-trigger polling sends {alone / shared:.1f}x the requests of the shared poll"
            )


if __name__ == "__main__":
    main()
