"""The pytest fixtures, LocalRuntype's lifecycle, Airflow connection strings and cheap imports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import requests

from runtype_provider.testing import LocalRuntype


def test_fixture_sets_the_airflow_connection_env_var(runtype_server, monkeypatch):
    conn = json.loads(os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"])
    assert conn == {"conn_type": "runtype", "host": runtype_server.url, "password": runtype_server.api_key}
    assert runtype_server.url.startswith("http://127.0.0.1:")
    assert requests.get(runtype_server.url + "/_local/health", timeout=5).status_code == 200


def test_fixture_offers_admin_headers_for_the_admin_routes(runtype_server):
    config = runtype_server.url + "/_local/config"
    assert requests.get(config, timeout=5).status_code == 401
    response = requests.get(config, headers=runtype_server.admin_headers, timeout=5)
    assert response.status_code == 200
    assert runtype_server.api_key not in response.text


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


def test_airflow_parses_both_connection_forms():
    from airflow.sdk.definitions.connection import Connection

    with LocalRuntype(api_key="rt_test_a/b+c") as server:
        from_json = Connection.from_json(server.airflow_connection_json(), conn_id="runtype_default")
        from_uri = Connection.from_uri(server.airflow_connection_uri(), conn_id="runtype_default")
    assert (from_json.conn_type, from_json.host, from_json.password) == ("runtype", server.url, "rt_test_a/b+c")
    assert (from_uri.conn_type, from_uri.host, from_uri.port, from_uri.password) == (
        "runtype",
        "http://127.0.0.1",
        server.port,
        "rt_test_a/b+c",
    )


def test_start_stop_and_port_release():
    server = LocalRuntype()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    with server:
        address = ("127.0.0.1", server.port)
        assert server.running
        socket.create_connection(address, timeout=2).close()
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2).close()
    server.stop()  # idempotent


def test_a_given_port_is_used():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalRuntype(port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com"])
def test_non_loopback_hosts_are_refused(host):
    with pytest.raises(ValueError, match="non-loopback"):
        LocalRuntype(host=host)


def test_importing_the_package_and_plugin_is_cheap():
    code = (
        "import sys, runtype_provider.testing, runtype_provider.testing.pytest_plugin;"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'airflow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_the_testing_package_never_imports_airflow():
    code = (
        "import sys; from runtype_provider.testing import LocalRuntype, create_app;"
        "LocalRuntype(); create_app(); print('airflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
