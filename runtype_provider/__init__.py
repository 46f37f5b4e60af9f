"""Apache Airflow provider for Runtype schedules."""

from __future__ import annotations

__version__ = "0.1.0"

DEFAULT_CONN_ID = "runtype_default"
"""The default ``runtype_conn_id`` of the hook, the operators, the sensor and the triggers."""
