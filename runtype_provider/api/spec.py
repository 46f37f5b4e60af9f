"""The Runtype API, described once as data: every operation, its method, path, query, body kind and paging.

Each :class:`Endpoint` names an operation (the hook method, the local Runtype's handler and the fault name all
use it), its method and path template, the query parameters it accepts, the kind of JSON body it takes, the
response model that reads its answer (by name, in :mod:`runtype_provider.api.responses`), whether repeating it
is safe, and how it pages. Nothing else lists the operations.

This module imports only the standard library: the local Runtype (``runtype_provider.testing``) shares it with
the provider, and nothing else, so the fake cannot share the client's bugs.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

MAX_PAGE_SIZE = 100
"""Largest ``limit`` the paginated endpoints accept."""
MAX_BATCH_RECORDS = 50_000
"""Most records (``recordIds`` and inline ``records`` together) one ``POST /v1/batch/flow`` may submit."""

Pagination = Literal["cursor", "offset"]
BodyKind = Literal["empty", "schedule", "schedule_update", "surface_schedule", "surface_schedule_update", "batch"]


SCHEDULE_FIELDS: dict[str, tuple[str, ...]] = {
    "schedule": (
        "flow_id", "agent_id", "record_type", "record_ids", "record_filter", "trigger_type", "cron", "timezone",
        "run_at", "execution_options", "name", "inputs", "messages",
    ),
    "surface_schedule": (
        "flow_id", "trigger_type", "cron", "run_at", "timezone", "enabled", "execution_options", "record_filter",
        "record_ids", "record_type",
    ),
}  # fmt: skip
"""The fields of a global and of a product-surface schedule, as keyword arguments: the body builders take exactly
these (:mod:`runtype_provider.api.bodies`), and the create/update operators accept them."""


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API.

    ``response`` names the model in :mod:`runtype_provider.api.responses` that parses a 2xx answer (``unwrap``:
    the answer is the model's ``data`` list); ``body`` is the kind of JSON body (None: the request has none);
    ``idempotent`` False means a retry could repeat an effect (run-now, create), so the transport retries it
    only when the request provably never reached the server.
    """

    operation: str
    method: str
    path: str
    response: str
    query: tuple[str, ...] = ()
    body: BodyKind | None = None
    idempotent: bool = True
    pagination: Pagination | None = None
    unwrap: bool = False

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.path) if name)


_S = "/v1/schedules/{schedule_id}"
_B = "/v1/batch/{batch_id}"
_P = "/v1/products/{product_id}/surfaces/{surface_id}/schedules"
_CURSOR_QUERY = ("limit", "cursor")
_RESULTS_QUERY = ("limit", "offset", "status")

ENDPOINTS: dict[str, Endpoint] = {
    e.operation: e
    for e in (
        # Global schedules. Literal paths come before "/v1/schedules/{schedule_id}" for routers that match in order.
        Endpoint("list_schedules", "GET", "/v1/schedules", "SchedulePage",
                 query=(*_CURSOR_QUERY, "search", "status", "view"), pagination="cursor"),
        Endpoint("create_schedule", "POST", "/v1/schedules", "ScheduleCreated", body="schedule", idempotent=False),
        Endpoint("get_schedule_sparklines", "GET", "/v1/schedules/sparklines", "SparklineList",
                 unwrap=True, query=("ids",)),
        Endpoint("list_all_schedule_runs", "GET", "/v1/schedules/runs/all", "ScheduleRunPage",
                 query=(*_CURSOR_QUERY, "direction"), pagination="cursor"),
        Endpoint("get_run_results", "GET", "/v1/schedules/runs/{run_id}/results", "RecordResultPage",
                 query=_RESULTS_QUERY, pagination="offset"),
        Endpoint("get_batch_results", "GET", "/v1/schedules/batch/{batch_id}/results",
                 "RecordResultPage", query=_RESULTS_QUERY, pagination="offset"),
        Endpoint("get_schedule", "GET", _S, "Schedule"),
        Endpoint("update_schedule", "PUT", _S, "ScheduleUpdated", body="schedule_update"),
        Endpoint("delete_schedule", "DELETE", _S, "DeleteResult"),
        Endpoint("pause_schedule", "POST", _S + "/pause", "ScheduleState"),
        Endpoint("resume_schedule", "POST", _S + "/resume", "ScheduleState"),
        Endpoint("run_schedule_now", "POST", _S + "/run-now", "RunNowResult", idempotent=False),
        Endpoint("list_schedule_runs", "GET", _S + "/runs", "ScheduleRunList", unwrap=True),
        Endpoint("get_schedule_stats", "GET", _S + "/stats", "ScheduleStats"),
        # Product-surface schedules.
        Endpoint("list_surface_schedules", "GET", _P, "SurfaceScheduleList", unwrap=True),
        Endpoint("create_surface_schedule", "POST", _P, "SurfaceSchedule", body="surface_schedule", idempotent=False),
        Endpoint("get_surface_schedule", "GET", _P + "/{schedule_id}", "SurfaceSchedule"),
        Endpoint("update_surface_schedule", "PUT", _P + "/{schedule_id}", "SurfaceSchedule",
                 body="surface_schedule_update"),
        Endpoint("delete_surface_schedule", "DELETE", _P + "/{schedule_id}", "DeleteResult"),
        Endpoint("pause_surface_schedule", "POST", _P + "/{schedule_id}/pause", "ScheduleState"),
        Endpoint("resume_surface_schedule", "POST", _P + "/{schedule_id}/resume", "ScheduleState"),
        Endpoint("run_surface_schedule_now", "POST", _P + "/{schedule_id}/run-now",
                 "SurfaceRunNowResult", body="empty", idempotent=False),
        # Batch executions (behind schedule runs, or submitted directly). Literal paths first, then
        # "/v1/batch/status/..." and "/v1/batch/cancel/..." before "/v1/batch/{batch_id}/...".
        Endpoint("submit_batch", "POST", "/v1/batch/flow", "BatchSubmitted", body="batch", idempotent=False),
        Endpoint("get_batch_summary", "GET", "/v1/batch/summary", "BatchSummary"),
        Endpoint("get_batch_status", "GET", "/v1/batch/status/{batch_id}", "BatchStatus"),
        Endpoint("cancel_batch", "POST", "/v1/batch/cancel/{batch_id}", "BatchCancelResult"),
        Endpoint("get_batch_cost", "GET", _B + "/cost", "BatchCost"),
        Endpoint("get_batch_record_cost", "GET", _B + "/records/{record_id}/cost", "RecordCost"),
        Endpoint("list_batch_record_steps", "GET", _B + "/records/{record_id}/steps", "BatchRecordStepList",
                 unwrap=True),
    )
}  # fmt: skip
