"""The local Runtype's own cron (Settings.cron_runs) and its advanceable clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from runtype_provider.testing.cron_runs import MAX_FIRINGS, CronRuns, SimClock, firings
from runtype_provider.testing.state import Settings, State

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)  # a Monday


def make_state(**settings) -> State:
    state = State(Settings(queued_seconds=1, running_seconds=10, **settings))
    state.clock = SimClock(state.clock._monotonic, wall=lambda: T0)
    state._clock = state.clock.monotonic
    state._cron.restart(T0)
    return state


def runs_of(state: State, schedule_id: str) -> list[dict]:
    return state.list_schedule_runs(schedule_id)["data"]


def test_cron_runs_start_at_their_firing_times_and_finish_as_time_advances() -> None:
    from runtype_provider.testing.cron_runs import advance

    state = make_state(cron_runs=True)
    state.seed_schedule(schedule_id="sch_cron", cron="*/5 * * * *", record_count=4)
    state.seed_schedule(schedule_id="sch_daily", cron="0 8 * * *")  # next firing tomorrow: never here
    state.seed_schedule(schedule_id="sch_paused", cron="* * * * *", enabled=False)

    answer = advance(state, 15 * 60)

    assert len(answer["cronRuns"]) == 3 and answer["offsetSeconds"] == 900.0
    runs = runs_of(state, "sch_cron")
    assert sorted(r["createdAt"] for r in runs) == [
        "2026-03-02T09:05:00.000Z",
        "2026-03-02T09:10:00.000Z",
        "2026-03-02T09:15:00.000Z",
    ]
    # Started at 09:05 and 09:10: finished 11 s later; the 09:15 run (started 30 s ago) too.
    assert {r["status"] for r in runs} == {"completed"}
    assert {r["completedAt"] for r in runs} >= {"2026-03-02T09:05:11.000Z"}
    assert runs_of(state, "sch_daily") == [] and runs_of(state, "sch_paused") == []
    # Another minute: no firing; a run started by hand still works beside cron runs.
    assert advance(state, 60)["cronRuns"] == []
    state.run_schedule_now("sch_cron")
    assert runs_of(state, "sch_cron")[0]["status"] == "queued"


def test_cron_runs_are_off_by_default_and_count_from_when_switched_on() -> None:
    from runtype_provider.testing.cron_runs import advance, start_due_runs

    state = make_state()
    state.seed_schedule(schedule_id="sch_cron", cron="* * * * *")
    assert advance(state, 600)["cronRuns"] == [] and runs_of(state, "sch_cron") == []

    state.configure(cron_runs=True)
    assert start_due_runs(state) == []  # no back-fill of the ten minutes before
    assert len(advance(state, 120)["cronRuns"]) == 2


def test_one_time_schedules_fire_once_and_big_advances_are_bounded() -> None:
    from runtype_provider.testing.cron_runs import advance

    state = make_state(cron_runs=True)
    state.seed_schedule(schedule_id="sch_once", run_at="2026-03-02T10:00:00Z")
    state.seed_schedule(schedule_id="sch_minutely", cron="* * * * *")

    advance(state, 7 * 86_400)
    advance(state, 86_400)

    assert len(runs_of(state, "sch_once")) == 1
    minutely = runs_of(state, "sch_minutely")
    assert len(minutely) == 2 * MAX_FIRINGS  # the latest firings of each advance, not 11,520 runs
    assert minutely[0]["createdAt"] == "2026-03-10T09:00:00.000Z"


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), True, "60", 400 * 86_400])
def test_clock_refuses_impossible_advances(seconds) -> None:
    clock = SimClock()
    with pytest.raises(ValueError, match="seconds must be"):
        clock.advance(seconds)
    assert clock.offset == 0.0


def test_timezone_and_weekday_crons() -> None:
    doc = {"enabled": True, "triggerType": "recurring", "cron": "0 8 * * 1-5", "timezone": "America/New_York"}
    found = firings(doc, T0, T0 + timedelta(days=7))
    assert [m.isoformat() for m in found][:2] == ["2026-03-02T13:00:00+00:00", "2026-03-03T13:00:00+00:00"]
    assert len(found) == 5
    assert CronRuns(T0).due([("a", {**doc, "createdAt": "2026-03-09T00:00:00Z"})], T0 + timedelta(days=7, hours=4)) == [
        ("a", datetime(2026, 3, 9, 12, 0, tzinfo=UTC))  # created Monday 00:00 UTC; DST started 8 March
    ]


def test_admin_route_advances_the_clock(runtype_server, admin, api) -> None:
    runtype_server.configure(cron_runs=True, queued_seconds=0, running_seconds=0)
    runtype_server.seed_schedule(schedule_id="sch_cron", cron="* * * * *")

    answer = admin("POST", "/_local/clock/advance", json={"seconds": 150})
    refused = admin("POST", "/_local/clock/advance", json={"seconds": -5}, expect=400)
    anonymous = api.raw("POST", "/_local/clock/advance", json={"seconds": 5}, headers={"Authorization": "Bearer x"})

    assert len(answer["cronRuns"]) in (2, 3) and answer["offsetSeconds"] == 150  # minute boundaries in 150 s
    assert "seconds must be" in refused["details"][0]["message"]
    assert anonymous.status_code == 401
    runs = api("GET", "/v1/schedules/sch_cron/runs")["data"]
    assert len(runs) == len(answer["cronRuns"]) and {r["status"] for r in runs} == {"completed"}
