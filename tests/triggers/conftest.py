"""Fixtures for the trigger tests: a fake clock for the event loop's sleeps, respx, log capture, a runner."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import respx
from structlog.testing import capture_logs

# Import the provider first, with warnings as errors (pyproject), so a deprecated import in *our* code fails.
import runtype_provider.triggers.runtype  # noqa: F401
import runtype_provider.waiting as waiting_module

# Airflow 3.1 core + standard provider 1.21 warn from *inside Airflow* the first time an operator is built
# (airflow.serialization imports airflow.operators.branch). Not ours; load it once with that warning muted.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"The `airflow\.operators\.", category=FutureWarning)
    import airflow.serialization.serialized_objects  # noqa: F401

BASE_URL = "https://api.runtype.com"


class FakeClock:
    """Wall clock of the trigger module; ``asyncio.sleep`` advances it at once (and still yields to the loop)."""

    EPOCH = 1_700_000_000.0

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.EPOCH + self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    real_sleep = asyncio.sleep

    async def sleep(seconds: float, result: Any = None) -> Any:
        fake.sleeps.append(seconds)
        fake.now += seconds
        await real_sleep(0)
        return result

    monkeypatch.setattr(waiting_module, "time", fake)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    return fake


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx on the production base URL; any request not routed fails the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


class Logs:
    def __init__(self, events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
        self.events = events
        self.caplog = caplog

    def messages(self, level: str | None = None) -> list[str]:
        out = [(str(e.get("log_level", "")), str(e.get("event", ""))) for e in self.events]
        out += [(r.levelname.lower(), r.getMessage()) for r in self.caplog.records]
        return [message for lvl, message in out if level is None or lvl == level]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Logs]:
    """Trigger loggers are Airflow's structlog loggers (not seen by caplog); the hook's are stdlib (caplog)."""
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        yield Logs(events, caplog)
