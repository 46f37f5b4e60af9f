"""RuntypeRunScheduleOperator: start, reference to XCom, sync wait, deferral, execute_complete, cancel, kill."""

from __future__ import annotations

import inspect
import json
from datetime import timedelta
from typing import Any

import pytest
import requests
from task_context import REF, batch_status_body

from runtype_provider.exceptions import (
    RuntypeConfigurationError,
    RuntypeException,
    RuntypeNotFoundError,
    RuntypeRunError,
)
from runtype_provider.links import RuntypeRunLink
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger
from runtype_provider.version_compat import TaskDeferred

BASE = "https://api.runtype.com"
RUN_NOW = f"{BASE}/v1/schedules/sch-1/run-now"
SURFACE_RUN_NOW = f"{BASE}/v1/products/prod-1/surfaces/surf-1/schedules/sch-1/run-now"
STATUS = f"{BASE}/v1/batch/status/b-1"
CANCEL = f"{BASE}/v1/batch/cancel/b-1"
RUNS = f"{BASE}/v1/schedules/sch-1/runs"
RUN_URL = "https://app.runtype.com/schedules/sch-1/runs/run-1"
SURFACE_RUN_URL = "https://app.runtype.com/products/prod-1/surfaces/surf-1/schedules/sch-1"
TRIGGER_PATH = "runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger"

SURFACE_REF = {
    "schedule_id": "sch-1",
    "run_id": None,
    "batch_execution_id": "b-1",
    "product_id": "prod-1",
    "surface_id": "surf-1",
    "run_url": SURFACE_RUN_URL,
}

SUCCESS_STATUSES = ["completed", "success", "succeeded", "done", "finished", "COMPLETED"]
FAILED_STATUSES = ["failed", "error", "errored", "failure", "timed_out", "interrupted"]
CANCELLED_STATUSES = ["cancelled", "canceled", "aborted"]
RUNNING_STATUSES = ["queued", "pending", "running", "in_progress", "processing", "started"]


def batch(status: str, **counts: Any):
    return {"json": batch_status_body(status, **counts)}


def result(status: str, outcome: str, *, total: int = 10, processed: int = 10, failed: int = 0, ref=REF):
    return {
        **ref,
        "status": status,
        "outcome": outcome,
        "total_records": total,
        "processed_records": processed,
        "failed_records": failed,
    }


def make_op(**kwargs: Any) -> RuntypeRunScheduleOperator:
    kwargs.setdefault("schedule_id", "sch-1")
    kwargs.setdefault("poll_interval", 5)
    kwargs.setdefault("deferrable", False)
    return RuntypeRunScheduleOperator(task_id="run", **kwargs)


@pytest.fixture
def run_now(requests_mock):
    return requests_mock.post(RUN_NOW, json={"status": "queued", "runId": "run-1", "batchExecutionId": "b-1"})


def status_calls(requests_mock) -> list[str]:
    return [r.url for r in requests_mock.request_history if r.url == STATUS]


# --------------------------------------------------------------------------------------------------
# Starting the run and the run reference


def test_global_run_now_pushes_and_returns_reference_without_waiting(runtype_conn, requests_mock, run_now, context):
    out = make_op(wait_for_completion=False).execute(context)

    assert out == REF
    assert run_now.call_count == 1
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {runtype_conn['password']}"
    assert [(c.kwargs["key"], c.kwargs["value"]) for c in context["ti"].xcom_push.call_args_list] == [
        ("run_reference", REF),
        ("run_url", RUN_URL),
    ]
    assert status_calls(requests_mock) == []


def test_surface_run_now_pushes_and_returns_surface_reference(runtype_conn, requests_mock, context):
    route = requests_mock.post(SURFACE_RUN_NOW, json={"batchExecutionId": "b-1", "recordCount": 10, "status": "queued"})

    out = make_op(product_id="prod-1", surface_id="surf-1", wait_for_completion=False).execute(context)

    assert out == SURFACE_REF
    assert route.call_count == 1
    assert route.last_request.json() == {}
    context["ti"].xcom_push.assert_any_call(key="run_reference", value=SURFACE_REF)
    assert requests_mock.call_count == 1


