"""The store of the local Runtype, driven in process: seeding (keywords or a ``SeedSpec``), schedule knobs,
the request log's masking, and the local cron starting runs as the clock advances."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timezone

import pytest

from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import MAX_RECORDS, SeedSpec, Settings
from runtype_provider.testing.fake.simulation import MAX_FIRINGS, SimClock
from runtype_provider.testing.fake.store import advance, start_due_runs

UTC = timezone.utc

T0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_outcome": "exploded"}, "run_outcome"),
        ({"failure_share": 1.5}, "failure_share"),
        ({"product_id": "p"}, "product_id and surface_id"),
        ({"cron": "61 * * * *"}, "minute"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_seed_schedule_rejects_bad_arguments(state, kwargs, message):
    with pytest.raises(ValueError, match=message):
        state.seed_schedule(**kwargs)


def test_seed_schedule_rejects_a_duplicate_id(state):
    state.seed_schedule(schedule_id="sch_x")
    with pytest.raises(ValueError, match="already exists"):
        state.seed_schedule(schedule_id="sch_x")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"record_ids": "abc"}, "record_ids"),
        ({"record_ids": [f"r{i}" for i in range(MAX_RECORDS + 1)]}, "record_ids"),
        ({"record_count": MAX_RECORDS + 1}, "record_count"),
        ({"record_count": 2.5}, "record_count"),
        ({"failing_record_ids": "abc"}, "failing_record_ids"),
        ({"schedule_id": 5}, "schedule_id"),
        ({"queued_seconds": math.inf}, "queued_seconds"),
    ],
)
def test_seed_schedule_validates_before_adding_anything(state, kwargs, field):
    with pytest.raises(ValueError, match=field):
        state.seed_schedule(**kwargs)
    assert state.list_schedules({})["data"] == []


def test_seed_schedule_takes_a_seed_spec_or_the_same_fields_as_keywords(state):
    spec = SeedSpec(
        schedule_id="sch_spec", name="Spec", record_ids=["a", "b"], failing_record_ids=["b"], cron="0 9 * * *"
    )
    from_spec = state.seed_schedule(spec)
    from_keywords = state.seed_schedule(**{**asdict(spec), "schedule_id": "sch_keywords"})
    varying = {"id", "createdAt", "updatedAt"}
    assert {k: v for k, v in from_spec.items() if k not in varying} == {
        k: v for k, v in from_keywords.items() if k not in varying
    }
    assert (from_spec["id"], from_spec["cron"], from_spec["recordIds"]) == ("sch_spec", "0 9 * * *", ["a", "b"])
    assert state.configure_schedule("sch_spec")["failing_record_ids"] == ["b"]
    with pytest.raises(TypeError):
        state.seed_schedule(spec, name="both")
    with pytest.raises(TypeError, match="no_such_field"):
        state.seed_schedule(no_such_field=1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_count": 2.5}, "record_count"),
        ({"record_count": MAX_RECORDS + 1}, "record_count"),
        ({"failing_record_ids": "abc"}, "failing_record_ids"),
        ({"failing_record_ids": [f"r{i}" for i in range(MAX_RECORDS + 1)]}, "failing_record_ids"),
        ({"running_seconds": math.nan}, "running_seconds"),
        ({"failure_share": 0.5, "error": 5}, "error"),
    ],
)
def test_configure_schedule_validates_before_changing_anything(state, clock, changes, field):
    schedule_id = state.seed_schedule(record_ids=["a", "b"])["id"]
    before = state.configure_schedule(schedule_id)
    with pytest.raises(ValueError, match=field):
        state.configure_schedule(schedule_id, **changes)
    assert state.configure_schedule(schedule_id) == before
    run_id = state.run_schedule_now(schedule_id)["runId"]
    clock.advance(20)
    assert state.get_run_results(run_id, {})["pagination"]["total"] == 2


def test_the_request_log_masks_every_configured_secret():
    state = State(Settings(api_key="rt_test_k/1", read_only_api_key="rt_test_ro", admin_token="rt_test_adm"))
    state.log_request({"query": "a=rt_test_k%2F1&b=rt_test_ro", "body": {"rt_test_adm": ["x rt_test_k/1 y"]}})
    assert state.requests() == [{"query": "a=[redacted]&b=[redacted]", "body": {"[redacted]": ["x [redacted] y"]}}]


# ---------------------------------------------------------------------------- the local cron and its clock


def make_state(**settings) -> State:
    state = State(Settings(queued_seconds=1, running_seconds=10, **settings))
    state.clock = SimClock(state.clock._monotonic, wall=lambda: T0)
    state._clock = state.clock.monotonic
    state._cron.restart(T0)
    return state


def runs_of(state: State, schedule_id: str) -> list[dict]:
    return state.list_schedule_runs(schedule_id)["data"]


def test_cron_runs_start_at_their_firing_times_and_finish_as_time_advances() -> None:
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
    state = make_state()
    state.seed_schedule(schedule_id="sch_cron", cron="* * * * *")
    assert advance(state, 600)["cronRuns"] == [] and runs_of(state, "sch_cron") == []

    state.configure(cron_runs=True)
    assert start_due_runs(state) == []  # no back-fill of the ten minutes before
    assert len(advance(state, 120)["cronRuns"]) == 2


def test_one_time_schedules_fire_once_and_big_advances_are_bounded() -> None:
    state = make_state(cron_runs=True)
    state.seed_schedule(schedule_id="sch_once", run_at="2026-03-02T10:00:00Z")
    state.seed_schedule(schedule_id="sch_minutely", cron="* * * * *")

    advance(state, 7 * 86_400)
    advance(state, 86_400)

    assert len(runs_of(state, "sch_once")) == 1
    minutely = runs_of(state, "sch_minutely")
    assert len(minutely) == 2 * MAX_FIRINGS  # the latest firings of each advance, not 11,520 runs
    assert minutely[0]["createdAt"] == "2026-03-10T09:00:00.000Z"
