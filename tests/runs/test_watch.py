"""The wait engine (runtype_provider.runs.watch), tested once over its three drivers.

Each scenario runs through every driver (fixture ``driver``):

* ``sync``: RuntypeRunScheduleOperator.execute with deferrable=False (run-now, then the sync wait loop);
* ``poke``: RuntypeScheduleRunSensor.poke, repeated on one sensor (poke mode) until it is done;
* ``trigger``: RuntypeScheduleRunTrigger.run to its one event, which the run operator AND the sensor then judge
  with execute_complete (they must agree).

The drivers serve the same scripted batch-status answers (requests_mock for the sync hook, respx for the async
one) and end as the task ends: with its result, or by raising. Then the engine's own parts, driver-independent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import httpx
import pytest
import requests

from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeAuthError,
    RuntypeConnectionError,
    RuntypeException,
    RuntypeNotFoundError,
    RuntypeRunError,
    RuntypeServerError,
)
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.status import RunOutcome
from runtype_provider.runs.watch import RunWaitEvent, RunWatch, acancel_run, cancel_run, pause
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

try:
    from airflow.sdk import PokeReturnValue
except ImportError:  # pragma: no cover
    from airflow.sensors.base import PokeReturnValue

BASE = "https://api.runtype.com"
STATUS = "/v1/batch/status/b-1"
RUNS = "/v1/schedules/sch-1/runs"
RUN_URL = "https://app.runtype.com/schedules/sch-1/runs/run-1"

SUCCESS_STATUSES = ["completed", "complete", "success", "succeeded", "done", "finished", "COMPLETED"]
FAILED_STATUSES = ["failed", "failure", "error", "errored", "timed_out", "timeout", "interrupted"]
CANCELLED_STATUSES = ["cancelled", "canceled", "aborted", "cancelling", "canceling"]
RUNNING_STATUSES = [
    "queued", "pending", "running", "in_progress", "processing", "started", "starting", "scheduled", "created",
    "paused", "retrying",
]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Scripted answers and the three drivers


@dataclass(frozen=True)
class Answer:
    """One answer to a poll, served alike by requests_mock (sync hook) and respx (async hook)."""

    status_code: int = 200
    body: Any = None
    text: str | None = None
    headers: dict[str, str] | None = None
    error: str | None = None  # "connection", "connect-timeout" or "read-timeout": no HTTP answer at all

    def for_requests_mock(self) -> dict[str, Any]:
        if self.error:
            return {"exc": REQUESTS_ERRORS[self.error](self.error)}
        content = {"text": self.text} if self.text is not None else {"json": self.body}
        return {"status_code": self.status_code, "headers": self.headers or {}, **content}

    def for_respx(self) -> httpx.Response:
        if self.error:
            raise HTTPX_ERRORS[self.error](self.error)
        content = {"text": self.text} if self.text is not None else {"json": self.body}
        return httpx.Response(self.status_code, headers=self.headers, **content)


REQUESTS_ERRORS = {
    "connection": requests.exceptions.ConnectionError,
    "connect-timeout": requests.exceptions.ConnectTimeout,
    "read-timeout": requests.exceptions.ReadTimeout,
}
HTTPX_ERRORS = {
    "connection": httpx.ConnectError,
    "connect-timeout": httpx.ConnectTimeout,
    "read-timeout": httpx.ReadTimeout,
}

TRANSIENT = {
    "500": Answer(500, {"error": "oops"}),
    "502": Answer(502, {"error": "bad gateway"}),
    "503": Answer(503, {"error": "busy"}),
    "429": Answer(429, {"error": "slow down"}, headers={"Retry-After": "1"}),
    "connection": Answer(error="connection"),
    "connect-timeout": Answer(error="connect-timeout"),
    "read-timeout": Answer(error="read-timeout"),
    "not-json": Answer(200, text="<html>gateway</html>"),
}

MAX_POLLS = 20  # a wait that never ends fails the test instead of hanging it


class TooManyPolls(AssertionError):
    pass


def padded(answers: tuple[Answer, ...]) -> list[Answer]:
    return [*answers, *[answers[-1]] * (MAX_POLLS - len(answers))]


class Driver:
    """Serves scripted answers, runs one wait to its end, and returns the task's result or raises."""

    name = ""
    sleeps_between_polls = True  # False for poke: Airflow, not the engine, sleeps between pokes

    def __init__(
        self, requests_mock: Any, router: Any, context: dict[str, Any], run: dict[str, Any], clock: Any
    ) -> None:
        self.requests_mock, self.router, self.context, self.run = requests_mock, router, context, run
        self.clock = clock
        self.path = STATUS

    def serve(self, *answers: Answer, path: str = STATUS) -> None:
        """Answer the polls in this order; the last answer repeats, up to MAX_POLLS polls in all."""
        self.path = path
        script = [answer.for_requests_mock() for answer in padded(answers)]
        self.requests_mock.get(BASE + path, [*script, {"exc": TooManyPolls(f"more than {MAX_POLLS} polls")}])

    @property
    def polls(self) -> int:
        return sum(1 for r in self.requests_mock.request_history if r.path == self.path and r.method == "GET")

    def wait(self, **kwargs: Any) -> Any:
        """Wait for ``run`` (default: run run-1 / batch b-1) with these task arguments."""
        raise NotImplementedError


