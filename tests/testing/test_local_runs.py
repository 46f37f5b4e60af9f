"""Run lifecycle in real time over HTTP: queued -> running -> terminal, run-level failure, cancel."""

from __future__ import annotations

import asyncio

import httpx
import pytest

pytestmark = pytest.mark.runtype(queued_seconds=0.15, running_seconds=0.6)
TERMINAL = {"completed", "failed", "cancelled"}


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
