"""The pytest plugin (``runtype_provider.testing.pytest_plugin``): the ``runtype_server`` fixture (a fresh server per
test, the Airflow connection env var, the ``runtype`` marker's options), the session fixture, and cheap imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests


def test_fixture_sets_the_airflow_connection_env_var(runtype_server, monkeypatch):
    conn = json.loads(os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"])
    assert conn == {"conn_type": "runtype", "host": runtype_server.url, "password": runtype_server.api_key}
    assert runtype_server.url.startswith("http://127.0.0.1:")
    assert requests.get(runtype_server.url + "/_local/health", timeout=5).status_code == 200


@pytest.mark.runtype(queued_seconds=0.25, failure_share=0.5, api_key="rt_test_marker")
def test_each_test_starts_from_the_initial_state(runtype_server):
    assert runtype_server.state.list_schedules({})["data"] == []
    assert runtype_server.requests == []
    runtype_server.seed_schedule()
    runtype_server.configure(failure_share=0.0)  # the next test gets a fresh server


@pytest.mark.runtype(queued_seconds=0.25, failure_share=0.5, api_key="rt_test_marker")
def test_marker_options_configure_the_server(runtype_server):
    settings = runtype_server.state.settings
    assert (settings.queued_seconds, settings.failure_share, runtype_server.api_key) == (0.25, 0.5, "rt_test_marker")


def test_session_fixture_serves(runtype_server_session):
    response = requests.get(
        runtype_server_session.url + "/v1/schedules",
        headers={"Authorization": f"Bearer {runtype_server_session.api_key}"},
        timeout=5,
    )
    assert response.status_code == 200


def test_importing_the_package_and_plugin_is_cheap():
    code = (
        "import sys, runtype_provider.testing, runtype_provider.testing.pytest_plugin;"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'airflow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
