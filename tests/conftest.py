"""Test setup: an isolated AIRFLOW_HOME and settings, fixed before Airflow is first imported; shared fixtures."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
import respx
from structlog.testing import capture_logs

_HOME = Path(tempfile.mkdtemp(prefix="runtype-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "example_dags"))
os.environ.pop("AIRFLOW_CONN_RUNTYPE_DEFAULT", None)

# Import the provider first, with warnings as errors (pyproject), so a deprecated import in *our* code fails.
import runtype_provider.operators.runtype  # noqa: E402
import runtype_provider.sensors.runtype  # noqa: E402
import runtype_provider.triggers.runtype  # noqa: E402, F401

# Airflow 3.1 core + standard provider 1.21 warn from *inside Airflow* the first time an operator is built
# (airflow.serialization imports airflow.operators.branch). Not ours; load it once with that warning muted.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"The `airflow\.operators\.", category=FutureWarning)
    import airflow.serialization.serialized_objects  # noqa: F401

API_KEY = "rt_test_fake_unit_test_key_0123456789"
BASE_URL = "https://api.runtype.com"


@pytest.fixture
def runtype_conn(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A ``runtype_default`` connection (env var, no DB) pointing at the production URL (mocked in tests)."""
    conn = {"conn_type": "runtype", "host": BASE_URL, "password": API_KEY, "extra": {"retry_delay": 0.01}}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
    return conn


@pytest.fixture
def api_key(runtype_conn: dict) -> str:
    return runtype_conn["password"]


@pytest.fixture
def hook(runtype_conn: dict, sleeps: list[float]) -> Any:
    """A RuntypeHook on ``runtype_conn`` (retry_delay 0.01 s) whose retry sleeps are recorded, not slept."""
    from runtype_provider.hooks.runtype import RuntypeHook

    return RuntypeHook()


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


# --------------------------------------------------------------------------------------------------
# A run and its payloads: run run-1 / batch b-1 of schedule sch-1, ten records.


@pytest.fixture
def run_reference() -> dict[str, Any]:
    """Exactly what RuntypeRunScheduleOperator pushes under ``run_reference`` for run run-1 / batch b-1."""
    return {
        "schedule_id": "sch-1",
        "run_id": "run-1",
        "batch_execution_id": "b-1",
        "product_id": None,
        "surface_id": None,
        "run_url": "https://app.runtype.com/schedules/sch-1/runs/run-1",
    }


@pytest.fixture
def batch_status_body() -> Callable[..., dict[str, Any]]:
    """``batch_status_body(status, total=10, processed=total, failed=0, error=None)``: a batch status body."""

    def body(
        status: str, *, total: int = 10, processed: int | None = None, failed: int = 0, error: str | None = None
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "batchExecutionId": "b-1",
            "status": status,
            "flowId": "flow-1",
            "totalRecords": total,
            "processedRecords": total if processed is None else processed,
            "failedRecords": failed,
            "startedAt": "2026-01-01T00:00:00Z",
        }
        if error is not None:
            answer["error"] = error
        return answer

    return body


@pytest.fixture
def run_result(run_reference: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """``run_result(status, outcome, ref=run_reference, total=10, processed=total, failed=0)``: a wait's result."""

    def result(status: str, outcome: str, ref: dict[str, Any] | None = None, **counts: int) -> dict[str, Any]:
        total = counts.get("total", 10)
        return {
            **(ref or run_reference),
            "status": status,
            "outcome": outcome,
            "total_records": total,
            "processed_records": counts.get("processed", total),
            "failed_records": counts.get("failed", 0),
        }

    return result


@pytest.fixture
def wait_event(run_reference: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """``wait_event(kind, status=None, outcome=None, message="m", run=run_reference, **progress)``: the trigger's
    event; with a status it carries the run's progress (ten records, all processed, none failed, or ``progress``)."""

    def event(kind: str, status: str | None = None, outcome: str | None = None, **fields: Any) -> dict[str, Any]:
        run, message = fields.pop("run", run_reference), fields.pop("message", "m")
        counts = {"total_records": 10, "processed_records": 10, "failed_records": 0, "error": None}
        ids = {"run_id": "run-1", "batch_execution_id": "b-1", "completed_at": None, "listed": True}
        progress = {"status": status, "outcome": outcome, **counts, **ids, **fields} if status else None
        return {"event": kind, "run": run, "progress": progress, "message": message, "api_error": None}

    return event


# --------------------------------------------------------------------------------------------------
# The task's world: a fake clock, captured logs, a minimal task context, respx for the async hook.


class FakeClock:
    """Stands in for ``time`` where the wait engine and the run operator use it, and for ``asyncio.sleep``:
    sleeping, sync or async, advances the clock at once (the async sleep still yields to the event loop)."""

    EPOCH = 1_700_000_000.0

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.EPOCH + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    real_sleep = asyncio.sleep

    async def async_sleep(seconds: float, result: Any = None) -> Any:
        fake.sleep(seconds)
        await real_sleep(0)
        return result

    monkeypatch.setattr("runtype_provider.runs.watch.time", fake)
    monkeypatch.setattr("runtype_provider.tasks.waiting.time", fake)
    monkeypatch.setattr("runtype_provider.sensors.runtype.time", fake)
    monkeypatch.setattr(asyncio, "sleep", async_sleep)
    monkeypatch.setattr("runtype_provider.runs.watch.pause", async_sleep)  # the trigger's sleep between polls
    return fake


class Logs:
    """Everything logged during a test: Airflow's structlog task loggers and stdlib loggers (caplog)."""

    def __init__(self, events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
        self.events = events
        self.caplog = caplog

    def messages(self, level: str | None = None) -> list[str]:
        out = [(str(e.get("log_level", "")), str(e.get("event", ""))) for e in self.events]
        out += [(r.levelname.lower(), r.getMessage()) for r in self.caplog.records]
        return [message for lvl, message in out if level is None or lvl == level]

    def dump(self) -> str:
        """All of it, including structured extras and exception text, for secret scans."""
        parts = [repr(e) for e in self.events]
        parts += [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in self.caplog.records]
        return "\n".join(parts)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Logs]:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        yield Logs(events, caplog)


@pytest.fixture
def ti() -> MagicMock:
    return MagicMock(name="ti")


@pytest.fixture
def context(ti: MagicMock) -> dict[str, Any]:
    return {"ti": ti}


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx on the production base URL; any request not routed fails the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock
