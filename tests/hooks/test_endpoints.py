"""runtype_provider.hooks.endpoints: every endpoint method of RuntypeHook (sync with requests-mock, async with
respx), the errors of every documented code, paging wiring, empty answers and ids on the wire.

Payloads are the examples of the API reference (``runtype-api.md``); nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import respx
from requests_mock import ANY as requests_mock_any

from runtype_provider.api.responses import (
    BatchCancelResult,
    BatchCost,
    BatchRecordStep,
    BatchStatus,
    BatchSubmitted,
    BatchSummary,
    DeleteResult,
    RecordCost,
    RecordResult,
    RecordResultPage,
    RunNowResult,
    Schedule,
    ScheduleCreated,
    SchedulePage,
    ScheduleRun,
    ScheduleRunPage,
    ScheduleSparkline,
    ScheduleState,
    ScheduleStats,
    ScheduleUpdated,
    SurfaceRunNowResult,
    SurfaceSchedule,
)
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeAuthError,
    RuntypeConfigurationError,
    RuntypeDailyLimitError,
    RuntypeEntitlementError,
    RuntypeException,
    RuntypeNotFoundError,
    RuntypeRateLimitError,
    RuntypeResponseError,
    RuntypeScheduleNotFoundError,
    RuntypeServerError,
    api_error_class,
)
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.runs.reference import RunReference
from runtype_provider.version_compat import AirflowException, AirflowNotFoundException

BASE = "https://api.runtype.com"
NO_BODY = object()

# ---- example payloads (runtype-api.md), kept once in tests/data ------------------------------------

EXAMPLES = json.loads((Path(__file__).resolve().parents[1] / "data" / "runtype_api_examples.json").read_text())
SCHEDULE_ITEM = EXAMPLES["schedule"]
LIST_SCHEDULES = EXAMPLES["schedule_list_page"]
GET_SCHEDULE = EXAMPLES["schedule_details"]
RUN_ITEM = EXAMPLES["run"]
LIST_ALL_RUNS = EXAMPLES["all_runs_page"]
RUN_RESULTS = EXAMPLES["run_results_page"]
BATCH_RESULTS = EXAMPLES["batch_results_page"]
SPARKLINES = EXAMPLES["sparklines"]
STATS = EXAMPLES["stats"]
SURFACE_ITEM = EXAMPLES["surface_schedule"]
SURFACE_CREATED = EXAMPLES["surface_schedule_created"]
SURFACE_DETAILS = EXAMPLES["surface_schedule_details"]
BATCH_STATUS = EXAMPLES["batch_status"]
RECORD_FILTER = {"type": "company", "where": {"field": "tier", "op": "eq", "value": "gold"}}
SURFACE = "/v1/products/prod_1/surfaces/surf_1/schedules"


def api_key_in_use() -> str:
    return json.loads(os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"])["password"]


def query(request: Any) -> dict[str, str]:
    """The exact query string of a recorded request (values not lower-cased, single values)."""
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def assert_request(request: Any, method: str, path: str, params: dict | None = None, body: Any = NO_BODY) -> None:
    assert request.method == method
    assert urlsplit(str(request.url)).path == path
    assert query(request) == (params or {})
    assert request.headers["Authorization"] == f"Bearer {api_key_in_use()}"
    content = request.body if hasattr(request, "body") else request.content
    if body is NO_BODY:
        assert not content
    else:
        assert json.loads(content) == body


def shared_progress(hook: RuntypeHook, run: RunReference) -> Any:
    """A deferred wait's read of ``run`` (through :meth:`RuntypeHook.shared`, as the trigger reads)."""

    async def main() -> Any:
        async with RuntypeHook.shared(hook.runtype_conn_id, **hook.overrides) as reads:
            return await reads.get_run_progress_async(run)

    return asyncio.run(main())


def run_async(hook: RuntypeHook, awaitable: Any) -> Any:
    async def main() -> Any:
        try:
            return await awaitable
        finally:
            await hook.aclose()

    return asyncio.run(main())


# ---- global schedules: success ---------------------------------------------------------------------


