"""Typed models of the Runtype schedules API, request-body builders and run-status classification.

Responses are parsed leniently, as the API docs leave much open: unknown fields are kept (``model_extra``
and in ``to_api()``), status values are plain strings (an unknown status never fails parsing), and only
identifiers are required. Request bodies, on the other hand, are validated strictly before any request,
with errors that name the offending argument.

Everything here is shared by the sync hook, the async hook path, the operators and the trigger: one place
decides what a status means and what a run reference looks like.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from runtype_provider.exceptions import RuntypeConfigurationError


class RuntypeModel(BaseModel):
    """Base model: camelCase aliases, snake_case attributes, unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", defer_build=True)

    def to_api(self) -> dict[str, Any]:
        """The model as the API spells it (camelCase keys, unknown fields included), JSON-serializable."""
        return self.model_dump(by_alias=True, mode="json")


# --------------------------------------------------------------------------------------------------
# Pagination


class CursorPagination(RuntypeModel):
    """Style A pagination (``GET /v1/schedules``, ``GET /v1/schedules/runs/all``)."""

    has_more: bool = False
    has_prev: bool = False
    limit: int | None = None
    current_offset: int | None = None
    current_page: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None
    total_count: int | None = None
    total_pages: int | None = None


class OffsetPagination(RuntypeModel):
    """Style B pagination (per-record results)."""

    has_more: bool = False
    limit: int | None = None
    offset: int = 0
    total: int | None = None


# --------------------------------------------------------------------------------------------------
# Schedules and runs


class Schedule(RuntypeModel):
    """A global schedule (``GET /v1/schedules/:id``); ``enabled`` False means paused."""

    id: str
    name: str | None = None
    enabled: bool | None = None
    flow_id: str | None = None
    agent_id: str | None = None
    trigger_type: str | None = None
    cron: str | None = None
    timezone: str | None = None
    run_at: str | None = None
    next_run_at: str | None = None
    last_run_at: str | None = None
    record_type: str | None = None
    record_ids: list[str] | None = None
    record_filter: Any = None
    execution_options: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    messages: Any = None
    organization_id: str | None = None
    product_surface_id: str | None = None
    user_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class RecentRun(RuntypeModel):
    """An item of ``recentRuns`` on a surface schedule's details."""

    id: str
    status: str | None = None
    batch_execution_id: str | None = None
    error: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class SurfaceSchedule(Schedule):
    """A product-surface schedule; ``flow_name`` and ``recent_runs`` only on list/get responses."""

    flow_name: str | None = None
    recent_runs: list[RecentRun] = Field(default_factory=list)


class ScheduleRun(RuntypeModel):
    """One run of a schedule (``GET /v1/schedules/:id/runs`` items)."""

    id: str
    schedule_id: str | None = None
    status: str | None = None
    batch_execution_id: str | None = None
    agent_execution_id: str | None = None
    agent_id: str | None = None
    flow_id: str | None = None
    error: str | None = None
    total_records: int | None = None
    processed_records: int | None = None
    failed_records: int | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class RecordRef(RuntypeModel):
    id: str | None = None
    name: str | None = None
    type: str | None = None


class RecordResult(RuntypeModel):
    """One per-record result row of a run or a batch execution."""

    record_id: str
    status: str | None = None
    record: RecordRef | None = None
    record_result_id: str | None = None
    error: str | None = None
    result: Any = None
    executed_at: str | None = None
    failed_at: str | None = None
    created_at: str | None = None
    duration_ms: int | None = None
    step_count: int | None = None
    failed_step_count: int | None = None
    flow_id: str | None = None
    flow_name: str | None = None
    agent_execution_id: str | None = None
    execution_engine: str | None = None


class ResultsSummary(RuntypeModel):
    records_with_failed_steps: int | None = None


T = TypeVar("T", bound=RuntypeModel)


class Page(RuntypeModel, Generic[T]):
    """One page of a list endpoint."""

    data: list[T] = Field(default_factory=list)


class SchedulePage(Page[Schedule]):
    pagination: CursorPagination = Field(default_factory=CursorPagination)


class ScheduleRunPage(Page[ScheduleRun]):
    pagination: CursorPagination = Field(default_factory=CursorPagination)


class RecordResultPage(Page[RecordResult]):
    pagination: OffsetPagination = Field(default_factory=OffsetPagination)
    summary: ResultsSummary | None = None