def test_reference_is_pushed_before_the_first_status_poll(runtype_conn, requests_mock, run_now, context, clock):
    order: list[str] = []
    context["ti"].xcom_push.side_effect = lambda key, value: order.append(f"push:{key}")

    def status(request, ctx):
        order.append("poll")
        return batch("completed")["json"]

    requests_mock.get(STATUS, json=status)
    make_op().execute(context)

    assert order == ["push:run_reference", "push:run_url", "poll"]


def test_surface_wait_to_success_returns_counts(runtype_conn, requests_mock, context, clock):
    requests_mock.post(SURFACE_RUN_NOW, json={"batchExecutionId": "b-1", "recordCount": 3, "status": "queued"})
    requests_mock.get(STATUS, [batch("running", total=3, processed=1), batch("completed", total=3)])

    out = make_op(product_id="prod-1", surface_id="surf-1").execute(context)

    assert out == result("completed", "success", total=3, processed=3, ref=SURFACE_REF)


def test_sync_wait_polls_until_success_and_returns_counts(runtype_conn, requests_mock, run_now, context, clock, logs):
    requests_mock.get(
        STATUS,
        [batch("queued", processed=0), batch("running", processed=4, failed=1), batch("completed", failed=1)],
    )

    out = make_op(poll_interval=7).execute(context)

    assert out == result("completed", "success", failed=1)
    assert len(status_calls(requests_mock)) == 3
    assert clock.sleeps == [7, 7]
    info = logs.messages("info")
    assert "Runtype run run-1: queued: 0/10 records processed, 0 failed" in info
    assert "Runtype run run-1: running: 4/10 records processed, 1 failed" in info


@pytest.mark.parametrize("status", SUCCESS_STATUSES)
def test_every_success_status_ends_the_wait(runtype_conn, requests_mock, run_now, context, clock, status):
    requests_mock.get(STATUS, [batch("running"), batch(status)])

    assert make_op().execute(context)["outcome"] == "success"


@pytest.mark.parametrize("status", RUNNING_STATUSES)
def test_every_running_status_keeps_waiting(runtype_conn, requests_mock, run_now, context, clock, status):
    requests_mock.get(STATUS, [batch(status), batch(status), batch("completed")])

    make_op().execute(context)

    assert len(status_calls(requests_mock)) == 3


def test_run_without_batch_id_is_polled_through_the_schedule_run_list(runtype_conn, requests_mock, context, clock):
    requests_mock.post(RUN_NOW, json={"status": "queued", "runId": "run-1"})
    other = {"id": "run-0", "scheduleId": "sch-1", "status": "failed", "createdAt": "2026-01-01T00:00:00Z"}
    mine = {"id": "run-1", "scheduleId": "sch-1", "createdAt": "2026-01-02T00:00:00Z", "totalRecords": 2}
    requests_mock.get(
        RUNS,
        [
            {"json": {"data": [other]}},
            {"json": {"data": [other, {**mine, "status": "running", "processedRecords": 1}]}},
            {"json": {"data": [other, {**mine, "status": "completed", "processedRecords": 2, "failedRecords": 0}]}},
        ],
    )

    out = make_op().execute(context)

    ref = {**REF, "batch_execution_id": None}
    assert out == result("completed", "success", total=2, processed=2, ref=ref)
    assert requests_mock.call_count == 4


@pytest.mark.parametrize("status", FAILED_STATUSES)
def test_failed_run_raises_with_id_status_error_and_link(runtype_conn, requests_mock, run_now, context, clock, status):
    requests_mock.get(STATUS, [batch("running"), batch(status, error="step 3 exploded")])

    with pytest.raises(RuntypeRunError) as exc:
        make_op().execute(context)

    message = str(exc.value)
    assert "run-1" in message
    assert f"status {status!r}" in message
    assert "step 3 exploded" in message
    assert RUN_URL in message
    assert "failed" in message and "cancelled" not in message
    assert exc.value.run["status"] == status


@pytest.mark.parametrize("status", CANCELLED_STATUSES)
def test_cancelled_run_raises_a_distinct_message(runtype_conn, requests_mock, run_now, context, clock, status):
    requests_mock.get(STATUS, [batch("running"), batch(status)])

    with pytest.raises(RuntypeRunError, match=r"was cancelled") as exc:
        make_op().execute(context)

    assert f"status {status!r}" in str(exc.value)
    assert " failed (status" not in str(exc.value)
    assert exc.value.run["outcome"] == "cancelled"