def test_list_schedules_page_sends_filters_and_returns_page(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules", json=LIST_SCHEDULES)
    page = hook.list_schedules_page(cursor="cur_1", page_size=10, search="Nightly", status="active", view="compact")
    assert_request(
        requests_mock.last_request,
        "GET",
        "/v1/schedules",
        {"limit": "10", "cursor": "cur_1", "search": "Nightly", "status": "active", "view": "compact"},
    )
    assert isinstance(page, SchedulePage)
    assert isinstance(page.data[0], Schedule)
    assert (page.data[0].id, page.data[0].name, page.data[0].cron) == ("sch_123", "Nightly enrichment", "0 8 * * *")
    assert page.data[0].execution_options == {"chunkSize": 200, "recordConcurrency": 25}
    assert (page.pagination.has_more, page.pagination.total_count, page.pagination.limit) == (False, 1, 50)


def test_list_schedules_yields_typed_schedules(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules", json=LIST_SCHEDULES)
    schedules = list(hook.list_schedules(status="paused"))
    assert_request(requests_mock.last_request, "GET", "/v1/schedules", {"limit": "100", "status": "paused"})
    assert [type(s) for s in schedules] == [Schedule]
    assert (schedules[0].id, schedules[0].enabled, schedules[0].record_type) == ("sch_123", True, "company")


def test_create_schedule_sends_the_documented_body(hook, requests_mock):
    requests_mock.post(f"{BASE}/v1/schedules", json={"id": "sch_123", "status": "created"})
    created = hook.create_schedule(
        flow_id="flow_01jv0000000000000000000001",
        record_type="company",
        cron="*/5 * * * *",
        timezone="America/Los_Angeles",
        execution_options={"chunkSize": 200, "progressFlushSize": 25, "recordConcurrency": 25, "timeoutMs": 900000},
    )
    expected_body = {
        "executionOptions": {"chunkSize": 200, "progressFlushSize": 25, "recordConcurrency": 25, "timeoutMs": 900000},
        "target": {"flowId": "flow_01jv0000000000000000000001", "recordType": "company"},
        "trigger": {"cron": "*/5 * * * *", "timezone": "America/Los_Angeles", "type": "recurring"},
    }
    assert_request(requests_mock.last_request, "POST", "/v1/schedules", body=expected_body)
    assert requests_mock.last_request.headers["Content-Type"] == "application/json"
    assert created == ScheduleCreated(id="sch_123", status="created")


def test_create_schedule_for_an_agent_one_time(hook, requests_mock):
    requests_mock.post(f"{BASE}/v1/schedules", json={"id": "sch_7", "status": "created"})
    hook.create_schedule(
        agent_id="agent_1",
        run_at=datetime(2025, 2, 1, 9, 0, tzinfo=timezone.utc),
        name="Once",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert requests_mock.last_request.json() == {
        "target": {"agentId": "agent_1"},
        "trigger": {"type": "one_time", "runAt": "2025-02-01T09:00:00Z"},
        "name": "Once",
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_get_schedule_returns_schedule(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/sch_123", json=GET_SCHEDULE)
    schedule = hook.get_schedule("sch_123")
    assert_request(requests_mock.last_request, "GET", "/v1/schedules/sch_123")
    assert isinstance(schedule, Schedule)
    assert (schedule.name, schedule.cron, schedule.timezone) == ("Weekday sync", "0 8 * * 1-5", "America/New_York")
    assert (schedule.record_ids, schedule.execution_options, schedule.last_run_at) == (["rec_1"], {}, None)


def test_update_schedule_sends_only_the_changes(hook, requests_mock):
    requests_mock.put(f"{BASE}/v1/schedules/sch_123", json={"id": "sch_123", "status": "updated"})
    updated = hook.update_schedule("sch_123", cron="0 * * * *", timezone="UTC")
    body = {"trigger": {"cron": "0 * * * *", "timezone": "UTC", "type": "recurring"}}
    assert_request(requests_mock.last_request, "PUT", "/v1/schedules/sch_123", body=body)
    assert updated == ScheduleUpdated(id="sch_123", status="updated")


def test_delete_schedule(hook, requests_mock):
    requests_mock.delete(f"{BASE}/v1/schedules/sch_123", json={"success": True})
    result = hook.delete_schedule("sch_123")
    assert_request(requests_mock.last_request, "DELETE", "/v1/schedules/sch_123")
    assert result == DeleteResult(success=True)


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_schedule(hook, requests_mock, action):
    answer = {"pause": "paused", "resume": "resumed"}[action]
    requests_mock.post(f"{BASE}/v1/schedules/sch_123/{action}", json={"status": answer})
    state = getattr(hook, f"{action}_schedule")("sch_123")
    assert_request(requests_mock.last_request, "POST", f"/v1/schedules/sch_123/{action}")
    assert state == ScheduleState(status=answer)


def test_run_schedule_now_returns_run_and_batch_ids(hook, requests_mock):
    requests_mock.post(
        f"{BASE}/v1/schedules/sch_123/run-now",
        json={"batchExecutionId": "batch_abc", "error": None, "runId": "run_001", "status": "queued"},
    )
    result = hook.run_schedule_now("sch_123")
    assert_request(requests_mock.last_request, "POST", "/v1/schedules/sch_123/run-now")
    assert result == RunNowResult(status="queued", run_id="run_001", batch_execution_id="batch_abc", error=None)


def test_list_schedule_runs_returns_runs(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/sch_123/runs", json={"data": [RUN_ITEM]})
    runs = hook.list_schedule_runs("sch_123")
    assert_request(requests_mock.last_request, "GET", "/v1/schedules/sch_123/runs")
    assert [type(r) for r in runs] == [ScheduleRun]
    run = runs[0]
    assert (run.id, run.status, run.batch_execution_id, run.schedule_id) == (
        "run_001",
        "completed",
        "batch_abc",
        "sch_123",
    )
    assert (run.total_records, run.processed_records, run.failed_records) == (100, 98, 2)


def test_list_all_schedule_runs_page(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/runs/all", json=LIST_ALL_RUNS)
    page = hook.list_all_schedule_runs_page(cursor="cur_0", page_size=20, direction="next")
    assert_request(
        requests_mock.last_request,
        "GET",
        "/v1/schedules/runs/all",
        {"limit": "20", "cursor": "cur_0", "direction": "next"},
    )
    assert isinstance(page, ScheduleRunPage)
    assert (page.data[0].id, page.data[0].status) == ("run_002", "queued")
    assert (page.pagination.has_more, page.pagination.next_cursor, page.pagination.current_page) == (
        True,
        "cur_x",
        None,
    )


def test_get_run_results_page(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/runs/run_001/results", json=RUN_RESULTS)
    page = hook.get_run_results_page("run_001", offset=0, page_size=50)
    assert_request(
        requests_mock.last_request, "GET", "/v1/schedules/runs/run_001/results", {"limit": "50", "offset": "0"}
    )
    assert isinstance(page, RecordResultPage)
    row = page.data[0]
    assert isinstance(row, RecordResult)
    assert (row.record_id, row.status, row.record.name, row.result) == ("rec_1", "success", "Acme", {"summary": "ok"})
    assert (row.duration_ms, row.execution_engine, row.record_result_id) == (1200, "runtime", "res_1")
    assert page.summary.records_with_failed_steps == 0
    assert (page.pagination.offset, page.pagination.total, page.pagination.has_more) == (0, 1, False)


def test_get_batch_results_page_with_status_filter(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/batch/batch_abc/results", json=BATCH_RESULTS)
    page = hook.get_batch_results_page("batch_abc", offset=0, page_size=1, status="failed")
    assert_request(
        requests_mock.last_request,
        "GET",
        "/v1/schedules/batch/batch_abc/results",
        {"limit": "1", "offset": "0", "status": "failed"},
    )
    row = page.data[0]
    assert (row.record_id, row.status, row.error, row.failed_at) == (
        "rec_2",
        "failed",
        "Timeout",
        "2025-01-11T08:00:05Z",
    )
    assert (page.pagination.has_more, page.pagination.total, page.summary.records_with_failed_steps) == (True, 2, 1)


def test_get_schedule_sparklines_joins_ids(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/sparklines", json=SPARKLINES)
    sparklines = hook.get_schedule_sparklines(["sch_123", "sch_456"])
    assert_request(requests_mock.last_request, "GET", "/v1/schedules/sparklines", {"ids": "sch_123,sch_456"})
    assert [type(s) for s in sparklines] == [ScheduleSparkline]
    assert sparklines[0].schedule_id == "sch_123"
    assert [(d.date, d.runs, d.failed) for d in sparklines[0].last7_days] == [
        ("2025-01-05", 1, 0),
        ("2025-01-06", 1, 1),
    ]


def test_get_schedule_stats(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/sch_123/stats", json=STATS)
    stats = hook.get_schedule_stats("sch_123")
    assert_request(requests_mock.last_request, "GET", "/v1/schedules/sch_123/stats")
    assert isinstance(stats, ScheduleStats)
    assert (stats.total, stats.completed, stats.failed, stats.success_rate) == (42, 40, 2, 0.952)
    assert (stats.avg_duration_ms, stats.avg_cost_usd, stats.avg_billed_cost_usd) == (18250.5, 0.005, 0.004)
    assert (stats.avg_self_reported_cost_usd, stats.unpriced_executions) == (0, 0)
    assert [(d.date, d.runs) for d in stats.last7_days] == [("2025-01-11", 6)]


# ---- product-surface schedules: success -------------------------------------------------------------


def test_list_surface_schedules(hook, requests_mock):
    requests_mock.get(f"{BASE}{SURFACE}", json={"data": [SURFACE_ITEM]})
    schedules = hook.list_surface_schedules("prod_1", "surf_1")
    assert_request(requests_mock.last_request, "GET", SURFACE)
    assert [type(s) for s in schedules] == [SurfaceSchedule]
    assert (schedules[0].id, schedules[0].flow_name, schedules[0].product_surface_id) == (
        "sch_9",
        "Weekly digest",
        "surf_1",
    )


def test_create_surface_schedule_sends_flat_body(hook, requests_mock):
    requests_mock.post(f"{BASE}{SURFACE}", json=SURFACE_CREATED)
    schedule = hook.create_surface_schedule(
        "prod_1",
        "surf_1",
        flow_id="flow_123",
        run_at="2025-02-01T09:00:00Z",
        timezone="UTC",
        execution_options={"record_concurrency": 10, "logging_policy": "off"},
        record_filter=RECORD_FILTER,
        record_type="company",
    )
    body = {
        "flowId": "flow_123",
        "triggerType": "one_time",
        "runAt": "2025-02-01T09:00:00Z",
        "timezone": "UTC",
        "executionOptions": {"recordConcurrency": 10, "loggingPolicy": "off"},
        "recordFilter": RECORD_FILTER,
        "recordType": "company",
    }
    assert_request(requests_mock.last_request, "POST", SURFACE, body=body)
    assert isinstance(schedule, SurfaceSchedule)
    assert (schedule.id, schedule.trigger_type, schedule.run_at) == ("sch_10", "one_time", "2025-02-01T09:00:00Z")
    assert (schedule.record_filter, schedule.recent_runs) == (RECORD_FILTER, [])


def test_get_surface_schedule_has_recent_runs(hook, requests_mock):
    requests_mock.get(f"{BASE}{SURFACE}/sch_9", json=SURFACE_DETAILS)
    schedule = hook.get_surface_schedule("prod_1", "surf_1", "sch_9")
    assert_request(requests_mock.last_request, "GET", f"{SURFACE}/sch_9")
    assert (schedule.flow_name, schedule.cron) == ("Daily data sync", "0 8 * * *")
    run = schedule.recent_runs[0]
    assert (run.id, run.status, run.batch_execution_id, run.completed_at) == (
        "run_001",
        "completed",
        "batch_abc",
        "2025-01-11T08:02:00Z",
    )


def test_update_surface_schedule_sends_only_the_changes(hook, requests_mock):
    requests_mock.put(f"{BASE}{SURFACE}/sch_9", json={**SURFACE_ITEM, "enabled": False})
    schedule = hook.update_surface_schedule("prod_1", "surf_1", "sch_9", enabled=False, record_ids=["rec_1"])
    assert_request(
        requests_mock.last_request, "PUT", f"{SURFACE}/sch_9", body={"enabled": False, "recordIds": ["rec_1"]}
    )
    assert (type(schedule), schedule.enabled) == (SurfaceSchedule, False)


def test_delete_surface_schedule(hook, requests_mock):
    requests_mock.delete(f"{BASE}{SURFACE}/sch_9", json={"success": True})
    assert hook.delete_surface_schedule("prod_1", "surf_1", "sch_9") == DeleteResult(success=True)
    assert_request(requests_mock.last_request, "DELETE", f"{SURFACE}/sch_9")


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_surface_schedule(hook, requests_mock, action):
    answer = {"pause": "paused", "resume": "resumed"}[action]
    requests_mock.post(f"{BASE}{SURFACE}/sch_9/{action}", json={"status": answer})
    state = getattr(hook, f"{action}_surface_schedule")("prod_1", "surf_1", "sch_9")
    assert_request(requests_mock.last_request, "POST", f"{SURFACE}/sch_9/{action}")
    assert state == ScheduleState(status=answer)


def test_run_surface_schedule_now_sends_empty_object(hook, requests_mock):
    requests_mock.post(
        f"{BASE}{SURFACE}/sch_9/run-now",
        json={"batchExecutionId": "a3f47b9e-8c2d-4f1a-9b7e-2d5f3c6a1e4b", "recordCount": 125, "status": "queued"},
    )
    result = hook.run_surface_schedule_now("prod_1", "surf_1", "sch_9")
    assert_request(requests_mock.last_request, "POST", f"{SURFACE}/sch_9/run-now", body={})
    assert result == SurfaceRunNowResult(
        batch_execution_id="a3f47b9e-8c2d-4f1a-9b7e-2d5f3c6a1e4b", record_count=125, status="queued"
    )


# ---- batch executions -------------------------------------------------------------------------------


def test_get_batch_status(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/status/b7f3c9d2", json=BATCH_STATUS)
    status = hook.get_batch_status("b7f3c9d2")
    assert_request(requests_mock.last_request, "GET", "/v1/batch/status/b7f3c9d2")
    assert isinstance(status, BatchStatus)
    assert (status.batch_execution_id, status.status, status.progress) == ("b7f3c9d2", "completed", 100)
    assert (status.total_records, status.processed_records, status.failed_records, status.success_count) == (
        50,
        50,
        2,
        48,
    )
    assert status.model_extra == {"results": [None]}


def test_cancel_batch(hook, requests_mock):
    requests_mock.post(f"{BASE}/v1/batch/cancel/b7f3c9d2", json={"message": "Cancelled", "success": True})
    result = hook.cancel_batch("b7f3c9d2")
    assert_request(requests_mock.last_request, "POST", "/v1/batch/cancel/b7f3c9d2")
    assert result == BatchCancelResult(success=True, message="Cancelled")


BATCH_COST = {
    "batchExecutionId": "b7f3c9d2",
    "billedCostThousandthsCent": 1234,
    "billedCostUsd": 0.01234,
    "selfReportedCostUsd": 0,
    "totalCostUsd": 0.0421,
    "unpricedExecutions": 2,
}
BATCH_SUMMARY_ITEM = {
    "id": "b1",
    "flowName": "Enrich company",
    "status": "running",
    "progress": 40,
    "processedRecords": 4,
    "failedRecords": 1,
    "totalRecords": 10,
    "startedAt": "2025-01-11T08:00:00Z",
}
STEP = {
    "id": "step_1",
    "batchExecutionId": "b1",
    "recordId": "r1",
    "stepName": "Enrich",
    "stepType": "prompt",
    "status": "failed",
    "order": 1,
    "errorMessage": "Timeout",
    "totalTokens": 120,
    "createdAt": "2025-01-11T08:00:00Z",
    "userId": "user_1",
}


def test_submit_batch_sends_the_documented_body(hook, requests_mock):
    requests_mock.post(f"{BASE}/v1/batch/flow", json={"batchExecutionId": "b7f3c9d2", "status": "queued"})
    submitted = hook.submit_batch(
        flow_id="flow_1", record_ids=["r1", "r2"], options={"max_retries": 3, "recordConcurrency": 10}
    )
    body = {"flowId": "flow_1", "options": {"maxRetries": 3, "recordConcurrency": 10}, "recordIds": ["r1", "r2"]}
    assert_request(requests_mock.last_request, "POST", "/v1/batch/flow", body=body)
    assert submitted == BatchSubmitted(batch_execution_id="b7f3c9d2", status="queued")


def test_submit_batch_is_not_retried_after_it_may_have_reached_the_server(runtype_conn, sleeps, requests_mock):
    requests_mock.post(f"{BASE}/v1/batch/flow", status_code=503, json={"error": "busy"})
    with pytest.raises(RuntypeServerError):
        RuntypeHook(retry_limit=3).submit_batch(flow_id="f", record_ids=["r1"])
    assert requests_mock.call_count == 1


def test_submit_batch_is_retried_on_a_burst_429(runtype_conn, sleeps, requests_mock):
    requests_mock.post(
        f"{BASE}/v1/batch/flow",
        [
            {"status_code": 429, "json": {"error": "Rate limit exceeded"}, "headers": {"Retry-After": "1"}},
            {"json": {"batchExecutionId": "b1", "status": "queued"}},
        ],
    )
    assert RuntypeHook(retry_limit=3).submit_batch(flow_id="f", record_ids=["r1"]).batch_execution_id == "b1"
    assert requests_mock.call_count == 2


def test_submit_batch_refuses_bad_arguments_before_any_request(hook, requests_mock):
    with pytest.raises(RuntypeConfigurationError, match="'record_ids' has 10000000 items"):
        hook.submit_batch(flow_id="f", record_ids=["r"] * 10_000_000)
    with pytest.raises(RuntypeConfigurationError, match="'schedule_id' not accepted by batches"):
        hook.submit_batch(flow_id="f", record_ids=["r"], schedule_id="s")
    assert requests_mock.call_count == 0


def test_get_batch_summary(hook, requests_mock):
    answer = {"activeBatches": 1, "batches": [BATCH_SUMMARY_ITEM], "recent": [], "recentlyCompleted": 0}
    requests_mock.get(f"{BASE}/v1/batch/summary", json=answer)
    summary = hook.get_batch_summary()
    assert_request(requests_mock.last_request, "GET", "/v1/batch/summary")
    assert isinstance(summary, BatchSummary)
    item = summary.batches[0]
    assert (item.id, item.flow_name, item.progress, item.processed_records, item.total_records) == (
        "b1", "Enrich company", 40, 4, 10,
    )  # fmt: skip
    assert (summary.active_batches, summary.recent) == (1, [])


def test_get_batch_cost(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/b7f3c9d2/cost", json=BATCH_COST)
    cost = hook.get_batch_cost("b7f3c9d2")
    assert_request(requests_mock.last_request, "GET", "/v1/batch/b7f3c9d2/cost")
    assert isinstance(cost, BatchCost)
    assert (cost.total_cost_usd, cost.billed_cost_usd, cost.billed_cost_thousandths_cent) == (0.0421, 0.01234, 1234)
    assert (cost.self_reported_cost_usd, cost.unpriced_executions) == (0, 2)


def test_get_batch_cost_async(hook):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/b7f3c9d2/cost").respond(200, json=BATCH_COST)
        cost = run_async(hook, hook.get_batch_cost_async("b7f3c9d2"))
    assert_request(route.calls.last.request, "GET", "/v1/batch/b7f3c9d2/cost")
    assert (type(cost), cost.total_cost_usd) == (BatchCost, 0.0421)


def test_get_batch_record_cost(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/b1/records/r1/cost", json={**BATCH_COST, "recordId": "r1"})
    cost = hook.get_batch_record_cost("b1", "r1")
    assert_request(requests_mock.last_request, "GET", "/v1/batch/b1/records/r1/cost")
    assert (type(cost), cost.record_id, cost.total_cost_usd) == (RecordCost, "r1", 0.0421)


def test_list_batch_record_steps(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/b1/records/r1/steps", json={"data": [STEP]})
    steps = hook.list_batch_record_steps("b1", "r1")
    assert_request(requests_mock.last_request, "GET", "/v1/batch/b1/records/r1/steps")
    assert [(type(s), s.step_name, s.status, s.error_message, s.total_tokens) for s in steps] == [
        (BatchRecordStep, "Enrich", "failed", "Timeout", 120)
    ]
    assert steps[0].model_extra == {"userId": "user_1"}


@pytest.mark.parametrize("cost", [-0.01, float("nan"), float("inf"), "lots"])
def test_a_negative_or_not_finite_cost_is_a_response_error(hook, requests_mock, cost):
    content = json.dumps({**BATCH_COST, "totalCostUsd": cost}).encode()  # NaN and Infinity as Python writes them
    requests_mock.get(f"{BASE}/v1/batch/b1/cost", content=content)
    with pytest.raises(RuntypeResponseError, match="GET /v1/batch/b1/cost returned an unexpected body: totalCostUsd"):
        hook.get_batch_cost("b1")


# ---- async variants (respx) -------------------------------------------------------------------------


def test_get_batch_status_async(hook):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b7f3c9d2").respond(200, json=BATCH_STATUS)
        status = run_async(hook, hook.get_batch_status_async("b7f3c9d2"))
    assert_request(route.calls.last.request, "GET", "/v1/batch/status/b7f3c9d2")
    assert route.call_count == 1
    assert (type(status), status.status, status.failed_records, status.total_records) == (
        BatchStatus,
        "completed",
        2,
        50,
    )


def test_cancel_batch_async(hook):
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/batch/cancel/b7f3c9d2").respond(200, json={"message": "Cancelled", "success": True})
        result = run_async(hook, hook.cancel_batch_async("b7f3c9d2"))
    assert_request(route.calls.last.request, "POST", "/v1/batch/cancel/b7f3c9d2")
    assert result == BatchCancelResult(success=True, message="Cancelled")


def test_list_schedule_runs_async(hook):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/schedules/sch_123/runs").respond(200, json={"data": [RUN_ITEM]})
        runs = run_async(hook, hook.list_schedule_runs_async("sch_123"))
    assert_request(route.calls.last.request, "GET", "/v1/schedules/sch_123/runs")
    assert [(type(r), r.id, r.status) for r in runs] == [(ScheduleRun, "run_001", "completed")]


def test_async_sends_the_same_headers_as_sync(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/status/b1", json=BATCH_STATUS)
    hook.get_batch_status("b1")
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1").respond(200, json=BATCH_STATUS)
        run_async(hook, hook.get_batch_status_async("b1"))
    names = ("Authorization", "Accept", "User-Agent", "X-Runtype-Client")
    sync_headers = {n: requests_mock.last_request.headers[n] for n in names}
    assert {n: route.calls.last.request.headers[n] for n in names} == sync_headers
    assert sync_headers["Accept"] == "application/json"
    assert sync_headers["User-Agent"].startswith("airflow-provider-runtype/")


# ---- arguments checked before any request -------------------------------------------------------------


def test_ids_are_url_quoted_in_paths(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/a%2Fb%3Fc/stats", json=STATS)
    hook.get_schedule_stats("a/b?c")
    assert requests_mock.last_request.url == f"{BASE}/v1/schedules/a%2Fb%3Fc/stats"


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda h: h.get_schedule(""), "schedule_id"),
        (lambda h: h.run_schedule_now("  "), "schedule_id"),
        (lambda h: h.get_batch_status(None), "batch_id"),
        (lambda h: h.get_run_results_page(""), "run_id"),
        (lambda h: h.list_surface_schedules("", "surf_1"), "product_id"),
        (lambda h: h.run_surface_schedule_now("prod_1", "", "sch_9"), "surface_id"),
        (lambda h: h.list_schedules_page(page_size=0), "page_size"),
        (lambda h: h.list_schedules(page_size=101), "page_size"),
        (lambda h: h.get_batch_results("b1", page_size=True), "page_size"),
        (lambda h: h.list_schedules(status="stopped"), "status"),
        (lambda h: h.list_schedules_page(view="tiny"), "view"),
        (lambda h: h.list_all_schedule_runs_page(direction="up"), "direction"),
        (lambda h: h.get_schedule_sparklines([]), "schedule_ids"),
        (lambda h: h.get_schedule_sparklines("sch_1"), "schedule_ids"),
        (lambda h: h.get_schedule_sparklines([f"s{i}" for i in range(101)]), "schedule_ids"),
        (lambda h: h.create_schedule(cron="* * * * *"), "flow_id"),
        (lambda h: h.update_schedule("sch_1"), "at least one field"),
        (lambda h: h.create_surface_schedule("prod_1", "surf_1", cron="* * * * *"), "flow_id"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_arguments_are_refused_by_name_before_any_request(hook, requests_mock, call, argument):
    with pytest.raises(RuntypeConfigurationError, match=argument):
        call(hook)
    assert requests_mock.call_count == 0


# ---- errors: every documented code of every endpoint ----------------------------------------------------

ENDPOINTS: list[tuple[str, Any, str, str, tuple[int, ...]]] = [
    ("list_schedules_page", lambda h: h.list_schedules_page(), "GET", "/v1/schedules", (400, 401, 403)),
    (
        "create_schedule",
        lambda h: h.create_schedule(flow_id="f", cron="* * * * *"),
        "POST",
        "/v1/schedules",
        (400, 401, 402, 403, 404, 500),
    ),
    (
        "get_batch_results_page",
        lambda h: h.get_batch_results_page("b1"),
        "GET",
        "/v1/schedules/batch/b1/results",
        (401, 403, 404),
    ),
    (
        "list_all_schedule_runs_page",
        lambda h: h.list_all_schedule_runs_page(),
        "GET",
        "/v1/schedules/runs/all",
        (400, 401, 403),
    ),
    (
        "get_run_results_page",
        lambda h: h.get_run_results_page("r1"),
        "GET",
        "/v1/schedules/runs/r1/results",
        (401, 403, 404),
    ),
    (
        "get_schedule_sparklines",
        lambda h: h.get_schedule_sparklines(["s1"]),
        "GET",
        "/v1/schedules/sparklines",
        (401, 403),
    ),
    ("get_schedule", lambda h: h.get_schedule("s1"), "GET", "/v1/schedules/s1", (400, 401, 403, 404)),
    (
        "update_schedule",
        lambda h: h.update_schedule("s1", name="n"),
        "PUT",
        "/v1/schedules/s1",
        (400, 401, 402, 403, 404),
    ),
    ("delete_schedule", lambda h: h.delete_schedule("s1"), "DELETE", "/v1/schedules/s1", (400, 401, 403)),
    ("pause_schedule", lambda h: h.pause_schedule("s1"), "POST", "/v1/schedules/s1/pause", (400, 401, 403)),
    ("resume_schedule", lambda h: h.resume_schedule("s1"), "POST", "/v1/schedules/s1/resume", (400, 401, 402, 403)),
    (
        "run_schedule_now",
        lambda h: h.run_schedule_now("s1"),
        "POST",
        "/v1/schedules/s1/run-now",
        (400, 401, 403, 404, 429),
    ),
    ("list_schedule_runs", lambda h: h.list_schedule_runs("s1"), "GET", "/v1/schedules/s1/runs", (400, 401, 403, 404)),
    ("get_schedule_stats", lambda h: h.get_schedule_stats("s1"), "GET", "/v1/schedules/s1/stats", (400, 401, 403, 404)),
    (
        "list_surface_schedules",
        lambda h: h.list_surface_schedules("prod_1", "surf_1"),
        "GET",
        SURFACE,
        (400, 401, 404, 500),
    ),
    (
        "create_surface_schedule",
        lambda h: h.create_surface_schedule("prod_1", "surf_1", flow_id="f", cron="* * * * *"),
        "POST",
        SURFACE,
        (400, 401, 404, 500),
    ),
    (
        "get_surface_schedule",
        lambda h: h.get_surface_schedule("prod_1", "surf_1", "s1"),
        "GET",
        f"{SURFACE}/s1",
        (400, 401, 404, 500),
    ),
    (
        "update_surface_schedule",
        lambda h: h.update_surface_schedule("prod_1", "surf_1", "s1", enabled=True),
        "PUT",
        f"{SURFACE}/s1",
        (400, 401, 404, 500),
    ),
    (
        "delete_surface_schedule",
        lambda h: h.delete_surface_schedule("prod_1", "surf_1", "s1"),
        "DELETE",
        f"{SURFACE}/s1",
        (400, 401, 404, 500),
    ),
    (
        "pause_surface_schedule",
        lambda h: h.pause_surface_schedule("prod_1", "surf_1", "s1"),
        "POST",
        f"{SURFACE}/s1/pause",
        (400, 401, 404, 500),
    ),
    (
        "resume_surface_schedule",
        lambda h: h.resume_surface_schedule("prod_1", "surf_1", "s1"),
        "POST",
        f"{SURFACE}/s1/resume",
        (400, 401, 404, 500),
    ),
    (
        "run_surface_schedule_now",
        lambda h: h.run_surface_schedule_now("prod_1", "surf_1", "s1"),
        "POST",
        f"{SURFACE}/s1/run-now",
        (400, 401, 402, 404, 429, 500),
    ),
    ("get_batch_status", lambda h: h.get_batch_status("b1"), "GET", "/v1/batch/status/b1", (400, 401, 403, 404, 500)),
    ("cancel_batch", lambda h: h.cancel_batch("b1"), "POST", "/v1/batch/cancel/b1", (400, 401, 403, 500)),
    (
        "submit_batch",
        lambda h: h.submit_batch(flow_id="f", record_ids=["r1"]),
        "POST",
        "/v1/batch/flow",
        (400, 401, 402, 403, 429, 500),
    ),
    ("get_batch_summary", lambda h: h.get_batch_summary(), "GET", "/v1/batch/summary", (401, 403, 500)),
    ("get_batch_cost", lambda h: h.get_batch_cost("b1"), "GET", "/v1/batch/b1/cost", (400, 401, 403, 404, 500)),
    (
        "get_batch_record_cost",
        lambda h: h.get_batch_record_cost("b1", "r1"),
        "GET",
        "/v1/batch/b1/records/r1/cost",
        (400, 401, 403, 404, 500),
    ),
    (
        "list_batch_record_steps",
        lambda h: h.list_batch_record_steps("b1", "r1"),
        "GET",
        "/v1/batch/b1/records/r1/steps",
        (400, 401, 403, 500),
    ),
]
ERROR_CLASSES = {
    400: RuntypeApiError,
    401: RuntypeAuthError,
    402: RuntypeEntitlementError,
    403: RuntypeAuthError,
    404: RuntypeNotFoundError,
    429: RuntypeRateLimitError,
    500: RuntypeServerError,
}
ERROR_CASES = [
    pytest.param(call, method, path, code, id=f"{name}-{code}")
    for name, call, method, path, codes in ENDPOINTS
    for code in codes
]


def test_error_table_covers_every_hook_endpoint_method():
    """The error table has one row per endpoint: 14 global, 8 surface, 7 batch."""
    assert len(ENDPOINTS) == 29
    assert {name for name, *_ in ENDPOINTS} <= set(dir(RuntypeHook))


def error_body(code: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": f"Problem {code}",
        "details": [{"message": "is not valid", "path": "trigger.cron", "code": "INVALID_CRON"}],
    }
    if code == 402:
        body.update(code="ACTIVE_SCHEDULE_LIMIT", message="Upgrade to add schedules", upgradeUrl="/settings/billing")
    return body


@pytest.mark.parametrize(("call", "method", "path", "code"), ERROR_CASES)
def test_documented_error_codes_map_to_typed_errors(runtype_conn, sleeps, requests_mock, call, method, path, code):
    requests_mock.register_uri(method, f"{BASE}{path}", status_code=code, json=error_body(code))
    with pytest.raises(RuntypeException) as caught:
        call(RuntypeHook(retry_limit=0))
    err = caught.value
    assert type(err) is ERROR_CLASSES[code]
    assert isinstance(err, AirflowException)
    assert (err.method, err.path, err.status_code, err.error) == (method, path, code, f"Problem {code}")
    assert err.details == [{"message": "is not valid", "path": "trigger.cron", "code": "INVALID_CRON"}]
    text = f"Runtype API {method} {path} returned HTTP {code}: Problem {code} (trigger.cron: is not valid)"
    if code == 402:  # a plan limit or billing: the message says so and what to do
        text += (
            ". This is a plan limit or billing problem (quota used up, or no valid payment method) (code "
            "'ACTIVE_SCHEDULE_LIMIT'): Upgrade to add schedules. To go on: raise the plan or fix billing in the "
            "Runtype dashboard, or free what counts against the limit; retrying will not help until then "
            "(billing: '/settings/billing')"
        )
    assert str(err) == text
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, RuntypeApiError),
        (401, RuntypeAuthError),
        (402, RuntypeEntitlementError),
        (403, RuntypeAuthError),
        (404, RuntypeNotFoundError),
        (408, RuntypeApiError),
        (409, RuntypeApiError),
        (422, RuntypeApiError),
        (429, RuntypeRateLimitError),
        (500, RuntypeServerError),
        (502, RuntypeServerError),
        (503, RuntypeServerError),
        (504, RuntypeServerError),
    ],
)
def test_api_error_class(status, error_class):
    assert api_error_class(status) is error_class


def test_error_message_without_server_text(hook, requests_mock):
    requests_mock.delete(f"{BASE}/v1/schedules/s1", status_code=400, text="")
    with pytest.raises(RuntypeApiError) as caught:
        hook.delete_schedule("s1")
    assert str(caught.value) == "Runtype API DELETE /v1/schedules/s1 returned HTTP 400"
    assert (caught.value.error, caught.value.details) == (None, [])


def test_entitlement_error_carries_code_and_upgrade_url(hook, requests_mock):
    requests_mock.post(f"{BASE}/v1/schedules/s1/resume", status_code=402, json=error_body(402))
    with pytest.raises(RuntypeEntitlementError) as caught:
        hook.resume_schedule("s1")
    assert (caught.value.code, caught.value.upgrade_url) == ("ACTIVE_SCHEDULE_LIMIT", "/settings/billing")


def test_not_found_is_also_airflow_not_found(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/nope", status_code=404, json={"error": "Schedule not found"})
    with pytest.raises(AirflowNotFoundException, match="GET /v1/schedules/nope returned HTTP 404: Schedule not found"):
        hook.get_schedule("nope")


DAILY_LIMIT = {
    "error": "Daily execution limit reached",
    "code": "DAILY_LIMIT_EXCEEDED",
    "message": "Your plan's daily execution limit is reached.",
    "upgradeUrl": "/settings/billing",
}


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (DAILY_LIMIT, {"Retry-After": "3600"}),
        ({"error": "Too many requests", "code": "SLOW_MODE_HOURLY_LIMIT_EXCEEDED"}, {"Retry-After": "1800"}),
        ({"error": "Quota exceeded"}, {}),
        ({"error": "Too many requests"}, {"X-Quota-Remaining": "0"}),
    ],
    ids=["daily-code", "slow-mode", "quota-text", "quota-header"],
)
def test_a_daily_limit_429_says_so_and_what_to_do(runtype_conn, sleeps, requests_mock, body, headers):
    requests_mock.post(f"{BASE}/v1/batch/flow", status_code=429, json=body, headers=headers)
    with pytest.raises(RuntypeDailyLimitError) as caught:
        RuntypeHook(retry_limit=3).submit_batch(flow_id="f", record_ids=["r1"])
    err = caught.value
    assert isinstance(err, RuntypeRateLimitError) and isinstance(err, RuntypeEntitlementError)
    assert "the plan's execution limit for the day" in str(err)
    assert "To go on: wait until the limit resets" in str(err)
    assert requests_mock.call_count == 1  # a quota, not a burst: never retried


def test_a_daily_limit_message_names_the_wait_code_and_billing_page(runtype_conn, sleeps, requests_mock):
    requests_mock.post(f"{BASE}/v1/batch/flow", status_code=429, json=DAILY_LIMIT, headers={"Retry-After": "3600"})
    with pytest.raises(RuntypeDailyLimitError) as caught:
        RuntypeHook(retry_limit=0).submit_batch(flow_id="f", record_ids=["r1"])
    assert str(caught.value) == (
        "Runtype API POST /v1/batch/flow returned HTTP 429: Daily execution limit reached. This is the plan's "
        "execution limit for the day (or the free tier's hourly slow-mode limit) being reached (code "
        "'DAILY_LIMIT_EXCEEDED'): Your plan's daily execution limit is reached. To go on: wait until the limit "
        "resets (the server says in 3600 s), submit fewer records, or raise the plan (billing: '/settings/billing')"
    )
    assert (caught.value.code, caught.value.upgrade_url, caught.value.retry_after) == (
        "DAILY_LIMIT_EXCEEDED", "/settings/billing", 3600.0,
    )  # fmt: skip


def test_a_burst_429_stays_a_plain_rate_limit_error(runtype_conn, sleeps, requests_mock):
    requests_mock.post(
        f"{BASE}/v1/batch/flow", status_code=429, json={"error": "Rate limit exceeded", "code": "RATE_LIMITED"}
    )
    with pytest.raises(RuntypeRateLimitError) as caught:
        RuntypeHook(retry_limit=0).submit_batch(flow_id="f", record_ids=["r1"])
    assert type(caught.value) is RuntypeRateLimitError
    assert str(caught.value) == "Runtype API POST /v1/batch/flow returned HTTP 429: Rate limit exceeded"


def test_rate_limit_error_carries_retry_after(runtype_conn, sleeps, requests_mock):
    requests_mock.post(
        f"{BASE}/v1/schedules/s1/run-now", status_code=429, headers={"Retry-After": "12"}, json={"error": "Slow down"}
    )
    with pytest.raises(RuntypeRateLimitError) as caught:
        RuntypeHook(retry_limit=0).run_schedule_now("s1")
    assert caught.value.retry_after == 12.0


def test_error_without_json_body_uses_the_text(runtype_conn, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", status_code=502, text="<html>Bad gateway</html>")
    with pytest.raises(RuntypeServerError) as caught:
        RuntypeHook(retry_limit=0).get_schedule("s1")
    assert (caught.value.status_code, caught.value.error) == (502, "<html>Bad gateway</html>")
    assert str(caught.value) == "Runtype API GET /v1/schedules/s1 returned HTTP 502: <html>Bad gateway</html>"


def test_success_with_a_body_that_is_not_json_is_a_response_error(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", status_code=200, text="not json")
    with pytest.raises(
        RuntypeResponseError, match="GET /v1/schedules/s1 returned HTTP 200 with a body that is not JSON"
    ):
        hook.get_schedule("s1")


def test_success_with_the_wrong_shape_names_the_field(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", json={"name": "no id"})
    with pytest.raises(
        RuntypeResponseError, match="GET /v1/schedules/s1 returned an unexpected body: id: Field required"
    ):
        hook.get_schedule("s1")


@pytest.mark.parametrize(
    ("code", "error_class"), [(401, RuntypeAuthError), (404, RuntypeNotFoundError), (500, RuntypeServerError)]
)
def test_async_errors_map_to_the_same_classes(runtype_conn, sleeps, code, error_class):
    hook = RuntypeHook(retry_limit=0)
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/batch/status/b1").respond(code, json={"error": "Nope", "details": [{"message": "m"}]})
        with pytest.raises(error_class) as caught:
            run_async(hook, hook.get_batch_status_async("b1"))
    err = caught.value
    assert (err.method, err.path, err.status_code, err.error, err.details) == (
        "GET",
        "/v1/batch/status/b1",
        code,
        "Nope",
        [{"message": "m"}],
    )
    assert str(err) == f"Runtype API GET /v1/batch/status/b1 returned HTTP {code}: Nope (m)"


# ---- pagination -------------------------------------------------------------------------------------------


def cursor_page(ids: list[str], next_cursor: str | None, has_more: bool, item: dict) -> dict:
    return {
        "data": [{**item, "id": i} for i in ids],
        "pagination": {
            "hasMore": has_more,
            "hasPrev": False,
            "limit": 2,
            "currentOffset": 0,
            "nextCursor": next_cursor,
        },
    }


def offset_page(ids: list[str], offset: int, has_more: bool, total: int = 5) -> dict:
    row = RUN_RESULTS["data"][0]
    return {
        "data": [{**row, "recordId": i} for i in ids],
        "pagination": {"hasMore": has_more, "limit": 2, "offset": offset, "total": total},
    }


@pytest.mark.parametrize(
    ("method_name", "path", "item"),
    [
        ("list_schedules", "/v1/schedules", SCHEDULE_ITEM),
        ("list_all_schedule_runs", "/v1/schedules/runs/all", RUN_ITEM),
    ],
)
def test_cursor_pagination_follows_next_cursor_until_has_more_is_false(hook, requests_mock, method_name, path, item):
    requests_mock.get(
        f"{BASE}{path}",
        [
            {"json": cursor_page(["a", "b"], "c1", True, item)},
            {"json": cursor_page(["c", "d"], "c2", True, item)},
            {"json": cursor_page(["e"], None, False, item)},
        ],
    )
    rows = getattr(hook, method_name)(page_size=2)
    assert requests_mock.call_count == 0  # lazy: nothing is asked for before the first row
    assert [row.id for row in rows] == ["a", "b", "c", "d", "e"]
    assert [query(r) for r in requests_mock.request_history] == [
        {"limit": "2"},
        {"limit": "2", "cursor": "c1"},
        {"limit": "2", "cursor": "c2"},
    ]


@pytest.mark.parametrize(
    ("method_name", "path"),
    [("get_run_results", "/v1/schedules/runs/r1/results"), ("get_batch_results", "/v1/schedules/batch/r1/results")],
)
def test_offset_pagination_advances_by_rows_received(hook, requests_mock, method_name, path):
    requests_mock.get(
        f"{BASE}{path}",
        [
            {"json": offset_page(["r1", "r2"], 0, True)},
            {"json": offset_page(["r3"], 2, True)},
            {"json": offset_page(["r4", "r5"], 3, False)},
        ],
    )
    rows = getattr(hook, method_name)("r1", page_size=2, status="failed")
    assert requests_mock.call_count == 0  # lazy: nothing is asked for before the first row
    assert [r.record_id for r in rows] == ["r1", "r2", "r3", "r4", "r5"]
    assert [query(r) for r in requests_mock.request_history] == [
        {"limit": "2", "offset": "0", "status": "failed"},
        {"limit": "2", "offset": "2", "status": "failed"},
        {"limit": "2", "offset": "3", "status": "failed"},
    ]


@pytest.mark.parametrize(
    ("method_name", "path", "item"),
    [
        ("list_schedules", "/v1/schedules", SCHEDULE_ITEM),
        ("list_all_schedule_runs", "/v1/schedules/runs/all", RUN_ITEM),
    ],
)
def test_an_endless_stream_of_fresh_cursors_ends_at_the_page_cap(hook, requests_mock, method_name, path, item):
    fresh = iter(range(10**9))
    requests_mock.get(
        f"{BASE}{path}", json=lambda request, context: cursor_page([f"r{next(fresh)}"], f"c{next(fresh)}", True, item)
    )
    rows = getattr(hook, method_name)(max_pages=7)
    with pytest.raises(RuntypeResponseError, match=f"GET {path} still had more rows after 7 pages \\(7 rows\\)"):
        for _ in rows:
            pass
    assert requests_mock.call_count == 7


@pytest.mark.parametrize(
    ("method_name", "path"),
    [("get_run_results", "/v1/schedules/runs/r1/results"), ("get_batch_results", "/v1/schedules/batch/r1/results")],
)
def test_an_endless_stream_of_has_more_ends_at_the_page_cap(hook, requests_mock, method_name, path):
    def page(request: Any, context: Any) -> dict:
        offset = int(query(request)["offset"])
        answer = offset_page([f"r{offset}"], offset, True)
        answer["pagination"]["total"] = None
        return answer

    requests_mock.get(f"{BASE}{path}", json=page)
    with pytest.raises(RuntypeResponseError, match=r"still had more rows after 5 pages .* raise 'max_pages'"):
        list(getattr(hook, method_name)("r1", max_pages=5))
    assert requests_mock.call_count == 5


@pytest.mark.parametrize(
    "call",
    [
        lambda h, n: h.list_schedules(max_pages=n),
        lambda h, n: h.list_all_schedule_runs(max_pages=n),
        lambda h, n: h.get_run_results("r1", max_pages=n),
        lambda h, n: h.get_batch_results("b1", max_pages=n),
        lambda h, n: h.iter_run_results(RunReference(batch_execution_id="b1"), max_pages=n),
    ],
)
@pytest.mark.parametrize("max_pages", [0])  # every kind of bad value: tests/api/test_paging.py
def test_a_bad_page_cap_is_refused_by_name_before_any_request(hook, requests_mock, call, max_pages):
    with pytest.raises(RuntypeConfigurationError, match=r"^'max_pages' must be a positive integer"):
        call(hook, max_pages)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("call", "path", "body"),
    [
        (lambda h: h.list_schedules(), "/v1/schedules", LIST_SCHEDULES),
        (lambda h: h.list_all_schedule_runs(), "/v1/schedules/runs/all", {**LIST_ALL_RUNS, "pagination": {}}),
        (lambda h: h.get_run_results("r1"), "/v1/schedules/runs/r1/results", RUN_RESULTS),
        (lambda h: h.get_batch_results("b1"), "/v1/schedules/batch/b1/results", RUN_RESULTS),
        (lambda h: h.iter_run_results(RunReference(run_id="r1")), "/v1/schedules/runs/r1/results", RUN_RESULTS),
    ],
    ids=["list_schedules", "list_all_schedule_runs", "get_run_results", "get_batch_results", "iter_run_results"],
)
def test_iterators_ask_for_the_largest_page_by_default(hook, requests_mock, call, path, body):
    requests_mock.get(f"{BASE}{path}", json=body)
    list(call(hook))
    assert requests_mock.last_request.qs["limit"] == ["100"]


# ---- empty answers (HTTP 204) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "method", "path", "expected"),
    [
        (lambda h: h.delete_schedule("s1"), "DELETE", "/v1/schedules/s1", DeleteResult(success=True)),
        (lambda h: h.delete_surface_schedule("p1", "f1", "s1"), "DELETE", "/v1/products/p1/surfaces/f1/schedules/s1",
         DeleteResult(success=True)),
        (lambda h: h.pause_schedule("s1"), "POST", "/v1/schedules/s1/pause", ScheduleState(status=None)),
        (lambda h: h.resume_schedule("s1"), "POST", "/v1/schedules/s1/resume", ScheduleState(status=None)),
        (lambda h: h.pause_surface_schedule("p1", "f1", "s1"), "POST",
         "/v1/products/p1/surfaces/f1/schedules/s1/pause", ScheduleState(status=None)),
        (lambda h: h.resume_surface_schedule("p1", "f1", "s1"), "POST",
         "/v1/products/p1/surfaces/f1/schedules/s1/resume", ScheduleState(status=None)),
        (lambda h: h.cancel_batch("b1"), "POST", "/v1/batch/cancel/b1", BatchCancelResult(success=True)),
    ],
    ids=["delete", "delete_surface", "pause", "resume", "pause_surface", "resume_surface", "cancel_batch"],
)  # fmt: skip
def test_an_empty_2xx_answer_to_a_state_change_is_a_success(hook, requests_mock, call, method, path, expected):
    requests_mock.register_uri(method, f"{BASE}{path}", status_code=204, content=b"")
    assert call(hook) == expected
    assert requests_mock.call_count == 1


def test_an_empty_answer_to_an_async_cancel_is_a_success(hook):
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/batch/cancel/b1").respond(204)
        assert run_async(hook, hook.cancel_batch_async("b1")) == BatchCancelResult(success=True)
    assert route.call_count == 1


def test_batch_status_with_fractional_progress_and_no_counts(hook, requests_mock):
    answer = {"batchExecutionId": "b1", "status": "running", "progress": 37.5}
    requests_mock.get(f"{BASE}/v1/batch/status/b1", json=answer)
    progress = hook.get_run_progress(RunReference(batch_execution_id="b1"))
    assert (progress.status, progress.total_records, progress.processed_records, progress.failed_records) == (
        "running",
        None,
        None,
        None,
    )
    assert progress.describe() == "running: 0/? records processed, 0 failed"
    assert hook.get_batch_status("b1").progress == 37.5


def test_negative_counts_in_an_answer_are_a_response_error(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/status/b1", json={**BATCH_STATUS, "failedRecords": -2})
    with pytest.raises(
        RuntypeResponseError, match="GET /v1/batch/status/b1 returned an unexpected body: failedRecords: "
    ):
        hook.get_batch_status("b1")


# ---- ids on the wire: every method that takes a path id ------------------------------------------------------

ANY_ANSWER = {
    "id": "x",
    "recordId": "r",
    "success": True,
    "status": "completed",
    "batchExecutionId": "b",
    "data": [],
    "pagination": {"hasMore": False, "offset": 0, "total": 0},
}
P_ = "/v1/products/{product_id}/surfaces/{surface_id}/schedules"


def lookup_unknown_name(hook: RuntypeHook, product_id: str, surface_id: str) -> None:
    with pytest.raises(RuntypeScheduleNotFoundError):
        hook.find_schedule_by_name("n", product_id=product_id, surface_id=surface_id)


S_ = "/v1/schedules/{schedule_id}"
# hook method -> its calls with the ids: (call, method, documented path of the one request the call sends)
PATH_CALLS: dict[str, list[tuple[Any, str, str]]] = {
    "get_run_results_page": [
        (lambda h, i: h.get_run_results_page(i["run_id"]), "GET", "/v1/schedules/runs/{run_id}/results")],
    "get_run_results": [
        (lambda h, i: list(h.get_run_results(i["run_id"])), "GET", "/v1/schedules/runs/{run_id}/results")],
    "get_batch_results_page": [
        (lambda h, i: h.get_batch_results_page(i["batch_id"]), "GET", "/v1/schedules/batch/{batch_id}/results")],
    "get_batch_results": [
        (lambda h, i: list(h.get_batch_results(i["batch_id"])), "GET", "/v1/schedules/batch/{batch_id}/results")],
    "get_schedule": [(lambda h, i: h.get_schedule(i["schedule_id"]), "GET", S_)],
    "update_schedule": [(lambda h, i: h.update_schedule(i["schedule_id"], name="n"), "PUT", S_)],
    "delete_schedule": [(lambda h, i: h.delete_schedule(i["schedule_id"]), "DELETE", S_)],
    "pause_schedule": [(lambda h, i: h.pause_schedule(i["schedule_id"]), "POST", S_ + "/pause")],
    "resume_schedule": [(lambda h, i: h.resume_schedule(i["schedule_id"]), "POST", S_ + "/resume")],
    "run_schedule_now": [(lambda h, i: h.run_schedule_now(i["schedule_id"]), "POST", S_ + "/run-now")],
    "list_schedule_runs": [(lambda h, i: h.list_schedule_runs(i["schedule_id"]), "GET", S_ + "/runs")],
    "list_schedule_runs_async": [
        (lambda h, i: run_async(h, h.list_schedule_runs_async(i["schedule_id"])), "GET", S_ + "/runs")],
    "get_schedule_stats": [(lambda h, i: h.get_schedule_stats(i["schedule_id"]), "GET", S_ + "/stats")],
    "list_surface_schedules": [
        (lambda h, i: h.list_surface_schedules(i["product_id"], i["surface_id"]), "GET", P_)],
    "create_surface_schedule": [
        (lambda h, i: h.create_surface_schedule(i["product_id"], i["surface_id"], flow_id="f", cron="* * * * *"),
         "POST", P_)],
    "get_surface_schedule": [
        (lambda h, i: h.get_surface_schedule(i["product_id"], i["surface_id"], i["schedule_id"]),
         "GET", P_ + "/{schedule_id}")],
    "update_surface_schedule": [
        (lambda h, i: h.update_surface_schedule(i["product_id"], i["surface_id"], i["schedule_id"], enabled=True),
         "PUT", P_ + "/{schedule_id}")],
    "delete_surface_schedule": [
        (lambda h, i: h.delete_surface_schedule(i["product_id"], i["surface_id"], i["schedule_id"]),
         "DELETE", P_ + "/{schedule_id}")],
    "pause_surface_schedule": [
        (lambda h, i: h.pause_surface_schedule(i["product_id"], i["surface_id"], i["schedule_id"]),
         "POST", P_ + "/{schedule_id}/pause")],
    "resume_surface_schedule": [
        (lambda h, i: h.resume_surface_schedule(i["product_id"], i["surface_id"], i["schedule_id"]),
         "POST", P_ + "/{schedule_id}/resume")],
    "run_surface_schedule_now": [
        (lambda h, i: h.run_surface_schedule_now(i["product_id"], i["surface_id"], i["schedule_id"]),
         "POST", P_ + "/{schedule_id}/run-now")],
    "get_batch_status": [(lambda h, i: h.get_batch_status(i["batch_id"]), "GET", "/v1/batch/status/{batch_id}")],
    "get_schedule_async": [
        (lambda h, i: run_async(h, h.get_schedule_async(i["schedule_id"])), "GET", S_)],
    "get_batch_status_async": [
        (lambda h, i: run_async(h, h.get_batch_status_async(i["batch_id"])), "GET", "/v1/batch/status/{batch_id}")],
    "cancel_batch": [(lambda h, i: h.cancel_batch(i["batch_id"]), "POST", "/v1/batch/cancel/{batch_id}")],
    "cancel_batch_async": [
        (lambda h, i: run_async(h, h.cancel_batch_async(i["batch_id"])), "POST", "/v1/batch/cancel/{batch_id}")],
    "get_batch_cost": [(lambda h, i: h.get_batch_cost(i["batch_id"]), "GET", "/v1/batch/{batch_id}/cost")],
    "get_batch_cost_async": [
        (lambda h, i: run_async(h, h.get_batch_cost_async(i["batch_id"])), "GET", "/v1/batch/{batch_id}/cost")],
    "get_batch_record_cost": [
        (lambda h, i: h.get_batch_record_cost(i["batch_id"], i["record_id"]),
         "GET", "/v1/batch/{batch_id}/records/{record_id}/cost")],
    "list_batch_record_steps": [
        (lambda h, i: h.list_batch_record_steps(i["batch_id"], i["record_id"]),
         "GET", "/v1/batch/{batch_id}/records/{record_id}/steps")],
    "get_run_cost": [
        (lambda h, i: h.get_run_cost(RunReference(batch_execution_id=i["batch_id"])),
         "GET", "/v1/batch/{batch_id}/cost")],
    "get_run_progress": [
        (lambda h, i: h.get_run_progress(RunReference(batch_execution_id=i["batch_id"])),
         "GET", "/v1/batch/status/{batch_id}"),
        (lambda h, i: h.get_run_progress(RunReference(schedule_id=i["schedule_id"], run_id=i["run_id"])),
         "GET", S_ + "/runs")],
    "shared": [  # the deferred waits' reads (RuntypeHook.shared(...).get_run_progress_async)
        (lambda h, i: shared_progress(h, RunReference(batch_execution_id=i["batch_id"])),
         "GET", "/v1/batch/status/{batch_id}"),
        (lambda h, i: shared_progress(h, RunReference(schedule_id=i["schedule_id"], run_id=i["run_id"])),
         "GET", S_ + "/runs")],
    "iter_run_results": [
        (lambda h, i: list(h.iter_run_results(RunReference(batch_execution_id=i["batch_id"]))),
         "GET", "/v1/schedules/batch/{batch_id}/results"),
        (lambda h, i: list(h.iter_run_results(RunReference(run_id=i["run_id"]))),
         "GET", "/v1/schedules/runs/{run_id}/results")],
    "find_schedule_by_name": [  # ANY_ANSWER lists no schedule: the lookup ends in "not found" after its request
        (lambda h, i: lookup_unknown_name(h, i["product_id"], i["surface_id"]), "GET", P_)],
    "iter_run_result_pages": [
        (lambda h, i: list(h.iter_run_result_pages(RunReference(batch_execution_id=i["batch_id"]), fast=True)),
         "GET", "/v1/schedules/batch/{batch_id}/results"),
        (lambda h, i: list(h.iter_run_result_pages(RunReference(run_id=i["run_id"]))),
         "GET", "/v1/schedules/runs/{run_id}/results")],
    "find_active_run": [
        (lambda h, i: h.find_active_run(i["schedule_id"]), "GET", S_ + "/runs"),
        (lambda h, i: h.find_active_run(i["schedule_id"], product_id=i["product_id"], surface_id=i["surface_id"]),
         "GET", P_ + "/{schedule_id}")],
}  # fmt: skip
ID_ARGUMENTS = ("schedule_id", "run_id", "batch_id", "product_id", "surface_id", "record_id")
AWKWARD_IDS = ["a/b", "a?b", "a#b", "a%b", "a%2Fb", "a b", "a+b", ".a", "..a", "...", "a..", "~x_y-1.z", "ü"]
PATH_CASES = [
    pytest.param(name, n, id=f"{name}-{n}" if len(calls) > 1 else name)
    for name, calls in PATH_CALLS.items()
    for n in range(len(calls))
]


def ids_for(value: str) -> dict[str, str]:
    """Distinct ids per argument (a swapped argument shows), each starting with ``value``."""
    return {name: f"{value}{n}" for n, name in enumerate(ID_ARGUMENTS)}


def test_the_path_table_covers_every_hook_method_that_takes_a_path_id():
    takes_ids = {
        name
        for name, member in inspect.getmembers(RuntypeHook, inspect.isfunction)
        if not name.startswith("_") and set(inspect.signature(member).parameters) & {*ID_ARGUMENTS, "run"}
    }
    assert takes_ids | {"shared"} == set(PATH_CALLS)


def sent_paths(hook: RuntypeHook, call: Any, ids: dict[str, str], requests_mock: Any) -> list[tuple[str, str]]:
    """Make the call; the (method, raw encoded path) of every request that left either HTTP client."""
    requests_mock.reset_mock()
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        route = mock.route().respond(200, json=ANY_ANSWER)
        call(hook, ids)
    sent = [(r.method, urlsplit(r.url).path) for r in requests_mock.request_history]
    return sent + [(c.request.method, c.request.url.raw_path.decode("ascii").split("?")[0]) for c in route.calls]


@pytest.mark.parametrize(("name", "n"), PATH_CASES)
def test_every_path_id_arrives_as_exactly_one_encoded_segment(hook, requests_mock, name, n):
    requests_mock.register_uri(requests_mock_any, requests_mock_any, json=ANY_ANSWER)
    call, method, path = PATH_CALLS[name][n]
    for value in AWKWARD_IDS:
        for ids in (dict.fromkeys(ID_ARGUMENTS, value), ids_for(value)):
            expected = (method, path.format(**{k: quote(v, safe="") for k, v in ids.items()}))
            assert sent_paths(hook, call, ids, requests_mock) == [expected], ids


@pytest.mark.parametrize(("name", "n"), PATH_CASES)
@pytest.mark.parametrize("dots", [".", ".."])
def test_a_dot_segment_id_is_refused_by_name_and_nothing_is_sent(hook, requests_mock, name, n, dots):
    call, _, path = PATH_CALLS[name][n]
    for argument in [a for a in ID_ARGUMENTS if "{" + a + "}" in path]:
        with respx.mock(base_url=BASE, assert_all_called=False) as mock:
            route = mock.route().respond(200, json=ANY_ANSWER)
            with pytest.raises(RuntypeConfigurationError, match=f"^'{argument}' must not be '{re.escape(dots)}'"):
                call(hook, {**ids_for("ok"), argument: dots})
        assert (requests_mock.call_count, route.call_count) == (0, 0), argument


@pytest.mark.parametrize("value", ["a b", ".a", "..a", "...", "x%y", "q?r#s", "ü", "a+b"])
def test_the_local_runtype_receives_each_id_as_the_documented_path(runtype_server, value):
    """On a real socket: the server's request log shows the decoded path and the operation it routed to."""
    hook = RuntypeHook(retry_limit=0)
    runtype_server.seed_schedule(schedule_id=value, record_ids=["r1"])
    assert hook.get_schedule(value).id == value
    assert hook.get_schedule_stats(value).total == 0
    assert hook.pause_schedule(value).status == "paused"
    assert hook.resume_schedule(value).status == "resumed"
    batch = hook.run_schedule_now(value).batch_execution_id
    assert [r.id for r in hook.list_schedule_runs(value)]
    hook.get_batch_status(batch)
    assert hook.delete_schedule(value).success is True
    logged = [(r["method"], r["path"], r["operation"], r["status"]) for r in runtype_server.requests]
    assert logged == [
        ("GET", f"/v1/schedules/{value}", "get_schedule", 200),
        ("GET", f"/v1/schedules/{value}/stats", "get_schedule_stats", 200),
        ("POST", f"/v1/schedules/{value}/pause", "pause_schedule", 200),
        ("POST", f"/v1/schedules/{value}/resume", "resume_schedule", 200),
        ("POST", f"/v1/schedules/{value}/run-now", "run_schedule_now", 200),
        ("GET", f"/v1/schedules/{value}/runs", "list_schedule_runs", 200),
        ("GET", f"/v1/batch/status/{batch}", "get_batch_status", 200),
        ("DELETE", f"/v1/schedules/{value}", "delete_schedule", 200),
    ]


def test_sparkline_ids_are_encoded_once(runtype_server):
    ids = ["a b", "c/d", "e%f", "g+h", ".i", "ü"]
    for value in ids:
        runtype_server.seed_schedule(schedule_id=value)
    sparklines = RuntypeHook(retry_limit=0).get_schedule_sparklines(ids)
    assert sorted(s.schedule_id for s in sparklines) == sorted(ids)
    (logged,) = runtype_server.requests
    assert (logged["path"], parse_qs(logged["query"])) == ("/v1/schedules/sparklines", {"ids": [",".join(ids)]})


def test_sparkline_ids_with_the_separator_are_refused(hook, requests_mock):
    with pytest.raises(RuntypeConfigurationError, match="'schedule_ids': 'a,b' contains a comma"):
        hook.get_schedule_sparklines(["a,b"])
    assert requests_mock.call_count == 0


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, daily_record_limit=0)
def test_the_local_runtype_daily_limit_and_payment_faults_reach_the_hook_as_plan_limit_errors(runtype_server, sleeps):
    hook = RuntypeHook(retry_limit=0)
    with pytest.raises(RuntypeDailyLimitError, match="DAILY_LIMIT_EXCEEDED") as caught:
        hook.submit_batch(flow_id="f", record_ids=["r1"])
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 86_400
    runtype_server.configure(daily_record_limit=None)
    runtype_server.inject_fault("submit_batch", "payment_required")
    with pytest.raises(RuntypeEntitlementError, match=r"QUOTA_EXCEEDED.*To go on: raise the plan or fix billing"):
        hook.submit_batch(flow_id="f", record_ids=["r2"])
    batch = hook.submit_batch(flow_id="f", record_ids=["r1"]).batch_execution_id
    assert hook.get_batch_cost(batch).total_cost_usd == pytest.approx(runtype_server.state.settings.cost_per_record_usd)
    assert [r["status"] for r in runtype_server.requests] == [429, 402, 200, 200]
