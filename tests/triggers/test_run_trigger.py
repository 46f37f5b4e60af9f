"""RuntypeScheduleRunTrigger: serialization, one event per run, deadline, poll errors, kill, async connection."""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import json
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import httpx
import pytest
from task_context import REF, batch_status_body

import runtype_provider.hooks.runtype as hook_module
from runtype_provider.exceptions import RuntypeRunError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger
from runtype_provider.version_compat import AirflowSensorTimeout

STATUS = "/v1/batch/status/b-1"
CANCEL = "/v1/batch/cancel/b-1"
RUNS = "/v1/schedules/sch-1/runs"
NO_RETRY = {"retry_limit": 0}  # one request per poll, so poll errors are counted exactly


def batch(status: str, **counts: Any):
    return httpx.Response(200, json=batch_status_body(status, **counts))


def progress(status: str, outcome: str, *, processed: int = 10, failed: int = 0, error: str | None = None):
    return {
        "status": status,
        "outcome": outcome,
        "total_records": 10,
        "processed_records": processed,
        "failed_records": failed,
        "error": error,
        "run_id": "run-1",
        "batch_execution_id": "b-1",
        "completed_at": None,
    }


def trigger(**kwargs: Any) -> RuntypeScheduleRunTrigger:
    kwargs.setdefault("run", REF)
    kwargs.setdefault("poll_interval", 10)
    kwargs.setdefault("hook_params", NO_RETRY)
    return RuntypeScheduleRunTrigger(**kwargs)


def collect(t: RuntypeScheduleRunTrigger) -> list[dict[str, Any]]:
    """Every event the trigger yields until its generator returns."""

    async def run() -> list[dict[str, Any]]:
        return [event.payload async for event in t.run()]

    return asyncio.run(run())


def only_event(t: RuntypeScheduleRunTrigger) -> dict[str, Any]:
    events = collect(t)
    assert len(events) == 1, events
    return events[0]


# --------------------------------------------------------------------------------------------------
# Serialization


def test_serialize_round_trips_every_argument():
    kwargs = {
        "run": {**REF, "product_id": "p", "surface_id": "s"},
        "runtype_conn_id": "runtype_other",
        "poll_interval": 12.5,
        "end_time": 1_700_000_123.5,
        "max_poll_errors": 9,
        "cancel_on_kill": False,
        "hook_params": {"timeout": 5.0, "retry_limit": 1},
    }
    path, serialized = RuntypeScheduleRunTrigger(**kwargs).serialize()

    assert serialized == kwargs
    assert RuntypeScheduleRunTrigger(**serialized).serialize() == (path, serialized)
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is RuntypeScheduleRunTrigger
    assert set(serialized) == set(inspect.signature(RuntypeScheduleRunTrigger.__init__).parameters) - {"self"}
    assert json.loads(json.dumps(serialized)) == serialized


def test_serialize_with_defaults_round_trips():
    path, serialized = RuntypeScheduleRunTrigger(run=REF).serialize()

    assert serialized == {
        "run": REF,
        "runtype_conn_id": "runtype_default",
        "poll_interval": 30.0,
        "end_time": None,
        "max_poll_errors": 5,
        "cancel_on_kill": True,
        "hook_params": {},
    }
    assert RuntypeScheduleRunTrigger(**serialized).serialize() == (path, serialized)


def test_run_given_as_json_string_serializes_as_a_dict():
    assert RuntypeScheduleRunTrigger(run=json.dumps(REF)).serialize()[1]["run"] == REF


# --------------------------------------------------------------------------------------------------
# Outcomes: exactly one event, then the generator returns


def test_pending_then_success_yields_one_finished_event(runtype_conn, router, clock):
    route = router.get(STATUS).mock(
        side_effect=[batch("queued", processed=0), batch("running", processed=5), batch("completed")]
    )

    event = only_event(trigger(poll_interval=10))

    assert event == {
        "event": "finished",
        "run": REF,
        "progress": progress("completed", "success"),
        "message": "completed: 10/10 records processed, 0 failed",
    }
    assert route.call_count == 3
    assert clock.sleeps == [10.0, 10.0]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_first_event_alone_leaves_nothing_to_clean_up(runtype_conn, router, clock, monkeypatch):
    """``dag.test()`` runs ``asyncio.run(anext(trigger.run()))``: the client must be closed inside the loop."""
    closed: list[bool] = []
    original = RuntypeHook.aclose

    async def aclose(self):
        await original(self)
        closed.append(True)

    monkeypatch.setattr(RuntypeHook, "aclose", aclose)
    router.get(STATUS).mock(return_value=batch("completed"))

    event = asyncio.run(anext(trigger().run()))
    gc.collect()

    assert event.payload["event"] == "finished"
    assert closed == [True]


