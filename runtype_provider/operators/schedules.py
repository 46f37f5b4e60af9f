"""Schedule management: one small operator per action, for global and product-surface schedules.

Each returns the API's answer as JSON with the API's field names. Operators that act on one schedule take
``schedule_id`` or ``schedule_name`` (its exact name, looked up when the task runs; see
:mod:`runtype_provider.hooks.lookups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runtype_provider.api.spec import SCHEDULE_FIELDS
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.operators.base import RuntypeBaseOperator
from runtype_provider.tasks.arguments import ScheduleTarget, check_schedule_choice, check_surface
from runtype_provider.version_compat import Context

if TYPE_CHECKING:
    from runtype_provider.hooks.runtype import RuntypeHook


class _ScheduleOperator(ScheduleTarget, RuntypeBaseOperator):
    """Base of the schedule operators: optional surface ids, JSON-serializable results."""

    template_fields: Sequence[str] = ("schedule_id", "schedule_name", "product_id", "surface_id")
    ui_color = "#eef2ff"
    needs_schedule_id = True

    def __init__(
        self,
        *,
        schedule_id: str | None = None,
        schedule_name: str | None = None,
        product_id: str | None = None,
        surface_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if self.needs_schedule_id:
            check_schedule_choice(schedule_id, schedule_name)
        elif schedule_name is not None:
            raise RuntypeConfigurationError(f"{type(self).__name__} acts on no existing schedule: drop 'schedule_name'")
        check_surface(product_id, surface_id)
        self.schedule_id = schedule_id
        self.schedule_name = schedule_name
        self.product_id = product_id
        self.surface_id = surface_id
        self.given_schedule()

    @property
    def surface(self) -> tuple[str, str] | None:
        return (self.product_id, self.surface_id) if self.product_id and self.surface_id else None

    def execute(self, context: Context) -> Any:
        if self.needs_schedule_id:
            self.resolve_schedule()
        result = self.call(self.hook)
        if isinstance(result, list):
            return [item.to_api() for item in result]
        return result.to_api()

    def call(self, hook: RuntypeHook) -> Any:
        raise NotImplementedError


class RuntypeGetScheduleOperator(_ScheduleOperator):
    """Fetch a schedule (global, or product-surface with its ``recentRuns``); returns it as the API spells it."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.get_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.get_schedule(self.schedule_id or "")


class RuntypeListSchedulesOperator(_ScheduleOperator):
    """List schedules (all pages, up to ``max_items``), or a product surface's schedules.

    :param search: name filter (global only). :param status: ``active`` or ``paused`` (global only).
    :param max_items: stop after this many schedules (None: all).
    """

    template_fields: Sequence[str] = ("product_id", "surface_id", "search", "status")
    needs_schedule_id = False

    def __init__(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        max_items: int | None = None,
        page_size: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if status is not None and status not in ("active", "paused") and "{{" not in str(status):
            raise RuntypeConfigurationError(f"'status' must be 'active' or 'paused', got {status!r}")
        if self.surface and (search or status):
            raise RuntypeConfigurationError("'search' and 'status' filter global schedules only")
        if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1):
            raise RuntypeConfigurationError(f"'max_items' must be a positive integer or None, got {max_items!r}")
        self.search = search
        self.status = status
        self.max_items = max_items
        self.page_size = page_size

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.list_surface_schedules(*self.surface)[: self.max_items]
        items = []
        for schedule in hook.list_schedules(page_size=self.page_size, search=self.search, status=self.status):
            items.append(schedule)
            if self.max_items is not None and len(items) >= self.max_items:
                break
        return items


