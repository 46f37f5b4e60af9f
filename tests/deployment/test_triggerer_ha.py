"""Two triggerers at once (HA), on PostgreSQL: many deferred run-and-wait tasks all finish, each run
started once, each trigger held by one triggerer.

``RUNTYPE_DEPLOYMENT_HA_RUNS`` sets how many runs (default 200, about 5 minutes on 2 cores); timeouts grow
with it. PostgreSQL because triggerers share work through row locks that SQLite does not have (see
``conftest.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from .conftest import MANY_DEFERRED_DAG, WAIT_AND_RESULTS_DAG, assert_listening_only_on_loopback, report
from .harness import AirflowDeployment, LocalRuntypeProcess, wait_until

pytestmark = pytest.mark.deployment

DAG = MANY_DEFERRED_DAG
RUNS = int(os.environ.get("RUNTYPE_DEPLOYMENT_HA_RUNS", "200"))


def test_listening_only_on_loopback(
    airflow_deployment_postgres: AirflowDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    assert_listening_only_on_loopback(airflow_deployment_postgres, runtype_local)


@pytest.fixture(scope="module")
def two_triggerers(airflow_deployment_postgres: AirflowDeployment) -> Iterator[dict[int, str]]:
    """A second triggerer next to the first; yields ``{triggerer job id: component name}`` of the two.
    Stops the second one afterwards."""
    deployment, api = airflow_deployment_postgres, airflow_deployment_postgres.api
    if not deployment.components["triggerer"].running:  # an earlier test failed half-way
        deployment.start_component("triggerer")
    first = wait_until(
        lambda: [job["id"] for job in api.triggerer_jobs(alive=True)] or None, timeout=180, what="a live triggerer"
    )
    assert len(first) == 1, first
    deployment.add_triggerer("triggerer-2")
    try:

        def two_alive() -> dict[int, str] | None:
            deployment.check_running()
            jobs = [job["id"] for job in api.triggerer_jobs(alive=True)]
            return {job: "triggerer" if job == first[0] else "triggerer-2" for job in jobs} if len(jobs) == 2 else None

        yield wait_until(two_alive, timeout=180, what="two live triggerers", diagnostics=deployment.diagnostics)
    finally:
        deployment.stop_component("triggerer-2")


@pytest.mark.parametrize("runs", [RUNS])
def test_deferred_runs_spread_over_two_triggerers_all_finish_each_started_once(
    airflow_deployment_postgres: AirflowDeployment,
    runtype_local: LocalRuntypeProcess,
    two_triggerers: dict[int, str],
    runs: int,
) -> None:
    deployment, api = airflow_deployment_postgres, airflow_deployment_postgres.api
    # Four worker slots start (and later resume) about two tasks a second here: runs this long keep most of
    # the tasks deferred at the same time.
    run_seconds = max(6.0, 0.6 * runs)
    schedule_ids = [f"sch_deploy_ha_{i:03d}" for i in range(runs)]
    for schedule_id in schedule_ids:
        runtype_local.seed_schedule(
            schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=run_seconds
        )
    began = time.monotonic()
    run_id = api.trigger_dag_run(DAG, {"schedule_ids": schedule_ids})

    # Sample which triggerer holds each deferred task's trigger until the DAG run ends.
    owners: dict[int, set[int]] = {}
    max_deferred = 0

    def finished() -> dict | None:
        nonlocal max_deferred
        deployment.check_running()
        tis = [ti for ti in api.task_instances(DAG, run_id) if ti["task_id"] == "run"]
        deferred = [ti for ti in tis if ti["state"] == "deferred"]
        max_deferred = max(max_deferred, len(deferred))
        for ti in deferred:
            if ti["trigger"] and ti["trigger"]["triggerer_id"] is not None:
                owners.setdefault(ti["map_index"], set()).add(ti["trigger"]["triggerer_id"])
        dag_run = api.dag_run(DAG, run_id)
        return dag_run if dag_run["state"] in ("success", "failed") else None

    dag_run = wait_until(
        finished,
        timeout=60 + 3 * runs + run_seconds,
        interval=1.0,
        what=f"{runs} deferred runs",
        diagnostics=lambda: deployment.run_report(DAG, run_id),
    )
    elapsed = time.monotonic() - began
    per_triggerer = Counter(owner for seen in owners.values() for owner in seen)
    moved = sum(len(seen) > 1 for seen in owners.values())
    report(
        f"{runs} deferred runs on two triggerers {sorted(two_triggerers)}: "
        f"DAG run {dag_run['state']} in {elapsed:.1f} s; "
        f"up to {max_deferred} deferred at once; triggers seen per triggerer job: {dict(per_triggerer)}; "
        f"seen moving between triggerers: {moved}"
    )
    assert dag_run["state"] == "success", deployment.run_report(DAG, run_id)

    tis = [ti for ti in api.task_instances(DAG, run_id) if ti["task_id"] == "run"]
    assert sorted(ti["map_index"] for ti in tis) == list(range(runs))
    assert {(ti["state"], ti["try_number"]) for ti in tis} == {("success", 1)}
    # Every task deferred and its trigger ran in one of the two triggerers, and none changed hands.
    # (How they split is a race between the two triggerers' loops, 107:93 and 95:105 in two runs of 200 here.)
    assert len(owners) == runs, f"seen deferred with an assigned trigger: {sorted(owners)}"
    assert set(per_triggerer) <= set(two_triggerers), dict(per_triggerer)
    assert moved == 0, owners

    # Each schedule was started exactly once, and each task reports its own run as completed.
    run_now = Counter(r["path"].split("/")[3] for r in runtype_local.requests() if r["operation"] == "run_schedule_now")
    assert {schedule_id: run_now[schedule_id] for schedule_id in schedule_ids} == dict.fromkeys(schedule_ids, 1)
    outcomes = [api.xcom(DAG, run_id, "run", map_index=i) for i in range(runs)]
    assert sorted(o["schedule_id"] for o in outcomes) == schedule_ids
    assert len({o["batch_execution_id"] for o in outcomes}) == runs
    assert {(o["status"], o["total_records"]) for o in outcomes} == {("completed", 5)}


STALL_SCHEDULE = "sch_deploy_stalled_triggerer"
STALL_RUN_SECONDS = 3600.0
"""The stalled-triggerer run lasts until the test ends it (``advance_clock``), so no step races the run's end."""


