"""runtype_provider.operators.runtype: the run operator (start, reference to XCom, timeout, deferral, kill) and
the results operator (rows, summary, paging, JSON Lines). The wait itself is tested in tests/test_waiting.py."""

from __future__ import annotations

import contextlib
import inspect
import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeNotFoundError, RuntypeRunError
from runtype_provider.operators.runtype import (
    RUN_STATE_KEY,
    RuntypeRunScheduleOperator,
    RuntypeScheduleRunResultsOperator,
)
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

try:  # the exception a deferral raises (Airflow 3.2+ path first)
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

pytestmark = pytest.mark.usefixtures("runtype_conn", "clock")

BASE = "https://api.runtype.com"
RUN_NOW = f"{BASE}/v1/schedules/sch-1/run-now"
SURFACE = f"{BASE}/v1/products/prod-1/surfaces/surf-1/schedules/sch-1"
STATUS = f"{BASE}/v1/batch/status/b-1"
CANCEL = f"{BASE}/v1/batch/cancel/b-1"
RUNS = f"{BASE}/v1/schedules/sch-1/runs"
RUN_URL = "https://app.runtype.com/schedules/sch-1/runs/run-1"
TRIGGER_PATH = "runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger"


@pytest.fixture
def surface_reference(run_reference) -> dict[str, Any]:
    url = "https://app.runtype.com/products/prod-1/surfaces/surf-1/schedules/sch-1"
    return {**run_reference, "run_id": None, "product_id": "prod-1", "surface_id": "surf-1", "run_url": url}


def make_op(**kwargs: Any) -> RuntypeRunScheduleOperator:
    kwargs = {"schedule_id": "sch-1", "poll_interval": 5, "deferrable": False, **kwargs}
    return RuntypeRunScheduleOperator(task_id="run", **kwargs)


@pytest.fixture
def run_now(requests_mock):
    return requests_mock.post(RUN_NOW, json={"status": "queued", "runId": "run-1", "batchExecutionId": "b-1"})


@pytest.fixture
def running(requests_mock, batch_status_body):
    """The run stays running."""
    return requests_mock.get(STATUS, json=batch_status_body("running", processed=1))


def status_calls(requests_mock) -> int:
    return sum(1 for r in requests_mock.request_history if r.url == STATUS)


def pushed(context) -> list[tuple[str, Any]]:
    return [(c.kwargs["key"], c.kwargs["value"]) for c in context["ti"].xcom_push.call_args_list]


# --------------------------------------------------------------------------------------------------
# Starting the run and the run reference


def test_global_run_now_pushes_and_returns_reference_without_waiting(
    runtype_conn, requests_mock, run_now, context, run_reference
):

    assert make_op(wait_for_completion=False).execute(context) == run_reference
    assert run_now.call_count == 1
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {runtype_conn['password']}"
    assert pushed(context) == [("run_reference", run_reference), ("run_url", RUN_URL)]
    assert status_calls(requests_mock) == 0


def test_surface_run_pushes_the_surface_reference_and_waits_to_its_counts(
    requests_mock, context, batch_status_body, run_result, surface_reference
):
    route = requests_mock.post(
        f"{SURFACE}/run-now", json={"batchExecutionId": "b-1", "recordCount": 3, "status": "queued"}
    )
    requests_mock.get(
        STATUS,
        [
            {"json": batch_status_body("running", total=3, processed=1)},
            {"json": batch_status_body("completed", total=3)},
        ],
    )

    out = make_op(product_id="prod-1", surface_id="surf-1").execute(context)

    assert out == run_result("completed", "success", total=3, ref=surface_reference)
    assert route.call_count == 1
    assert route.last_request.json() == {}
    assert pushed(context)[0] == ("run_reference", surface_reference)


def test_reference_is_pushed_before_the_first_status_poll(requests_mock, run_now, context, batch_status_body):
    order: list[str] = []
    context["ti"].xcom_push.side_effect = lambda key, value: order.append(f"push:{key}")
    requests_mock.get(STATUS, json=lambda request, ctx: order.append("poll") or batch_status_body("completed"))

    make_op().execute(context)

    assert order == ["push:run_reference", "push:run_url", "poll"]


def test_run_now_answering_failed_raises_after_pushing_the_reference(requests_mock, context, run_reference):
    requests_mock.post(RUN_NOW, json={"status": "failed", "runId": "run-1", "error": "no records match"})

    with pytest.raises(RuntypeRunError, match=r"refused to run schedule sch-1: status 'failed': no records match"):
        make_op().execute(context)

    assert pushed(context)[0] == ("run_reference", {**run_reference, "batch_execution_id": None})
    assert requests_mock.call_count == 1  # no status poll


# --------------------------------------------------------------------------------------------------
# Timeout of the sync wait: the run is cancelled (when it may be), and the message says whether it was


def test_timeout_cancels_the_batch_and_raises(requests_mock, run_now, running, context, clock, run_reference):
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "Batch cancelled"})

    with pytest.raises(
        RuntypeRunError, match=r"run-1 did not finish within 10 s \(last seen running: .*\); the run was cancelled"
    ) as exc:
        make_op(timeout=10, poll_interval=3).execute(context)

    assert cancel.call_count == 1
    assert clock.sleeps == [3, 3, 3, 1]  # the last pause is cut to the deadline
    assert status_calls(requests_mock) == 5
    assert exc.value.run == run_reference


@pytest.mark.parametrize(
    ("cancel_on_kill", "answer", "cancels"), [(False, 200, 0), (True, 400, 1)], ids=["off", "fails"]
)
def test_timeout_says_when_the_run_was_not_cancelled(
    requests_mock, run_now, running, context, logs, cancel_on_kill, answer, cancels
):
    cancel = requests_mock.post(CANCEL, status_code=answer, json={"success": answer == 200, "error": "cannot cancel"})

    with pytest.raises(
        RuntypeRunError, match=r"did not finish within 4 s .*; the run was NOT cancelled and may still be running"
    ):
        make_op(timeout=4, poll_interval=3, cancel_on_kill=cancel_on_kill).execute(context)

    assert cancel.call_count == cancels
    warned = any("Could not cancel Runtype batch b-1 (wait timed out)" in m for m in logs.messages("warning"))
    assert warned is bool(cancels)


