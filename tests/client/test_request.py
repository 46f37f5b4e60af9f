"""The API table: one description from which the hook, the local Runtype's routes and its faults derive."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from runtype_provider.api.ids import check_page_size, join_ids, segment
from runtype_provider.api.spec import ENDPOINTS, MAX_PAGE_SIZE
from runtype_provider.client.request import build_request, parse_answer
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeResponseError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.testing.fake.app import ROUTES
from runtype_provider.testing.fake.faults import OPERATIONS
from runtype_provider.testing.fake.handlers import State


def test_the_table_has_every_documented_operation_once():
    assert len(ENDPOINTS) == 24
    assert len({(e.method, e.path) for e in ENDPOINTS.values()}) == 24
    assert all(name == e.operation for name, e in ENDPOINTS.items())


@pytest.mark.parametrize("operation", list(ENDPOINTS))
def test_every_operation_is_a_hook_method_and_a_local_runtype_handler(operation):
    assert callable(getattr(RuntypeHook, operation))
    handler = inspect.signature(getattr(State, operation)).parameters
    endpoint = ENDPOINTS[operation]
    assert set(endpoint.path_params) <= set(handler)
    assert ("query" in handler) == bool(endpoint.query)


def test_the_local_runtype_routes_and_fault_names_are_the_table():
    assert [(m, p, o) for m, p, o in ROUTES] == [(e.method, e.path, e.operation) for e in ENDPOINTS.values()]
    assert tuple(ENDPOINTS) == OPERATIONS


def test_only_creates_and_run_now_are_not_idempotent():
    assert {o for o, e in ENDPOINTS.items() if not e.idempotent} == {
        "create_schedule",
        "create_surface_schedule",
        "run_schedule_now",
        "run_surface_schedule_now",
    }


def test_a_request_quotes_each_id_and_keeps_the_query_and_body():
    request = build_request(
        "update_surface_schedule", product_id="p 1", surface_id="s/1", schedule_id="sch?1", body={"cron": "0 8 * * *"}
    )
    assert (request.method, request.path) == ("PUT", "/v1/products/p%201/surfaces/s%2F1/schedules/sch%3F1")
    assert request.body == {"triggerType": "recurring", "cron": "0 8 * * *"}
    assert request.idempotent is True
    listing = build_request("list_schedules", query={"limit": "5", "cursor": None})
    assert (listing.path, listing.query, listing.body) == ("/v1/schedules", {"limit": "5"}, None)


@pytest.mark.parametrize(
    ("operation", "arguments"),
    [
        ("get_schedule", {}),
        ("get_schedule", {"schedule_id": "s", "run_id": "r"}),
        ("list_schedules", {"query": {"offset": "1"}}),
    ],
)
def test_a_request_with_the_wrong_arguments_is_a_programming_error(operation, arguments):
    with pytest.raises(TypeError, match=operation):
        build_request(operation, **arguments)


@pytest.mark.parametrize("value", ["", "  ", None, True, 1.5, ["a"]])
def test_segment_refuses_what_is_not_an_id_by_name(value):
    with pytest.raises(RuntypeConfigurationError, match="'schedule_id' must be a non-empty string"):
        segment(value, "schedule_id")


@pytest.mark.parametrize("size", [0, MAX_PAGE_SIZE + 1, True, "10"])
def test_page_size_is_bounded(size):
    with pytest.raises(RuntypeConfigurationError, match=f"from 1 to {MAX_PAGE_SIZE}"):
        check_page_size(size)


def test_the_table_imports_no_airflow():
    """The local Runtype uses the table; it must stay cheap to import and independent of Airflow."""
    code = "import sys, runtype_provider.api.spec; print('airflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("value", [".", "..", " .. ", "\t.\n"])
@pytest.mark.parametrize("argument", ["schedule_id", "run_id", "batch_id", "product_id", "surface_id"])
def test_segment_refuses_dot_segments_by_name(value, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"^'{argument}' must not be '\\.{{1,2}}': a dot segment"):
        segment(value, argument)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [(".a", ".a"), ("..b", "..b"), ("...", "..."), ("a.", "a."), ("a/..", "a%2F.."), ("%2e%2e", "%252e%252e")],
)
def test_segment_keeps_ids_that_only_contain_dots(value, quoted):
    assert segment(value, "schedule_id") == quoted


@pytest.mark.parametrize(
    ("operation", "ids", "argument"),
    [
        ("cancel_batch", {"batch_id": ".."}, "batch_id"),
        ("get_schedule", {"schedule_id": "."}, "schedule_id"),
        ("get_run_results", {"run_id": ".."}, "run_id"),
        ("delete_surface_schedule", {"product_id": "..", "surface_id": "s", "schedule_id": "x"}, "product_id"),
        ("delete_surface_schedule", {"product_id": "p", "surface_id": "..", "schedule_id": "x"}, "surface_id"),
        ("delete_surface_schedule", {"product_id": "p", "surface_id": "s", "schedule_id": ".."}, "schedule_id"),
    ],
)
def test_every_request_refuses_dot_segment_ids_by_name(operation, ids, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"^'{argument}' must not be"):
        build_request(operation, **ids)


@pytest.mark.parametrize(
    ("values", "joined"),
    [(["a b", "c/d", "e%f", ".."], "a b,c/d,e%f,.."), ((" s1 ", 7), "s1,7"), ({"s1"}, "s1")],
)
def test_join_ids_joins_without_quoting(values, joined):
    assert join_ids(values, "schedule_ids", max_count=100) == joined


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("s1", "must be a list of 1 to 3 schedule ids"),
        ([], "must be a list of 1 to 3 schedule ids"),
        (["a", "b", "c", "d"], "must be a list of 1 to 3 schedule ids"),
        (["a", ""], "must be a non-empty string"),
        (["a", None], "must be a non-empty string"),
        (["a,b"], "'a,b' contains a comma"),
    ],
)
def test_join_ids_refuses_bad_lists_by_name(values, message):
    with pytest.raises(RuntypeConfigurationError, match=f"^'schedule_ids'.*{message}"):
        join_ids(values, "schedule_ids", max_count=3)


@pytest.mark.parametrize("operation", list(ENDPOINTS))
def test_parse_turns_a_wrong_shape_into_a_typed_error_naming_the_request(operation):
    endpoint = ENDPOINTS[operation]
    with pytest.raises(RuntypeResponseError) as caught:
        parse_answer(endpoint, [1, 2])
    err = caught.value
    assert (err.method, err.path) == (endpoint.method, endpoint.path)
    assert str(err).startswith(f"Runtype API {endpoint.method} {endpoint.path} returned an unexpected body: ")


def test_a_request_parses_its_answer_naming_its_own_path():
    request = build_request("get_batch_status", batch_id="b 1")
    with pytest.raises(RuntypeResponseError, match=r"^Runtype API GET /v1/batch/status/b%201 returned an unexpected"):
        request.parse({"totalRecords": -1})
    assert request.parse({}).status is None


def test_parse_turns_a_body_nested_too_deeply_into_a_typed_error(monkeypatch):
    from runtype_provider.api import responses as schemas

    def too_deep(data):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(schemas.Schedule, "model_validate", too_deep)
    with pytest.raises(
        RuntypeResponseError, match=r"^Runtype API GET /v1/schedules/s1 returned a body nested too deeply"
    ):
        build_request("get_schedule", schedule_id="s1").parse({})


@pytest.mark.parametrize(
    ("operation", "ids", "family"),
    [("create_schedule", {}, "global"), ("update_surface_schedule", {"product_id": "p", "surface_id": "s",
      "schedule_id": "x"}, "product-surface")],
)  # fmt: skip
def test_an_unknown_schedule_field_is_refused_by_name(operation, ids, family):
    with pytest.raises(RuntypeConfigurationError, match=f"'flowid' not accepted by {family} schedules"):
        build_request(operation, body={"flowid": "f1", "cron": "0 8 * * *"}, **ids)
