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
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-results-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


@contextmanager
def local_runtype_process() -> Iterator[tuple[str, str]]:
    """``runtype-local`` on a free loopback port in a child process; yields (url, api key)."""
    port_file = Path(tempfile.mkdtemp(prefix="bench-results-port-")) / "port"
    command = Path(sys.executable).parent / "runtype-local"
    args = [str(command), "--port", "0", "--port-file", str(port_file), "--queued-seconds", "0"]
    server = subprocess.Popen([*args, "--running-seconds", "0"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("runtype-local did not start")
            time.sleep(0.05)
        key = next(line.split(": ", 1)[1].strip() for line in server.stdout or [] if line.startswith("API key:"))
        yield f"http://127.0.0.1:{port_file.read_text().strip()}", key
    finally:
        server.terminate()
        server.wait(timeout=30)


def finished_run(url: str, records: int, schedule_id: str) -> dict[str, Any]:
    """Seed a schedule of ``records`` records (5 % failing), run it, wait for it; its run reference."""
    import requests

    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.models import RunReference

    ids = [f"{schedule_id}_rec_{i:06d}" for i in range(records)]
    seed = {"schedule_id": schedule_id, "record_ids": ids, "failing_record_ids": ids[::20]}
    requests.post(f"{url}/_local/schedules", json=seed, timeout=60).raise_for_status()
    hook = RuntypeHook()
    started = hook.run_schedule_now(schedule_id)
    run = RunReference(schedule_id=schedule_id, run_id=started.run_id, batch_execution_id=started.batch_execution_id)
    while not hook.get_run_progress(run).outcome.is_terminal:
        time.sleep(0.05)
    return run.to_xcom()


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
    from runtype_provider.models import RunReference
    from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator

    with local_runtype_process() as (server_url, api_key):
        connection = {"conn_type": "runtype", "host": server_url, "password": api_key}
        os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"] = json.dumps(connection)
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
