"""runtype_provider.sensors.runtype: which run it watches, poke/reschedule/deferrable modes, sensor timeouts and
soft_fail, kill, construction. How a poke judges the run is tested in tests/test_waiting.py."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor
from runtype_provider.version_compat import AirflowSensorTimeout, AirflowSkipException

try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowRescheduleException

try:  # the exception a deferral raises (Airflow 3.2+ path first)
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

pytestmark = pytest.mark.usefixtures("runtype_conn", "clock")

BASE = "https://api.runtype.com"
STATUS = f"{BASE}/v1/batch/status/b-1"
CANCEL = f"{BASE}/v1/batch/cancel/b-1"


@pytest.fixture
def make_sensor(run_reference):
    def make(**kwargs: Any) -> RuntypeScheduleRunSensor:
        if not {"run", "batch_execution_id", "run_id"} & set(kwargs):
            kwargs["run"] = run_reference
        return RuntypeScheduleRunSensor(task_id="wait", **{"deferrable": False, "poke_interval": 20, **kwargs})

    return make


@pytest.fixture
def status(requests_mock, batch_status_body):
    """``status(name, **counts)``: the batch answers with this status from now on."""
    return lambda name, **counts: requests_mock.get(STATUS, json=batch_status_body(name, **counts))


def polls(requests_mock, url: str = STATUS) -> int:
    return sum(1 for r in requests_mock.request_history if r.url == url)


# --------------------------------------------------------------------------------------------------
# The run it watches: a reference (dict or JSON), or explicit ids


@pytest.mark.parametrize(
    ("kwargs", "polled", "ref"),
    [
        ({"run": "JSON"}, "batch/status/b-1", {}),
        ({"batch_execution_id": "b-1"}, "batch/status/b-1",
         {"schedule_id": None, "run_id": None, "run_url": "https://app.runtype.com/batches/b-1"}),
        ({"schedule_id": "sch-1", "run_id": "run-1"}, "schedules/sch-1/runs", {"batch_execution_id": None}),
        ({"batch_execution_id": "b-1", "schedule_id": "sch-1", "product_id": "p-1", "surface_id": "s-1"},
         "batch/status/b-1",
         {"run_id": None, "product_id": "p-1", "surface_id": "s-1",
          "run_url": "https://app.runtype.com/products/p-1/surfaces/s-1/schedules/sch-1"}),
    ],
    ids=["json-reference", "batch-id", "schedule-and-run-id", "surface-ids"],
)  # fmt: skip
def test_the_run_it_watches_and_its_link(
    requests_mock, context, make_sensor, batch_status_body, run_reference, run_result, kwargs, polled, ref
):

    body = batch_status_body("completed", failed=1)
    listed = {"id": "run-1", "scheduleId": "sch-1", "createdAt": "2026-01-02T00:00:00Z", "status": "completed"}
    listed |= {"totalRecords": 10, "processedRecords": 10, "failedRecords": 1}
    requests_mock.get(f"{BASE}/v1/batch/status/b-1", json=body)
    requests_mock.get(f"{BASE}/v1/schedules/sch-1/runs", json={"data": [listed]})
    kwargs = {**kwargs, "run": json.dumps(run_reference)} if kwargs.get("run") == "JSON" else kwargs

    answer = make_sensor(**kwargs).poke(context)

    assert answer.xcom_value == run_result("completed", "success", failed=1, ref={**run_reference, **ref})
    assert [r.path for r in requests_mock.request_history] == [f"/v1/{polled}"]


@pytest.mark.parametrize(
    ("run", "pattern"),
    [
        ("not json", "'run' is not a valid Runtype run reference"),
        (["a", "list"], "'run' must be a run reference dict"),
        ({"schedule_id": "sch-1"}, "'run' needs 'batch_execution_id', or both 'run_id' and 'schedule_id'"),
    ],
)
def test_unusable_run_reference_fails_at_the_first_poke(requests_mock, context, make_sensor, run, pattern):
    with pytest.raises(RuntypeConfigurationError, match=pattern):
        make_sensor(run=run).poke(context)

    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------------------------------
# execute in poke and reschedule mode


def test_execute_in_poke_mode_waits_and_returns_the_result(
    requests_mock, context, make_sensor, batch_status_body, run_result
):
    requests_mock.get(STATUS, [{"json": batch_status_body("running")}, {"json": batch_status_body("completed")}])

    assert make_sensor(mode="poke", poke_interval=0.001).execute(context) == run_result("completed", "success")
    assert polls(requests_mock) == 2


def test_execute_in_reschedule_mode_reschedules_while_running(status, context, make_sensor, logs):
    status("running")
    context["ti"].get_first_reschedule_date.return_value = None

    with pytest.raises(AirflowRescheduleException):
        make_sensor(mode="reschedule", poke_interval=60).execute(context)
    # Each poke is a process of its own: it says what it saw (a longer wait holds its first status back a minute).
    assert [m for m in logs.messages("info") if ": running: " in m]


def test_poke_mode_holds_the_first_status_back_and_logs_the_change(
    requests_mock, context, make_sensor, batch_status_body, logs
):
    answers = [batch_status_body("queued"), batch_status_body("running"), batch_status_body("completed")]
    requests_mock.get(STATUS, [{"json": body} for body in answers])

    make_sensor(mode="poke", poke_interval=0.001).execute(context)

    lines = [m for m in logs.messages("info") if m.startswith("Runtype run ") and ": " in m]
    assert not [m for m in lines if "queued" in m] and [m for m in lines if ": running: " in m]


@pytest.mark.parametrize(("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)])
def test_reschedule_mode_past_its_timeout_times_out_or_skips_with_soft_fail(
    requests_mock, status, context, make_sensor, soft_fail, expected
):
    status("running")
    context["ti"].get_first_reschedule_date.return_value = datetime.now(timezone.utc) - timedelta(seconds=120)
    sensor = make_sensor(mode="reschedule", poke_interval=30, timeout=60, soft_fail=soft_fail)

    with pytest.raises(expected, match=r"run-1 did not finish within 60 s \(last seen running: .*\); the run was NOT"):
        sensor.execute(context)

    assert polls(requests_mock) == 1  # the run was checked once more before giving up, and not cancelled
    assert not requests_mock.request_history[-1].path.startswith("/v1/batch/cancel")


# --------------------------------------------------------------------------------------------------
# deferrable


def test_terminal_run_at_the_first_check_returns_without_deferring(status, context, make_sensor, run_result):
    status("completed")

    assert make_sensor(deferrable=True).execute(context) == run_result("completed", "success")


def test_failed_run_at_the_first_check_raises_without_deferring(status, context, make_sensor):
    status("failed", error="boom")

    with pytest.raises(RuntypeRunError, match="boom"):
        make_sensor(deferrable=True).execute(context)


def test_deferred_sensor_honours_a_shorter_execution_timeout(status, context, clock, make_sensor, wait_event):
    # Airflow does not enforce execution_timeout while a task is deferred: the trigger's deadline must.
    status("running")
    sensor = make_sensor(deferrable=True, timeout=3600, execution_timeout=timedelta(minutes=10))

    with pytest.raises(TaskDeferred) as exc:
        sensor.execute(context)

    assert exc.value.trigger.serialize()[1]["end_time"] == clock.time() + 600
    assert exc.value.timeout == timedelta(minutes=10, seconds=60)  # a backstop: the trigger's deadline fires first
    with pytest.raises(AirflowSensorTimeout, match=r"run-1 did not finish within 600 s"):
        sensor.execute_complete(context, wait_event("timeout", "running", "running"))


def test_deferrable_defaults_to_the_operators_default_deferrable_setting(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert RuntypeScheduleRunSensor(task_id="a", batch_execution_id="b").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert RuntypeScheduleRunSensor(task_id="b", batch_execution_id="b").deferrable is False


# execute_complete of a timeout event (every other event: tests/test_waiting.py)


def test_execute_complete_timeout_is_a_sensor_timeout(requests_mock, context, make_sensor, wait_event):
    with pytest.raises(AirflowSensorTimeout, match="run-1 did not finish within 600"):
        make_sensor(timeout=600).execute_complete(context, wait_event("timeout", "running", "running"))

    assert requests_mock.call_count == 0  # a sensor watches the run; it does not cancel it on timeout


@pytest.mark.parametrize("path", ["poke", "reschedule", "deferred"])
def test_cancel_on_timeout_cancels_the_run_and_says_so(requests_mock, status, context, make_sensor, wait_event, path):
    status("running")
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "cancelled"})
    context["ti"].get_first_reschedule_date.return_value = datetime.now(timezone.utc) - timedelta(seconds=120)
    limit = 0.05 if path == "poke" else 60  # poke mode times out on BaseSensorOperator's own (real) clock
    mode = "reschedule" if path == "reschedule" else "poke"
    sensor = make_sensor(mode=mode, timeout=limit, poke_interval=0.01, cancel_on_timeout=True)

    with pytest.raises(AirflowSensorTimeout, match=rf"did not finish within {limit:g} s .*; the run was cancelled"):
        if path == "deferred":
            sensor.execute_complete(context, wait_event("timeout", "running", "running"))
        else:
            sensor.execute(context)

    assert cancel.call_count == 1


def test_execute_complete_timeout_with_soft_fail_skips(context, make_sensor, wait_event):
    with pytest.raises(AirflowSkipException, match="did not finish"):
        make_sensor(timeout=600, soft_fail=True).execute_complete(context, wait_event("timeout"))


# --------------------------------------------------------------------------------------------------
# Parity: what the sync path honours, the deferred path honours too


TRIGGER_KWARG = {  # sensor argument -> trigger kwarg
    "runtype_conn_id": "runtype_conn_id",
    "max_poll_errors": "max_poll_errors",
    "cancel_on_kill": "cancel_on_kill",
    "hook_params": "hook_params",
}
IN_RUN_REFERENCE = {"run", "schedule_id", "schedule_name", "run_id", "batch_execution_id", "product_id", "surface_id"}
JUDGED_BY_EXECUTE_COMPLETE = {"allowed_failed_records", "cancel_on_timeout"}
NOT_ABOUT_WAITING = {"deferrable"}


def test_parity_every_sensor_argument_is_classified():
    own = set(inspect.signature(RuntypeScheduleRunSensor.__init__).parameters) - {"self", "kwargs"}
    assert own == set(TRIGGER_KWARG) | IN_RUN_REFERENCE | JUDGED_BY_EXECUTE_COMPLETE | NOT_ABOUT_WAITING


OTHER_IDS = {
    "batch_execution_id": "b-5",
    "schedule_id": "sch-5",
    "run_id": "run-5",
    "product_id": "p-5",
    "surface_id": "s-5",
}
OTHER = {  # a non-default value for every argument that reaches the trigger, so a forgotten one shows up
    "runtype_conn_id": "runtype_other",
    "max_poll_errors": 11,
    "cancel_on_kill": False,
    "hook_params": {"timeout": 4.0, "retry_limit": 0},
}


@pytest.mark.parametrize(
    ("arguments", "trigger_kwargs"),
    [
        ({"timeout": 3600, "poke_interval": 45}, {"poll_interval": 45.0}),
        (
            {**OTHER_IDS, **OTHER, "timeout": 99, "poke_interval": 17, "soft_fail": True},
            {
                **OTHER,
                "poll_interval": 17.0,
                "run": {**OTHER_IDS, "run_url": "https://dash.example.com/products/p-5/surfaces/s-5/schedules/sch-5"},
            },
        ),
    ],
    ids=["defaults", "every-argument"],
)
def test_parity_waiting_arguments_reach_the_trigger(
    requests_mock, context, clock, monkeypatch, wait_event, run_reference, make_sensor, arguments, trigger_kwargs
):
    other = "https://other.runtype.test"
    conn = {
        "conn_type": "runtype",
        "host": other,
        "password": "rt_test_other",
        "extra": {"dashboard_url": "https://dash.example.com"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_OTHER", json.dumps(conn))
    first_check = [
        requests_mock.get(f"{url}/v1/batch/status/{batch}", json={"status": "running"})
        for url, batch in [(other, "b-5"), (BASE, "b-1")]
    ]
    sensor = make_sensor(deferrable=True, allowed_failed_records=0, **arguments)

    with pytest.raises(TaskDeferred) as exc:
        sensor.execute(context)

    defaults = {
        "run": run_reference,
        "runtype_conn_id": "runtype_default",
        "max_poll_errors": 5,
        "cancel_on_kill": True,
        "hook_params": {},
    }
    expected = {**defaults, **trigger_kwargs, "end_time": clock.time() + arguments["timeout"]}
    assert exc.value.trigger.serialize() == ("runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger", expected)
    assert exc.value.method_name == "execute_complete"
    backstop = max(60.0, 2 * arguments["poke_interval"])  # the trigger's end_time fires first
    assert exc.value.timeout == timedelta(seconds=arguments["timeout"] + backstop)
    assert sum(route.call_count for route in first_check) == 1  # checked once before deferring
    # allowed_failed_records and soft_fail: the resumed sensor judges the trigger's event.
    with pytest.raises(RuntypeRunError, match="allowed: no failed records"):
        sensor.execute_complete(
            context, wait_event("finished", "completed", "success", failed_records=1, run=expected["run"])
        )
    with pytest.raises(AirflowSkipException if arguments.get("soft_fail") else AirflowSensorTimeout):
        sensor.execute_complete(context, wait_event("timeout", run=expected["run"]))


# --------------------------------------------------------------------------------------------------
# on_kill: cancel the run the sensor learnt at a poke or when it resumed (the cancel itself: test_runtype of
# the operators and tests/test_waiting.py)


@pytest.mark.parametrize(
    ("learnt", "cancel_on_kill", "answer", "cancels"),
    [
        ("poke", True, 200, 1),
        ("resume", True, 200, 1),
        ("nothing", True, 200, 0),
        ("poke", False, 200, 0),
        ("poke", True, 403, 1),
    ],
    ids=["after-poke", "after-resume", "before-any-poke", "cancel-on-kill-off", "cancel-fails"],
)
def test_on_kill_cancels_the_batch_it_watches(
    requests_mock, status, context, logs, make_sensor, wait_event, learnt, cancel_on_kill, answer, cancels
):
    status("running")
    cancel = requests_mock.post(CANCEL, status_code=answer, json={"success": answer == 200, "error": "forbidden"})
    sensor = make_sensor(cancel_on_kill=cancel_on_kill)
    if learnt == "poke":
        sensor.poke(context)
    elif learnt == "resume":
        with pytest.raises(AirflowSensorTimeout):
            sensor.execute_complete(context, wait_event("timeout"))

    sensor.on_kill()

    assert cancel.call_count == cancels
    warned = any("Could not cancel Runtype batch b-1 (task killed)" in m for m in logs.messages("warning"))
    assert warned is (answer != 200)
    assert requests_mock.call_count == cancels + (learnt == "poke")


# --------------------------------------------------------------------------------------------------
# Construction and templating


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({}, "'run'.*'batch_execution_id'"),
        ({"run": {"batch_execution_id": "b-1"}, "batch_execution_id": "b-1"}, "'run' or explicit ids"),
        ({"run": {"batch_execution_id": "b-1"}, "run_id": "r"}, "'run' or explicit ids"),
        ({"run_id": "run-1"}, "'run_id' needs 'schedule_id' or 'schedule_name'"),
        ({"run_id": "run-1", "schedule_id": "s", "schedule_name": "n"}, "not both"),
        ({"run": {"batch_execution_id": "b-1"}, "schedule_name": "n"}, "'run' or explicit ids"),
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


def test_templated_run_reference_renders(requests_mock, context, batch_status_body):
    fields = {"run", "schedule_id", "run_id", "batch_execution_id", "product_id", "surface_id"}
    assert set(RuntypeScheduleRunSensor.template_fields) >= fields
    assert RuntypeScheduleRunSensor.template_fields_renderers == {"run": "json"}
    requests_mock.get(f"{BASE}/v1/batch/status/b-42", json=batch_status_body("completed"))
    sensor = RuntypeScheduleRunSensor(task_id="wait", batch_execution_id="{{ params.batch }}", deferrable=False)

    sensor.render_template_fields({"params": {"batch": "b-42"}})

    assert sensor.poke(context).xcom_value["batch_execution_id"] == "b-42"


def test_a_schedule_name_stands_for_the_schedule_id(requests_mock, context):
    lookup = requests_mock.get(
        f"{BASE}/v1/schedules", json={"data": [{"id": "sch-1", "name": "Nightly"}], "pagination": {"hasMore": False}}
    )
    runs = requests_mock.get(f"{BASE}/v1/schedules/sch-1/runs", json={"data": [{"id": "run-1", "status": "completed"}]})
    sensor = RuntypeScheduleRunSensor(task_id="wait", schedule_name="Nightly", run_id="run-1", deferrable=False)

    done = sensor.poke(context)

    assert done.xcom_value["schedule_id"] == "sch-1" and done.xcom_value["status"] == "completed"
    assert (lookup.call_count, runs.call_count) == (1, 1)
