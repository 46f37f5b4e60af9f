"""runtype_provider.operators.runtype: the run operator (start, reference to XCom, timeout, deferral, kill, re-attach,
outlets). The wait itself is tested in tests/runs/test_watch.py, the results operator in test_results.py."""

from __future__ import annotations

import contextlib
import inspect
import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.operators.runtype import (
    RUN_STATE_KEY,
    RuntypeRunScheduleOperator,
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


COST = f"{BASE}/v1/batch/b-1/cost"


def test_a_run_with_a_batch_id_returns_its_cost(requests_mock, run_now, context, batch_status_body, run_result):
    requests_mock.get(STATUS, json=batch_status_body("completed"))
    cost = requests_mock.get(COST, json={"batchExecutionId": "b-1", "totalCostUsd": 0.25, "billedCostUsd": 0.2})

    out = make_op().execute(context)

    assert out == {**run_result("completed", "success"), "total_cost_usd": 0.25, "billed_cost_usd": 0.2}
    assert cost.call_count == 1  # once, after the run ended


def test_a_cost_that_cannot_be_read_leaves_the_success_and_says_why(
    requests_mock, run_now, context, batch_status_body, run_result, logs
):
    requests_mock.get(STATUS, json=batch_status_body("completed"))
    requests_mock.get(COST, status_code=404, json={"error": "not found"})

    out = make_op().execute(context)

    assert out == run_result("completed", "success")
    assert any("Could not read the cost of Runtype run" in m for m in logs.messages("warning"))


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
