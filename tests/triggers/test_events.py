"""RuntypeScheduleRunEventTrigger against the local Runtype over loopback HTTP, on simulated time: every sleep of
the trigger advances the local Runtype's clock instead of waiting (so runs finish and cron fires)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

import runtype_provider.triggers.events as events
import runtype_provider.triggers.run_cursor as run_cursor
from runtype_provider.api.responses import ScheduleRun
from runtype_provider.assets import PAYLOAD_KEYS
from runtype_provider.client.shared import CONNECTION_READ_TTL
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.testing.local import LocalRuntype
from runtype_provider.triggers.events import (
    CommitCursor,
    RunsPolled,
    RuntypeScheduleRunEventTrigger,
    backoff_delay,
)

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=1)
SCHEDULE = "sch_watched"
LEGACY_CURSOR_KEY = "runtype_run_cursor"  # the one key every watcher of an asset used before issue 16
CURSOR_KEY = getattr(run_cursor, "cursor_key", lambda *a: LEGACY_CURSOR_KEY)(SCHEDULE)


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
    """The trigger's sleeps: recorded, each advancing the server clock and the trigger's monotonic clock
    (``elapsed``); ``script`` actions run one per sleep. The trigger's wall clock is the server's."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.sleeps: list[float] = []
        self.script: list[Callable[[], Any]] = []
        self.elapsed = 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)
        if not self.script:
            raise Stop
        self.script.pop(0)()
        self.server.advance_clock(seconds)
        self.elapsed += seconds


