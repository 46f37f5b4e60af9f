"""A schedule as the local Runtype stores it, and the rules its API fields obey.

:class:`Schedule` keeps the API fields (camelCase) in ``doc`` and its simulation knobs apart. The checks here
are shared by the API's create/update operations (which answer 400 with ``details``) and by admin seeding
(which raises ``ValueError``): field types, the trigger (cron or ``runAt``, timezone), exactly one target.
The nested global body (``target``/``trigger``) and the flat product-surface body are translated to the same
fields before they are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtype_provider.testing.fake.settings import MAX_RECORDS, SimConfig
from runtype_provider.testing.fake.simulation import parse_cron
from runtype_provider.testing.fake.wire import detail, iso, parse_time, validation_error

TRIGGER_TYPES = ("recurring", "one_time")
SCHEDULE_FIELDS = (
    "agentId", "createdAt", "cron", "enabled", "executionOptions", "flowId", "id", "inputs",
    "lastRunAt", "messages", "name", "nextRunAt", "organizationId", "productSurfaceId",
    "recordFilter", "recordIds", "recordType", "runAt", "timezone", "triggerType", "updatedAt", "userId",
)  # fmt: skip
# Where each schedule field lives in the nested global create/update body (for error ``path``s).
GLOBAL_PATHS = {
    **{key: f"target.{key}" for key in ("flowId", "agentId", "recordType", "recordIds")},
    **{key: f"trigger.{key}" for key in ("cron", "timezone", "runAt")},
    "triggerType": "trigger.type",
}
_SURFACE_FIELDS = ("flowId", "triggerType", "cron", "runAt", "timezone", "enabled", "executionOptions",
                   "recordFilter", "recordIds", "recordType")  # fmt: skip
_TYPE_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "flowId": (str, "string"),
    "agentId": (str, "string"),
    "recordType": (str, "string"),
    "recordIds": (list, "array of strings"),
    "triggerType": (str, "string"),
    "cron": (str, "string"),
    "timezone": (str, "string"),
    "runAt": (str, "ISO-8601 string"),
    "name": (str, "string"),
    "inputs": (dict, "object"),
    "recordFilter": (dict, "object"),
    "executionOptions": (dict, "object"),
    "enabled": (bool, "boolean"),
}


@dataclass
class Schedule:
    """A stored schedule: ``doc`` holds the API fields (camelCase) except the computed ``nextRunAt``."""

    id: str
    seq: int
    doc: dict[str, Any]
    sim: SimConfig
    product_id: str | None = None

    def flow_name(self) -> str | None:
        """The seeded ``flow_name``, else ``Flow <flowId>`` (None for an agent schedule)."""
        if self.sim.flow_name:
            return self.sim.flow_name
        flow_id = self.doc.get("flowId")
        return f"Flow {flow_id}" if flow_id else None


def next_run_at(doc: Mapping[str, Any], now: datetime) -> str | None:
    """``nextRunAt`` of a schedule document at ``now``: the next cron firing or a future ``runAt``."""
    if not doc.get("enabled"):
        return None
    if doc.get("triggerType") == "one_time":
        run_at = doc.get("runAt")
        return run_at if run_at and parse_time(run_at) > now else None
    moment = parse_cron(doc["cron"]).next_after(now, ZoneInfo(doc.get("timezone") or "UTC"))
    return iso(moment) if moment else None


def type_errors(updates: Mapping[str, Any], paths: Mapping[str, str]) -> list[dict[str, Any]]:
    """``details`` for fields of the wrong JSON type (and ``recordIds`` above the cap)."""
    errors = []
    for key, value in updates.items():
        expected, label = _TYPE_CHECKS.get(key, (object, "any"))
        bad = value is not None and not isinstance(value, expected)
        if key == "recordIds" and isinstance(value, list):
            if len(value) > MAX_RECORDS:
                path = paths.get(key, key)
                errors.append(detail(f"{path} must have at most {MAX_RECORDS} items", path, "TOO_MANY_RECORDS"))
                continue
            bad = not all(isinstance(item, str) for item in value)
        if key in ("executionOptions", "enabled") and value is None:
            bad = True
        if bad:
            errors.append(detail(f"{paths.get(key, key)} must be a {label}", paths.get(key, key), "INVALID_TYPE"))
    return errors


def trigger_errors(doc: Mapping[str, Any], paths: Mapping[str, str]) -> list[dict[str, Any]]:
    """``details`` for the merged trigger and target fields of a schedule document."""
    errors: list[dict[str, Any]] = []

    def err(key: str, message: str, code: str) -> None:
        errors.append(detail(message, paths.get(key, key), code))

    kind = doc.get("triggerType")
    if kind not in TRIGGER_TYPES:
        err(
            "triggerType",
            f"{paths.get('triggerType', 'triggerType')} must be one of {', '.join(TRIGGER_TYPES)}",
            "INVALID_ENUM",
        )
    elif kind == "recurring":
        if not doc.get("cron"):
            err("cron", "cron is required for recurring schedules", "MISSING_REQUIRED_FIELD")
        else:
            try:
                parse_cron(doc["cron"])
            except ValueError as exc:
                err("cron", f"invalid cron expression: {exc}", "INVALID_CRON")
    elif not doc.get("runAt"):
        err("runAt", "runAt is required for one_time schedules", "MISSING_REQUIRED_FIELD")
    if doc.get("runAt"):
        try:
            parse_time(doc["runAt"])
        except ValueError:
            err("runAt", "runAt must be an ISO-8601 timestamp", "INVALID_FORMAT")
    if doc.get("timezone"):
        try:
            ZoneInfo(doc["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            err("timezone", f"unknown IANA timezone {doc['timezone']!r}", "INVALID_TIMEZONE")
    if doc.get("flowId") and doc.get("agentId"):
        err("flowId", "exactly one of flowId and agentId may be set", "CONFLICTING_FIELDS")
    elif not doc.get("flowId") and not doc.get("agentId"):
        err("flowId", "a flowId (or agentId) is required", "MISSING_REQUIRED_FIELD")
    return errors


def checked_updates(schedule: Schedule | None, updates: dict[str, Any], paths: Mapping[str, str]) -> dict[str, Any]:
    """Validate ``updates`` merged over ``schedule`` (or a blank one): 400 with ``details``, else the fields
    to store (switching the trigger type clears the other trigger's field; ``runAt`` normalised to UTC)."""
    base = dict(schedule.doc) if schedule else {}
    if updates.get("triggerType") == "recurring" and "runAt" not in updates:
        updates["runAt"] = None
    if updates.get("triggerType") == "one_time" and "cron" not in updates:
        updates["cron"] = None
    merged = {**base, **updates}
    errors = type_errors(updates, paths) or trigger_errors(merged, paths)
    if errors:
        raise validation_error(errors)
    if updates.get("runAt"):
        updates["runAt"] = iso(parse_time(updates["runAt"]))
    return updates


def global_updates(body: Any, *, partial: bool) -> dict[str, Any]:
    """Translate the nested global create/update body (``target``, ``trigger``) into schedule fields."""
    if not isinstance(body, dict):
        raise validation_error([detail("Request body must be a JSON object", "", "INVALID_TYPE")])
    missing = [
        detail(f"{section} is required", section, "MISSING_REQUIRED_FIELD")
        for section in ("target", "trigger")
        if body.get(section) is None and not partial
    ]
    for section in ("target", "trigger"):
        if body.get(section) is not None and not isinstance(body[section], dict):
            raise validation_error([detail(f"{section} must be an object", section, "INVALID_TYPE")])
    updates: dict[str, Any] = {}
    for field_name, path in GLOBAL_PATHS.items():
        section, key = path.split(".")
        if key in (body.get(section) or {}):
            updates[field_name] = body[section][key]
    if missing:
        raise validation_error(missing)
    # Setting one target kind clears the other.
    if updates.get("flowId"):
        updates.setdefault("agentId", None)
    if updates.get("agentId"):
        updates.setdefault("flowId", None)
    for key in ("name", "inputs", "messages", "recordFilter", "executionOptions"):
        if key in body:
            updates[key] = body[key]
    return updates


def surface_updates(body: Any, *, partial: bool) -> dict[str, Any]:
    """Translate the flat product-surface create/update body into schedule fields."""
    if not isinstance(body, dict):
        raise validation_error([detail("Request body must be a JSON object", "", "INVALID_TYPE")])
    updates = {key: body[key] for key in _SURFACE_FIELDS if key in body}
    if not partial:
        missing = [key for key in ("flowId", "triggerType") if body.get(key) is None]
        if missing:
            raise validation_error([detail(f"{key} is required", key, "MISSING_REQUIRED_FIELD") for key in missing])
    if "executionOptions" in updates and updates["executionOptions"] is None:
        updates["executionOptions"] = {}
    return updates
