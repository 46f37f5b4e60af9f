"""The 29 operations over real HTTP (requests): the 14 global schedule endpoints, then the 8 product-surface schedule
endpoints and the 7 batch endpoints; success shapes and state changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from runtype_provider.testing.fake.schedules import SCHEDULE_FIELDS
from runtype_provider.testing.fake.wire import ApiError

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)

RUN_FIELDS = {
    "agentExecutionId", "agentId", "batchExecutionId", "completedAt", "createdAt", "error", "failedRecords",
    "flowId", "id", "processedRecords", "scheduleId", "startedAt", "status", "totalRecords",
}  # fmt: skip
ROW_FIELDS = {
    "agentExecutionId", "createdAt", "durationMs", "error", "executedAt", "executionEngine", "failedAt",
    "failedStepCount", "flowId", "flowName", "record", "recordId", "recordResultId", "result", "status", "stepCount",
}  # fmt: skip
CREATE_BODY = {
    "executionOptions": {"chunkSize": 200, "progressFlushSize": 25, "recordConcurrency": 25, "timeoutMs": 900000},
    "target": {"flowId": "flow_01", "recordType": "company"},
    "trigger": {"cron": "*/5 * * * *", "timezone": "America/Los_Angeles", "type": "recurring"},
    "name": "Nightly enrichment",
}


def test_create_returns_id_and_created_and_stores_every_field(api):
    created = api("POST", "/v1/schedules", json=CREATE_BODY)
    assert set(created) == {"id", "status"}
    assert created["status"] == "created"
    schedule = api("GET", f"/v1/schedules/{created['id']}")
    assert set(schedule) == set(SCHEDULE_FIELDS)
    assert schedule["flowId"] == "flow_01"
    assert schedule["recordType"] == "company"
    assert schedule["cron"] == "*/5 * * * *"
    assert schedule["timezone"] == "America/Los_Angeles"
    assert schedule["triggerType"] == "recurring"
    assert schedule["executionOptions"] == CREATE_BODY["executionOptions"]
    assert schedule["enabled"] is True
    assert schedule["nextRunAt"] is not None
    assert (schedule["agentId"], schedule["runAt"], schedule["lastRunAt"], schedule["recordIds"]) == (None,) * 4


def test_create_one_time_agent_schedule(api):
    run_at = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
    body = {
        "target": {"agentId": "agent_1"},
        "trigger": {"type": "one_time", "runAt": run_at.isoformat()},
        "messages": [{"role": "user", "content": "hi"}],
        "inputs": {"topic": "x"},
    }
    schedule = api("GET", f"/v1/schedules/{api('POST', '/v1/schedules', json=body)['id']}")
    expected = run_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert (schedule["agentId"], schedule["flowId"], schedule["triggerType"]) == ("agent_1", None, "one_time")
    assert schedule["runAt"] == schedule["nextRunAt"] == expected
    assert schedule["cron"] is None
    assert (schedule["messages"], schedule["inputs"]) == (body["messages"], body["inputs"])


def test_update_is_partial(api):
    schedule_id = api("POST", "/v1/schedules", json=CREATE_BODY)["id"]
    update = {"trigger": {"cron": "0 * * * *", "timezone": "UTC", "type": "recurring"}}
    assert api("PUT", f"/v1/schedules/{schedule_id}", json=update) == {"id": schedule_id, "status": "updated"}
    schedule = api("GET", f"/v1/schedules/{schedule_id}")
    assert (schedule["cron"], schedule["timezone"]) == ("0 * * * *", "UTC")
    assert (schedule["name"], schedule["flowId"]) == ("Nightly enrichment", "flow_01")
    assert api("PUT", f"/v1/schedules/{schedule_id}", json={"name": "Renamed"})["status"] == "updated"
    assert api("GET", f"/v1/schedules/{schedule_id}")["name"] == "Renamed"


def test_delete(api):
    schedule_id = api("POST", "/v1/schedules", json=CREATE_BODY)["id"]
    assert api("DELETE", f"/v1/schedules/{schedule_id}") == {"success": True}
    api("GET", f"/v1/schedules/{schedule_id}", expect=404)


def test_pause_and_resume_toggle_enabled(api, runtype_server):
    schedule_id = runtype_server.seed_schedule()["id"]
    assert api("POST", f"/v1/schedules/{schedule_id}/pause") == {"status": "paused"}
    paused = api("GET", f"/v1/schedules/{schedule_id}")
    assert (paused["enabled"], paused["nextRunAt"]) == (False, None)
    assert api("POST", f"/v1/schedules/{schedule_id}/resume") == {"status": "resumed"}
    assert api("GET", f"/v1/schedules/{schedule_id}")["enabled"] is True


def test_run_now_and_every_run_view(api, runtype_server):
    schedule_id = runtype_server.seed_schedule(record_ids=["r1", "r2", "r3"], failing_record_ids=["r2"])["id"]
    started = api("POST", f"/v1/schedules/{schedule_id}/run-now")
    assert set(started) == {"status", "runId", "batchExecutionId", "error"}
    assert (started["status"], started["error"]) == ("queued", None)
    run_id, batch_id = started["runId"], started["batchExecutionId"]

    (run,) = api("GET", f"/v1/schedules/{schedule_id}/runs")["data"]
    assert set(run) == RUN_FIELDS
    assert (run["id"], run["batchExecutionId"], run["scheduleId"]) == (run_id, batch_id, schedule_id)
    assert (run["status"], run["totalRecords"], run["processedRecords"], run["failedRecords"]) == ("completed", 3, 3, 1)
    assert api("GET", f"/v1/schedules/{schedule_id}")["lastRunAt"] == run["createdAt"]

    all_runs = api("GET", "/v1/schedules/runs/all")
    assert [item["id"] for item in all_runs["data"]] == [run_id]

    views = (
        (f"/v1/schedules/runs/{run_id}/results", "success"),
        (f"/v1/schedules/batch/{batch_id}/results", "completed"),
    )
    for path, success in views:
        results = api("GET", path)
        assert [(row["recordId"], row["status"]) for row in results["data"]] == [
            ("r1", success),
            ("r2", "failed"),
            ("r3", success),
        ]
        assert all(set(row) == ROW_FIELDS for row in results["data"])
        assert results["summary"] == {"recordsWithFailedSteps": 1}
        ok, bad = results["data"][0], results["data"][1]
        assert ok["record"] == {"id": "r1", "name": "Record r1", "type": "record"}
        assert ok["result"] == {"summary": "Processed Record r1"} and ok["error"] is None and ok["failedAt"] is None
        assert bad["result"] is None and bad["error"] and bad["failedAt"] and bad["recordResultId"] is None


def test_run_results_accept_limit_offset_and_status(api, runtype_server):
    schedule_id = runtype_server.seed_schedule(record_ids=["a", "b", "c", "d"], failing_record_ids=["b", "d"])["id"]
    run_id = api("POST", f"/v1/schedules/{schedule_id}/run-now")["runId"]
    page = api("GET", f"/v1/schedules/runs/{run_id}/results", params={"limit": "1", "offset": "1", "status": "failed"})
    assert [row["recordId"] for row in page["data"]] == ["d"]
    assert page["pagination"] == {"hasMore": False, "limit": 1, "offset": 1, "total": 2}


def test_sparklines_and_stats_count_the_runs(api, runtype_server):
    good = runtype_server.seed_schedule(record_ids=["a"])["id"]
    bad = runtype_server.seed_schedule(record_ids=["a"], run_outcome="failed", error="boom")["id"]
    for schedule_id in (good, good, bad):
        api("POST", f"/v1/schedules/{schedule_id}/run-now")
    today = datetime.now(timezone.utc).date()

    sparklines = api("GET", "/v1/schedules/sparklines", params={"ids": f"{good},{bad},sch_unknown"})["data"]
    assert [item["scheduleId"] for item in sparklines] == [good, bad]
    days = sparklines[0]["last7Days"]
    assert [day["date"] for day in days] == [(today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    assert days[-1] == {"date": today.isoformat(), "failed": 0, "runs": 2}
    assert sparklines[1]["last7Days"][-1] == {"date": today.isoformat(), "failed": 1, "runs": 1}
    assert len(api("GET", "/v1/schedules/sparklines")["data"]) == 2

    stats = api("GET", f"/v1/schedules/{good}/stats")
    assert (stats["total"], stats["completed"], stats["failed"], stats["successRate"]) == (2, 2, 0, 1.0)
    assert stats["unpricedExecutions"] == 2 and stats["avgDurationMs"] == 0
    assert stats["last7Days"][-1]["runs"] == 2
    bad_stats = api("GET", f"/v1/schedules/{bad}/stats")
    assert (bad_stats["failed"], bad_stats["successRate"]) == (1, 0.0)


def test_stats_of_a_schedule_without_runs(api, runtype_server):
    schedule_id = runtype_server.seed_schedule()["id"]
    stats = api("GET", f"/v1/schedules/{schedule_id}/stats")
    assert (stats["total"], stats["successRate"], stats["avgDurationMs"]) == (0, None, None)


def test_run_now_on_a_paused_schedule_is_allowed(api, runtype_server):
    schedule_id = runtype_server.seed_schedule(enabled=False)["id"]
    assert api("POST", f"/v1/schedules/{schedule_id}/run-now")["status"] == "queued"
    assert len(api("GET", f"/v1/schedules/{schedule_id}/runs")["data"]) == 1


def test_runs_list_is_newest_first(api, runtype_server):
    schedule_id = runtype_server.seed_schedule()["id"]
    run_ids = [api("POST", f"/v1/schedules/{schedule_id}/run-now")["runId"] for _ in range(3)]
    assert [run["id"] for run in api("GET", f"/v1/schedules/{schedule_id}/runs")["data"]] == run_ids[::-1]


def test_generated_records_follow_the_record_type(api, runtype_server):
    schedule_id = runtype_server.seed_schedule(record_type="user_activity", record_count=2)["id"]
    batch_id = api("POST", f"/v1/schedules/{schedule_id}/run-now")["batchExecutionId"]
    rows = api("GET", f"/v1/schedules/batch/{batch_id}/results")["data"]
    assert [row["record"] for row in rows] == [
        {"id": "rec_user_activity_1", "name": "User Activity 1", "type": "user_activity"},
        {"id": "rec_user_activity_2", "name": "User Activity 2", "type": "user_activity"},
    ]


def test_unknown_ids_raise_404_api_errors(state):
    with pytest.raises(ApiError) as caught:
        state.get_schedule("sch_missing")
    assert caught.value.status == 404
    assert caught.value.body()["error"] == "Schedule not found"


# ---------------------------------------------------------------------------- product-surface schedules and batches

BASE = "/v1/products/prod_1/surfaces/surf_1/schedules"
CREATE = {
    "flowId": "flow_123",
    "triggerType": "recurring",
    "cron": "0 9 * * 1",
    "timezone": "America/New_York",
    "recordType": "company",
    "executionOptions": {"recordConcurrency": 10, "loggingPolicy": "off"},
    "recordFilter": {"type": "company", "where": {"field": "tier", "op": "eq", "value": "gold"}},
}


@pytest.fixture
def surface(runtype_server):
    return runtype_server.add_surface("prod_1", "surf_1")


def test_create_returns_the_full_schedule(api, surface):
    created = api("POST", BASE, json=CREATE)
    assert set(created) == set(SCHEDULE_FIELDS)
    assert (created["productSurfaceId"], created["flowId"], created["enabled"]) == ("surf_1", "flow_123", True)
    assert created["recordFilter"] == CREATE["recordFilter"]
    assert created["executionOptions"] == CREATE["executionOptions"]
    assert created["nextRunAt"] is not None


def test_list_adds_flow_name_and_get_adds_recent_runs(api, runtype_server, surface):
    schedule = runtype_server.seed_schedule(product_id="prod_1", surface_id="surf_1", flow_name="Weekly digest")
    runtype_server.seed_schedule()  # a global schedule: not listed on the surface
    (item,) = api("GET", BASE)["data"]
    assert set(item) == {*SCHEDULE_FIELDS, "flowName"}
    assert (item["id"], item["flowName"]) == (schedule["id"], "Weekly digest")

    details = api("GET", f"{BASE}/{schedule['id']}")
    assert set(details) == {*SCHEDULE_FIELDS, "flowName", "recentRuns"}
    assert details["recentRuns"] == []


def test_update_is_partial_and_returns_the_schedule(api, surface):
    schedule_id = api("POST", BASE, json=CREATE)["id"]
    updated = api("PUT", f"{BASE}/{schedule_id}", json={"cron": "0 10 * * 1", "enabled": False})
    assert set(updated) == set(SCHEDULE_FIELDS)
    assert (updated["cron"], updated["enabled"], updated["recordType"]) == ("0 10 * * 1", False, "company")
    one_time = api("PUT", f"{BASE}/{schedule_id}", json={"triggerType": "one_time", "runAt": "2030-02-01T09:00:00Z"})
    assert (one_time["triggerType"], one_time["cron"], one_time["runAt"]) == (
        "one_time",
        None,
        "2030-02-01T09:00:00.000Z",
    )


def test_pause_resume_delete(api, surface):
    schedule_id = api("POST", BASE, json=CREATE)["id"]
    assert api("POST", f"{BASE}/{schedule_id}/pause") == {"status": "paused"}
    assert api("GET", f"{BASE}/{schedule_id}")["enabled"] is False
    assert api("POST", f"{BASE}/{schedule_id}/resume") == {"status": "resumed"}
    assert api("GET", f"{BASE}/{schedule_id}")["enabled"] is True
    assert api("DELETE", f"{BASE}/{schedule_id}") == {"success": True}
    api("GET", f"{BASE}/{schedule_id}", expect=404)


def test_run_now_creates_a_batch_visible_everywhere(api, runtype_server, surface):
    schedule = runtype_server.seed_schedule(
        product_id="prod_1",
        surface_id="surf_1",
        record_type="company",
        record_count=4,
        failing_record_ids=["rec_company_2"],
    )
    started = api("POST", f"{BASE}/{schedule['id']}/run-now", json={})
    assert set(started) == {"batchExecutionId", "recordCount", "status"}
    assert (started["recordCount"], started["status"]) == (4, "queued")
    batch_id = started["batchExecutionId"]

    (recent,) = api("GET", f"{BASE}/{schedule['id']}")["recentRuns"]
    assert set(recent) == {"batchExecutionId", "completedAt", "createdAt", "error", "id", "startedAt", "status"}
    assert (recent["batchExecutionId"], recent["status"]) == (batch_id, "completed")

    status = api("GET", f"/v1/batch/status/{batch_id}")
    assert status == {
        "batchExecutionId": batch_id,
        "completedAt": status["completedAt"],
        "executionEngineSummary": "runtime",
        "failedRecords": 1,
        "flowId": "flow_local",
        "processedRecords": 4,
        "progress": 100,
        "results": None,
        "startedAt": status["startedAt"],
        "status": "completed",
        "successCount": 3,
        "totalRecords": 4,
    }
    assert status["completedAt"] and status["startedAt"]
    assert api("POST", f"/v1/batch/cancel/{batch_id}") == {
        "message": "Batch execution is already completed",
        "success": False,
    }


def test_surface_schedules_are_also_global_schedules(api, surface):
    schedule_id = api("POST", BASE, json=CREATE)["id"]
    assert api("GET", f"/v1/schedules/{schedule_id}")["productSurfaceId"] == "surf_1"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/v1/products/prod_x/surfaces/surf_1/schedules", "Product not found"),
        ("/v1/products/prod_1/surfaces/surf_x/schedules", "Surface not found"),
        (BASE + "/sch_missing", "Schedule not found"),
    ],
)
def test_unknown_product_surface_or_schedule_is_404(api, surface, path, error):
    assert api("GET", path, expect=404)["error"] == error


def test_a_schedule_of_another_surface_is_404(api, runtype_server, surface):
    other = runtype_server.seed_schedule(product_id="prod_1", surface_id="surf_2")
    api("GET", f"{BASE}/{other['id']}", expect=404)
    api("POST", f"{BASE}/{other['id']}/run-now", expect=404)


def test_a_non_schedule_surface_is_400(api, runtype_server):
    runtype_server.add_surface("prod_1", "surf_chat", type="chat")
    body = api("GET", "/v1/products/prod_1/surfaces/surf_chat/schedules", expect=400)
    assert body["details"][0]["code"] == "INVALID_SURFACE_TYPE"


# ---- batches submitted directly (POST /v1/batch/flow) ---------------------------------------------------------

INLINE = {"name": "Acme", "type": "company", "metadata": {"tier": "gold"}}


@pytest.mark.runtype(queued_seconds=0, running_seconds=0)
def test_recovering_records_fail_their_first_batch_on_a_flow_and_succeed_when_submitted_again(api, runtype_server):
    runtype_server.configure(failing_record_ids=["r3"], recovering_record_ids=["r2", "Acme"])

    def failed(flow: str, ids: list[str], records: list[dict] | None = None) -> list[str]:
        body = {"flowId": flow, "recordIds": ids, **({"records": records} if records else {})}
        batch = api("POST", "/v1/batch/flow", json=body)["batchExecutionId"]
        rows = api("GET", f"/v1/schedules/batch/{batch}/results")["data"]
        return [row["record"]["name"] for row in rows if row["status"] == "failed"]

    assert failed("flow_1", ["r1", "r2", "r3"], [INLINE]) == ["Record r2", "Record r3", "Acme"]
    assert failed("flow_1", ["r2", "r3"], [INLINE]) == ["Record r3"]  # the retry recovers; r3 always fails
    assert failed("flow_2", ["r2"]) == ["Record r2"]  # another flow: a first time again
    runtype_server.reset()
    runtype_server.configure(recovering_record_ids=["r2"])
    assert failed("flow_1", ["r2"]) == ["Record r2"]  # a reset forgets what ran


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, cost_per_record_usd=0.5, billed_cost_share=0.5)
def test_a_submitted_batch_runs_like_a_schedule_run_and_costs_per_record(api, runtype_server):
    runtype_server.configure(failing_record_ids=["r2"])
    submitted = api("POST", "/v1/batch/flow", json={"flowId": "flow_1", "recordIds": ["r1", "r2"], "records": [INLINE]})
    assert set(submitted) == {"batchExecutionId", "status"} and submitted["status"] == "queued"
    batch = submitted["batchExecutionId"]
    status = api("GET", f"/v1/batch/status/{batch}")
    assert (status["status"], status["totalRecords"], status["failedRecords"], status["flowId"]) == (
        "completed", 3, 1, "flow_1",
    )  # fmt: skip
    rows = api("GET", f"/v1/schedules/batch/{batch}/results")["data"]
    assert [(row["record"]["name"], row["status"]) for row in rows] == [
        ("Record r1", "completed"), ("Record r2", "failed"), ("Acme", "completed"),
    ]  # fmt: skip
    cost = api("GET", f"/v1/batch/{batch}/cost")
    assert cost == {
        "batchExecutionId": batch, "billedCostThousandthsCent": 75_000, "billedCostUsd": 0.75,
        "selfReportedCostUsd": 0.0, "totalCostUsd": 1.5, "unpricedExecutions": 0,
    }  # fmt: skip
    inline_id = rows[2]["recordId"]
    assert api("GET", f"/v1/batch/{batch}/records/{inline_id}/cost")["totalCostUsd"] == 0.5
    steps = api("GET", f"/v1/batch/{batch}/records/r2/steps")["data"]
    assert [(s["order"], s["status"]) for s in steps] == [(0, "completed"), (1, "completed"), (2, "failed")]
    api("GET", f"/v1/batch/{batch}/records/nope/cost", expect=404)
    api("GET", "/v1/batch/batch_missing/cost", expect=404)
    assert all(run["batchExecutionId"] != batch for run in api("GET", "/v1/schedules/runs/all")["data"])


@pytest.mark.runtype(queued_seconds=0, running_seconds=100, cost_per_record_usd=1.0)
def test_a_running_batch_costs_what_it_processed_so_far_and_can_be_cancelled(api, runtype_server):
    batch = api("POST", "/v1/batch/flow", json={"agentId": "agent_1", "recordIds": ["a", "b", "c", "d"]})
    batch = batch["batchExecutionId"]
    runtype_server.advance_clock(50)
    assert api("GET", f"/v1/batch/{batch}/cost")["totalCostUsd"] == 2.0
    assert api("GET", f"/v1/batch/{batch}/records/d/steps")["data"] == []
    summary = api("GET", "/v1/batch/summary")
    assert (summary["activeBatches"], summary["recentlyCompleted"]) == (1, 0)
    assert summary["batches"][0] | {"startedAt": None} == {
        "failedRecords": 0, "flowName": "Agent agent_1", "id": batch, "processedRecords": 2, "progress": 50,
        "startedAt": None, "status": "running", "totalRecords": 4,
    }  # fmt: skip
    assert api("POST", f"/v1/batch/cancel/{batch}")["success"] is True
    runtype_server.advance_clock(100)
    assert api("GET", f"/v1/batch/{batch}/cost")["totalCostUsd"] == 2.0
    assert [item["status"] for item in api("GET", "/v1/batch/summary")["recent"]] == ["cancelled"]


@pytest.mark.runtype(daily_record_limit=3)
def test_the_daily_record_limit_answers_429_until_the_next_utc_day(api, runtype_server):
    api("POST", "/v1/batch/flow", json={"flowId": "f", "recordIds": ["a", "b"]})
    response = api.raw("POST", "/v1/batch/flow", json={"flowId": "f", "recordIds": ["c", "d"]})
    assert response.status_code == 429
    assert (response.json()["code"], response.headers["X-Quota-Remaining"]) == ("DAILY_LIMIT_EXCEEDED", "0")
    assert 1 <= int(response.headers["Retry-After"]) <= 86_400
    api("POST", "/v1/batch/flow", json={"flowId": "f", "recordIds": ["c"]})  # exactly up to the limit
    runtype_server.advance_clock(int(response.headers["Retry-After"]))
    api("POST", "/v1/batch/flow", json={"flowId": "f", "recordIds": ["c", "d"]})


@pytest.mark.parametrize(
    ("body", "code", "path"),
    [
        ([], "INVALID_TYPE", ""),
        ({"recordIds": ["a"]}, "MISSING_REQUIRED_FIELD", "flowId"),
        ({"flowId": "f", "agentId": "a", "recordIds": ["a"]}, "CONFLICTING_FIELDS", "agentId"),
        ({"flowId": "f"}, "MISSING_REQUIRED_FIELD", "recordIds"),
        ({"flowId": "f", "recordIds": "a"}, "INVALID_TYPE", "recordIds"),
        ({"flowId": "f", "recordIds": ["a"] * 50_001}, "TOO_MANY_RECORDS", "recordIds"),
        ({"flowId": "f", "recordIds": [""]}, "INVALID_TYPE", "recordIds[0]"),
        ({"flowId": "f", "records": [{"name": "a"}]}, "MISSING_REQUIRED_FIELD", "records[0]"),
        ({"flowId": "f", "records": [{"name": "a", "type": "t"}]}, "INVALID_TYPE", "records[0].metadata"),
        ({"flowDefinition": {"steps": []}, "recordIds": ["a"]}, "MISSING_REQUIRED_FIELD", "flowDefinition.name"),
        ({"flowId": "f", "recordIds": ["a"], "options": {"chunkSize": 0}}, "INVALID_RANGE", "options.chunkSize"),
        ({"flowId": "f", "recordIds": ["a"], "options": {"skipCacheWarm": 1}}, "INVALID_TYPE", "options.skipCacheWarm"),
        ({"flowId": "f", "recordIds": ["a"], "messages": ["hi"]}, "INVALID_TYPE", "messages"),
        ({"flowId": "f", "recordIds": ["a"], "inputs": [1]}, "INVALID_TYPE", "inputs"),
    ],
)  # fmt: skip
def test_a_bad_batch_body_is_a_400_with_details(api, body, code, path):
    details = api("POST", "/v1/batch/flow", json=body, expect=400)["details"]
    assert (details[0]["code"], details[0]["path"]) == (code, path)