# --------------------------------------------------------------------------------------------------
# on_active_run, and re-attaching to an earlier try's run (Airflow 3.3 task state store)


def listed(run_id: str, status: str, day: int, batch_id: str) -> dict[str, Any]:
    return {"id": run_id, "scheduleId": "sch-1", "status": status, "createdAt": f"2026-01-0{day}T00:00:00Z",
            "batchExecutionId": batch_id}  # fmt: skip


def test_attach_attaches_to_the_newest_active_run(requests_mock, run_now, context, run_reference):
    runs = [
        listed("run-old", "completed", 1, "b-0"),
        listed("run-q", "queued", 2, "b-8"),
        listed("run-r", "running", 3, "b-9"),
    ]
    requests_mock.get(RUNS, json={"data": runs})

    out = make_op(on_active_run="attach", wait_for_completion=False).execute(context)

    assert run_now.call_count == 0
    url = "https://app.runtype.com/schedules/sch-1/runs/run-r"
    assert out == {**run_reference, "run_id": "run-r", "batch_execution_id": "b-9", "run_url": url}


@pytest.mark.parametrize("status", ["warming_up", None])
def test_attach_attaches_to_a_run_of_unknown_status(requests_mock, run_now, context, status):
    """The same rule as waiting: a status we do not know is still active, so no second run starts beside it."""
    requests_mock.get(
        RUNS, json={"data": [listed("run-old", "completed", 1, "b-0"), listed("run-u", status, 2, "b-7")]}
    )

    out = make_op(on_active_run="attach", wait_for_completion=False).execute(context)

    assert (run_now.call_count, out["run_id"], out["batch_execution_id"]) == (0, "run-u", "b-7")


def test_attach_starts_a_run_when_none_is_active(requests_mock, run_now, context, run_reference):
    requests_mock.get(RUNS, json={"data": [listed("run-old", "completed", 1, "b-0")]})

    assert make_op(on_active_run="attach", wait_for_completion=False).execute(context) == run_reference
    assert run_now.call_count == 1


def test_attach_on_a_surface_schedule_uses_recent_runs(requests_mock, context, surface_reference):
    start = requests_mock.post(f"{SURFACE}/run-now", json={"batchExecutionId": "b-new", "status": "queued"})
    recent = [listed("rr-1", "completed", 1, "b-0"), listed("rr-2", "running", 2, "b-1")]
    requests_mock.get(SURFACE, json={"id": "sch-1", "recentRuns": recent})

    op = make_op(product_id="prod-1", surface_id="surf-1", on_active_run="attach", wait_for_completion=False)

    assert op.execute(context) == {**surface_reference, "run_id": "rr-2"}
    assert start.call_count == 0


def test_start_never_looks_for_an_active_run(requests_mock, run_now, context, run_reference):
    assert make_op(wait_for_completion=False).execute(context) == run_reference
    assert [r.method for r in requests_mock.request_history] == ["POST"]


def test_cancel_cancels_the_active_run_then_starts_a_fresh_one(requests_mock, run_now, context, run_reference):
    requests_mock.get(RUNS, json={"data": [listed("run-r", "running", 3, "b-9")]})
    cancel = requests_mock.post(f"{BASE}/v1/batch/cancel/b-9", json={"success": True})

    assert make_op(on_active_run="cancel", wait_for_completion=False).execute(context) == run_reference
    assert (cancel.call_count, run_now.call_count) == (1, 1)
    assert requests_mock.request_history[-1].url == RUN_NOW  # cancelled first, then started


def test_cancel_that_fails_starts_no_second_run(requests_mock, run_now, context):
    requests_mock.get(RUNS, json={"data": [listed("run-r", "running", 3, "b-9")]})
    requests_mock.post(f"{BASE}/v1/batch/cancel/b-9", status_code=400, json={"error": "already finishing"})

    with pytest.raises(RuntypeRunError, match="Could not cancel the schedule's active run run-r"):
        make_op(on_active_run="cancel", wait_for_completion=False, hook_params={"retry_limit": 0}).execute(context)
    assert run_now.call_count == 0


