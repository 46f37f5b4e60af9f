"""The CeleryExecutor, shaped like several hosts (``celery_deployment.py``): two Celery workers with homes of their
own (each hidden from the other) and no metadata database, Redis as broker, two triggerers, PostgreSQL.

* 20 deferred waits, one DAG run each, executed by both workers, all deferred at once in the two triggerers: every
  Runtype run started once, every DAG run succeeds;
* the task process of a synchronous wait is SIGKILLed on one worker, the retry runs on the other one and
  re-attaches to the same Runtype run (Airflow 3.3+: the task state store, which lives behind the API server, not
  on a worker; 3.1: ``on_active_run="attach"``): one run-now;
* results over ``max_xcom_rows``: worker 1 writes them under ``[runtype] results_path`` (a directory outside both
  homes stands for shared storage), worker 2 opens the returned ``path`` and reads every row; on worker 2, which has
  no results location configured, the same task fails naming ``[runtype] results_path``.

One deployment for the module; each test seeds its own schedules. Runs that must outlast some steps last an hour
and are ended by the test (``advance_clock``) once those steps are done: no step races a run's end.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .celery_deployment import UNREACHABLE_DATABASE, WORKERS, CeleryDeployment, start_services, stop_services
from .conftest import AIRFLOW_3_3_PLUS, assert_listening_only_on_loopback, report, run_deployment
from .harness import TERMINAL_TI_STATES, LocalRuntypeProcess, wait_until

pytestmark = pytest.mark.deployment

DEFERRED_DAG = "runtype_celery_deferred"
SYNC_DAG = "runtype_celery_sync_retry" if AIRFLOW_3_3_PLUS else "runtype_celery_sync_retry_attach"
HANDOFF_DAG = "runtype_celery_results_handoff"
UNCONFIGURED_DAG = "runtype_celery_results_unconfigured"
DAG_IDS = (DEFERRED_DAG, SYNC_DAG, HANDOFF_DAG, UNCONFIGURED_DAG)
DEFERRED_RUNS = 20
LONG_RUN = 3600.0
"""Seconds a run lasts when a test ends it itself (``advance_clock``), whenever its condition is reached."""


@pytest.fixture(scope="module")
def shared_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared storage: a directory outside both workers' homes (both can read it)."""
    return tmp_path_factory.mktemp("shared-results")


@pytest.fixture(scope="module")
def celery_deployment(
    tmp_path_factory: pytest.TempPathFactory, runtype_local: LocalRuntypeProcess, shared_results: Path
) -> Iterator[CeleryDeployment]:
    home: Path = tmp_path_factory.mktemp("airflow-home-celery")
    postgres, redis, services_ready = start_services(home)
    try:
        deployment = CeleryDeployment(
            home,
            runtype_local,
            postgres=postgres,
            redis=redis,
            # Worker 1 writes results to shared storage; worker 2 has no results location at all.
            worker_env={"worker-1": {"AIRFLOW__RUNTYPE__RESULTS_PATH": shared_results.as_uri()}},
        )
        label = "CeleryExecutor (PostgreSQL, Redis, 2 workers" + (", homes hidden)" if deployment.hide_homes else ")")
        yield from run_deployment(deployment, label, extra_startup=services_ready, dag_ids=DAG_IDS)
    finally:
        leftovers = stop_services(postgres, redis)
    assert not leftovers, f"database or broker processes left behind: {leftovers}"