def test_failed_records_are_tolerated_with_a_warning_by_default(
    runtype_conn, requests_mock, run_now, context, clock, logs
):
    requests_mock.get(STATUS, json=batch("completed", failed=9)["json"])

    out = make_op().execute(context)

    assert out["failed_records"] == 9
    assert "Runtype run run-1 completed with 9 of 10 records failed" in logs.messages("warning")


POLICY_TABLE = [
    # allowed_failed_records, failed of 10, task fails?
    (None, 10, False),
    (0, 0, False),
    (0, 1, True),
    (3, 3, False),
    (3, 4, True),
    ("3", 4, True),
    ("20%", 2, False),
    ("20%", 3, True),
    ("0%", 1, True),
    ("100%", 10, False),
]


@pytest.mark.parametrize(("policy", "failed", "fails"), POLICY_TABLE)
def test_failed_records_policy_on_the_sync_path(
    runtype_conn, requests_mock, run_now, context, clock, policy, failed, fails
):
    requests_mock.get(STATUS, json=batch("completed", failed=failed)["json"])
    op = make_op(allowed_failed_records=policy)

    if fails:
        with pytest.raises(RuntypeRunError, match=rf"completed with {failed} of 10 records failed; allowed: "):
            op.execute(context)
    else:
        assert op.execute(context)["failed_records"] == failed


def test_unknown_status_keeps_waiting_and_is_logged_once(runtype_conn, requests_mock, run_now, context, clock, logs):
    requests_mock.get(STATUS, [batch("mystery"), batch("mystery"), batch("mystery"), batch("completed")])

    out = make_op().execute(context)

    assert out["outcome"] == "success"
    assert len(status_calls(requests_mock)) == 4
    unknown = [m for m in logs.messages("warning") if "Unknown Runtype run status" in m]
    assert unknown == ["Unknown Runtype run status 'mystery'; still waiting"]


def test_timeout_cancels_the_batch_and_raises(runtype_conn, requests_mock, run_now, context, clock):
    requests_mock.get(STATUS, json=batch("running", processed=1)["json"])
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "Batch cancelled"})

    with pytest.raises(RuntypeRunError, match=r"Timed out after 10 s .* run-1; the run was cancelled") as exc:
        make_op(timeout=10, poll_interval=3).execute(context)

    assert cancel.call_count == 1
    assert clock.sleeps == [3, 3, 3, 1]  # the last pause is cut to the deadline
    assert len(status_calls(requests_mock)) == 5
    assert exc.value.run == REF


def test_timeout_does_not_cancel_when_cancel_on_kill_is_off(runtype_conn, requests_mock, run_now, context, clock):
    requests_mock.get(STATUS, json=batch("running")["json"])
    cancel = requests_mock.post(CANCEL, json={"success": True})

    with pytest.raises(RuntypeRunError, match=r"Timed out") as exc:
        make_op(timeout=4, poll_interval=3, cancel_on_kill=False).execute(context)

    assert cancel.call_count == 0
    assert "the run was NOT cancelled and may still be running" in str(exc.value)


def test_timeout_says_so_when_the_cancel_fails(runtype_conn, requests_mock, run_now, context, clock, logs):
    requests_mock.get(STATUS, json=batch("running")["json"])
    cancel = requests_mock.post(CANCEL, status_code=400, json={"error": "cannot cancel"})

    with pytest.raises(RuntypeRunError, match=r"Timed out .* the run was NOT cancelled"):
        make_op(timeout=4, poll_interval=3).execute(context)

    assert cancel.call_count == 1
    assert any("Could not cancel Runtype batch b-1 (wait timed out)" in m for m in logs.messages("warning"))


def test_transient_poll_errors_are_tolerated_up_to_max_poll_errors(
    runtype_conn, requests_mock, run_now, context, clock
):
    requests_mock.get(
        STATUS,
        [
            {"status_code": 503, "json": {"error": "busy"}},
            {"exc": requests.exceptions.ConnectionError("reset")},
            batch("running"),
            {"status_code": 502, "json": {"error": "bad gateway"}},
            {"status_code": 500, "json": {"error": "oops"}},
            batch("completed"),
        ],
    )

    out = make_op(max_poll_errors=2, hook_params={"retry_limit": 0}).execute(context)

    assert out["outcome"] == "success"
    assert len(status_calls(requests_mock)) == 6