class ScheduleRunList(Page[ScheduleRun]):
    """``GET /v1/schedules/:id/runs``: every run, no pagination."""


class SurfaceScheduleList(Page[SurfaceSchedule]):
    """``GET …/surfaces/:surfaceId/schedules``: every schedule, no pagination."""


class SparklineDay(RuntypeModel):
    date: str
    runs: int = 0
    failed: int = 0


class ScheduleSparkline(RuntypeModel):
    schedule_id: str
    last7_days: list[SparklineDay] = Field(default_factory=list)


class SparklineList(Page[ScheduleSparkline]):
    pass


class ScheduleStats(RuntypeModel):
    """``GET /v1/schedules/:id/stats``."""

    total: int = 0
    completed: int = 0
    failed: int = 0
    success_rate: float | None = None
    avg_duration_ms: float | None = None
    avg_cost_usd: float | None = None
    avg_billed_cost_usd: float | None = None
    avg_self_reported_cost_usd: float | None = None
    unpriced_executions: int | None = None
    last7_days: list[SparklineDay] = Field(default_factory=list)


class ScheduleCreated(RuntypeModel):
    id: str
    status: str | None = None


class ScheduleUpdated(RuntypeModel):
    id: str
    status: str | None = None


class ScheduleState(RuntypeModel):
    """Pause / resume answer: ``{"status": "paused" | "resumed"}``."""

    status: str | None = None


class DeleteResult(RuntypeModel):
    success: bool


class RunNowResult(RuntypeModel):
    """Global run-now: ``status`` is ``queued``, ``completed`` or ``failed``."""

    status: str | None = None
    run_id: str | None = None
    batch_execution_id: str | None = None
    error: str | None = None


class SurfaceRunNowResult(RuntypeModel):
    batch_execution_id: str
    record_count: int | None = None
    status: str | None = None


class BatchStatus(RuntypeModel):
    """``GET /v1/batch/status/:id``: progress of the batch execution behind a run."""

    batch_execution_id: str | None = None
    status: str | None = None
    flow_id: str | None = None
    total_records: int | None = None
    processed_records: int | None = None
    failed_records: int | None = None
    success_count: int | None = None
    progress: int | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None
    execution_engine_summary: str | None = None


class BatchCancelResult(RuntypeModel):
    success: bool
    message: str | None = None


# --------------------------------------------------------------------------------------------------
# Status classification: the one place that decides what a status string means.


class RunOutcome(str, Enum):
    """Where a run stands, whatever status string the API used."""

    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RUNNING = "running"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in (RunOutcome.SUCCESS, RunOutcome.FAILED, RunOutcome.CANCELLED)


_RUN_STATUSES: dict[RunOutcome, frozenset[str]] = {
    RunOutcome.SUCCESS: frozenset({"completed", "complete", "success", "succeeded", "done", "finished"}),
    RunOutcome.FAILED: frozenset({"failed", "failure", "error", "errored", "timed_out", "timeout", "interrupted"}),
    RunOutcome.CANCELLED: frozenset({"cancelled", "canceled", "aborted", "cancelling", "canceling"}),
    RunOutcome.RUNNING: frozenset(
        {
            "queued",
            "pending",
            "running",
            "in_progress",
            "processing",
            "started",
            "starting",
            "scheduled",
            "created",
            "paused",
            "retrying",
        }
    ),
}
_STATUS_TO_OUTCOME = {status: outcome for outcome, statuses in _RUN_STATUSES.items() for status in statuses}

RECORD_SUCCESS_STATUSES = frozenset({"success", "succeeded", "completed", "complete", "done"})
RECORD_FAILED_STATUSES = frozenset({"failed", "failure", "error", "errored", "timed_out", "timeout"})


def classify_run_status(status: str | None) -> RunOutcome:
    """Map a run or batch status to an outcome; anything unrecognised is ``UNKNOWN`` (keep waiting)."""
    if not status:
        return RunOutcome.UNKNOWN
    return _STATUS_TO_OUTCOME.get(status.strip().lower(), RunOutcome.UNKNOWN)


def is_failed_record_status(status: str | None) -> bool:
    return (status or "").strip().lower() in RECORD_FAILED_STATUSES


def is_succeeded_record_status(status: str | None) -> bool:
    return (status or "").strip().lower() in RECORD_SUCCESS_STATUSES


