"""Fault injection: each kind, counting, wildcard, after_effect, and the request log."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import requests

from runtype_provider.testing import LocalRuntype
from runtype_provider.testing.fake.app import ROUTES
from runtype_provider.testing.fake.faults import OPERATIONS

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)


@pytest.fixture
def schedule_id(runtype_server):
    return runtype_server.seed_schedule(record_ids=["a", "b"])["id"]


def run_count(runtype_server, schedule_id) -> int:
    return len(runtype_server.state.list_schedule_runs(schedule_id)["data"])


def test_every_route_has_a_distinct_operation_name():
    assert sorted(operation for _, _, operation in ROUTES) == sorted(OPERATIONS)
    assert len(set(OPERATIONS)) == 29


@pytest.mark.parametrize(("method", "path", "operation"), [route[:3] for route in ROUTES])
def test_each_route_is_logged_and_faulted_under_its_own_operation(api, runtype_server, method, path, operation):
    concrete = path.format(
        schedule_id="sch_x", run_id="run_x", batch_id="batch_x", product_id="p", surface_id="s", record_id="rec_x"
    )
    runtype_server.inject_fault(operation, "server_error", status=502)
    response = api.raw(method, concrete, json={} if method in ("POST", "PUT") else None)
    assert response.status_code == 502
    assert runtype_server.requests[-1]["operation"] == operation
    assert runtype_server.faults == []


def test_rate_limit_returns_429_with_retry_after_once(api, runtype_server):
    runtype_server.inject_fault("list_schedules", "rate_limit", retry_after=7)
    response = api.raw("GET", "/v1/schedules")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "Rate limit exceeded"
    assert response.json()["details"][0]["code"] == "RATE_LIMITED"
    assert api.raw("GET", "/v1/schedules").status_code == 200


def test_server_error_default_status_and_times(api, runtype_server):
    runtype_server.inject_fault("list_schedules", "server_error", times=2)
    assert [api.raw("GET", "/v1/schedules").status_code for _ in range(3)] == [503, 503, 200]
    runtype_server.inject_fault("list_schedules", "server_error", status=500)
    response = api.raw("GET", "/v1/schedules")
    assert (response.status_code, response.json()["error"]) == (500, "Internal Server Error")


def test_slow_delays_then_answers_normally(api, runtype_server):
    runtype_server.inject_fault("list_schedules", "slow", delay=0.3)
    began = time.monotonic()
    assert api.raw("GET", "/v1/schedules").status_code == 200
    assert time.monotonic() - began >= 0.3
    began = time.monotonic()
    api.raw("GET", "/v1/schedules")
    assert time.monotonic() - began < 0.3


def test_slow_makes_a_client_time_out_but_the_run_is_still_created(runtype_server, schedule_id):
    runtype_server.inject_fault("run_schedule_now", "slow", delay=0.4, after_effect=True)
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{runtype_server.url}/v1/schedules/{schedule_id}/run-now",
            headers={"Authorization": f"Bearer {runtype_server.api_key}"},
            timeout=0.1,
        )
    assert run_count(runtype_server, schedule_id) == 1


def test_malformed_body_is_not_json(api, runtype_server):
    runtype_server.inject_fault("list_schedules", "malformed")
    response = api.raw("GET", "/v1/schedules")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    runtype_server.inject_fault("list_schedules", "malformed", body="<html>oops</html>")
    assert api.raw("GET", "/v1/schedules").text == "<html>oops</html>"


def test_malformed_after_effect_truncates_the_real_response(api, runtype_server, schedule_id):
    runtype_server.inject_fault("run_schedule_now", "malformed", after_effect=True)
    response = api.raw("POST", f"/v1/schedules/{schedule_id}/run-now")
    assert response.text.startswith('{"batchExecutionId":"batch_')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert run_count(runtype_server, schedule_id) == 1


@pytest.mark.parametrize("after_effect", [False, True])
def test_server_error_after_effect_decides_whether_the_run_exists(api, runtype_server, schedule_id, after_effect):
    runtype_server.inject_fault("run_schedule_now", "server_error", status=500, after_effect=after_effect)
    assert api.raw("POST", f"/v1/schedules/{schedule_id}/run-now").status_code == 500
    assert run_count(runtype_server, schedule_id) == (1 if after_effect else 0)


def test_drop_is_a_connection_error_for_requests(api, runtype_server, schedule_id):
    api("GET", "/v1/schedules")  # a kept-alive connection is reused by the next request
    runtype_server.inject_fault("run_schedule_now", "drop", after_effect=True)
    with pytest.raises(requests.ConnectionError):
        api.raw("POST", f"/v1/schedules/{schedule_id}/run-now")
    assert run_count(runtype_server, schedule_id) == 1
    assert api.raw("GET", "/v1/schedules").status_code == 200
    entry = runtype_server.requests[-2]
    assert (entry["operation"], entry["fault"], entry["status"]) == ("run_schedule_now", "drop", None)


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_drop_is_a_transport_error_for_httpx_on_both_uvicorn_protocols(http):
    with LocalRuntype(http=http) as server:
        schedule_id = server.seed_schedule()["id"]
        headers = {"Authorization": f"Bearer {server.api_key}"}
        server.inject_fault("run_schedule_now", "drop", times=3)
        with httpx.Client(base_url=server.url, headers=headers, timeout=5) as client:
            assert client.get("/v1/schedules").status_code == 200
            with pytest.raises(httpx.TransportError):
                client.post(f"/v1/schedules/{schedule_id}/run-now")
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{server.url}/v1/schedules/{schedule_id}/run-now", headers=headers, timeout=5)

        async def async_call() -> None:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=5) as client:
                await client.post(f"/v1/schedules/{schedule_id}/run-now")

        with pytest.raises(httpx.TransportError):
            asyncio.run(async_call())
        assert server.faults == []
        assert server.state.list_schedule_runs(schedule_id)["data"] == []


def test_wildcard_applies_to_any_operation_and_specific_ones_only_to_theirs(api, runtype_server, schedule_id):
    runtype_server.inject_fault("get_schedule_stats", "server_error")
    assert api.raw("GET", f"/v1/schedules/{schedule_id}").status_code == 200
    runtype_server.clear_faults()
    runtype_server.inject_fault("*", "rate_limit", times=None)
    assert api.raw("GET", f"/v1/schedules/{schedule_id}").status_code == 429
    assert api.raw("POST", "/v1/batch/cancel/batch_x").status_code == 429
    assert [fault["remaining"] for fault in runtype_server.faults] == [None]
    runtype_server.clear_faults()
    assert api.raw("GET", f"/v1/schedules/{schedule_id}").status_code == 200


def test_faults_apply_before_authentication(runtype_server):
    runtype_server.inject_fault("list_schedules", "rate_limit")
    assert requests.get(runtype_server.url + "/v1/schedules", timeout=5).status_code == 429
    assert requests.get(runtype_server.url + "/v1/schedules", timeout=5).status_code == 401


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("list_everything", "drop"), {}, "unknown operation"),
        (("list_schedules", "explode"), {}, "unknown fault kind"),
        (("list_schedules", "drop", 0), {}, "times"),
        (("list_schedules", "server_error"), {"status": 200}, "status"),
        (("list_schedules", "rate_limit"), {"retry_after": -1}, "retry_after"),
        (("list_schedules", "slow"), {"delay": -1}, "delay"),
        (("list_schedules", "drop", True), {}, "times"),
        (("list_schedules", "server_error"), {"status": True}, "status"),
        (("list_schedules", "rate_limit"), {"retry_after": False}, "retry_after"),
        (("list_schedules", "slow"), {"delay": float("nan")}, "delay"),
        (("list_schedules", "slow"), {"delay": float("inf")}, "delay"),
        (("list_schedules", "malformed"), {"body": {"not": "text"}}, "body"),
    ],
)
def test_inject_fault_validates_its_arguments(runtype_server, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        runtype_server.inject_fault(*args, **kwargs)


def test_request_log_records_api_calls_but_not_admin_calls(api, admin, runtype_server, schedule_id):
    runtype_server.clear_requests()
    api("GET", "/v1/schedules", params={"limit": "5"})
    api("GET", "/v1/schedules/runs/all")
    api("GET", "/v1/schedules/sch_missing", expect=404)
    admin("GET", "/_local/health")
    log = [
        (e["method"], e["path"], e["query"], e["operation"], e["status"], e["fault"]) for e in runtype_server.requests
    ]
    assert log == [
        ("GET", "/v1/schedules", "limit=5", "list_schedules", 200, None),
        ("GET", "/v1/schedules/runs/all", "", "list_all_schedule_runs", 200, None),
        ("GET", "/v1/schedules/sch_missing", "", "get_schedule", 404, None),
    ]
    assert set(runtype_server.requests[0]) == {"method", "path", "query", "operation", "status", "fault", "body"}


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("daily_limit", 429, "DAILY_LIMIT_EXCEEDED"), ("payment_required", 402, "QUOTA_EXCEEDED")],
)
def test_plan_limit_faults_answer_like_the_api(api, runtype_server, kind, status, code):
    runtype_server.inject_fault("submit_batch", kind, retry_after=90)
    response = api.raw("POST", "/v1/batch/flow", json={"flowId": "f", "recordIds": ["r"]})
    assert (response.status_code, response.json()["code"], response.json()["upgradeUrl"]) == (
        status, code, "/settings/billing",
    )  # fmt: skip
    if kind == "daily_limit":
        assert (response.headers["Retry-After"], response.headers["X-Quota-Remaining"]) == ("90", "0")
    assert runtype_server.requests[-1]["fault"] == kind
    assert api("POST", "/v1/batch/flow", json={"flowId": "f", "recordIds": ["r"]})["status"] == "queued"
