"""FastAPI app of the local Runtype: routing, Bearer auth, fault injection, request log, admin routes.

``create_app()`` returns a :class:`RuntypeApp` (a ``FastAPI`` subclass) over a ``handlers.State``. The
app can be served by any ASGI server, e.g. ``uvicorn --factory runtype_provider.testing.server:create_app``;
the ``drop`` fault needs uvicorn (it closes uvicorn's transport), elsewhere it raises
:class:`DroppedConnection` instead.

Every ``/v1`` route is named after its operation (see ``faults.OPERATIONS``); literal paths
(``sparklines``, ``runs/all``, ``runs/:runId/results``, ``batch/:batchId/results``) are registered
before ``/v1/schedules/{schedule_id}``.

Before anything else (routing, auth, faults, logging, reading the body), every request whose ``Host`` header is
not a loopback name (``hosts``: ``localhost``, 127.0.0.0/8, ``[::1]``, any port) or one of
``Settings.allowed_hosts`` is answered ``421 Misdirected Request`` (code ``INVALID_HOST``) and only counted
(``State.request_log_stats()["refused_hosts"]``): a page that rebinds its own DNS name to 127.0.0.1 can neither
read nor change anything. 421 rather than 403: the API's 403 means a read-only key, and 421 says exactly
"this server does not answer for that host" (no client retries it).

The request log (``request_log``, bounded) keeps each ``/v1`` request's method, path, query, operation, status
and fault, and its JSON body when the request carried a valid API key (``None`` when there is none, it does not
parse or it is larger than ``MAX_LOGGED_BODY`` bytes); it never holds headers, and ``State.requests()`` masks
any configured key or the admin token a client put in a logged path, query or body.

Request bodies (API and admin) are parsed strictly: ``NaN``/``Infinity`` and numbers that overflow to
infinity are invalid JSON, and a body nested deeper than ``wire.MAX_JSON_DEPTH`` arrays/objects is refused; all
answered 400 (``INVALID_JSON`` / ``JSON_TOO_DEEP``).

Every ``/v1`` request waits ``Settings.latency_seconds`` (default 0) before it is handled, as over a real
network; admin routes never wait.

Admin routes (under ``/_local/``, see ``_ADMIN``) are never faulted and not logged. Except ``GET
/_local/health`` (open, to wait for startup) they need ``Authorization: Bearer <admin token>``, where the
admin token is ``Settings.admin_token`` or, when that is ``None`` (the default), a random token made when the
state is created (``State.admin_token``; never an API key); otherwise 401. A request body on an admin write
(POST/PUT/PATCH) must be ``Content-Type: application/json`` (415 otherwise; an empty body without a content
type is fine). Every change is validated before it is applied, so a refused change (400) leaves the state as it
was; record counts and record-id lists are capped at ``settings.MAX_RECORDS``. No admin answer contains the API
key, the read-only key or the admin token (``GET /_local/config`` returns ``Settings.public()``). ``GET
/_local/requests`` returns the log as ``data`` with its counts (``logged``, ``dropped``, ``refused_hosts``). The
FastAPI docs at ``/_local/docs`` and ``/_local/openapi.json`` stay open: they describe only the ``/v1`` API.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from runtype_provider.api.spec import ENDPOINTS
from runtype_provider.testing.fake.batches import daily_limit_error, payment_required_error
from runtype_provider.testing.fake.faults import DEFAULT_MALFORMED_BODY, OPERATIONS, Fault
from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.hosts import host_refusal
from runtype_provider.testing.fake.request_log import MAX_LOGGED_BODY, LogEntry
from runtype_provider.testing.fake.settings import Settings
from runtype_provider.testing.fake.store import advance, start_due_runs
from runtype_provider.testing.fake.wire import ApiError, detail, parse_body

ADMIN_PREFIX = "/_local/"
_sleep = asyncio.sleep  # captured at import: immune to tests that monkeypatch asyncio.sleep
# (method, path, operation == State method name), derived from the API table; registered in its order.
ROUTES: tuple[tuple[str, str, str], ...] = tuple((e.method, e.path, e.operation) for e in ENDPOINTS.values())


class DroppedConnection(ConnectionAbortedError):
    """Raised by the ``drop`` fault when the server is not uvicorn (no transport to close)."""


def _error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _json_body(request: Request) -> Any:
    return parse_body(await request.body())


def _api_endpoint(state: State, operation: str) -> Callable[[Request], Awaitable[Response]]:
    handler = getattr(state, operation)
    inputs = inspect.signature(handler).parameters

    async def endpoint(request: Request) -> Response:
        try:
            state.authorize(request.headers.get("authorization"), request.method)
            start_due_runs(state)  # the local cron (Settings.cron_runs) starts what is due before anyone looks
            kwargs: dict[str, Any] = dict(request.path_params)
            if "query" in inputs:
                kwargs["query"] = dict(request.query_params)
            if "body" in inputs:
                kwargs["body"] = await _json_body(request)
            return JSONResponse(handler(**kwargs))
        except ApiError as exc:
            return _error_response(exc)

    endpoint.__name__ = operation
    return endpoint


def _ok(action: Callable[[], object]) -> dict[str, bool]:
    action()
    return {"success": True}


_FAULT_OPTION_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "operation": ((str,), "a string"),
    "kind": ((str,), "a string"),
    "times": ((int, type(None)), "a positive integer or null"),
    "status": ((int,), "an integer"),
    "retry_after": ((int,), "an integer"),
    "delay": ((int, float), "a number"),
    "body": ((str, type(None)), "a string or null"),
    "after_effect": ((bool,), "a boolean"),
}


def _arm_fault(state: State, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /_local/faults``: check the JSON types (no bools for numbers, finite delay), then arm."""
    for name, value in body.items():
        types, label = _FAULT_OPTION_TYPES.get(name, ((object,), ""))
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ValueError(f"{name} must be {label}, got {value!r}")
    if isinstance(body.get("delay"), float) and not math.isfinite(body["delay"]):
        raise ValueError("delay must be a finite number of seconds")
    return state.faults.arm(**body).to_dict()


