"""runtype_provider.api.spec: the API table, one description from which the hook, the local Runtype's routes and its
faults derive."""

from __future__ import annotations

import inspect
import re
import string
import subprocess
import sys

import pytest

from runtype_provider.api.spec import ENDPOINTS, MAX_BATCH_RECORDS
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.testing.fake.app import ROUTES
from runtype_provider.testing.fake.faults import OPERATIONS
from runtype_provider.testing.fake.handlers import State


def test_the_table_has_every_documented_operation_once():
    assert len(ENDPOINTS) == 29
    assert len({(e.method, e.path) for e in ENDPOINTS.values()}) == 29
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


def test_only_creates_run_now_and_batch_submission_are_not_idempotent():
    assert {o for o, e in ENDPOINTS.items() if not e.idempotent} == {
        "create_schedule",
        "create_surface_schedule",
        "run_schedule_now",
        "run_surface_schedule_now",
        "submit_batch",
    }


def test_the_batch_endpoints():
    rows = {o: (e.method, e.path, e.response, e.body, e.unwrap) for o, e in ENDPOINTS.items() if "batch" in e.path}
    assert {o: rows[o] for o in rows if o not in ("get_batch_results", "get_batch_status", "cancel_batch")} == {
        "submit_batch": ("POST", "/v1/batch/flow", "BatchSubmitted", "batch", False),
        "get_batch_summary": ("GET", "/v1/batch/summary", "BatchSummary", None, False),
        "get_batch_cost": ("GET", "/v1/batch/{batch_id}/cost", "BatchCost", None, False),
        "get_batch_record_cost": ("GET", "/v1/batch/{batch_id}/records/{record_id}/cost", "RecordCost", None, False),
        "list_batch_record_steps": (
            "GET", "/v1/batch/{batch_id}/records/{record_id}/steps", "BatchRecordStepList", None, True,
        ),
    }  # fmt: skip
    assert MAX_BATCH_RECORDS == 50_000


def _matches(template: str, path: str) -> bool:
    pattern = re.escape(template)
    for name in string.Formatter().parse(template):
        if name[1]:
            pattern = pattern.replace(re.escape("{" + name[1] + "}"), "[^/]+")
    return re.fullmatch(pattern, path) is not None


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_a_literal_path_comes_before_every_template_that_also_matches_it(method):
    """Routers that match in order (the local Runtype's) must reach the literal route first."""
    endpoints = [e for e in ENDPOINTS.values() if e.method == method]
    for n, endpoint in enumerate(endpoints):
        if endpoint.path_params:
            continue
        earlier = [e.path for e in endpoints[:n] if e.path_params and _matches(e.path, endpoint.path)]
        assert not earlier, (endpoint.path, earlier)


def test_the_table_imports_no_airflow():
    """The local Runtype uses the table; it must stay cheap to import and independent of Airflow."""
    code = "import sys, runtype_provider.api.spec; print('airflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"