class FakeStateStore(dict):
    """Airflow 3.3's ``task_state_store``: get/set/delete by key, kept across tries of one task."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def test_the_run_is_kept_in_the_task_state_store_before_anything_else(
    requests_mock, run_now, context, run_reference, batch_status_body
):
    store = FakeStateStore()
    context["task_state_store"] = store
    context["ti"].xcom_push.side_effect = lambda **_: store_seen.append(dict(store))
    store_seen: list[dict[str, Any]] = []
    requests_mock.get(STATUS, json=batch_status_body("completed"))

    make_op().execute(context)

    assert store_seen[0] == {RUN_STATE_KEY: run_reference}  # already kept when the first XCom was pushed
    assert store == {}  # the try saw its run end: a clear or a retry starts a new run


@pytest.mark.parametrize(("status", "reattaches"), [("running", True), ("mystery", True), ("completed", True),
                                                   ("failed", False), ("cancelled", False)])  # fmt: skip
def test_a_retry_reattaches_to_its_earlier_tries_run_unless_that_run_failed(
    requests_mock, run_now, context, run_reference, batch_status_body, status, reattaches
):
    earlier = {**run_reference, "run_id": "run-0", "batch_execution_id": "b-0"}
    context["task_state_store"] = store = FakeStateStore({RUN_STATE_KEY: earlier})
    requests_mock.get(f"{BASE}/v1/batch/status/b-0", json=batch_status_body(status))

    out = make_op(wait_for_completion=False).execute(context)

    assert run_now.call_count == (0 if reattaches else 1)
    assert out["run_id"] == ("run-0" if reattaches else "run-1")
    assert RUN_STATE_KEY not in store  # the task finished: nothing left to resume


@pytest.mark.parametrize(
    "earlier",
    [
        {"schedule_id": "sch-other"},  # the DAG now names another schedule, or the name resolves to a new one
        {"product_id": "p", "surface_id": "s"},  # a surface run, while the task runs a global schedule
    ],
)
def test_a_retry_never_reattaches_to_a_run_of_another_target(
    requests_mock, run_now, context, run_reference, batch_status_body, earlier, logs
):
    context["task_state_store"] = FakeStateStore({RUN_STATE_KEY: {**run_reference, "batch_execution_id": "b-0",
                                                                  **earlier}})  # fmt: skip
    other = requests_mock.get(f"{BASE}/v1/batch/status/b-0", json=batch_status_body("running"))

    out = make_op(wait_for_completion=False).execute(context)

    assert (run_now.call_count, other.call_count, out["run_id"]) == (1, 0, "run-1")
    assert any("not re-attaching" in m for m in logs.messages("info"))


@pytest.mark.parametrize("verdict", ["success", "too many failed records"])
def test_a_try_that_saw_its_run_end_drops_it_so_the_next_try_starts_a_new_run(
    requests_mock, run_now, context, batch_status_body, verdict
):
    context["task_state_store"] = store = FakeStateStore()
    requests_mock.get(STATUS, json=batch_status_body("completed", failed=2))
    allowed = 0 if verdict != "success" else None
    ending = pytest.raises(RuntypeRunError) if allowed == 0 else contextlib.nullcontext()

    with ending:
        make_op(allowed_failed_records=allowed).execute(context)
    with ending:  # a clear after success, or a retry after a failed verdict
        make_op(allowed_failed_records=allowed).execute(context)

    assert run_now.call_count == 2 and store == {}


def test_a_retry_whose_earlier_run_succeeded_returns_its_result_without_a_new_run(
    requests_mock, run_now, context, run_reference, batch_status_body, run_result
):
    context["task_state_store"] = FakeStateStore({RUN_STATE_KEY: run_reference})
    requests_mock.get(STATUS, json=batch_status_body("completed"))

    assert make_op(on_active_run="cancel").execute(context) == run_result("completed", "success")
    assert run_now.call_count == 0


def test_a_store_that_cannot_keep_the_run_only_warns(requests_mock, run_now, context, run_reference, logs):
    class Broken(FakeStateStore):
        def set(self, key: str, value: Any, **_: Any) -> None:
            raise RuntimeError("state store down")

    context["task_state_store"] = Broken()

    assert make_op(wait_for_completion=False).execute(context) == run_reference
    assert any("Could not keep run run-1 in the task state store" in m for m in logs.messages("warning"))


# --------------------------------------------------------------------------------------------------
# Deferral


def test_run_already_terminal_at_the_first_check_does_not_defer(
    requests_mock, run_now, context, batch_status_body, run_result
):
    requests_mock.get(STATUS, json=batch_status_body("completed"))

    assert make_op(deferrable=True).execute(context) == run_result("completed", "success")


@pytest.mark.parametrize(
    ("timeout", "execution_timeout", "limit"), [(None, None, None), (None, 120, 120), (600, 120, 120), (90, 120, 90)]
)
def test_deferred_wait_ends_at_the_earlier_of_timeout_and_execution_timeout(
    requests_mock, run_now, running, context, clock, timeout, execution_timeout, limit
):
    # Airflow does not enforce execution_timeout while a task is deferred: the trigger's deadline must.
    execution_timeout = execution_timeout and timedelta(seconds=execution_timeout)

    with pytest.raises(TaskDeferred) as exc:
        make_op(deferrable=True, timeout=timeout, execution_timeout=execution_timeout).execute(context)

    assert exc.value.trigger.serialize()[1]["end_time"] == (limit and clock.time() + limit)
    assert exc.value.timeout == (limit and timedelta(seconds=limit + 60))  # a backstop after the trigger's deadline


def test_trigger_kwargs_carry_no_secret(runtype_conn, requests_mock, run_now, running, context):
    with pytest.raises(TaskDeferred) as exc:
        make_op(deferrable=True, timeout=60).execute(context)

    assert runtype_conn["password"] not in json.dumps(exc.value.trigger.serialize())


@pytest.mark.parametrize(
    ("kwargs", "status", "limit"),
    [
        ({"timeout": 60}, "running", 60),
        ({"timeout": 60}, None, 60),
        ({"execution_timeout": timedelta(seconds=45)}, "running", 45),
    ],
    ids=["timeout", "timeout-without-progress", "execution-timeout"],
)
def test_execute_complete_of_a_timeout_cancels_the_batch_and_names_the_limit(
    requests_mock, context, wait_event, kwargs, status, limit
):
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "ok"})

    with pytest.raises(RuntypeRunError, match=rf"Runtype run run-1 did not finish within {limit} s .*; the run was c"):
        make_op(**kwargs).execute_complete(context, wait_event("timeout", status, status))

    assert cancel.call_count == 1


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
IN_RUN_REFERENCE = {"schedule_id", "schedule_name", "product_id", "surface_id"}  # in the ``run`` (a name as its id)
JUDGED_BY_EXECUTE_COMPLETE = {"allowed_failed_records"}
NOT_ABOUT_WAITING = {"wait_for_completion", "deferrable", "on_active_run"}


def test_parity_every_operator_argument_is_classified():
    """Adding an argument to the operator fails here until its deferred-path handling is decided and tested."""
    names = {
        name
        for klass in RuntypeRunScheduleOperator.__mro__
        if "__init__" in klass.__dict__ and not klass.__module__.startswith("airflow")
        for name, param in inspect.signature(klass.__init__).parameters.items()
        if param.kind is param.KEYWORD_ONLY
    }
    assert names == set(TRIGGER_KWARG) | IN_RUN_REFERENCE | JUDGED_BY_EXECUTE_COMPLETE | NOT_ABOUT_WAITING


def test_parity_trigger_serializes_every_one_of_its_arguments(run_reference):
    trigger_args = set(inspect.signature(RuntypeScheduleRunTrigger.__init__).parameters) - {"self"}
    assert set(RuntypeScheduleRunTrigger(run=run_reference).serialize()[1]) == trigger_args
    assert set(TRIGGER_KWARG.values()) | {"run"} == trigger_args


def test_parity_waiting_arguments_reach_the_trigger(requests_mock, context, clock, monkeypatch, wait_event):
    other, dash = "https://other.runtype.test", "https://dash.example.com"
    conn = {"conn_type": "runtype", "host": other, "password": "rt_test_other", "extra": {"dashboard_url": dash}}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_OTHER", json.dumps(conn))
    requests_mock.post(f"{other}/v1/products/p/surfaces/s/schedules/sch-9/run-now", json={"batchExecutionId": "b-9"})
    status = requests_mock.get(f"{other}/v1/batch/status/b-9", json={"status": "running"})
    # Non-default values for every argument, so a forgotten one shows up as a default.
    values = {
        "runtype_conn_id": "runtype_other",
        "poll_interval": 42.0,
        "timeout": 321.0,
        "max_poll_errors": 9,
        "cancel_on_kill": False,
        "hook_params": {"timeout": 3.0, "retry_limit": 0},
    }
    ids = {"schedule_id": "sch-9", "product_id": "p", "surface_id": "s"}
    op = RuntypeRunScheduleOperator(task_id="run", deferrable=True, allowed_failed_records=0, **ids, **values)

    with pytest.raises(TaskDeferred) as exc:
        op.execute(context)

    url = f"{dash}/products/p/surfaces/s/schedules/sch-9"
    run = {**ids, "run_id": None, "batch_execution_id": "b-9", "run_url": url}
    kwargs = {TRIGGER_KWARG[name]: value for name, value in values.items()} | {"end_time": clock.time() + 321}
    assert exc.value.trigger.serialize() == (TRIGGER_PATH, {**kwargs, "run": run})
    assert exc.value.method_name == "execute_complete"
    assert exc.value.timeout == timedelta(seconds=321 + 84)  # a backstop: max(60, 2 * poll_interval) past the deadline
    assert status.call_count == 1  # checked once before deferring
    # allowed_failed_records: the resumed task judges the trigger's event with the same policy.
    with pytest.raises(RuntypeRunError, match="allowed: no failed records"):
        op.execute_complete(context, wait_event("finished", "completed", "success", failed_records=1, run=run))


def test_deferrable_defaults_to_the_operators_default_deferrable_setting(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert RuntypeRunScheduleOperator(task_id="a", schedule_id="s").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert RuntypeRunScheduleOperator(task_id="b", schedule_id="s").deferrable is False


# --------------------------------------------------------------------------------------------------
# on_kill: cancel the run the task started or resumed with (best effort)


@pytest.mark.parametrize(
    ("cancel_on_kill", "answer", "cancels"),
    [
        (True, {"json": {"success": True, "message": "cancelled"}}, 1),
        (False, {"json": {"success": True}}, 0),
        (True, {"status_code": 500, "json": {"error": "boom"}}, None),  # None: at least once (it may retry), fails
        (True, {"status_code": 400, "json": {"error": "Batch already finished"}}, None),
        (True, {"exc": requests.exceptions.ConnectionError("refused")}, None),
    ],
    ids=["cancels", "off", "500", "400", "connection"],
)
def test_on_kill_cancels_the_started_batch_and_never_raises(
    requests_mock, run_now, context, logs, sleeps, cancel_on_kill, answer, cancels
):
    cancel = requests_mock.post(CANCEL, [answer])
    op = make_op(wait_for_completion=False, cancel_on_kill=cancel_on_kill)
    op.execute(context)

    op.on_kill()

    assert cancel.call_count == cancels if cancels is not None else cancel.call_count >= 1
    warned = any("Could not cancel Runtype batch b-1 (task killed)" in m for m in logs.messages("warning"))
    assert warned is (cancels is None)


def test_on_kill_after_resuming_from_the_trigger_cancels_the_batch(requests_mock, context, wait_event):
    cancel = requests_mock.post(CANCEL, json={"success": True})
    op = make_op()
    with pytest.raises(RuntypeRunError):
        op.execute_complete(context, wait_event("finished", "failed", "failed"))

    op.on_kill()

    assert cancel.call_count == 1


def test_on_kill_before_any_run_makes_no_request(requests_mock):
    make_op().on_kill()

    assert requests_mock.call_count == 0


# --------------------------------------------------------------------------------------------------
# Construction and templating (the extra link: test_run_link.py)


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
        ({"on_active_run": "reuse"}, "on_active_run"),
        ({"on_active_run": True}, "on_active_run"),
    ],
)
def test_constructor_errors_name_the_argument(requests_mock, kwargs, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"'{argument}'"):
        make_op(**kwargs)

    assert requests_mock.call_count == 0


def test_construction_makes_no_api_call(requests_mock):
    make_op(product_id="p", surface_id="s", deferrable=True, timeout=5)

    assert requests_mock.call_count == 0


def test_templated_ids_render():
    assert set(RuntypeRunScheduleOperator.template_fields) >= {"schedule_id", "product_id", "surface_id"}
    op = make_op(schedule_id="{{ params.s }}", product_id="{{ params.p }}", surface_id="surf-{{ params.p }}")

    op.render_template_fields({"params": {"s": "sch-7", "p": "prod-7"}})

    assert (op.schedule_id, op.product_id, op.surface_id) == ("sch-7", "prod-7", "surf-prod-7")


# --------------------------------------------------------------------------------------------------
# The API key never leaks


def test_api_key_appears_nowhere_in_a_failing_run(
    runtype_conn, requests_mock, run_now, context, logs, sleeps, batch_status_body
):
    key = runtype_conn["password"]
    requests_mock.get(
        STATUS,
        [
            {"status_code": 503, "json": {"error": f"upstream rejected Bearer {key}"}},
            {"status_code": 503, "text": f"proxy error for {key}"},
            {"json": batch_status_body("running")},
            {"json": batch_status_body("failed", error="record 7 failed")},
        ],
    )
    requests_mock.post(CANCEL, status_code=401, json={"error": f"invalid key {key}"})
    op = make_op(hook_params={"retry_limit": 1})

    with pytest.raises(RuntypeRunError) as exc:
        op.execute(context)
    op.on_kill()

    assert pushed(context), "nothing was pushed"
    assert key not in json.dumps(pushed(context))
    assert key not in str(exc.value) and key not in repr(exc.value) and key not in json.dumps(exc.value.run)
    everything = logs.dump()
    assert "HTTP 503" in everything and "***" in everything  # the echoed key did reach the log path, redacted
    assert key not in everything


# ==================================================================================================
# RuntypeScheduleRunResultsOperator


BATCH_RESULTS = f"{BASE}/v1/schedules/batch/b-1/results"
RUN_RESULTS = f"{BASE}/v1/schedules/runs/run-1/results"


def api_row(i: int, status: str = "success", **extra: Any) -> dict[str, Any]:
    failed = status == "failed"
    return {
        "recordId": f"rec-{i}",
        "status": status,
        "record": {"id": f"rec-{i}", "name": f"Record {i}", "type": "customer"},
        "recordResultId": f"rr-{i}",
        "error": "model refused" if failed else None,
        "result": None if failed else {"score": i, "tags": ["a", "b"]},
        "executedAt": f"2026-01-01T00:00:{i:02d}Z",
        "failedAt": f"2026-01-01T00:01:{i:02d}Z" if failed else None,
        "createdAt": "2026-01-01T00:00:00Z",
        "durationMs": 100 + i,
        **extra,
    }


def outcome(i: int, status: str = "success", *, with_result: bool = False) -> dict[str, Any]:
    failed = status == "failed"
    row = {
        "record_id": f"rec-{i}",
        "record_name": f"Record {i}",
        "status": status,
        "error": "model refused" if failed else None,
        "executed_at": f"2026-01-01T00:00:{i:02d}Z",
        "failed_at": f"2026-01-01T00:01:{i:02d}Z" if failed else None,
        "result_id": f"rr-{i}",
    }
    if with_result:
        row["result"] = None if failed else {"score": i, "tags": ["a", "b"]}
    return row


def serve(requests_mock, url: str, rows: list[dict[str, Any]]):
    """A paged results endpoint honouring limit/offset/status like the real one."""

    def page(request, context):
        qs = parse_qs(urlsplit(request.url).query)
        limit, offset = int(qs["limit"][0]), int(qs.get("offset", ["0"])[0])
        chosen = [r for r in rows if "status" not in qs or r["status"] == qs["status"][0]]
        data = chosen[offset : offset + limit]
        return {
            "data": data,
            "pagination": {
                "hasMore": offset + len(data) < len(chosen),
                "limit": limit,
                "offset": offset,
                "total": len(chosen),
            },
            "summary": {"recordsWithFailedSteps": 0},
        }

    return requests_mock.get(url, json=page)


def queries(route) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r.url).query) for r in route.request_history]


MIXED = [api_row(1), api_row(2, "failed"), api_row(3), api_row(4, "completed")]
MIXED_OUT = [outcome(1), outcome(2, "failed"), outcome(3), outcome(4, "completed")]
MIXED_SUMMARY = {"total": 4, "failed": 1, "succeeded": 3, "by_status": {"completed": 1, "failed": 1, "success": 2}}


@pytest.fixture
def results_op(run_reference, requests_mock, batch_status_body):
    requests_mock.get(STATUS, json=batch_status_body("completed"))  # the run has finished (checked first)
    requests_mock.get(f"{BASE}/v1/schedules/sch-1/runs", json={"data": [{"id": "run-1", "status": "completed"}]})

    def make(**kwargs: Any) -> RuntypeScheduleRunResultsOperator:
        if not {"run", "run_id", "batch_execution_id"} & set(kwargs):
            kwargs["run"] = run_reference
        return RuntypeScheduleRunResultsOperator(task_id="results", **kwargs)

    return make


def test_returns_per_record_outcomes_without_the_result_payload(requests_mock, context, results_op):
    route = serve(requests_mock, BATCH_RESULTS, MIXED)

    rows = results_op().execute(context)

    assert rows == MIXED_OUT
    assert all("result" not in row for row in rows)
    assert route.call_count == 1
    json.dumps(rows)


def test_include_result_payload_adds_each_records_result(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED[:2])

    rows = results_op(include_result_payload=True).execute(context)

    assert rows == [outcome(1, with_result=True), outcome(2, "failed", with_result=True)]


def test_summary_is_pushed_under_its_own_key(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED)

    results_op().execute(context)

    context["ti"].xcom_push.assert_called_once_with(key="summary", value=MIXED_SUMMARY)


def test_statuses_that_are_neither_success_nor_failure_count_only_in_total_and_by_status(
    requests_mock, context, results_op
):
    serve(requests_mock, BATCH_RESULTS, [api_row(1), api_row(2, "skipped"), api_row(3, "failed"), api_row(4, "x")])

    results_op().execute(context)

    context["ti"].xcom_push.assert_called_once_with(
        key="summary",
        value={"total": 4, "failed": 1, "succeeded": 1, "by_status": {"failed": 1, "skipped": 1, "success": 1, "x": 1}},
    )


def test_no_results_gives_an_empty_list_and_a_zero_summary(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, [])

    assert results_op().execute(context) == []
    context["ti"].xcom_push.assert_called_once_with(
        key="summary", value={"total": 0, "failed": 0, "succeeded": 0, "by_status": {}}
    )


@pytest.mark.parametrize(
    ("wanted", "kept"), [("success", [1, 3, 4]), ("completed", [1, 3, 4]), ("failed", [2]), ("error", [2])]
)
def test_a_success_or_failure_filter_matches_every_spelling_and_is_applied_on_the_client(
    requests_mock, context, results_op, wanted, kept
):
    """The docs spell success ``success`` on run results and ``completed`` on batch results: the filter is sent in
    the endpoint's spelling (a server honouring it sends only those rows), and the client matches every synonym
    (a server that ignores it sends every row)."""
    ignoring = requests_mock.get(BATCH_RESULTS, json={"data": MIXED, "pagination": {"hasMore": False, "offset": 0}})

    rows = results_op(status_filter=wanted).execute(context)

    assert [row["record_id"] for row in rows] == [f"rec-{i}" for i in kept]
    sent = "failed" if wanted in ("failed", "error") else "completed"
    assert [query["status"] for query in queries(ignoring)] == [[sent]]


@pytest.mark.parametrize(
    ("wanted", "batch", "sent"),
    [("failed", True, "failed"), ("error", False, "failed"), ("success", True, "completed"),
     ("completed", False, "success")],
)  # fmt: skip
def test_a_synonym_filter_is_sent_so_a_few_failures_cost_a_few_pages(
    requests_mock, context, results_op, wanted, batch, sent
):
    success = "completed" if batch else "success"  # each endpoint's documented spelling
    rows = [api_row(i, "failed" if i % 100 == 0 else success) for i in range(1, 1001)]
    route = serve(requests_mock, BATCH_RESULTS if batch else RUN_RESULTS, rows)
    where = {} if batch else {"run_id": "run-1"}

    out = results_op(status_filter=wanted, max_xcom_rows=2000, **where).execute(context)

    assert len(out) == (10 if sent == "failed" else 990)
    assert {tuple(query["status"]) for query in queries(route)} == {(sent,)}
    assert len(queries(route)) == (1 if sent == "failed" else 10)


def test_any_other_status_filter_is_sent_and_applied_on_the_client_too(requests_mock, context, results_op):
    rows = [*MIXED, api_row(5, "skipped")]
    route = serve(requests_mock, BATCH_RESULTS, rows)
    ignoring = requests_mock.get(RUN_RESULTS, json={"data": rows, "pagination": {"hasMore": False, "offset": 0}})

    assert results_op(status_filter="skipped").execute(context) == [outcome(5, "skipped")]
    assert queries(route)[0]["status"] == ["skipped"]
    # A server that ignores the filter: the rows are filtered all the same.
    assert results_op(run_id="run-1", status_filter="skipped").execute(context) == [outcome(5, "skipped")]
    assert queries(ignoring)[0]["status"] == ["skipped"]


def test_pages_through_every_page(requests_mock, context, results_op):
    all_rows = [api_row(i, "failed" if i % 3 == 0 else "success") for i in range(1, 8)]
    route = serve(requests_mock, BATCH_RESULTS, all_rows)

    rows = results_op(page_size=3).execute(context)

    assert [r["record_id"] for r in rows] == [f"rec-{i}" for i in range(1, 8)]
    assert [(q["limit"], q["offset"]) for q in queries(route)] == [(["3"], ["0"]), (["3"], ["3"]), (["3"], ["6"])]
    context["ti"].xcom_push.assert_called_once_with(
        key="summary", value={"total": 7, "failed": 2, "succeeded": 5, "by_status": {"failed": 2, "success": 5}}
    )


def test_run_id_uses_the_run_results_endpoint(requests_mock, context, results_op):
    by_run = serve(requests_mock, RUN_RESULTS, MIXED)
    by_batch = serve(requests_mock, BATCH_RESULTS, [])

    rows = results_op(run_id="run-1").execute(context)

    assert rows == MIXED_OUT
    assert (by_run.call_count, by_batch.call_count) == (1, 0)


def test_reference_without_batch_id_uses_the_run_results_endpoint(requests_mock, context, results_op, run_reference):
    by_run = serve(requests_mock, RUN_RESULTS, MIXED[:1])

    assert results_op(run={**run_reference, "batch_execution_id": None}).execute(context) == [outcome(1)]
    assert by_run.call_count == 1


def test_explicit_batch_id_uses_the_batch_results_endpoint(requests_mock, context, results_op):
    by_batch = serve(requests_mock, BATCH_RESULTS, MIXED[:1])

    assert results_op(batch_execution_id="b-1").execute(context) == [outcome(1)]
    assert by_batch.call_count == 1


def test_run_reference_as_json_string_is_accepted(requests_mock, context, results_op, run_reference):
    serve(requests_mock, BATCH_RESULTS, MIXED[:1])

    assert results_op(run=json.dumps(run_reference)).execute(context) == [outcome(1)]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exactly_max_xcom_rows_stays_in_xcom(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED)

    assert results_op(max_xcom_rows=4).execute(context) == MIXED_OUT


def test_above_max_xcom_rows_rows_go_to_a_jsonl_file(requests_mock, context, tmp_path, monkeypatch, results_op):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "my_dag", "manual__2026-01-01T00:00:00+00:00", "results", -1
    all_rows = [api_row(i, "failed" if i == 4 else "success") for i in range(1, 7)]
    serve(requests_mock, BATCH_RESULTS, all_rows)

    out = results_op(max_xcom_rows=3, page_size=2).execute(context)

    file = tmp_path / "runtype_results" / "my_dag" / "manual__2026-01-01T00%3A00%3A00%2B00%3A00" / "results.jsonl"
    summary = {"total": 6, "failed": 1, "succeeded": 5, "by_status": {"failed": 1, "success": 5}}
    assert out == {"path": str(file), "row_count": 6, "summary": summary}
    with open(out["path"]) as handle:  # a plain local reader opens the returned path
        assert handle.read().count("\n") == 6
    assert read_jsonl(file) == [outcome(i, "failed" if i == 4 else "success") for i in range(1, 7)]
    ti.xcom_push.assert_called_once_with(key="summary", value=summary)


def test_mapped_task_file_name_carries_the_map_index(requests_mock, context, tmp_path, monkeypatch, results_op):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "d", "r", "results", 2
    serve(requests_mock, BATCH_RESULTS, MIXED)

    out = results_op(max_xcom_rows=0).execute(context)

    assert out["path"] == f"{tmp_path}/runtype_results/d/r/results@2.jsonl"
    assert out["row_count"] == 4


@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor,CeleryExecutor"])
def test_on_a_multi_host_executor_without_shared_storage_overflow_fails_saying_what_to_set(
    requests_mock, context, tmp_path, monkeypatch, results_op, executor
):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    monkeypatch.delenv("AIRFLOW__RUNTYPE__RESULTS_PATH", raising=False)
    monkeypatch.delenv("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH", raising=False)
    serve(requests_mock, BATCH_RESULTS, MIXED)

    assert results_op(max_xcom_rows=4).execute(context) == MIXED_OUT  # what fits in XCom needs no storage
    with pytest.raises(RuntypeConfigurationError, match=r"several hosts.*\[runtype\] results_path.*output_path"):
        results_op(max_xcom_rows=3).execute(context)
    assert not (tmp_path / "runtype_results").exists()


@pytest.mark.parametrize("option", ["AIRFLOW__RUNTYPE__RESULTS_PATH", "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"])
def test_overflow_goes_to_the_configured_shared_location(
    requests_mock, context, tmp_path, monkeypatch, results_op, option
):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv(option, f"file://{tmp_path}/shared/")
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "d", "r", "results", -1
    serve(requests_mock, BATCH_RESULTS, MIXED)

    out = results_op(max_xcom_rows=0).execute(context)

    suffix = "runtype_results/" if "COMMON_IO" in option else ""
    assert out["path"] == f"{tmp_path}/shared/{suffix}d/r/results.jsonl"
    assert len(read_jsonl(Path(out["path"]))) == 4


def test_output_path_forces_file_mode(requests_mock, context, tmp_path, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED)
    target = tmp_path / "nested" / "dir" / "rows.jsonl"

    out = results_op(output_path=f"file://{target}", include_result_payload=True).execute(context)

    assert out == {"path": str(target), "row_count": 4, "summary": MIXED_SUMMARY}
    assert read_jsonl(target) == [
        outcome(1, with_result=True),
        outcome(2, "failed", with_result=True),
        outcome(3, with_result=True),
        outcome(4, "completed", with_result=True),
    ]
    context["ti"].xcom_push.assert_called_once_with(key="summary", value=MIXED_SUMMARY)
    json.dumps(out)


def test_a_failed_task_leaves_an_existing_file_untouched_and_no_partial_file(
    requests_mock, context, tmp_path, results_op
):
    target = tmp_path / "rows.jsonl"
    target.write_text("previous run\n")
    pages = [{"json": {"data": [api_row(1)], "pagination": {"hasMore": True, "offset": 0}}}, {"status_code": 404}]
    requests_mock.get(BATCH_RESULTS, pages)

    with pytest.raises(RuntypeNotFoundError):
        results_op(output_path=str(target), hook_params={"retry_limit": 0}).execute(context)

    assert target.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_the_final_path_never_holds_a_partial_file(requests_mock, context, tmp_path, results_op, monkeypatch):
    import runtype_provider.tasks.results_export as results_module

    target = tmp_path / "rows.jsonl"
    serve(requests_mock, BATCH_RESULTS, [api_row(i) for i in range(1, 1200)])
    seen: list[bool] = []
    write_lines = results_module._write_lines

    def spying(handle: Any, lines: list[str]) -> None:
        seen.append(target.exists())
        write_lines(handle, lines)

    monkeypatch.setattr(results_module, "_write_lines", spying)

    out = results_op(output_path=str(target)).execute(context)

    assert seen == [False, False, False]  # three chunks of at most 500 rows, none written at the final path
    assert out["row_count"] == 1199 and len(target.read_text().splitlines()) == 1199


@pytest.fixture
def memory_object_store(monkeypatch):
    """Register fsspec's in-memory filesystem as ``memory://``: a stand-in for s3:// or gs:// (no provider)."""
    from airflow.sdk.io import fs as airflow_fs
    from fsspec.implementations.memory import MemoryFileSystem

    registered = dict(airflow_fs._register_filesystems())
    registered["memory"] = lambda conn_id, options: MemoryFileSystem()
    monkeypatch.setattr(airflow_fs, "_register_filesystems", lambda: registered)
    yield
    MemoryFileSystem.store.clear()