class RunProgress(RuntypeModel):
    """A run's status and record counts, from batch status or from the schedule's run list."""

    status: str | None = None
    outcome: RunOutcome = RunOutcome.UNKNOWN
    total_records: int | None = None
    processed_records: int | None = None
    failed_records: int | None = None
    error: str | None = None
    run_id: str | None = None
    batch_execution_id: str | None = None
    completed_at: str | None = None

    @classmethod
    def from_batch(cls, batch: BatchStatus) -> RunProgress:
        return cls(
            status=batch.status,
            outcome=classify_run_status(batch.status),
            total_records=batch.total_records,
            processed_records=batch.processed_records,
            failed_records=batch.failed_records,
            error=batch.error,
            batch_execution_id=batch.batch_execution_id,
            completed_at=batch.completed_at,
        )

    @classmethod
    def from_run(cls, run: ScheduleRun) -> RunProgress:
        return cls(
            status=run.status,
            outcome=classify_run_status(run.status),
            total_records=run.total_records,
            processed_records=run.processed_records,
            failed_records=run.failed_records,
            error=run.error,
            run_id=run.id,
            batch_execution_id=run.batch_execution_id,
            completed_at=run.completed_at,
        )

    def describe(self) -> str:
        """One log line: ``running: 40/100 records processed, 3 failed``."""
        total = "?" if self.total_records is None else self.total_records
        processed = 0 if self.processed_records is None else self.processed_records
        failed = 0 if self.failed_records is None else self.failed_records
        return f"{self.status or 'unknown'}: {processed}/{total} records processed, {failed} failed"


class RunReference(BaseModel):
    """What identifies one schedule run across tasks: pushed to XCom by the run operator, accepted by
    the sensor and the results operator. Plain snake_case JSON."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    schedule_id: str | None = None
    run_id: str | None = None
    batch_execution_id: str | None = None
    product_id: str | None = None
    surface_id: str | None = None
    run_url: str | None = None

    @classmethod
    def coerce(cls, value: Any, *, argument: str = "run") -> RunReference:
        """Accept a reference as a model, a dict (e.g. from XCom) or a JSON string."""
        if isinstance(value, RunReference):
            return value
        try:
            if isinstance(value, str):
                return cls.model_validate_json(value)
            if isinstance(value, dict):
                return cls.model_validate(value)
        except ValidationError as err:
            raise RuntypeConfigurationError(f"{argument!r} is not a valid Runtype run reference: {err}") from err
        raise RuntypeConfigurationError(
            f"{argument!r} must be a run reference dict (e.g. the run operator's XCom), got {type(value).__name__}"
        )

    def require_pollable(self, argument: str = "run") -> None:
        """A run can be polled by batch id, or by run id within its schedule."""
        if not self.batch_execution_id and not (self.run_id and self.schedule_id):
            raise RuntypeConfigurationError(
                f"{argument!r} needs 'batch_execution_id', or both 'run_id' and 'schedule_id', to track the run"
            )

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def find_run(runs: Iterable[ScheduleRun], run_id: str) -> ScheduleRun | None:
    return next((run for run in runs if run.id == run_id), None)


# --------------------------------------------------------------------------------------------------
# Request bodies: validated before any request, errors name the argument.

TriggerType = Literal["recurring", "one_time"]
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
_LOGGING_POLICIES = ("default", "on", "off")


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


def _validate_execution_options(options: dict[str, Any] | None, *, allow_logging_policy: bool) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise RuntypeConfigurationError(f"'execution_options' must be a dict, got {type(options).__name__}")
    try:
        parsed = ExecutionOptions.model_validate(options)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RuntypeConfigurationError(f"'execution_options.{where}': {first['msg']}") from err
    body = parsed.model_dump(by_alias=True, exclude_none=True)
    if "loggingPolicy" in body and not allow_logging_policy:
        raise RuntypeConfigurationError(
            "'execution_options.loggingPolicy' is only accepted by product-surface schedules"
        )
    return body


def _validate_cron(cron: str) -> str:
    fields = cron.split() if isinstance(cron, str) else []
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise RuntypeConfigurationError(f"'cron' must be a 5-field cron expression, got {cron!r}")
    return " ".join(fields)


def _validate_run_at(run_at: str | datetime) -> str:
    if isinstance(run_at, datetime):
        if run_at.tzinfo is None:
            raise RuntypeConfigurationError("'run_at' must be timezone-aware")
        return run_at.isoformat()
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


def _from_json(value: Any, argument: str, kind: type, what: str | None = None) -> Any:
    """A JSON string (what a Jinja template renders to) decoded to ``kind``; other values as given."""
    what = what or f"a {kind.__name__}"
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            raise RuntypeConfigurationError(f"{argument!r} must be {what} (or its JSON text), got {value!r}") from None
    if value is not None and not isinstance(value, kind):
        raise RuntypeConfigurationError(f"{argument!r} must be {what}, got {value!r}")
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
    if node.get("op") not in _FILTER_OPS:
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
    return dict(record_filter)


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
            "inputs": _from_json(inputs, "inputs", dict),
            "messages": _from_json(messages, "messages", list),
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
# What a finished run means for the task: shared by the run operator, the sensor and both their paths.


class FailedRecordsPolicy(BaseModel):
    """How many failed records a completed run may have before the task fails.

    ``None``: never fail because of failed records (they are logged and counted);
    an integer N: fail when more than N records failed (0 = any); ``"X%"``: fail when more than X percent
    of the run's records failed.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    max_count: int | None = None
    max_percent: float | None = None

    @classmethod
    def parse(cls, value: Any, argument: str = "allowed_failed_records") -> FailedRecordsPolicy:
        if value is None:
            return cls()
        if isinstance(value, bool):
            raise RuntypeConfigurationError(f"{argument!r} must be None, an integer or a percentage like '5%'")
        if isinstance(value, int):
            if value < 0:
                raise RuntypeConfigurationError(f"{argument!r} must be >= 0, got {value}")
            return cls(max_count=value)
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                percent = float(value.strip()[:-1])
            except ValueError:
                percent = -1.0
            if not 0 <= percent <= 100:
                raise RuntypeConfigurationError(f"{argument!r} percentage must be from 0% to 100%, got {value!r}")
            return cls(max_percent=percent)
        if isinstance(value, str) and value.strip().isdigit():
            return cls(max_count=int(value.strip()))
        raise RuntypeConfigurationError(
            f"{argument!r} must be None, an integer or a percentage like '5%', got {value!r}"
        )

    def is_exceeded(self, failed: int, total: int | None) -> bool:
        if self.max_count is not None:
            return failed > self.max_count
        if self.max_percent is not None:
            return bool(total) and failed * 100 > self.max_percent * (total or 0)
        return False

    def describe(self) -> str:
        if self.max_count is not None:
            return "no failed records" if self.max_count == 0 else f"at most {self.max_count} failed records"
        if self.max_percent is not None:
            return f"at most {self.max_percent:g}% failed records"
        return "any number of failed records"


