"""``runtype-local`` as a real process: free port, port file, demo data, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import re
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
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
# Every schedule id an example DAG names (the README tells users to run them against `runtype-local --seed-demo`).
EXAMPLE_DAG_SCHEDULES = {
    match for path in EXAMPLE_DAGS.glob("*.py") for match in re.findall(r'"(sch_[a-z0-9_]+)"', path.read_text())
}


def test_the_example_dags_name_schedules():
    assert len(EXAMPLE_DAG_SCHEDULES) >= 5


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "port file not written in time"
        time.sleep(0.02)
    return path.read_text()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_starts_on_a_free_port_serves_demo_data_and_stops_cleanly(tmp_path, stop_signal):
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
        url = f"http://127.0.0.1:{port}"
        assert requests.get(url + "/_local/health", timeout=5).json() == {"status": "ok"}
        config = requests.get(url + "/_local/config", headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}, timeout=5)
        assert config.json()["cron_runs"] is True
        listed = requests.get(url + "/v1/schedules", headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}, timeout=5)
        assert {s["id"] for s in listed.json()["data"]} == {spec["schedule_id"] for spec in DEMO_SCHEDULES}
        assert {s["id"] for s in listed.json()["data"]} >= EXAMPLE_DAG_SCHEDULES
        surface = requests.get(
            url + "/v1/products/prod_demo/surfaces/surf_weekly_digest/schedules",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
            timeout=5,
        )
        assert [s["id"] for s in surface.json()["data"]] == ["sch_weekly_digest"]
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"Local Runtype listening on {url}" in stdout
    assert f"API key: {DEFAULT_API_KEY}" in stdout
    assert f"Admin routes ({url}/_local/): send Authorization: Bearer <the API key>" in stdout
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
    assert f"Admin routes ({url}/_local/): send Authorization: Bearer <the --admin-token value>" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record-count", "100001"], "default_record_count must be at most 100000"),
        (["--running-seconds", "nan"], "running_seconds must be a finite number"),
        (["--admin-token", ""], "admin_token must be a non-empty string"),
        (["--latency", "61"], "latency_seconds"),
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
    assert "GET /_local/health" in result.stdout and '"Authorization: Bearer <admin token>"' in result.stdout
