"""The 8 product-surface schedule endpoints and the batch status/cancel endpoints over real HTTP."""

from __future__ import annotations

import pytest

from runtype_provider.testing.state import SCHEDULE_FIELDS

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)
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


def test_create_validates_the_flat_body(api, surface):
    body = api("POST", BASE, json={"cron": "0 9 * * 1"}, expect=400)
    assert [(d["path"], d["code"]) for d in body["details"]] == [
        ("flowId", "MISSING_REQUIRED_FIELD"),
        ("triggerType", "MISSING_REQUIRED_FIELD"),
    ]
    body = api("POST", BASE, json={"flowId": "f", "triggerType": "one_time"}, expect=400)
    assert [(d["path"], d["code"]) for d in body["details"]] == [("runAt", "MISSING_REQUIRED_FIELD")]