class SyncDriver(Driver):
    name = "sync"

    def wait(self, run: dict[str, Any] | None = None, poll_interval: float = 10, **kwargs: Any) -> Any:
        run = run or self.run
        started = {"status": "queued", "runId": run["run_id"], "batchExecutionId": run["batch_execution_id"]}
        self.requests_mock.post(f"{BASE}/v1/schedules/sch-1/run-now", json={k: v for k, v in started.items() if v})
        op = RuntypeRunScheduleOperator(
            task_id="run", schedule_id="sch-1", poll_interval=poll_interval, deferrable=False, **kwargs
        )
        return op.execute(self.context)


class PokeDriver(Driver):
    name = "poke"
    sleeps_between_polls = False

    def wait(self, run: dict[str, Any] | None = None, poll_interval: float = 10, **kwargs: Any) -> Any:
        run = run or self.run
        sensor = RuntypeScheduleRunSensor(
            task_id="wait", run=run, poke_interval=poll_interval, deferrable=False, **kwargs
        )
        while (answer := sensor.poke(self.context)) is False:
            self.clock.now += poll_interval  # Airflow waits between pokes (not recorded as an engine sleep)
        assert isinstance(answer, PokeReturnValue) and answer.is_done, answer
        return answer.xcom_value


class TriggerDriver(Driver):
    name = "trigger"

    def serve(self, *answers: Answer, path: str = STATUS) -> None:
        script = padded(answers)

        def respond(request: httpx.Request) -> httpx.Response:
            if not script:
                raise TooManyPolls(f"more than {MAX_POLLS} polls")
            return script.pop(0).for_respx()

        self.route = self.router.get(path).mock(side_effect=respond)

    @property
    def polls(self) -> int:
        return self.route.call_count

    def wait(self, run: dict[str, Any] | None = None, allowed_failed_records: Any = None, **kwargs: Any) -> Any:
        run = run or self.run
        trigger = RuntypeScheduleRunTrigger(run=run, **{"poll_interval": 10, **kwargs})

        async def events() -> list[dict[str, Any]]:
            return [event.payload async for event in trigger.run()]

        (event,) = asyncio.run(events())  # exactly one event, then the generator returns
        assert event["run"] == run
        if event["event"] == "error":
            assert event["progress"] is None
        policy = {"allowed_failed_records": allowed_failed_records}
        tasks = [
            RuntypeRunScheduleOperator(task_id="run", schedule_id="sch-1", **policy),
            RuntypeScheduleRunSensor(task_id="wait", run=run, **policy),
        ]
        outcomes = [self._resume(task, event) for task in tasks]
        operator, sensor = (
            (type(o), str(o), getattr(o, "run", None)) if isinstance(o, Exception) else o for o in outcomes
        )
        assert operator == sensor, "the operator and the sensor judge the same event differently"
        # Judging an event sends no request (no cancel); only the run operator reads a finished run's cost.
        sent = [(r.method, r.path) for r in self.requests_mock.request_history]
        assert set(sent) <= {("GET", f"/v1/batch/{run['batch_execution_id']}/cost")}, sent
        if isinstance(outcomes[0], Exception):
            raise outcomes[0]
        return outcomes[0]

    def _resume(self, task: Any, event: dict[str, Any]) -> Any:
        try:
            outcome = task.execute_complete(self.context, event)
        except RuntypeException as err:
            outcome = err
            if event["event"] == "error":  # the same typed API error as the sync path, else a run error
                assert str(err) in (event["message"], f"{WAIT_FAILED}{event['message']}")
        assert task.run_url == event["run"]["run_url"]  # for the extra link and on_kill
        return outcome


DRIVERS = {"sync": SyncDriver, "poke": PokeDriver, "trigger": TriggerDriver}


