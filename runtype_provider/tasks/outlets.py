"""Runtype assets in a task's ``outlets``: which they are, that they name the task's schedule (or, for a batch, its
flow or agent), and the finished run's payload on their events (the shape a watcher's event has, so a consumer reads
both alike); and what a batch task reports: its asset event's payload and its OpenLineage facets."""

from __future__ import annotations

from typing import Any

from runtype_provider.assets import BATCH_PAYLOAD_KEYS, asset_target, is_runtype_asset
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.runs.reference import RunCost, RunProgress, RunReference, run_event_payload
from runtype_provider.tasks.base import run_lineage


def run_event_extra(payload: dict[str, Any]) -> dict[str, Any]:
    """An operator's outlet event extra, in the shape Airflow gives a watcher's event."""
    return {"payload": payload}


def runtype_outlets(outlets: Any) -> list[Any]:
    """The Runtype assets among a task's ``outlets`` (other assets and aliases are Airflow's business)."""
    return [asset for asset in outlets or () if is_runtype_asset(asset)]


def check_outlet_targets(outlets: Any, resource: str, target_id: str, task: str, what: str = "runs") -> None:
    """Every Runtype outlet must name ``resource`` ``target_id``: a Runtype asset's event means "a run of *that*
    schedule (flow, agent) finished" (for a schedule, the same as its watcher's events), so another target's run
    must not be reported on it."""
    for asset in runtype_outlets(outlets):
        named = asset_target(asset.uri)
        if named != (resource, target_id):
            raise RuntypeConfigurationError(
                f"Task {task!r} handles {what} of {resource} {target_id!r}, but its outlet {asset.uri} names "
                f"{named[0]} {named[1]!r}; a Runtype asset's events mean that {named[0]}'s runs finished. Use "
                f"create_asset({resource}_id={target_id!r}) or drop the outlet"
            )


def check_outlet_schedules(outlets: Any, schedule_id: str, task: str) -> None:
    """Every Runtype outlet must name schedule ``schedule_id`` (:func:`check_outlet_targets`)."""
    check_outlet_targets(outlets, "schedule", schedule_id, task)


def check_no_watcher(outlets: Any, task: str) -> None:
    """Refuse a Runtype outlet whose asset has a watcher: the watcher already reports every finished run of the
    schedule, the runs this task starts included, so each would reach the consumers twice.

    Only the asset object in ``outlets`` is seen: an equal asset with a watcher defined in another DAG file is
    not (Airflow merges them by URI and name when the DAGs are stored)."""
    for asset in runtype_outlets(outlets):
        if getattr(asset, "watchers", None):
            raise RuntypeConfigurationError(
                f"Task {task!r} has the outlet {asset.uri}, whose asset also has a watcher: the watcher already "
                "reports every finished run of that schedule, this task's included, so each run would give two "
                "events and the consumer DAGs would run twice. Drop the outlet (the watcher reports the run), or "
                "use an asset without watchers here"
            )


def attach_run_event(context: Any, outlets: Any, payload: dict[str, Any]) -> int:
    """Set the finished run's payload as the extra of each Runtype outlet's event; returns how many.

    Airflow emits the events only when the task succeeds, so a failed task reports nothing."""
    events = context.get("outlet_events") if hasattr(context, "get") else None
    assets = runtype_outlets(outlets)
    if events is None or not assets:
        return 0
    for asset in assets:
        events[asset].extra.update(run_event_extra(payload))
    return len(assets)


# ---- a batch's flow or agent ----------------------------------------------------------------------------------


def batch_target(flow_id: Any, agent_id: Any, flow_definition: Any = None) -> tuple[str, str] | None:
    """``("flow", id)`` or ``("agent", id)``: what a batch runs, as its asset names it (an inline flow by its own
    ``id``); None while a value is a template or an XComArg not rendered yet, or an inline flow has no id."""
    for resource, value in (("flow", flow_id), ("agent", agent_id)):
        if isinstance(value, str) and value.strip():
            return None if "{{" in value or "{%" in value else (resource, value)
        if value is not None and not isinstance(value, str):
            return None  # an XComArg: known when the task runs
    named = flow_definition.get("id") if isinstance(flow_definition, dict) else None
    return ("flow", named) if isinstance(named, str) and named.strip() and "{{" not in named else None


