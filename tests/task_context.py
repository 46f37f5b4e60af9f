"""Fixtures shared by the operator and sensor tests: a fake clock for the wait loop, log capture, a minimal
task context. Each of those folders' conftest imports them (``tests/`` is on sys.path via the root conftest)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any
from unittest.mock import MagicMock

import pytest
from structlog.testing import capture_logs

# Import the provider first, with warnings as errors (pyproject), so a deprecated import in *our* code fails.
import runtype_provider.operators.runtype as operators_module
import runtype_provider.sensors.runtype  # noqa: F401
import runtype_provider.waiting as waiting_module

# Airflow 3.1 core + standard provider 1.21 warn from *inside Airflow* the first time an operator is built
# (airflow.serialization imports airflow.operators.branch). Not ours; load it once with that warning muted.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"The `airflow\.operators\.", category=FutureWarning)
    import airflow.serialization.serialized_objects  # noqa: F401


RUN_URL = "https://app.runtype.com/schedules/sch-1/runs/run-1"
# Exactly what RuntypeRunScheduleOperator pushes under ``run_reference`` for run run-1 / batch b-1.
REF = {
    "schedule_id": "sch-1",
    "run_id": "run-1",
    "batch_execution_id": "b-1",
    "product_id": None,
    "surface_id": None,
    "run_url": RUN_URL,
}


def batch_status_body(
    status: str, *, total: int = 10, processed: int | None = None, failed: int = 0, error: str | None = None
) -> dict[str, Any]:
    """A ``GET /v1/batch/status/b-1`` body with the given status and counts."""
    body: dict[str, Any] = {
        "batchExecutionId": "b-1",
        "status": status,
        "flowId": "flow-1",
        "totalRecords": total,
        "processedRecords": total if processed is None else processed,
        "failedRecords": failed,
        "startedAt": "2026-01-01T00:00:00Z",
    }
    if error is not None:
        body["error"] = error
    return body


class FakeClock:
    """Stands in for the ``time`` module of the operator and sensor: sleeping advances the clock at once."""

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
    monkeypatch.setattr(operators_module, "time", fake)
    monkeypatch.setattr(waiting_module, "time", fake)
    return fake


class Logs:
    """Everything logged during a test: Airflow's structlog task loggers and stdlib loggers (caplog)."""

    def __init__(self, events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
        self.events = events
        self.caplog = caplog

    def entries(self) -> list[tuple[str, str]]:
        out = [(str(e.get("log_level", "")), str(e.get("event", ""))) for e in self.events]
        out += [(r.levelname.lower(), r.getMessage()) for r in self.caplog.records]
        return out

    def messages(self, level: str | None = None) -> list[str]:
        return [message for lvl, message in self.entries() if level is None or lvl == level]

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
