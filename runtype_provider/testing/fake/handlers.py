"""The Runtype API's operations, as methods of :class:`State`: a :class:`~.store.Store` that answers them.

There is one method per entry of ``runtype_provider.api.spec.ENDPOINTS``, named after its operation; its
parameters are the path parameters, plus ``query`` (a mapping) if the endpoint takes a query and ``body`` (parsed
JSON) if it takes a body. Each returns the JSON-ready response body or raises ``ApiError``; the app only routes,
authenticates and serializes. Section numbers (§) refer to ``runtype-api.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from runtype_provider.testing.fake.batches import (
    batch_failures,
    batch_records,
    checked_batch,
    cost_body,
    daily_limit_error,
    record_cost_body,
    record_index,
    steps_body,
    summary_item,
)
from runtype_provider.testing.fake.schedules import (
    GLOBAL_PATHS,
    Schedule,
    checked_updates,
    global_updates,
    surface_updates,
)
from runtype_provider.testing.fake.settings import SimConfig
from runtype_provider.testing.fake.simulation import TERMINAL, Run
from runtype_provider.testing.fake.store import RECENT_RUNS, Store, new_id
from runtype_provider.testing.fake.wire import (
    ApiError,
    compact,
    cursor_page,
    detail,
    enum_param,
    iso,
    not_found,
    offset_paging,
    validation_error,
)

MAX_SPARKLINE_IDS = 100
ACTIVE = frozenset({"queued", "running"})


class State(Store):
    """A local Runtype: its :class:`Store` plus the API's operations (one method per ``ENDPOINTS`` entry)."""

    # ----------------------------------------------------------------- global schedules (§3)

    def list_schedules(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules: newest first; ``search``, ``status``, ``view``; cursor pagination."""
        status = enum_param(query, "status", ("active", "paused"))
        view = enum_param(query, "view", ("full", "compact"))
        search = (query.get("search") or "").lower()
        with self._lock:
            items = sorted(self._schedules.values(), key=lambda s: -s.seq)
            if search:
                items = [s for s in items if search in (s.doc.get("name") or "").lower()]
            if status:
                items = [s for s in items if s.doc["enabled"] == (status == "active")]
            page, pagination = cursor_page(items, query, direction_param=False)
            data = [self._render(schedule) for schedule in page]
        return {"data": compact(data) if view == "compact" else data, "pagination": pagination}

    def create_schedule(self, body: Any) -> dict[str, Any]:
        """POST /v1/schedules: nested ``target``/``trigger`` body; returns ``{id, status: "created"}``."""
        updates = global_updates(body, partial=False)
        with self._lock:
            updates = checked_updates(None, updates, GLOBAL_PATHS)
            self._check_entitlement()
            schedule = self._insert(updates, SimConfig(), None, None, None)
        return {"id": schedule.id, "status": "created"}

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        """GET /v1/schedules/:id."""
        with self._lock:
            return self._render(self._get(schedule_id))

    def update_schedule(self, schedule_id: str, body: Any) -> dict[str, Any]:
        """PUT /v1/schedules/:id: partial update; returns ``{id, status: "updated"}``."""
        updates = global_updates(body, partial=True)
        with self._lock:
            schedule = self._get(schedule_id)
            schedule.doc.update(checked_updates(schedule, updates, GLOBAL_PATHS))
            schedule.doc["updatedAt"] = iso(self.clock.now())
        return {"id": schedule_id, "status": "updated"}

    def delete_schedule(self, schedule_id: str) -> dict[str, Any]:
        """DELETE /v1/schedules/:id (its runs stay visible in ``runs/all``)."""
        with self._lock:
            self._get(schedule_id)
            del self._schedules[schedule_id]
        return {"success": True}

    def _set_enabled(self, schedule: Schedule, enabled: bool) -> None:
        if enabled and not schedule.doc["enabled"]:
            self._check_entitlement()
        schedule.doc["enabled"] = enabled
        schedule.doc["updatedAt"] = iso(self.clock.now())

    def pause_schedule(self, schedule_id: str) -> dict[str, Any]:
        """POST /v1/schedules/:id/pause (idempotent)."""
        with self._lock:
            self._set_enabled(self._get(schedule_id), False)
        return {"status": "paused"}

    def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        """POST /v1/schedules/:id/resume (402 when it would exceed ``max_active_schedules``)."""
        with self._lock:
            self._set_enabled(self._get(schedule_id), True)
        return {"status": "resumed"}

    def run_schedule_now(self, schedule_id: str) -> dict[str, Any]:
        """POST /v1/schedules/:id/run-now: always starts a new run (paused schedules too)."""
        with self._lock:
            run = self._start_run(self._get(schedule_id))
        return {"batchExecutionId": run.batch_id, "error": None, "runId": run.id, "status": "queued"}

    def list_schedule_runs(self, schedule_id: str) -> dict[str, Any]:
        """GET /v1/schedules/:id/runs: all runs, newest first, no pagination."""
        with self._lock:
            self._get(schedule_id)
            now = self._clock()
            return {"data": [run.to_dict(now) for run in self._schedule_runs(schedule_id)]}

    def list_all_schedule_runs(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/runs/all: newest first, cursor pagination with ``direction``."""
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: -r.seq)
            page, pagination = cursor_page(runs, query, direction_param=True)
            now = self._clock()
            return {"data": [run.to_dict(now) for run in page], "pagination": pagination}

    def get_run_results(self, run_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/runs/:runId/results: rows with status ``success``/``failed``."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise not_found("Run", run_id, "runId")
            return self._results(run, query, "success")

    def get_batch_results(self, batch_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/batch/:batchId/results: rows with status ``completed``/``failed``."""
        with self._lock:
            return self._results(self._batch(batch_id), query, "completed")

    def _results(self, run: Run, query: Mapping[str, str], success_status: str) -> dict[str, Any]:
        """Style-B page of processed records' rows, optional ``status`` filter (success == completed)."""
        limit, offset = offset_paging(query)
        view = run.view(self._clock())
        # Pick the indexes of the page first (status comes from the failure mask), then build only those rows:
        # a page costs O(page), not O(run), so benchmarks over large runs measure the client, not this fake.
        indexes: range | list[int] = range(view.processed)
        wanted = query.get("status")
        if wanted:
            synonyms = {"success", "completed"}
            accepted = synonyms if wanted in synonyms else {wanted}
            want_failed, want_ok = "failed" in accepted, success_status in accepted
            mask = run.failed_mask
            indexes = [i for i in indexes if (want_failed if mask[i] else want_ok)]
        total = len(indexes)
        return {
            "data": [run.result_row(i, success_status) for i in indexes[offset : offset + limit]],
            "pagination": {"hasMore": offset + limit < total, "limit": limit, "offset": offset, "total": total},
            "summary": {"recordsWithFailedSteps": view.failed},
        }

    def _runs_by_day(self, runs: Iterable[Run], now: float) -> list[dict[str, Any]]:
        today = self.clock.now().date()
        days = {(today - timedelta(days=back)).isoformat(): [0, 0] for back in range(6, -1, -1)}
        for run in runs:
            counts = days.get(run.created_wall.date().isoformat())
            if counts is not None:
                counts[0] += 1
                counts[1] += run.view(now).status == "failed"
        return [{"date": day, "failed": failed, "runs": total} for day, (total, failed) in days.items()]

    def get_schedule_sparklines(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/sparklines: 7 UTC days (oldest first) per schedule; ``ids`` filter (max 100)."""
        ids = [item.strip() for item in (query.get("ids") or "").split(",") if item.strip()]
        if len(ids) > MAX_SPARKLINE_IDS:
            raise validation_error([detail(f"at most {MAX_SPARKLINE_IDS} ids", "ids", "INVALID_RANGE")])
        with self._lock:
            now = self._clock()
            schedules = (
                [self._schedules[i] for i in ids if i in self._schedules]
                if ids
                else sorted(self._schedules.values(), key=lambda s: -s.seq)
            )
            return {
                "data": [
                    {"last7Days": self._runs_by_day(self._schedule_runs(s.id), now), "scheduleId": s.id}
                    for s in schedules
                ]
            }

    def get_schedule_stats(self, schedule_id: str) -> dict[str, Any]:
        """GET /v1/schedules/:id/stats: counts over all runs; ``successRate`` is a 0-1 fraction; no costs."""
        with self._lock:
            self._get(schedule_id)
            now = self._clock()
            runs = self._schedule_runs(schedule_id)
            views = [run.view(now) for run in runs]
            completed = sum(v.status == "completed" for v in views)
            failed = sum(v.status == "failed" for v in views)
            durations = [
                (v.completed_at - v.started_at).total_seconds() * 1000 for v in views if v.completed_at and v.started_at
            ]
            return {
                "avgBilledCostUsd": None,
                "avgCostUsd": None,
                "avgDurationMs": sum(durations) / len(durations) if durations else None,
                "avgSelfReportedCostUsd": 0.0 if runs else None,
                "completed": completed,
                "failed": failed,
                "last7Days": self._runs_by_day(runs, now),
                "successRate": completed / (completed + failed) if completed + failed else None,
                "total": len(runs),
                "unpricedExecutions": sum(v.status in TERMINAL for v in views),
            }

    # ----------------------------------------------------------------- product-surface schedules (§4)

    def _surface_schedule(self, product_id: str, surface_id: str, schedule_id: str | None = None) -> Schedule | None:
        """Check the product and its schedule surface (404/400); then the surface's schedule ``schedule_id``."""
        surface = self._surfaces.get((product_id, surface_id))
        if surface is None:
            if not any(key[0] == product_id for key in self._surfaces):
                raise not_found("Product", product_id, "id")
            raise not_found("Surface", surface_id, "surfaceId")
        if surface["type"] != "schedule":
            raise ApiError(
                400,
                "Surface is not a schedule surface",
                [detail(f"surface {surface_id!r} has type {surface['type']!r}", "surfaceId", "INVALID_SURFACE_TYPE")],
            )
        if schedule_id is None:
            return None
        schedule = self._schedules.get(schedule_id)
        if schedule is None or schedule.product_id != product_id or schedule.doc["productSurfaceId"] != surface_id:
            raise not_found("Schedule", schedule_id, "scheduleId")
        return schedule

    def _surface_schedule_of(self, product_id: str, surface_id: str, schedule_id: str) -> Schedule:
        schedule = self._surface_schedule(product_id, surface_id, schedule_id)
        assert schedule is not None
        return schedule

    def list_surface_schedules(self, product_id: str, surface_id: str) -> dict[str, Any]:
        """GET …/schedules: the surface's schedules with ``flowName``, newest first, no pagination."""
        with self._lock:
            self._surface_schedule(product_id, surface_id)
            items = [
                s
                for s in sorted(self._schedules.values(), key=lambda s: -s.seq)
                if s.product_id == product_id and s.doc["productSurfaceId"] == surface_id
            ]
            return {"data": [self._render(s, flow_name=True) for s in items]}

    def create_surface_schedule(self, product_id: str, surface_id: str, body: Any) -> dict[str, Any]:
        """POST …/schedules: flat body; returns the full schedule."""
        updates = surface_updates(body, partial=False)
        with self._lock:
            self._surface_schedule(product_id, surface_id)
            updates = checked_updates(None, updates, {})
            schedule = self._insert(updates, SimConfig(), None, product_id, surface_id)
            return self._render(schedule)

    def get_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """GET …/schedules/:scheduleId: adds ``flowName`` and ``recentRuns`` (newest first, max 10)."""
        with self._lock:
            schedule = self._surface_schedule_of(product_id, surface_id, schedule_id)
            return self._render(schedule, flow_name=True, recent_runs=True)

    def update_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str, body: Any) -> dict[str, Any]:
        """PUT …/schedules/:scheduleId: partial flat body; returns the full schedule."""
        updates = surface_updates(body, partial=True)
        with self._lock:
            schedule = self._surface_schedule_of(product_id, surface_id, schedule_id)
            schedule.doc.update(checked_updates(schedule, updates, {}))
            schedule.doc["updatedAt"] = iso(self.clock.now())
            return self._render(schedule)

    def delete_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """DELETE …/schedules/:scheduleId."""
        with self._lock:
            self._surface_schedule(product_id, surface_id, schedule_id)
            del self._schedules[schedule_id]
        return {"success": True}

    def _surface_toggle(self, product_id: str, surface_id: str, schedule_id: str, enabled: bool) -> dict[str, Any]:
        with self._lock:
            schedule = self._surface_schedule_of(product_id, surface_id, schedule_id)
            schedule.doc["enabled"] = enabled
            schedule.doc["updatedAt"] = iso(self.clock.now())
        return {"status": "resumed" if enabled else "paused"}

    def pause_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """POST …/schedules/:scheduleId/pause."""
        return self._surface_toggle(product_id, surface_id, schedule_id, False)

    def resume_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """POST …/schedules/:scheduleId/resume (no entitlement check: not declared for surfaces)."""
        return self._surface_toggle(product_id, surface_id, schedule_id, True)

    def run_surface_schedule_now(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """POST …/schedules/:scheduleId/run-now: returns ``{batchExecutionId, recordCount, status}``."""
        with self._lock:
            run = self._start_run(self._surface_schedule_of(product_id, surface_id, schedule_id))
        return {"batchExecutionId": run.batch_id, "recordCount": len(run.records), "status": "queued"}

    # ----------------------------------------------------------------- batches (§7.1)

    def _batch(self, batch_id: str) -> Run:
        run = self._batches.get(batch_id)
        if run is None:
            raise not_found("Batch execution", batch_id, "id")
        return run

    def get_batch_status(self, batch_id: str) -> dict[str, Any]:
        """GET /v1/batch/status/:id."""
        with self._lock:
            run = self._batch(batch_id)
            view = run.view(self._clock())
            total = len(run.records)
            terminal = view.status in TERMINAL
            return {
                "batchExecutionId": run.batch_id,
                "completedAt": iso(view.completed_at) if view.completed_at else None,
                "executionEngineSummary": "runtime" if view.processed else None,
                "failedRecords": view.failed,
                "flowId": run.flow_id or run.agent_id or "",
                "processedRecords": view.processed,
                "progress": view.processed * 100 // total if total else (100 if terminal else 0),
                "results": None,
                "startedAt": iso(view.started_at or run.created_wall),
                "status": view.status,
                "successCount": view.processed - view.failed,
                "totalRecords": total,
            }

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        """POST /v1/batch/cancel/:id: cancels a queued/running batch; 200 ``success: false`` otherwise."""
        with self._lock:
            run = self._batch(batch_id)
            now = self._clock()
            status = run.view(now).status
            if status in TERMINAL:
                return {"message": f"Batch execution is already {status}", "success": False}
            run.cancelled_at = now - run.created_mono
        return {"message": "Batch execution cancelled", "success": True}

    def submit_batch(self, body: Any) -> dict[str, Any]:
        """POST /v1/batch/flow: a batch over saved and inline records, run like a schedule run; 429 past
        ``Settings.daily_record_limit`` records submitted on this UTC day (simulated clock)."""
        request = checked_batch(body)
        with self._lock:
            settings, now = self.settings, self.clock.now()
            day = now.date().isoformat()
            used = self._records_by_day.get(day, 0)
            if settings.daily_record_limit is not None and used + request.count > settings.daily_record_limit:
                midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
                retry_after = max(1, math.ceil((midnight - now).total_seconds()))
                raise daily_limit_error(settings.daily_record_limit, used, retry_after)
            self._records_by_day[day] = used + request.count
            batch_id = new_id("batch")
            records = batch_records(request, batch_id)
            definition = request.flow_definition or {}
            target = str(request.flow_id or request.agent_id or definition.get("id") or "")
            recovering = frozenset(settings.recovering_record_ids)
            tried = {(target, r.id if r.id in recovering else r.name) for r in records}  # inline: by name
            first_time = {key for _, key in tried - self._batch_attempts if key in recovering}
            self._batch_attempts.update(tried)
            failing = {*settings.failing_record_ids, *first_time}
            run = Run(
                id=batch_id, seq=next(self._seq), schedule_id=None, batch_id=batch_id,
                flow_id=request.flow_id or definition.get("id"), agent_id=request.agent_id,
                agent_execution_id=new_id("exec") if request.agent_id else None, flow_name=request.flow_name(),
                records=records,
                failed_mask=batch_failures(records, failing, settings.failure_share),
                created_mono=self._clock(), created_wall=now, queued_s=settings.queued_seconds,
                running_s=settings.running_seconds, outcome="completed", error=None,
                record_error=settings.record_error, cost_per_record=settings.cost_per_record_usd,
                billed_share=settings.billed_cost_share,
            )  # fmt: skip
            self._batches[batch_id] = run
        return {"batchExecutionId": batch_id, "status": "queued"}

    def get_batch_summary(self) -> dict[str, Any]:
        """GET /v1/batch/summary: active batches and the latest finished ones (newest first, max 10)."""
        with self._lock:
            now = self._clock()
            views = [(run, run.view(now)) for run in sorted(self._batches.values(), key=lambda r: -r.seq)]
            active = [summary_item(run, view) for run, view in views if view.status in ACTIVE]
            recent = [summary_item(run, view) for run, view in views if view.status not in ACTIVE][:RECENT_RUNS]
        return {"activeBatches": len(active), "batches": active, "recent": recent, "recentlyCompleted": len(recent)}

    def get_batch_cost(self, batch_id: str) -> dict[str, Any]:
        """GET /v1/batch/:id/cost: the processed records' cost so far (a running batch's cost grows)."""
        with self._lock:
            run = self._batch(batch_id)
            return cost_body(run, run.view(self._clock()))

    def _batch_record(self, batch_id: str, record_id: str) -> tuple[Run, int]:
        run = self._batch(batch_id)
        index = record_index(run, record_id)
        if index is None:
            raise not_found("Record", record_id, "recordId")
        return run, index

    def get_batch_record_cost(self, batch_id: str, record_id: str) -> dict[str, Any]:
        """GET /v1/batch/:batchId/records/:recordId/cost (404 for a record not in the batch)."""
        with self._lock:
            run, index = self._batch_record(batch_id, record_id)
            return record_cost_body(run, run.view(self._clock()), index)

    def list_batch_record_steps(self, batch_id: str, record_id: str) -> dict[str, Any]:
        """GET /v1/batch/:batchId/records/:recordId/steps: three steps once the record is processed."""
        with self._lock:
            run, index = self._batch_record(batch_id, record_id)
            return steps_body(run, run.view(self._clock()), index, self.settings.user_id)
