"""Test setup: an isolated AIRFLOW_HOME and settings, fixed before Airflow is first imported."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="runtype-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "example_dags"))
os.environ.pop("AIRFLOW_CONN_RUNTYPE_DEFAULT", None)

import pytest  # noqa: E402

API_KEY = "rt_test_fake_unit_test_key_0123456789"
BASE_URL = "https://api.runtype.com"


@pytest.fixture
def runtype_conn(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A ``runtype_default`` connection (env var, no DB) pointing at the production URL (mocked in tests)."""
    conn = {"conn_type": "runtype", "host": BASE_URL, "password": API_KEY, "extra": {"retry_delay": 0.01}}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
    return conn


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake clock: records every retry wait instead of sleeping, for the sync and async paths."""
    recorded: list[float] = []

    async def fake_async_sleep(seconds: float) -> None:
        recorded.append(seconds)

    from runtype_provider.hooks.runtype import RuntypeHook

    original_init = RuntypeHook.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.sleep = recorded.append
        self.async_sleep = fake_async_sleep

    monkeypatch.setattr(RuntypeHook, "__init__", init)
    return recorded