def test_output_path_on_a_remote_object_store_is_written_without_mkdir(
    requests_mock, context, memory_object_store, results_op
):
    from airflow.sdk import ObjectStoragePath

    serve(requests_mock, BATCH_RESULTS, MIXED)
    path = "memory://runtype-results/run-1/rows.jsonl"

    out = results_op(output_path=path).execute(context)

    assert out == {"path": path, "row_count": 4, "summary": MIXED_SUMMARY}
    with ObjectStoragePath(path).open("r") as handle:
        assert [json.loads(line) for line in handle] == MIXED_OUT


def _peak_bytes_writing(requests_mock, context, op: RuntypeScheduleRunResultsOperator, path: Path, rows: int) -> int:
    import tracemalloc

    serve(requests_mock, BATCH_RESULTS, [api_row(i % 60) for i in range(rows)])
    tracemalloc.start()
    try:
        out = op.execute(context)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out["row_count"] == rows
    assert sum(1 for _ in path.open()) == rows
    return peak


def test_file_mode_memory_stays_flat_in_the_number_of_records(requests_mock, context, tmp_path, results_op):
    # Rows are streamed page by page into the file: ten times the records must not need ten times the memory.
    # One page at a time, so the peak does not depend on how far the read-ahead window opened (with two pages at a
    # time a 10-page run sometimes never opened it); the concurrent read-ahead's bound is tested in
    # test_concurrent_paging.py and measured at the default (eight) by scripts/bench_results.py. What grows here
    # (about 40 kB per 10 pages) is requests_mock's request history.
    def peak(name: str, rows: int) -> int:
        path = tmp_path / name
        op = results_op(output_path=f"file://{path}", include_result_payload=True, max_concurrent_pages=1)
        return _peak_bytes_writing(requests_mock, context, op, path, rows)

    peak("warm-up.jsonl", 1_000)  # one-time costs (lazy imports, caches) out of the way, whichever test ran before
    small, large = peak("small.jsonl", 1_000), peak("large.jsonl", 10_000)

    assert large < 2 * small, f"peak {large} B for 10,000 rows vs {small} B for 1,000"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({}, "run"),
        ({"run": {"run_id": "run-1"}, "run_id": "run-1"}, "run"),
        ({"run": {"batch_execution_id": "b-1"}, "batch_execution_id": "b-1"}, "run"),
        ({"run_id": "run-1", "max_xcom_rows": -1}, "max_xcom_rows"),
        ({"run_id": "run-1", "max_xcom_rows": False}, "max_xcom_rows"),
        ({"run_id": "run-1", "page_size": 0}, "page_size"),
        ({"run_id": "run-1", "page_size": 101}, "page_size"),
    ],
)
def test_results_operator_constructor_errors_name_the_argument(requests_mock, kwargs, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"'{argument}'"):
        RuntypeScheduleRunResultsOperator(task_id="results", **kwargs)

    assert requests_mock.call_count == 0


