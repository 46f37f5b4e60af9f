"""Schedule operators (get, list, list runs, create, update, pause, resume, delete) for both API families."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeNotFoundError
from runtype_provider.operators.schedules import (
    RuntypeCreateScheduleOperator,
    RuntypeDeleteScheduleOperator,
    RuntypeGetScheduleOperator,
    RuntypeListScheduleRunsOperator,
    RuntypeListSchedulesOperator,
    RuntypePauseScheduleOperator,
    RuntypeResumeScheduleOperator,
    RuntypeUpdateScheduleOperator,
)

BASE = "https://api.runtype.com"
GLOBAL = f"{BASE}/v1/schedules"
SURFACE = f"{BASE}/v1/products/prod-1/surfaces/surf-1/schedules"
SURF_IDS = {"product_id": "prod-1", "surface_id": "surf-1"}

SCHEDULE = {
    "id": "sch-1",
    "name": "nightly",
    "enabled": True,
    "flowId": "flow-1",
    "triggerType": "recurring",
    "cron": "0 2 * * *",
    "timezone": "UTC",
    "executionOptions": {"chunkSize": 10},
    "recordFilter": None,
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-02T00:00:00Z",
    "userId": "user-1",
    "someNewApiField": {"kept": True},
}
RECENT_RUN = {"id": "rr-1", "status": "completed", "batchExecutionId": "b-1", "createdAt": "2026-01-02T02:00:00Z"}
SURFACE_SCHEDULE = {**SCHEDULE, "flowName": "Enrich", "productSurfaceId": "surf-1", "recentRuns": [RECENT_RUN]}
RUN = {
    "id": "run-1",
    "scheduleId": "sch-1",
    "status": "completed",
    "batchExecutionId": "b-1",
    "createdAt": "2026-01-02T02:00:00Z",
    "totalRecords": 5,
    "processedRecords": 5,
    "failedRecords": 0,
}


def contains(actual: Any, expected: Any) -> bool:
    """``actual`` has every key/value of ``expected`` (recursively for dicts and lists)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(contains, actual, expected))
    return actual == expected


