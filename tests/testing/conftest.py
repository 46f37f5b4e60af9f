"""Fixtures for the local Runtype tests: an authenticated JSON client, a bounded poller and the schedule ids the
example DAGs name."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


class Api:
    """A ``requests.Session`` bound to one local Runtype, sending its Bearer key."""

    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)

    def __call__(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        response = self.raw(method, path, **kwargs)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json()


@pytest.fixture
def api(runtype_server) -> Api:
    """JSON client for the test's ``runtype_server`` (fixture of the project's pytest plugin)."""
    return Api(runtype_server.url, runtype_server.api_key)


@pytest.fixture
def admin(runtype_server) -> Api:
    """Client for the ``/_local/`` admin routes, sending the admin token (by default a random one)."""
    return Api(runtype_server.url, runtype_server.admin_token)


@pytest.fixture
def anonymous(runtype_server) -> Api:
    """Client for the test's ``runtype_server`` that sends no credentials."""
    return Api(runtype_server.url, None)


@pytest.fixture
def until() -> Callable[..., Any]:
    """``until(fn, timeout=5)``: poll ``fn`` until it returns a truthy value (bounded), return it."""

    def poll(fn: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = fn()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; last value {value!r}")
            time.sleep(interval)

    return poll


@pytest.fixture(scope="session")
def example_dag_schedules() -> set[str]:
    """Every schedule id an example DAG names (the README tells users to run them against
    ``runtype-local --seed-demo``, so the demo data must hold each one)."""
    return {
        match for path in EXAMPLE_DAGS.glob("*.py") for match in re.findall(r'"(sch_[a-z0-9_]+)"', path.read_text())
    }