class RuntypeListScheduleRunsOperator(_ScheduleOperator):
    """A schedule's run history (global: all runs; product-surface: its ``recentRuns``)."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.get_surface_schedule(*self.surface, self.schedule_id or "").recent_runs
        return hook.list_schedule_runs(self.schedule_id or "")


_GLOBAL_FIELDS = SCHEDULE_FIELDS["schedule"]
_SURFACE_FIELDS = SCHEDULE_FIELDS["surface_schedule"]
_JSON_RENDERERS = {"execution_options": "json", "record_filter": "json", "inputs": "json", "messages": "json"}


class _ScheduleSpecOperator(_ScheduleOperator):
    """Create/update: the schedule's fields as keyword arguments, validated against its API family."""

    template_fields: Sequence[str] = (
        "schedule_id",
        "schedule_name",
        "product_id",
        "surface_id",
        *_GLOBAL_FIELDS,
        "enabled",
    )
    template_fields_renderers = _JSON_RENDERERS

    def __init__(
        self,
        *,
        flow_id: str | None = None,
        agent_id: str | None = None,
        record_type: str | None = None,
        record_ids: list[str] | None = None,
        record_filter: dict[str, Any] | None = None,
        trigger_type: str | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        run_at: str | None = None,
        execution_options: dict[str, Any] | None = None,
        name: str | None = None,
        inputs: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        enabled: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id, self.agent_id, self.record_type = flow_id, agent_id, record_type
        self.record_ids, self.record_filter, self.trigger_type = record_ids, record_filter, trigger_type
        self.cron, self.timezone, self.run_at = cron, timezone, run_at
        self.execution_options, self.name, self.inputs, self.messages = (
            execution_options,
            name,
            inputs,
            messages,
        )
        self.enabled = enabled
        allowed = _SURFACE_FIELDS if self.surface else (*_GLOBAL_FIELDS,)
        given = {f for f in (*_GLOBAL_FIELDS, "enabled") if getattr(self, f) is not None}
        wrong = sorted(given - set(allowed))
        if wrong:
            family = "product-surface" if self.surface else "global"
            raise RuntypeConfigurationError(f"{', '.join(map(repr, wrong))} not accepted by {family} schedules")
        if flow_id and agent_id:
            raise RuntypeConfigurationError("give exactly one of 'flow_id' or 'agent_id', not both")
        if cron is not None and run_at is not None:
            raise RuntypeConfigurationError("give either 'cron' (recurring) or 'run_at' (one_time), not both")

    def spec(self) -> dict[str, Any]:
        fields = _SURFACE_FIELDS if self.surface else _GLOBAL_FIELDS
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not None}


class RuntypeCreateScheduleOperator(_ScheduleSpecOperator):
    """Create a schedule. Global: returns ``{"id", "status"}``; product-surface: the created schedule.

    Global: exactly one of ``flow_id`` / ``agent_id``; ``cron`` (recurring) or ``run_at`` (one_time);
    optional ``record_type``, ``record_ids``, ``record_filter``, ``timezone``, ``execution_options``, ``name``,
    ``inputs``, ``messages``. Product-surface (``product_id`` + ``surface_id``): ``flow_id``, ``cron`` or
    ``run_at``, ``timezone``, ``enabled``, ``execution_options``, ``record_filter``, ``record_ids``,
    ``record_type``. Every field is templated.
    """

    needs_schedule_id = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (self.flow_id or self.agent_id):
            raise RuntypeConfigurationError(
                "'flow_id' is required" if self.surface else "give exactly one of 'flow_id' or 'agent_id'"
            )
        if self.cron is None and self.run_at is None:
            raise RuntypeConfigurationError("a schedule needs 'cron' (recurring) or 'run_at' (one_time)")

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.create_surface_schedule(*self.surface, **self.spec())
        return hook.create_schedule(**self.spec())


class RuntypeUpdateScheduleOperator(_ScheduleSpecOperator):
    """Partially update a schedule: only the fields given are sent (same fields as create)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.spec():
            raise RuntypeConfigurationError("give at least one field to change")

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.update_surface_schedule(*self.surface, self.schedule_id or "", **self.spec())
        return hook.update_schedule(self.schedule_id or "", **self.spec())


class RuntypePauseScheduleOperator(_ScheduleOperator):
    """Pause a schedule (no future runs until resumed); returns ``{"status": "paused"}``."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.pause_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.pause_schedule(self.schedule_id or "")


class RuntypeResumeScheduleOperator(_ScheduleOperator):
    """Resume a paused schedule; returns ``{"status": "resumed"}``."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.resume_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.resume_schedule(self.schedule_id or "")


class RuntypeDeleteScheduleOperator(_ScheduleOperator):
    """Delete a schedule permanently; returns ``{"success": true}``."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.delete_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.delete_schedule(self.schedule_id or "")
