"""pytest plugin (entry point ``runtype``): fixtures that serve a local Runtype on a free loopback port.

* ``runtype_server`` (function scope): a fresh, started :class:`~runtype_provider.testing.LocalRuntype`
  (stopped after the test, so no server runs during other tests), with ``AIRFLOW_CONN_RUNTYPE_DEFAULT``
  pointing at it for the duration of the test. Options come from
  ``@pytest.mark.runtype(queued_seconds=0, running_seconds=0.2, ...)``. Start + stop take ~20 ms.
* ``runtype_server_session`` (session scope): one shared server with default options, never reset
  by the plugin; ``AIRFLOW_CONN_RUNTYPE_DEFAULT`` is set for the whole session.

Both are driven in-process (``server.seed_schedule(...)``, ``server.inject_fault(...)``); HTTP calls to
the ``/_local/`` admin routes need ``headers=server.admin_headers``.

Importing this module is cheap: fastapi/uvicorn are imported only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from runtype_provider.testing.local import LocalRuntype

CONN_ENV = "AIRFLOW_CONN_RUNTYPE_DEFAULT"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``runtype`` marker."""
    config.addinivalue_line(
        "markers", "runtype(**options): LocalRuntype keyword arguments for the runtype_server fixture"
    )


@pytest.fixture
def runtype_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntype]:
    """A fresh local Runtype for one test; sets ``AIRFLOW_CONN_RUNTYPE_DEFAULT``."""
    from runtype_provider.testing.local import LocalRuntype

    marker = request.node.get_closest_marker("runtype")
    with LocalRuntype(**(marker.kwargs if marker else {})) as server:
        monkeypatch.setenv(CONN_ENV, server.airflow_connection_json())
        yield server


@pytest.fixture(scope="session")
def runtype_server_session() -> Iterator[LocalRuntype]:
    """One local Runtype shared by the session; sets ``AIRFLOW_CONN_RUNTYPE_DEFAULT`` until it ends."""
    from runtype_provider.testing.local import LocalRuntype

    with LocalRuntype() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONN_ENV, server.airflow_connection_json())
        yield server