def test_invalid_run_reference_is_refused_before_any_request(requests_mock, context, results_op):
    with pytest.raises(RuntypeConfigurationError, match="'run'"):
        results_op(run=["not", "a", "reference"]).execute(context)

    assert requests_mock.call_count == 0


def test_ids_run_and_output_path_are_templated():
    fields = set(RuntypeScheduleRunResultsOperator.template_fields)
    assert fields >= {"run", "run_id", "batch_execution_id", "status_filter", "output_path"}
    assert RuntypeScheduleRunResultsOperator.template_fields_renderers["run"] == "json"


# ---- result pages fetched concurrently -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 33, True, 1.5, "4"])
def test_max_concurrent_pages_is_checked_when_the_dag_is_parsed(requests_mock, value):
    with pytest.raises(RuntypeConfigurationError, match=r"^'max_concurrent_pages' must be an integer from 1 to 32"):
        RuntypeScheduleRunResultsOperator(task_id="results", run_id="run-1", max_concurrent_pages=value)

    assert requests_mock.call_count == 0


def test_max_concurrent_pages_reaches_the_hook_and_none_leaves_the_connections_extra(
    requests_mock, context, results_op, monkeypatch
):
    from runtype_provider.hooks.runtype import RuntypeHook

    serve(requests_mock, BATCH_RESULTS, MIXED)
    asked: list[Any] = []
    original = RuntypeHook.iter_run_result_pages

    def spy(self: RuntypeHook, run: Any, **kwargs: Any) -> Any:
        asked.append(kwargs["max_concurrent_pages"])
        return original(self, run, **kwargs)

    monkeypatch.setattr(RuntypeHook, "iter_run_result_pages", spy)

    assert results_op(max_concurrent_pages=3).execute(context) == MIXED_OUT
    assert results_op().execute(context) == MIXED_OUT
    assert asked == [3, None]


