"""Shared by the benchmark scripts: the local Runtype in its own process, and runs seeded on it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


def use_connection(url: str, api_key: str) -> None:
    """Point ``runtype_default`` at the local Runtype (env var, no metadata DB)."""
    os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"] = json.dumps({"conn_type": "runtype", "host": url, "password": api_key})


def set_latency(url: str, api_key: str, seconds: float) -> None:
    """Make every API answer of the local Runtype wait ``seconds`` (admin route; the API key is the admin token)."""
    import requests

    headers = {"Authorization": f"Bearer {api_key}"}
    answer = requests.put(f"{url}/_local/config", json={"latency_seconds": seconds}, headers=headers, timeout=30)
    answer.raise_for_status()
    assert answer.json()["latency_seconds"] == seconds, answer.text


def start_run(url: str, records: int, schedule_id: str, **seed: Any) -> dict[str, Any]:
    """Seed a schedule of ``records`` records (5 % failing) over the admin API and run it; its run reference."""
    import requests

    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.models.runs import RunReference

    ids = [f"{schedule_id}_rec_{i:06d}" for i in range(records)]
    body = {"schedule_id": schedule_id, "record_ids": ids, "failing_record_ids": ids[::20], **seed}
    admin = {"Authorization": "Bearer " + json.loads(os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"])["password"]}
    requests.post(f"{url}/_local/schedules", json=body, headers=admin, timeout=60).raise_for_status()
    started = RuntypeHook().run_schedule_now(schedule_id)
    run = RunReference(schedule_id=schedule_id, run_id=started.run_id, batch_execution_id=started.batch_execution_id)
    return run.to_xcom()


def finished_run(url: str, records: int, schedule_id: str) -> dict[str, Any]:
    """:func:`start_run`, then wait until the run is terminal."""
    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.models.runs import RunReference

    run = start_run(url, records, schedule_id)
    hook = RuntypeHook()
    while not hook.get_run_progress(RunReference.coerce(run)).outcome.is_terminal:
        time.sleep(0.05)
    return run