def test_more_consecutive_poll_errors_than_allowed_raise(runtype_conn, requests_mock, run_now, context, clock):
    requests_mock.get(STATUS, status_code=503, json={"error": "busy"})

    with pytest.raises(RuntypeRunError, match=r"Gave up polling Runtype run run-1 after 3 failed polls in a row"):
        make_op(max_poll_errors=2, hook_params={"retry_limit": 0}).execute(context)

    assert len(status_calls(requests_mock)) == 3


def test_permanent_poll_error_raises_at_once(runtype_conn, requests_mock, run_now, context, clock):
    requests_mock.get(STATUS, status_code=404, json={"error": "Batch not found"})

    with pytest.raises(RuntypeNotFoundError, match="Batch not found"):
        make_op(max_poll_errors=5).execute(context)

    assert len(status_calls(requests_mock)) == 1


def test_run_now_answering_failed_raises_after_pushing_the_reference(runtype_conn, requests_mock, context, clock):
    requests_mock.post(RUN_NOW, json={"status": "failed", "runId": "run-1", "error": "no records match"})

    with pytest.raises(RuntypeRunError, match=r"refused to run schedule sch-1: status 'failed': no records match"):
        make_op().execute(context)

    context["ti"].xcom_push.assert_any_call(key="run_reference", value={**REF, "batch_execution_id": None})
    assert requests_mock.call_count == 1  # no status poll


# --------------------------------------------------------------------------------------------------
# reuse_running_run


def _run(run_id: str, status: str, created: str, batch_id: str) -> dict[str, Any]:
    return {"id": run_id, "scheduleId": "sch-1", "status": status, "createdAt": created, "batchExecutionId": batch_id}


def test_reuse_running_run_attaches_to_the_newest_active_run(runtype_conn, requests_mock, run_now, context):
    requests_mock.get(
        RUNS,
        json={
            "data": [
                _run("run-old", "completed", "2026-01-01T00:00:00Z", "b-0"),
                _run("run-q", "queued", "2026-01-02T00:00:00Z", "b-8"),
                _run("run-r", "running", "2026-01-03T00:00:00Z", "b-9"),
            ]
        },
    )

    out = make_op(reuse_running_run=True, wait_for_completion=False).execute(context)

    assert run_now.call_count == 0
    assert out == {
        **REF,
        "run_id": "run-r",
        "batch_execution_id": "b-9",
        "run_url": "https://app.runtype.com/schedules/sch-1/runs/run-r",
    }


def test_reuse_running_run_starts_a_run_when_none_is_active(runtype_conn, requests_mock, run_now, context):
    requests_mock.get(RUNS, json={"data": [_run("run-old", "completed", "2026-01-01T00:00:00Z", "b-0")]})

    out = make_op(reuse_running_run=True, wait_for_completion=False).execute(context)

    assert run_now.call_count == 1
    assert out == REF


def test_reuse_running_run_on_a_surface_schedule_uses_recent_runs(runtype_conn, requests_mock, context):
    start = requests_mock.post(SURFACE_RUN_NOW, json={"batchExecutionId": "b-new", "status": "queued"})
    requests_mock.get(
        f"{BASE}/v1/products/prod-1/surfaces/surf-1/schedules/sch-1",
        json={
            "id": "sch-1",
            "recentRuns": [
                {"id": "rr-1", "status": "completed", "createdAt": "2026-01-01T00:00:00Z", "batchExecutionId": "b-0"},
                {"id": "rr-2", "status": "running", "createdAt": "2026-01-02T00:00:00Z", "batchExecutionId": "b-1"},
            ],
        },
    )

    out = make_op(product_id="prod-1", surface_id="surf-1", reuse_running_run=True, wait_for_completion=False).execute(
        context
    )

    assert start.call_count == 0
    assert out == {**SURFACE_REF, "run_id": "rr-2"}


# --------------------------------------------------------------------------------------------------
# Deferral