def trigger_log_events(deployment: AirflowDeployment, dag_id: str, run_id: str, job_id: int) -> list[str]:
    """The events triggerer job ``job_id`` logged for task ``run``'s trigger (its per-trigger log file, JSON lines)."""
    folder = deployment.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=run"
    events = []
    for path in folder.glob(f"attempt=*.log.trigger.{job_id}.log"):
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                events.append(str(json.loads(line).get("event", "")))
    return events


def test_a_stalled_triggerer_that_lost_its_trigger_does_not_cancel_the_run(
    airflow_deployment_postgres: AirflowDeployment,
    runtype_local: LocalRuntypeProcess,
    two_triggerers: dict[int, str],
) -> None:
    """A triggerer that stalls (VM pause, long GC, CPU starvation) past the health threshold loses its
    triggers to the other triggerer; when it wakes up it must let go of them without touching the run.

    Every step waits for a condition (bounded generously), never for an amount of time: the run lasts until the
    stalled triggerer has woken up and let go of its trigger (its trigger log says ``trigger completed``), and only
    then does the test end the run."""
    deployment, api = airflow_deployment_postgres, airflow_deployment_postgres.api
    dag = WAIT_AND_RESULTS_DAG
    runtype_local.seed_schedule(
        schedule_id=STALL_SCHEDULE, record_count=5, queued_seconds=0.5, running_seconds=STALL_RUN_SECONDS
    )
    run_id = api.trigger_dag_run(dag, {"schedule_id": STALL_SCHEDULE})
    deployment.wait_for_task_state(dag, run_id, "run", "deferred", timeout=300)
    batch = api.xcom(dag, run_id, "run", key="run_reference")["batch_execution_id"]

    def owner() -> int | None:
        ti = api.task_instance(dag, run_id, "run")
        assert ti["state"] == "deferred", ti["state"]
        return ti["trigger"] and ti["trigger"]["triggerer_id"]

    stalled_job = wait_until(owner, timeout=300, interval=0.5, what="trigger assigned")
    stalled = two_triggerers[stalled_job]

    def new_owner() -> int | None:
        current = owner()
        return current if current not in (None, stalled_job) else None

    def heartbeat(job_id: int) -> str | None:
        jobs = api.get("/api/v2/jobs", job_type="TriggererJob", limit=100)["jobs"]
        return next((job["latest_heartbeat"] for job in jobs if job["id"] == job_id), None)

    # Paused in the middle of a transaction, the triggerer would keep the trigger row locked (the other one skips
    # locked rows): then let it run until it has heartbeated again (its transaction is done) and pause it again.
    taken = None
    for _attempt in range(4):
        deployment.pause(stalled)
        paused_at = heartbeat(stalled_job)
        try:
            taken = wait_until(new_owner, timeout=180, interval=0.5, what="trigger taken over by the other one")
        except TimeoutError:
            pass
        finally:
            deployment.resume(stalled)
        if taken is not None:
            break
        wait_until(
            lambda before=paused_at: heartbeat(stalled_job) != before, timeout=180, what=f"{stalled} heartbeats again"
        )
    assert taken is not None, "the other triggerer never took the trigger over"

    # The stalled triggerer wakes up and lets go of the trigger it lost (Airflow 3.3.2 calls the trigger's on_kill
    # then); the new owner keeps polling the run.
    wait_until(
        lambda: "trigger completed" in trigger_log_events(deployment, dag, run_id, stalled_job),
        timeout=300,
        what=f"{stalled} (job {stalled_job}) let go of the trigger",
        diagnostics=lambda: deployment.run_report(dag, run_id),
    )
    polls = len(runtype_local.calls("get_batch_status", batch))
    wait_until(
        lambda: len(runtype_local.calls("get_batch_status", batch)) > polls + 1,
        timeout=300,
        what=f"job {taken} polls the run",
    )
    assert api.task_instance(dag, run_id, "run")["state"] == "deferred"
    assert runtype_local.calls("cancel_batch", batch) == []

    runtype_local.advance_clock(STALL_RUN_SECONDS)  # the run completes now
    dag_run = deployment.wait_for_run(dag, run_id, timeout=300, states=("success", "failed"))
    cancels = runtype_local.calls("cancel_batch", batch)
    report(
        f"stalled triggerer: {stalled} (job {stalled_job}) paused until job {taken} took its trigger over, then let "
        f"go of it: {[e for e in trigger_log_events(deployment, dag, run_id, stalled_job) if 'cancel' in e.lower()]}; "
        f"DAG run {dag_run['state']}, remote cancels: {len(cancels)}"
    )
    assert cancels == []
    assert dag_run["state"] == "success", deployment.run_report(dag, run_id)
    assert len(runtype_local.calls("run_schedule_now", f"/v1/schedules/{STALL_SCHEDULE}/")) == 1
