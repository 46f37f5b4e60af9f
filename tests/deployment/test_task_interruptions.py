"""Task interruptions a production deployment sees, against the local Runtype (issue 10):

* the worker's task process is SIGKILLed during a synchronous wait: the retry re-attaches to the run the
  first try started (Airflow 3.3+: task state store; 3.1: ``on_active_run="attach"``), one run-now;
* a user marks a deferred task failed (REST ``PATCH``): on 3.3+ the trigger's ``on_kill`` cancels the remote
  batch; 3.1 never calls ``on_kill``, so the batch goes on (documented here);
* ``execution_timeout`` while deferred: the trigger's deadline fires, the batch is cancelled and the task
  fails with a message naming the run URL.

One SQLite deployment for the module; every test seeds its own schedule.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from .conftest import AIRFLOW_3_3_PLUS, report
from .harness import AirflowDeployment, LocalRuntypeProcess, wait_until

pytestmark = pytest.mark.deployment

SYNC_STATE_STORE_DAG = "runtype_deployment_sync_retry_state_store"
SYNC_ATTACH_DAG = "runtype_deployment_sync_retry_attach"
MARK_FAILED_DAG = "runtype_deployment_deferred_mark_failed"
EXECUTION_TIMEOUT_DAG = "runtype_deployment_deferred_execution_timeout"
DEFERRED_RETRY_DAG = "runtype_deployment_deferred_retry"
LONG_RUN = 3600.0
"""Seconds a run lasts when the test ends it itself (``advance_clock``) once its steps are done, or cancels it: no
step races the run's end, however loaded the machine."""


class Timeline:
    def __init__(self, name: str) -> None:
        self.name = name
        self.began = time.monotonic()
        self.events: list[str] = []

    def mark(self, event: str) -> None:
        self.events.append(f"{time.monotonic() - self.began:.1f}s {event}")

    def report(self) -> None:
        report(f"{self.name}: " + "; ".join(self.events))


def batch_calls(runtype: LocalRuntypeProcess, operation: str, batch_id: str, since: int = 0) -> list[dict]:
    """Requests of ``operation`` on ``batch_id`` in the request log, from entry ``since`` on."""
    return [r for r in runtype.requests()[since:] if r["operation"] == operation and r["path"].endswith(f"/{batch_id}")]


