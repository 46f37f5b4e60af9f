"""runtype_provider.triggers.runtype: serialization, the event's shape, deadline, async connection and client
cleanup, kill. How the trigger's wait ends (statuses, poll errors, run list) is tested in tests/test_waiting.py."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import httpx
import pytest

import runtype_provider.hooks.runtype as hook_module
import runtype_provider.triggers.runtype as trigger_module
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger
from runtype_provider.version_compat import AirflowSensorTimeout

pytestmark = pytest.mark.usefixtures("runtype_conn", "clock")

STATUS = "/v1/batch/status/b-1"
CANCEL = "/v1/batch/cancel/b-1"


@pytest.fixture
def batch(batch_status_body):
    """``batch(status, **counts)``: a batch status answer of the async hook."""
    return lambda status, **counts: httpx.Response(200, json=batch_status_body(status, **counts))


@pytest.fixture
def trigger(run_reference):
    def make(**kwargs: Any) -> RuntypeScheduleRunTrigger:
        kwargs.setdefault("run", run_reference)
        kwargs.setdefault("poll_interval", 10)
        kwargs.setdefault("hook_params", {"retry_limit": 0})  # one request per poll
        return RuntypeScheduleRunTrigger(**kwargs)

    return make


def only_event(t: RuntypeScheduleRunTrigger) -> dict[str, Any]:
    """The trigger's one event: it yields exactly one, then its generator returns."""

    async def run() -> list[dict[str, Any]]:
        return [event.payload async for event in t.run()]

    events = asyncio.run(run())
    assert len(events) == 1, events
    return events[0]


# --------------------------------------------------------------------------------------------------
# Serialization


def test_serialize_round_trips_every_argument(run_reference):
    kwargs = {
        "run": {**run_reference, "product_id": "p", "surface_id": "s"},
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


def test_serialize_with_defaults_and_a_json_run_round_trips(run_reference):
    path, serialized = RuntypeScheduleRunTrigger(run=json.dumps(run_reference)).serialize()

    assert serialized == {
        "run": run_reference,  # a JSON string serializes as a dict
        "runtype_conn_id": "runtype_default",
        "poll_interval": 30.0,
        "end_time": None,
        "max_poll_errors": 5,
        "cancel_on_kill": True,
        "hook_params": {},
    }
    assert RuntypeScheduleRunTrigger(**serialized).serialize() == (path, serialized)


# --------------------------------------------------------------------------------------------------
# The one event


def test_pending_then_success_yields_one_finished_event(router, clock, batch, trigger, wait_event):
    route = router.get(STATUS).mock(
        side_effect=[batch("queued", processed=0), batch("running", processed=5), batch("completed")]
    )

    event = only_event(trigger(poll_interval=10))

    message = "completed: 10/10 records processed, 0 failed"
    assert event == wait_event("finished", "completed", "success", message=message)
    assert route.call_count == 3
    assert clock.sleeps == [10.0, 10.0]


# --------------------------------------------------------------------------------------------------
# Deadline


def test_deadline_already_passed_yields_timeout_without_a_request(router, clock, batch, trigger, wait_event):
    """No request starts past the caller's deadline (e.g. a trigger resumed after its end_time)."""
    route = router.get(STATUS).mock(return_value=batch("running", processed=4))

    event = only_event(trigger(end_time=clock.time() - 1))

    assert event == wait_event("timeout", message="The wait for the Runtype run timed out")
    assert route.call_count == 0
    assert clock.sleeps == []


def test_near_deadline_cuts_the_last_sleep_short(router, clock, batch, trigger):
    route = router.get(STATUS).mock(return_value=batch("running"))

    event = only_event(trigger(poll_interval=3, end_time=clock.time() + 5))

    assert event["event"] == "timeout"
    assert clock.sleeps == [3.0, 2.0]
    assert route.call_count == 3


def test_a_run_finishing_at_the_deadline_is_finished_not_timed_out(router, clock, batch, trigger):
    router.get(STATUS).mock(side_effect=[batch("running"), batch("completed")])

    event = only_event(trigger(poll_interval=3, end_time=clock.time() + 3))

    assert event["event"] == "finished"


@pytest.mark.parametrize("seen_running", [False, True], ids=["never-polled", "polled-once"])
def test_deadline_while_polls_fail_yields_timeout_with_the_last_known_progress(
    runtype_conn, router, clock, batch, trigger, wait_event, seen_running
):
    busy = httpx.Response(503, json={"error": "busy"})
    router.get(STATUS).mock(side_effect=[batch("running") if seen_running else busy] + [busy] * 5)

    event = only_event(trigger(poll_interval=3, end_time=clock.time() + 5, max_poll_errors=10))

    assert event["event"] == "timeout"
    expected = wait_event("timeout", "running", "running")["progress"] if seen_running else None
    assert event["progress"] == expected


def test_sensor_resumes_from_a_real_timeout_event(router, clock, batch, trigger, run_reference):
    router.get(STATUS).mock(return_value=batch("running"))
    event = only_event(trigger(end_time=clock.time()))

    with pytest.raises(AirflowSensorTimeout):
        RuntypeScheduleRunSensor(task_id="wait", run=run_reference, timeout=30).execute_complete({}, event)


# --------------------------------------------------------------------------------------------------
# Arguments reach the async requests (the shared clients' closing: tests/test_shared_reads.py)


def test_connection_is_read_with_the_async_getter(router, monkeypatch, batch, trigger):
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


def test_conn_id_and_hook_params_reach_the_async_hook(router, monkeypatch, batch, trigger):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_OTHER",
        json.dumps({"conn_type": "runtype", "host": "https://other.runtype.test", "password": "rt_test_other"}),
    )
    route = router.get("https://other.runtype.test/v1/batch/status/b-1").mock(return_value=batch("completed"))

    only_event(trigger(runtype_conn_id="runtype_other", hook_params={"timeout": 7.5, "retry_limit": 0}))

    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer rt_test_other"
    assert request.extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}


