"""``runtype-local`` (``runtype_provider.testing.cli``) as a real process: free port, port file, demo data, clean stop
on SIGTERM/SIGINT, the admin token (random and printed, or given), the ``Host`` check, refused settings and hosts,
and the installed console script."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from runtype_provider.testing.demo_data import DEMO_SCHEDULES
from runtype_provider.testing.fake.settings import DEFAULT_API_KEY

COMMAND = [sys.executable, "-m", "runtype_provider.testing.cli"]


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "port file not written in time"
        time.sleep(0.02)
    return path.read_text()


def read_until(process: subprocess.Popen, prefix: str, timeout: float = 20) -> tuple[list[str], str]:
    """The stdout lines up to the ``Admin routes`` line (all printed before the port file is written), and the
    value of the line starting with ``prefix``. Reads the pipe byte by byte, so ``communicate`` later gets the
    rest (a buffered reader would keep what it read ahead)."""
    assert process.stdout is not None
    lines, line, deadline = [], b"", time.monotonic() + timeout
    while not lines or not lines[-1].startswith("Admin routes"):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        byte = os.read(process.stdout.fileno(), 1) if ready else b""
        assert byte, f"stdout ended or stalled after {lines}"
        line += byte
        if byte == b"\n":
            lines.append(line.decode())
            line = b""
    values = [text[len(prefix) :].strip() for text in lines if text.startswith(prefix)]
    assert values, f"no {prefix!r} line in {lines}"
    return lines, values[0]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_starts_on_a_free_port_serves_demo_data_and_stops_cleanly(tmp_path, stop_signal, example_dag_schedules):
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            *COMMAND,
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--seed-demo",
            "--running-seconds",
            "0",
            "--cron-runs",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(wait_for_file(port_file, process))
        printed, admin_token = read_until(process, "Admin token: ")
        url = f"http://127.0.0.1:{port}"
        assert requests.get(url + "/_local/health", timeout=5).json() == {"status": "ok"}
        as_client = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        assert requests.get(url + "/_local/config", headers=as_client, timeout=5).status_code == 401
        config = requests.get(url + "/_local/config", headers={"Authorization": f"Bearer {admin_token}"}, timeout=5)
        assert config.json()["cron_runs"] is True
        assert admin_token != DEFAULT_API_KEY and len(admin_token) >= 32
        listed = requests.get(url + "/v1/schedules", headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}, timeout=5)
        assert {s["id"] for s in listed.json()["data"]} == {spec["schedule_id"] for spec in DEMO_SCHEDULES}
        assert {s["id"] for s in listed.json()["data"]} >= example_dag_schedules
        surface = requests.get(
            url + "/v1/products/prod_demo/surfaces/surf_weekly_digest/schedules",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
            timeout=5,
        )
        assert [s["id"] for s in surface.json()["data"]] == ["sch_weekly_digest"]
        process.send_signal(stop_signal)
        rest, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    stdout = "".join(printed) + rest
    assert f"Local Runtype listening on {url}" in stdout
    assert f"API key: {DEFAULT_API_KEY}" in stdout
    assert f"Admin token: {admin_token}\n" in stdout
    assert f"Admin routes ({url}/_local/): send Authorization: Bearer <admin token>" in stdout
    assert "Local Runtype stopped" in stdout
    assert not port_file.exists()


def test_admin_routes_need_the_admin_token_and_never_return_it(tmp_path):
    port_file = tmp_path / "port"
    admin_token = "rt_test_cli_admin_token"
    process = subprocess.Popen(
        [*COMMAND, "--port-file", str(port_file), "--admin-token", admin_token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{int(wait_for_file(port_file, process))}"
        as_admin = {"Authorization": f"Bearer {admin_token}"}
        as_client = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        assert requests.put(url + "/_local/config", json={"failure_share": 1}, timeout=5).status_code == 401
        assert requests.get(url + "/_local/config", headers=as_client, timeout=5).status_code == 401
        config = requests.get(url + "/_local/config", headers=as_admin, timeout=5)
        assert config.status_code == 200
        assert config.json()["failure_share"] == 0
        assert DEFAULT_API_KEY not in config.text and admin_token not in config.text
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert admin_token not in stdout
    assert "Admin token: <the --admin-token value>" in stdout
    assert f"Admin routes ({url}/_local/): send Authorization: Bearer <admin token>" in stdout


def test_answers_only_loopback_or_allowed_hosts_and_warns_about_an_admin_token_that_is_the_api_key(tmp_path):
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [*COMMAND, "--port-file", str(port_file), "--allowed-host", "runtype.test", "--admin-token", DEFAULT_API_KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(wait_for_file(port_file, process))
        url, auth = f"http://127.0.0.1:{port}/_local/config", {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        statuses = {
            host: requests.get(url, headers={**auth, "Host": host}, timeout=5).status_code
            for host in (f"localhost:{port}", f"runtype.test:{port}", "evil.example", f"127.0.0.1.evil.example:{port}")
        }
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert list(statuses.values()) == [200, 200, 421, 421]
    assert "Also answering Host names: runtype.test" in stdout
    assert "runtype-local: warning: admin_token is an API key" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record-count", "100001"], "default_record_count must be at most 100000"),
        (["--running-seconds", "nan"], "running_seconds must be a finite number"),
        (["--admin-token", ""], "admin_token must be a non-empty string"),
        (["--latency", "61"], "latency_seconds"),
        (["--allowed-host", "*"], "allowed_hosts '*' is not a host name"),
        (["--allowed-host", "evil.example:80"], "allowed_hosts"),
        (["--max-logged-requests", "-1"], "max_logged_requests must be >= 0"),
    ],
)
def test_refuses_invalid_settings(args, message):
    result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr


def test_refuses_a_non_loopback_host():
    result = subprocess.run([*COMMAND, "--host", "0.0.0.0"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "refusing to bind non-loopback host" in result.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("runtype-local")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--port-file" in result.stdout and "--seed-demo" in result.stdout
    assert "--admin-token" in result.stdout and "--latency" in result.stdout
    assert "--allowed-host" in result.stdout and "--max-logged-requests" in result.stdout
    assert "GET /_local/health" in result.stdout and '"Authorization: Bearer <admin token>"' in result.stdout
