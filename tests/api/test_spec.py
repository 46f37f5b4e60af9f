"""runtype_provider.api.spec: the API table, one description from which the hook, the local Runtype's routes and its
faults derive."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from runtype_provider.api.spec import ENDPOINTS
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


def test_the_table_imports_no_airflow():
    """The local Runtype uses the table; it must stay cheap to import and independent of Airflow."""
    code = "import sys, runtype_provider.api.spec; print('airflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"
