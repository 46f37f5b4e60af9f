"""Documented error statuses and bodies of the local Runtype: 400, 401, 402, 403, 404 (and 405)."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0, read_only_api_key="rt_test_readonly")

VALID = {"target": {"flowId": "flow_1"}, "trigger": {"type": "recurring", "cron": "0 8 * * *"}}


def assert_error_body(body: dict) -> None:
    assert isinstance(body["error"], str) and body["error"]
    assert body["details"], body
    for item in body["details"]:
        assert {"message", "path", "code"} <= set(item)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer rt_test_wrong", "rt_test_local_demo_key", "Basic rt_test_local_demo_key", "Bearer"],
)
def test_missing_or_invalid_bearer_key_is_401(runtype_server, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(runtype_server.url + "/v1/schedules", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert_error_body(body)
    assert body["details"][0]["code"] == "INVALID_API_KEY"


def test_read_only_key_may_read_but_not_write(runtype_server):
    schedule_id = runtype_server.seed_schedule()["id"]
    session = requests.Session()
    session.headers["Authorization"] = "Bearer rt_test_readonly"
    assert session.get(f"{runtype_server.url}/v1/schedules/{schedule_id}", timeout=5).status_code == 200
    for method, path in (
        ("POST", "/v1/schedules"),
        ("POST", f"/v1/schedules/{schedule_id}/run-now"),
        ("DELETE", f"/v1/schedules/{schedule_id}"),
    ):
        response = session.request(method, runtype_server.url + path, json=VALID, timeout=5)
        assert response.status_code == 403
        assert_error_body(response.json())
    assert runtype_server.state.list_schedule_runs(schedule_id)["data"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, [("target", "MISSING_REQUIRED_FIELD"), ("trigger", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "target": {"recordType": "company"}}, [("target.flowId", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "target": {"flowId": "f", "agentId": "a"}}, [("target.flowId", "CONFLICTING_FIELDS")]),
        ({**VALID, "trigger": {"type": "recurring"}}, [("trigger.cron", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "trigger": {"type": "recurring", "cron": "every day"}}, [("trigger.cron", "INVALID_CRON")]),
        ({**VALID, "trigger": {"type": "one_time"}}, [("trigger.runAt", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "trigger": {"type": "one_time", "runAt": "tomorrow"}}, [("trigger.runAt", "INVALID_FORMAT")]),
        ({**VALID, "trigger": {"type": "weekly", "cron": "0 8 * * *"}}, [("trigger.type", "INVALID_ENUM")]),
        (
            {**VALID, "trigger": {**VALID["trigger"], "timezone": "Nowhere/City"}},
            [("trigger.timezone", "INVALID_TIMEZONE")],
        ),
        ({**VALID, "target": {"flowId": "f", "recordIds": ["a", 2]}}, [("target.recordIds", "INVALID_TYPE")]),
        ({**VALID, "executionOptions": []}, [("executionOptions", "INVALID_TYPE")]),
        ({**VALID, "target": "flow_1"}, [("target", "INVALID_TYPE")]),
        ([VALID], [("", "INVALID_TYPE")]),
    ],
)
def test_create_validation_errors_are_400_with_details(api, body, expected):
    response = api("POST", "/v1/schedules", json=body, expect=400)
    assert_error_body(response)
    assert [(item["path"], item["code"]) for item in response["details"]] == expected


def test_update_validates_the_merged_schedule(api, runtype_server):
    schedule_id = runtype_server.seed_schedule()["id"]
    response = api("PUT", f"/v1/schedules/{schedule_id}", json={"trigger": {"type": "one_time"}}, expect=400)
    assert [(d["path"], d["code"]) for d in response["details"]] == [("trigger.runAt", "MISSING_REQUIRED_FIELD")]
    assert api("GET", f"/v1/schedules/{schedule_id}")["triggerType"] == "recurring"


def test_invalid_json_body_is_400(api):
    response = api("POST", "/v1/schedules", data="{not json", headers={"Content-Type": "application/json"}, expect=400)
    assert response["details"][0]["code"] == "INVALID_JSON"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/schedules", {"limit": "0"}, "limit"),
        ("/v1/schedules", {"limit": "101"}, "limit"),
        ("/v1/schedules", {"limit": "ten"}, "limit"),
        ("/v1/schedules", {"status": "deleted"}, "status"),
        ("/v1/schedules", {"view": "tiny"}, "view"),
        ("/v1/schedules", {"cursor": "garbage"}, "cursor"),
        ("/v1/schedules/runs/all", {"direction": "sideways"}, "direction"),
        ("/v1/schedules/runs/all", {"cursor": "cur_!!"}, "cursor"),
        ("/v1/schedules/sparklines", {"ids": ",".join(f"s{i}" for i in range(101))}, "ids"),
    ],
)
def test_bad_query_parameters_are_400(api, path, params, field):
    response = api("GET", path, params=params, expect=400)
    assert response["details"][0]["path"] == field


def test_bad_offset_on_results_is_400(api, runtype_server):
    schedule_id = runtype_server.seed_schedule()["id"]
    batch_id = api("POST", f"/v1/schedules/{schedule_id}/run-now")["batchExecutionId"]
    assert api("GET", f"/v1/schedules/batch/{batch_id}/results", params={"offset": "-1"}, expect=400)
    assert api("GET", f"/v1/schedules/batch/{batch_id}/results", params={"limit": "500"}, expect=400)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/schedules/sch_missing"),
        ("PUT", "/v1/schedules/sch_missing"),
        ("DELETE", "/v1/schedules/sch_missing"),
        ("POST", "/v1/schedules/sch_missing/pause"),
        ("POST", "/v1/schedules/sch_missing/resume"),
        ("POST", "/v1/schedules/sch_missing/run-now"),
        ("GET", "/v1/schedules/sch_missing/runs"),
        ("GET", "/v1/schedules/sch_missing/stats"),
        ("GET", "/v1/schedules/runs/run_missing/results"),
        ("GET", "/v1/schedules/batch/batch_missing/results"),
        ("GET", "/v1/batch/status/batch_missing"),
        ("POST", "/v1/batch/cancel/batch_missing"),
        ("GET", "/v1/products/prod_missing/surfaces/surf_1/schedules"),
        ("GET", "/v1/no/such/route"),
    ],
)
def test_unknown_resources_are_404(api, method, path):
    body = api(method, path, json={"name": "x"} if method == "PUT" else None, expect=404)
    assert_error_body(body)
    assert body["details"][0]["code"] == "NOT_FOUND"


def test_unsupported_method_is_405_with_an_error_body(api):
    body = api("PATCH", "/v1/schedules", expect=405)
    assert body["error"] == "Method Not Allowed"


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, max_active_schedules=1)
def test_active_schedule_limit_is_402_on_create_and_resume(api):
    first = api("POST", "/v1/schedules", json=VALID)["id"]
    body = api("POST", "/v1/schedules", json=VALID, expect=402)
    assert body == {
        "error": "Active schedule limit reached",
        "details": [],
        "code": "ACTIVE_SCHEDULE_LIMIT",
        "message": "Your plan allows 1 active schedules. Pause one or upgrade your plan.",
        "upgradeUrl": "/settings/billing",
    }
    api("POST", f"/v1/schedules/{first}/pause")
    second = api("POST", "/v1/schedules", json=VALID)["id"]
    assert api("POST", f"/v1/schedules/{first}/resume", expect=402)["code"] == "ACTIVE_SCHEDULE_LIMIT"
    api("POST", f"/v1/schedules/{second}/pause")
    assert api("POST", f"/v1/schedules/{first}/resume") == {"status": "resumed"}