# Admin routes: (method, path under /_local/, handler(state, body, path_params)).
_ADMIN: tuple[tuple[str, str, Callable[[State, Any, dict[str, Any]], Any]], ...] = (
    ("GET", "health", lambda s, b, p: {"status": "ok"}),
    ("GET", "config", lambda s, b, p: s.settings.public()),
    ("PUT", "config", lambda s, b, p: s.configure(**b)),
    ("POST", "schedules", lambda s, b, p: s.seed_schedule(**b)),
    ("PATCH", "schedules/{schedule_id}", lambda s, b, p: s.configure_schedule(p["schedule_id"], **b)),
    ("POST", "surfaces", lambda s, b, p: s.add_surface(**b)),
    ("GET", "faults", lambda s, b, p: {"data": s.faults.list()}),
    ("POST", "faults", lambda s, b, p: _arm_fault(s, b)),
    ("DELETE", "faults", lambda s, b, p: _ok(s.faults.clear)),
    ("GET", "requests", lambda s, b, p: {"data": s.requests(), **s.request_log_stats()}),
    ("DELETE", "requests", lambda s, b, p: _ok(s.clear_requests)),
    ("POST", "reset", lambda s, b, p: _ok(s.reset)),
    ("POST", "clock/advance", lambda s, b, p: advance(s, b.get("seconds"))),
)


# Admin routes anyone on loopback may call (no token): waiting for startup needs no credentials.
_OPEN_ADMIN = frozenset({("GET", "health")})
_WRITES = ("POST", "PUT", "PATCH")


async def _admin_body(request: Request) -> dict[str, Any]:
    """The JSON object body of an admin write: 415 unless ``application/json`` (empty body: ``{}``)."""
    raw = await request.body()
    content_type = request.headers.get("content-type")
    if content_type is not None or raw.strip():
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(
                415,
                "Unsupported Media Type",
                [detail(f"admin request bodies must be application/json, not {media_type or 'untyped'}",
                        None, "UNSUPPORTED_MEDIA_TYPE")],
            )  # fmt: skip
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object", [detail("expected an object", "", "INVALID_TYPE")])
    return body