# --------------------------------------------------------------------------------------------------
# on_kill


def test_on_kill_cancels_the_batch_through_the_async_hook(runtype_conn, router, trigger):
    cancel = router.post(CANCEL).mock(return_value=httpx.Response(200, json={"success": True, "message": "ok"}))

    asyncio.run(trigger().on_kill())

    assert cancel.call_count == 1
    assert cancel.calls.last.request.headers["Authorization"] == f"Bearer {runtype_conn['password']}"


@pytest.mark.parametrize(
    "kwargs",
    [{"cancel_on_kill": False}, {"run": {"schedule_id": "sch-1", "run_id": "run-1"}}],
    ids=["off", "no-batch-id"],
)
def test_on_kill_makes_no_request_when_off_or_without_a_batch_id(router, trigger, kwargs):
    router.post(CANCEL).mock(return_value=httpx.Response(200, json={"success": True}))

    asyncio.run(trigger(**kwargs).on_kill())

    assert len(router.calls) == 0


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500, json={"error": "boom"}), httpx.Response(400, json={"error": "done"}), httpx.ConnectError("x")],
    ids=["500", "400", "connect-error"],
)
def test_on_kill_never_raises_when_cancel_fails(router, logs, trigger, failure):
    cancel = router.post(CANCEL).mock(side_effect=[failure])

    asyncio.run(trigger().on_kill())

    assert cancel.call_count == 1
    assert any("Could not cancel Runtype batch b-1 (task killed)" in m for m in logs.messages("warning"))


class FakeSupervisor:
    """The triggerer's supervisor channel, answering GetTaskStates with a fixed state (or failing)."""

    def __init__(self, state: Any) -> None:
        self.state, self.questions = state, []

    async def asend(self, question: Any) -> Any:
        self.questions.append(question)
        if isinstance(self.state, Exception):
            raise self.state
        key = question.task_ids[0] + (f"_{question.map_index}" if question.map_index is not None else "")
        return SimpleNamespace(task_states={question.run_ids[0]: {key: self.state}})


@pytest.mark.parametrize(
    ("state", "map_index", "cancels"),
    [
        ("deferred", -1, 0),
        ("deferred", 3, 0),
        ("failed", -1, 1),
        ("success", 2, 1),
        (None, -1, 1),
        ("running", -1, 0),
        ("scheduled", -1, 0),
        (RuntimeError("no comms"), -1, 0),
    ],
    ids=[
        "moved",
        "moved-mapped",
        "marked-failed",
        "marked-success-mapped",
        "cleared",
        "resumed",
        "rescheduled",
        "lookup-fails-leaves-the-run",
    ],
)
def test_on_kill_does_not_cancel_when_the_task_is_still_deferred(
    runtype_conn, router, trigger, monkeypatch, logs, state, map_index, cancels
):
    """Airflow 3.3.2 calls on_kill on a stalled triggerer whose trigger another triggerer took over
    (apache/airflow#73454): the task is still deferred, so the run must go on."""
    supervisor = FakeSupervisor(state)
    monkeypatch.setattr(RuntypeScheduleRunTrigger, "_supervisor", staticmethod(lambda: supervisor))
    cancel = router.post(CANCEL).mock(return_value=httpx.Response(200, json={"success": True}))
    killed = trigger()
    killed.task_instance = SimpleNamespace(dag_id="d", task_id="run", run_id="r1", map_index=map_index)

    asyncio.run(killed.on_kill())

    assert cancel.call_count == cancels
    question = supervisor.questions[0]
    assert len(supervisor.questions) == (2 if isinstance(state, Exception) else 1)  # a failed question is asked again
    assert (question.dag_id, question.task_ids, question.run_ids) == ("d", ["run"], ["r1"])
    assert question.map_index == (map_index if map_index >= 0 else None)