def camel_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return all("_" not in k and camel_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return all(camel_keys(v) for v in value)
    return True


# (operator, kwargs, method, url, request body or None, response body, expected output (subset))
CASES = [
    ("get-global", RuntypeGetScheduleOperator, {"schedule_id": "sch-1"}, "GET", f"{GLOBAL}/sch-1", None,
     SCHEDULE, SCHEDULE),
    ("get-surface", RuntypeGetScheduleOperator, {"schedule_id": "sch-1", **SURF_IDS}, "GET", f"{SURFACE}/sch-1",
     None, SURFACE_SCHEDULE, SURFACE_SCHEDULE),
    ("list-global", RuntypeListSchedulesOperator, {}, "GET", GLOBAL, None,
     {"data": [SCHEDULE], "pagination": {"hasMore": False, "hasPrev": False, "limit": 100, "currentOffset": 0}},
     [SCHEDULE]),
    ("list-surface", RuntypeListSchedulesOperator, dict(SURF_IDS), "GET", SURFACE, None,
     {"data": [SURFACE_SCHEDULE]}, [SURFACE_SCHEDULE]),
    ("runs-global", RuntypeListScheduleRunsOperator, {"schedule_id": "sch-1"}, "GET", f"{GLOBAL}/sch-1/runs", None,
     {"data": [RUN]}, [RUN]),
    ("runs-surface", RuntypeListScheduleRunsOperator, {"schedule_id": "sch-1", **SURF_IDS}, "GET",
     f"{SURFACE}/sch-1", None, SURFACE_SCHEDULE, [RECENT_RUN]),
    ("create-global-flow", RuntypeCreateScheduleOperator,
     {"flow_id": "flow-1", "record_type": "customer", "record_ids": ["r1", "r2"], "cron": "0 2 * * *",
      "timezone": "Europe/Paris", "execution_options": {"chunkSize": 10, "maxRetries": 2}, "name": "nightly",
      "inputs": {"lang": "en"},
      "record_filter": {"type": "company", "where": {"field": "tier", "op": "eq", "value": "gold"}}},
     "POST", GLOBAL,
     {"target": {"flowId": "flow-1", "recordType": "customer", "recordIds": ["r1", "r2"]},
      "trigger": {"type": "recurring", "cron": "0 2 * * *", "timezone": "Europe/Paris"},
      "executionOptions": {"chunkSize": 10, "maxRetries": 2}, "name": "nightly", "inputs": {"lang": "en"},
      "recordFilter": {"type": "company", "where": {"field": "tier", "op": "eq", "value": "gold"}}},
     {"id": "sch-new", "status": "active"}, {"id": "sch-new", "status": "active"}),
    ("create-global-agent", RuntypeCreateScheduleOperator,
     {"agent_id": "agent-1", "run_at": "2026-05-01T10:00:00Z", "messages": [{"role": "user", "content": "hi"}]},
     "POST", GLOBAL,
     {"target": {"agentId": "agent-1"}, "trigger": {"type": "one_time", "runAt": "2026-05-01T10:00:00Z"},
      "messages": [{"role": "user", "content": "hi"}]},
     {"id": "sch-a", "status": "active"}, {"id": "sch-a", "status": "active"}),
    ("create-surface", RuntypeCreateScheduleOperator,
     {**SURF_IDS, "flow_id": "flow-1", "cron": "*/15 * * * *", "timezone": "UTC", "enabled": False,
      "execution_options": {"loggingPolicy": "off"}, "record_type": "customer"},
     "POST", SURFACE,
     {"flowId": "flow-1", "triggerType": "recurring", "cron": "*/15 * * * *", "timezone": "UTC", "enabled": False,
      "executionOptions": {"loggingPolicy": "off"}, "recordType": "customer"},
     SURFACE_SCHEDULE, SURFACE_SCHEDULE),
    ("update-global", RuntypeUpdateScheduleOperator,
     {"schedule_id": "sch-1", "cron": "5 * * * *", "timezone": "UTC", "name": "renamed"}, "PUT", f"{GLOBAL}/sch-1",
     {"trigger": {"type": "recurring", "cron": "5 * * * *", "timezone": "UTC"}, "name": "renamed"},
     {"id": "sch-1", "status": "updated"}, {"id": "sch-1", "status": "updated"}),
    ("update-surface", RuntypeUpdateScheduleOperator, {"schedule_id": "sch-1", **SURF_IDS, "enabled": True},
     "PUT", f"{SURFACE}/sch-1", {"enabled": True}, SURFACE_SCHEDULE, SURFACE_SCHEDULE),
    ("pause-global", RuntypePauseScheduleOperator, {"schedule_id": "sch-1"}, "POST", f"{GLOBAL}/sch-1/pause", None,
     {"status": "paused"}, {"status": "paused"}),
    ("pause-surface", RuntypePauseScheduleOperator, {"schedule_id": "sch-1", **SURF_IDS}, "POST",
     f"{SURFACE}/sch-1/pause", None, {"status": "paused"}, {"status": "paused"}),
    ("resume-global", RuntypeResumeScheduleOperator, {"schedule_id": "sch-1"}, "POST", f"{GLOBAL}/sch-1/resume",
     None, {"status": "resumed"}, {"status": "resumed"}),
    ("resume-surface", RuntypeResumeScheduleOperator, {"schedule_id": "sch-1", **SURF_IDS}, "POST",
     f"{SURFACE}/sch-1/resume", None, {"status": "resumed"}, {"status": "resumed"}),
    ("delete-global", RuntypeDeleteScheduleOperator, {"schedule_id": "sch-1"}, "DELETE", f"{GLOBAL}/sch-1", None,
     {"success": True}, {"success": True}),
    ("delete-surface", RuntypeDeleteScheduleOperator, {"schedule_id": "sch-1", **SURF_IDS}, "DELETE",
     f"{SURFACE}/sch-1", None, {"success": True}, {"success": True}),
]  # fmt: skip
CASE_IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(
    ("name", "cls", "kwargs", "method", "url", "body", "response", "expected"), CASES, ids=CASE_IDS
)
def test_calls_the_right_endpoint_with_the_right_body(
    runtype_conn, requests_mock, context, name, cls, kwargs, method, url, body, response, expected
):
    route = requests_mock.register_uri(method, url, json=response)

    cls(task_id="op", **kwargs).execute(context)

    assert route.call_count == 1
    assert requests_mock.call_count == 1
    sent = route.last_request
    assert sent.method == method
    assert sent.headers["Authorization"] == f"Bearer {runtype_conn['password']}"
    if body is None:
        assert not sent.body or sent.json() == {}
    else:
        assert sent.json() == body


@pytest.mark.parametrize(
    ("name", "cls", "kwargs", "method", "url", "body", "response", "expected"), CASES, ids=CASE_IDS
)
def test_returns_a_json_serializable_dict_with_api_field_names(
    runtype_conn, requests_mock, context, name, cls, kwargs, method, url, body, response, expected
):
    requests_mock.register_uri(method, url, json=response)

    out = cls(task_id="op", **kwargs).execute(context)

    assert json.loads(json.dumps(out)) == out
    assert contains(out, expected), out
    assert camel_keys(out)


def test_simple_answers_are_returned_exactly(runtype_conn, requests_mock, context):
    requests_mock.post(f"{GLOBAL}/sch-1/pause", json={"status": "paused"})
    requests_mock.delete(f"{GLOBAL}/sch-1", json={"success": True})

    assert RuntypePauseScheduleOperator(task_id="p", schedule_id="sch-1").execute(context) == {"status": "paused"}
    assert RuntypeDeleteScheduleOperator(task_id="d", schedule_id="sch-1").execute(context) == {"success": True}


def test_get_keeps_fields_unknown_to_the_model(runtype_conn, requests_mock, context):
    requests_mock.get(f"{GLOBAL}/sch-1", json=SCHEDULE)

    out = RuntypeGetScheduleOperator(task_id="g", schedule_id="sch-1").execute(context)

    assert out["someNewApiField"] == {"kept": True}


def test_get_of_a_missing_schedule_raises_not_found(runtype_conn, requests_mock, context):
    requests_mock.get(f"{GLOBAL}/nope", status_code=404, json={"error": "Schedule not found"})

    with pytest.raises(RuntypeNotFoundError, match="Schedule not found"):
        RuntypeGetScheduleOperator(task_id="g", schedule_id="nope").execute(context)


def _page(ids: list[str], cursor: str | None) -> dict[str, Any]:
    return {
        "data": [{**SCHEDULE, "id": i} for i in ids],
        "pagination": {"hasMore": cursor is not None, "hasPrev": False, "limit": 2, "currentOffset": 0,
                       "nextCursor": cursor},
    }  # fmt: skip


def test_list_sends_filters_and_stops_at_max_items(runtype_conn, requests_mock, context):
    route = requests_mock.get(
        GLOBAL, [{"json": _page(["s1", "s2"], "c2")}, {"json": _page(["s3", "s4"], "c3")}, {"json": _page([], None)}]
    )

    out = RuntypeListSchedulesOperator(task_id="l", search="night", status="paused", max_items=3, page_size=2).execute(
        context
    )

    assert [s["id"] for s in out] == ["s1", "s2", "s3"]
    assert route.call_count == 2  # the third page is never fetched
    first, second = (parse_qs(urlsplit(r.url).query) for r in route.request_history)
    assert first == {"limit": ["2"], "search": ["night"], "status": ["paused"]}
    assert second == {"limit": ["2"], "search": ["night"], "status": ["paused"], "cursor": ["c2"]}


def test_list_max_items_on_a_page_boundary_fetches_no_extra_page(runtype_conn, requests_mock, context):
    route = requests_mock.get(GLOBAL, [{"json": _page(["s1", "s2"], "c2")}, {"json": _page(["s3"], None)}])

    out = RuntypeListSchedulesOperator(task_id="l", max_items=2, page_size=2).execute(context)

    assert [s["id"] for s in out] == ["s1", "s2"]
    assert route.call_count == 1


def test_list_without_max_items_follows_every_page(runtype_conn, requests_mock, context):
    route = requests_mock.get(GLOBAL, [{"json": _page(["s1", "s2"], "c2")}, {"json": _page(["s3"], None)}])

    out = RuntypeListSchedulesOperator(task_id="l", page_size=2).execute(context)

    assert [s["id"] for s in out] == ["s1", "s2", "s3"]
    assert route.call_count == 2


def test_list_surface_respects_max_items(runtype_conn, requests_mock, context):
    requests_mock.get(SURFACE, json={"data": [{**SURFACE_SCHEDULE, "id": f"s{i}"} for i in range(5)]})

    out = RuntypeListSchedulesOperator(task_id="l", max_items=2, **SURF_IDS).execute(context)

    assert [s["id"] for s in out] == ["s0", "s1"]


@pytest.mark.parametrize("bad", [0, -1, "3", 2.5, True])
def test_list_max_items_must_be_a_positive_integer(requests_mock, bad):
    with pytest.raises(RuntypeConfigurationError, match="'max_items'"):
        RuntypeListSchedulesOperator(task_id="l", max_items=bad)


# --------------------------------------------------------------------------------------------------
# Validation at construction (no request, error names the argument)


@pytest.mark.parametrize(
    ("cls", "kwargs", "pattern"),
    [
        (RuntypeCreateScheduleOperator, {"flow_id": "f", "agent_id": "a", "cron": "0 * * * *"},
         "'flow_id' or 'agent_id'"),
        (RuntypeCreateScheduleOperator, {"cron": "0 * * * *"}, "'flow_id' or 'agent_id'"),
        (RuntypeCreateScheduleOperator, {**SURF_IDS, "cron": "0 * * * *"}, "'flow_id' is required"),
        (RuntypeCreateScheduleOperator, {"flow_id": "f"}, "'cron'.*'run_at'"),
        (RuntypeCreateScheduleOperator, {"flow_id": "f", "cron": "0 * * * *", "run_at": "2026-01-01T00:00:00Z"},
         "'cron'.*'run_at'"),
        (RuntypeCreateScheduleOperator, {"flow_id": "f", "cron": "0 * * * *", "enabled": True},
         "'enabled' not accepted by global schedules"),
        (RuntypeCreateScheduleOperator, {**SURF_IDS, "agent_id": "a", "cron": "0 * * * *"},
         "'agent_id' not accepted by product-surface schedules"),
        (RuntypeCreateScheduleOperator, {**SURF_IDS, "flow_id": "f", "cron": "0 * * * *", "name": "n"},
         "'name' not accepted by product-surface schedules"),
        (RuntypeCreateScheduleOperator, {**SURF_IDS, "flow_id": "f", "cron": "0 * * * *", "inputs": {}},
         "'inputs' not accepted"),
        (RuntypeCreateScheduleOperator, {"product_id": "p", "flow_id": "f", "cron": "0 * * * *"}, "'surface_id'"),
        (RuntypeUpdateScheduleOperator, {"schedule_id": "sch-1"}, "at least one field"),
        (RuntypeUpdateScheduleOperator, {"flow_id": "f"}, "'schedule_id' or 'schedule_name' is required"),
        (RuntypeUpdateScheduleOperator, {"schedule_id": "s", "enabled": False}, "'enabled' not accepted by global"),
        (RuntypeGetScheduleOperator, {}, "'schedule_id' or 'schedule_name' is required"),
        (RuntypeGetScheduleOperator, {"schedule_id": "s", "surface_id": "x"}, "'product_id'"),
        (RuntypeListScheduleRunsOperator, {"schedule_id": ""}, "'schedule_id' or 'schedule_name' is required"),
        (RuntypePauseScheduleOperator, {}, "'schedule_id' or 'schedule_name' is required"),
        (RuntypeResumeScheduleOperator, {}, "'schedule_id' or 'schedule_name' is required"),
        (RuntypeDeleteScheduleOperator, {}, "'schedule_id' or 'schedule_name' is required"),
        (RuntypeDeleteScheduleOperator, {"schedule_id": "s", "schedule_name": "n"}, "not both"),
        (RuntypeCreateScheduleOperator, {"flow_id": "f", "cron": "0 * * * *", "schedule_name": "n"},
         "drop 'schedule_name'"),
        (RuntypeListSchedulesOperator, {"status": "sleeping"}, "'status'"),
        (RuntypeListSchedulesOperator, {**SURF_IDS, "search": "x"}, "'search' and 'status'"),
    ],
)  # fmt: skip
def test_constructor_errors_name_the_argument(requests_mock, cls, kwargs, pattern):
    with pytest.raises(RuntypeConfigurationError, match=pattern):
        cls(task_id="op", **kwargs)

    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"flow_id": "f", "cron": "every day"}, "'cron'"),
        ({"flow_id": "f", "run_at": "tomorrow"}, "'run_at'"),
        ({"flow_id": "f", "cron": "0 * * * *", "execution_options": {"chunkSize": 0}}, "'execution_options.chunkSize'"),
        ({"flow_id": "f", "cron": "0 * * * *", "execution_options": {"loggingPolicy": "on"}}, "loggingPolicy"),
    ],
)
def test_invalid_payload_values_fail_before_any_request(runtype_conn, requests_mock, context, kwargs, argument):
    op = RuntypeCreateScheduleOperator(task_id="c", **kwargs)

    with pytest.raises(RuntypeConfigurationError, match=argument):
        op.execute(context)

    assert requests_mock.call_count == 0


