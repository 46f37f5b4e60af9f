"""Fixtures for the sensor tests: see ``tests/task_context.py``."""

from task_context import FakeClock, Logs, clock, context, logs, ti  # noqa: F401