@pytest.mark.parametrize("max_concurrent_pages", [None, 1, 4])
def test_rows_keep_their_order_and_every_page_is_asked_for_once_however_many_at_a_time(
    requests_mock, context, tmp_path, results_op, max_concurrent_pages
):
    all_rows = [api_row(i % 60, "failed" if i % 7 == 0 else "success") for i in range(1_234)]
    route = serve(requests_mock, BATCH_RESULTS, all_rows)
    target = tmp_path / "rows.jsonl"

    out = results_op(output_path=str(target), max_concurrent_pages=max_concurrent_pages).execute(context)

    assert read_jsonl(target) == [outcome(i % 60, "failed" if i % 7 == 0 else "success") for i in range(1_234)]
    assert out["row_count"] == 1_234 and out["summary"]["failed"] == len(range(0, 1_234, 7))
    assert sorted(int(q["offset"][0]) for q in queries(route)) == list(range(0, 1_234, 100))


@pytest.mark.parametrize("include_result_payload", [False, True])
def test_rows_read_fast_or_by_the_models_are_written_alike_and_the_api_key_never(
    requests_mock, context, tmp_path, results_op, api_key, include_result_payload
):
    # Page 1 (read in the task's thread) and page 3 (read by a worker) hold the key: the models read them and redact
    # it; the other pages are read straight from their bytes. The file is one format throughout.
    all_rows = [api_row(i % 60, "failed" if i % 7 == 0 else "success") for i in range(350)]
    for index in (5, 260):
        all_rows[index] = api_row(index % 60, "failed", error=f"rejected key {api_key}")
    serve(requests_mock, BATCH_RESULTS, all_rows)
    target = tmp_path / "rows.jsonl"

    out = results_op(
        output_path=str(target), max_concurrent_pages=4, include_result_payload=include_result_payload
    ).execute(context)

    text = target.read_text()
    expected = [
        outcome(i % 60, "failed" if i % 7 == 0 else "success", with_result=include_result_payload) for i in range(350)
    ]
    for index in (5, 260):
        expected[index] = {
            **outcome(index % 60, "failed", with_result=include_result_payload),
            "error": "rejected key ***",
        }
    assert api_key not in text
    assert text == "".join(json.dumps(row) + "\n" for row in expected)
    assert out["row_count"] == 350 and out["summary"]["failed"] == len(range(0, 350, 7)) + 2


@pytest.mark.parametrize("status", ["running", "queued", "mystery"])
def test_the_results_of_a_run_that_has_not_finished_are_refused_before_any_is_read(
    requests_mock, context, results_op, batch_status_body, status
):
    requests_mock.get(STATUS, json=batch_status_body(status))
    rows = serve(requests_mock, BATCH_RESULTS, MIXED)

    with pytest.raises(RuntypeRunError, match=rf"has not finished \(status '{status}'\).*Wait for it first"):
        results_op().execute(context)
    assert rows.call_count == 0


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_the_results_of_a_failed_or_cancelled_run_are_collected(
    requests_mock, context, results_op, batch_status_body, status
):
    requests_mock.get(STATUS, json=batch_status_body(status))
    serve(requests_mock, BATCH_RESULTS, MIXED)

    assert results_op().execute(context) == MIXED_OUT


def test_a_run_named_by_run_id_alone_is_collected_with_a_warning(requests_mock, context, results_op, logs):
    serve(requests_mock, RUN_RESULTS, MIXED)

    assert results_op(run_id="run-1").execute(context) == MIXED_OUT
    assert any("Cannot check that run run-1 has finished" in m for m in logs.messages("warning"))
