"""Contract test: for every operation of ``ENDPOINTS`` the hook sends the request the official SDK sends.

``runtype-sdk`` 5.5.0 is Fern-generated from Runtype's API definition, so its requests are the reference.
Each case makes one SDK call and the equivalent ``RuntypeHook`` call against the local Runtype and
compares what its request log recorded: method, path, query (parsed, order-insensitive) and JSON body.
Paginated operations use the hook's ``*_page`` methods (one request, cursor/offset exposed). Where the
hook deliberately sends something else, :data:`DIFFERENCES` says what and why, and the test asserts exactly
that difference, so a change on either side turns it red.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from runtype import RuntypeClient

from runtype_provider.api.spec import ENDPOINTS
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.testing.fake.app import MAX_LOGGED_BODY

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)

P, S = "prod_contract", "surf_contract"
SCH, OTHER, SSCH, SLOW = "sch_contract", "sch_other", "sch_surface", "sch_slow"
SEEDS: tuple[dict[str, Any], ...] = (
    {"schedule_id": SCH, "name": "Contract", "record_ids": ["r1", "r2", "r3"], "failing_record_ids": ["r2"]},
    {"schedule_id": OTHER, "name": "Other contract"},
    {"schedule_id": SSCH, "product_id": P, "surface_id": S, "record_type": "company", "record_count": 3},
    {"schedule_id": SLOW, "running_seconds": 600},
)
RUN_AT = dt.datetime(2031, 2, 1, 9, 0, tzinfo=dt.timezone.utc)
RECORD_FILTER = {"type": "company", "where": {"field": "tier", "op": "eq", "value": "gold"}}
GLOBAL_CREATE = {  # the documented body, sent as is by the SDK
    "target": {"flowId": "flow_contract", "recordIds": ["r1", "r2"]},
    "trigger": {"type": "recurring", "cron": "0 8 * * 1-5", "timezone": "Europe/Paris"},
    "executionOptions": {"recordConcurrency": 2, "maxRetries": 1},
    "name": "Contract create",
    "inputs": {"topic": "pricing"},
}
SURFACE_CREATE = {
    "flow_id": "flow_contract",
    "trigger_type": "one_time",
    "run_at": RUN_AT,
    "record_type": "company",
    "enabled": True,
    "execution_options": {"recordConcurrency": 10, "loggingPolicy": "off"},
    "record_filter": RECORD_FILTER,
}
SURFACE_UPDATE = {
    "trigger_type": "recurring",
    "cron": "0 9 * * 1",
    "timezone": "UTC",
    "enabled": False,
    "record_ids": ["c1", "c2"],
}

BATCH_SPEC = {  # the same arguments for the SDK and the hook, except options (the hook takes snake_case too)
    "flow_id": "flow_contract",
    "record_ids": ["r1", "r2"],
    "records": [{"name": "Inline", "type": "company", "metadata": {"tier": "gold"}}],
    "inputs": {"topic": "pricing"},
    "messages": [{"role": "user", "content": "hi"}],
}
Call = Callable[[Any, SimpleNamespace], Any]
# operation -> (SDK call, equivalent hook call); both get the client and the seeded ids.
CASES: dict[str, tuple[Call, Call]] = {
    "list_schedules": (
        lambda sdk, i: sdk.schedules.list_schedules(
            limit="1", cursor=i.cursor, search="contract", status="active", view="compact"
        ),
        lambda hook, i: hook.list_schedules_page(
            page_size=1, cursor=i.cursor, search="contract", status="active", view="compact"
        ),
    ),
    "create_schedule": (
        lambda sdk, i: sdk.schedules.create_a_schedule(request=GLOBAL_CREATE),
        lambda hook, i: hook.create_schedule(
            flow_id="flow_contract",
            record_ids=["r1", "r2"],
            cron="0 8 * * 1-5",
            timezone="Europe/Paris",
            execution_options={"record_concurrency": 2, "max_retries": 1},
            name="Contract create",
            inputs={"topic": "pricing"},
        ),
    ),
    "get_schedule_sparklines": (
        lambda sdk, i: sdk.schedules.get_schedule_sparklines(ids=f"{SCH},{OTHER}"),
        lambda hook, i: hook.get_schedule_sparklines([SCH, OTHER]),
    ),
    "list_all_schedule_runs": (
        lambda sdk, i: sdk.schedules.list_all_schedule_runs(limit="10", cursor=i.runs_cursor, direction="next"),
        lambda hook, i: hook.list_all_schedule_runs_page(page_size=10, cursor=i.runs_cursor, direction="next"),
    ),
    "get_run_results": (
        lambda sdk, i: sdk.schedules.get_results_for_a_scheduled_run(i.run),
        lambda hook, i: hook.get_run_results_page(i.run),
    ),
    "get_batch_results": (
        lambda sdk, i: sdk.schedules.get_results_for_a_batch_execution(i.batch, limit="2", offset="1", status="failed"),
        lambda hook, i: hook.get_batch_results_page(i.batch, offset=1, page_size=2, status="failed"),
    ),
    "get_schedule": (lambda sdk, i: sdk.schedules.get_a_schedule(SCH), lambda hook, i: hook.get_schedule(SCH)),
    "update_schedule": (
        lambda sdk, i: sdk.schedules.update_a_schedule(
            SCH, request={"name": "Renamed", "trigger": {"type": "recurring", "cron": "30 6 * * *", "timezone": "UTC"}}
        ),
        lambda hook, i: hook.update_schedule(SCH, name="Renamed", cron="30 6 * * *", timezone="UTC"),
    ),
    "delete_schedule": (
        lambda sdk, i: sdk.schedules.delete_a_schedule(SCH),
        lambda hook, i: hook.delete_schedule(SCH),
    ),
    "pause_schedule": (lambda sdk, i: sdk.schedules.pause_a_schedule(SCH), lambda hook, i: hook.pause_schedule(SCH)),
    "resume_schedule": (
        lambda sdk, i: sdk.schedules.resume_a_schedule(SCH),
        lambda hook, i: hook.resume_schedule(SCH),
    ),
    "run_schedule_now": (
        lambda sdk, i: sdk.schedules.run_a_schedule_immediately(SCH),
        lambda hook, i: hook.run_schedule_now(SCH),
    ),
    "list_schedule_runs": (
        lambda sdk, i: sdk.schedules.list_runs_for_a_schedule(SCH),
        lambda hook, i: hook.list_schedule_runs(SCH),
    ),
    "get_schedule_stats": (
        lambda sdk, i: sdk.schedules.get_schedule_statistics(SCH),
        lambda hook, i: hook.get_schedule_stats(SCH),
    ),
    "list_surface_schedules": (
        lambda sdk, i: sdk.products.list_schedules_for_surface(P, S),
        lambda hook, i: hook.list_surface_schedules(P, S),
    ),
    "create_surface_schedule": (
        lambda sdk, i: sdk.products.create_schedule_for_surface(P, S, **SURFACE_CREATE),
        lambda hook, i: hook.create_surface_schedule(P, S, **SURFACE_CREATE),
    ),
    "get_surface_schedule": (
        lambda sdk, i: sdk.products.get_schedule_details(P, S, SSCH),
        lambda hook, i: hook.get_surface_schedule(P, S, SSCH),
    ),
    "update_surface_schedule": (
        lambda sdk, i: sdk.products.update_schedule(P, S, SSCH, **SURFACE_UPDATE),
        lambda hook, i: hook.update_surface_schedule(P, S, SSCH, **SURFACE_UPDATE),
    ),
    "delete_surface_schedule": (
        lambda sdk, i: sdk.products.delete_schedule(P, S, SSCH),
        lambda hook, i: hook.delete_surface_schedule(P, S, SSCH),
    ),
    "pause_surface_schedule": (
        lambda sdk, i: sdk.products.pause_schedule(P, S, SSCH),
        lambda hook, i: hook.pause_surface_schedule(P, S, SSCH),
    ),
    "resume_surface_schedule": (
        lambda sdk, i: sdk.products.resume_schedule(P, S, SSCH),
        lambda hook, i: hook.resume_surface_schedule(P, S, SSCH),
    ),
    "run_surface_schedule_now": (
        lambda sdk, i: sdk.products.run_schedule_immediately(P, S, SSCH),
        lambda hook, i: hook.run_surface_schedule_now(P, S, SSCH),
    ),
    "get_batch_status": (
        lambda sdk, i: sdk.batch.get_batch_execution_status(i.batch),
        lambda hook, i: hook.get_batch_status(i.batch),
    ),
    "cancel_batch": (
        lambda sdk, i: sdk.batch.cancel_a_batch_execution(i.slow_batch),
        lambda hook, i: hook.cancel_batch(i.slow_batch),
    ),
    "submit_batch": (
        lambda sdk, i: sdk.batch.submit_a_batch_flow_execution(
            **BATCH_SPEC, options={"recordConcurrency": 10, "maxRetries": 3}
        ),
        lambda hook, i: hook.submit_batch(**BATCH_SPEC, options={"record_concurrency": 10, "max_retries": 3}),
    ),
    "get_batch_summary": (lambda sdk, i: sdk.batch.get_batch_summary(), lambda hook, i: hook.get_batch_summary()),
    "get_batch_cost": (
        lambda sdk, i: sdk.batch.get_batch_execution_total_cost(i.batch),
        lambda hook, i: hook.get_batch_cost(i.batch),
    ),
    "get_batch_record_cost": (
        lambda sdk, i: sdk.batch.get_per_record_cost_for_a_batch(i.batch, "r2"),
        lambda hook, i: hook.get_batch_record_cost(i.batch, "r2"),
    ),
    "list_batch_record_steps": (
        lambda sdk, i: sdk.batch.get_step_results_for_a_batch_record(i.batch, "r2"),
        lambda hook, i: hook.list_batch_record_steps(i.batch, "r2"),
    ),
}
# Deliberate differences: operation -> (why, the SDK's request turned into the hook's).
DIFFERENCES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "get_run_results": (
        "the SDK method has no paging arguments, but the answer is paged (runtype-api.md 3.11): "
        "the hook pages with limit/offset like batch results",
        lambda request: {**request, "query": {"limit": ["50"], "offset": ["0"]}},
    ),
    "run_surface_schedule_now": (
        "the docs send the JSON body {} (runtype-api.md 4.8); the SDK sends none",
        lambda request: {**request, "body": {}},
    ),
}


def seed(server: Any) -> None:
    """Seed the fixed-id schedules that are missing (again after a delete, so both calls hit the same ids)."""
    for spec in SEEDS:
        with contextlib.suppress(ValueError):  # already there
            server.seed_schedule(**spec)


@pytest.fixture
def ids(runtype_server) -> SimpleNamespace:
    seed(runtype_server)
    state = runtype_server.state
    run = state.run_schedule_now(SCH)
    state.run_schedule_now(OTHER)
    return SimpleNamespace(
        run=run["runId"],
        batch=run["batchExecutionId"],
        slow_batch=state.run_schedule_now(SLOW)["batchExecutionId"],
        cursor=state.list_schedules({"limit": "1"})["pagination"]["nextCursor"],
        runs_cursor=state.list_all_schedule_runs({"limit": "1"})["pagination"]["nextCursor"],
    )


@pytest.fixture
def sdk(runtype_server) -> Iterator[Any]:
    with RuntypeClient(api_key=runtype_server.api_key, base_url=runtype_server.url) as client:
        yield client.api


@pytest.fixture
def hook(runtype_server) -> Iterator[RuntypeHook]:
    hook = RuntypeHook(retry_limit=0)
    yield hook
    hook.close()


def recorded(server: Any, operation: str, call: Callable[[], Any]) -> dict[str, Any]:
    """The one request ``call`` made, as logged by the local Runtype (it must have succeeded)."""
    server.clear_requests()
    call()
    [entry] = server.requests
    assert (entry["operation"], entry["status"] // 100) == (operation, 2)
    query = parse_qs(entry["query"], keep_blank_values=True, strict_parsing=bool(entry["query"]))
    return {"method": entry["method"], "path": entry["path"], "query": query, "body": entry["body"]}


def test_every_endpoint_has_a_contract_case():
    assert set(CASES) == set(ENDPOINTS)
    assert set(DIFFERENCES) <= set(CASES)


@pytest.mark.parametrize("operation", list(CASES))
def test_hook_sends_the_request_the_sdk_sends(operation, runtype_server, ids, sdk, hook):
    sdk_call, hook_call = CASES[operation]
    expected = recorded(runtype_server, operation, lambda: sdk_call(sdk, ids))
    if ENDPOINTS[operation].body not in (None, "empty"):
        assert expected["body"], "the request log lost the SDK's body"
    if operation in DIFFERENCES:
        expected = DIFFERENCES[operation][1](expected)
    seed(runtype_server)
    assert recorded(runtype_server, operation, lambda: hook_call(hook, ids)) == expected


@pytest.mark.parametrize(
    ("fault", "data", "logged"),
    [
        (None, b'{"a": [1, "x"]}', {"a": [1, "x"]}),
        (None, iter([b'{"a": ', b"[1, ", b'"x"]}']), {"a": [1, "x"]}),  # chunked upload
        (None, b"not json", None),
        (None, json.dumps({"a": "x" * MAX_LOGGED_BODY}).encode(), None),  # too large to keep
        ("server_error", b'{"a": 1}', {"a": 1}),  # faulted before the app runs
        ("rate_limit", iter([b"[1,", b" 2]"]), [1, 2]),
    ],
    ids=["json", "chunked", "not-json", "too-large", "server-error", "rate-limit-chunked"],
)
def test_request_log_keeps_the_json_body_even_when_the_route_reads_none(runtype_server, fault, data, logged):
    """``pause`` takes no body: the log reads what was sent before answering, faulted or not."""
    schedule_id = runtype_server.seed_schedule()["id"]
    if fault:
        runtype_server.inject_fault("pause_schedule", fault)
    headers = {"Authorization": f"Bearer {runtype_server.api_key}", "Content-Type": "application/json"}
    response = requests.post(
        f"{runtype_server.url}/v1/schedules/{schedule_id}/pause", data=data, headers=headers, timeout=5
    )
    assert response.status_code == {None: 200, "server_error": 503, "rate_limit": 429}[fault]
    [entry] = runtype_server.requests
    assert (entry["operation"], entry["fault"], entry["body"]) == ("pause_schedule", fault, logged)
