"""The hook's one method per endpoint of :data:`runtype_provider.api.spec.ENDPOINTS`, named after its operation and
returning typed models; paginated endpoints also get iterators that fetch page by page (page size 100 by default,
``max_pages`` bounding a listing, so a server that never says "no more" ends in a typed error).

A mixin of :class:`~runtype_provider.hooks.runtype.RuntypeHook`, which sends the requests (``_call``/``_acall``)
and reads results pages (``_result_pages``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from runtype_provider.api.ids import check_choice, check_page_size, join_ids
from runtype_provider.api.paging import DEFAULT_ITERATOR_PAGE_SIZE, DEFAULT_MAX_PAGES, flatten, iter_cursor
from runtype_provider.api.responses import (
    BatchCancelResult,
    BatchCost,
    BatchRecordStep,
    BatchStatus,
    BatchSubmitted,
    BatchSummary,
    DeleteResult,
    RecordCost,
    RecordResult,
    RecordResultPage,
    RunNowResult,
    Schedule,
    ScheduleCreated,
    SchedulePage,
    ScheduleRun,
    ScheduleRunPage,
    ScheduleSparkline,
    ScheduleState,
    ScheduleStats,
    ScheduleUpdated,
    SurfaceRunNowResult,
    SurfaceSchedule,
)
from runtype_provider.api.spec import ENDPOINTS

DEFAULT_PAGE_SIZE = 50


class RuntypeEndpoints:
    """One method per API operation (see the module docstring)."""

    def _call(self, operation: str, **arguments: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - RuntypeHook sends

    async def _acall(self, operation: str, **arguments: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - RuntypeHook sends

    def _result_pages(self, operation: str, ids: dict[str, Any], **options: Any) -> Iterator[list[Any]]:
        raise NotImplementedError  # pragma: no cover - RuntypeHook reads results pages

    # ---- global schedules -------------------------------------------------------------------------

    def list_schedules_page(
        self,
        *,
        cursor: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        search: str | None = None,
        status: str | None = None,
        view: str | None = None,
    ) -> SchedulePage:
        """One page of ``GET /v1/schedules``."""
        query = {
            "limit": str(check_page_size(page_size)),
            "cursor": cursor,
            "search": search,
            "status": check_choice(status, "status", ("active", "paused")),
            "view": check_choice(view, "view", ("full", "compact")),
        }
        return self._call("list_schedules", query=query)

    def list_schedules(
        self,
        *,
        page_size: int = DEFAULT_ITERATOR_PAGE_SIZE,
        search: str | None = None,
        status: str | None = None,
        view: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> Iterator[Schedule]:
        """Every schedule matching the filters, fetched page by page as the iterator is consumed."""
        check_page_size(page_size)
        check_choice(status, "status", ("active", "paused"))
        check_choice(view, "view", ("full", "compact"))
        return iter_cursor(
            lambda cursor: self.list_schedules_page(
                cursor=cursor, page_size=page_size, search=search, status=status, view=view
            ),
            ENDPOINTS["list_schedules"].path,
            max_pages=max_pages,
        )

    def create_schedule(self, **spec: Any) -> ScheduleCreated:
        """``POST /v1/schedules``. Arguments: see :func:`runtype_provider.api.bodies.build_schedule_body`
        (``flow_id`` or ``agent_id``; ``cron`` or ``run_at``; ``record_type``, ``record_ids``, ``timezone``,
        ``execution_options``, ``name``, ``inputs``, ``messages``, ``record_filter``). Not retried unless
        the request provably never reached the server."""
        return self._call("create_schedule", body=spec)

    def get_schedule(self, schedule_id: str) -> Schedule:
        """``GET /v1/schedules/:id``."""
        return self._call("get_schedule", schedule_id=schedule_id)

    async def get_schedule_async(self, schedule_id: str) -> Schedule:
        """Async twin of :meth:`get_schedule` (the event trigger's check that its schedule exists)."""
        return await self._acall("get_schedule", schedule_id=schedule_id)

    def update_schedule(self, schedule_id: str, **changes: Any) -> ScheduleUpdated:
        """``PUT /v1/schedules/:id``: a partial update with the same arguments as :meth:`create_schedule`.

        A new ``cron`` or ``run_at`` without ``timezone`` is sent with the schedule's current timezone (one read
        first): the body's trigger may replace the whole stored trigger, and a schedule must not move to UTC
        because only its cron changed."""
        changes = _keeping_timezone(changes, lambda: self.get_schedule(schedule_id))
        return self._call("update_schedule", schedule_id=schedule_id, body=changes)

    def delete_schedule(self, schedule_id: str) -> DeleteResult:
        """``DELETE /v1/schedules/:id`` (permanent)."""
        return self._call("delete_schedule", schedule_id=schedule_id)

    def pause_schedule(self, schedule_id: str) -> ScheduleState:
        """``POST /v1/schedules/:id/pause``."""
        return self._call("pause_schedule", schedule_id=schedule_id)

    def resume_schedule(self, schedule_id: str) -> ScheduleState:
        """``POST /v1/schedules/:id/resume``."""
        return self._call("resume_schedule", schedule_id=schedule_id)

    def run_schedule_now(self, schedule_id: str) -> RunNowResult:
        """``POST /v1/schedules/:id/run-now``: start one run. Never retried into a second run."""
        return self._call("run_schedule_now", schedule_id=schedule_id)

    def list_schedule_runs(self, schedule_id: str) -> list[ScheduleRun]:
        """``GET /v1/schedules/:id/runs``: the schedule's run history (unpaginated)."""
        return self._call("list_schedule_runs", schedule_id=schedule_id)

    async def list_schedule_runs_async(self, schedule_id: str) -> list[ScheduleRun]:
        return await self._acall("list_schedule_runs", schedule_id=schedule_id)

    def list_all_schedule_runs_page(
        self, *, cursor: str | None = None, page_size: int = DEFAULT_PAGE_SIZE, direction: str | None = None
    ) -> ScheduleRunPage:
        """One page of ``GET /v1/schedules/runs/all``."""
        query = {
            "limit": str(check_page_size(page_size)),
            "cursor": cursor,
            "direction": check_choice(direction, "direction", ("next", "prev")),
        }
        return self._call("list_all_schedule_runs", query=query)

    async def list_all_schedule_runs_page_async(
        self, *, cursor: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> ScheduleRunPage:
        """Async twin of :meth:`list_all_schedule_runs_page` (the event trigger's shared poll), newest first."""
        query = {"limit": str(check_page_size(page_size)), "cursor": cursor}
        return await self._acall("list_all_schedule_runs", query=query)

    def list_all_schedule_runs(
        self, *, page_size: int = DEFAULT_ITERATOR_PAGE_SIZE, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[ScheduleRun]:
        """Runs across every schedule, fetched page by page."""
        check_page_size(page_size)
        return iter_cursor(
            lambda cursor: self.list_all_schedule_runs_page(cursor=cursor, page_size=page_size),
            ENDPOINTS["list_all_schedule_runs"].path,
            max_pages=max_pages,
        )

    def get_run_results_page(
        self, run_id: str, *, offset: int = 0, page_size: int = DEFAULT_PAGE_SIZE, status: str | None = None
    ) -> RecordResultPage:
        """One page of ``GET /v1/schedules/runs/:runId/results``."""
        query = {"limit": str(check_page_size(page_size)), "offset": str(offset), "status": status}
        return self._call("get_run_results", run_id=run_id, query=query)

    def get_run_results(
        self,
        run_id: str,
        *,
        page_size: int = DEFAULT_ITERATOR_PAGE_SIZE,
        status: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_concurrent_pages: int | None = None,
    ) -> Iterator[RecordResult]:
        """Every per-record result of a run, in order, memory flat in the number of rows. Pages after the first
        are fetched up to ``max_concurrent_pages`` at a time (default: the connection extra, 16; 1 = one by one;
        see :mod:`runtype_provider.client.concurrent_paging`)."""
        return flatten(self._result_pages(
            "get_run_results", {"run_id": run_id}, page_size=page_size, status=status,
            max_pages=max_pages, max_concurrent_pages=max_concurrent_pages,
        ))  # fmt: skip

    def get_batch_results_page(
        self, batch_id: str, *, offset: int = 0, page_size: int = DEFAULT_PAGE_SIZE, status: str | None = None
    ) -> RecordResultPage:
        """One page of ``GET /v1/schedules/batch/:batchId/results``."""
        query = {"limit": str(check_page_size(page_size)), "offset": str(offset), "status": status}
        return self._call("get_batch_results", batch_id=batch_id, query=query)

    def get_batch_results(
        self,
        batch_id: str,
        *,
        page_size: int = DEFAULT_ITERATOR_PAGE_SIZE,
        status: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_concurrent_pages: int | None = None,
    ) -> Iterator[RecordResult]:
        """Every per-record result of a batch execution, like :meth:`get_run_results`."""
        return flatten(self._result_pages(
            "get_batch_results", {"batch_id": batch_id}, page_size=page_size, status=status,
            max_pages=max_pages, max_concurrent_pages=max_concurrent_pages,
        ))  # fmt: skip

    def get_schedule_sparklines(self, schedule_ids: list[str]) -> list[ScheduleSparkline]:
        """``GET /v1/schedules/sparklines``: 7-day run counts for up to 100 schedules.

        The ids travel comma-joined in one query value, encoded once by the HTTP client.
        """
        ids = join_ids(schedule_ids, "schedule_ids", max_count=100)
        return self._call("get_schedule_sparklines", query={"ids": ids})

    def get_schedule_stats(self, schedule_id: str) -> ScheduleStats:
        """``GET /v1/schedules/:id/stats``."""
        return self._call("get_schedule_stats", schedule_id=schedule_id)

    # ---- product-surface schedules ------------------------------------------------------------------

    def list_surface_schedules(self, product_id: str, surface_id: str) -> list[SurfaceSchedule]:
        """``GET /v1/products/:id/surfaces/:surfaceId/schedules`` (unpaginated)."""
        return self._call("list_surface_schedules", product_id=product_id, surface_id=surface_id)

    def create_surface_schedule(self, product_id: str, surface_id: str, **spec: Any) -> SurfaceSchedule:
        """``POST …/schedules``. Arguments: see :func:`runtype_provider.api.bodies.build_surface_schedule_body`."""
        return self._call("create_surface_schedule", product_id=product_id, surface_id=surface_id, body=spec)

    def get_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> SurfaceSchedule:
        """``GET …/schedules/:scheduleId`` (with ``flow_name`` and ``recent_runs``)."""
        return self._call("get_surface_schedule", product_id=product_id, surface_id=surface_id, schedule_id=schedule_id)

    def update_surface_schedule(
        self, product_id: str, surface_id: str, schedule_id: str, **changes: Any
    ) -> SurfaceSchedule:
        """``PUT …/schedules/:scheduleId``: partial update with the create arguments (a new trigger keeps the
        schedule's timezone, as in :meth:`update_schedule`)."""
        ids = {"product_id": product_id, "surface_id": surface_id, "schedule_id": schedule_id}
        changes = _keeping_timezone(changes, lambda: self.get_surface_schedule(product_id, surface_id, schedule_id))
        return self._call("update_surface_schedule", **ids, body=changes)

    def delete_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> DeleteResult:
        """``DELETE …/schedules/:scheduleId``."""
        ids = {"product_id": product_id, "surface_id": surface_id, "schedule_id": schedule_id}
        return self._call("delete_surface_schedule", **ids)

    def pause_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> ScheduleState:
        """``POST …/schedules/:scheduleId/pause``."""
        ids = {"product_id": product_id, "surface_id": surface_id, "schedule_id": schedule_id}
        return self._call("pause_surface_schedule", **ids)

    def resume_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> ScheduleState:
        """``POST …/schedules/:scheduleId/resume``."""
        ids = {"product_id": product_id, "surface_id": surface_id, "schedule_id": schedule_id}
        return self._call("resume_surface_schedule", **ids)

    def run_surface_schedule_now(self, product_id: str, surface_id: str, schedule_id: str) -> SurfaceRunNowResult:
        """``POST …/schedules/:scheduleId/run-now``: start one batch. Never retried into a second run."""
        ids = {"product_id": product_id, "surface_id": surface_id, "schedule_id": schedule_id}
        return self._call("run_surface_schedule_now", **ids)

    # ---- batch executions ---------------------------------------------------------------------------

    def get_batch_status(self, batch_id: str) -> BatchStatus:
        """``GET /v1/batch/status/:id``: status and record counts of a batch execution."""
        return self._call("get_batch_status", batch_id=batch_id)

    async def get_batch_status_async(self, batch_id: str) -> BatchStatus:
        return await self._acall("get_batch_status", batch_id=batch_id)

    def cancel_batch(self, batch_id: str) -> BatchCancelResult:
        """``POST /v1/batch/cancel/:id``: cancel a queued or running batch execution."""
        return self._call("cancel_batch", batch_id=batch_id)

    async def cancel_batch_async(self, batch_id: str) -> BatchCancelResult:
        return await self._acall("cancel_batch", batch_id=batch_id)

    def submit_batch(self, **spec: Any) -> BatchSubmitted:
        """``POST /v1/batch/flow``: run a flow (or an agent) over records as one batch execution. Arguments: see
        :func:`runtype_provider.api.bodies.build_batch_body` (``flow_id``, ``flow_definition`` or ``agent_id``;
        ``record_ids`` and/or inline ``records``; ``inputs``, ``messages``, ``options``). Not retried into a
        second batch: only when the request provably never reached the server, or on 429."""
        return self._call("submit_batch", body=spec)

    def get_batch_summary(self) -> BatchSummary:
        """``GET /v1/batch/summary``: the caller's active and recently completed batch executions."""
        return self._call("get_batch_summary")

    def get_batch_cost(self, batch_id: str) -> BatchCost:
        """``GET /v1/batch/:id/cost``: what a batch execution cost so far (final once the batch is terminal)."""
        return self._call("get_batch_cost", batch_id=batch_id)

    async def get_batch_cost_async(self, batch_id: str) -> BatchCost:
        """Async twin of :meth:`get_batch_cost` (a deferred wait reading the cost)."""
        return await self._acall("get_batch_cost", batch_id=batch_id)

    def get_batch_record_cost(self, batch_id: str, record_id: str) -> RecordCost:
        """``GET /v1/batch/:batchId/records/:recordId/cost``: what one record of a batch cost."""
        return self._call("get_batch_record_cost", batch_id=batch_id, record_id=record_id)

    def list_batch_record_steps(self, batch_id: str, record_id: str) -> list[BatchRecordStep]:
        """``GET /v1/batch/:batchId/records/:recordId/steps``: one record's step timeline (unpaginated)."""
        return self._call("list_batch_record_steps", batch_id=batch_id, record_id=record_id)


def _keeping_timezone(changes: dict[str, Any], current: Callable[[], Schedule]) -> dict[str, Any]:
    """``changes`` with the schedule's own timezone added when they set a new trigger (``cron``/``run_at``) without
    one; the stored schedule is read only then."""
    if changes.get("timezone") is not None or (changes.get("cron") is None and changes.get("run_at") is None):
        return changes
    timezone = current().timezone
    return changes if not timezone else {**changes, "timezone": timezone}
