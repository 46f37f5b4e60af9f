"""runtype_provider.hooks.runtype: RuntypeHook over the client: connection and transports, run progress (sync, and
the deferred waits' shared reads), results pages, the newest active run and the run link.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import pytest
import respx

from hooks.test_endpoints import (  # the example payloads and request checks, defined once
    BASE,
    BATCH_STATUS,
    RUN_ITEM,
    RUN_RESULTS,
    api_key_in_use,
    assert_request,
    offset_page,
    query,
    shared_progress,
)
from runtype_provider.exceptions import (
    RuntypeConfigurationError,
    RuntypeResponseError,
)
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.status import RunOutcome


def test_async_clients_of_every_hook_share_one_tls_context(runtype_conn, sleeps):
    # Building a TLS context blocks for ~25 ms; one per trigger stalled a triggerer's event loop.
    contexts = []
    for _ in range(3):
        hook = RuntypeHook()
        with respx.mock(base_url=BASE) as mock:
            mock.get("/v1/batch/status/b1").respond(200, json=BATCH_STATUS)

            async def call(hook: RuntypeHook = hook) -> None:
                await hook.get_batch_status_async("b1")
                contexts.append(hook._async_transport._client._transport._pool._ssl_context)
                await hook.aclose()

            asyncio.run(call())
    assert len(contexts) == 3 and contexts[0] is contexts[1] is contexts[2]
    assert contexts[0].verify_mode is ssl.CERT_REQUIRED and contexts[0].check_hostname


# ---- runs as operators and triggers see them ----------------------------------------------------------


def test_get_run_progress_by_batch_id(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/status/batch_abc", json={**BATCH_STATUS, "batchExecutionId": "batch_abc"})
    progress = hook.get_run_progress(
        RunReference(schedule_id="sch_123", run_id="run_001", batch_execution_id="batch_abc")
    )
    assert requests_mock.call_count == 1
    assert isinstance(progress, RunProgress)
    assert (progress.status, progress.outcome, progress.run_id, progress.batch_execution_id) == (
        "completed",
        RunOutcome.SUCCESS,
        "run_001",
        "batch_abc",
    )
    assert (progress.total_records, progress.processed_records, progress.failed_records) == (50, 50, 2)


def test_get_run_progress_by_run_list_without_batch_id(hook, requests_mock):
    running = {**RUN_ITEM, "id": "run_002", "status": "running", "batchExecutionId": None, "processedRecords": 40}
    requests_mock.get(f"{BASE}/v1/schedules/sch_123/runs", json={"data": [RUN_ITEM, running]})
    progress = hook.get_run_progress(RunReference(schedule_id="sch_123", run_id="run_002"))
    assert requests_mock.last_request.path == "/v1/schedules/sch_123/runs"
    assert (progress.run_id, progress.status, progress.outcome, progress.processed_records) == (
        "run_002",
        "running",
        RunOutcome.RUNNING,
        40,
    )


def test_get_run_progress_of_a_run_not_listed_yet_is_unknown(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/sch_123/runs", json={"data": [RUN_ITEM]})
    progress = hook.get_run_progress(RunReference(schedule_id="sch_123", run_id="run_new"))
    assert (progress.run_id, progress.status, progress.outcome) == ("run_new", None, RunOutcome.UNKNOWN)


def test_get_run_progress_needs_a_pollable_reference(hook, requests_mock):
    with pytest.raises(RuntypeConfigurationError, match="'run' needs 'batch_execution_id'"):
        hook.get_run_progress(RunReference(run_id="run_001"))
    assert requests_mock.call_count == 0


def test_shared_run_progress_by_batch_id(hook):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/batch_abc").respond(200, json={**BATCH_STATUS, "status": "running"})
        progress = shared_progress(hook, RunReference(run_id="r1", batch_execution_id="batch_abc"))
    assert route.call_count == 1
    assert (progress.status, progress.outcome, progress.run_id) == ("running", RunOutcome.RUNNING, "r1")


def test_shared_run_progress_by_run_list(hook):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/schedules/sch_123/runs").respond(200, json={"data": [RUN_ITEM]})
        progress = shared_progress(hook, RunReference(schedule_id="sch_123", run_id="run_001"))
    assert route.call_count == 1
    assert (progress.status, progress.outcome, progress.failed_records) == ("completed", RunOutcome.SUCCESS, 2)


def test_iter_run_results_prefers_the_batch_id(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/batch/batch_abc/results", json={**RUN_RESULTS})
    rows = list(hook.iter_run_results(RunReference(run_id="run_001", batch_execution_id="batch_abc"), status="success"))
    assert_request(  # a success synonym goes in the batch results' own spelling
        requests_mock.last_request,
        "GET",
        "/v1/schedules/batch/batch_abc/results",
        {"limit": "100", "offset": "0", "status": "completed"},
    )
    assert [r.record_id for r in rows] == ["rec_1"]


def test_iter_run_results_by_run_id(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/runs/run_001/results", json=RUN_RESULTS)
    rows = list(hook.iter_run_results(RunReference(schedule_id="sch_123", run_id="run_001"), page_size=10))
    assert_request(
        requests_mock.last_request, "GET", "/v1/schedules/runs/run_001/results", {"limit": "10", "offset": "0"}
    )
    assert [r.record_id for r in rows] == ["rec_1"]


def test_iter_run_results_needs_a_run_or_batch_id(hook, requests_mock):
    with pytest.raises(RuntypeConfigurationError, match="'run' needs 'batch_execution_id' or 'run_id'"):
        hook.iter_run_results(RunReference(schedule_id="sch_123"))
    assert requests_mock.call_count == 0


def test_find_active_run_returns_the_newest_active_run(hook, requests_mock):
    runs = [
        {**RUN_ITEM, "id": "old_queued", "status": "queued", "createdAt": "2025-01-11T07:00:00Z"},
        {**RUN_ITEM, "id": "new_running", "status": "running", "createdAt": "2025-01-11T09:00:00Z"},
        {**RUN_ITEM, "id": "newest_done", "status": "completed", "createdAt": "2025-01-11T10:00:00Z"},
    ]
    requests_mock.get(f"{BASE}/v1/schedules/sch_123/runs", json={"data": runs})
    found = hook.find_active_run("sch_123")
    assert requests_mock.last_request.path == "/v1/schedules/sch_123/runs"
    assert found == RunReference(
        schedule_id="sch_123",
        run_id="new_running",
        batch_execution_id=RUN_ITEM["batchExecutionId"],
        run_url="https://app.runtype.com/schedules/sch_123/runs/new_running",
    )


def test_find_active_run_returns_none_when_every_run_finished(hook, requests_mock):
    runs = [{**RUN_ITEM, "status": "completed"}, {**RUN_ITEM, "id": "run_x", "status": "failed"}]
    requests_mock.get(f"{BASE}/v1/schedules/sch_123/runs", json={"data": runs})
    assert hook.find_active_run("sch_123") is None


@pytest.mark.parametrize(
    ("reference", "url"),
    [
        (
            RunReference(schedule_id="sch_123", run_id="run_001", batch_execution_id="b1"),
            "https://app.runtype.com/schedules/sch_123/runs/run_001",
        ),
        (RunReference(schedule_id="sch_123"), "https://app.runtype.com/schedules/sch_123"),
        (
            RunReference(product_id="prod_1", surface_id="surf_1", schedule_id="sch_9", batch_execution_id="b1"),
            "https://app.runtype.com/products/prod_1/surfaces/surf_1/schedules/sch_9",
        ),
        (RunReference(batch_execution_id="b 1/2"), "https://app.runtype.com/batches/b%201%2F2"),
    ],
    ids=["global-run", "schedule-only", "surface", "batch-only-quoted"],
)
def test_run_url(hook, requests_mock, reference, url):
    assert hook.run_reference(**reference.model_dump()).run_url == url
    assert requests_mock.call_count == 0


# ---- results pages fetched concurrently (runtype_provider.client.concurrent_paging) --------------------------

RESULTS_CALLS = {
    "get_run_results": (lambda h, **kw: h.get_run_results("r1", **kw), "/v1/schedules/runs/r1/results"),
    "get_batch_results": (lambda h, **kw: h.get_batch_results("b1", **kw), "/v1/schedules/batch/b1/results"),
    "iter_run_results": (
        lambda h, **kw: h.iter_run_results(RunReference(run_id="r0", batch_execution_id="b1"), **kw),
        "/v1/schedules/batch/b1/results",
    ),
}


def results_server(requests_mock: Any, path: str, total: int, change: Any = None) -> list[tuple[int, str]]:
    """A results endpoint of ``total`` rows (``r0``, ``r1``, ...) honouring limit and offset; ``change(offset,
    body)`` may alter a page. Returns the (offset, thread name) of every request, in arrival order."""
    import threading

    seen: list[tuple[int, str]] = []

    def page(request: Any, context: Any) -> Any:
        limit, offset = int(query(request)["limit"]), int(query(request)["offset"])
        seen.append((offset, threading.current_thread().name))
        ids = [f"r{i}" for i in range(offset, min(offset + limit, total))]
        body = offset_page(ids, offset, offset + len(ids) < total, total=total)
        return body if change is None else change(offset, body, context)

    def text(request: Any, context: Any) -> str:
        body = page(request, context)
        return body if isinstance(body, str) else json.dumps(body)

    requests_mock.get(f"{BASE}{path}", text=text)
    return seen


@pytest.mark.parametrize("name", RESULTS_CALLS)
def test_with_one_page_at_a_time_the_results_are_fetched_in_order_in_the_callers_thread(hook, requests_mock, name):
    call, path = RESULTS_CALLS[name]
    seen = results_server(requests_mock, path, 350)

    assert [row.record_id for row in call(hook, max_concurrent_pages=1)] == [f"r{i}" for i in range(350)]
    assert seen == [(offset, "MainThread") for offset in (0, 100, 200, 300)]


@pytest.mark.parametrize("name", RESULTS_CALLS)
@pytest.mark.parametrize("value", [33])  # every kind of bad value: tests/client/test_concurrent_paging.py
def test_a_bad_max_concurrent_pages_is_refused_by_name_before_any_request(hook, requests_mock, name, value):
    with pytest.raises(RuntypeConfigurationError, match=r"^'max_concurrent_pages' must be an integer from 1 to 32"):
        RESULTS_CALLS[name][0](hook, max_concurrent_pages=value)
    assert requests_mock.call_count == 0


def test_rows_of_pages_fetched_by_workers_are_redacted_too(hook, requests_mock):
    key = api_key_in_use()

    def echo_key(offset: int, body: dict, context: Any) -> dict:
        if offset == 300:
            body["data"][0]["error"] = f"Bearer {key} refused"
        return body

    results_server(requests_mock, "/v1/schedules/batch/b1/results", 500, echo_key)
    rows = list(hook.get_batch_results("b1"))

    assert rows[300].error == "Bearer *** refused"
    assert all(key not in repr(row) for row in rows)


def test_a_later_page_that_is_not_json_is_a_typed_error_after_the_rows_before_it(hook, requests_mock):
    results_server(requests_mock, "/v1/schedules/batch/b1/results", 500, lambda o, body, c: "{no" if o == 200 else body)
    collected = []

    with pytest.raises(RuntypeResponseError, match="returned HTTP 200 with a body that is not JSON"):
        for row in hook.get_batch_results("b1"):
            collected.append(row.record_id)
    assert collected == [f"r{i}" for i in range(200)]


# ---- a run of several batches: progress, cost and results read across its batches ------------------------------

SPLIT = RunReference(batch_execution_ids=["b1", "b2", "b3"])


def batch(batch_id: str, status: str, processed: int = 3, failed: int = 0) -> dict[str, Any]:
    return {"batchExecutionId": batch_id, "status": status, "totalRecords": 3, "processedRecords": processed,
            "failedRecords": failed}  # fmt: skip


def test_a_runs_progress_reads_each_batch_once_per_poll_and_an_ended_batch_never_again(hook, requests_mock):
    routes = {
        "b1": requests_mock.get(f"{BASE}/v1/batch/status/b1", json=batch("b1", "completed", failed=1)),
        "b2": requests_mock.get(
            f"{BASE}/v1/batch/status/b2", [{"json": batch("b2", status)} for status in ("running", "completed")]
        ),
        "b3": requests_mock.get(f"{BASE}/v1/batch/status/b3", json=batch("b3", "queued", 0)),
    }
    first = hook.get_run_progress(SPLIT)
    assert (first.status, first.outcome, first.processed_records) == ("running", RunOutcome.RUNNING, 6)
    second = hook.get_run_progress(SPLIT)
    assert (second.status, second.processed_records, second.batches) == ("queued", 6, {"completed": 2, "queued": 1})
    assert {name: route.call_count for name, route in routes.items()} == {"b1": 1, "b2": 2, "b3": 2}


def test_a_runs_progress_in_a_deferred_wait_reads_each_batch_together(hook, router):
    for name, status in (("b1", "completed"), ("b2", "failed"), ("b3", "cancelled")):
        router.get(f"{BASE}/v1/batch/status/{name}").respond(200, json=batch(name, status))
    progress = shared_progress(hook, SPLIT)
    assert (progress.status, progress.outcome, progress.total_records) == ("failed", RunOutcome.FAILED, 9)


def test_a_runs_cost_is_the_sum_of_its_batches_costs(hook, requests_mock):
    for name, usd in (("b1", 0.5), ("b2", 0.25), ("b3", 0.125)):
        requests_mock.get(f"{BASE}/v1/batch/{name}/cost", json={"batchExecutionId": name, "totalCostUsd": usd})
    assert hook.get_run_cost(SPLIT).total_cost_usd == 0.875
    with pytest.raises(RuntypeConfigurationError, match="needs 'batch_execution_id' to read what it cost"):
        hook.get_run_cost(RunReference(run_id="r", schedule_id="s"))


def test_a_runs_results_are_each_batchs_in_order_read_one_batch_after_the_other(hook, monkeypatch):
    asked: list[tuple[str, dict[str, Any], Any]] = []

    def pages(operation: str, ids: dict[str, Any], **options: Any) -> Any:
        asked.append((operation, ids, options["status"]))
        yield [f"{ids['batch_id']}-row-1", f"{ids['batch_id']}-row-2"]
        yield [f"{ids['batch_id']}-row-3"]

    monkeypatch.setattr(hook, "_result_pages", pages)
    rows = hook.iter_run_results(SPLIT, status="success")
    assert next(rows) == "b1-row-1" and len(asked) == 1  # lazily: the next batch only once this one is read
    assert list(rows) == ["b1-row-2", "b1-row-3", *(f"{b}-row-{n}" for b in ("b2", "b3") for n in (1, 2, 3))]
    assert asked == [("get_batch_results", {"batch_id": b}, "completed") for b in ("b1", "b2", "b3")]
