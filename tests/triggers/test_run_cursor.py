"""The event trigger's cursor over hostile run lists (hypothesis): each finished run once, in order, bounded."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone

import hypothesis.configuration
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runtype_provider.api.responses import ScheduleRun
from runtype_provider.triggers.run_cursor import LOOKBACK, MAX_SEEN, RunCursor, finished_at, parse_time

hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)

times = st.one_of(
    st.none(),
    st.integers(0, 3_600).map(lambda s: (T0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")),
    st.integers(0, 3_600).map(lambda s: (T0 + timedelta(seconds=s)).replace(tzinfo=None).isoformat()),  # naive
    st.sampled_from(["", "yesterday", "2026-13-45T00:00:00Z", "0", "Z" * 80, "2026-01-01T00:00:00+99:00"]),
    st.text(max_size=20),
)
statuses = st.one_of(
    st.none(),
    st.sampled_from(["completed", "FAILED", " cancelled ", "running", "queued", "weird"]),
    st.text(max_size=8),
)
runs = st.lists(
    st.builds(ScheduleRun, id=st.sampled_from([f"r{i}" for i in range(12)]), status=statuses, completed_at=times),
    max_size=40,
)


@FAST
@given(runs, runs)
def test_each_finished_run_is_new_once_in_finishing_order(first: list[ScheduleRun], second: list[ScheduleRun]) -> None:
    cursor = RunCursor.starting_at(T0)
    reported: list[str] = []
    for batch in (first, second, first + second):
        new = cursor.new_runs(batch)
        keys = [(finished_at(r), r.id) for r in new]
        assert keys == sorted(keys)  # finishing order, ties by id
        assert all(finished_at(r) is not None for r in new)  # unknown status / odd completed_at: not final
        for run in new:
            cursor.record(run)
        reported += [r.id for r in new]
        assert cursor.new_runs(batch) == []  # listing the same runs again reports nothing
    assert len(reported) == len(set(reported))


def _run(run_id: str, completed_at: str) -> ScheduleRun:
    return ScheduleRun.model_validate({"id": run_id, "status": "completed", "completedAt": completed_at})


@FAST
@given(runs, runs)
# Found in CI: an id listed twice with finishes 1 s apart, just at the lookback edge, was reported again.
@example(
    history=[],
    later=[
        _run("r0", "2026-01-01T00:10:01Z"),
        _run("r1", "2026-01-01T00:00:00Z"),
        _run("r1", "2026-01-01T00:00:01Z"),
    ],
)
def test_a_stored_cursor_answers_like_the_live_one(history: list[ScheduleRun], later: list[ScheduleRun]) -> None:
    cursor = RunCursor.baseline(history, T0)
    for run in cursor.new_runs(later):
        cursor.record(run)

    restored = RunCursor.from_json(json.loads(json.dumps(cursor.to_json())))

    assert restored is not None
    assert [r.id for r in restored.new_runs(history + later)] == [r.id for r in cursor.new_runs(history + later)] == []
    assert len(json.dumps(cursor.to_json())) < 20_000


@FAST
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=10), c),
        max_leaves=20,
    )
)
def test_any_stored_value_is_a_cursor_or_none_never_an_error(value) -> None:
    for candidate in (
        value,
        {"version": 1, "after": value, "seen": value},
        {"version": 1, "after": None, "seen": {"a": value}},
    ):
        cursor = RunCursor.from_json(candidate)
        assert cursor is None or isinstance(cursor, RunCursor)


def test_the_cursor_stays_bounded_and_never_reports_a_dropped_run_again() -> None:
    cursor = RunCursor.starting_at(T0)
    many = [
        ScheduleRun(id=f"r{i}", status="completed", completed_at=f"2026-01-01T00:00:{i % 60:02d}Z") for i in range(500)
    ]
    for run in cursor.new_runs(many):
        cursor.record(run)
    assert len(cursor.seen) <= 2 * MAX_SEEN
    assert cursor.new_runs(many) == []
    # Far later, 'after' moves past the old runs; their ids stay remembered within the bound (a server that moves
    # a finish time forward must not make a reported run new again).
    late = ScheduleRun(id="late", status="completed", completed_at=(T0 + 2 * LOOKBACK).isoformat())
    cursor.record(late)
    assert "late" in cursor.seen and len(cursor.seen) <= 2 * MAX_SEEN
    assert cursor.after is not None and cursor.after >= T0 + LOOKBACK
    assert cursor.new_runs(many) == []
    moved = [run.model_copy(update={"completed_at": late.completed_at}) for run in many if run.id in cursor.seen]
    assert moved and cursor.new_runs(moved) == []


def test_baseline_treats_what_already_finished_as_history() -> None:
    history = [ScheduleRun(id="old", status="completed", completed_at="2026-01-01T00:00:00Z")]
    cursor = RunCursor.baseline(history, T0 - timedelta(hours=5))  # the triggerer's clock behind the server's
    assert cursor.new_runs(history) == []
    fresh = ScheduleRun(id="new", status="failed", completed_at="2026-01-01T00:00:00Z")
    assert cursor.new_runs([fresh]) == [fresh]
    assert parse_time("2026-01-01T01:00:00+01:00") == T0


# ---- issue 16, item 6: a finish time in the future (clock skew, a naive local time read as UTC) hides no run

ahead = st.one_of(
    st.integers(2 * 60, 12 * 3_600).map(lambda s: timedelta(seconds=s)),  # a skewed clock, a UTC+x naive time
    st.integers(1, 20).map(lambda years: timedelta(days=365 * years)),  # a nonsense year
)
steps = st.lists(
    st.tuples(
        st.integers(1, 900),  # seconds since the previous poll
        st.integers(0, 3),  # runs that finished normally since then
        st.lists(st.tuples(ahead, st.booleans()), max_size=2),  # runs listed with a future finish (naive or Z)
        st.booleans(),  # the cursor is stored and read back (a triggerer restart) before this poll
    ),
    min_size=1,
    max_size=25,
)


def _stamp(moment: datetime, naive: bool) -> str:
    return moment.replace(tzinfo=None).isoformat() if naive else moment.isoformat().replace("+00:00", "Z")


@FAST
@given(steps)
@example([(60, 0, [(timedelta(hours=5), True)], False), (60, 1, [], False), (60, 1, [], True)])
def test_a_future_finish_time_never_hides_other_runs(script: list) -> None:
    """Runs are listed (the whole history, as ``GET /v1/schedules/:id/runs`` answers) from the first poll after
    they finish; some claim to finish hours or years ahead. Every run is reported exactly once."""
    now, listed, normal = T0, list[ScheduleRun](), set[str]()
    cursor = RunCursor.baseline([], now)
    reported: list[str] = []
    for gap, finished, future, restart in script:
        for i in range(finished):
            moment = now + timedelta(seconds=gap * (i + 1) / (finished + 1))
            listed.append(_run(f"n{len(listed)}", _stamp(moment, naive=len(listed) % 2 == 0)))
            normal.add(listed[-1].id)
        now += timedelta(seconds=gap)
        listed += [_run(f"f{len(listed) + i}", _stamp(now + lead, naive)) for i, (lead, naive) in enumerate(future)]
        if restart:
            stored = RunCursor.from_json(json.loads(json.dumps(cursor.to_json())), now)
            assert stored is not None
            cursor = stored
        for run in cursor.new_runs(listed):
            cursor.record(run, now)
            reported.append(run.id)
        assert cursor.after is not None and cursor.after <= now  # never past the present
    assert len(reported) == len(set(reported))  # nothing twice
    assert normal <= set(reported)  # nothing hidden
    assert set(reported) == {r.id for r in listed}  # the future-dated runs too, once each


def test_a_stored_cursor_with_a_future_time_from_an_older_version_is_cured_on_load() -> None:
    now = T0 + timedelta(hours=1)
    # What the previous version stored after a run that claimed to finish at 18:00 (naive local time, UTC+5).
    old = {"version": 1, "after": "2026-01-01T05:50:00Z", "seen": {"bogus": "2026-01-01T06:00:00Z"}}
    cursor = RunCursor.from_json(old, now)
    assert cursor is not None and cursor.after is not None and cursor.after <= now
    finished = _run("fresh", (now - timedelta(minutes=1)).isoformat())
    bogus = _run("bogus", "2026-01-01T06:00:00Z")
    assert cursor.new_runs([finished, bogus]) == [finished]
