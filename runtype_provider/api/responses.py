"""Typed response bodies of the Runtype schedules API.

Parsed leniently, as the API docs leave much open: unknown fields are kept (``model_extra`` and in
``to_api()``), status values are plain strings (an unknown status never fails parsing), and only
identifiers are required. An empty 2xx answer (e.g. 204, decoded as ``{}``) to delete, pause, resume or
cancel is a success. What would mislead a caller is refused: record counts and pagination numbers are
never negative (a malformed answer, see :data:`~runtype_provider.api.base.Count`), and a cost or a progress is a
finite number >= 0 (:data:`Cost`). Every model is built on first use (``defer_build``), so importing this module
builds no schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import Field

from runtype_provider.api.base import Count, RuntypeModel  # defined apart so runs.py needs no response model

Cost = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A cost in US dollars (or a percentage): finite and never negative; NaN, infinity or -0.01 make the answer
malformed (a sum or a budget check over them would be wrong without a word)."""

# --------------------------------------------------------------------------------------------------
# Pagination


class CursorPagination(RuntypeModel):
    """Style A pagination (``GET /v1/schedules``, ``GET /v1/schedules/runs/all``)."""

    has_more: bool = False
    has_prev: bool = False
    limit: Count | None = None
    current_offset: Count | None = None
    current_page: Count | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None
    total_count: Count | None = None
    total_pages: Count | None = None


class OffsetPagination(RuntypeModel):
    """Style B pagination (per-record results)."""

    has_more: bool = False
    limit: Count | None = None
    offset: Count = 0
    total: Count | None = None


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
    total_records: Count | None = None
    processed_records: Count | None = None
    failed_records: Count | None = None
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

    def result_value(self) -> Any:
        """The record's decoded ``result`` (as :meth:`ResultRow.result_value
        <runtype_provider.client.results.ResultRow.result_value>` gives it for a page read from bytes)."""
        return self.result


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
    """Pause / resume answer: ``{"status": "paused" | "resumed"}``; no status when the answer is empty (204)."""

    status: str | None = None


class DeleteResult(RuntypeModel):
    """Delete answer ``{"success": true}``; an empty 2xx answer (204) is a success too."""

    success: bool = True


class RunNowResult(RuntypeModel):
    """Global run-now: ``status`` is ``queued``, ``completed`` or ``failed``."""

    status: str | None = None
    run_id: str | None = None
    batch_execution_id: str | None = None
    error: str | None = None


class SurfaceRunNowResult(RuntypeModel):
    batch_execution_id: str
    record_count: Count | None = None
    status: str | None = None


class BatchStatus(RuntypeModel):
    """``GET /v1/batch/status/:id``: progress of the batch execution behind a run.

    Counts may be missing (None: unknown); ``progress`` is a percentage and may be fractional.
    """

    batch_execution_id: str | None = None
    status: str | None = None
    flow_id: str | None = None
    total_records: Count | None = None
    processed_records: Count | None = None
    failed_records: Count | None = None
    success_count: Count | None = None
    progress: int | float | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None
    execution_engine_summary: str | None = None


class BatchCancelResult(RuntypeModel):
    """Cancel answer ``{"success": true, "message": ...}``; an empty 2xx answer (204) is a success too."""

    success: bool = True
    message: str | None = None


# --------------------------------------------------------------------------------------------------
# Batches submitted directly (POST /v1/batch/flow) and what they cost


class BatchSubmitted(RuntypeModel):
    """``POST /v1/batch/flow``: the new batch execution's id and its first status (e.g. ``queued``)."""

    batch_execution_id: str
    status: str | None = None


class BatchSummaryItem(RuntypeModel):
    """One batch of ``GET /v1/batch/summary`` (``batches``: active ones; ``recent``: recently finished)."""

    id: str
    flow_name: str | None = None
    status: str | None = None
    progress: Cost | None = None
    processed_records: Count | None = None
    failed_records: Count | None = None
    total_records: Count | None = None
    started_at: str | None = None


class BatchSummary(RuntypeModel):
    """``GET /v1/batch/summary``: the caller's active and recently completed batch executions."""

    batches: list[BatchSummaryItem] = Field(default_factory=list)
    recent: list[BatchSummaryItem] = Field(default_factory=list)
    active_batches: Count | None = None
    recently_completed: Count | None = None


class BatchCost(RuntypeModel):
    """``GET /v1/batch/:id/cost``: what a batch execution cost so far (a running batch's cost still grows).

    ``total_cost_usd`` includes ``self_reported_cost_usd`` (asserted by externally run agents, unverified);
    ``billed_cost_usd`` / ``billed_cost_thousandths_cent`` (raw Runtype-funded cost, $1 = 100,000) are None when
    the split is unavailable; ``unpriced_executions`` counts rows that recorded no cost (counted as 0, not free).
    """

    batch_execution_id: str
    total_cost_usd: Cost | None = None
    billed_cost_usd: Cost | None = None
    billed_cost_thousandths_cent: Count | None = None
    self_reported_cost_usd: Cost | None = None
    unpriced_executions: Count | None = None


class RecordCost(BatchCost):
    """``GET /v1/batch/:batchId/records/:recordId/cost``: the same figures for one record of the batch."""

    record_id: str


class BatchRecordStep(RuntypeModel):
    """One step of a record's timeline (``GET /v1/batch/:batchId/records/:recordId/steps`` items)."""

    id: str
    batch_execution_id: str | None = None
    record_id: str | None = None
    record_name: str | None = None
    flow_id: str | None = None
    flow_version_id: str | None = None
    step_id: str | None = None
    step_name: str | None = None
    step_type: str | None = None
    status: str | None = None
    order: int | None = None
    error_message: str | None = None
    output_preview: str | None = None
    model_used: str | None = None
    estimated_cost: str | None = None
    duration_ms: Count | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    reasoning_tokens: Count | None = None
    cache_read_tokens: Count | None = None
    cache_write_tokens: Count | None = None
    total_tokens: Count | None = None
    retry_count: Count | None = None
    execution_engine: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class BatchRecordStepList(Page[BatchRecordStep]):
    """``GET /v1/batch/:batchId/records/:recordId/steps``: the record's steps, no pagination."""
