"""The ``/_local/`` admin routes that let another process drive a running local Runtype."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)


def test_health_needs_no_auth(admin):
    assert admin("GET", "/_local/health") == {"status": "ok"}


def test_seed_and_configure_a_schedule_then_run_it_through_the_api(admin, api):
    seeded = admin("POST", "/_local/schedules", json={"schedule_id": "sch_adm", "record_ids": ["a", "b", "c"]})
    assert seeded["id"] == "sch_adm"
    assert api("GET", "/v1/schedules/sch_adm")["recordIds"] == ["a", "b", "c"]
    sim = admin("PATCH", "/_local/schedules/sch_adm", json={"failing_record_ids": ["c", "a"]})
    assert sim["failing_record_ids"] == ["a", "c"]
    run_id = api("POST", "/v1/schedules/sch_adm/run-now")["runId"]
    failed = api("GET", f"/v1/schedules/runs/{run_id}/results", params={"status": "failed"})["data"]
    assert [row["recordId"] for row in failed] == ["a", "c"]


def test_add_surface(admin, api):
    assert admin("POST", "/_local/surfaces", json={"product_id": "p", "surface_id": "s"})["type"] == "schedule"
    assert api("GET", "/v1/products/p/surfaces/s/schedules") == {"data": []}


def test_config_can_be_read_and_changed_and_reset_restores_it(admin):
    assert admin("GET", "/_local/config")["running_seconds"] == 0
    assert admin("PUT", "/_local/config", json={"running_seconds": 5, "failure_share": 0.5})["running_seconds"] == 5
    assert admin("GET", "/_local/config")["failure_share"] == 0.5
    admin("POST", "/_local/reset")
    assert admin("GET", "/_local/config")["running_seconds"] == 0


def test_faults_can_be_armed_listed_and_cleared(admin, api):
    fault = admin("POST", "/_local/faults", json={"operation": "list_schedules", "kind": "rate_limit", "times": 2})
    assert (fault["operation"], fault["kind"], fault["remaining"]) == ("list_schedules", "rate_limit", 2)
    assert api.raw("GET", "/v1/schedules").status_code == 429
    assert [f["remaining"] for f in admin("GET", "/_local/faults")["data"]] == [1]
    assert admin("DELETE", "/_local/faults") == {"success": True}
    assert admin("GET", "/_local/faults")["data"] == []
    assert api.raw("GET", "/v1/schedules").status_code == 200


def test_request_log_can_be_read_and_cleared(admin, api):
    api("GET", "/v1/schedules")
    log = admin("GET", "/_local/requests")["data"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/v1/schedules", 200)]
    admin("DELETE", "/_local/requests")
    assert admin("GET", "/_local/requests")["data"] == []


def test_reset_forgets_everything(admin, api, runtype_server):
    runtype_server.seed_schedule(schedule_id="sch_gone")
    runtype_server.inject_fault("get_schedule", "server_error")
    assert admin("POST", "/_local/reset") == {"success": True}
    assert admin("GET", "/_local/faults")["data"] == []
    api("GET", "/v1/schedules/sch_gone", expect=404)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_local/schedules", {"unknown_option": 1}),
        ("POST", "/_local/schedules", {"run_outcome": "exploded"}),
        ("POST", "/_local/faults", {"operation": "list_schedules", "kind": "explode"}),
        ("POST", "/_local/faults", {"kind": "drop"}),
        ("PUT", "/_local/config", {"running_seconds": -1}),
        ("PUT", "/_local/config", {"no_such_setting": 1}),
        ("PATCH", "/_local/schedules/sch_missing", {"failure_share": 0.5}),
        ("POST", "/_local/surfaces", {"product_id": "p", "surface_id": "s", "type": "fax"}),
        ("POST", "/_local/schedules", ["not", "an", "object"]),
    ],
)
def test_bad_admin_requests_are_400(admin, method, path, body):
    response = admin(method, path, json=body, expect=400)
    assert response["error"]


def test_invalid_json_on_an_admin_route_is_400(admin):
    assert admin("POST", "/_local/schedules", data="{", expect=400)["details"][0]["code"] == "INVALID_JSON"