def test_failed_run_yields_finished_with_the_error(runtype_conn, router, clock):
    router.get(STATUS).mock(side_effect=[batch("running"), batch("failed", failed=10, error="flow crashed")])

    event = only_event(trigger())

    assert event["event"] == "finished"
    assert event["progress"] == progress("failed", "failed", failed=10, error="flow crashed")


def test_cancelled_run_yields_finished_cancelled(runtype_conn, router, clock):
    router.get(STATUS).mock(side_effect=[batch("running"), batch("cancelled", processed=4)])

    event = only_event(trigger())

    assert event["event"] == "finished"
    assert event["progress"] == progress("cancelled", "cancelled", processed=4)


def test_completed_with_failed_records_yields_finished_with_the_counts(runtype_conn, router, clock):
    router.get(STATUS).mock(return_value=batch("completed", failed=3))

    event = only_event(trigger())

    assert event["event"] == "finished"
    assert event["progress"] == progress("completed", "success", failed=3)
    assert event["message"] == "completed: 10/10 records processed, 3 failed"


def test_unknown_status_keeps_polling_and_is_logged_once(runtype_conn, router, clock, logs):
    route = router.get(STATUS).mock(
        side_effect=[batch("thinking"), batch("thinking"), batch("thinking"), batch("completed")]
    )

    event = only_event(trigger())

    assert event["progress"]["outcome"] == "success"
    assert route.call_count == 4
    warnings = [m for m in logs.messages("warning") if "Unknown Runtype run status" in m]
    assert warnings == ["Unknown Runtype run status 'thinking'; still waiting"]


def test_progress_is_logged_every_poll(runtype_conn, router, clock, logs):
    router.get(STATUS).mock(side_effect=[batch("running", processed=2, failed=1), batch("completed")])

    only_event(trigger())

    assert "Runtype run run-1: running: 2/10 records processed, 1 failed" in logs.messages("info")


def test_run_without_batch_id_polls_the_schedules_run_list(runtype_conn, router, clock):
    mine = {"id": "run-1", "scheduleId": "sch-1", "createdAt": "2026-01-02T00:00:00Z", "totalRecords": 2}
    other = {"id": "run-0", "scheduleId": "sch-1", "status": "completed", "createdAt": "2026-01-01T00:00:00Z"}
    route = router.get(RUNS).mock(
        side_effect=[
            httpx.Response(200, json={"data": [other]}),  # not listed yet: keep waiting
            httpx.Response(200, json={"data": [other, {**mine, "status": "running", "processedRecords": 1}]}),
            httpx.Response(200, json={"data": [other, {**mine, "status": "completed", "processedRecords": 2}]}),
        ]
    )

    event = only_event(trigger(run={"schedule_id": "sch-1", "run_id": "run-1"}))

    assert event["event"] == "finished"
    assert event["progress"]["status"] == "completed"
    assert event["progress"]["run_id"] == "run-1"
    assert route.call_count == 3


# --------------------------------------------------------------------------------------------------
# Deadline


def test_deadline_already_passed_yields_timeout_after_one_poll(runtype_conn, router, clock):
    route = router.get(STATUS).mock(return_value=batch("running", processed=4))

    event = only_event(trigger(end_time=clock.time() - 1))

    assert event == {
        "event": "timeout",
        "run": REF,
        "progress": progress("running", "running", processed=4),
        "message": "The wait for the Runtype run timed out",
    }
    assert route.call_count == 1
    assert clock.sleeps == []


def test_near_deadline_cuts_the_last_sleep_short(runtype_conn, router, clock):
    route = router.get(STATUS).mock(return_value=batch("running"))

    event = only_event(trigger(poll_interval=3, end_time=clock.time() + 5))

    assert event["event"] == "timeout"
    assert clock.sleeps == [3.0, 2.0]
    assert route.call_count == 3


