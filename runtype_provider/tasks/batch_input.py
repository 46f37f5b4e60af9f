"""What a batch task submits: its target (a flow or an agent) and its records, checked when the DAG is parsed (for
literal values) and again once templates rendered (XCom lists included), each error naming the argument and what to
write; and the fingerprint of target plus input that ties a retry to the batch an earlier try submitted."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from runtype_provider.api.spec import MAX_BATCH_RECORDS
from runtype_provider.exceptions import RuntypeConfigurationError


def is_deferred_value(value: Any) -> bool:
    """A value known only when the task runs: a template string or an XComArg (``upstream.output``)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return value is not None and not isinstance(value, (list, tuple, dict))


def check_target(flow_id: Any, agent_id: Any, flow_definition: Any = None) -> None:
    """Exactly one of ``flow_id``, ``agent_id`` and ``flow_definition`` (an inline flow; any may be a template)."""
    given = [name for name, value in (("flow_id", flow_id), ("agent_id", agent_id),
                                      ("flow_definition", flow_definition)) if not _blank(value)]  # fmt: skip
    if len(given) > 1:
        raise RuntypeConfigurationError(f"give one of 'flow_id', 'agent_id' or 'flow_definition', not {given}")
    if not given:
        raise RuntypeConfigurationError(
            "'flow_id', 'agent_id' or 'flow_definition' is required: the flow (or agent) that runs the batch"
        )


def target_key(flow_id: Any, agent_id: Any, flow_definition: Any = None) -> str:
    """``flow:<id>``, ``agent:<id>`` or, for an inline flow, ``flow:<its id>`` (else ``definition:<digest>``): what a
    batch runs, as the task state store keeps it."""
    if not _blank(flow_id):
        return f"flow:{flow_id}"
    if not _blank(agent_id):
        return f"agent:{agent_id}"
    named = flow_definition.get("id") if isinstance(flow_definition, dict) else None
    return (
        f"flow:{named}"
        if isinstance(named, str) and named
        else f"definition:{input_fingerprint('', d=flow_definition)[:16]}"
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _from_json_text(value: Any, argument: str, what: str) -> Any:
    """A rendered template is text unless the DAG renders native objects: a JSON array is read, anything else is
    refused saying what to write."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    shown = repr(value) if len(value) <= 80 else repr(value[:80]) + "…"
    raise RuntypeConfigurationError(
        f"{argument!r} must be a list of {what}, got the string {shown}; pass the upstream task's output "
        f"({argument}=upstream.output), a JSON array, or render templates as objects "
        "(DAG(render_template_as_native_obj=True))"
    )


def record_ids_argument(value: Any, argument: str = "record_ids") -> list[str] | None:
    """``record_ids`` as a list of non-empty strings (a list, a tuple or a JSON array); None when not given."""
    if value is None:
        return None
    value = _from_json_text(value, argument, "record id strings")
    if not isinstance(value, (list, tuple)):
        raise RuntypeConfigurationError(f"{argument!r} must be a list of record id strings, got {type(value).__name__}")
    for index, item in enumerate(value):
        if isinstance(item, dict):
            raise RuntypeConfigurationError(
                f"{argument!r} item {index} is a dict: inline records go in 'records'; record ids are strings"
            )
        if not isinstance(item, str) or not item.strip():
            raise RuntypeConfigurationError(
                f"{argument!r} item {index} must be a non-empty record id string, got {item!r}"
            )
    return list(value)


def records_argument(value: Any, argument: str = "records") -> list[dict[str, Any]] | None:
    """``records`` (inline records) as a list of dicts (a list, a tuple or a JSON array); None when not given."""
    if value is None:
        return None
    value = _from_json_text(value, argument, "record dicts")
    if not isinstance(value, (list, tuple)):
        raise RuntypeConfigurationError(f"{argument!r} must be a list of record dicts, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            hint = "; record ids go in 'record_ids'" if isinstance(item, str) else ""
            raise RuntypeConfigurationError(
                f"{argument!r} item {index} must be a dict (one inline record), got {type(item).__name__}{hint}"
            )
    return list(value)


def check_record_count(record_ids: list[str] | None, records: list[dict[str, Any]] | None) -> int:
    """How many records the batch holds; more than :data:`MAX_BATCH_RECORDS` is refused."""
    total = len(record_ids or ()) + len(records or ())
    if total > MAX_BATCH_RECORDS:
        raise RuntypeConfigurationError(
            f"the batch holds {total} records ('record_ids' plus 'records'); Runtype takes at most "
            f"{MAX_BATCH_RECORDS} per batch: split them over several tasks (e.g. dynamic task mapping)"
        )
    return total


def check_parse_time_input(record_ids: Any, records: Any) -> None:
    """At DAG parse: some input is given, and literal lists have the right types (templates are checked later)."""
    if record_ids is None and records is None:
        raise RuntypeConfigurationError(
            "'record_ids' or 'records' is required: the records the batch runs (ids, or inline record dicts)"
        )
    literal_ids = None if is_deferred_value(record_ids) else record_ids_argument(record_ids)
    literal_records = None if is_deferred_value(records) else records_argument(records)
    check_record_count(literal_ids, literal_records)


def input_fingerprint(target: str, **inputs: Any) -> str:
    """A digest of the target and every input of the submission (order of records included): two submissions with
    the same fingerprint are the same work. Values that JSON cannot spell are hashed by their ``repr``."""
    text = json.dumps({"target": target, **inputs}, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