def test_run_already_terminal_at_the_first_check_does_not_defer(runtype_conn, requests_mock, run_now, context, clock):
    requests_mock.get(STATUS, json=batch("completed")["json"])

    out = make_op(deferrable=True).execute(context)

    assert out == result("completed", "success")


def test_deferrable_raises_task_deferred_with_the_exact_trigger_kwargs(
    runtype_conn, requests_mock, run_now, context, clock
):
    requests_mock.get(STATUS, json=batch("running")["json"])
    op = make_op(
        deferrable=True,
        poll_interval=15,
        timeout=600,
        max_poll_errors=7,
        cancel_on_kill=False,
        hook_params={"timeout": 12.5, "retry_limit": 1},
        allowed_failed_records="5%",
    )

    with pytest.raises(TaskDeferred) as exc:
        op.execute(context)

    deferred = exc.value
    assert isinstance(deferred.trigger, RuntypeScheduleRunTrigger)
    assert deferred.trigger.serialize() == (
        TRIGGER_PATH,
        {
            "run": REF,
            "runtype_conn_id": "runtype_default",
            "poll_interval": 15.0,
            "end_time": clock.time() + 600,
            "max_poll_errors": 7,
            "cancel_on_kill": False,
            "hook_params": {"timeout": 12.5, "retry_limit": 1},
        },
    )
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=660)  # backstop after the trigger's own deadline
    assert len(status_calls(requests_mock)) == 1  # checked once before deferring


def test_deferrable_without_timeout_has_no_deadline(runtype_conn, requests_mock, run_now, context, clock):
    requests_mock.get(STATUS, json=batch("queued")["json"])

    with pytest.raises(TaskDeferred) as exc:
        make_op(deferrable=True).execute(context)

    assert exc.value.trigger.serialize()[1]["end_time"] is None
    assert exc.value.timeout is None


@pytest.mark.parametrize(("timeout", "execution_timeout", "limit"), [(None, 120, 120), (600, 120, 120), (90, 120, 90)])
def test_deferred_wait_ends_at_the_earlier_of_timeout_and_execution_timeout(
    runtype_conn, requests_mock, run_now, context, clock, timeout, execution_timeout, limit
):
    # Airflow does not enforce execution_timeout while a task is deferred: the trigger's deadline must.
    requests_mock.get(STATUS, json=batch("running")["json"])
    op = make_op(deferrable=True, timeout=timeout, execution_timeout=timedelta(seconds=execution_timeout))

    with pytest.raises(TaskDeferred) as exc:
        op.execute(context)

    assert exc.value.trigger.serialize()[1]["end_time"] == clock.time() + limit
    assert exc.value.timeout == timedelta(seconds=limit + 60)


def test_execute_complete_timeout_from_execution_timeout_cancels_and_names_the_limit(
    runtype_conn, requests_mock, context
):
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "ok"})
    op = make_op(execution_timeout=timedelta(seconds=45))

    with pytest.raises(RuntypeRunError, match=r"Timed out after 45 s waiting for Runtype run run-1; the run was c"):
        op.execute_complete(context, event("timeout", "running", "running"))

    assert cancel.call_count == 1


