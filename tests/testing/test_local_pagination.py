"""Both pagination styles across several pages, and the list filters (search, status, view=compact)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)


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
