"""Request bodies of schedule create/update and batch submission: validated before any request, errors name the
argument."""

from __future__ import annotations

import inspect
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from runtype_provider.api.base import RuntypeModel
from runtype_provider.api.spec import MAX_BATCH_RECORDS, BodyKind
from runtype_provider.exceptions import RuntypeConfigurationError

_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


class ExecutionOptions(RuntypeModel):
    """Typed ``executionOptions`` (all optional; unknown keys are passed through)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", strict=True, defer_build=True
    )

    chunk_size: int | None = Field(default=None, ge=1)
    record_concurrency: int | None = Field(default=None, ge=1)
    max_retries: int | None = Field(default=None, ge=0)
    timeout_ms: int | None = Field(default=None, ge=1)
    flow_timeout_ms: int | None = Field(default=None, ge=1)
    step_timeout_ms: int | None = Field(default=None, ge=1)
    progress_flush_size: int | None = Field(default=None, ge=1)
    model_override: str | None = None
    skip_cache_warm: bool | None = None
    logging_policy: Literal["default", "on", "off"] | None = None


def _validate_execution_options(
    options: dict[str, Any] | None, *, allow_logging_policy: bool, argument: str = "execution_options"
) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise RuntypeConfigurationError(f"{argument!r} must be a dict, got {type(options).__name__}")
    try:
        parsed = ExecutionOptions.model_validate(options)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RuntypeConfigurationError(f"'{argument}.{where}': {first['msg']}") from err
    body = parsed.model_dump(by_alias=True, exclude_none=True)
    if "loggingPolicy" in body and not allow_logging_policy:
        raise RuntypeConfigurationError(f"'{argument}.loggingPolicy' is only accepted by product-surface schedules")
    return _check_json(body, argument)


def _validate_cron(cron: str) -> str:
    fields = cron.split() if isinstance(cron, str) else []
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise RuntypeConfigurationError(f"'cron' must be a 5-field cron expression, got {cron!r}")
    return " ".join(fields)


def _validate_run_at(run_at: str | datetime) -> str:
    if isinstance(run_at, datetime):
        if run_at.tzinfo is None:
            raise RuntypeConfigurationError("'run_at' must be timezone-aware")
        text = run_at.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text  # UTC as the official SDK spells it
    try:
        parsed = datetime.fromisoformat(str(run_at).replace("Z", "+00:00"))
    except ValueError as err:
        raise RuntypeConfigurationError(f"'run_at' must be an ISO-8601 datetime, got {run_at!r}") from err
    if parsed.tzinfo is None:
        raise RuntypeConfigurationError(f"'run_at' must include a timezone offset, got {run_at!r}")
    return str(run_at)


def _resolve_trigger(
    trigger_type: str | None, cron: str | None, run_at: str | datetime | None, *, required: bool
) -> tuple[str | None, str | None, str | None]:
    """Check the trigger arguments together; infer the type from cron/run_at when not given."""
    if cron is not None and run_at is not None:
        raise RuntypeConfigurationError("give either 'cron' (recurring) or 'run_at' (one_time), not both")
    if trigger_type is None:
        trigger_type = "recurring" if cron is not None else "one_time" if run_at is not None else None
    if trigger_type is None:
        if required:
            raise RuntypeConfigurationError("a schedule needs 'cron' (recurring) or 'run_at' (one_time)")
        return None, None, None
    if trigger_type not in ("recurring", "one_time"):
        raise RuntypeConfigurationError(f"'trigger_type' must be 'recurring' or 'one_time', got {trigger_type!r}")
    if trigger_type == "recurring":
        if cron is None:
            raise RuntypeConfigurationError("'cron' is required when 'trigger_type' is 'recurring'")
        if run_at is not None:
            raise RuntypeConfigurationError("'run_at' is only valid when 'trigger_type' is 'one_time'")
        return trigger_type, _validate_cron(cron), None
    if run_at is None:
        raise RuntypeConfigurationError("'run_at' is required when 'trigger_type' is 'one_time'")
    if cron is not None:
        raise RuntypeConfigurationError("'cron' is only valid when 'trigger_type' is 'recurring'")
    return trigger_type, None, _validate_run_at(run_at)


def _check_record_ids(record_ids: list[str] | None) -> list[str] | None:
    if record_ids is None:
        return None
    if isinstance(record_ids, str) or not all(isinstance(r, str) and r for r in record_ids):
        raise RuntypeConfigurationError("'record_ids' must be a list of non-empty strings")
    return list(record_ids)


_FILTER_OPS = frozenset(
    {
        "eq",
        "neq",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "contains",
        "startsWith",
        "endsWith",
        "in",
        "notIn",
        "isSet",
        "isNotSet",
        "isTrue",
        "isFalse",
        "withinLastDays",
        "olderThanDays",
    }
)


def _from_json(value: Any, argument: str, kind: type | tuple[type, ...], what: str | None = None) -> Any:
    """A JSON string (what a Jinja template renders to) decoded to ``kind``; other values as given."""
    what = what or f"a {getattr(kind, '__name__', 'value')}"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RuntypeConfigurationError(f"{argument!r} must be {what} (or its JSON text), got {value!r}") from None
    if value is not None and not isinstance(value, kind):
        raise RuntypeConfigurationError(f"{argument!r} must be {what}, got {value!r}")
    return value


def _check_json(value: Any, argument: str) -> Any:
    """``value`` if it is strict JSON, as the API receives it: no NaN or Infinity, only JSON types."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        raise RuntypeConfigurationError(f"{argument!r} must be plain JSON data (no NaN or Infinity): {err}") from None
    return value