def conclude_run(progress: RunProgress, run: RunReference, policy: FailedRecordsPolicy, log: Any) -> dict[str, Any]:
    """Judge a terminal run: return the task's result (reference + status + counts) or raise RuntypeRunError."""
    from runtype_provider.exceptions import RuntypeRunError

    result = {
        **run.to_xcom(),
        "status": progress.status,
        "outcome": progress.outcome.value,
        "total_records": progress.total_records,
        "processed_records": progress.processed_records,
        "failed_records": progress.failed_records,
    }
    name = run.run_id or run.batch_execution_id or "?"
    where = f" of schedule {run.schedule_id}" if run.schedule_id else ""
    link = f" See {run.run_url}" if run.run_url else ""
    if progress.outcome is RunOutcome.FAILED:
        reason = f": {progress.error}" if progress.error else ""
        raise RuntypeRunError(
            f"Runtype run {name}{where} failed (status {progress.status!r}){reason}.{link}", run=result
        )
    if progress.outcome is RunOutcome.CANCELLED:
        raise RuntypeRunError(
            f"Runtype run {name}{where} was cancelled (status {progress.status!r}) before it finished.{link}",
            run=result,
        )
    failed = progress.failed_records or 0
    if policy.is_exceeded(failed, progress.total_records):
        raise RuntypeRunError(
            f"Runtype run {name}{where} completed with {failed} of {progress.total_records} records failed; "
            f"allowed: {policy.describe()}.{link}",
            run=result,
        )
    if failed:
        log.warning("Runtype run %s completed with %s of %s records failed", name, failed, progress.total_records)
    else:
        log.info("Runtype run %s completed: %s", name, progress.describe())
    return result
