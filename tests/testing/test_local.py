"""``LocalRuntype`` (``runtype_provider.testing.local``): start/stop and port release, the loopback-only rule (bind
and ``Host``), its random admin token and headers, the Airflow connection strings it hands out, and that building it
never imports Airflow."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import requests

from runtype_provider.testing import LocalRuntype
from runtype_provider.testing.local import bind_socket, format_url, is_loopback


def test_admin_headers_open_the_admin_routes(runtype_server):
    config = runtype_server.url + "/_local/config"
    assert requests.get(config, timeout=5).status_code == 401
    response = requests.get(config, headers=runtype_server.admin_headers, timeout=5)
    assert response.status_code == 200
    assert runtype_server.api_key not in response.text


def test_the_admin_token_is_random_per_instance_and_an_explicit_one_wins():
    first, second = LocalRuntype(), LocalRuntype()
    assert first.admin_token != second.admin_token
    assert first.admin_token != first.api_key and len(first.admin_token) >= 32
    assert first.admin_headers == {"Authorization": f"Bearer {first.admin_token}"}
    first.reset()
    assert first.admin_headers == {"Authorization": f"Bearer {first.admin_token}"}
    assert LocalRuntype(admin_token="rt_test_adm").admin_token == "rt_test_adm"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.3"])
def test_the_host_it_was_told_to_bind_is_answered(host):
    with LocalRuntype(host=host) as server:
        headers = {"Host": f"{host}:{server.port}", "Authorization": f"Bearer {server.api_key}"}
        assert requests.get(server.url + "/v1/schedules", headers=headers, timeout=5).status_code == 200
        headers["Host"] = f"{host}.evil.example:{server.port}"
        assert requests.get(server.url + "/v1/schedules", headers=headers, timeout=5).status_code == 421
        assert server.request_log_stats == {"logged": 1, "dropped": 0, "refused_hosts": 1}


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


def test_a_started_server_cannot_be_started_again():
    with LocalRuntype() as server:
        url = server.url
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
        assert server.running and server.url == url


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


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.1", False), ("localhost.example.com", False), ("", False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_bind_socket_maps_localhost_to_127_0_0_1_and_refuses_other_hosts():
    sock = bind_socket("localhost", 0)
    try:
        assert format_url(sock) == f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
    with pytest.raises(ValueError, match=r"refusing to bind non-loopback host '0\.0\.0\.0'"):
        bind_socket("0.0.0.0", 0)


def test_the_testing_package_never_imports_airflow():
    code = (
        "import sys; from runtype_provider.testing import LocalRuntype, create_app;"
        "LocalRuntype(); create_app(); print('airflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