def _check_text(value: Any, argument: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise RuntypeConfigurationError(f"{argument!r} must be a non-empty string, got {value!r}")
    return value


def _check_enabled(value: Any) -> bool | None:
    """A bool; the strings ``true``/``false`` (a rendered template) are accepted, nothing else."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise RuntypeConfigurationError(f"'enabled' must be True or False, got {value!r}")


def _check_filter_node(node: Any, where: str, depth: int) -> None:
    if not isinstance(node, dict):
        raise RuntypeConfigurationError(f"{where!r} must be a condition or a group (a dict), got {node!r}")
    if "conditions" in node:  # a group
        if node.get("op") not in ("and", "or"):
            raise RuntypeConfigurationError(f"'{where}.op' of a group must be 'and' or 'or', got {node.get('op')!r}")
        if depth >= 2:
            raise RuntypeConfigurationError(f"{where!r}: groups nest at most two levels deep")
        conditions = node["conditions"]
        if not isinstance(conditions, list) or not conditions:
            raise RuntypeConfigurationError(f"'{where}.conditions' must be a non-empty list")
        for i, child in enumerate(conditions):
            _check_filter_node(child, f"{where}.conditions[{i}]", depth + 1)
        return
    if not isinstance(node.get("field"), str) or not node["field"]:
        raise RuntypeConfigurationError(f"'{where}.field' must be a non-empty string, got {node.get('field')!r}")
    if not isinstance(node.get("op"), str) or node["op"] not in _FILTER_OPS:
        raise RuntypeConfigurationError(
            f"'{where}.op' must be one of {', '.join(sorted(_FILTER_OPS))}; got {node.get('op')!r}"
        )


def _check_record_filter(record_filter: Any) -> dict[str, Any] | None:
    """``{type, where?}`` with conditions/groups as documented (runtype-api.md section 2.6)."""
    record_filter = _from_json(record_filter, "record_filter", dict)
    if record_filter is None:
        return None
    _check_text(record_filter.get("type"), "record_filter.type")
    if not record_filter.get("type"):
        raise RuntypeConfigurationError("'record_filter.type' (the record type) is required")
    if record_filter.get("where") is not None:
        _check_filter_node(record_filter["where"], "record_filter.where", 0)
    return dict(_check_json(record_filter, "record_filter"))


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None and v != {}}


def build_schedule_body(
    *,
    partial: bool = False,
    flow_id: str | None = None,
    agent_id: str | None = None,
    record_type: str | None = None,
    record_ids: list[str] | None = None,
    record_filter: dict[str, Any] | None = None,
    trigger_type: str | None = None,
    cron: str | None = None,
    timezone: str | None = None,
    run_at: str | datetime | None = None,
    execution_options: dict[str, Any] | None = None,
    name: str | None = None,
    inputs: dict[str, Any] | None = None,
    messages: list[Any] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /v1/schedules`` (or, with ``partial``, ``PUT /v1/schedules/:id``)."""
    if flow_id and agent_id:
        raise RuntypeConfigurationError("give exactly one of 'flow_id' or 'agent_id', not both")
    if not partial and not (flow_id or agent_id):
        raise RuntypeConfigurationError("a schedule needs exactly one of 'flow_id' or 'agent_id'")
    ttype, cron, run_at_text = _resolve_trigger(trigger_type, cron, run_at, required=not partial)
    if timezone is not None and ttype is None:
        raise RuntypeConfigurationError("'timezone' needs 'cron' or 'run_at' alongside it")
    target = _drop_none(
        {
            "flowId": _check_text(flow_id, "flow_id"),
            "agentId": _check_text(agent_id, "agent_id"),
            "recordType": _check_text(record_type, "record_type"),
            "recordIds": _check_record_ids(_from_json(record_ids, "record_ids", list, "a list of non-empty strings")),
        }
    )
    trigger = _drop_none(
        {"type": ttype, "cron": cron, "timezone": _check_text(timezone, "timezone"), "runAt": run_at_text}
    )
    body = _drop_none(
        {
            "target": target,
            "trigger": trigger,
            "executionOptions": _validate_execution_options(
                _from_json(execution_options, "execution_options", dict), allow_logging_policy=False
            ),
            "name": _check_text(name, "name"),
            "inputs": _check_json(_from_json(inputs, "inputs", dict), "inputs"),
            "messages": _check_json(_from_json(messages, "messages", list), "messages"),
            "recordFilter": _check_record_filter(record_filter),
        }
    )
    if partial and not body:
        raise RuntypeConfigurationError("an update needs at least one field to change")
    return body


def build_surface_schedule_body(
    *,
    partial: bool = False,
    flow_id: str | None = None,
    trigger_type: str | None = None,
    cron: str | None = None,
    run_at: str | datetime | None = None,
    timezone: str | None = None,
    enabled: bool | None = None,
    execution_options: dict[str, Any] | None = None,
    record_filter: dict[str, Any] | None = None,
    record_ids: list[str] | None = None,
    record_type: str | None = None,
) -> dict[str, Any]:
    """The flat body of a product-surface schedule create (or, with ``partial``, update)."""
    if not partial and not flow_id:
        raise RuntypeConfigurationError("a product-surface schedule needs 'flow_id'")
    ttype, cron, run_at_text = _resolve_trigger(trigger_type, cron, run_at, required=not partial)
    body = _drop_none(
        {
            "flowId": _check_text(flow_id, "flow_id"),
            "triggerType": ttype,
            "cron": cron,
            "runAt": run_at_text,
            "timezone": _check_text(timezone, "timezone"),
            "enabled": _check_enabled(enabled),
            "executionOptions": _validate_execution_options(
                _from_json(execution_options, "execution_options", dict), allow_logging_policy=True
            ),
            "recordFilter": _check_record_filter(record_filter),
            "recordIds": _check_record_ids(_from_json(record_ids, "record_ids", list, "a list of non-empty strings")),
            "recordType": _check_text(record_type, "record_type"),
        }
    )
    if partial and not body:
        raise RuntypeConfigurationError("an update needs at least one field to change")
    return body


# --------------------------------------------------------------------------------------------------
# POST /v1/batch/flow


def _sized_list(value: Any, argument: str, what: str) -> list[Any] | None:
    """``value`` (a list or tuple, or its JSON text) as a list, refused by its length before any item is looked at."""
    value = _from_json(value, argument, (list, tuple), f"a list of {what}")
    if value is None:
        return None
    if len(value) > MAX_BATCH_RECORDS:
        raise RuntypeConfigurationError(
            f"{argument!r} has {len(value)} items; one batch takes at most {MAX_BATCH_RECORDS} records"
        )
    return list(value)


def _unique(keys: list[str], argument: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise RuntypeConfigurationError(f"{argument!r} names {key!r} twice: per-record results would be ambiguous")
        seen.add(key)


def _check_batch_record_ids(ids: list[Any] | None) -> list[str] | None:
    if ids is not None:
        bad = next((i for i, r in enumerate(ids) if not isinstance(r, str) or not r.strip()), None)
        if bad is not None:
            raise RuntypeConfigurationError(f"'record_ids[{bad}]' must be a non-empty string, got {ids[bad]!r}")
        _unique(ids, "record_ids")
    return ids


def _check_inline_records(items: list[Any] | None) -> list[dict[str, Any]] | None:
    """Inline records: ``{name, type, metadata}`` objects (other keys passed through), names unique."""
    if items is None:
        return None
    for i, record in enumerate(items):
        where = f"records[{i}]"
        if not isinstance(record, dict):
            raise RuntypeConfigurationError(f"{where!r} must be a dict with 'name', 'type' and 'metadata'")
        for key in ("name", "type"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise RuntypeConfigurationError(f"'{where}.{key}' must be a non-empty string, got {record.get(key)!r}")
        if not isinstance(record.get("metadata"), dict):
            raise RuntypeConfigurationError(f"'{where}.metadata' must be a dict (the record's payload)")
    _unique([record["name"] for record in items], "records' names")
    return _check_json(items, "records")


def _check_flow_definition(definition: Any) -> dict[str, Any] | None:
    """An inline flow: ``name`` and ``steps`` (a list of step dicts); ``id``/``description`` optional."""
    definition = _from_json(definition, "flow_definition", dict)
    if definition is None:
        return None
    _check_text(definition.get("name"), "flow_definition.name")
    if not definition.get("name"):
        raise RuntypeConfigurationError("'flow_definition.name' is required")
    steps = definition.get("steps")
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        raise RuntypeConfigurationError("'flow_definition.steps' must be a list of step dicts")
    _check_text(definition.get("id"), "flow_definition.id")
    return dict(_check_json(definition, "flow_definition"))


def _check_messages(messages: Any) -> list[dict[str, Any]] | None:
    """The conversation seed: ``{role, content}`` dicts."""
    items = _from_json(messages, "messages", list)
    if items is None:
        return None
    for i, message in enumerate(items):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or not message["role"].strip():
            raise RuntypeConfigurationError(f"'messages[{i}]' must be a dict with a non-empty 'role', got {message!r}")
    return _check_json(items, "messages")


def build_batch_body(
    *,
    flow_id: str | None = None,
    agent_id: str | None = None,
    flow_definition: dict[str, Any] | None = None,
    record_ids: list[str] | None = None,
    records: list[dict[str, Any]] | None = None,
    inputs: dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /v1/batch/flow``.

    Exactly one target: ``flow_id`` (a saved flow), ``flow_definition`` (an inline flow; a pinned snapshot names
    its saved flow in its own ``id``) or ``agent_id``. Records: ``record_ids`` (saved records) and/or ``records``
    (inline ``{name, type, metadata}``), at least one and at most :data:`~runtype_provider.api.spec.MAX_BATCH_RECORDS`
    together, none twice. ``options`` take the schedules' ``execution_options`` keys (snake_case or camelCase,
    sent camelCase, unknown keys passed through) except ``logging_policy``.
    """
    targets = [name for name, value in (("flow_id", flow_id), ("flow_definition", flow_definition),
                                        ("agent_id", agent_id)) if value is not None]  # fmt: skip
    if len(targets) != 1:
        given = f"; got {' and '.join(targets)}" if targets else ""
        raise RuntypeConfigurationError(
            f"a batch needs exactly one of 'flow_id', 'flow_definition' or 'agent_id'{given}"
        )
    ids = _sized_list(record_ids, "record_ids", "non-empty strings")
    inline = _sized_list(records, "records", "{name, type, metadata} dicts")
    count = len(ids or ()) + len(inline or ())  # counted before any item is looked at
    if count == 0:
        raise RuntypeConfigurationError("a batch needs at least one record: give 'record_ids' and/or 'records'")
    if count > MAX_BATCH_RECORDS:
        raise RuntypeConfigurationError(
            f"'record_ids' and 'records' together have {count} records; one batch takes at most {MAX_BATCH_RECORDS}"
        )
    ids, inline = _check_batch_record_ids(ids), _check_inline_records(inline)
    return _drop_none(
        {
            "flowId": _check_text(flow_id, "flow_id"),
            "agentId": _check_text(agent_id, "agent_id"),
            "flowDefinition": _check_flow_definition(flow_definition),
            "recordIds": ids or None,
            "records": inline or None,
            "inputs": _check_json(_from_json(inputs, "inputs", dict), "inputs"),
            "messages": _check_messages(messages),
            "options": _validate_execution_options(
                _from_json(options, "options", dict), allow_logging_policy=False, argument="options"
            ),
        }
    )


_BUILDERS: dict[str, tuple[Any, str]] = {
    "schedule": (build_schedule_body, "global schedules"),
    "schedule_update": (build_schedule_body, "global schedules"),
    "surface_schedule": (build_surface_schedule_body, "product-surface schedules"),
    "surface_schedule_update": (build_surface_schedule_body, "product-surface schedules"),
    "batch": (build_batch_body, "batches"),
}


def build_body(kind: BodyKind, arguments: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a request of this kind (:attr:`Endpoint.body <runtype_provider.api.spec.Endpoint.body>`),
    from the caller's keyword arguments (validated; an unknown argument is refused with the accepted ones)."""
    if kind == "empty":
        return {}
    builder, family = _BUILDERS[kind]
    accepted = set(inspect.signature(builder).parameters) - {"partial"}
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        raise RuntypeConfigurationError(
            f"{', '.join(map(repr, unknown))} not accepted by {family}; the fields are {', '.join(sorted(accepted))}"
        )
    if kind == "batch":
        return build_batch_body(**arguments)
    return builder(partial=kind.endswith("_update"), **arguments)