def test_deferrable_defaults_to_the_operators_default_deferrable_setting(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert RuntypeRunScheduleOperator(task_id="a", schedule_id="s").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert RuntypeRunScheduleOperator(task_id="b", schedule_id="s").deferrable is False


def test_trigger_kwargs_carry_no_secret(runtype_conn, requests_mock, run_now, context, clock):
    requests_mock.get(STATUS, json=batch("queued")["json"])

    with pytest.raises(TaskDeferred) as exc:
        make_op(deferrable=True, timeout=60).execute(context)

    assert runtype_conn["password"] not in json.dumps(exc.value.trigger.serialize())


# --------------------------------------------------------------------------------------------------
# execute_complete: every event the trigger can send


def event(kind: str, status: str | None = None, outcome: str | None = None, *, failed: int = 0, **extra: Any):
    progress = None
    if status is not None:
        progress = {
            "status": status,
            "outcome": outcome,
            "total_records": 10,
            "processed_records": 10,
            "failed_records": failed,
            "error": extra.pop("error", None),
            "run_id": "run-1",
            "batch_execution_id": "b-1",
            "completed_at": None,
        }
    return {"event": kind, "run": REF, "progress": progress, "message": extra.pop("message", "m")}


def test_execute_complete_finished_success_returns_the_result(runtype_conn, context):
    op = make_op()

    out = op.execute_complete(context, event("finished", "completed", "success"))

    assert out == result("completed", "success")
    assert op.run_url == RUN_URL


def test_execute_complete_finished_failed_raises(runtype_conn, context):
    with pytest.raises(RuntypeRunError, match=r"run-1 of schedule sch-1 failed \(status 'failed'\): kaput"):
        make_op().execute_complete(context, event("finished", "failed", "failed", error="kaput"))


def test_execute_complete_finished_cancelled_raises(runtype_conn, context):
    with pytest.raises(RuntypeRunError, match=r"was cancelled"):
        make_op().execute_complete(context, event("finished", "cancelled", "cancelled"))


@pytest.mark.parametrize(("policy", "failed", "fails"), POLICY_TABLE)
def test_execute_complete_applies_the_failed_records_policy(runtype_conn, context, policy, failed, fails):
    op = make_op(allowed_failed_records=policy)
    finished = event("finished", "completed", "success", failed=failed)

    if fails:
        with pytest.raises(RuntypeRunError, match=r"records failed; allowed: "):
            op.execute_complete(context, finished)
    else:
        assert op.execute_complete(context, finished)["failed_records"] == failed


def test_execute_complete_timeout_cancels_the_batch_and_raises(runtype_conn, requests_mock, context):
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "ok"})

    with pytest.raises(RuntypeRunError, match=r"Timed out after 60 s waiting for Runtype run run-1"):
        make_op(timeout=60).execute_complete(context, event("timeout", "running", "running"))

    assert cancel.call_count == 1


def test_execute_complete_timeout_without_progress_still_cancels(runtype_conn, requests_mock, context):
    cancel = requests_mock.post(CANCEL, json={"success": True})

    with pytest.raises(RuntypeRunError, match=r"Timed out"):
        make_op(timeout=60).execute_complete(context, event("timeout"))

    assert cancel.call_count == 1


def test_execute_complete_error_event_raises_with_its_message(runtype_conn, requests_mock, context):
    with pytest.raises(RuntypeRunError, match=r"Waiting for the Runtype run failed: Gave up polling after 6"):
        make_op().execute_complete(context, event("error", message="Gave up polling after 6 failed polls"))

    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "finished",
        {},
        {"event": "bogus", "run": REF},
        {"event": "finished", "run": REF},  # no progress: must not pass as a success
        {"event": "finished", "run": REF, "progress": {"status": "running", "outcome": "running"}},
        {"event": "finished", "run": REF, "progress": "garbage"},
        {"event": "finished", "run": "not a reference", "progress": None},
    ],
    ids=["none", "string", "empty", "unknown-kind", "no-progress", "not-terminal", "bad-progress", "bad-run"],
)
def test_execute_complete_rejects_malformed_events(runtype_conn, context, bad):
    with pytest.raises(RuntypeException):
        make_op().execute_complete(context, bad)


# --------------------------------------------------------------------------------------------------
# Parity: every argument that matters while waiting reaches the deferred path


# How each user argument of the operator is honoured by the deferred path.
TRIGGER_KWARG = {
    "runtype_conn_id": "runtype_conn_id",
    "poll_interval": "poll_interval",
    "timeout": "end_time",
    "max_poll_errors": "max_poll_errors",
    "cancel_on_kill": "cancel_on_kill",
    "hook_params": "hook_params",
}
IN_RUN_REFERENCE = {"schedule_id", "product_id", "surface_id"}  # travel inside the trigger's ``run``
JUDGED_BY_EXECUTE_COMPLETE = {"allowed_failed_records"}
NOT_ABOUT_WAITING = {"wait_for_completion", "deferrable", "reuse_running_run"}


