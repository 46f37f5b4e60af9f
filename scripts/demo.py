"""``make demo``: run the core example DAG against a local Runtype and print the per-record outcomes.

Starts the local Runtype on a free loopback port, seeds the example schedules, points the
``runtype_default`` connection at it, runs ``airflow dags test runtype_core_flow`` in a fresh
AIRFLOW_HOME, then prints the run reference, a table of per-record outcomes and the summary, writes them to a
results file, and ends by saying where the Airflow home, the logs and that file are, and what to try next.
Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".demo-airflow"
DAG_ID = "runtype_core_flow"


def airflow_env(connection: str) -> dict[str, str]:
    return dict(
        os.environ,
        AIRFLOW_HOME=str(HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_RUNTYPE_DEFAULT=connection,
    )


def run_airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    airflow = Path(sys.executable).parent / "airflow"
    with log.open("a") as out:
        done = subprocess.run([str(airflow), *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        print(log.read_text()[-4000:])
        raise SystemExit(f"demo failed: `airflow {' '.join(args)}` exited {done.returncode} (full log: {log})")


def read_outcomes() -> dict[tuple[str, str], object]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from runtype_provider.testing.dag_runs import read_xcoms

    with create_session() as session:
        run_id, state = session.execute(
            select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == DAG_ID).order_by(DagRun.id.desc()).limit(1)
        ).one()
    if str(state) != "success":
        raise SystemExit(f"demo failed: DAG run {run_id} ended {state}")
    return {(task, key): value for (task, _, key), value in read_xcoms(DAG_ID, run_id).items()}


def print_table(rows: list[dict]) -> None:
    columns = [("record_id", "record"), ("record_name", "name"), ("status", "status"), ("error", "error")]
    cells = [[str(row.get(key) or "") for key, _ in columns] for row in rows]
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, (_, title) in enumerate(columns)]
    print("  ".join(title.ljust(w) for (_, title), w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in cells:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


def main() -> None:
    started = time.monotonic()
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    os.environ["AIRFLOW_HOME"] = str(HOME)  # before Airflow is imported by read_outcomes
    log = HOME / "demo.log"

    from runtype_provider.testing import LocalRuntype
    from runtype_provider.testing.demo_data import seed_demo

    with LocalRuntype(queued_seconds=1.0, running_seconds=3.0) as runtype:
        seed_demo(runtype)
        print(f"Local Runtype listening on {runtype.url} (example schedules seeded)")
        env = airflow_env(runtype.airflow_connection_json())
        print("Preparing a fresh Airflow metadata DB ...")
        run_airflow(["db", "migrate"], env, log)
        print(f"Running `airflow dags test {DAG_ID}` (fetch schedule -> run -> sensor -> results) ...")
        run_airflow(["dags", "test", DAG_ID], env, log)
        calls = len(runtype.requests)

    outcomes = read_outcomes()
    reference = outcomes[("run_schedule", "run_reference")]
    rows = outcomes[("collect_results", "return_value")]
    summary = outcomes[("collect_results", "summary")]
    waited = outcomes[("wait_for_run", "return_value")]
    assert isinstance(reference, dict) and isinstance(rows, list) and isinstance(summary, dict)
    assert isinstance(waited, dict)
    print()
    print(f"Run {reference['run_id']} (batch {reference['batch_execution_id']}) of schedule {reference['schedule_id']}")
    print(f"Sensor saw: {waited['status']}, {waited['processed_records']}/{waited['total_records']} records processed")
    print()
    print_table(rows)
    print()
    print(
        f"Summary: {summary['total']} records, {summary['succeeded']} succeeded, {summary['failed']} failed; "
        f"by status {summary['by_status']}"
    )
    print(f"{calls} API calls to the local Runtype; demo wall time {time.monotonic() - started:.1f} s")
    if summary["total"] != len(rows) or not rows:
        raise SystemExit("demo failed: the summary does not match the rows")
    results = HOME / "results.json"
    results.write_text(json.dumps({"run": waited, "rows": rows, "summary": summary}, indent=2, default=str) + "\n")
    print_where(log, results)


def relative(path: Path) -> str:
    """``path`` as the user can type it from the repository root."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def print_where(log: Path, results: Path) -> None:
    task_logs = HOME / "logs"
    runs = sorted(task_logs.glob(f"dag_id={DAG_ID}/run_id=*"))
    print()
    print("Where things are:")
    print(f"  Airflow home (airflow.cfg, SQLite metadata DB): {relative(HOME)}/")
    if runs:
        print(f"  Task logs, one file per task:                   {relative(runs[-1])}/")
    print(f"  Task logs and the Airflow commands' output:     {relative(log)} (`airflow dags test` logs there)")
    print(f"  Results (run, per-record rows, summary):        {relative(results)}")
    print()
    print("Try next:")
    print(f"  * Look at the DAG that ran: example_dags/{DAG_ID}.py; the other example DAGs are beside it.")
    print("  * Run them yourself against a local Runtype: `.venv-demo/bin/runtype-local --port 8765 --seed-demo`")
    print(
        f"    prints the connection to export; then `AIRFLOW_HOME={relative(HOME)} "
        f"AIRFLOW__CORE__DAGS_FOLDER=example_dags .venv-demo/bin/airflow dags test runtype_chain_failed_records`."
    )
    print("  * Use your own Runtype: docs/getting-started.md (`make docs` builds the site), docs/connection.md.")
    print("  * Run the whole test suite: `make test`.")


if __name__ == "__main__":
    main()
