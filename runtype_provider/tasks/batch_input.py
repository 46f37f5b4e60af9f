"""What a batch task submits: its target (a flow or an agent) and its records, checked when the DAG is parsed (for
literal values) and again once templates rendered (XCom lists included), each error naming the argument and what to
write; how the records are split over batches (``records_per_batch``, ``max_batches``); and the fingerprint of
target plus input that ties a retry to the batches an earlier try submitted."""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from runtype_provider.api.spec import MAX_BATCH_RECORDS
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.runs.reference import MAX_RUN_BATCHES

DEFAULT_MAX_BATCHES = 20
"""Batches one task submits at most unless ``max_batches`` says otherwise (at most
:data:`~runtype_provider.runs.reference.MAX_RUN_BATCHES`)."""


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


def split_arguments(records_per_batch: Any, max_batches: Any) -> tuple[int, int]:
    """``records_per_batch`` (1 to :data:`MAX_BATCH_RECORDS`, what one batch takes) and ``max_batches`` (1 to
    :data:`~runtype_provider.runs.reference.MAX_RUN_BATCHES`), checked."""
    for name, value, high in (("records_per_batch", records_per_batch, MAX_BATCH_RECORDS),
                              ("max_batches", max_batches, MAX_RUN_BATCHES)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise RuntypeConfigurationError(f"{name!r} must be a whole number from 1 to {high}, got {value!r}")
    return records_per_batch, max_batches


def check_record_count(
    record_ids: list[str] | None, records: list[dict[str, Any]] | None, records_per_batch: int, max_batches: int
) -> int:
    """How many records the task holds; more than ``max_batches`` batches of ``records_per_batch`` is refused."""
    total = len(record_ids or ()) + len(records or ())
    if total > records_per_batch * max_batches:
        raise RuntypeConfigurationError(
            f"the task holds {total} records ('record_ids' plus 'records'), more than max_batches={max_batches} "
            f"batches of records_per_batch={records_per_batch} take ({records_per_batch * max_batches}); raise "
            f"'max_batches' (at most {MAX_RUN_BATCHES}) or 'records_per_batch' (at most {MAX_BATCH_RECORDS}), or "
            "split the records over several tasks (e.g. dynamic task mapping)"
        )
    return total


def check_parse_time_input(record_ids: Any, records: Any, records_per_batch: int, max_batches: int) -> None:
    """At DAG parse: some input is given, and literal lists have the right types and fit in ``max_batches``
    batches (templates are checked later)."""
    if record_ids is None and records is None:
        raise RuntypeConfigurationError(
            "'record_ids' or 'records' is required: the records the batch runs (ids, or inline record dicts)"
        )
    literal_ids = None if is_deferred_value(record_ids) else record_ids_argument(record_ids)
    literal_records = None if is_deferred_value(records) else records_argument(records)
    check_record_count(literal_ids, literal_records, records_per_batch, max_batches)


class Chunk(NamedTuple):
    """The records of one batch of a split run: record ids, then inline records."""

    record_ids: list[str]
    records: list[dict[str, Any]]

    @property
    def size(self) -> int:
        return len(self.record_ids) + len(self.records)


def split_records(
    record_ids: list[str] | None, records: list[dict[str, Any]] | None, records_per_batch: int
) -> list[Chunk]:
    """The records in consecutive batches of ``records_per_batch`` (the last may hold fewer), in order: record ids
    first, then inline records, as Runtype runs a batch's records. No records: no batch."""
    ids, inline = list(record_ids or ()), list(records or ())
    return [
        Chunk(ids[start : start + records_per_batch],
              inline[max(0, start - len(ids)) : max(0, start + records_per_batch - len(ids))])
        for start in range(0, len(ids) + len(inline), records_per_batch)
    ]  # fmt: skip


def input_fingerprint(target: str, **inputs: Any) -> str:
    """A digest of the target and every input of the submission (order of records included): two submissions with
    the same fingerprint are the same work. Values that JSON cannot spell are hashed by their ``repr``."""
    text = json.dumps({"target": target, **inputs}, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