@pytest.fixture(params=list(DRIVERS))
def driver(request, runtype_conn, requests_mock, router, context, clock, sleeps, run_reference) -> Driver:
    return DRIVERS[request.param](requests_mock, router, context, run_reference, clock)


@pytest.fixture
def answer(batch_status_body):
    """``answer(status, **counts)``: a batch status answer."""
    return lambda status, **counts: Answer(body=batch_status_body(status, **counts))


def unknown_statuses_logged(logs) -> list[str]:
    return [m for m in logs.messages("warning") if m.startswith("Unknown Runtype run status")]


NO_RETRY = {"retry_limit": 0}  # one request per poll, so poll errors are counted exactly
WAIT_FAILED = "Waiting for the Runtype run failed: "  # how a task resumed from the trigger's error event fails


# --------------------------------------------------------------------------------------------------
# How a wait ends, through every driver


def test_waits_through_progress_to_the_result_with_its_counts(driver, answer, run_result, clock, logs):
    driver.serve(answer("queued", processed=0), answer("running", processed=4, failed=1), answer("completed", failed=1))

    assert driver.wait(poll_interval=7) == run_result("completed", "success", failed=1)
    assert driver.polls == 3
    assert clock.sleeps == ([7, 7] if driver.sleeps_between_polls else [])
    info = logs.messages("info")
    assert not [m for m in info if "queued" in m]  # left the queue within a minute: the task logged the start
    assert "Runtype run run-1: running: 4/10 records processed, 1 failed" in info


def test_the_final_status_is_logged_once_by_the_verdict_not_by_the_wait(driver, answer, logs):
    """A thousand waits in a triggerer would log each final status twice (trigger and resumed task) otherwise."""
    driver.serve(answer("queued", processed=0), answer("running", processed=4), answer("completed"))

    driver.wait(poll_interval=7)

    info = logs.messages("info")
    assert "Runtype run run-1: running: 4/10 records processed, 0 failed" in info  # the wait's line (a change)
    assert not [m for m in info if m.startswith("Runtype run run-1: completed")]  # ... but not for the end
    assert "Runtype run run-1 completed: completed: 10/10 records processed, 0 failed" in info  # the verdict's


@pytest.mark.parametrize("status", SUCCESS_STATUSES)
def test_every_success_status_ends_the_wait_with_the_result(driver, answer, run_result, status):
    driver.serve(answer("running"), answer(status, failed=2))

    assert driver.wait() == run_result(status, "success", failed=2)
    assert driver.polls == 2


@pytest.mark.parametrize("status", RUNNING_STATUSES)
def test_every_in_progress_status_keeps_waiting(driver, answer, logs, status):
    driver.serve(answer(status, processed=3), answer(status), answer("completed"))

    assert driver.wait()["outcome"] == "success"
    assert driver.polls == 3
    assert unknown_statuses_logged(logs) == []  # a known status


@pytest.mark.parametrize("status", FAILED_STATUSES)
def test_every_failure_status_raises_with_run_id_status_error_and_link(driver, answer, run_result, status):
    driver.serve(answer("running"), answer(status, error="step 3 exploded"))

    with pytest.raises(RuntypeRunError) as exc:
        driver.wait()

    assert str(exc.value) == (
        f"Runtype run run-1 of schedule sch-1 failed (status {status!r}): step 3 exploded. "
        f"10/10 records processed, 0 failed. See {RUN_URL}"
    )
    assert exc.value.run == run_result(status, "failed")


@pytest.mark.parametrize("status", CANCELLED_STATUSES)
def test_every_cancelled_status_raises_its_own_message(driver, answer, run_result, status):
    driver.serve(answer("running"), answer(status, processed=4))

    with pytest.raises(RuntypeRunError) as exc:
        driver.wait()

    assert str(exc.value) == (
        f"Runtype run run-1 of schedule sch-1 was cancelled (status {status!r}) before it finished: "
        f"4/10 records processed, 0 failed. See {RUN_URL}"
    )
    assert exc.value.run == run_result(status, "cancelled", processed=4)


POLICY_TABLE = [
    # allowed_failed_records, failed of 10, what a failure message says is allowed (None: the task succeeds)
    (None, 0, None),
    (None, 10, None),
    (0, 0, None),
    (0, 1, "no failed records"),
    (3, 3, None),
    (3, 4, "at most 3 failed records"),
    ("3", 4, "at most 3 failed records"),
    ("20%", 2, None),
    ("20%", 3, "at most 20% failed records"),
    ("0%", 1, "at most 0% failed records"),
    ("100%", 10, None),
]