def check_batch_outlets(outlets: Any, flow_id: Any, agent_id: Any, flow_definition: Any, task: str) -> None:
    """A batch task's Runtype outlets must name its flow (or agent): checked at parse for literal ids, and again
    when the task runs (rendered). An inline flow without an ``id`` has no asset, so Runtype outlets are refused."""
    if not runtype_outlets(outlets):
        return
    target = batch_target(flow_id, agent_id, flow_definition)
    if target is not None:
        check_outlet_targets(outlets, *target, task, what="batches")
    elif isinstance(flow_definition, dict) and not flow_definition.get("id"):
        raise RuntypeConfigurationError(
            f"Task {task!r} runs an inline flow_definition without an 'id', so no runtype://flow asset names it; "
            "give the definition its flow's 'id' or drop the Runtype outlet"
        )


def batch_event_payload(
    run: RunReference, progress: RunProgress, result: dict[str, Any], target: tuple[str, str] | None
) -> dict[str, Any]:
    """The payload of a finished batch's asset event: the run payload's keys (``schedule_id`` and ``run_id`` None)
    plus the flow or agent id, every batch id and the cost (:data:`~runtype_provider.assets.BATCH_PAYLOAD_KEYS`)."""
    resource, target_id = target or (None, None)
    payload = {
        **run_event_payload(run, progress),
        "flow_id": target_id if resource == "flow" else None,
        "agent_id": target_id if resource == "agent" else None,
        "batch_execution_ids": list(run.batch_ids),
        "total_cost_usd": result.get("total_cost_usd"),
        "billed_cost_usd": result.get("billed_cost_usd"),
    }
    return {key: payload[key] for key in BATCH_PAYLOAD_KEYS}


class BatchReporting:
    """What the batch operator reports once its batch ended: the payload on its flow's (or agent's) outlet event
    and its OpenLineage facets (the flow or agent as input dataset; batch ids, counts and cost as run facet).

    It keeps the final progress when the batch is judged (:meth:`_conclude`, before the verdict may fail the
    task), so lineage sees a failed batch too."""

    flow_id: Any
    agent_id: Any
    flow_definition: Any
    outlets: Any
    log: Any
    _run: RunReference | None

    _final: RunProgress | None = None
    _final_cost: RunCost | None = None
    _verdict_error: str | None = None

    def _conclude(self, progress: RunProgress, run: RunReference) -> dict[str, Any]:
        self._final = progress
        try:
            return super()._conclude(progress, run)  # type: ignore[misc]
        except Exception as err:
            self._verdict_error = str(err)
            raise

    def _report_batch(self, context: Any, result: dict[str, Any]) -> dict[str, Any]:
        """The batch succeeded (the task will): put its payload on the Runtype outlets' events."""
        run, progress = self._run, self._final
        self._final_cost = RunCost(
            total_cost_usd=result.get("total_cost_usd"), billed_cost_usd=result.get("billed_cost_usd")
        )
        if run is not None and progress is not None and runtype_outlets(self.outlets):
            target = batch_target(self.flow_id, self.agent_id, self.flow_definition)
            attached = attach_run_event(context, self.outlets, batch_event_payload(run, progress, result, target))
            if attached:
                self.log.info("Batch %s reported on %d Runtype asset event(s)", run.name, attached)
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (when its provider is installed): the flow or agent, the batch, its counts and cost."""
        return self._batch_lineage(error=None)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Like :meth:`get_openlineage_facets_on_complete`, plus why the task failed (when the verdict said)."""
        return self._batch_lineage(error=self._verdict_error or "The Runtype batch task failed")

    def _batch_lineage(self, error: str | None) -> Any:
        target = batch_target(self.flow_id, self.agent_id, self.flow_definition)
        return run_lineage(
            schedule_id=None,
            batch_target=target,
            run=self._run,
            progress=self._final,
            cost=self._final_cost,
            error=error,
        )