def test_listening_only_on_loopback_and_workers_have_no_database(
    celery_deployment: CeleryDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    deployment = celery_deployment
    assert_listening_only_on_loopback(deployment, runtype_local)
    postgres_port = int(deployment.database_url.rsplit(":", 1)[1].split("/", 1)[0])
    for worker in WORKERS:
        component = deployment.components[worker]
        assert component.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == UNREACHABLE_DATABASE
        assert component.env["AIRFLOW_HOME"] == str(deployment.worker_homes[worker])
        peers = {conn.raddr.port for process in component.members() for conn in process.net_connections() if conn.raddr}
        assert postgres_port not in peers, f"{worker} talks to the metadata database"


def test_deferred_runs_on_two_workers_and_two_triggerers_each_start_one_run(
    celery_deployment: CeleryDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    deployment, api = celery_deployment, celery_deployment.api
    schedule_ids = [f"sch_celery_deferred_{i:02d}" for i in range(DEFERRED_RUNS)]
    for schedule_id in schedule_ids:
        runtype_local.seed_schedule(
            schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=LONG_RUN
        )
    began = time.monotonic()
    run_ids = {api.trigger_dag_run(DEFERRED_DAG, {"schedule_id": s}): s for s in schedule_ids}

    def tis() -> list[dict]:
        every = api.get_all(f"/api/v2/dags/{DEFERRED_DAG}/dagRuns/~/taskInstances", "task_instances")
        return [ti for ti in every if ti["dag_run_id"] in run_ids]

    def all_deferred() -> dict[str, int] | None:
        """``{DAG run: triggerer job holding its trigger}`` once every task is deferred with its trigger assigned."""
        deployment.check_running()
        current = tis()
        ended = [(ti["dag_run_id"], ti["state"]) for ti in current if ti["state"] in TERMINAL_TI_STATES]
        assert not ended, f"tasks ended before their runs did: {ended}"
        owners = {
            ti["dag_run_id"]: ti["trigger"]["triggerer_id"]
            for ti in current
            if ti["state"] == "deferred" and ti["trigger"] and ti["trigger"]["triggerer_id"] is not None
        }
        return owners if len(owners) == len(run_ids) else None

    # The runs last until every task is deferred at once (however long that takes), then end together.
    owners = wait_until(
        all_deferred,
        timeout=900,
        interval=1.0,
        what=f"{DEFERRED_RUNS} tasks deferred at once",
        diagnostics=lambda: deployment.run_report(DEFERRED_DAG, next(iter(run_ids))),
    )
    deferred_after = time.monotonic() - began
    # Airflow 3.1.8 fails a resumed task whose worker's "success" (the exit after deferring) the scheduler processes
    # only after the trigger fired ("finished with state success, but the task instance's state attribute is
    # scheduled"; 3.3 tells the two apart by next_method). Seen here on a loaded machine: end the runs only once the
    # scheduler has processed every deferring try's executor event.
    wait_until(
        lambda: set(run_ids) <= deployment.executor_events(DEFERRED_DAG, "run", "success"),
        timeout=300,
        what="the scheduler processed every deferring try's executor event",
        diagnostics=deployment.diagnostics,
    )
    runtype_local.advance_clock(LONG_RUN)

    def all_finished() -> list[dict] | None:
        deployment.check_running()
        runs = [
            r for r in api.get_all(f"/api/v2/dags/{DEFERRED_DAG}/dagRuns", "dag_runs") if r["dag_run_id"] in run_ids
        ]
        return runs if len(runs) == len(run_ids) and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = wait_until(
        all_finished,
        timeout=900,
        interval=1.0,
        what=f"{DEFERRED_RUNS} deferred DAG runs",
        diagnostics=lambda: deployment.run_report(DEFERRED_DAG, next(iter(run_ids))),
    )
    elapsed = time.monotonic() - began
    executed = deployment.runs_executed(DEFERRED_DAG)
    report(
        f"celery: {DEFERRED_RUNS} deferred DAG runs: all deferred after {deferred_after:.1f} s, all done after "
        f"{elapsed:.1f} s; DAG runs whose tasks each worker executed: "
        f"{ {w: len(executed[w] & set(run_ids)) for w in WORKERS} }; triggers per triggerer job: "
        f"{dict(Counter(owners.values()))}"
    )
    assert {r["dag_run_id"]: r["state"] for r in runs} == dict.fromkeys(run_ids, "success"), [
        deployment.run_report(DEFERRED_DAG, r["dag_run_id"]) for r in runs if r["state"] != "success"
    ][:1]
    for run_id in run_ids:
        ti = api.task_instance(DEFERRED_DAG, run_id, "run")
        assert (ti["state"], ti["try_number"]) == ("success", 1), ti
    # Every trigger ran in one of the two triggerers (how they split is a race between their loops); both workers
    # executed tasks (20 tasks queued at once, two slots per worker).
    assert set(owners.values()) <= {job["id"] for job in api.triggerer_jobs(alive=True)}, owners
    assert all(executed[w] & set(run_ids) for w in WORKERS), executed

    # Exactly one run-now per DAG run, and each DAG run reports its own run as completed.
    run_now = Counter(r["path"].split("/")[3] for r in runtype_local.requests() if r["operation"] == "run_schedule_now")
    assert {s: run_now[s] for s in schedule_ids} == dict.fromkeys(schedule_ids, 1)
    outcomes = {run_id: api.xcom(DEFERRED_DAG, run_id, "run") for run_id in run_ids}
    assert {run_id: o["schedule_id"] for run_id, o in outcomes.items()} == run_ids
    assert len({o["batch_execution_id"] for o in outcomes.values()}) == DEFERRED_RUNS
    assert {(o["status"], o["total_records"]) for o in outcomes.values()} == {("completed", 5)}


def test_sync_wait_retry_on_the_other_worker_after_a_sigkill_reattaches(
    celery_deployment: CeleryDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    """Try 1 waits synchronously on some worker; that worker stops taking ``default`` tasks (``airflow celery
    remove-queue``) and its task process is SIGKILLed; try 2 runs on the other worker, which has never seen try 1,
    and finds the run: one run-now. The run lasts until the test ends it, so nothing here races the clock."""
    deployment, api = celery_deployment, celery_deployment.api
    dag_id, schedule_id = SYNC_DAG, "sch_celery_sync_kill"
    runtype_local.seed_schedule(schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=LONG_RUN)
    run_id = api.trigger_dag_run(dag_id, {"schedule_id": schedule_id})
    ti = deployment.wait_for_try(dag_id, run_id, "run", 1, "running", timeout=300)
    reference = wait_until(
        lambda: xcom_or_none(deployment, dag_id, run_id, "run_reference"),
        timeout=300,
        what="run reference pushed",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    batch_id = reference["batch_execution_id"]
    wait_until(lambda: len(status_polls(runtype_local, batch_id)) >= 2, timeout=300, what="try 1 polls the run")
    first, victims = next(
        iter(wait_until(lambda: deployment.task_processes(ti["id"]), timeout=120, what="try 1").items())
    )
    other = next(w for w in WORKERS if w != first)

    deployment.stop_consuming(first, "default")
    try:
        for process in victims:
            process.send_signal(signal.SIGKILL)
        polls_at_kill = len(status_polls(runtype_local, batch_id))
        retry = deployment.wait_for_try(dag_id, run_id, "run", 2, "running", timeout=300)
        second = next(iter(wait_until(lambda: deployment.task_processes(retry["id"]), timeout=120, what="try 2")))
        # Try 2 is waiting: on the same run (it polls it), or on a new one (a second run-now; asserted below).
        wait_until(
            lambda: (
                len(status_polls(runtype_local, batch_id)) > polls_at_kill
                or len(runtype_local.run_nows(schedule_id)) > 1
            ),
            timeout=300,
            what="try 2 waiting",
            diagnostics=lambda: deployment.run_report(dag_id, run_id),
        )
    finally:
        deployment.start_consuming(first, "default")
    runtype_local.advance_clock(LONG_RUN)  # the run ends now
    deployment.wait_for_run(dag_id, run_id, timeout=300)
    report(f"celery: sync wait SIGKILLed on {first}, try 2 ran on {second} ({dag_id})")

    assert second == other
    final = api.task_instance(dag_id, run_id, "run")
    assert (final["state"], final["try_number"]) == ("success", 2)
    assert len(runtype_local.run_nows(schedule_id)) == 1, runtype_local.run_nows(schedule_id)
    outcome = api.xcom(dag_id, run_id, "run")
    assert (outcome["batch_execution_id"], outcome["status"]) == (batch_id, "completed")
    how = "started by an earlier try" if AIRFLOW_3_3_PLUS else "Attaching to the schedule's active run"
    assert how in deployment.task_logs(dag_id, run_id, chars=200_000)


RECORDS = [f"rec-{i:03d}" for i in range(1, 26)]
FAILING = ["rec-004", "rec-021"]


def test_results_over_max_xcom_rows_written_by_one_worker_are_read_by_the_other(
    celery_deployment: CeleryDeployment, runtype_local: LocalRuntypeProcess, shared_results: Path
) -> None:
    deployment, api = celery_deployment, celery_deployment.api
    schedule_id = "sch_celery_results_handoff"
    runtype_local.seed_schedule(
        schedule_id=schedule_id, record_ids=RECORDS, failing_record_ids=FAILING, queued_seconds=0.5, running_seconds=2
    )
    worker_1_home = deployment.worker_homes["worker-1"]
    run_id = api.trigger_dag_run(HANDOFF_DAG, {"schedule_id": schedule_id, "other_home": str(worker_1_home)})
    deployment.wait_for_run(HANDOFF_DAG, run_id, timeout=300)

    tis = {ti["task_id"]: ti for ti in api.task_instances(HANDOFF_DAG, run_id)}
    assert (tis["results"]["queue"], tis["read_rows"]["queue"]) == ("w1", "w2")
    written = api.xcom(HANDOFF_DAG, run_id, "results")
    assert written["row_count"] == len(RECORDS)
    path = Path(written["path"])
    assert path.is_relative_to(shared_results), path
    assert not any(path.is_relative_to(home) for home in deployment.worker_homes.values())
    read = api.xcom(HANDOFF_DAG, run_id, "read_rows")
    assert read["airflow_home"] == str(deployment.worker_homes["worker-2"])
    assert sorted(read["record_ids"]) == RECORDS
    assert read["failed"] == FAILING
    assert [json.loads(line)["record_id"] for line in path.read_text().splitlines()] == read["record_ids"]
    if deployment.hide_homes:  # worker 2 could not have read a file on worker 1's disk
        assert read["other_home_entries"] == [], read["other_home_entries"]
        assert any(worker_1_home.iterdir())
    report(f"celery: {written['row_count']} rows over max_xcom_rows handed from worker-1 to worker-2 via {path}")


def test_results_over_max_xcom_rows_fail_on_a_worker_without_a_results_location(
    celery_deployment: CeleryDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    deployment, api = celery_deployment, celery_deployment.api
    schedule_id = "sch_celery_results_unconfigured"
    runtype_local.seed_schedule(schedule_id=schedule_id, record_ids=RECORDS, queued_seconds=0.5, running_seconds=2)
    run_id = api.trigger_dag_run(UNCONFIGURED_DAG, {"schedule_id": schedule_id})
    deployment.wait_for_run(UNCONFIGURED_DAG, run_id, timeout=300, states=("failed",))

    tis = {ti["task_id"]: ti for ti in api.task_instances(UNCONFIGURED_DAG, run_id)}
    assert {(t, ti["state"]) for t, ti in tis.items()} == {("run", "success"), ("results", "failed")}
    assert tis["results"]["queue"] == "w2"
    log = deployment.task_logs(UNCONFIGURED_DAG, run_id, chars=200_000)
    assert "[runtype] results_path" in log, log[-3000:]
    assert not (deployment.worker_homes["worker-2"] / "runtype_results").exists()


def status_polls(runtype: LocalRuntypeProcess, batch_id: str) -> list[dict]:
    return [r for r in runtype.requests() if r["operation"] == "get_batch_status" and r["path"].endswith(batch_id)]


def xcom_or_none(deployment: CeleryDeployment, dag_id: str, run_id: str, key: str) -> dict | None:
    """An XCom of task ``run`` as JSON, None while it does not exist yet (404)."""
    answer = deployment.api.request(
        "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/run/xcomEntries/{key}"
    )
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return answer.json()["value"]
