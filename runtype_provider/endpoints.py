"""The Runtype schedules API, described once as data.

Each :class:`Endpoint` names an operation (the hook method, the local Runtype's handler and the fault
name all use it), its method and path template, the query parameters it accepts, how its body is
built, how its answer is parsed, whether repeating it is safe, and how it pages. The hook, the local
Runtype's routes and its fault names are derived from :data:`ENDPOINTS`; nothing else lists them.

This module imports only the standard library (the local Runtype uses it without Airflow): response
models and body builders are named here and resolved when a request is built.
"""

from __future__ import annotations

import functools
import inspect
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    from runtype_provider.transport import ApiRequest

MAX_PAGE_SIZE = 100
"""Largest ``limit`` the paginated endpoints accept."""

Pagination = Literal["cursor", "offset"]


def _argument_error(message: str) -> Exception:
    from runtype_provider.exceptions import RuntypeConfigurationError

    return RuntypeConfigurationError(message)


DOT_SEGMENTS = (".", "..")
"""Ids refused as path segments: HTTP clients (requests/urllib3 and httpx alike) resolve them, so
``cancel_batch("..")`` would post to ``/v1/batch/`` and a surface delete with ``..`` ids would reach a
global schedule. Quoting does not help (``.`` is unreserved; servers may decode ``%2E`` back)."""


def _response_error(method: str, path: str, error: Exception) -> Exception:
    """A 2xx body of the wrong shape (a pydantic ``ValidationError``: named by its first wrong field) or
    nested too deeply to read (``RecursionError``), as the typed error naming the request."""
    from runtype_provider.exceptions import RuntypeResponseError

    if isinstance(error, RecursionError):
        message = "returned a body nested too deeply to read"
    else:
        first = error.errors()[0]  # type: ignore[attr-defined]
        message = f"returned an unexpected body: {'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}"
    return RuntypeResponseError(f"Runtype API {method} {path} {message}", method=method, path=path)


def id_text(value: Any, argument: str) -> str:
    """An id argument as text (an int is accepted), stripped; empty or non-string ids are refused by name."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _argument_error(f"{argument!r} must be a non-empty string, got {value!r}")
    return value.strip()


def segment(value: Any, argument: str) -> str:
    """A path segment from an id argument, URL-quoted (``/``, ``?``, ``#``, ``%`` and spaces included).

    This is the one place ids become path segments: empty, non-string and dot-segment ids (``.``, ``..``)
    are refused here, by argument name, before any request is sent.
    """
    text = id_text(value, argument)
    if text in DOT_SEGMENTS:
        raise _argument_error(
            f"{argument!r} must not be {text!r}: a dot segment would change the request path, not name an id"
        )
    return quote(text, safe="")


def join_ids(values: Any, argument: str, *, max_count: int) -> str:
    """A comma-separated id list for a query parameter (``?ids=a,b``), not URL-quoted (the HTTP client
    encodes query values once). Ids containing the separator are refused, as the server would split them."""
    if not isinstance(values, (list, tuple, set, frozenset)) or not 1 <= len(values) <= max_count:
        raise _argument_error(f"{argument!r} must be a list of 1 to {max_count} schedule ids")
    ids = [id_text(value, argument) for value in values]
    for text in ids:
        if "," in text:
            raise _argument_error(f"{argument!r}: {text!r} contains a comma, which separates the ids")
    return ",".join(ids)


def check_page_size(page_size: Any) -> int:
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise _argument_error(f"'page_size' must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    return page_size


def check_choice(value: str | None, argument: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise _argument_error(f"{argument!r} must be one of {', '.join(choices)}; got {value!r}")
    return value


BodyKind = Literal["empty", "schedule", "schedule_update", "surface_schedule", "surface_schedule_update"]


def build_body(kind: BodyKind, arguments: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a request of this kind, from the caller's keyword arguments (validated)."""
    from runtype_provider.models.bodies import build_schedule_body, build_surface_schedule_body

    if kind == "empty":
        return {}
    builder = build_surface_schedule_body if kind.startswith("surface_") else build_schedule_body
    accepted = set(inspect.signature(builder).parameters) - {"partial"}
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        family = "product-surface" if kind.startswith("surface_") else "global"
        raise _argument_error(
            f"{', '.join(map(repr, unknown))} not accepted by {family} schedules; "
            f"the fields are {', '.join(sorted(accepted))}"
        )
    return builder(partial=kind.endswith("_update"), **arguments)


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API.

    ``response`` names the model in :mod:`runtype_provider.models.schemas` that parses a 2xx answer
    (``unwrap`` answers with the model's ``data`` list); ``body`` is the kind of JSON body (None: the
    request has none); ``idempotent`` False means a retry could repeat an effect (run-now, create), so the
    transport retries it only when the request provably never reached the server.
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

    def parse(self, data: Any, path: str | None = None) -> Any:
        """The decoded 2xx body as this endpoint's model (or the model's ``data`` list).

        A body of another shape raises :class:`~runtype_provider.exceptions.RuntypeResponseError` naming the
        request (``path``, default the path template) and the first wrong field; nothing else escapes.
        """
        from pydantic import ValidationError

        from runtype_provider.models import schemas

        try:
            parsed = getattr(schemas, self.response).model_validate(data)
        except (ValidationError, RecursionError) as err:
            raise _response_error(self.method, path or self.path, err) from None
        return parsed.data if self.unwrap else parsed

    def request(self, *, query: dict[str, Any] | None = None, body: Any = None, **ids: Any) -> ApiRequest[Any]:
        """The request for these ids (each checked and quoted by name), query parameters and body arguments."""
        from runtype_provider.transport import ApiRequest

        unknown = set(query or {}) - set(self.query)
        if unknown or set(ids) != set(self.path_params):
            raise TypeError(f"{self.operation}: wrong arguments {sorted(unknown) or sorted(ids)}")
        path = self.path.format(**{name: segment(ids[name], name) for name in self.path_params})
        payload = None if self.body is None else build_body(self.body, body or {})
        parse = functools.partial(self.parse, path=path)
        return ApiRequest(self.method, path, parse, params=query, body=payload, idempotent=self.idempotent)


_S = "/v1/schedules/{schedule_id}"
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
        # Batch executions (the runs behind schedules).
        Endpoint("get_batch_status", "GET", "/v1/batch/status/{batch_id}", "BatchStatus"),
        Endpoint("cancel_batch", "POST", "/v1/batch/cancel/{batch_id}", "BatchCancelResult"),
    )
}  # fmt: skip