def _admin_endpoint(
    state: State, handler: Callable[[State, Any, dict[str, Any]], Any], *, open_route: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            if not open_route:
                state.authorize_admin(request.headers.get("authorization"))
            body = await _admin_body(request) if request.method in _WRITES else {}
            return JSONResponse(handler(state, body, dict(request.path_params)))
        except (TypeError, ValueError) as exc:
            path, code = getattr(exc, "field", None), getattr(exc, "code", "INVALID_REQUEST")
            return _error_response(ApiError(400, "Invalid admin request", [detail(str(exc), path, code)]))
        except ApiError as exc:
            return _error_response(exc)

    return endpoint


async def _drop_connection(send: Send) -> None:
    """Close the client connection without any HTTP response (uvicorn's h11 and httptools protocols).

    uvicorn hands the app the bound ``send`` of its per-request cycle, which holds the asyncio
    transport. Closing it sends FIN with no bytes; waiting until uvicorn has seen the connection
    loss marks the cycle ``disconnected`` so uvicorn neither logs an error nor tries a 500.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "close"):
        raise DroppedConnection("runtype fault injection: drop (server does not expose its transport)")
    transport.close()
    for _ in range(1000):
        if getattr(cycle, "disconnected", True):
            return
        await _sleep(0.001 if _ > 10 else 0)


async def _send_bytes(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw_headers = [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _fault_response(fault: Fault, captured: list[Message]) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers that replace the real response for rate_limit/server_error/malformed."""
    json_type = {"content-type": "application/json"}
    if fault.kind == "malformed":
        real = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        body = (
            fault.body.encode() if fault.body is not None else real[: len(real) // 2] or DEFAULT_MALFORMED_BODY.encode()
        )
        return 200, body, json_type
    if fault.kind == "rate_limit":
        error = ApiError(
            429,
            "Rate limit exceeded",
            [detail(f"Too many requests; retry after {fault.retry_after} seconds", None, "RATE_LIMITED")],
        )
        return 429, json.dumps(error.body()).encode(), {**json_type, "retry-after": str(fault.retry_after)}
    if fault.kind in ("daily_limit", "payment_required"):
        error = (
            daily_limit_error(None, None, fault.retry_after)
            if fault.kind == "daily_limit"
            else payment_required_error()
        )
        return error.status, json.dumps(error.body()).encode(), {**json_type, **error.headers}
    phrase = HTTPStatus(fault.status).phrase
    error = ApiError(fault.status, phrase, [detail("Injected server error", None, "INJECTED_FAULT")])
    return fault.status, json.dumps(error.body()).encode(), json_type


class _BodyRecorder:
    """Wraps ``receive``: request-body chunks pass through unchanged as the app reads them; with ``keep``, the first
    ``MAX_LOGGED_BODY`` bytes are kept and handed to the request log once the body ends (a larger body: none)."""

    def __init__(self, receive: Receive, state: State, entry: LogEntry, *, keep: bool) -> None:
        self._receive, self._state, self._entry = receive, state, entry
        self._chunks: list[bytes] | None = [] if keep else None
        self._size = 0
        self.done = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.done = True
        elif message["type"] == "http.request" and not self.done:
            chunk = message.get("body", b"")
            self._size += len(chunk)
            if self._chunks is not None and self._size <= MAX_LOGGED_BODY:
                self._chunks.append(chunk)
            else:
                self._chunks = None
            if not message.get("more_body", False):
                self.done = True
                if self._chunks:
                    self._state.log_body(self._entry, b"".join(self._chunks))
        return message

    async def drain(self) -> None:
        """Read the body the app left unread (a route without a body); call before the response starts."""
        while not self.done:
            await self.receive()


async def _refuse_host(scope: Scope, send: Send, reason: str) -> None:
    """421 (or a closed websocket) for a request to a name that is not ours; its body is never read."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    error = ApiError(421, "Misdirected Request", [detail(reason, None, "INVALID_HOST")])
    await _send_bytes(send, 421, json.dumps(error.body()).encode(), {"content-type": "application/json"})


class RuntypeApp(FastAPI):
    """The local Runtype ASGI app; ``runtype`` is its :class:`State`."""

    runtype: State

    def _operation(self, scope: Scope) -> str | None:
        """The operation of the route that fully matches (path and method), else of a path-only match."""
        partial = None
        for route in self.router.routes:
            name = getattr(route, "name", None)
            if name not in OPERATIONS:
                continue
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(name)
            if match is Match.PARTIAL and partial is None:
                partial = str(name)
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a foreign ``Host``; log the request and apply an armed fault before (or instead of) handling."""
        if scope["type"] != "lifespan":
            reason = host_refusal(scope.get("headers", ()), self.runtype.settings.allowed_hosts)
            if reason is not None:
                self.runtype.count_refused_host()
                await _refuse_host(scope, send, reason)
                return
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await super().__call__(scope, receive, send)
            return
        operation = self._operation(scope)
        fault = self.runtype.faults.take(operation)
        query, kind = scope["query_string"].decode("latin-1"), fault.kind if fault else None
        entry = self.runtype.log_request(scope["method"], scope["path"], query, operation, kind)
        authorization = next((v for k, v in scope["headers"] if k.lower() == b"authorization"), b"")
        keep_body = self.runtype.authenticated(authorization.decode("latin-1") or None)
        latency = self.runtype.settings.latency_seconds
        if latency:
            await _sleep(latency)  # a network round trip: concurrent requests wait side by side
        body = _BodyRecorder(receive, self.runtype, entry, keep=keep_body)
        receive = body.receive

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await body.drain()
                entry.status = message["status"]
            await send(message)

        if fault is None:
            await super().__call__(scope, receive, recording_send)
        else:
            await self._apply_fault(fault, scope, receive, send, recording_send)

    async def _apply_fault(
        self, fault: Fault, scope: Scope, receive: Receive, send: Send, recording_send: Send
    ) -> None:
        if fault.kind == "slow" and not fault.after_effect:
            await _sleep(fault.delay)
            await super().__call__(scope, receive, recording_send)
            return
        captured: list[Message] = []
        if fault.after_effect:

            async def capture(message: Message) -> None:
                captured.append(message)

            await super().__call__(scope, receive, capture)
        if fault.kind == "drop":
            await _drop_connection(send)
        elif fault.kind == "slow":
            await _sleep(fault.delay)
            for message in captured:
                await recording_send(message)
        else:
            await _send_bytes(recording_send, *_fault_response(fault, captured))


def create_app(state: State | None = None, **settings: Any) -> RuntypeApp:
    """Build the app over ``state`` (or a fresh ``State(Settings(**settings))``)."""
    state = state or State(Settings(**settings))
    app = RuntypeApp(
        title="Local Runtype",
        description="In-memory imitation of the Runtype schedules API (airflow-provider-runtype).",
        docs_url=ADMIN_PREFIX + "docs",
        redoc_url=None,
        openapi_url=ADMIN_PREFIX + "openapi.json",
    )
    app.runtype = state
    for method, path, operation in ROUTES:
        app.add_api_route(path, _api_endpoint(state, operation), methods=[method], name=operation, response_model=None)
    for method, path, handler in _ADMIN:
        endpoint = _admin_endpoint(state, handler, open_route=(method, path) in _OPEN_ADMIN)
        app.add_api_route(ADMIN_PREFIX + path, endpoint, methods=[method], response_model=None, include_in_schema=False)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = "NOT_FOUND" if exc.status_code == 404 else "METHOD_NOT_ALLOWED" if exc.status_code == 405 else None
        message = f"{request.method} {request.url.path}: {exc.detail}"
        body = ApiError(exc.status_code, str(exc.detail), [detail(message, None, code)])
        return JSONResponse(body.body(), status_code=exc.status_code, headers=exc.headers)

    return app
