"""The provider as Airflow's own CLI sees it: registration, hooks, and `airflow connections test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from runtype_provider.version_compat import AIRFLOW_V_3_3_PLUS

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def airflow(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    environment.update(AIRFLOW_HOME=tempfile.mkdtemp(prefix="runtype-cli-"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    environment.update(env)
    return subprocess.run([AIRFLOW, *args], env=environment, capture_output=True, text=True, timeout=120)


def test_providers_get_shows_the_provider_info() -> None:
    done = airflow("providers", "get", "airflow-provider-runtype", "--full", "-o", "json")

    assert done.returncode == 0, done.stderr
    payload = next(line for line in done.stdout.splitlines() if line.startswith("[{"))
    info = json.loads(payload)[0]
    assert info["package-name"] == "airflow-provider-runtype"
    assert info["connection-types"][0]["connection-type"] == "runtype"
    assert info["connection-types"][0]["hook-name"] == "Runtype"


def test_providers_hooks_lists_the_runtype_hook() -> None:
    done = airflow("providers", "hooks")

    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("runtype "))
    assert "runtype_provider.hooks.runtype.RuntypeHook" in row
    assert "airflow-provider-runtype" in row


@pytest.fixture
def local_runtype():
    from runtype_provider.testing import LocalRuntype

    with LocalRuntype() as server:
        yield server


def connection(url: str, key: str) -> str:
    return json.dumps({"conn_type": "runtype", "host": url, "password": key})


def test_connections_test_succeeds_against_local_runtype(local_runtype) -> None:
    done = airflow(
        "connections",
        "test",
        "runtype_default",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW_CONN_RUNTYPE_DEFAULT=connection(local_runtype.url, local_runtype.api_key),
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Connection success!" in done.stdout
    assert [r["operation"] for r in local_runtype.requests] == ["list_schedules"]


def test_connections_test_names_the_rejected_key_without_echoing_it(local_runtype) -> None:
    wrong_key = "rt_test_fake_wrong_key_0123456789"
    done = airflow(
        "connections",
        "test",
        "runtype_default",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW_CONN_RUNTYPE_DEFAULT=connection(local_runtype.url, wrong_key),
    )

    output = done.stdout + done.stderr
    if AIRFLOW_V_3_3_PLUS:  # Airflow 3.1's CLI exits 0 even when the test fails
        assert done.returncode == 1
    assert "Connection failed!" in output and "HTTP 401" in output
    assert wrong_key not in output
