"""The API table: one description from which the hook, the local Runtype's routes and its faults derive."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from runtype_provider.endpoints import ENDPOINTS, MAX_PAGE_SIZE, check_page_size, segment
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.testing.faults import OPERATIONS
from runtype_provider.testing.server import ROUTES
from runtype_provider.testing.state import State


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
    request = ENDPOINTS["update_surface_schedule"].request(
        product_id="p 1", surface_id="s/1", schedule_id="sch?1", body={"cron": "0 8 * * *"}
    )
    assert (request.method, request.path) == ("PUT", "/v1/products/p%201/surfaces/s%2F1/schedules/sch%3F1")
    assert request.body == {"triggerType": "recurring", "cron": "0 8 * * *"}
    assert request.idempotent is True
    listing = ENDPOINTS["list_schedules"].request(query={"limit": "5", "cursor": None})
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
        ENDPOINTS[operation].request(**arguments)


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
    code = "import sys, runtype_provider.endpoints; print('airflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"
