"""Run simulation (progress, failure rule, run-level failure, cancel), cron, the clock and due firings: in
process on a fake clock, then the run lifecycle in real time over HTTP."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest

from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import Settings
from runtype_provider.testing.fake.simulation import CronRuns, SimClock, firings, parse_cron

# Options of the runtype_server fixture, for the tests over HTTP at the end.
pytestmark = pytest.mark.runtype(queued_seconds=0.15, running_seconds=0.6)
TERMINAL = {"completed", "failed", "cancelled"}
UTC = timezone.utc
T0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)  # a Monday


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


# ---------------------------------------------------------------------------- cron, clock and due firings


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


# ---------------------------------------------------------------------------- the run lifecycle in real time over HTTP


def test_lifecycle_with_exact_failed_records(api, runtype_server, until):
    records = ["rec_a", "rec_b", "rec_c", "rec_d", "rec_e", "rec_f"]
    schedule_id = runtype_server.seed_schedule(record_ids=records, failing_record_ids=["rec_b", "rec_e"])["id"]
    started = api("POST", f"/v1/schedules/{schedule_id}/run-now")
    batch_id, run_id = started["batchExecutionId"], started["runId"]

    first = api("GET", f"/v1/batch/status/{batch_id}")
    assert (first["status"], first["processedRecords"], first["completedAt"]) == ("queued", 0, None)

    seen = []

    def terminal():
        status = api("GET", f"/v1/batch/status/{batch_id}")
        seen.append((status["status"], status["processedRecords"]))
        return status if status["status"] in TERMINAL else None

    final = until(terminal, timeout=5, interval=0.03)
    statuses = [status for status, _ in seen]
    assert statuses.index("running") > 0 and statuses[-1] == "completed"
    assert statuses == sorted(statuses, key=["queued", "running", "completed"].index)
    processed = [count for status, count in seen if status == "running"]
    assert processed == sorted(processed)
    assert any(0 < count < 6 for count in processed), seen

    assert (final["processedRecords"], final["failedRecords"], final["successCount"], final["progress"]) == (
        6,
        2,
        4,
        100,
    )
    failed = api("GET", f"/v1/schedules/runs/{run_id}/results", params={"status": "failed"})["data"]
    assert [row["recordId"] for row in failed] == ["rec_b", "rec_e"]
    (run,) = api("GET", f"/v1/schedules/{schedule_id}/runs")["data"]
    assert (run["id"], run["status"], run["failedRecords"], run["error"]) == (run_id, "completed", 2, None)
    assert run["completedAt"] == final["completedAt"]


def test_run_level_failure(api, runtype_server, until):
    schedule_id = runtype_server.seed_schedule(
        record_type="invoice", record_count=6, run_outcome="failed", error="boom"
    )["id"]
    batch_id = api("POST", f"/v1/schedules/{schedule_id}/run-now")["batchExecutionId"]
    final = until(lambda: (s := api("GET", f"/v1/batch/status/{batch_id}"))["status"] in TERMINAL and s)
    assert (final["status"], final["processedRecords"], final["totalRecords"]) == ("failed", 3, 6)
    (run,) = api("GET", f"/v1/schedules/{schedule_id}/runs")["data"]
    assert (run["status"], run["error"]) == ("failed", "boom")
    assert len(api("GET", f"/v1/schedules/batch/{batch_id}/results")["data"]) == 3


def test_cancel_a_running_batch(api, runtype_server, until):
    schedule_id = runtype_server.seed_schedule(record_type="company", record_count=10, running_seconds=30)["id"]
    batch_id = api("POST", f"/v1/schedules/{schedule_id}/run-now")["batchExecutionId"]
    until(lambda: api("GET", f"/v1/batch/status/{batch_id}")["status"] == "running")
    assert api("POST", f"/v1/batch/cancel/{batch_id}") == {"message": "Batch execution cancelled", "success": True}
    cancelled = api("GET", f"/v1/batch/status/{batch_id}")
    (run,) = api("GET", f"/v1/schedules/{schedule_id}/runs")["data"]
    assert (cancelled["status"], run["status"]) == ("cancelled", "cancelled")
    assert cancelled["completedAt"] is not None
    again = api("POST", f"/v1/batch/cancel/{batch_id}")
    assert again == {"message": "Batch execution is already cancelled", "success": False}


def test_surface_recent_runs_follow_the_run(api, runtype_server, until):
    schedule = runtype_server.seed_schedule(product_id="p1", surface_id="s1", record_ids=["a", "b"])
    path = f"/v1/products/p1/surfaces/s1/schedules/{schedule['id']}"
    batch_id = api("POST", f"{path}/run-now")["batchExecutionId"]
    (recent,) = api("GET", path)["recentRuns"]
    assert (recent["batchExecutionId"], recent["status"], recent["startedAt"]) == (batch_id, "queued", None)
    until(lambda: api("GET", path)["recentRuns"][0]["status"] == "completed")
    assert api("GET", path)["lastRunAt"] == recent["createdAt"]


def test_polling_with_httpx_async(runtype_server):
    schedule_id = runtype_server.seed_schedule(record_ids=["a", "b", "c"], failing_record_ids=["c"])["id"]

    async def scenario() -> tuple[list[str], dict]:
        headers = {"Authorization": f"Bearer {runtype_server.api_key}"}
        async with httpx.AsyncClient(base_url=runtype_server.url, headers=headers, timeout=5) as client:
            batch_id = (await client.post(f"/v1/schedules/{schedule_id}/run-now")).json()["batchExecutionId"]
            statuses: list[str] = []
            for _ in range(200):
                status = (await client.get(f"/v1/batch/status/{batch_id}")).json()
                statuses.append(status["status"])
                if status["status"] in TERMINAL:
                    break
                await asyncio.sleep(0.03)
            results = (await client.get(f"/v1/schedules/batch/{batch_id}/results")).json()
            return statuses, results

    statuses, results = asyncio.run(scenario())
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "completed"
    assert [(row["recordId"], row["status"]) for row in results["data"]] == [
        ("a", "completed"),
        ("b", "completed"),
        ("c", "failed"),
    ]