def test_a_run_finishing_at_the_deadline_is_finished_not_timed_out(runtype_conn, router, clock):
    router.get(STATUS).mock(side_effect=[batch("running"), batch("completed")])

    event = only_event(trigger(poll_interval=3, end_time=clock.time() + 3))

    assert event["event"] == "finished"


def test_deadline_while_polls_fail_yields_timeout_without_progress(runtype_conn, router, clock):
    router.get(STATUS).mock(return_value=httpx.Response(503, json={"error": "busy"}))

    event = only_event(trigger(poll_interval=3, end_time=clock.time() + 5, max_poll_errors=10))

    assert event["event"] == "timeout"
    assert event["progress"] is None


# --------------------------------------------------------------------------------------------------
# Poll errors


TRANSIENT = [
    httpx.Response(503, json={"error": "busy"}),
    httpx.Response(500, json={"error": "oops"}),
    httpx.Response(429, json={"error": "slow down"}, headers={"Retry-After": "1"}),
    httpx.ConnectError("connection refused"),
    httpx.ReadTimeout("read timed out"),
    httpx.Response(200, text="<html>gateway</html>"),
]
TRANSIENT_IDS = ["503", "500", "429", "connect-error", "read-timeout", "not-json"]


@pytest.mark.parametrize("failure", TRANSIENT, ids=TRANSIENT_IDS)
def test_transient_poll_errors_are_tolerated_then_success(runtype_conn, router, clock, failure):
    route = router.get(STATUS).mock(side_effect=[failure, failure, failure, batch("completed")])

    event = only_event(trigger(max_poll_errors=3))

    assert event["event"] == "finished"
    assert route.call_count == 4


def test_the_error_count_resets_after_a_good_poll(runtype_conn, router, clock):
    busy = httpx.Response(503, json={"error": "busy"})
    route = router.get(STATUS).mock(side_effect=[busy, busy, batch("running"), busy, busy, batch("completed")])

    event = only_event(trigger(max_poll_errors=2))

    assert event["event"] == "finished"
    assert route.call_count == 6


@pytest.mark.parametrize("failure", TRANSIENT, ids=TRANSIENT_IDS)
def test_more_consecutive_poll_errors_than_allowed_yield_an_error_event(runtype_conn, router, clock, failure):
    route = router.get(STATUS).mock(side_effect=[failure] * 10)

    event = only_event(trigger(max_poll_errors=2))

    assert event["event"] == "error"
    assert event["message"].startswith("Gave up polling Runtype run run-1 after 3 failed polls in a row: ")
    assert event["run"] == REF and event["progress"] is None
    assert route.call_count == 3


@pytest.mark.parametrize("code", [400, 401, 403, 404])
def test_permanent_errors_yield_an_error_event_at_once(runtype_conn, router, clock, code):
    route = router.get(STATUS).mock(return_value=httpx.Response(code, json={"error": "Batch not found"}))

    event = only_event(trigger(max_poll_errors=5))

    assert event["event"] == "error"
    assert event["message"] == f"Runtype API GET {STATUS} returned HTTP {code}: Batch not found"
    assert route.call_count == 1
    assert clock.sleeps == []


def test_hook_retries_inside_a_poll_are_not_poll_errors(runtype_conn, router, clock):
    busy = httpx.Response(503, json={"error": "busy"})
    route = router.get(STATUS).mock(side_effect=[busy, busy, batch("completed")])

    event = only_event(trigger(max_poll_errors=0, hook_params={"retry_limit": 2, "retry_delay": 0.5}))

    assert event["event"] == "finished"
    assert route.call_count == 3


# --------------------------------------------------------------------------------------------------
# Arguments reach the async hook


def test_connection_is_read_with_the_async_getter(router, clock, monkeypatch):
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="runtype_default", conn_type="runtype", host="https://api.runtype.com", password="rt_test_async"
    )
    aget = AsyncMock(return_value=conn)
    monkeypatch.setattr(hook_module.BaseHook, "aget_connection", aget)
    monkeypatch.setattr(hook_module.BaseHook, "get_connection", MagicMock(side_effect=AssertionError("blocking call")))
    route = router.get(STATUS).mock(return_value=batch("completed"))

    event = only_event(trigger())

    assert event["event"] == "finished"
    aget.assert_awaited_once_with("runtype_default")
    assert route.calls.last.request.headers["Authorization"] == "Bearer rt_test_async"