def _user_arguments(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__ or klass.__module__.startswith("airflow"):
            continue
        for name, param in inspect.signature(klass.__init__).parameters.items():
            if name != "self" and param.kind is param.KEYWORD_ONLY:
                names.add(name)
    return names


def test_parity_every_operator_argument_is_classified():
    """Adding an argument to the operator fails here until its deferred-path handling is decided and tested."""
    classified = set(TRIGGER_KWARG) | IN_RUN_REFERENCE | JUDGED_BY_EXECUTE_COMPLETE | NOT_ABOUT_WAITING
    assert _user_arguments(RuntypeRunScheduleOperator) == classified


def test_parity_trigger_serializes_every_one_of_its_arguments():
    trigger_args = set(inspect.signature(RuntypeScheduleRunTrigger.__init__).parameters) - {"self"}
    kwargs = RuntypeScheduleRunTrigger(run=REF).serialize()[1]
    assert set(kwargs) == trigger_args
    assert set(TRIGGER_KWARG.values()) | {"run"} == trigger_args


def test_parity_waiting_arguments_reach_the_trigger(runtype_conn, requests_mock, context, clock, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_OTHER",
        json.dumps({"conn_type": "runtype", "host": "https://other.runtype.test", "password": "rt_test_other"}),
    )
    requests_mock.post(
        "https://other.runtype.test/v1/products/p/surfaces/s/schedules/sch-9/run-now",
        json={"batchExecutionId": "b-9", "status": "queued"},
    )
    requests_mock.get("https://other.runtype.test/v1/batch/status/b-9", json={"status": "running"})
    # Non-default values for every argument, so a forgotten one shows up as a default.
    values = {
        "runtype_conn_id": "runtype_other",
        "poll_interval": 42.0,
        "timeout": 321.0,
        "max_poll_errors": 9,
        "cancel_on_kill": False,
        "hook_params": {"timeout": 3.0, "retry_limit": 0},
    }
    op = RuntypeRunScheduleOperator(
        task_id="run",
        schedule_id="sch-9",
        product_id="p",
        surface_id="s",
        deferrable=True,
        allowed_failed_records=0,
        **values,
    )

    with pytest.raises(TaskDeferred) as exc:
        op.execute(context)

    kwargs = exc.value.trigger.serialize()[1]
    for argument, trigger_kwarg in TRIGGER_KWARG.items():
        expected = clock.time() + values["timeout"] if argument == "timeout" else values[argument]
        assert kwargs[trigger_kwarg] == expected, argument
    for argument in IN_RUN_REFERENCE:
        assert kwargs["run"][argument] == getattr(op, argument), argument
    # allowed_failed_records: the resumed task judges the trigger's event with the same policy.
    progress = event("finished", "completed", "success", failed=1)["progress"]
    finished = {"event": "finished", "run": kwargs["run"], "progress": progress, "message": "m"}
    with pytest.raises(RuntypeRunError, match="allowed: no failed records"):
        op.execute_complete(context, finished)


@pytest.mark.parametrize(("policy", "failed", "fails"), POLICY_TABLE)
def test_parity_sync_and_deferred_paths_judge_a_run_alike(
    runtype_conn, requests_mock, run_now, context, clock, policy, failed, fails
):
    requests_mock.get(STATUS, [batch("running"), batch("completed", failed=failed)])

    def outcome(fn):
        try:
            return fn()
        except RuntypeRunError as err:
            return ("raised", str(err))

    sync = outcome(lambda: make_op(allowed_failed_records=policy).execute(context))
    deferred = outcome(
        lambda: make_op(allowed_failed_records=policy).execute_complete(
            context, event("finished", "completed", "success", failed=failed)
        )
    )
    assert sync == deferred
    assert (isinstance(sync, tuple) and sync[0] == "raised") is fails


# --------------------------------------------------------------------------------------------------
# on_kill


def test_on_kill_cancels_the_batch(runtype_conn, requests_mock, run_now, context):
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "cancelled"})
    op = make_op(wait_for_completion=False)
    op.execute(context)

    op.on_kill()

    assert cancel.call_count == 1