def test_templated_list_status_is_accepted_at_construction():
    assert RuntypeListSchedulesOperator(task_id="l", status="{{ params.status }}").status == "{{ params.status }}"


# --------------------------------------------------------------------------------------------------
# Templating

ALL_OPERATORS = [
    RuntypeGetScheduleOperator,
    RuntypeListScheduleRunsOperator,
    RuntypeCreateScheduleOperator,
    RuntypeUpdateScheduleOperator,
    RuntypePauseScheduleOperator,
    RuntypeResumeScheduleOperator,
    RuntypeDeleteScheduleOperator,
]
PAYLOAD_FIELDS = {
    "flow_id", "agent_id", "record_type", "record_ids", "record_filter", "trigger_type", "cron", "timezone",
    "run_at", "execution_options", "name", "inputs", "messages", "enabled",
}  # fmt: skip


@pytest.mark.parametrize("cls", ALL_OPERATORS, ids=lambda c: c.__name__)
def test_ids_are_templated(cls):
    assert set(cls.template_fields) >= {"schedule_id", "product_id", "surface_id"}


@pytest.mark.parametrize("cls", [RuntypeCreateScheduleOperator, RuntypeUpdateScheduleOperator])
def test_payload_fields_are_templated_with_json_renderers(cls):
    assert set(cls.template_fields) >= PAYLOAD_FIELDS
    assert cls.template_fields_renderers == {
        "execution_options": "json",
        "record_filter": "json",
        "inputs": "json",
        "messages": "json",
    }