def finish_on_try_2(
    deployment: AirflowDeployment,
    runtype_local: LocalRuntypeProcess,
    timeline: Timeline,
    dag_id: str,
    run_id: str,
    retry_waiting: Callable[[], Any],
) -> None:
    """Once try 2 of task ``run`` waits (``retry_waiting``), end the run (``advance_clock``) and check the DAG run
    succeeded on that try."""
    wait_until(
        lambda: deployment.api.task_instance(dag_id, run_id, "run")["try_number"] == 2 and retry_waiting(),
        timeout=300,
        interval=0.25,
        what="try 2 waiting",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    timeline.mark("try 2 waiting")
    runtype_local.advance_clock(LONG_RUN)
    deployment.wait_for_run(dag_id, run_id, timeout=300)
    timeline.mark("DAG run succeeded")
    timeline.report()
    final = deployment.api.task_instance(dag_id, run_id, "run")
    assert (final["state"], final["try_number"]) == ("success", 2)


def run_now_calls(runtype: LocalRuntypeProcess, schedule_id: str) -> list[dict]:
    return runtype.calls("run_schedule_now", f"/v1/schedules/{schedule_id}/")


def xcom_or_none(deployment: AirflowDeployment, dag_id: str, run_id: str, key: str) -> dict | None:
    """An XCom of task ``run`` as JSON, None while it does not exist yet (404)."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/run/xcomEntries/{key}"
    answer = deployment.api.request("GET", path)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return answer.json()["value"]


def task_processes(deployment: AirflowDeployment, ti_id: str) -> list[psutil.Process]:
    """The task process of task instance ``ti_id``: LocalExecutor worker -> supervisor -> task process titled
    ``airflow worker -- <ti id>`` (the worker itself is ``airflow worker -- LocalExecutor: <ti id>`` on 3.1)."""
    found = []
    for process in deployment.components["scheduler"].members():
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if title.strip() == f"airflow worker -- {ti_id}":
            found.append(process)
    return found


def deferred_and_polled(
    deployment: AirflowDeployment, runtype: LocalRuntypeProcess, dag_id: str, run_id: str, timeline: Timeline
) -> dict:
    """Wait until the task is DEFERRED and the triggerer polls its batch; its run reference."""
    deployment.wait_for_task_state(dag_id, run_id, "run", "deferred", timeout=300)
    reference = deployment.api.xcom(dag_id, run_id, "run", key="run_reference")
    batch_id = reference["batch_execution_id"]
    wait_until(
        lambda: len(batch_calls(runtype, "get_batch_status", batch_id)) >= 2,
        timeout=300,
        interval=0.2,
        what="the triggerer polls the run",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    timeline.mark(f"task deferred, batch {batch_id} polled")
    return dict(reference)


# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dag_id", [SYNC_STATE_STORE_DAG, SYNC_ATTACH_DAG])
def test_sync_wait_retry_after_sigkilled_task_process_reattaches(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess, dag_id: str
) -> None:
    """The task process is SIGKILLed mid-wait; the retry (try 2) waits for the same batch.

    Airflow 3.3+: both DAGs re-attach (the state store comes first). Airflow 3.1: only the
    ``on_active_run="attach"`` DAG does; the default ``"start"`` starts a second run (asserted, as documented).
    """
    deployment, api = airflow_deployment, airflow_deployment.api
    deployment.wait_for_dag(dag_id)
    schedule_id = f"sch_deploy_sync_kill_{dag_id.rsplit('_', 1)[-1]}"
    runtype_local.seed_schedule(schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=LONG_RUN)
    timeline = Timeline(f"sync wait, task process SIGKILLed ({dag_id})")
    run_id = api.trigger_dag_run(dag_id, {"schedule_id": schedule_id})
    ti = deployment.wait_for_task_state(dag_id, run_id, "run", "running", timeout=300)
    reference = wait_until(
        lambda: xcom_or_none(deployment, dag_id, run_id, "run_reference"),
        timeout=300,
        interval=0.2,
        what="run reference pushed",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    batch_id = reference["batch_execution_id"]
    wait_until(
        lambda: len(batch_calls(runtype_local, "get_batch_status", batch_id)) >= 2,
        timeout=300,
        interval=0.2,
        what="the task polls the run",
    )
    timeline.mark(f"try 1 running, polling batch {batch_id}")

    victims = wait_until(
        lambda: task_processes(deployment, ti["id"]),
        timeout=120,
        interval=0.2,
        what=f"task process of {ti['id']}",
        diagnostics=lambda: "\n".join(
            " ".join(p.cmdline()) for p in deployment.components["scheduler"].members() if p.is_running()
        ),
    )
    for process in victims:
        process.send_signal(signal.SIGKILL)
    polls_at_kill = len(batch_calls(runtype_local, "get_batch_status", batch_id))
    timeline.mark(f"SIGKILLed task process {[p.pid for p in victims]}")

    # Try 2 waits: on the same run (it polls it) or on a new one (a second run-now). Then the run ends.
    finish_on_try_2(
        deployment, runtype_local, timeline, dag_id, run_id,
        lambda: (
            len(batch_calls(runtype_local, "get_batch_status", batch_id)) > polls_at_kill
            or len(run_now_calls(runtype_local, schedule_id)) > 1
        ),
    )  # fmt: skip
    outcome = api.xcom(dag_id, run_id, "run")
    run_nows = run_now_calls(runtype_local, schedule_id)
    logs = deployment.task_logs(dag_id, run_id, chars=200_000)
    if AIRFLOW_3_3_PLUS or dag_id == SYNC_ATTACH_DAG:
        assert len(run_nows) == 1, run_nows
        assert outcome["batch_execution_id"] == batch_id
        how = "started by an earlier try" if AIRFLOW_3_3_PLUS else "Attaching to the schedule's active run"
        assert how in logs, logs[-3000:]
    else:  # Airflow 3.1, on_active_run="start": no task state store, so the retry starts another run
        assert len(run_nows) == 2, run_nows
        assert outcome["batch_execution_id"] != batch_id
    assert outcome["status"] == "completed"


def test_marking_a_deferred_task_failed_cancels_the_batch_on_3_3_only(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    deployment, api = airflow_deployment, airflow_deployment.api
    dag_id = MARK_FAILED_DAG
    deployment.wait_for_dag(dag_id)
    schedule_id = "sch_deploy_mark_failed"
    runtype_local.seed_schedule(schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=LONG_RUN)
    timeline = Timeline("deferred task marked failed by a user")
    run_id = api.trigger_dag_run(dag_id, {"schedule_id": schedule_id})
    batch_id = deferred_and_polled(deployment, runtype_local, dag_id, run_id, timeline)["batch_execution_id"]

    answer = api.request(
        "PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/run", json={"new_state": "failed"}
    )
    assert answer.ok, f"PATCH task instance: HTTP {answer.status_code} {answer.text[:500]}"
    timeline.mark("PATCH new_state=failed")
    deployment.wait_for_run(dag_id, run_id, timeout=300, states=("failed",))
    assert api.task_instance(dag_id, run_id, "run")["state"] == "failed"

    if AIRFLOW_3_3_PLUS:
        cancels = wait_until(
            lambda: batch_calls(runtype_local, "cancel_batch", batch_id),
            timeout=120,
            interval=0.2,
            what=f"cancel_batch {batch_id}",
            diagnostics=deployment.diagnostics,
        )
        timeline.mark("batch cancelled (trigger on_kill)")
        assert len(cancels) == 1, cancels
    else:
        polls = len(batch_calls(runtype_local, "get_batch_status", batch_id))
        time.sleep(6)  # the triggerer drops the trigger within a couple of seconds; 3.1 has no on_kill
        assert batch_calls(runtype_local, "cancel_batch", batch_id) == []
        timeline.mark(
            f"no cancel after 6 s (Airflow 3.1: no on_kill); status polls {polls} -> "
            f"{len(batch_calls(runtype_local, 'get_batch_status', batch_id))}"
        )
    timeline.report()
    assert len(run_now_calls(runtype_local, schedule_id)) == 1


def test_execution_timeout_while_deferred_cancels_the_batch_and_fails_naming_the_run_url(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    deployment, api = airflow_deployment, airflow_deployment.api
    dag_id = EXECUTION_TIMEOUT_DAG
    deployment.wait_for_dag(dag_id)
    schedule_id = "sch_deploy_execution_timeout"
    runtype_local.seed_schedule(schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=LONG_RUN)
    timeline = Timeline("execution_timeout=8 s while deferred")
    run_id = api.trigger_dag_run(dag_id, {"schedule_id": schedule_id})
    batch_id = deferred_and_polled(deployment, runtype_local, dag_id, run_id, timeline)["batch_execution_id"]
    run_url = api.xcom(dag_id, run_id, "run", key="run_url")

    deployment.wait_for_run(dag_id, run_id, timeout=300, states=("failed",))
    timeline.mark("DAG run failed")
    ti = api.task_instance(dag_id, run_id, "run")
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    cancels = batch_calls(runtype_local, "cancel_batch", batch_id)
    assert len(cancels) == 1, cancels
    assert len(run_now_calls(runtype_local, schedule_id)) == 1

    # The task log (written by the resumed task) names the run, says it was cancelled, and links it.
    logs = deployment.task_logs(dag_id, run_id, chars=200_000)
    assert "did not finish within 8 s" in logs, logs[-3000:]
    assert "the run was cancelled" in logs
    assert run_url and run_url in logs
    timeline.mark(f"batch cancelled, task failed; run URL {run_url} in the task log")
    timeline.report()


def test_deferred_task_cleared_before_its_trigger_ran_reattaches_on_the_next_try(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    """The triggerer is down, so the deferred wait never starts; a user clears the task: the next try finds the
    run in the task state store (3.3; on 3.1 through on_active_run="attach") and waits for it (one run-now).
    Then the triggerer comes back."""
    deployment, api = airflow_deployment, airflow_deployment.api
    dag_id = DEFERRED_RETRY_DAG if AIRFLOW_3_3_PLUS else "runtype_deployment_deferred_retry_attach"
    deployment.wait_for_dag(dag_id)
    schedule_id = "sch_deploy_deferred_cleared"
    runtype_local.seed_schedule(schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=LONG_RUN)
    timeline = Timeline("deferred task cleared before its trigger ran (triggerer down)")
    deployment.stop_component("triggerer")
    try:
        run_id = api.trigger_dag_run(dag_id, {"schedule_id": schedule_id})
        deployment.wait_for_task_state(dag_id, run_id, "run", "deferred", timeout=300)
        batch_id = api.xcom(dag_id, run_id, "run", key="run_reference")["batch_execution_id"]
        timeline.mark(f"try 1 deferred on batch {batch_id}, no triggerer")
        answer = api.request(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["run"], "only_failed": False},
        )
        assert answer.ok, f"clear: HTTP {answer.status_code} {answer.text[:500]}"
        timeline.mark("task cleared")
        wait_until(
            lambda: (ti := api.task_instance(dag_id, run_id, "run"))["try_number"] == 2 and ti["state"] == "deferred",
            timeout=300,
            interval=0.25,
            what="try 2 deferred",
            diagnostics=lambda: deployment.run_report(dag_id, run_id),
        )
        timeline.mark("try 2 deferred")
    finally:
        deployment.start_component("triggerer")
    polls = len(batch_calls(runtype_local, "get_batch_status", batch_id))
    wait_until(
        lambda: len(batch_calls(runtype_local, "get_batch_status", batch_id)) > polls + 1,
        timeout=300,
        interval=0.25,
        what="the restarted triggerer polls the run",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    timeline.mark("triggerer started again, polling the run")
    # Airflow 3.1.8 fails a resumed task whose deferring exit the scheduler processes only after the trigger fired
    # (its retry then finds the run ended and starts another; see test_celery_executor). Seen here on a loaded
    # machine: end the run once the scheduler has processed try 2's deferring exit.
    wait_until(
        lambda: run_id in deployment.executor_events(dag_id, "run", "success", try_number=2),
        timeout=300,
        interval=0.25,
        what="the scheduler processed try 2's deferring exit",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    runtype_local.advance_clock(LONG_RUN)
    deployment.wait_for_run(dag_id, run_id, timeout=300)
    timeline.mark("DAG run succeeded")
    timeline.report()
    assert len(run_now_calls(runtype_local, schedule_id)) == 1
    assert api.xcom(dag_id, run_id, "run")["batch_execution_id"] == batch_id
    assert batch_calls(runtype_local, "cancel_batch", batch_id) == []
    reattached = "started by an earlier try" if AIRFLOW_3_3_PLUS else "Attaching to the schedule's active run"
    assert reattached in deployment.task_logs(dag_id, run_id, chars=200_000)


@pytest.mark.parametrize("dag_id", [SYNC_STATE_STORE_DAG, DEFERRED_RETRY_DAG])
def test_a_succeeded_run_task_cleared_starts_a_new_run(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess, dag_id: str
) -> None:
    """A run task that succeeded is cleared through the REST API: the next try starts a NEW Runtype run (two
    run-nows), as a user who clears a finished task means. Airflow 3.3+: the try that saw its run end dropped it from
    the task state store, so the next one does not re-attach to the old, succeeded run. Airflow 3.1 (no store): a
    clear starts a new run too (``on_active_run="start"``)."""
    deployment, api = airflow_deployment, airflow_deployment.api
    deployment.wait_for_dag(dag_id)
    schedule_id = f"sch_deploy_cleared_after_success_{'sync' if dag_id == SYNC_STATE_STORE_DAG else 'deferred'}"
    runtype_local.seed_schedule(schedule_id=schedule_id, record_count=5, queued_seconds=0.5, running_seconds=2)
    timeline = Timeline(f"succeeded run task cleared ({dag_id})")
    run_id = api.trigger_dag_run(dag_id, {"schedule_id": schedule_id})
    deployment.wait_for_run(dag_id, run_id, timeout=300)
    first = api.xcom(dag_id, run_id, "run")
    assert (api.task_instance(dag_id, run_id, "run")["try_number"], first["status"]) == (1, "completed")
    assert len(run_now_calls(runtype_local, schedule_id)) == 1
    timeline.mark(f"try 1 succeeded, batch {first['batch_execution_id']}")

    api.clear_task(dag_id, run_id, "run")
    timeline.mark("task cleared")
    wait_until(
        lambda: (ti := api.task_instance(dag_id, run_id, "run"))["try_number"] == 2 and ti["state"] == "success",
        timeout=300,
        what="try 2 succeeded",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    deployment.wait_for_run(dag_id, run_id, timeout=300)
    timeline.mark("try 2 succeeded")
    timeline.report()

    run_nows = run_now_calls(runtype_local, schedule_id)
    assert len(run_nows) == 2, run_nows
    second = api.xcom(dag_id, run_id, "run")
    assert second["batch_execution_id"] != first["batch_execution_id"]
    assert second["status"] == "completed"
    assert "started by an earlier try" not in deployment.task_logs(dag_id, run_id, chars=200_000)
