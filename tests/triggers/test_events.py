"""RuntypeScheduleRunEventTrigger against the local Runtype over loopback HTTP, on simulated time: every sleep of
the trigger advances the local Runtype's clock instead of waiting (so runs finish and cron fires)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import runtype_provider.triggers.events as events
from runtype_provider.assets import PAYLOAD_KEYS
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.triggers.events import (
    CURSOR_KEY,
    CommitCursor,
    RunsPolled,
    RuntypeScheduleRunEventTrigger,
    backoff_delay,
)

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=1)
SCHEDULE = "sch_watched"


class Stop(Exception):
    """Ends a test's run of the trigger (raised by the fake sleep once the script is done)."""


class FakeStore:
    """The asset state store accessor the 3.3 triggerer injects (``aget``/``aset``), in memory."""

    def __init__(self, fail_reads: int = 0, error: Exception | None = None, fail_writes: int = 0) -> None:
        self.values: dict[str, Any] = {}
        self.fail_reads, self.error, self.fail_writes, self.writes = fail_reads, error, fail_writes, 0

    async def aget(self, key: str, default: Any = None) -> Any:
        if self.fail_reads:
            self.fail_reads -= 1
            raise self.error or RuntimeError("supervisor did not answer")
        if self.error is not None:
            raise self.error
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise RuntimeError("supervisor did not answer")
        self.writes += 1
        self.values[key] = value


