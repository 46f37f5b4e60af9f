"""The one lazy door from tasks to the client side: the hook, the deferred-wait trigger and lineage are imported
here, inside functions, when a task runs; a DAG file that only builds tasks never loads them.

Every operator and the sensor get their hook from :class:`HookMixin`; the deferral builds its trigger with
:func:`run_wait_trigger`; the run operator reports lineage through :func:`run_lineage`. The import contracts
(``.importlinter-parse``) allow these imports here and nowhere else in ``tasks/``, ``operators/`` or ``sensors/``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger


class HookMixin:
    """The task's :class:`~runtype_provider.hooks.runtype.RuntypeHook`, built on first use, one per task object."""

    runtype_conn_id: str
    hook_params: dict[str, Any]

    @cached_property
    def hook(self) -> RuntypeHook:
        from runtype_provider.hooks.runtype import RuntypeHook

        return RuntypeHook(self.runtype_conn_id, **self.hook_params)


def run_wait_trigger(**arguments: Any) -> RuntypeScheduleRunTrigger:
    """The trigger a deferred wait hands to the triggerer (its classpath is stored with the deferral)."""
    from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

    return RuntypeScheduleRunTrigger(**arguments)


def run_lineage(**arguments: Any) -> Any:
    """OpenLineage facets of a run (:func:`runtype_provider.lineage.run_lineage`; loads OpenLineage when called)."""
    from runtype_provider.lineage import run_lineage as build

    return build(**arguments)