def test_list_filters_and_surface_ids_are_templated():
    assert set(RuntypeListSchedulesOperator.template_fields) >= {"product_id", "surface_id", "search", "status"}


def test_templated_payload_renders_nested_values(runtype_conn, requests_mock, context):
    route = requests_mock.post(GLOBAL, json={"id": "sch-new", "status": "active"})
    op = RuntypeCreateScheduleOperator(
        task_id="c",
        flow_id="{{ params.flow }}",
        cron="{{ params.cron }}",
        inputs={"day": "{{ params.day }}"},
        record_ids=["{{ params.rec }}"],
    )

    op.render_template_fields({"params": {"flow": "flow-9", "cron": "0 3 * * *", "day": "mon", "rec": "r-1"}})
    op.execute(context)

    assert route.last_request.json() == {
        "target": {"flowId": "flow-9", "recordIds": ["r-1"]},
        "trigger": {"type": "recurring", "cron": "0 3 * * *"},
        "inputs": {"day": "mon"},
    }


@pytest.mark.parametrize(
    ("cls", "method", "suffix", "answer", "extra"),
    [
        (RuntypeGetScheduleOperator, "GET", "", SCHEDULE, {}),
        (RuntypeListScheduleRunsOperator, "GET", "/runs", {"data": [RUN]}, {}),
        (RuntypeUpdateScheduleOperator, "PUT", "", {"id": "sch-1", "status": "updated"}, {"name": "renamed"}),
        (RuntypePauseScheduleOperator, "POST", "/pause", {"status": "paused"}, {}),
        (RuntypeResumeScheduleOperator, "POST", "/resume", {"status": "resumed"}, {}),
        (RuntypeDeleteScheduleOperator, "DELETE", "", {"success": True}, {}),
    ],
)
@pytest.mark.parametrize("surface", [False, True], ids=["global", "surface"])
def test_every_single_schedule_operator_acts_on_the_schedule_its_name_names(
    runtype_conn, requests_mock, cls, method, suffix, answer, extra, surface
):
    listed = [{**SCHEDULE, "id": "sch-old", "name": "nightly backup"}, SCHEDULE]
    if surface:
        lookup = requests_mock.get(SURFACE, json={"data": listed})
        extra = {**SURF_IDS, "enabled": False} if cls is RuntypeUpdateScheduleOperator else dict(SURF_IDS)
        if cls is RuntypeListScheduleRunsOperator:
            method, suffix, answer = "GET", "", SURFACE_SCHEDULE
    else:
        lookup = requests_mock.get(GLOBAL, json={"data": listed, "pagination": {"hasMore": False}})
    base = SURFACE if surface else GLOBAL
    action = requests_mock.register_uri(method, f"{base}/sch-1{suffix}", json=answer)
    op = cls(task_id="t", schedule_name="{{ params.name }}", **extra)
    op.render_template_fields({"params": {"name": "nightly"}})

    op.execute({})

    assert (lookup.call_count, action.call_count) == (1, 1)
    assert surface or parse_qs(urlsplit(lookup.last_request.url).query)["search"] == ["nightly"]