@pytest.mark.parametrize(("policy", "failed", "allowed"), POLICY_TABLE)
def test_failed_records_policy(driver, answer, run_result, logs, policy, failed, allowed):
    driver.serve(answer("completed", failed=failed))

    if allowed is None:
        assert driver.wait(allowed_failed_records=policy) == run_result("completed", "success", failed=failed)
        warned = f"Runtype run run-1 completed with {failed} of 10 records failed" in logs.messages("warning")
        assert warned is (failed > 0)
    else:
        with pytest.raises(RuntypeRunError) as exc:
            driver.wait(allowed_failed_records=policy)
        assert str(exc.value) == (
            f"Runtype run run-1 of schedule sch-1 completed with {failed} of 10 records failed; "
            f"allowed: {allowed}. See {RUN_URL}"
        )
        assert exc.value.run == run_result("completed", "success", failed=failed)


def test_unknown_status_keeps_waiting_and_is_logged_once(driver, answer, logs):
    driver.serve(answer("mystery"), answer("mystery"), answer("mystery"), answer("completed"))

    assert driver.wait()["outcome"] == "success"
    assert driver.polls == 4
    assert unknown_statuses_logged(logs) == ["Unknown Runtype run status 'mystery'; still waiting"]


@pytest.mark.parametrize("failure", list(TRANSIENT))
def test_transient_poll_errors_are_tolerated_up_to_max_poll_errors(driver, answer, failure):
    driver.serve(TRANSIENT[failure], TRANSIENT[failure], TRANSIENT[failure], answer("completed"))

    assert driver.wait(max_poll_errors=3, hook_params=NO_RETRY)["outcome"] == "success"
    assert driver.polls == 4


@pytest.mark.parametrize("failure", list(TRANSIENT))
def test_one_transient_poll_error_too_many_fails_the_wait(driver, run_reference, failure):
    driver.serve(TRANSIENT[failure])

    with pytest.raises(RuntypeRunError) as exc:
        driver.wait(max_poll_errors=2, hook_params=NO_RETRY)

    gave_up = "Gave up polling Runtype run run-1 after 3 failed polls in a row: "
    assert str(exc.value).removeprefix(WAIT_FAILED).startswith(gave_up)
    assert exc.value.run == run_reference
    assert driver.polls == 3


def test_a_good_poll_resets_the_count_of_poll_errors(driver, answer):
    t = TRANSIENT
    driver.serve(t["503"], t["connection"], answer("running"), t["429"], t["not-json"], answer("completed"))

    assert driver.wait(max_poll_errors=2, hook_params=NO_RETRY)["outcome"] == "success"
    assert driver.polls == 6


def test_retries_inside_one_poll_are_not_poll_errors(driver, answer):
    driver.serve(TRANSIENT["503"], TRANSIENT["503"], answer("completed"))

    assert driver.wait(max_poll_errors=0, hook_params={"retry_limit": 2})["outcome"] == "success"
    assert driver.polls == 3


@pytest.mark.parametrize(
    ("code", "error"),
    [(400, RuntypeApiError), (401, RuntypeAuthError), (403, RuntypeAuthError), (404, RuntypeNotFoundError)],
)
def test_a_permanent_poll_error_fails_at_once(driver, clock, code, error):
    driver.serve(Answer(code, {"error": "Batch not found"}))

    message = f"Runtype API GET {STATUS} returned HTTP {code}: Batch not found"
    with pytest.raises(RuntypeException) as exc:
        driver.wait(max_poll_errors=5, hook_params=NO_RETRY)

    assert str(exc.value) == message
    # The deferred path carries the API error in its event: the resumed task raises the same typed error.
    assert type(exc.value) is error
    assert (exc.value.status_code, exc.value.error) == (code, "Batch not found")
    assert driver.polls == 1
    assert clock.sleeps == []


def test_a_run_without_batch_id_is_polled_through_the_schedules_run_list(driver, run_reference, run_result, logs):
    other = {"id": "run-0", "scheduleId": "sch-1", "status": "failed", "createdAt": "2026-01-01T00:00:00Z"}
    mine = {"id": "run-1", "scheduleId": "sch-1", "createdAt": "2026-01-02T00:00:00Z", "totalRecords": 4}
    driver.serve(
        Answer(body={"data": [other]}),  # not listed yet: keep waiting
        Answer(body={"data": [other, {**mine, "status": "running", "processedRecords": 1}]}),
        Answer(body={"data": [other, {**mine, "status": "completed", "processedRecords": 4, "failedRecords": 1}]}),
        path=RUNS,
    )
    run = {**run_reference, "batch_execution_id": None}

    assert driver.wait(run) == run_result("completed", "success", ref=run, total=4, failed=1)
    assert driver.polls == 3
    assert not [m for m in logs.messages("info") if "running" in m]  # the first status, for under a minute