def test_conn_id_and_hook_params_reach_the_async_hook(router, clock, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_OTHER",
        json.dumps({"conn_type": "runtype", "host": "https://other.runtype.test", "password": "rt_test_other"}),
    )
    route = router.get("https://other.runtype.test/v1/batch/status/b-1").mock(return_value=batch("completed"))

    only_event(trigger(runtype_conn_id="runtype_other", hook_params={"timeout": 7.5, "retry_limit": 0}))

    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer rt_test_other"
    assert request.extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}


def test_the_async_client_is_closed_when_the_trigger_ends(runtype_conn, router, clock, monkeypatch):
    closed: list[bool] = []
    original = RuntypeHook.aclose

    async def aclose(self):
        closed.append(self._async_transport is not None)
        await original(self)

    monkeypatch.setattr(RuntypeHook, "aclose", aclose)
    router.get(STATUS).mock(return_value=batch("completed"))

    only_event(trigger())

    assert closed == [True]


# --------------------------------------------------------------------------------------------------
# on_kill


def test_on_kill_cancels_the_batch_through_the_async_hook(runtype_conn, router, clock):
    cancel = router.post(CANCEL).mock(return_value=httpx.Response(200, json={"success": True, "message": "ok"}))

    asyncio.run(trigger().on_kill())

    assert cancel.call_count == 1
    assert cancel.calls.last.request.headers["Authorization"] == f"Bearer {runtype_conn['password']}"


def test_on_kill_does_nothing_when_cancel_on_kill_is_off(runtype_conn, router, clock):
    cancel = router.post(CANCEL).mock(return_value=httpx.Response(200, json={"success": True}))

    asyncio.run(trigger(cancel_on_kill=False).on_kill())

    assert cancel.call_count == 0
    assert len(router.calls) == 0


def test_on_kill_without_a_batch_id_makes_no_request(runtype_conn, router, clock):
    asyncio.run(trigger(run={"schedule_id": "sch-1", "run_id": "run-1"}).on_kill())

    assert len(router.calls) == 0


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500, json={"error": "boom"}), httpx.Response(400, json={"error": "done"}), httpx.ConnectError("x")],
    ids=["500", "400", "connect-error"],
)
def test_on_kill_never_raises_when_cancel_fails(runtype_conn, router, clock, logs, failure):
    cancel = router.post(CANCEL).mock(side_effect=[failure])

    asyncio.run(trigger().on_kill())

    assert cancel.call_count == 1
    assert any("Could not cancel Runtype batch b-1 (task killed)" in m for m in logs.messages("warning"))


# --------------------------------------------------------------------------------------------------
# Contract: the operator and the sensor understand the events this trigger really yields


def test_operator_resumes_from_a_real_failed_event(runtype_conn, router, clock):
    router.get(STATUS).mock(return_value=batch("failed", error="bad prompt"))
    event = only_event(trigger())
    op = RuntypeRunScheduleOperator(task_id="run", schedule_id="sch-1")

    with pytest.raises(RuntypeRunError, match=r"run-1 of schedule sch-1 failed \(status 'failed'\): bad prompt"):
        op.execute_complete({}, event)


def test_operator_resumes_from_a_real_success_event(runtype_conn, router, clock):
    router.get(STATUS).mock(return_value=batch("completed", failed=1))
    event = only_event(trigger())

    out = RuntypeRunScheduleOperator(task_id="run", schedule_id="sch-1").execute_complete({}, event)

    assert out == {
        **REF,
        "status": "completed",
        "outcome": "success",
        "total_records": 10,
        "processed_records": 10,
        "failed_records": 1,
    }


def test_sensor_resumes_from_a_real_timeout_event(runtype_conn, router, clock):
    router.get(STATUS).mock(return_value=batch("running"))
    event = only_event(trigger(end_time=clock.time()))

    with pytest.raises(AirflowSensorTimeout):
        RuntypeScheduleRunSensor(task_id="wait", run=REF, timeout=30).execute_complete({}, event)