class Clock:
    """The trigger's sleeps: recorded, each advancing the server clock; ``script`` actions run one per sleep."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.sleeps: list[float] = []
        self.script: list[Callable[[], Any]] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)
        if not self.script:
            raise Stop
        self.script.pop(0)()
        self.server.advance_clock(seconds)


@pytest.fixture
def clock(runtype_server, monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(runtype_server)
    monkeypatch.setattr(events, "_sleep", fake.sleep)
    runtype_server.seed_schedule(schedule_id=SCHEDULE, record_count=3, failure_share=0.34)
    return fake


def make(**kwargs: Any) -> RuntypeScheduleRunEventTrigger:
    kwargs.setdefault("schedule_id", SCHEDULE)
    kwargs.setdefault("poll_interval", 10)
    kwargs.setdefault("hook_params", {"retry_limit": 0})
    return RuntypeScheduleRunEventTrigger(**kwargs)


async def drain(stream: AsyncIterator[Any]) -> list[Any]:
    out: list[Any] = []
    try:
        async for item in stream:
            out.append(item.payload if hasattr(item, "payload") else item)
    except Stop:
        pass
    return out


def collect(trigger: RuntypeScheduleRunEventTrigger) -> list[dict[str, Any]]:
    return asyncio.run(drain(trigger.run()))


def run_now(server: Any, schedule_id: str = SCHEDULE) -> Callable[[], str]:
    return lambda: server.state.run_schedule_now(schedule_id)["runId"]


def idle() -> None:
    return None


def test_reports_each_new_finished_run_once_in_finishing_order_whoever_started_it(runtype_server, clock) -> None:
    old = runtype_server.state.run_schedule_now(SCHEDULE)["runId"]
    runtype_server.advance_clock(5)  # finished before the watcher starts: history, never reported
    runtype_server.configure(cron_runs=True)
    runtype_server.seed_schedule(schedule_id="sch_other", cron="* * * * *")
    started: list[str] = []

    def slow_then_fast() -> None:
        runtype_server.configure_schedule(SCHEDULE, running_seconds=4)
        started.append(run_now(runtype_server)())
        runtype_server.configure_schedule(SCHEDULE, running_seconds=1)
        started.append(run_now(runtype_server)())

    def cron_on_watched() -> None:
        runtype_server.state.update_schedule(SCHEDULE, {"trigger": {"cron": "* * * * *"}})
        runtype_server.advance_clock(61)  # one firing

    clock.script = [idle, slow_then_fast, idle, idle, cron_on_watched, idle, idle, idle]

    payloads = collect(make())

    # The fast run finished first, then the slow one, then the cron's runs of the watched schedule (60 s later).
    assert [p["run_id"] for p in payloads[:2]] == [started[1], started[0]]
    finished = {r["id"] for r in runtype_server.state.list_schedule_runs(SCHEDULE)["data"] if r["completedAt"]}
    assert sorted(p["run_id"] for p in payloads) == sorted(finished - {old}) and len(payloads) >= 3
    assert {p["schedule_id"] for p in payloads} == {SCHEDULE}  # the other schedule's cron runs are not ours
    first = payloads[0]
    assert tuple(first) == PAYLOAD_KEYS
    assert (first["status"], first["outcome"], first["total_records"], first["failed_records"]) == (
        "completed",
        "success",
        3,
        1,
    )
    assert first["run_url"].endswith(f"/schedules/{SCHEDULE}/runs/{started[1]}") and first["finished_at"]
    assert [p["finished_at"] for p in payloads] == sorted(p["finished_at"] for p in payloads)


def test_restart_with_a_stored_cursor_neither_replays_nor_skips(runtype_server, clock) -> None:
    store = FakeStore()
    first, second = make(), make()
    first.asset_state_store = second.asset_state_store = store
    ids: list[str] = []
    clock.script = [idle, idle, lambda: ids.append(run_now(runtype_server)()), idle, idle]
    before = collect(first)
    assert [p["run_id"] for p in before] == ids and store.values[CURSOR_KEY]["seen"].keys() >= set(ids)

    # The triggerer is down: one run finishes meanwhile, another after the restart.
    ids.append(run_now(runtype_server)())
    runtype_server.advance_clock(30)
    clock.script = [idle, lambda: ids.append(run_now(runtype_server)()), idle, idle, idle]
    after = collect(second)

    assert [p["run_id"] for p in after] == ids[1:]


def test_without_a_store_a_restart_starts_from_now_and_skips_what_finished_while_down(runtype_server, clock) -> None:
    clock.script = [idle, idle]
    assert collect(make()) == []
    missed = run_now(runtype_server)()
    runtype_server.advance_clock(30)
    clock.script = [idle, run_now(runtype_server), idle, idle]

    payloads = collect(make())

    assert len(payloads) == 1 and payloads[0]["run_id"] != missed


def test_start_after_reports_runs_finished_since_then_and_outcomes_filter(runtype_server, clock) -> None:
    runtype_server.seed_schedule(schedule_id="sch_broken", run_outcome="failed", record_count=2)
    done = run_now(runtype_server, "sch_broken")()
    runtype_server.advance_clock(5)
    clock.script = [run_now(runtype_server, "sch_broken"), idle, idle]

    failed = collect(make(schedule_id="sch_broken", start_after="2020-01-01T00:00:00Z", outcomes=["failed"]))
    successes = collect(make(schedule_id="sch_broken", start_after="2020-01-01T00:00:00Z", outcomes="success"))

    assert failed[0]["run_id"] == done and len(failed) == 2 and {p["outcome"] for p in failed} == {"failed"}
    assert successes == []


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("rate_limit", {"retry_after": 45}),
        ("server_error", {"status": 503}),
        ("server_error", {"status": 404}),  # the schedule is missing for a while
        ("server_error", {"status": 401}),  # a key being rotated: back off, read the connection again
        ("slow", {"delay": 2.0}),  # a timeout (the hook's timeout is 0.5 s here)
        ("malformed", {}),
    ],
)
def test_errors_never_end_the_watcher_it_backs_off_and_keeps_watching(runtype_server, clock, kind, options) -> None:
    runtype_server.inject_fault("list_schedule_runs", kind, times=3, **options)
    ids: list[str] = []
    clock.script = [lambda: ids.append(run_now(runtype_server)())] + [idle] * 8
    params = {"retry_limit": 0, "timeout": 0.5 if kind == "slow" else 10}

    payloads = collect(make(hook_params=params, start_after="2020-01-01T00:00:00Z"))

    assert [p["run_id"] for p in payloads] == ids
    backoffs = clock.sleeps[:3]
    assert backoffs[0] < backoffs[1] < backoffs[2] or backoffs[0] >= 45  # doubling, or Retry-After honoured
    if kind == "rate_limit":
        assert min(backoffs) >= 45


def test_backoff_is_bounded_and_honours_a_bounded_retry_after() -> None:
    assert 9 <= backoff_delay(1, 10) <= 10
    assert backoff_delay(30, 10) <= events.MAX_BACKOFF
    assert backoff_delay(30, 7200) <= 7200  # a poll interval longer than the cap is the floor of the cap
    assert backoff_delay(1, 10, type("E", (), {"retry_after": 10**9})()) == events.MAX_RETRY_AFTER


def test_a_store_that_fails_to_answer_delays_events_and_a_multi_asset_trigger_keeps_its_cursor_in_memory(
    runtype_server, clock, logs
) -> None:
    flaky, shared = make(), make()
    flaky.asset_state_store = FakeStore(fail_reads=2, fail_writes=1)
    shared.asset_state_store = FakeStore(error=ValueError("Task has 2 concrete inlets and outlets — use ..."))
    clock.script = [idle, idle, idle, idle, idle, run_now(runtype_server), idle, idle, idle, idle, idle]
    assert len(collect(flaky)) == 1  # the first polls wait for the cursor: the run is reported, not baselined
    # The first write failed; a later commit stored the cursor with the reported run.
    assert flaky.asset_state_store.writes >= 1 and len(flaky.asset_state_store.values[CURSOR_KEY]["seen"]) == 1
    broken = make()
    # A store that keeps failing: polling goes on, nothing is reported (rather than replayed or skipped).
    broken.asset_state_store = FakeStore(fail_reads=10**6, error=ValueError("state backend broke"))
    clock.script = [idle, run_now(runtype_server), idle, idle]
    assert collect(broken) == [] and broken.asset_state_store.writes == 0
    clock.script = [idle, run_now(runtype_server), idle, idle]
    assert len(collect(shared)) == 1 and shared.asset_state_store.writes == 0
    assert any("serves several assets" in m for m in logs.messages())


def test_shared_stream_one_poll_for_every_watcher_on_a_connection(runtype_server, clock) -> None:
    schedules = [f"sch_{i}" for i in range(3)]
    for schedule_id in schedules:
        runtype_server.seed_schedule(schedule_id=schedule_id, record_count=1)
    triggers = [make(schedule_id=s) for s in schedules]
    assert len({t.shared_stream_key() for t in triggers}) == 1
    assert make(runtype_conn_id="other").shared_stream_key() != triggers[0].shared_stream_key()
    started: dict[str, str] = {}

    def start_all() -> None:
        started.update({s: run_now(runtype_server, s)() for s in schedules})

    clock.script = [idle, start_all, idle, idle, idle]
    runtype_server.clear_requests()
    raw = asyncio.run(drain(RuntypeScheduleRunEventTrigger.open_shared_stream(triggers[0].serialize()[1])))

    polls = [item for item in raw if isinstance(item, RunsPolled)]
    assert len(polls) == 3 and sum(isinstance(i, CommitCursor) for i in raw) == 3
    assert [r["operation"] for r in runtype_server.requests] == ["list_all_schedule_runs"] * 3

    async def replay() -> AsyncIterator[Any]:
        for item in raw:
            yield item

    for trigger, schedule_id in zip(triggers, schedules, strict=True):
        payloads = asyncio.run(drain(trigger.filter_shared_stream(replay())))
        assert [(p["schedule_id"], p["run_id"]) for p in payloads] == [(schedule_id, started[schedule_id])]


def test_shared_poll_pages_only_as_far_as_runs_can_have_changed(runtype_server, clock, monkeypatch, logs) -> None:
    monkeypatch.setattr(events, "PAGE_SIZE", 5)
    monkeypatch.setattr(events, "MAX_PAGES", 3)
    for _ in range(16):
        run_now(runtype_server)()
    runtype_server.advance_clock(5)
    clock.script = [idle, run_now(runtype_server), idle, idle]
    runtype_server.clear_requests()

    asyncio.run(drain(RuntypeScheduleRunEventTrigger.open_shared_stream(make().serialize()[1])))

    pages = [r["query"] for r in runtype_server.requests]
    assert len(pages) == 3 + 1 + 1  # first poll: up to the bound; later polls: the first page reaches the horizon
    assert any("runs beyond them are not looked at" in m for m in logs.messages("warning"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schedule_id": ""},
        {"schedule_id": None},
        {"poll_interval": 0.5},
        {"poll_interval": True},
        {"poll_interval": 10**6},
        {"start_after": "yesterday"},
        {"start_after": 5},
        {"outcomes": ["succeeded"]},
        {"outcomes": []},
        {"runtype_conn_id": ""},
        {"hook_params": "x"},
    ],
)
def test_bad_arguments_fail_at_dag_parse_with_a_clear_error(kwargs) -> None:
    with pytest.raises(RuntypeConfigurationError, match=next(iter(kwargs))):
        make(**kwargs)


def test_serializes_to_its_arguments_and_is_registered() -> None:
    from runtype_provider.get_provider_info import get_provider_info

    trigger = make(outcomes=["Failed", "cancelled"], start_after="NOW")
    path, kwargs = trigger.serialize()

    assert path == "runtype_provider.triggers.events.RuntypeScheduleRunEventTrigger"
    assert kwargs["outcomes"] == ["cancelled", "failed"] and kwargs["start_after"] == "now"
    assert RuntypeScheduleRunEventTrigger(**kwargs).serialize() == (path, kwargs)
    modules = [m for e in get_provider_info()["triggers"] for m in e["python-modules"]]
    assert "runtype_provider.triggers.events" in modules
