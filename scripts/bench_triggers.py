"""Benchmark: many deferred waits in one triggerer event loop, against the local Runtype on loopback.

Each run is seeded to take ``--run-seconds`` (queued, then running). The script measures, in the same run:

* baseline: one ``RuntypeScheduleRunTrigger`` waiting alone for one run (wall time until its event);
* N triggers waiting at once in one event loop (what a triggerer does), each for its own run.

It prints both wall times and their ratio (1.0 = N waits cost no more than one; a blocking call in the
loop would push it towards N), the polls the server counted (its request log), the client CPU time per poll,
the memory held per waiting trigger (tracemalloc peak while all wait, over the N), and the worst event-loop lag
seen by a 10 ms ticker (a blocking call shows up there first). Loopback only; stops by itself.

Usage: python scripts/bench_triggers.py [--triggers 200] [--run-seconds 2] [--poll-interval 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import tracemalloc
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-triggers-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from bench_common import local_runtype_process, start_run, use_connection


async def wait_all(runs: list[dict[str, Any]], poll_interval: float) -> tuple[float, float, list[Any]]:
    """Run one trigger per run concurrently; (wall seconds, worst loop lag in seconds, events)."""
    from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

    worst_lag = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst_lag
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            worst_lag = max(worst_lag, time.perf_counter() - before - 0.01)

    async def one(run: dict[str, Any]) -> Any:
        trigger = RuntypeScheduleRunTrigger(run=run, poll_interval=poll_interval)
        return await anext(trigger.run())

    tick = asyncio.create_task(ticker())
    start = time.perf_counter()
    events = await asyncio.gather(*(one(run) for run in runs))
    wall = time.perf_counter() - start
    done.set()
    await tick
    return wall, worst_lag, events


def status_polls(url: str, api_key: str) -> int:
    """Batch-status requests the local Runtype received (its request log), then the log is emptied."""
    import requests

    headers = {"Authorization": f"Bearer {api_key}"}
    log = requests.get(f"{url}/_local/requests", headers=headers, timeout=60).json()["data"]
    requests.delete(f"{url}/_local/requests", headers=headers, timeout=60).raise_for_status()
    return sum(1 for entry in log if entry["operation"] == "get_batch_status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=200)
    parser.add_argument("--run-seconds", type=float, default=2.0)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    args = parser.parse_args()
    timing = {"queued_seconds": args.run_seconds / 4, "running_seconds": args.run_seconds * 3 / 4}

    with local_runtype_process() as (url, api_key):
        use_connection(url, api_key)
        single = [start_run(url, 10, "sch_single", **timing)]
        status_polls(url, api_key)
        single_wall, single_lag, single_events = asyncio.run(wait_all(single, args.poll_interval))
        single_polls = status_polls(url, api_key)
        many = [start_run(url, 10, f"sch_many_{i:04d}", **timing) for i in range(args.triggers)]
        status_polls(url, api_key)
        tracemalloc.start()
        cpu = time.process_time()
        many_wall, many_lag, many_events = asyncio.run(wait_all(many, args.poll_interval))
        cpu = time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        many_polls = status_polls(url, api_key)

    for event in single_events + many_events:
        payload = event.payload
        assert payload["event"] == "finished" and payload["progress"]["status"] == "completed", payload
    setup = f"runs take {args.run_seconds} s each, poll interval {args.poll_interval} s, one event loop"
    print(f"{setup}, {os.cpu_count()} cores")
    print(f"  1 trigger:    {single_wall:6.2f} s, {single_polls} polls  (worst loop lag {single_lag * 1000:5.1f} ms)")
    print(
        f"  {args.triggers} triggers: {many_wall:6.2f} s, {many_polls} polls counted by the server "
        f"({many_polls / args.triggers:.1f} per wait), ratio {many_wall / single_wall:.2f} of one wait"
    )
    print(
        f"  client CPU {cpu:.2f} s = {cpu / many_polls * 1000:.2f} ms per poll (tracemalloc on); "
        f"memory {peak / args.triggers / 1024:.1f} KB per waiting trigger; worst loop lag {many_lag * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
