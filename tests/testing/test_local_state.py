"""Run simulation, failure rule, cursors and cron of the local Runtype's State, on a fake clock."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from runtype_provider.testing._cron import parse_cron
from runtype_provider.testing.state import MAX_RECORDS, ApiError, Settings, State


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> State:
    return State(Settings(queued_seconds=1, running_seconds=10), clock=clock)


def failed_ids(state: State, run_id: str) -> list[str]:
    rows = state.get_run_results(run_id, {"status": "failed", "limit": "100"})["data"]
    return [row["recordId"] for row in rows]


@pytest.mark.parametrize(
    ("share", "count", "expected"),
    [(0.0, 5, []), (0.25, 8, [3, 7]), (0.3, 10, [3, 6, 9]), (0.5, 5, [1, 3]), (0.1, 20, [9, 19]), (1.0, 3, [0, 1, 2])],
)
def test_failure_share_fails_exactly_the_documented_indexes(state, clock, share, count, expected):
    schedule = state.seed_schedule(record_type="company", record_count=count, failure_share=share)
    run = state.run_schedule_now(schedule["id"])
    clock.advance(11)
    assert failed_ids(state, run["runId"]) == [f"rec_company_{i + 1}" for i in expected]


def test_server_failure_share_applies_without_a_schedule_override(clock):
    state = State(Settings(queued_seconds=0, running_seconds=0, failure_share=0.5), clock=clock)
    schedule = state.seed_schedule(record_ids=["a", "b", "c", "d"])
    run = state.run_schedule_now(schedule["id"])
    assert failed_ids(state, run["runId"]) == ["b", "d"]


def test_failing_record_ids_override_the_share(state, clock):
    schedule = state.seed_schedule(record_ids=["a", "b", "c"], failing_record_ids=["c", "zz"], failure_share=1.0)
    run = state.run_schedule_now(schedule["id"])
    clock.advance(11)
    assert failed_ids(state, run["runId"]) == ["c"]
    assert state.get_batch_status(run["batchExecutionId"])["failedRecords"] == 1


def test_run_goes_queued_running_completed_with_linear_progress(state, clock):
    schedule = state.seed_schedule(record_type="company", record_count=10, failure_share=0.2)
    batch = state.run_schedule_now(schedule["id"])["batchExecutionId"]
    snapshots = []
    for step in (0, 0.99, 0.01, 2.5, 5, 2.49, 0.01):
        clock.advance(step)
        status = state.get_batch_status(batch)
        snapshots.append((status["status"], status["processedRecords"], status["failedRecords"], status["progress"]))
    assert snapshots == [
        ("queued", 0, 0, 0),
        ("queued", 0, 0, 0),
        ("running", 0, 0, 0),
        ("running", 2, 0, 20),
        ("running", 7, 1, 70),
        ("running", 9, 1, 90),
        ("completed", 10, 2, 100),
    ]
    final = state.get_batch_status(batch)
    assert final["successCount"] == 8
    started = datetime.fromisoformat(final["startedAt"].replace("Z", "+00:00"))
    completed = datetime.fromisoformat(final["completedAt"].replace("Z", "+00:00"))
    assert (completed - started).total_seconds() == pytest.approx(10, abs=0.002)


def test_results_exist_only_for_processed_records(state, clock):
    schedule = state.seed_schedule(record_ids=["a", "b", "c", "d"])
    run = state.run_schedule_now(schedule["id"])
    clock.advance(1 + 5)  # half of the running window: 2 of 4 records
    page = state.get_batch_results(run["batchExecutionId"], {})
    assert [row["recordId"] for row in page["data"]] == ["a", "b"]
    assert page["pagination"] == {"hasMore": False, "limit": 50, "offset": 0, "total": 2}


def test_run_level_failure_stops_at_half_with_the_seeded_error(state, clock):
    schedule = state.seed_schedule(record_type="invoice", record_count=10, run_outcome="failed", error="boom")
    run = state.run_schedule_now(schedule["id"])
    clock.advance(5.99)
    assert state.get_batch_status(run["batchExecutionId"])["status"] == "running"
    clock.advance(0.01)
    status = state.get_batch_status(run["batchExecutionId"])
    assert (status["status"], status["processedRecords"], status["progress"]) == ("failed", 5, 50)
    (listed,) = state.list_schedule_runs(schedule["id"])["data"]
    assert (listed["status"], listed["error"], listed["processedRecords"]) == ("failed", "boom", 5)


def test_cancel_freezes_progress_and_is_reported_once(state, clock):
    schedule = state.seed_schedule(record_type="company", record_count=10)
    batch = state.run_schedule_now(schedule["id"])["batchExecutionId"]
    clock.advance(3.5)
    assert state.cancel_batch(batch) == {"message": "Batch execution cancelled", "success": True}
    clock.advance(100)
    status = state.get_batch_status(batch)
    assert (status["status"], status["processedRecords"]) == ("cancelled", 2)
    assert status["completedAt"] is not None
    assert state.cancel_batch(batch) == {"message": "Batch execution is already cancelled", "success": False}


def test_cancel_while_queued_never_starts(state, clock):
    schedule = state.seed_schedule(record_type="company", record_count=3)
    batch = state.run_schedule_now(schedule["id"])["batchExecutionId"]
    clock.advance(0.5)
    assert state.cancel_batch(batch)["success"] is True
    clock.advance(50)
    (run,) = state.list_schedule_runs(schedule["id"])["data"]
    assert (run["status"], run["startedAt"], run["processedRecords"]) == ("cancelled", None, 0)


def test_configure_schedule_changes_later_runs_only(state, clock):
    schedule = state.seed_schedule(record_ids=["a", "b"], failing_record_ids=["a"])
    first = state.run_schedule_now(schedule["id"])
    state.configure_schedule(schedule["id"], failing_record_ids=["b"])
    second = state.run_schedule_now(schedule["id"])
    clock.advance(11)
    assert failed_ids(state, first["runId"]) == ["a"]
    assert failed_ids(state, second["runId"]) == ["b"]


def test_cursor_pages_do_not_shift_when_schedules_are_added(state):
    for index in range(4):
        state.seed_schedule(schedule_id=f"sch_{index}")
    first = state.list_schedules({"limit": "2"})
    state.seed_schedule(schedule_id="sch_new")
    second = state.list_schedules({"limit": "2", "cursor": first["pagination"]["nextCursor"]})
    assert [s["id"] for s in first["data"]] == ["sch_3", "sch_2"]
    assert [s["id"] for s in second["data"]] == ["sch_1", "sch_0"]
    assert second["pagination"]["hasMore"] is False


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


def test_unknown_ids_raise_404_api_errors(state):
    with pytest.raises(ApiError) as caught:
        state.get_schedule("sch_missing")
    assert caught.value.status == 404
    assert caught.value.body()["error"] == "Schedule not found"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 9-17 * * 1-5", datetime(2025, 1, 11, 10, 0), datetime(2025, 1, 13, 9, 0)),
        ("0 8 * * *", datetime(2025, 1, 11, 8, 0), datetime(2025, 1, 12, 8, 0)),
        ("30 0 1 */3 *", datetime(2025, 2, 1, 0, 0), datetime(2025, 4, 1, 0, 30)),
        ("0 0 13 * 5", datetime(2025, 1, 1, 0, 0), datetime(2025, 1, 3, 0, 0)),  # Friday OR the 13th
        ("0 12 * * 0", datetime(2025, 1, 11, 0, 0), datetime(2025, 1, 12, 12, 0)),  # Sunday as 0
        ("0 12 * * 7", datetime(2025, 1, 11, 0, 0), datetime(2025, 1, 12, 12, 0)),  # Sunday as 7
    ],
)
def test_cron_next_firing_time(expression, after, expected):
    utc = timezone.utc
    assert parse_cron(expression).next_after(after.replace(tzinfo=utc), utc) == expected.replace(tzinfo=utc)


def test_cron_honours_the_timezone():
    new_york = ZoneInfo("America/New_York")
    moment = parse_cron("0 8 * * *").next_after(datetime(2025, 1, 11, 12, 0, tzinfo=timezone.utc), new_york)
    assert moment is not None
    assert moment.astimezone(timezone.utc) == datetime(2025, 1, 11, 13, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("expression", ["* * *", "61 * * * *", "a * * * *", "*/0 * * * *", "5-1 * * * *"])
def test_cron_rejects_invalid_expressions(expression):
    with pytest.raises(ValueError):
        parse_cron(expression)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"queued_seconds": math.nan}, "queued_seconds"),
        ({"running_seconds": math.inf}, "running_seconds"),
        ({"running_seconds": True}, "running_seconds"),
        ({"running_seconds": 1, "failure_share": math.nan}, "failure_share"),
        ({"default_record_count": MAX_RECORDS + 1}, "default_record_count"),
        ({"default_record_count": 1.5}, "default_record_count"),
        ({"max_active_schedules": 2.5}, "max_active_schedules"),
        ({"api_key": ""}, "api_key"),
        ({"admin_token": ""}, "admin_token"),
    ],
)
def test_configure_validates_everything_before_changing_anything(state, changes, field):
    before = asdict(state.settings)
    with pytest.raises(ValueError, match=field):
        state.configure(**changes)
    assert asdict(state.settings) == before


def test_configure_returns_the_settings_without_secrets(state):
    assert not {"api_key", "read_only_api_key", "admin_token"} & set(state.configure(running_seconds=3))


def test_settings_are_validated_at_construction():
    with pytest.raises(ValueError, match="default_record_count"):
        State(Settings(default_record_count=MAX_RECORDS + 1))
    with pytest.raises(ValueError, match="queued_seconds"):
        State(Settings(queued_seconds=math.nan))


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


def test_the_request_log_masks_every_configured_secret():
    state = State(Settings(api_key="rt_test_k/1", read_only_api_key="rt_test_ro", admin_token="rt_test_adm"))
    state.log_request({"query": "a=rt_test_k%2F1&b=rt_test_ro", "body": {"rt_test_adm": ["x rt_test_k/1 y"]}})
    assert state.requests() == [{"query": "a=[redacted]&b=[redacted]", "body": {"[redacted]": ["x [redacted] y"]}}]


# ---- latency_seconds: how long every API answer waits --------------------------------------------------------------


def test_latency_defaults_to_zero_and_can_be_changed_at_runtime(state):
    assert state.settings.latency_seconds == 0
    assert state.configure(latency_seconds=0.03)["latency_seconds"] == 0.03
    assert state.configure(latency_seconds=1)["latency_seconds"] == 1


@pytest.mark.parametrize("latency", [-0.01, math.nan, math.inf, True, "0.1", None, 61])
def test_a_latency_that_is_not_a_number_from_0_to_60_seconds_is_refused_by_name(state, latency):
    before = asdict(state.settings)
    with pytest.raises(ValueError, match="latency_seconds"):
        state.configure(latency_seconds=latency)
    assert asdict(state.settings) == before
    with pytest.raises(ValueError, match="latency_seconds"):
        State(Settings(latency_seconds=latency))
