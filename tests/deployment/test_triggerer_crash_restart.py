"""A deferred wait survives a triggerer crash: SIGKILL the triggerer while the task is DEFERRED, start it
again, and the wait resumes in the new triggerer; the run was started once and its results are complete."""

from __future__ import annotations

import time

import pytest

from .conftest import WAIT_AND_RESULTS_DAG, assert_listening_only_on_loopback, report
from .harness import AirflowDeployment, LocalRuntypeProcess, wait_until

pytestmark = pytest.mark.deployment

DAG = WAIT_AND_RESULTS_DAG
SCHEDULE_ID = "sch_deploy_triggerer_restart"
RECORDS = [f"rec-{i:03d}" for i in range(1, 26)]
FAILING = ["rec-007", "rec-019"]
QUEUED_SECONDS = RUN_SECONDS = 3600.0
"""The run stays queued, then running, until the test moves it on (``advance_clock``) once the new triggerer polls
it: however slow the restart and the takeover (about 10 s on an idle machine), the run cannot end before them. The
new triggerer sees it queued, then running: a change, which its wait logs."""


def test_listening_only_on_loopback(airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess) -> None:
    assert_listening_only_on_loopback(airflow_deployment, runtype_local)


def test_deferred_wait_resumes_after_the_triggerer_is_sigkilled_and_restarted(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    deployment, api = airflow_deployment, airflow_deployment.api
    runtype_local.seed_schedule(
        schedule_id=SCHEDULE_ID,
        record_ids=RECORDS,
        failing_record_ids=FAILING,
        queued_seconds=QUEUED_SECONDS,
        running_seconds=RUN_SECONDS,
    )
    began = time.monotonic()
    timeline: list[str] = []

    def mark(event: str) -> None:
        timeline.append(f"{time.monotonic() - began:.1f}s {event}")

    run_id = api.trigger_dag_run(DAG, {"schedule_id": SCHEDULE_ID})
    deployment.wait_for_task_state(DAG, run_id, "run", "deferred", timeout=300)
    mark("task deferred")
    reference = api.xcom(DAG, run_id, "run", key="run_reference")
    batch_status = f"/v1/batch/status/{reference['batch_execution_id']}"

    # The triggerer owns the trigger and is polling the run (the worker polled once before deferring).
    def owner() -> int | None:
        trigger = api.task_instance(DAG, run_id, "run")["trigger"]
        return trigger and trigger["triggerer_id"]

    first_owner = wait_until(
        owner, timeout=300, interval=0.2, what="trigger assigned", diagnostics=deployment.diagnostics
    )
    wait_until(
        lambda: len(runtype_local.calls("get_batch_status", batch_status)) >= 2,
        timeout=300,
        interval=0.2,
        what="the triggerer polls the run",
    )
    mark(f"triggerer job {first_owner} polling")

    killed = deployment.kill("triggerer")
    polls_at_kill = len(runtype_local.calls("get_batch_status", batch_status))
    mark(f"SIGKILLed the triggerer: {len(killed)} processes, after {polls_at_kill} status polls")
    assert api.task_instance(DAG, run_id, "run")["state"] == "deferred"

    deployment.start_component("triggerer")
    mark("triggerer started again")

    # A new triggerer job takes the trigger over while the run is still going, and polls again.
    def taken_over() -> tuple[str, int | None] | None:
        ti = api.task_instance(DAG, run_id, "run")
        current = ti["trigger"] and ti["trigger"]["triggerer_id"]
        if ti["state"] != "deferred":
            return (ti["state"], None)
        return ("deferred", current) if current not in (None, first_owner) else None

    state, new_owner = wait_until(
        taken_over,
        timeout=300,
        interval=0.2,
        what="trigger taken over",
        diagnostics=deployment.diagnostics,
    )
    mark(f"task {state}, trigger owned by triggerer job {new_owner}")
    assert new_owner is not None, f"the task left DEFERRED ({state}) before a new triggerer took it over: {timeline}"
    wait_until(
        lambda: len(runtype_local.calls("get_batch_status", batch_status)) > polls_at_kill + 1,
        timeout=300,
        interval=0.2,
        what="the new triggerer polls the run",
    )
    runtype_local.advance_clock(QUEUED_SECONDS)  # the run starts now
    polls_at_start = len(runtype_local.calls("get_batch_status", batch_status))
    wait_until(
        lambda: len(runtype_local.calls("get_batch_status", batch_status)) > polls_at_start + 1,
        timeout=300,
        interval=0.2,
        what="the new triggerer polls the running run",
    )
    runtype_local.advance_clock(RUN_SECONDS)  # the run completes now
    mark("new triggerer polling; run started, then ended (clock advanced)")

    deployment.wait_for_run(DAG, run_id, timeout=300)
    mark("DAG run succeeded")
    report("triggerer restart timeline: " + "; ".join(timeline))

    # Exactly one run-now; the wait resumed: the new triggerer polled the run until it was terminal.
    assert len(runtype_local.calls("run_schedule_now", f"/v1/schedules/{SCHEDULE_ID}/")) == 1
    assert len(runtype_local.calls("get_batch_status", batch_status)) > polls_at_kill + 1
    tis = {ti["task_id"]: ti for ti in api.task_instances(DAG, run_id)}
    assert {(t, ti["state"], ti["try_number"]) for t, ti in tis.items()} == {
        ("run", "success", 1),
        ("results", "success", 1),
    }
    outcome = api.xcom(DAG, run_id, "run")
    assert (outcome["status"], outcome["total_records"], outcome["failed_records"]) == ("completed", 25, 2)
    assert outcome["batch_execution_id"] == reference["batch_execution_id"]
    # The triggers' progress lines (one logger per trigger class, not per wait) reach the task's trigger log.
    logs = deployment.task_logs(DAG, run_id, chars=200_000)
    trigger_logs = [part for part in logs.split("--- ") if ".trigger." in part.split("\n", 1)[0]]
    assert any(f"Runtype run {reference['run_id']}: running" in part for part in trigger_logs), logs[-3000:]

    # Every record exactly once downstream (three pages of ten).
    rows = api.xcom(DAG, run_id, "results")
    record_ids = [row["record_id"] for row in rows]
    assert sorted(record_ids) == RECORDS
    assert len(set(record_ids)) == len(record_ids)
    assert sorted(row["record_id"] for row in rows if row["status"] == "failed") == FAILING
    summary = api.xcom(DAG, run_id, "results", key="summary")
    assert (summary["total"], summary["failed"], summary["succeeded"]) == (25, 2, 23)
