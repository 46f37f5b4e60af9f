"""Apache Airflow provider for Runtype schedules."""

from __future__ import annotations

__version__ = "0.1.0"