class SlowSupervisor(FakeSupervisor):
    """Answers only when ``release`` is set (never, unless a test sets it)."""

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.asked, self.release = asyncio.Event(), asyncio.Event()

    async def asend(self, question: Any) -> Any:
        self.asked.set()
        await self.release.wait()
        return await super().asend(question)


def test_on_kill_cancelled_again_while_asking_still_cancels_the_run(runtype_conn, router, trigger, monkeypatch):
    """The triggerer cancels the trigger's task again while on_kill awaits (seen on 3.3.2 with real processes):
    the question and the cancel run shielded and finish."""
    cancel = router.post(CANCEL).mock(return_value=httpx.Response(200, json={"success": True}))
    killed = trigger()
    killed.task_instance = SimpleNamespace(dag_id="d", task_id="run", run_id="r1", map_index=-1)

    async def main() -> None:
        supervisor = SlowSupervisor("failed")
        monkeypatch.setattr(RuntypeScheduleRunTrigger, "_supervisor", staticmethod(lambda: supervisor))
        task = asyncio.ensure_future(killed.on_kill())
        await supervisor.asked.wait()
        task.cancel()  # the second cancel arrives before the supervisor answers
        with pytest.raises(asyncio.CancelledError):
            await task
        supervisor.release.set()
        shielded = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert shielded  # the check-and-cancel goes on after on_kill itself was cancelled
        await asyncio.wait_for(asyncio.gather(*shielded), timeout=30)

    asyncio.run(main())

    assert cancel.call_count == 1


def test_a_state_question_without_an_answer_never_cancels_a_healthy_run(
    runtype_conn, router, trigger, monkeypatch, logs
):
    """A slow supervisor (a loaded triggerer) must not turn a moved trigger into a cancelled run."""
    monkeypatch.setattr(trigger_module, "STATE_QUESTION_TIMEOUT", 0.05)
    monkeypatch.setattr(RuntypeScheduleRunTrigger, "_supervisor", staticmethod(lambda: SlowSupervisor("deferred")))
    cancel = router.post(CANCEL).mock(return_value=httpx.Response(200, json={"success": True}))
    killed = trigger()
    killed.task_instance = SimpleNamespace(dag_id="d", task_id="run", run_id="r1", map_index=-1)

    asyncio.run(killed.on_kill())

    assert cancel.call_count == 0
    warned = [m for m in logs.messages("warning") if "not cancelling Runtype run" in m]
    assert len(warned) == 1 and "may still be running" in warned[0]


# --------------------------------------------------------------------------------------------------
# What a wait holds


def test_waits_share_their_class_logger_a_subclass_has_its_own_and_one_set_by_hand_wins(trigger, monkeypatch):
    """A logger per wait is about eight objects the garbage collector visits at each full collection."""

    class Custom(RuntypeScheduleRunTrigger):
        pass

    monkeypatch.setattr(RuntypeScheduleRunTrigger, "_log", None)  # as before any wait ran
    first, second, mine = trigger(), trigger(), trigger()
    mine._log = MagicMock()
    custom = Custom(**dict(first.serialize()[1]))

    assert first._wait_log() is second._wait_log() is RuntypeScheduleRunTrigger.__dict__["_log"]
    assert "_log" not in vars(first)  # nothing of its own
    assert mine._wait_log() is mine._log
    assert custom._wait_log() is not first._wait_log()
    assert Custom.__dict__["_log"] is custom._wait_log()
    assert custom._wait_log()._logger_factory_args == (f"{Custom.__module__}.{Custom.__name__}",)
    assert first._wait_log()._logger_factory_args == ("runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger",)
