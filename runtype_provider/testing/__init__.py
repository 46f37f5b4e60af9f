"""A local, in-memory imitation of the Runtype schedules API for tests, demos and benchmarks.

``LocalRuntype`` serves it on a loopback port (``with LocalRuntype() as rt: rt.url, rt.api_key``),
``create_app`` builds the bare ASGI app, the ``runtype-local`` command runs it in the foreground and
the pytest plugin offers the ``runtype_server`` fixture. Names are imported lazily so that importing
this package stays cheap (no fastapi/uvicorn until used) and never imports Airflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtype_provider.testing.fake.app import RuntypeApp, create_app
    from runtype_provider.testing.fake.faults import FAULT_KINDS, OPERATIONS
    from runtype_provider.testing.fake.handlers import State
    from runtype_provider.testing.fake.settings import DEFAULT_API_KEY, SeedSpec, Settings
    from runtype_provider.testing.local import LocalRuntype

_EXPORTS = {
    "LocalRuntype": "local",
    "create_app": "fake.app",
    "RuntypeApp": "fake.app",
    "State": "fake.handlers",
    "Settings": "fake.settings",
    "SeedSpec": "fake.settings",
    "DEFAULT_API_KEY": "fake.settings",
    "OPERATIONS": "fake.faults",
    "FAULT_KINDS": "fake.faults",
}
__all__ = [
    "DEFAULT_API_KEY",
    "FAULT_KINDS",
    "OPERATIONS",
    "LocalRuntype",
    "RuntypeApp",
    "SeedSpec",
    "Settings",
    "State",
    "create_app",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
