"""RuntypeScheduleRunSensor: poke, reschedule and deferrable modes, failure policy, timeouts, kill."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from task_context import REF, batch_status_body

from runtype_provider.exceptions import (
    RuntypeAuthError,
    RuntypeConfigurationError,
    RuntypeException,
    RuntypeNotFoundError,
    RuntypeRunError,
)
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger
from runtype_provider.version_compat import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

try:
    from airflow.sdk import PokeReturnValue
except ImportError:  # pragma: no cover
    from airflow.sensors.base import PokeReturnValue

try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowRescheduleException

BASE = "https://api.runtype.com"
STATUS = f"{BASE}/v1/batch/status/b-1"
CANCEL = f"{BASE}/v1/batch/cancel/b-1"
RUNS = f"{BASE}/v1/schedules/sch-1/runs"
RUN_URL = "https://app.runtype.com/schedules/sch-1/runs/run-1"
TRIGGER_PATH = "runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger"

SUCCESS_STATUSES = ["completed", "success", "succeeded", "done", "finished"]
FAILED_STATUSES = ["failed", "error", "errored", "timed_out", "interrupted"]
CANCELLED_STATUSES = ["cancelled", "canceled", "aborted"]
RUNNING_STATUSES = ["queued", "pending", "running", "in_progress", "processing", "started"]


def batch(status: str, **counts: Any):
    return batch_status_body(status, **counts)


def result(status: str, outcome: str, *, ref=REF, total=10, processed=10, failed=0) -> dict[str, Any]:
    return {
        **ref,
        "status": status,
        "outcome": outcome,
        "total_records": total,
        "processed_records": processed,
        "failed_records": failed,
    }


def make_sensor(**kwargs: Any) -> RuntypeScheduleRunSensor:
    if not {"run", "batch_execution_id", "run_id"} & set(kwargs):
        kwargs["run"] = REF
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poke_interval", 20)
    return RuntypeScheduleRunSensor(task_id="wait", **kwargs)


def polls(requests_mock, url: str = STATUS) -> int:
    return sum(1 for r in requests_mock.request_history if r.url == url)


# --------------------------------------------------------------------------------------------------
# poke


@pytest.mark.parametrize("status", RUNNING_STATUSES)
def test_poke_returns_false_while_the_run_is_in_progress(runtype_conn, requests_mock, context, status):
    requests_mock.get(STATUS, json=batch(status, processed=3))

    assert make_sensor().poke(context) is False


def test_poke_logs_progress_every_poll(runtype_conn, requests_mock, context, logs):
    requests_mock.get(
        STATUS, [{"json": batch("running", processed=3, failed=1)}, {"json": batch("running", processed=6)}]
    )
    sensor = make_sensor()

    sensor.poke(context)
    sensor.poke(context)

    info = logs.messages("info")
    assert "Runtype run run-1: running: 3/10 records processed, 1 failed" in info
    assert "Runtype run run-1: running: 6/10 records processed, 0 failed" in info


@pytest.mark.parametrize("status", SUCCESS_STATUSES)
def test_poke_returns_the_result_when_the_run_succeeded(runtype_conn, requests_mock, context, status):
    requests_mock.get(STATUS, json=batch(status, failed=2))

    answer = make_sensor().poke(context)

    assert isinstance(answer, PokeReturnValue)
    assert answer.is_done is True
    assert answer.xcom_value == result(status, "success", failed=2)


def test_run_reference_as_json_string_is_accepted(runtype_conn, requests_mock, context):
    requests_mock.get(STATUS, json=batch("completed"))

    assert make_sensor(run=json.dumps(REF)).poke(context).xcom_value == result("completed", "success")


def test_explicit_batch_id(runtype_conn, requests_mock, context):
    requests_mock.get(f"{BASE}/v1/batch/status/b-9", json={**batch("completed"), "batchExecutionId": "b-9"})

    answer = make_sensor(batch_execution_id="b-9").poke(context)

    ref = {**dict.fromkeys(REF), "batch_execution_id": "b-9", "run_url": "https://app.runtype.com/batches/b-9"}
    assert answer.xcom_value == result("completed", "success", ref=ref)


def test_explicit_schedule_and_run_id_poll_the_schedule_run_list(runtype_conn, requests_mock, context):
    other = {"id": "run-0", "scheduleId": "sch-1", "status": "failed", "createdAt": "2026-01-01T00:00:00Z"}
    mine = {"id": "run-1", "scheduleId": "sch-1", "createdAt": "2026-01-02T00:00:00Z", "totalRecords": 4}
    requests_mock.get(
        RUNS,
        [
            {"json": {"data": [other]}},  # not visible yet
            {"json": {"data": [other, {**mine, "status": "running", "processedRecords": 1}]}},
            {"json": {"data": [other, {**mine, "status": "completed", "processedRecords": 4, "failedRecords": 1}]}},
        ],
    )
    sensor = make_sensor(schedule_id="sch-1", run_id="run-1")

    assert sensor.poke(context) is False
    assert sensor.poke(context) is False
    answer = sensor.poke(context)

    ref = {**REF, "batch_execution_id": None}
    assert answer.xcom_value == result("completed", "success", ref=ref, total=4, processed=4, failed=1)
    assert polls(requests_mock, RUNS) == 3


def test_surface_ids_give_the_surface_link(runtype_conn, requests_mock, context):
    requests_mock.get(STATUS, json=batch("completed"))

    answer = make_sensor(batch_execution_id="b-1", schedule_id="sch-1", product_id="p-1", surface_id="s-1").poke(
        context
    )

    assert answer.xcom_value["run_url"] == "https://app.runtype.com/products/p-1/surfaces/s-1/schedules/sch-1"


@pytest.mark.parametrize("status", FAILED_STATUSES)
def test_failed_run_raises_with_id_status_error_and_link(runtype_conn, requests_mock, context, status):
    requests_mock.get(STATUS, json=batch(status, error="flow step 2 timed out"))

    with pytest.raises(RuntypeRunError) as exc:
        make_sensor().poke(context)

    message = str(exc.value)
    assert "run-1" in message and f"status {status!r}" in message
    assert "flow step 2 timed out" in message and RUN_URL in message
    assert "cancelled" not in message


@pytest.mark.parametrize("status", CANCELLED_STATUSES)
def test_cancelled_run_raises_a_distinct_message(runtype_conn, requests_mock, context, status):
    requests_mock.get(STATUS, json=batch(status))

    with pytest.raises(RuntypeRunError, match="was cancelled") as exc:
        make_sensor().poke(context)

    assert " failed (status" not in str(exc.value)


POLICY_TABLE = [
    (None, 10, False),
    (0, 0, False),
    (0, 1, True),
    (2, 2, False),
    (2, 3, True),
    ("25%", 2, False),
    ("25%", 3, True),
]


@pytest.mark.parametrize(("policy", "failed", "fails"), POLICY_TABLE)
def test_failed_records_policy(runtype_conn, requests_mock, context, policy, failed, fails):
    requests_mock.get(STATUS, json=batch("completed", failed=failed))
    sensor = make_sensor(allowed_failed_records=policy)

    if fails:
        with pytest.raises(RuntypeRunError, match=rf"completed with {failed} of 10 records failed; allowed: "):
            sensor.poke(context)
    else:
        assert sensor.poke(context).xcom_value["failed_records"] == failed


def test_unknown_status_keeps_waiting_and_is_logged_once(runtype_conn, requests_mock, context, logs):
    requests_mock.get(STATUS, [{"json": batch("warming_up")}] * 3 + [{"json": batch("completed")}])
    sensor = make_sensor()

    answers = [sensor.poke(context) for _ in range(4)]

    assert answers[:3] == [False, False, False]
    assert answers[3].is_done
    warnings = [m for m in logs.messages("warning") if "Unknown Runtype run status" in m]
    assert warnings == ["Unknown Runtype run status 'warming_up'; still waiting"]


def test_transient_poll_errors_are_tolerated_up_to_max_poll_errors(runtype_conn, requests_mock, context):
    requests_mock.get(
        STATUS,
        [
            {"status_code": 503, "json": {"error": "busy"}},
            {"exc": requests.exceptions.ConnectTimeout("slow")},
            {"json": batch("running")},
            {"status_code": 429, "json": {"error": "slow down"}, "headers": {"Retry-After": "1"}},
            {"status_code": 500, "json": {"error": "oops"}},
            {"json": batch("completed")},
        ],
    )
    sensor = make_sensor(max_poll_errors=2, hook_params={"retry_limit": 0})

    answers = [sensor.poke(context) for _ in range(6)]

    assert answers[:5] == [False] * 5
    assert answers[5].xcom_value == result("completed", "success")


def test_one_poll_error_too_many_raises(runtype_conn, requests_mock, context):
    requests_mock.get(STATUS, status_code=503, json={"error": "busy"})
    sensor = make_sensor(max_poll_errors=2, hook_params={"retry_limit": 0})

    assert [sensor.poke(context), sensor.poke(context)] == [False, False]
    with pytest.raises(RuntypeRunError, match="after 3 failed polls in a row"):
        sensor.poke(context)


@pytest.mark.parametrize(("code", "error"), [(404, RuntypeNotFoundError), (401, RuntypeAuthError)])
def test_permanent_poll_error_raises_at_once(runtype_conn, requests_mock, context, code, error):
    requests_mock.get(STATUS, status_code=code, json={"error": "nope"})

    with pytest.raises(error):
        make_sensor(max_poll_errors=5).poke(context)

    assert polls(requests_mock) == 1


@pytest.mark.parametrize(
    ("run", "pattern"),
    [
        ("not json", "'run' is not a valid Runtype run reference"),
        (["a", "list"], "'run' must be a run reference dict"),
        ({"schedule_id": "sch-1"}, "'run' needs 'batch_execution_id', or both 'run_id' and 'schedule_id'"),
    ],
)
def test_unusable_run_reference_fails_at_the_first_poke(runtype_conn, requests_mock, context, run, pattern):
    with pytest.raises(RuntypeConfigurationError, match=pattern):
        make_sensor(run=run).poke(context)

    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------------------------------
# execute in poke and reschedule mode


def test_execute_in_poke_mode_waits_and_returns_the_result(runtype_conn, requests_mock, context):
    requests_mock.get(STATUS, [{"json": batch("running")}, {"json": batch("completed")}])

    out = make_sensor(mode="poke", poke_interval=0.001).execute(context)

    assert out == result("completed", "success")
    assert polls(requests_mock) == 2


def test_execute_in_reschedule_mode_reschedules_while_running(runtype_conn, requests_mock, context):
    requests_mock.get(STATUS, json=batch("running"))
    context["ti"].get_first_reschedule_date.return_value = None

    with pytest.raises(AirflowRescheduleException):
        make_sensor(mode="reschedule", poke_interval=60).execute(context)


@pytest.mark.parametrize(("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)])
def test_reschedule_mode_past_its_timeout_times_out_or_skips_with_soft_fail(
    runtype_conn, requests_mock, context, soft_fail, expected
):
    requests_mock.get(STATUS, json=batch("running"))
    context["ti"].get_first_reschedule_date.return_value = datetime.now(timezone.utc) - timedelta(seconds=120)
    sensor = make_sensor(mode="reschedule", poke_interval=30, timeout=60, soft_fail=soft_fail)

    with pytest.raises(expected, match="timed out"):
        sensor.execute(context)

    assert polls(requests_mock) == 1  # the run was checked once more before giving up


# --------------------------------------------------------------------------------------------------
# deferrable


def test_deferrable_defers_with_its_timeout_and_the_trigger_deadline(runtype_conn, requests_mock, context, clock):
    requests_mock.get(STATUS, json=batch("running"))
    sensor = make_sensor(deferrable=True, timeout=3600, poke_interval=45)

    with pytest.raises(TaskDeferred) as exc:
        sensor.execute(context)

    deferred = exc.value
    assert isinstance(deferred.trigger, RuntypeScheduleRunTrigger)
    assert deferred.trigger.serialize() == (
        TRIGGER_PATH,
        {
            "run": REF,
            "runtype_conn_id": "runtype_default",
            "poll_interval": 45.0,
            "end_time": clock.time() + 3600,
            "max_poll_errors": 5,
            "cancel_on_kill": True,
            "hook_params": {},
        },
    )
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=sensor.timeout) == timedelta(hours=1)
    assert polls(requests_mock) == 1


def test_deferred_sensor_honours_a_shorter_execution_timeout(runtype_conn, requests_mock, context, clock):
    # Airflow does not enforce execution_timeout while a task is deferred: the trigger's deadline must.
    requests_mock.get(STATUS, json=batch("running"))
    sensor = make_sensor(deferrable=True, timeout=3600, execution_timeout=timedelta(minutes=10))

    with pytest.raises(TaskDeferred) as exc:
        sensor.execute(context)

    assert exc.value.trigger.serialize()[1]["end_time"] == clock.time() + 600
    assert exc.value.timeout == timedelta(minutes=10)
    with pytest.raises(AirflowSensorTimeout, match=r"run-1 did not finish within 600 s"):
        sensor.execute_complete(context, {"event": "timeout", "run": REF, "progress": {"status": "running"}})


def test_terminal_run_at_the_first_check_returns_without_deferring(runtype_conn, requests_mock, context, clock):
    requests_mock.get(STATUS, json=batch("completed"))

    assert make_sensor(deferrable=True).execute(context) == result("completed", "success")


def test_failed_run_at_the_first_check_raises_without_deferring(runtype_conn, requests_mock, context, clock):
    requests_mock.get(STATUS, json=batch("failed", error="boom"))

    with pytest.raises(RuntypeRunError, match="boom"):
        make_sensor(deferrable=True).execute(context)


def test_deferrable_defaults_to_the_operators_default_deferrable_setting(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert RuntypeScheduleRunSensor(task_id="a", batch_execution_id="b").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert RuntypeScheduleRunSensor(task_id="b", batch_execution_id="b").deferrable is False


def event(kind: str, status: str | None = None, outcome: str | None = None, *, failed: int = 0, error=None):
    progress = None
    if status is not None:
        progress = {
            "status": status,
            "outcome": outcome,
            "total_records": 10,
            "processed_records": 10,
            "failed_records": failed,
            "error": error,
            "batch_execution_id": "b-1",
        }
    return {"event": kind, "run": REF, "progress": progress, "message": "Gave up polling after 6 failed polls"}


def test_execute_complete_success_returns_the_result(runtype_conn, context):
    sensor = make_sensor()

    assert sensor.execute_complete(context, event("finished", "completed", "success")) == result("completed", "success")
    assert sensor.run_url == RUN_URL


def test_execute_complete_failed_raises(runtype_conn, context):
    with pytest.raises(RuntypeRunError, match=r"failed \(status 'failed'\): bad input"):
        make_sensor().execute_complete(context, event("finished", "failed", "failed", error="bad input"))


def test_execute_complete_cancelled_raises(runtype_conn, context):
    with pytest.raises(RuntypeRunError, match="was cancelled"):
        make_sensor().execute_complete(context, event("finished", "cancelled", "cancelled"))


@pytest.mark.parametrize(("policy", "failed", "fails"), POLICY_TABLE)
def test_execute_complete_applies_the_failed_records_policy(runtype_conn, context, policy, failed, fails):
    sensor = make_sensor(allowed_failed_records=policy)
    finished = event("finished", "completed", "success", failed=failed)

    if fails:
        with pytest.raises(RuntypeRunError, match="allowed: "):
            sensor.execute_complete(context, finished)
    else:
        assert sensor.execute_complete(context, finished)["failed_records"] == failed


def test_execute_complete_timeout_is_a_sensor_timeout(runtype_conn, requests_mock, context):
    with pytest.raises(AirflowSensorTimeout, match="run-1 did not finish within 600"):
        make_sensor(timeout=600).execute_complete(context, event("timeout", "running", "running"))

    assert requests_mock.call_count == 0  # a sensor watches the run; it does not cancel it on timeout


def test_execute_complete_timeout_with_soft_fail_skips(runtype_conn, context):
    with pytest.raises(AirflowSkipException, match="did not finish"):
        make_sensor(timeout=600, soft_fail=True).execute_complete(context, event("timeout"))


def test_execute_complete_error_event_raises(runtype_conn, context):
    with pytest.raises(RuntypeRunError, match="Gave up polling after 6 failed polls"):
        make_sensor().execute_complete(context, event("error"))


@pytest.mark.parametrize(
    "bad",
    [None, {}, {"event": "later"}, {"event": "finished", "run": REF}, {"event": "finished", "progress": 3}],
    ids=["none", "empty", "unknown-kind", "no-progress", "bad-progress"],
)
def test_execute_complete_rejects_malformed_events(runtype_conn, context, bad):
    with pytest.raises(RuntypeException):
        make_sensor().execute_complete(context, bad)


# --------------------------------------------------------------------------------------------------
# Parity: what the sync path honours, the deferred path honours too


TRIGGER_KWARG = {  # sensor argument -> trigger kwarg
    "runtype_conn_id": "runtype_conn_id",
    "max_poll_errors": "max_poll_errors",
    "cancel_on_kill": "cancel_on_kill",
    "hook_params": "hook_params",
}
IN_RUN_REFERENCE = {"run", "schedule_id", "run_id", "batch_execution_id", "product_id", "surface_id"}
JUDGED_BY_EXECUTE_COMPLETE = {"allowed_failed_records"}
NOT_ABOUT_WAITING = {"deferrable"}


def test_parity_every_sensor_argument_is_classified():
    own = set(inspect.signature(RuntypeScheduleRunSensor.__init__).parameters) - {"self", "kwargs"}
    assert own == set(TRIGGER_KWARG) | IN_RUN_REFERENCE | JUDGED_BY_EXECUTE_COMPLETE | NOT_ABOUT_WAITING


def test_parity_waiting_arguments_reach_the_trigger(requests_mock, context, clock, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_OTHER",
        json.dumps({"conn_type": "runtype", "host": "https://other.runtype.test", "password": "rt_test_other"}),
    )
    requests_mock.get("https://other.runtype.test/v1/batch/status/b-5", json={"status": "running"})
    values = {
        "runtype_conn_id": "runtype_other",
        "max_poll_errors": 11,
        "cancel_on_kill": False,
        "hook_params": {"timeout": 4.0, "retry_limit": 0},
    }
    sensor = RuntypeScheduleRunSensor(
        task_id="wait",
        batch_execution_id="b-5",
        schedule_id="sch-5",
        run_id="run-5",
        product_id="p-5",
        surface_id="s-5",
        deferrable=True,
        poke_interval=17,
        timeout=99,
        allowed_failed_records=0,
        soft_fail=True,
        **values,
    )

    with pytest.raises(TaskDeferred) as exc:
        sensor.execute(context)

    kwargs = exc.value.trigger.serialize()[1]
    for argument, trigger_kwarg in TRIGGER_KWARG.items():
        assert kwargs[trigger_kwarg] == values[argument], argument
    assert kwargs["poll_interval"] == 17.0  # poke_interval
    assert kwargs["end_time"] == clock.time() + 99  # timeout
    assert exc.value.timeout == timedelta(seconds=99)
    for argument in IN_RUN_REFERENCE - {"run"}:
        assert kwargs["run"][argument] == getattr(sensor, argument), argument
    failed_one = {**event("finished", "completed", "success", failed=1), "run": kwargs["run"]}
    with pytest.raises(RuntypeRunError, match="allowed: no failed records"):
        sensor.execute_complete(context, failed_one)
    with pytest.raises(AirflowSkipException):  # soft_fail
        sensor.execute_complete(context, {**event("timeout"), "run": kwargs["run"]})


# --------------------------------------------------------------------------------------------------
# on_kill


def test_on_kill_cancels_the_batch(runtype_conn, requests_mock, context):
    requests_mock.get(STATUS, json=batch("running"))
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "Batch cancelled"})
    sensor = make_sensor()
    sensor.poke(context)

    sensor.on_kill()

    assert cancel.call_count == 1


def test_on_kill_after_resuming_cancels_the_batch(runtype_conn, requests_mock, context):
    cancel = requests_mock.post(CANCEL, json={"success": True})
    sensor = make_sensor()
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(context, event("timeout"))

    sensor.on_kill()

    assert cancel.call_count == 1


def test_on_kill_never_raises_when_cancel_fails(runtype_conn, requests_mock, context, logs):
    requests_mock.get(STATUS, json=batch("running"))
    cancel = requests_mock.post(CANCEL, status_code=403, json={"error": "forbidden"})
    sensor = make_sensor()
    sensor.poke(context)

    sensor.on_kill()

    assert cancel.call_count == 1
    assert any("Could not cancel Runtype batch b-1 (task killed)" in m for m in logs.messages("warning"))


def test_on_kill_does_nothing_when_cancel_on_kill_is_off(runtype_conn, requests_mock, context):
    requests_mock.get(STATUS, json=batch("running"))
    cancel = requests_mock.post(CANCEL, json={"success": True})
    sensor = make_sensor(cancel_on_kill=False)
    sensor.poke(context)

    sensor.on_kill()

    assert cancel.call_count == 0


def test_on_kill_before_any_poke_makes_no_request(runtype_conn, requests_mock):
    make_sensor().on_kill()

    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------------------------------
# Construction and templating


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({}, "'run'.*'batch_execution_id'"),
        ({"run": REF, "batch_execution_id": "b-1"}, "'run' or explicit ids"),
        ({"run": REF, "run_id": "r"}, "'run' or explicit ids"),
        ({"run_id": "run-1"}, "'run_id' needs 'schedule_id'"),
        ({"batch_execution_id": "b", "allowed_failed_records": "many"}, "'allowed_failed_records'"),
        ({"batch_execution_id": "b", "allowed_failed_records": "101%"}, "'allowed_failed_records'"),
        ({"batch_execution_id": "b", "poke_interval": 0}, "'poke_interval'"),
        ({"batch_execution_id": "b", "max_poll_errors": -1}, "'max_poll_errors'"),
        ({"batch_execution_id": "b", "max_poll_errors": "3"}, "'max_poll_errors'"),
    ],
)
def test_constructor_errors_name_the_argument(requests_mock, kwargs, pattern):
    with pytest.raises(RuntypeConfigurationError, match=pattern):
        RuntypeScheduleRunSensor(task_id="wait", **kwargs)

    assert requests_mock.call_count == 0


def test_run_and_ids_are_templated_with_a_json_renderer():
    assert set(RuntypeScheduleRunSensor.template_fields) >= {
        "run",
        "schedule_id",
        "run_id",
        "batch_execution_id",
        "product_id",
        "surface_id",
    }
    assert RuntypeScheduleRunSensor.template_fields_renderers == {"run": "json"}


def test_templated_run_reference_renders_from_xcom_like_context(runtype_conn, requests_mock, context):
    requests_mock.get(f"{BASE}/v1/batch/status/b-42", json=batch("completed"))
    sensor = RuntypeScheduleRunSensor(task_id="wait", batch_execution_id="{{ params.batch }}", deferrable=False)

    sensor.render_template_fields({"params": {"batch": "b-42"}})

    assert sensor.poke(context).xcom_value["batch_execution_id"] == "b-42"