def test_on_kill_after_resuming_from_the_trigger_cancels_the_batch(runtype_conn, requests_mock, context):
    cancel = requests_mock.post(CANCEL, json={"success": True})
    op = make_op()
    with pytest.raises(RuntypeRunError):
        op.execute_complete(context, event("finished", "failed", "failed"))

    op.on_kill()

    assert cancel.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"status_code": 500, "json": {"error": "boom"}},
        {"status_code": 400, "json": {"error": "Batch already finished"}},
        {"exc": requests.exceptions.ConnectionError("refused")},
    ],
    ids=["500", "400", "connection"],
)
def test_on_kill_never_raises_when_cancel_fails(runtype_conn, requests_mock, run_now, context, logs, sleeps, failure):
    cancel = requests_mock.post(CANCEL, [failure])
    op = make_op(wait_for_completion=False)
    op.execute(context)

    op.on_kill()

    assert cancel.call_count >= 1
    assert any("Could not cancel Runtype batch b-1" in m for m in logs.messages("warning"))


def test_on_kill_does_nothing_when_cancel_on_kill_is_off(runtype_conn, requests_mock, run_now, context):
    cancel = requests_mock.post(CANCEL, json={"success": True})
    op = make_op(wait_for_completion=False, cancel_on_kill=False)
    op.execute(context)

    op.on_kill()

    assert cancel.call_count == 0


def test_on_kill_before_any_run_makes_no_request(runtype_conn, requests_mock):
    make_op().on_kill()

    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------------------------------
# Construction, templating, link


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"schedule_id": None}, "schedule_id"),
        ({"schedule_id": "  "}, "schedule_id"),
        ({"product_id": "p"}, "surface_id"),
        ({"surface_id": "s"}, "product_id"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": True}, "poll_interval"),
        ({"timeout": -1}, "timeout"),
        ({"allowed_failed_records": "lots"}, "allowed_failed_records"),
        ({"allowed_failed_records": -1}, "allowed_failed_records"),
        ({"allowed_failed_records": "150%"}, "allowed_failed_records"),
        ({"max_poll_errors": -1}, "max_poll_errors"),
        ({"max_poll_errors": True}, "max_poll_errors"),
    ],
)
def test_constructor_errors_name_the_argument(requests_mock, kwargs, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"'{argument}'"):
        make_op(**kwargs)

    assert requests_mock.call_count == 0


def test_construction_makes_no_api_call(requests_mock):
    make_op(product_id="p", surface_id="s", deferrable=True, timeout=5)

    assert requests_mock.call_count == 0


def test_ids_are_templated_fields():
    assert set(RuntypeRunScheduleOperator.template_fields) >= {"schedule_id", "product_id", "surface_id"}


def test_templated_ids_render(runtype_conn):
    op = RuntypeRunScheduleOperator(
        task_id="run", schedule_id="{{ params.s }}", product_id="{{ params.p }}", surface_id="surf-{{ params.p }}"
    )

    op.render_template_fields({"params": {"s": "sch-7", "p": "prod-7"}})

    assert (op.schedule_id, op.product_id, op.surface_id) == ("sch-7", "prod-7", "surf-prod-7")


def test_run_link_is_an_extra_link_of_the_operator():
    links = RuntypeRunScheduleOperator.operator_extra_links
    assert [type(link) for link in links] == [RuntypeRunLink]
    assert links[0].name == "Runtype run"


# --------------------------------------------------------------------------------------------------
# The API key never leaks


def test_api_key_appears_nowhere_in_a_failing_run(runtype_conn, requests_mock, context, clock, logs, sleeps):
    key = runtype_conn["password"]
    requests_mock.post(RUN_NOW, json={"status": "queued", "runId": "run-1", "batchExecutionId": "b-1"})
    requests_mock.get(
        STATUS,
        [
            {"status_code": 503, "json": {"error": f"upstream rejected Bearer {key}"}},
            {"status_code": 503, "text": f"proxy error for {key}"},
            batch("running"),
            batch("failed", error="record 7 failed"),
        ],
    )
    requests_mock.post(CANCEL, status_code=401, json={"error": f"invalid key {key}"})
    op = make_op(hook_params={"retry_limit": 1})

    with pytest.raises(RuntypeRunError) as exc:
        op.execute(context)
    op.on_kill()

    pushed = [c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list]
    assert pushed, "nothing was pushed"
    assert key not in json.dumps(pushed)
    assert key not in str(exc.value) and key not in repr(exc.value) and key not in json.dumps(exc.value.run)
    everything = logs.dump()
    assert "HTTP 503" in everything and "***" in everything  # the echoed key did reach the log path, redacted
    assert key not in everything
