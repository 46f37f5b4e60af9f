"""Checks of task arguments, run when a DAG is parsed (each error names the argument), their shared defaults, and
the one step that turns ``schedule_id`` / ``schedule_name`` into the schedule's id when the task runs.

Imports nothing but the Airflow shims and the errors at module level: operators call these while a DAG file is
parsed (the hook is only a type here; the task passes its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtype_provider import DEFAULT_CONN_ID as DEFAULT_CONN_ID
from runtype_provider.client.options import OPTIONS, OptionError
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.version_compat import Context, conf

if TYPE_CHECKING:
    from runtype_provider.hooks.runtype import RuntypeHook


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


def option_argument(name: str, value: Any) -> Any:
    """A task argument that overrides a connection option (e.g. ``max_concurrent_pages``), checked against the
    option's own bounds (:data:`~runtype_provider.client.options.OPTIONS`, standard library only) when the DAG is
    parsed; the value must already have the option's type."""
    try:
        return OPTIONS[name].check(value, strict=True)
    except OptionError as err:
        raise RuntypeConfigurationError(str(err)) from None


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


def check_rendered(argument: str, given: Any, rendered: Any) -> None:
    """An argument that was given (a template, say) but is empty once rendered names the template, not a missing
    argument: the mistake is in what the template reads."""
    if not _blank(given) and _blank(rendered):
        raise RuntypeConfigurationError(
            f"{argument!r} is empty after templating: {str(given)[:200]!r} rendered {rendered!r}; check the template "
            "and what it reads (params, XCom, Variables), or give the value directly"
        )


def resolve_schedule_id(
    hook: RuntypeHook,
    schedule_id: Any,
    schedule_name: Any,
    *,
    product_id: str | None = None,
    surface_id: str | None = None,
    log: Any = None,
    given: tuple[Any, Any] = (None, None),
) -> str:
    """The schedule id a task means, after templating: ``schedule_id``, else the id ``schedule_name`` names.

    Checked again here because a template may have rendered one of them empty; ``given`` is what the task was
    given before templating (``schedule_id``, ``schedule_name``), to name an empty render."""
    check_rendered("schedule_id", given[0], schedule_id)
    check_rendered("schedule_name", given[1], schedule_name)
    check_schedule_choice(schedule_id, schedule_name)
    if _blank(schedule_name):
        return str(schedule_id)
    schedule = hook.find_schedule_by_name(schedule_name, product_id=product_id, surface_id=surface_id)
    if log is not None:
        log.info("Runtype schedule name %r is schedule %s", schedule_name.strip(), schedule.id)
    return schedule.id


class ScheduleTarget:
    """A task's schedule: ``schedule_id`` or ``schedule_name``, with ``product_id`` and ``surface_id`` for a product
    surface. :meth:`given_schedule` keeps what the task was given (before templating), :meth:`resolve_schedule`
    turns it into the schedule's id when the task runs (looking the name up once)."""

    schedule_id: Any
    schedule_name: Any
    product_id: Any
    surface_id: Any
    hook: Any
    log: Any
    _given_schedule: tuple[Any, Any] = (None, None)

    def given_schedule(self) -> None:
        self._given_schedule = (self.schedule_id, self.schedule_name)

    def resolve_schedule(self) -> str:
        self.schedule_id = resolve_schedule_id(
            self.hook,
            self.schedule_id,
            self.schedule_name,
            product_id=self.product_id,
            surface_id=self.surface_id,
            log=self.log,
            given=self._given_schedule,
        )
        return self.schedule_id