# --------------------------------------------------------------------------------------------------
# RunWatch: one wait's state


def progress_of(status: str | None, outcome: RunOutcome) -> RunProgress:
    return RunProgress(status=status, outcome=outcome)


def server_error() -> RuntypeServerError:
    return RuntypeServerError(method="GET", path=STATUS, status_code=503, error="busy")


class ScriptedHook:
    """Answers get_run_progress (sync and async) from a script; exceptions in it are raised."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def get_run_progress(self, run: RunReference) -> RunProgress:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def get_run_progress_async(self, run: RunReference) -> RunProgress:
        return self.get_run_progress(run)


@pytest.fixture(params=["poll", "apoll"])
def poll(request):
    """One poll of a RunWatch, through poll() or apoll()."""
    if request.param == "poll":
        return lambda watch, hook: watch.poll(hook)
    return lambda watch, hook: asyncio.run(watch.apoll(hook))


def test_run_watch_counts_failed_polls_in_a_row_and_gives_up_after_max_poll_errors(poll, run_reference, logs):
    running = progress_of("running", RunOutcome.RUNNING)
    final = server_error()
    hook = ScriptedHook(
        server_error(), running, RuntypeConnectionError(method="GET", path=STATUS, reason="x", sent=True), final
    )
    watch = RunWatch(run=RunReference(**run_reference), max_poll_errors=1, log=logging.getLogger("watch"))

    assert poll(watch, hook) is None
    assert watch.failed_polls == 1
    assert poll(watch, hook) is running
    assert watch.failed_polls == 0
    assert poll(watch, hook) is None
    with pytest.raises(RuntypeRunError) as exc:
        poll(watch, hook)

    assert str(exc.value) == f"Gave up polling Runtype run run-1 after 2 failed polls in a row: {final}"
    assert exc.value.__cause__ is final
    assert exc.value.run == run_reference
    retries = [m for m in logs.messages("warning") if m.startswith("Poll 1 of the run failed")]
    assert len(retries) == 2


def test_run_watch_lets_a_permanent_error_through_without_counting_it(poll, run_reference):
    missing = RuntypeNotFoundError(method="GET", path=STATUS, status_code=404, error="gone")
    watch = RunWatch(run=RunReference(**run_reference), max_poll_errors=5, log=logging.getLogger("watch"))

    with pytest.raises(RuntypeNotFoundError) as exc:
        poll(watch, ScriptedHook(missing))

    assert exc.value is missing
    assert watch.failed_polls == 0


def test_run_watch_logs_each_unknown_status_once(poll, run_reference, logs):
    hook = ScriptedHook(*(progress_of(s, RunOutcome.UNKNOWN) for s in ["warming", None, "warming", "cooling", None]))
    watch = RunWatch(run=RunReference(**run_reference), max_poll_errors=0, log=logging.getLogger("watch"))

    for _ in range(5):
        poll(watch, hook)

    assert unknown_statuses_logged(logs) == [
        "Unknown Runtype run status 'warming'; still waiting",
        "Unknown Runtype run status None; still waiting",
        "Unknown Runtype run status 'cooling'; still waiting",
    ]
    assert watch.unknown_statuses_logged == {"warming", None, "cooling"}


def play_script(poll: Any, run_reference: dict[str, Any], clock: Any, script: list[tuple[int, str, int]]) -> RunWatch:
    """Poll a new watch once per ``(seconds after start, status, processed)`` step, the clock set to each step."""
    outcomes = {"completed": RunOutcome.SUCCESS}
    hook = ScriptedHook(
        *(
            RunProgress(status=s, outcome=outcomes.get(s, RunOutcome.RUNNING), total_records=10, processed_records=n)
            for _, s, n in script
        )
    )
    watch = RunWatch(run=RunReference(**run_reference), max_poll_errors=0, log=logging.getLogger("watch"))
    start = clock.now
    for at, _, _ in script:
        clock.now = start + at
        poll(watch, hook)
    return watch


def progress_lines(logs: Any) -> list[str]:
    return [m for m in logs.messages("info") if m.startswith("Runtype run run-1:")]


def test_progress_is_logged_when_it_changes_not_at_every_poll(poll, run_reference, clock, logs):
    """A new status at once; new counts under the same status at most every PROGRESS_LOG_EVERY (60 s); the final
    status not at all (the verdict logs it once, or raises it)."""
    script = [(0, "queued", 0), (10, "queued", 0), (20, "running", 2), (30, "running", 2), (40, "running", 5),
              (90, "running", 9), (100, "completed", 10)]  # fmt: skip
    watch = play_script(poll, run_reference, clock, script)

    assert progress_lines(logs) == [
        "Runtype run run-1: running: 2/10 records processed, 0 failed",  # queued for 20 s only: not logged
        "Runtype run run-1: running: 9/10 records processed, 0 failed",
    ]
    assert watch.last_progress is not None and watch.last_progress.status == "completed"  # seen, not logged


@pytest.mark.parametrize("status", ["queued", "running", "mystery"])
def test_the_first_status_is_logged_once_it_lasts_a_minute_then_any_change_at_once(
    poll, run_reference, clock, logs, status
):
    script = [(0, status, 0), (30, status, 0), (60, status, 0), (90, status, 0), (150, status, 0), (160, "paused", 1)]

    play_script(poll, run_reference, clock, script)

    assert progress_lines(logs) == [
        f"Runtype run run-1: {status}: 0/10 records processed, 0 failed",  # at 60 s, once
        "Runtype run run-1: paused: 1/10 records processed, 0 failed",
    ]


def test_a_wait_of_one_poll_logs_what_it_sees_at_once(poll, run_reference, logs):
    hook = ScriptedHook(RunProgress(status="queued", outcome=RunOutcome.RUNNING, total_records=3))
    watch = RunWatch(run=RunReference(**run_reference), max_poll_errors=0, log=logging.getLogger("watch"))
    watch.quiet_start = False  # a reschedule sensor's poke

    poll(watch, hook)

    assert "Runtype run run-1: queued: 0/3 records processed, 0 failed" in logs.messages("info")


def test_a_run_missing_from_its_schedules_run_list_fails_after_a_bounded_time(driver, run_reference, logs):
    driver.serve(Answer(body={"data": []}), path=RUNS)  # never listed
    run = {**run_reference, "batch_execution_id": None}

    with pytest.raises(RuntypeRunError) as exc:
        driver.wait(run, poll_interval=100)

    expected = "Runtype run run-1 did not appear in schedule sch-1's run list within 300 s; it cannot be tracked"
    assert str(exc.value).removeprefix(WAIT_FAILED).startswith(expected)
    assert driver.polls == 5  # at 0, 100, 200, 300 and 400 s: missing for more than 300 s
    waiting = [m for m in logs.messages("info") if "is not in schedule sch-1's run list yet" in m]
    assert len(waiting) == 1  # said once, not at every poll
    assert unknown_statuses_logged(logs) == []  # "not listed yet" is not an unknown status


def test_a_run_that_appears_in_time_is_waited_for(driver, run_reference, run_result):
    mine = {"id": "run-1", "scheduleId": "sch-1", "status": "completed", "totalRecords": 10, "processedRecords": 10}
    driver.serve(*[Answer(body={"data": []})] * 3, Answer(body={"data": [mine]}), path=RUNS)
    run = {**run_reference, "batch_execution_id": None}

    assert driver.wait(run, poll_interval=100)["outcome"] == "success"


@pytest.mark.parametrize(("missing_polls", "said"), [(1, 0), (2, 1), (3, 1)])
def test_a_run_missing_from_the_first_list_read_only_is_not_worth_a_log_line(
    driver, run_reference, logs, missing_polls, said
):
    mine = {"id": "run-1", "scheduleId": "sch-1", "status": "completed", "totalRecords": 10, "processedRecords": 10}
    driver.serve(*[Answer(body={"data": []})] * missing_polls, Answer(body={"data": [mine]}), path=RUNS)

    assert driver.wait({**run_reference, "batch_execution_id": None}, poll_interval=100)["outcome"] == "success"
    assert len([m for m in logs.messages("info") if "run list yet" in m]) == said


RETRY_AFTER_200 = Answer(503, {"error": "busy"}, headers={"Retry-After": "200"})


def test_no_retry_sleeps_past_the_operators_timeout(runtype_conn, requests_mock, context, clock, sleeps, logs):
    requests_mock.post(f"{BASE}/v1/schedules/sch-1/run-now", json={"runId": "run-1", "batchExecutionId": "b-1"})
    requests_mock.get(BASE + STATUS, **RETRY_AFTER_200.for_requests_mock())
    cancel = requests_mock.post(f"{BASE}/v1/batch/cancel/b-1", json={"success": True})
    op = RuntypeRunScheduleOperator(task_id="run", schedule_id="sch-1", poll_interval=10, timeout=30)

    with pytest.raises(RuntypeRunError, match=r"did not finish within 30 s \(no status was seen\); the run was cancel"):
        op.execute(context)

    assert sleeps == []  # a 200 s Retry-After does not fit in the 30 s left: no retry sleep at all
    assert cancel.call_count == 1


def test_no_retry_sleeps_past_the_triggers_end_time(runtype_conn, router, clock, sleeps, run_reference):
    router.get(STATUS).mock(return_value=RETRY_AFTER_200.for_respx())
    trigger = RuntypeScheduleRunTrigger(run=run_reference, poll_interval=10, end_time=clock.time() + 30)

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(events())

    assert (event["event"], event["progress"]) == ("timeout", None)
    assert sleeps == []  # the hook never slept for the 200 s Retry-After
    assert clock.sleeps == [10, 10, 10]  # only poll intervals, the last one cut to the end_time


# --------------------------------------------------------------------------------------------------
# cancel_run / acancel_run: best effort, logged, never raising


@pytest.mark.parametrize("routine", ["cancel_run", "acancel_run"])
@pytest.mark.parametrize(
    ("reply", "cancelled", "logged"),
    [
        (
            MagicMock(message="Batch cancelled"),
            True,
            ("info", "Cancelled Runtype batch b-1 (timed out): Batch cancelled"),
        ),
        (MagicMock(message=None, success=True), True, ("info", "Cancelled Runtype batch b-1 (timed out): True")),
        (
            MagicMock(message="Batch already finished", success=False),
            False,
            ("warning", "Runtype did not cancel batch b-1 (timed out): Batch already finished"),
        ),
        (server_error(), False, ("warning", f"Could not cancel Runtype batch b-1 (timed out): {server_error()}")),
        (ValueError("boom"), False, ("warning", "Could not cancel Runtype batch b-1 (timed out): boom")),
        (None, False, None),  # no batch id: nothing to cancel
    ],
    ids=["cancelled", "no-message", "refused", "api-error", "any-error", "no-batch-id"],
)
def test_cancel_is_best_effort_logged_and_never_raises(run_reference, logs, routine, reply, cancelled, logged):
    run = RunReference(**{**run_reference, "batch_execution_id": "b-1" if reply is not None else None})
    effect = {"side_effect": reply} if isinstance(reply, Exception) else {"return_value": reply}
    log = logging.getLogger("cancel")
    if routine == "cancel_run":
        method = MagicMock(**effect)
        assert cancel_run(MagicMock(cancel_batch=method), run, "timed out", log) is cancelled
    else:
        method = AsyncMock(**effect)
        assert asyncio.run(acancel_run(MagicMock(cancel_batch_async=method), run, "timed out", log)) is cancelled

    assert method.call_args_list == ([] if reply is None else [(("b-1",),)])
    assert [m for m in logs.messages() if "cancel" in m.lower()] == ([] if logged is None else [logged[1]])
    if logged:
        assert logged[1] in logs.messages(logged[0])


# --------------------------------------------------------------------------------------------------
# RunWaitEvent: the trigger's event, parsed back by execute_complete


@pytest.mark.parametrize(
    ("kind", "status", "outcome"),
    [("finished", "failed", "failed"), ("timeout", "running", "running"), ("error", None, None)],
)
def test_wait_event_round_trips_through_its_payload(wait_event, kind, status, outcome):
    payload = wait_event(kind, status, outcome)

    event = RunWaitEvent.from_payload(payload)

    assert event.to_payload() == payload
    assert RunWaitEvent.from_payload(event.to_payload()) == event


RUN = {"batch_execution_id": "b-1"}
MALFORMED = "^Unexpected event from the Runtype trigger: "
NOT_FINAL = "reported a run as finished without a final status"  # never let it pass as a success


@pytest.mark.parametrize(
    ("bad", "refusal"),
    [
        (None, MALFORMED),
        ("finished", MALFORMED),
        ({}, MALFORMED),
        ({"event": "bogus", "run": RUN}, MALFORMED),
        ({"event": "finished", "progress": {"status": "completed", "outcome": "success"}}, MALFORMED),  # no run
        ({"event": "finished", "run": "not a reference", "progress": None}, MALFORMED),
        ({"event": "finished", "run": RUN, "progress": "garbage"}, MALFORMED),
        ({"event": "finished", "run": RUN, "progress": 3}, MALFORMED),
        ({"event": "finished", "run": RUN}, NOT_FINAL),
        ({"event": "finished", "run": RUN, "progress": {"status": "running", "outcome": "running"}}, NOT_FINAL),
        ({"event": "finished", "run": RUN, "progress": {"status": "mystery", "outcome": "unknown"}}, NOT_FINAL),
    ],
)
def test_a_malformed_event_is_refused(bad, refusal):
    with pytest.raises(RuntypeException, match=refusal):
        RunWaitEvent.from_payload(bad)


# ---- any event payload parses or raises a typed error (hypothesis; moved from tests/test_property_based.py) ------

from client.test_request import FAST, json_values  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

RUN_FIELDS = ["schedule_id", "run_id", "batch_execution_id", "product_id", "surface_id", "run_url"]
PROGRESS_FIELDS = ["status", "outcome", "total_records", "processed_records", "failed_records", "error", "run_id"]
events = st.sampled_from(["finished", "timeout", "error"]) | json_values
payloads = json_values | st.fixed_dictionaries(
    {"event": events},
    optional={
        "run": json_values | st.dictionaries(st.sampled_from(RUN_FIELDS), json_values),
        "progress": json_values | st.dictionaries(st.sampled_from(PROGRESS_FIELDS), json_values),
        "message": json_values,
    },
)


@FAST
@given(payload=payloads)
def test_a_trigger_event_parses_or_raises_a_typed_error(payload):
    try:
        event = RunWaitEvent.from_payload(payload)
    except Exception as err:
        assert isinstance(err, RuntypeException), repr(err)
        return
    if event.event == "finished":
        assert event.progress is not None and event.progress.outcome.is_terminal


@pytest.mark.parametrize("routine", ["cancel_run", "acancel_run"])
def test_cancelling_a_run_of_several_batches_cancels_each_one_still_going(logs, routine):
    """b-1 ended (not cancelled), b-2 is cancelled, b-3's status cannot be read (cancelled anyway): Runtype says no."""
    run = RunReference(batch_execution_ids=["b-1", "b-2", "b-3"])
    statuses = {"b-1": MagicMock(status="completed"), "b-2": MagicMock(status="running"), "b-3": ValueError("down")}
    answers = {"b-2": MagicMock(success=True, message="ok"), "b-3": MagicMock(success=False, message="no")}

    def status(batch: str) -> Any:
        if isinstance(statuses[batch], Exception):
            raise statuses[batch]
        return statuses[batch]

    log = logging.getLogger("cancel")
    if routine == "cancel_run":
        cancel = MagicMock(side_effect=answers.__getitem__)
        hook = MagicMock(cancel_batch=cancel, get_batch_status=status)
        assert cancel_run(hook, run, "timed out", log) is False
    else:
        cancel = AsyncMock(side_effect=answers.__getitem__)

        async def astatus(batch: str) -> Any:
            return status(batch)

        hook = MagicMock(cancel_batch_async=cancel, get_batch_status_async=astatus)
        assert asyncio.run(acancel_run(hook, run, "timed out", log)) is False

    assert cancel.call_args_list == [(("b-2",),), (("b-3",),)]
    assert "Could not read the status of Runtype batch b-3 before cancelling it (down)" in logs.messages("warning")
    assert ("Runtype run b-1..b-3 (3 batches) (timed out): 1 batches cancelled, 1 could not be, 1 had ended"
            in logs.messages("info"))  # fmt: skip
    answers["b-3"] = MagicMock(success=True, message="ok")
    statuses["b-3"] = MagicMock(status="queued")
    assert cancel_run(MagicMock(cancel_batch=MagicMock(side_effect=answers.__getitem__), get_batch_status=status),
                      run, "timed out", log) is True  # fmt: skip


def test_pause_wakes_its_waiter_and_a_cancelled_pause_leaves_a_timer_that_fires_into_nothing():
    """The trigger's sleep between polls: a future woken by a timer (no coroutine, no context copy)."""

    async def main() -> tuple[list[str], list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _, context: errors.append(context))
        order: list[str] = []

        async def sleeper(name: str, seconds: float) -> None:
            await pause(seconds)
            order.append(name)

        later, sooner = asyncio.ensure_future(sleeper("later", 0.05)), asyncio.ensure_future(sleeper("sooner", 0))
        cancelled = asyncio.ensure_future(sleeper("cancelled", 0.01))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(later, sooner)
        await asyncio.sleep(0.02)  # the cancelled pause's timer has fired by now
        return order, errors

    order, errors = asyncio.run(main())

    assert order == ["sooner", "later"]
    assert errors == []  # no "invalid state" from waking a cancelled future
