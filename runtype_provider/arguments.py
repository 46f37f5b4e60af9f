"""Checks of task arguments, run when a DAG is parsed (each error names the argument), and their shared defaults.

Imports nothing but the Airflow shims and the errors: operators call these while a DAG file is parsed.
"""

from __future__ import annotations

from typing import Any

from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.version_compat import Context, conf

DEFAULT_CONN_ID = "runtype_default"
"""The default ``runtype_conn_id`` of the hook, the operators, the sensor and the trigger."""


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, the default of every ``deferrable`` argument."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def positive_seconds(value: Any, argument: str, *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise RuntypeConfigurationError(f"{argument!r} must be a positive number of seconds, got {value!r}")
    return value


def count(value: Any, argument: str) -> int:
    """An integer >= 0 (bools refused: ``True`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuntypeConfigurationError(f"{argument!r} must be an integer >= 0, got {value!r}")
    return value


def check_surface(product_id: Any, surface_id: Any) -> None:
    if bool(product_id) != bool(surface_id):
        raise RuntypeConfigurationError(
            "'product_id' and 'surface_id' go together: give both for a product-surface schedule, or neither"
        )


def check_schedule_choice(schedule_id: Any, schedule_name: Any) -> None:
    """Exactly one of ``schedule_id`` and ``schedule_name`` (either may be a template, resolved at execute)."""
    given = [value for value in (schedule_id, schedule_name) if not _blank(value)]
    if len(given) == 2:
        raise RuntypeConfigurationError("give either 'schedule_id' or 'schedule_name', not both")
    if not given:
        raise RuntypeConfigurationError("'schedule_id' or 'schedule_name' is required")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def push_xcom(context: Context, key: str, value: Any) -> None:
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is not None:
        ti.xcom_push(key=key, value=value)
