"""What goes over the wire: the documented error statuses and bodies (400, 401, 402, 403, 404 and 405), both
pagination styles across several pages, and the list filters (search, status, view=compact)."""

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


# ---------------------------------------------------------------------------- pagination and list filters


def test_list_schedules_cursor_pages_forward_and_back(api, runtype_server):
    ids = [runtype_server.seed_schedule(schedule_id=f"sch_{i}")["id"] for i in range(7)][::-1]  # newest first
    pages = [api("GET", "/v1/schedules", params={"limit": "3"})]
    while pages[-1]["pagination"]["hasMore"]:
        pages.append(
            api("GET", "/v1/schedules", params={"limit": "3", "cursor": pages[-1]["pagination"]["nextCursor"]})
        )
    assert [[s["id"] for s in page["data"]] for page in pages] == [ids[0:3], ids[3:6], ids[6:7]]
    summary = [
        {
            key: page["pagination"][key]
            for key in ("currentOffset", "currentPage", "hasMore", "hasPrev", "totalCount", "totalPages")
        }
        for page in pages
    ]
    assert summary == [
        {"currentOffset": 0, "currentPage": 1, "hasMore": True, "hasPrev": False, "totalCount": 7, "totalPages": 3},
        {"currentOffset": 3, "currentPage": 2, "hasMore": True, "hasPrev": True, "totalCount": 7, "totalPages": 3},
        {"currentOffset": 6, "currentPage": 3, "hasMore": False, "hasPrev": True, "totalCount": 7, "totalPages": 3},
    ]
    assert pages[0]["pagination"]["prevCursor"] is None and pages[-1]["pagination"]["nextCursor"] is None
    assert all(page["pagination"]["limit"] == 3 for page in pages)

    back = api("GET", "/v1/schedules", params={"limit": "3", "cursor": pages[2]["pagination"]["prevCursor"]})
    assert [s["id"] for s in back["data"]] == ids[3:6]
    back = api("GET", "/v1/schedules", params={"limit": "3", "cursor": back["pagination"]["prevCursor"]})
    assert [s["id"] for s in back["data"]] == ids[0:3]
    assert back["pagination"]["hasPrev"] is False


def test_list_schedules_default_limit_is_50(api, runtype_server):
    for _ in range(51):
        runtype_server.seed_schedule()
    page = api("GET", "/v1/schedules")
    assert (len(page["data"]), page["pagination"]["limit"], page["pagination"]["hasMore"]) == (50, 50, True)
    assert len(api("GET", "/v1/schedules", params={"limit": "100"})["data"]) == 51


def test_list_all_runs_pages_with_direction(api, runtype_server):
    first = runtype_server.seed_schedule()["id"]
    second = runtype_server.seed_schedule()["id"]
    run_ids = [api("POST", f"/v1/schedules/{sid}/run-now")["runId"] for sid in (first, second, first, second, first)]
    newest_first = run_ids[::-1]
    page1 = api("GET", "/v1/schedules/runs/all", params={"limit": "2"})
    page2 = api(
        "GET",
        "/v1/schedules/runs/all",
        params={"limit": "2", "cursor": page1["pagination"]["nextCursor"], "direction": "next"},
    )
    page3 = api("GET", "/v1/schedules/runs/all", params={"limit": "2", "cursor": page2["pagination"]["nextCursor"]})
    assert [[r["id"] for r in page["data"]] for page in (page1, page2, page3)] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    assert [page["pagination"]["hasMore"] for page in (page1, page2, page3)] == [True, True, False]
    assert {r["scheduleId"] for r in page1["data"] + page2["data"] + page3["data"]} == {first, second}

    prev = api(
        "GET",
        "/v1/schedules/runs/all",
        params={"limit": "2", "cursor": page3["pagination"]["prevCursor"], "direction": "prev"},
    )
    assert [r["id"] for r in prev["data"]] == newest_first[2:4]
    assert (prev["pagination"]["currentOffset"], prev["pagination"]["hasPrev"]) == (2, True)


def test_results_offset_pagination_and_status_filter(api, runtype_server):
    schedule_id = runtype_server.seed_schedule(record_type="company", record_count=7, failure_share=0.3)["id"]
    batch_id = api("POST", f"/v1/schedules/{schedule_id}/run-now")["batchExecutionId"]
    path = f"/v1/schedules/batch/{batch_id}/results"
    pages = [api("GET", path, params={"limit": "3", "offset": str(offset)}) for offset in (0, 3, 6)]
    assert [page["pagination"] for page in pages] == [
        {"hasMore": True, "limit": 3, "offset": 0, "total": 7},
        {"hasMore": True, "limit": 3, "offset": 3, "total": 7},
        {"hasMore": False, "limit": 3, "offset": 6, "total": 7},
    ]
    assert [row["recordId"] for page in pages for row in page["data"]] == [f"rec_company_{i}" for i in range(1, 8)]

    failed = api("GET", path, params={"status": "failed"})
    # floor(7 * 0.3) = 2 failures, at the indexes i where floor((i + 1) * 0.3) > floor(i * 0.3): 3 and 6
    assert [row["recordId"] for row in failed["data"]] == ["rec_company_4", "rec_company_7"]
    assert failed["pagination"]["total"] == 2
    completed = api("GET", path, params={"status": "completed", "limit": "2", "offset": "2"})
    assert [row["recordId"] for row in completed["data"]] == ["rec_company_3", "rec_company_5"]
    assert completed["pagination"] == {"hasMore": True, "limit": 2, "offset": 2, "total": 5}
    assert api("GET", path, params={"offset": "50"})["data"] == []


def test_search_status_and_compact_view(api, runtype_server):
    long_name = "Nightly " + "x" * 120
    runtype_server.seed_schedule(schedule_id="sch_a", name=long_name)
    runtype_server.seed_schedule(schedule_id="sch_b", name="Weekday sync", enabled=False)
    runtype_server.seed_schedule(schedule_id="sch_c", name=None)

    assert [s["id"] for s in api("GET", "/v1/schedules", params={"search": "nightly"})["data"]] == ["sch_a"]
    assert [s["id"] for s in api("GET", "/v1/schedules", params={"status": "paused"})["data"]] == ["sch_b"]
    active = api("GET", "/v1/schedules", params={"status": "active"})
    assert [s["id"] for s in active["data"]] == ["sch_c", "sch_a"]
    assert active["pagination"]["totalCount"] == 2

    full = api("GET", "/v1/schedules", params={"search": "nightly", "view": "full"})["data"][0]
    compact = api("GET", "/v1/schedules", params={"search": "nightly", "view": "compact"})["data"][0]
    assert full["name"] == long_name
    assert compact["name"] == long_name[:100] + "…"
    assert compact["id"] == "sch_a"


def test_cursor_pages_do_not_shift_when_schedules_are_added(state):
    for index in range(4):
        state.seed_schedule(schedule_id=f"sch_{index}")
    first = state.list_schedules({"limit": "2"})
    state.seed_schedule(schedule_id="sch_new")
    second = state.list_schedules({"limit": "2", "cursor": first["pagination"]["nextCursor"]})
    assert [s["id"] for s in first["data"]] == ["sch_3", "sch_2"]
    assert [s["id"] for s in second["data"]] == ["sch_1", "sch_0"]
    assert second["pagination"]["hasMore"] is False
