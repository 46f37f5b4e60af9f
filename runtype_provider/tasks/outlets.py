"""Runtype assets in a task's ``outlets``: which they are, that they name the task's schedule, and the finished
run's payload on their events (the shape a watcher's event has, so a consumer reads both alike)."""

from __future__ import annotations

from typing import Any

from runtype_provider.assets import is_runtype_asset, schedule_id_from_uri
from runtype_provider.exceptions import RuntypeConfigurationError


def run_event_extra(payload: dict[str, Any]) -> dict[str, Any]:
    """An operator's outlet event extra, in the shape Airflow gives a watcher's event."""
    return {"payload": payload}


def runtype_outlets(outlets: Any) -> list[Any]:
    """The Runtype assets among a task's ``outlets`` (other assets and aliases are Airflow's business)."""
    return [asset for asset in outlets or () if is_runtype_asset(asset)]


def check_outlet_schedules(outlets: Any, schedule_id: str, task: str) -> None:
    """Every Runtype outlet must name ``schedule_id``: a Runtype asset's event means "a run of *that* schedule
    finished" (the same as its watcher's events), so another schedule's run must not be reported on it."""
    for asset in runtype_outlets(outlets):
        named = schedule_id_from_uri(asset.uri)
        if named != schedule_id:
            raise RuntypeConfigurationError(
                f"Task {task!r} handles runs of schedule {schedule_id!r}, but its outlet {asset.uri} names schedule "
                f"{named!r}; a Runtype asset's events mean that schedule's runs finished. Use "
                f"create_asset(schedule_id={schedule_id!r}) or drop the outlet"
            )


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