@pytest.mark.parametrize("surface", [False, True], ids=["global", "surface"])
@pytest.mark.parametrize(
    ("stored", "given", "sent"),
    [("Europe/Paris", None, "Europe/Paris"), (None, None, None), ("Europe/Paris", "Asia/Tokyo", "Asia/Tokyo")],
)
def test_a_new_cron_keeps_the_schedules_timezone_unless_one_is_given(
    runtype_conn, requests_mock, context, surface, stored, given, sent
):
    """If Runtype replaces the whole trigger on update, a cron-only change must not move the schedule to UTC."""
    base, extra = (SURFACE, dict(SURF_IDS)) if surface else (GLOBAL, {})
    current = requests_mock.get(
        f"{base}/sch-1", json={**(SURFACE_SCHEDULE if surface else SCHEDULE), "timezone": stored}
    )
    update = requests_mock.put(f"{base}/sch-1", json=SURFACE_SCHEDULE if surface else {"id": "sch-1"})
    timezone = {} if given is None else {"timezone": given}

    RuntypeUpdateScheduleOperator(task_id="t", schedule_id="sch-1", cron="0 3 * * *", **timezone, **extra).execute(
        context
    )

    body = update.last_request.json()
    assert (body.get("timezone") if surface else body["trigger"].get("timezone")) == sent
    assert current.call_count == (0 if given else 1)  # read only when the change needs it