@pytest.fixture
def clock(runtype_server, monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(runtype_server)
    monkeypatch.setattr(events, "_sleep", fake.sleep)
    monkeypatch.setattr(events, "_now", runtype_server.state.clock.now)
    monkeypatch.setattr(events, "_monotonic", lambda: fake.elapsed, raising=False)
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


# ---- issue 16, items 6-9 --------------------------------------------------------------------------------------


def polled(*runs: tuple[str, str | None], schedule_id: str = SCHEDULE) -> RunsPolled:
    """A shared poll's raw event listing ``runs`` (id, completedAt) of ``schedule_id``, all completed."""
    return RunsPolled(
        runs=tuple(ScheduleRun(id=i, schedule_id=schedule_id, status="completed", completed_at=at) for i, at in runs),
        dashboard_url="https://app.runtype.com",
    )


async def replay(items: list[Any], pause: bool = False) -> AsyncIterator[Any]:
    """A shared stream that yields ``items`` (letting other tasks run between them when ``pause``)."""
    for item in items:
        if pause:
            await asyncio.sleep(0)
        yield item


def test_a_future_finish_time_hides_no_run_and_a_stored_future_cursor_is_cured(clock, monkeypatch) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(events, "_now", lambda: now)
    store = FakeStore()
    trigger = make(start_after="2026-03-01T00:00:00Z")
    trigger.asset_state_store = store
    stream = [
        polled(("bogus", "2026-03-01T17:00:00")),  # a naive local time (UTC+5) read as UTC: 5 hours ahead
        CommitCursor(),
        polled(("bogus", "2026-03-01T17:00:00"), ("normal", "2026-03-01T11:59:00Z")),
        CommitCursor(),
    ]

    payloads = asyncio.run(drain(trigger.filter_shared_stream(replay(stream))))

    assert [p["run_id"] for p in payloads] == ["bogus", "normal"]
    # A restart reads the stored cursor: it hides nothing either (and reports nothing again).
    restarted = make(start_after="2026-03-01T00:00:00Z")
    restarted.asset_state_store = store
    later = [
        polled(("bogus", "2026-03-01T17:00:00"), ("normal", "2026-03-01T11:59:00Z"), ("next", "2026-03-01T12:00:30Z"))
    ]
    assert [p["run_id"] for p in asyncio.run(drain(restarted.filter_shared_stream(replay(later))))] == ["next"]
    # A cursor an older version stored after the bogus run (under the key every watcher shared) is cured on load.
    legacy = FakeStore()
    legacy.values[LEGACY_CURSOR_KEY] = {
        "version": 1,
        "after": "2026-03-01T16:50:00Z",
        "seen": {"bogus": "2026-03-01T17:00:00Z"},
    }
    upgraded = make()
    upgraded.asset_state_store = legacy
    assert [p["run_id"] for p in asyncio.run(drain(upgraded.filter_shared_stream(replay(later))))] == ["normal", "next"]


def test_a_running_watcher_reads_its_connection_again_new_host_and_deleted(
    runtype_server, clock, monkeypatch, logs
) -> None:
    """Polls every 10 s (two sleeps each); the connection moves to another host at 10 s, is deleted at 115 s."""
    with LocalRuntype(queued_seconds=0, running_seconds=1) as moved:
        moved.seed_schedule(schedule_id=SCHEDULE, record_count=1)
        started: list[str] = []

        def move() -> None:
            monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", moved.airflow_connection_json())

        def start_on_new_host() -> None:
            started.append(run_now(moved)())
            moved.advance_clock(2)

        def delete() -> None:
            monkeypatch.delenv("AIRFLOW_CONN_RUNTYPE_DEFAULT")

        def forget_requests() -> None:
            runtype_server.clear_requests()
            moved.clear_requests()

        clock.script = [idle, move] + [idle] * 9 + [runtype_server.clear_requests]  # up to the poll at 60 s
        clock.script += [idle] * 4 + [start_on_new_host] + [idle] * 5 + [delete, forget_requests]  # up to 120 s
        clock.script += [idle] * 5  # five failed polls, backing off 10 to 160 s

        payloads = collect(make())

        # From the first poll one connection read time after the move, every poll goes to the new host.
        assert [p["run_id"] for p in payloads] == started
        # After the deletion, from the next connection read on, no request is sent anywhere (no old key).
        assert runtype_server.requests == [] and moved.requests == []
        assert clock.sleeps[-5:] == sorted(clock.sleeps[-5:]) and clock.sleeps[-1] > clock.sleeps[-5]  # backing off
        # Logged clearly once at error level; the four repeats (within 15 minutes) only at debug level.
        said = "Could not read Runtype connection 'runtype_default'"
        assert sum(said in m for m in logs.messages("error")) == 1
        assert not [m for m in logs.messages("warning") + logs.messages("info") if said in m]
    assert events.CONNECTION_READ_TTL == CONNECTION_READ_TTL  # as deferred waits


def test_two_watchers_on_one_asset_keep_their_own_cursors_and_an_old_key_is_read_once(
    runtype_server, clock, monkeypatch
) -> None:
    monkeypatch.setattr(events, "_now", lambda: datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
    for schedule_id in ("sch_a", "sch_b"):
        runtype_server.seed_schedule(schedule_id=schedule_id)
    store = FakeStore()  # the state store of the one asset both watch
    first, second = make(schedule_id="sch_a"), make(schedule_id="sch_b", outcomes=["failed"])
    first.asset_state_store = second.asset_state_store = store

    def stream(schedule_id: str, run_id: str, at: str) -> list[Any]:
        return [
            polled(schedule_id=schedule_id),
            CommitCursor(),
            polled((run_id, at), schedule_id=schedule_id),
            CommitCursor(),
        ]

    async def both() -> list[list[Any]]:
        return await asyncio.gather(
            drain(first.filter_shared_stream(replay(stream("sch_a", "x", "2026-03-01T11:59:30Z"), pause=True))),
            drain(second.filter_shared_stream(replay(stream("sch_b", "y", "2026-03-01T11:59:40Z"), pause=True))),
        )

    assert [[p["run_id"] for p in payloads] for payloads in asyncio.run(both())] == [["x"], []]  # y: not failed
    # A restart of the first watcher reads its own cursor, not the one the second stored last.
    restarted = make(schedule_id="sch_a")
    restarted.asset_state_store = store
    again = [polled(("x", "2026-03-01T11:59:30Z"), schedule_id="sch_a")]
    assert asyncio.run(drain(restarted.filter_shared_stream(replay(again)))) == []
    keys = getattr(run_cursor, "cursor_key", lambda *a: LEGACY_CURSOR_KEY)
    assert keys("sch_a") != keys("sch_b") != keys("sch_b", ["failed"])

    # Upgrading: the one key of the older version is read when the watcher's own key is absent, then written anew.
    old = FakeStore()
    old.values[LEGACY_CURSOR_KEY] = store.values[CURSOR_KEY if len(store.values) == 1 else keys("sch_a")]
    upgraded = make(schedule_id="sch_a")
    upgraded.asset_state_store = old
    assert asyncio.run(drain(upgraded.filter_shared_stream(replay([*again, CommitCursor()])))) == []
    assert "x" in old.values[keys("sch_a")]["seen"]


@pytest.mark.parametrize("schedule_id", [".", "..", "sch 1", "sch\t1", "sch\x001", "sch_1\u2028x", "sch/\x7f"])
def test_a_schedule_id_is_checked_like_every_other_id(schedule_id) -> None:
    with pytest.raises(RuntypeConfigurationError, match="schedule_id"):
        make(schedule_id=schedule_id)


def test_a_schedule_id_with_a_trailing_newline_is_stripped_and_fires_on_the_shared_poll(clock) -> None:
    trigger = make(schedule_id=f"{SCHEDULE}\n", start_after="2020-01-01T00:00:00Z")
    assert trigger.schedule_id == SCHEDULE and trigger.serialize()[1]["schedule_id"] == SCHEDULE
    payloads = asyncio.run(drain(trigger.filter_shared_stream(replay([polled(("r1", "2026-01-01T00:00:00Z"))]))))
    assert [p["run_id"] for p in payloads] == ["r1"]


def test_a_watched_asset_and_its_watcher_name_one_schedule() -> None:
    from airflow.sdk import Asset, AssetWatcher

    from runtype_provider.triggers.events import check_watched_asset, watched_schedule_asset

    asset = watched_schedule_asset(" sch_a ", poll_interval=30, outcomes=["failed"], name="crm_sync_runs")
    (watcher,) = asset.watchers
    assert (asset.uri, asset.name, watcher.name) == (
        "runtype://schedule/sch_a",
        "crm_sync_runs",
        "runtype_watcher_sch_a",
    )
    assert (watcher.trigger.schedule_id, watcher.trigger.poll_interval, watcher.trigger.outcomes) == (
        "sch_a",
        30.0,
        ["failed"],
    )
    check_watched_asset(asset)
    mismatched = Asset(
        uri="runtype://schedule/sch_a", watchers=[AssetWatcher(name="w", trigger=make(schedule_id="sch_b"))]
    )
    with pytest.raises(
        RuntypeConfigurationError, match="watcher of Runtype schedule 'sch_b', but names schedule 'sch_a'"
    ):
        check_watched_asset(mismatched)
    elsewhere = Asset(uri="s3://bucket/key", watchers=[AssetWatcher(name="w", trigger=make(schedule_id="sch_b"))])
    with pytest.raises(RuntypeConfigurationError, match="not a runtype:// asset"):
        check_watched_asset(elsewhere)


def test_a_missing_schedule_is_logged_once_then_every_15_minutes_on_the_shared_poll(
    runtype_server, clock, logs
) -> None:
    trigger = make(schedule_id="sch_missing", poll_interval=60)
    clock.script = [idle] * 40  # 20 polls: 1,200 s
    runtype_server.clear_requests()
    shared = RuntypeScheduleRunEventTrigger.open_shared_stream(trigger.serialize()[1])

    assert asyncio.run(drain(trigger.filter_shared_stream(shared))) == []

    said = [m for m in logs.messages("error") if "Schedule sch_missing does not exist on Runtype" in m]
    assert len(said) == 2  # at the first poll and 900 s later
    assert sum(r["operation"] == "get_schedule" for r in runtype_server.requests) == 2


def test_a_missing_schedule_is_logged_once_then_every_15_minutes_on_its_own_poll(runtype_server, clock, logs) -> None:
    clock.script = [idle] * 6  # six failed polls within 630 s (backing off from 10 s)

    assert collect(make(schedule_id="sch_missing")) == []

    said = [m for level in ("error", "warning") for m in logs.messages(level) if "sch_missing" in m]
    assert len(said) == 1 and "Schedule sch_missing does not exist on Runtype" in said[0]
