"""RuntypeHook: typed access to the Runtype schedules API (global and product-surface), batch status and cancel.

Design:

* Each endpoint is described once, as an :class:`ApiCall` (method, path, query, body, idempotency and the
  model that parses the answer). A sync executor (``requests``, one pooled session per hook) and an async
  executor (``httpx``, for triggers) run the same calls with the same retry policy and error mapping.
* Retries (``tenacity``): connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``), exponential
  backoff with jitter, bounded. Non-idempotent calls (run-now, create) are retried only when the request
  provably never reached the server, or on 429 (the server refused it), so a retry never starts a second run.
* The API key only ever goes into the ``Authorization`` header: never into a URL, a log line, an exception
  or a repr; error text from the server is redacted in case it echoes the key.
* Nothing here touches the network until a method is called (DAG parsing stays free).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timezone
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ValidationError

from runtype_provider import __version__
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeConfigurationError,
    RuntypeConnectionError,
    RuntypeError,
    RuntypeRateLimitError,
    RuntypeResponseError,
    RuntypeServerError,
    api_error_class,
)
from runtype_provider.models import (
    BatchCancelResult,
    BatchStatus,
    DeleteResult,
    RecordResult,
    RecordResultPage,
    RunNowResult,
    RunProgress,
    RunReference,
    Schedule,
    ScheduleCreated,
    SchedulePage,
    ScheduleRun,
    ScheduleRunList,
    ScheduleRunPage,
    ScheduleSparkline,
    ScheduleState,
    ScheduleStats,
    ScheduleUpdated,
    SparklineList,
    SurfaceRunNowResult,
    SurfaceSchedule,
    SurfaceScheduleList,
    build_schedule_body,
    build_surface_schedule_body,
    find_run,
)
from runtype_provider.version_compat import AIRFLOW_V_3_2_PLUS, BaseHook

if TYPE_CHECKING:
    import httpx
    import requests

DEFAULT_BASE_URL = "https://api.runtype.com"
DEFAULT_DASHBOARD_URL = "https://app.runtype.com"
API_PREFIX = "/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_LIMIT = 3
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_RETRY_MAX_DELAY = 60.0
MAX_RETRY_AFTER = 300.0
MAX_PAGE_SIZE = 100

log = logging.getLogger(__name__)
M = TypeVar("M")


# --------------------------------------------------------------------------------------------------
# Shared, transport-independent pieces


@dataclass(frozen=True)
class ApiCall(Generic[M]):
    """One request to the API and how to read its answer; run by the sync or the async executor."""

    method: str
    path: str
    parse: Callable[[Any], M]
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    idempotent: bool = True


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and how long to wait; shared by the sync and async paths.

    ``retry_limit`` is the number of retries after the first attempt.
    """

    retry_limit: int = DEFAULT_RETRY_LIMIT
    retry_delay: float = DEFAULT_RETRY_DELAY
    retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY

    def should_retry(self, error: BaseException, idempotent: bool) -> bool:
        if isinstance(error, RuntypeConnectionError):
            return idempotent or not error.sent
        if isinstance(error, RuntypeRateLimitError):
            # The server refused the request: nothing was started, so even run-now may be retried,
            # unless it asks us to come back later than we are willing to wait.
            return error.retry_after is None or error.retry_after <= MAX_RETRY_AFTER
        if isinstance(error, RuntypeServerError) or (isinstance(error, RuntypeApiError) and error.status_code == 408):
            return idempotent
        return False

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """Seconds before retry number ``attempt`` (1-based): the server's hint, else backoff with jitter."""
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return max(0.0, min(float(hint), MAX_RETRY_AFTER))
        ceiling = min(self.retry_max_delay, self.retry_delay * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def tenacity_kwargs(self, call: ApiCall[Any], sleep: Callable[[float], Any]) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying``."""
        import tenacity

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s; retry %d/%d in %.1f s",
                error,
                state.attempt_number,
                self.retry_limit,
                state.next_action.sleep if state.next_action else 0.0,
            )

        return {
            "stop": tenacity.stop_after_attempt(self.retry_limit + 1),
            "wait": lambda state: self.wait_seconds(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            "retry": tenacity.retry_if_exception(lambda e: self.should_retry(e, call.idempotent)),
            "sleep": sleep,
            "before_sleep": before_sleep,
            "reraise": True,
        }


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After-Ms``, ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``."""
    value = headers.get("Retry-After-Ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    now = time.time() if now is None else now
    if value is not None:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=timezone.utc)
                return max(0.0, when.timestamp() - now)
    value = headers.get("X-RateLimit-Reset")
    if value is not None:
        try:
            return max(0.0, float(value) - now)
        except ValueError:
            pass
    return None


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret and text else text


def _redact_json(value: Any, secret: str | None) -> Any:
    """Decoded JSON with the secret replaced in every string (keys included)."""
    if isinstance(value, str):
        return _redact(value, secret)
    if isinstance(value, dict):
        return {_redact_json(k, secret): _redact_json(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_json(v, secret) for v in value]
    return value


def read_response(method: str, path: str, status: int, headers: Any, content: bytes, secret: str | None = None) -> Any:
    """The JSON body of a 2xx answer, or the typed error for any other status."""
    import json

    try:
        payload: Any = json.loads(content) if content.strip() else {}
        decoded = True
    except ValueError:
        payload, decoded = None, False
    if 200 <= status < 300:
        if not decoded:
            raise RuntypeResponseError(
                f"Runtype API {method} {path} returned HTTP {status} with a body that is not JSON",
                method=method,
                path=path,
            )
        return payload
    error: str | None = None
    details: list[Any] = []
    payload = _redact_json(payload, secret)  # the error keeps the body (e.g. 402 code/upgradeUrl): never the key
    if isinstance(payload, dict):
        raw_error = payload.get("error") or payload.get("message")
        error = _redact(str(raw_error), secret) if raw_error else None
        raw_details = payload.get("details")
        if isinstance(raw_details, list):
            details = [
                {k: _redact(str(v), secret) for k, v in d.items()} if isinstance(d, dict) else _redact(str(d), secret)
                for d in raw_details
            ]
    elif content:
        # Redact before truncating, so a key cut at the boundary cannot leave a prefix behind.
        error = _redact(content.decode("utf-8", "replace"), secret)[:200].strip() or None
    raise api_error_class(status)(
        method=method,
        path=path,
        status_code=status,
        error=error,
        details=details,
        body=payload if isinstance(payload, dict) else None,
        retry_after=parse_retry_after(headers) if status in (429, 503) else None,
    )


def model_parser(model: type[BaseModel]) -> Callable[[Any], Any]:
    return model.model_validate


def segment(value: Any, argument: str) -> str:
    """A path segment from an id argument, URL-quoted; empty or non-string ids are refused by name."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RuntypeConfigurationError(f"{argument!r} must be a non-empty string, got {value!r}")
    return quote(value.strip(), safe="")


def _check_page_size(page_size: int) -> int:
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise RuntypeConfigurationError(f"'page_size' must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    return page_size


def _check_choice(value: str | None, argument: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise RuntypeConfigurationError(f"{argument!r} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ConnectionSettings:
    """What a hook needs from its Airflow connection (plus hook-parameter overrides)."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float
    retry: RetryPolicy
    dashboard_url: str


def _number(value: Any, name: str, conn_id: str, cast: Callable[[Any], Any], minimum: float) -> Any:
    try:
        number = cast(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise RuntypeConfigurationError(
            f"Runtype connection {conn_id!r}: {name!r} must be a number >= {minimum}, got {value!r}"
        )
    return number


def settings_from_connection(conn: Any, overrides: dict[str, Any]) -> ConnectionSettings:
    """Read base URL, key and options from an Airflow connection; hook parameters win over extras."""
    conn_id = conn.conn_id
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}

    def option(name: str, default: Any) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        for key in (name, f"extra__runtype__{name}"):
            if extra.get(key) not in (None, ""):
                return extra[key]
        return default

    host = (conn.host or "").strip() or DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RuntypeConfigurationError(f"Runtype connection {conn_id!r}: host must be an https:// URL, got {host!r}")
    try:
        url_port = parts.port
    except ValueError:
        raise RuntypeConfigurationError(f"Runtype connection {conn_id!r}: host has an invalid port: {host!r}") from None
    if conn.port:
        # The Port field is optional; it fills in a URL without a port and must not contradict one that has it.
        if url_port is None:
            host = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
        elif url_port != conn.port:
            raise RuntypeConfigurationError(
                f"Runtype connection {conn_id!r}: port {conn.port} contradicts the port in host {host!r}"
            )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise RuntypeConfigurationError(
            f"Runtype connection {conn_id!r}: plain http:// is only allowed for loopback hosts; use https://"
        )
    base_url = host.rstrip("/")
    if base_url.endswith(API_PREFIX):
        base_url = base_url[: -len(API_PREFIX)]
    api_key = (conn.password or "").strip()
    if not api_key:
        raise RuntypeConfigurationError(f"Runtype connection {conn_id!r} has no API key (the password field)")
    dashboard = option("dashboard_url", None)
    if not dashboard:
        dashboard = DEFAULT_DASHBOARD_URL if parts.hostname == "api.runtype.com" else base_url
    return ConnectionSettings(
        base_url=base_url,
        api_key=api_key,
        timeout=_number(option("timeout", DEFAULT_TIMEOUT), "timeout", conn_id, float, 0.001),
        retry=RetryPolicy(
            retry_limit=_number(option("retry_limit", DEFAULT_RETRY_LIMIT), "retry_limit", conn_id, int, 0),
            retry_delay=_number(option("retry_delay", DEFAULT_RETRY_DELAY), "retry_delay", conn_id, float, 0),
            retry_max_delay=_number(
                option("retry_max_delay", DEFAULT_RETRY_MAX_DELAY), "retry_max_delay", conn_id, float, 0
            ),
        ),
        dashboard_url=str(dashboard).rstrip("/"),
    )


@lru_cache(maxsize=1)
def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every async client in the process.

    Building one loads the CA bundle (about 25 ms of blocking work); a triggerer creates a client per
    trigger, and 200 triggers starting together stalled its event loop for about 5 s before this.
    """
    import httpx

    return httpx.create_ssl_context()


def _requests_never_sent(error: Exception) -> bool:
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        reason = getattr(error.args[0], "reason", error.args[0])
        return isinstance(reason, NewConnectionError)
    return False


def _httpx_never_sent(error: Exception) -> bool:
    import httpx

    return isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


# --------------------------------------------------------------------------------------------------
# The hook


class RuntypeHook(BaseHook):
    """Interact with the Runtype schedules API.

    :param runtype_conn_id: Airflow connection of type ``runtype``: password = API key, host = API base URL
        (default ``https://api.runtype.com``), extras ``timeout``, ``retry_limit``, ``retry_delay``,
        ``dashboard_url``.
    :param timeout: seconds per request (overrides the connection's ``timeout``).
    :param retry_limit: retries after the first attempt for retryable failures.
    :param retry_delay: first backoff delay in seconds; doubles each retry, with jitter.
    :param retry_max_delay: cap of the backoff delay in seconds.
    """

    conn_name_attr = "runtype_conn_id"
    default_conn_name = "runtype_default"
    conn_type = "runtype"
    hook_name = "Runtype"

    def __init__(
        self,
        runtype_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int | None = None,
        retry_delay: float | None = None,
        retry_max_delay: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runtype_conn_id = runtype_conn_id
        self.overrides = {
            "timeout": timeout,
            "retry_limit": retry_limit,
            "retry_delay": retry_delay,
            "retry_max_delay": retry_max_delay,
        }
        # Injectable for tests (a fake clock); production uses the real sleeps.
        self.sleep: Callable[[float], Any] = time.sleep
        self.async_sleep: Callable[[float], Any] = asyncio.sleep
        self._settings: ConnectionSettings | None = None
        self._async_client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(runtype_conn_id={self.runtype_conn_id!r})"

    # ---- connection ------------------------------------------------------------------------------

    @property
    def settings(self) -> ConnectionSettings:
        if self._settings is None:
            self._settings = settings_from_connection(self.get_connection(self.runtype_conn_id), self.overrides)
        return self._settings

    async def asettings(self) -> ConnectionSettings:
        """Connection settings read without blocking the event loop (for triggers)."""
        if self._settings is None:
            aget = getattr(BaseHook, "aget_connection", None)
            if aget is not None:
                conn = await aget(self.runtype_conn_id)
            else:  # pragma: no cover - Airflow versions without the async getter
                from asgiref.sync import sync_to_async

                conn = await sync_to_async(self.get_connection)(self.runtype_conn_id)
            self._settings = settings_from_connection(conn, self.overrides)
        return self._settings

    def get_conn(self) -> requests.Session:
        """The pooled ``requests`` session of this hook."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        import requests

        session = requests.Session()
        session.headers.update(self._headers(self.settings))
        return session

    @staticmethod
    def _headers(settings: ConnectionSettings) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {settings.api_key}",
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-runtype/{__version__}",
            "X-Runtype-Client": "airflow",
        }

    # ---- executors ----------------------------------------------------------------------------------

    def run(self, call: ApiCall[M]) -> M:
        """Send ``call`` with retries and return its parsed answer."""
        import tenacity

        settings = self.settings
        for attempt in tenacity.Retrying(**settings.retry.tenacity_kwargs(call, self.sleep)):
            with attempt:
                return self._send(call, settings)
        raise AssertionError("unreachable")  # pragma: no cover

    async def arun(self, call: ApiCall[M]) -> M:
        """Async twin of :meth:`run` (httpx), with the same retry policy and error mapping."""
        import tenacity

        settings = await self.asettings()
        async for attempt in tenacity.AsyncRetrying(**settings.retry.tenacity_kwargs(call, self.async_sleep)):
            with attempt:
                return await self._asend(call, settings)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, call: ApiCall[M], settings: ConnectionSettings) -> M:
        import requests

        try:
            response = self._session.request(
                call.method,
                settings.base_url + call.path,
                params=call.params,
                json=call.body,
                timeout=settings.timeout,
            )
        except requests.exceptions.RequestException as err:
            raise RuntypeConnectionError(
                method=call.method,
                path=call.path,
                reason=f"{type(err).__name__}: {_redact(str(err), settings.api_key)}",
                sent=not _requests_never_sent(err),
            ) from None
        data = read_response(
            call.method, call.path, response.status_code, response.headers, response.content, settings.api_key
        )
        return self._parse(call, data)

    async def _asend(self, call: ApiCall[M], settings: ConnectionSettings) -> M:
        import httpx

        if self._async_client is None:
            self._async_client = httpx.AsyncClient(
                headers=self._headers(settings), timeout=settings.timeout, verify=_shared_ssl_context()
            )
        try:
            response = await self._async_client.request(
                call.method,
                settings.base_url + call.path,
                params={k: v for k, v in (call.params or {}).items() if v is not None},
                json=call.body,
            )
        except httpx.HTTPError as err:
            raise RuntypeConnectionError(
                method=call.method,
                path=call.path,
                reason=f"{type(err).__name__}: {_redact(str(err), settings.api_key)}",
                sent=not _httpx_never_sent(err),
            ) from None
        data = read_response(
            call.method, call.path, response.status_code, response.headers, response.content, settings.api_key
        )
        return self._parse(call, data)

    @staticmethod
    def _parse(call: ApiCall[M], data: Any) -> M:
        try:
            return call.parse(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise RuntypeResponseError(
                f"Runtype API {call.method} {call.path} returned an unexpected body: {where}: {first['msg']}",
                method=call.method,
                path=call.path,
            ) from None

    async def aclose(self) -> None:
        """Close the async client (triggers call this when they finish)."""
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    def close(self) -> None:
        if "_session" in self.__dict__:
            self._session.close()
            del self.__dict__["_session"]

    # ---- pagination helpers -------------------------------------------------------------------------

    @staticmethod
    def _iter_cursor(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = fetch(cursor)
            yield from page.data
            cursor = page.pagination.next_cursor
            if not page.pagination.has_more or not cursor or not page.data:
                return
            if cursor in seen:
                raise RuntypeResponseError(
                    f"Runtype API returned the cursor {cursor!r} twice; stopping to avoid a loop",
                    method="GET",
                    path="(paginated list)",
                )
            seen.add(cursor)

    @staticmethod
    def _iter_offset(fetch: Callable[[int], RecordResultPage], path: str) -> Iterator[RecordResult]:
        offset = 0
        while True:
            page = fetch(offset)
            if page.pagination.offset != offset:
                raise RuntypeResponseError(
                    f"Runtype API GET {path} ignored offset={offset} (answered offset={page.pagination.offset})",
                    method="GET",
                    path=path,
                )
            yield from page.data
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)

    # ---- global schedules ---------------------------------------------------------------------------

    def list_schedules_page(
        self,
        *,
        cursor: str | None = None,
        page_size: int = 50,
        search: str | None = None,
        status: str | None = None,
        view: str | None = None,
    ) -> SchedulePage:
        """One page of ``GET /v1/schedules``."""
        params = {
            "limit": str(_check_page_size(page_size)),
            "cursor": cursor,
            "search": search,
            "status": _check_choice(status, "status", ("active", "paused")),
            "view": _check_choice(view, "view", ("full", "compact")),
        }
        return self.run(ApiCall("GET", "/v1/schedules", model_parser(SchedulePage), params=params))

    def list_schedules(
        self,
        *,
        page_size: int = 50,
        search: str | None = None,
        status: str | None = None,
        view: str | None = None,
    ) -> Iterator[Schedule]:
        """Every schedule matching the filters, fetched page by page as the iterator is consumed."""
        _check_page_size(page_size)
        _check_choice(status, "status", ("active", "paused"))
        _check_choice(view, "view", ("full", "compact"))
        return self._iter_cursor(
            lambda cursor: self.list_schedules_page(
                cursor=cursor, page_size=page_size, search=search, status=status, view=view
            )
        )

    def create_schedule(self, **spec: Any) -> ScheduleCreated:
        """``POST /v1/schedules``. Arguments: see :func:`runtype_provider.models.build_schedule_body`
        (``flow_id`` or ``agent_id``; ``cron`` or ``run_at``; ``record_type``, ``record_ids``, ``timezone``,
        ``execution_options``, ``name``, ``inputs``, ``messages``, ``record_filter``). Not retried unless
        the request provably never reached the server."""
        body = build_schedule_body(**spec)
        return self.run(ApiCall("POST", "/v1/schedules", model_parser(ScheduleCreated), body=body, idempotent=False))

    def get_schedule(self, schedule_id: str) -> Schedule:
        """``GET /v1/schedules/:id``."""
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}"
        return self.run(ApiCall("GET", path, model_parser(Schedule)))

    def update_schedule(self, schedule_id: str, **changes: Any) -> ScheduleUpdated:
        """``PUT /v1/schedules/:id``: a partial update with the same arguments as :meth:`create_schedule`."""
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}"
        body = build_schedule_body(partial=True, **changes)
        return self.run(ApiCall("PUT", path, model_parser(ScheduleUpdated), body=body))

    def delete_schedule(self, schedule_id: str) -> DeleteResult:
        """``DELETE /v1/schedules/:id`` (permanent)."""
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}"
        return self.run(ApiCall("DELETE", path, model_parser(DeleteResult)))

    def pause_schedule(self, schedule_id: str) -> ScheduleState:
        """``POST /v1/schedules/:id/pause``."""
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}/pause"
        return self.run(ApiCall("POST", path, model_parser(ScheduleState)))

    def resume_schedule(self, schedule_id: str) -> ScheduleState:
        """``POST /v1/schedules/:id/resume``."""
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}/resume"
        return self.run(ApiCall("POST", path, model_parser(ScheduleState)))

    def run_schedule_now(self, schedule_id: str) -> RunNowResult:
        """``POST /v1/schedules/:id/run-now``: start one run. Never retried into a second run."""
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}/run-now"
        return self.run(ApiCall("POST", path, model_parser(RunNowResult), idempotent=False))

    def _list_schedule_runs_call(self, schedule_id: str) -> ApiCall[list[ScheduleRun]]:
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}/runs"
        return ApiCall("GET", path, lambda data: ScheduleRunList.model_validate(data).data)

    def list_schedule_runs(self, schedule_id: str) -> list[ScheduleRun]:
        """``GET /v1/schedules/:id/runs``: the schedule's run history (unpaginated)."""
        return self.run(self._list_schedule_runs_call(schedule_id))

    async def list_schedule_runs_async(self, schedule_id: str) -> list[ScheduleRun]:
        return await self.arun(self._list_schedule_runs_call(schedule_id))

    def list_all_schedule_runs_page(
        self, *, cursor: str | None = None, page_size: int = 50, direction: str | None = None
    ) -> ScheduleRunPage:
        """One page of ``GET /v1/schedules/runs/all``."""
        params = {
            "limit": str(_check_page_size(page_size)),
            "cursor": cursor,
            "direction": _check_choice(direction, "direction", ("next", "prev")),
        }
        return self.run(ApiCall("GET", "/v1/schedules/runs/all", model_parser(ScheduleRunPage), params=params))

    def list_all_schedule_runs(self, *, page_size: int = 50) -> Iterator[ScheduleRun]:
        """Runs across every schedule, fetched page by page."""
        _check_page_size(page_size)
        return self._iter_cursor(lambda cursor: self.list_all_schedule_runs_page(cursor=cursor, page_size=page_size))

    def get_run_results_page(
        self, run_id: str, *, offset: int = 0, page_size: int = 50, status: str | None = None
    ) -> RecordResultPage:
        """One page of ``GET /v1/schedules/runs/:runId/results``."""
        path = f"/v1/schedules/runs/{segment(run_id, 'run_id')}/results"
        params = {"limit": str(_check_page_size(page_size)), "offset": str(offset), "status": status}
        return self.run(ApiCall("GET", path, model_parser(RecordResultPage), params=params))

    def get_run_results(self, run_id: str, *, page_size: int = 50, status: str | None = None) -> Iterator[RecordResult]:
        """Every per-record result of a run, fetched page by page (memory flat in the number of rows)."""
        path = f"/v1/schedules/runs/{segment(run_id, 'run_id')}/results"
        _check_page_size(page_size)
        return self._iter_offset(
            lambda offset: self.get_run_results_page(run_id, offset=offset, page_size=page_size, status=status),
            path,
        )

    def get_batch_results_page(
        self, batch_id: str, *, offset: int = 0, page_size: int = 50, status: str | None = None
    ) -> RecordResultPage:
        """One page of ``GET /v1/schedules/batch/:batchId/results``."""
        path = f"/v1/schedules/batch/{segment(batch_id, 'batch_id')}/results"
        params = {"limit": str(_check_page_size(page_size)), "offset": str(offset), "status": status}
        return self.run(ApiCall("GET", path, model_parser(RecordResultPage), params=params))

    def get_batch_results(
        self, batch_id: str, *, page_size: int = 50, status: str | None = None
    ) -> Iterator[RecordResult]:
        """Every per-record result of a batch execution, fetched page by page."""
        path = f"/v1/schedules/batch/{segment(batch_id, 'batch_id')}/results"
        _check_page_size(page_size)
        return self._iter_offset(
            lambda offset: self.get_batch_results_page(batch_id, offset=offset, page_size=page_size, status=status),
            path,
        )

    def get_schedule_sparklines(self, schedule_ids: list[str]) -> list[ScheduleSparkline]:
        """``GET /v1/schedules/sparklines``: 7-day run counts for up to 100 schedules."""
        if isinstance(schedule_ids, str) or not schedule_ids or len(schedule_ids) > 100:
            raise RuntypeConfigurationError("'schedule_ids' must be a list of 1 to 100 schedule ids")
        ids = ",".join(segment(s, "schedule_ids") for s in schedule_ids)
        return self.run(
            ApiCall(
                "GET",
                "/v1/schedules/sparklines",
                lambda data: SparklineList.model_validate(data).data,
                params={"ids": ids},
            )
        )

    def get_schedule_stats(self, schedule_id: str) -> ScheduleStats:
        """``GET /v1/schedules/:id/stats``."""
        path = f"/v1/schedules/{segment(schedule_id, 'schedule_id')}/stats"
        return self.run(ApiCall("GET", path, model_parser(ScheduleStats)))

    # ---- product-surface schedules --------------------------------------------------------------------

    @staticmethod
    def _surface_path(product_id: str, surface_id: str, schedule_id: str | None = None, action: str = "") -> str:
        path = (
            f"/v1/products/{segment(product_id, 'product_id')}/surfaces/{segment(surface_id, 'surface_id')}/schedules"
        )
        if schedule_id is not None:
            path += f"/{segment(schedule_id, 'schedule_id')}"
        return path + (f"/{action}" if action else "")

    def list_surface_schedules(self, product_id: str, surface_id: str) -> list[SurfaceSchedule]:
        """``GET /v1/products/:id/surfaces/:surfaceId/schedules`` (unpaginated)."""
        return self.run(
            ApiCall(
                "GET",
                self._surface_path(product_id, surface_id),
                lambda data: SurfaceScheduleList.model_validate(data).data,
            )
        )

    def create_surface_schedule(self, product_id: str, surface_id: str, **spec: Any) -> SurfaceSchedule:
        """``POST …/schedules``. Arguments: see :func:`runtype_provider.models.build_surface_schedule_body`."""
        body = build_surface_schedule_body(**spec)
        return self.run(
            ApiCall(
                "POST",
                self._surface_path(product_id, surface_id),
                model_parser(SurfaceSchedule),
                body=body,
                idempotent=False,
            )
        )

    def get_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> SurfaceSchedule:
        """``GET …/schedules/:scheduleId`` (with ``flow_name`` and ``recent_runs``)."""
        return self.run(
            ApiCall("GET", self._surface_path(product_id, surface_id, schedule_id), model_parser(SurfaceSchedule))
        )

    def update_surface_schedule(
        self, product_id: str, surface_id: str, schedule_id: str, **changes: Any
    ) -> SurfaceSchedule:
        """``PUT …/schedules/:scheduleId``: partial update with the create arguments."""
        body = build_surface_schedule_body(partial=True, **changes)
        return self.run(
            ApiCall(
                "PUT",
                self._surface_path(product_id, surface_id, schedule_id),
                model_parser(SurfaceSchedule),
                body=body,
            )
        )

    def delete_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> DeleteResult:
        """``DELETE …/schedules/:scheduleId``."""
        return self.run(
            ApiCall("DELETE", self._surface_path(product_id, surface_id, schedule_id), model_parser(DeleteResult))
        )

    def pause_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> ScheduleState:
        """``POST …/schedules/:scheduleId/pause``."""
        return self.run(
            ApiCall(
                "POST",
                self._surface_path(product_id, surface_id, schedule_id, "pause"),
                model_parser(ScheduleState),
            )
        )

    def resume_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> ScheduleState:
        """``POST …/schedules/:scheduleId/resume``."""
        return self.run(
            ApiCall(
                "POST",
                self._surface_path(product_id, surface_id, schedule_id, "resume"),
                model_parser(ScheduleState),
            )
        )

    def run_surface_schedule_now(self, product_id: str, surface_id: str, schedule_id: str) -> SurfaceRunNowResult:
        """``POST …/schedules/:scheduleId/run-now``: start one batch. Never retried into a second run."""
        return self.run(
            ApiCall(
                "POST",
                self._surface_path(product_id, surface_id, schedule_id, "run-now"),
                model_parser(SurfaceRunNowResult),
                body={},
                idempotent=False,
            )
        )

    # ---- batch executions -----------------------------------------------------------------------------

    @staticmethod
    def _batch_status_call(batch_id: str) -> ApiCall[BatchStatus]:
        return ApiCall("GET", f"/v1/batch/status/{segment(batch_id, 'batch_id')}", model_parser(BatchStatus))

    @staticmethod
    def _cancel_batch_call(batch_id: str) -> ApiCall[BatchCancelResult]:
        return ApiCall("POST", f"/v1/batch/cancel/{segment(batch_id, 'batch_id')}", model_parser(BatchCancelResult))

    def get_batch_status(self, batch_id: str) -> BatchStatus:
        """``GET /v1/batch/status/:id``: status and record counts of a batch execution."""
        return self.run(self._batch_status_call(batch_id))

    async def get_batch_status_async(self, batch_id: str) -> BatchStatus:
        return await self.arun(self._batch_status_call(batch_id))

    def cancel_batch(self, batch_id: str) -> BatchCancelResult:
        """``POST /v1/batch/cancel/:id``: cancel a queued or running batch execution."""
        return self.run(self._cancel_batch_call(batch_id))

    async def cancel_batch_async(self, batch_id: str) -> BatchCancelResult:
        return await self.arun(self._cancel_batch_call(batch_id))

    # ---- runs, as operators and triggers see them -----------------------------------------------------

    def get_run_progress(self, run: RunReference) -> RunProgress:
        """Status and counts of a run: batch status when the batch id is known, else the schedule's run list."""
        run.require_pollable()
        if run.batch_execution_id:
            return _progress(run, batch=self.get_batch_status(run.batch_execution_id))
        return _progress(run, runs=self.list_schedule_runs(run.schedule_id or ""))

    async def get_run_progress_async(self, run: RunReference) -> RunProgress:
        run.require_pollable()
        if run.batch_execution_id:
            return _progress(run, batch=await self.get_batch_status_async(run.batch_execution_id))
        return _progress(run, runs=await self.list_schedule_runs_async(run.schedule_id or ""))

    def iter_run_results(
        self, run: RunReference, *, page_size: int = 50, status: str | None = None
    ) -> Iterator[RecordResult]:
        """Per-record results of a run: by batch id when known (documented paging), else by run id."""
        if run.batch_execution_id:
            return self.get_batch_results(run.batch_execution_id, page_size=page_size, status=status)
        if run.run_id:
            return self.get_run_results(run.run_id, page_size=page_size, status=status)
        raise RuntypeConfigurationError("'run' needs 'batch_execution_id' or 'run_id' to fetch results")

    def find_active_run(self, schedule_id: str) -> ScheduleRun | None:
        """The newest queued or running run of a schedule, if any (to attach to instead of starting another)."""
        from runtype_provider.models import RunOutcome, classify_run_status

        active = [
            r for r in self.list_schedule_runs(schedule_id) if classify_run_status(r.status) is RunOutcome.RUNNING
        ]
        return max(active, key=lambda r: r.created_at or "", default=None)

    def run_url(self, run: RunReference) -> str:
        """Link to the run in the Runtype dashboard (base from the connection's ``dashboard_url``)."""
        return build_run_url(self.settings.dashboard_url, run)

    # ---- connection test --------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (``GET /v1/schedules?limit=1``), no retries; never raises."""
        try:
            settings = self.settings
            single = RetryPolicy(retry_limit=0)
            self._settings = ConnectionSettings(
                settings.base_url, settings.api_key, settings.timeout, single, settings.dashboard_url
            )
            try:
                self.list_schedules_page(page_size=1)
            finally:
                self._settings = settings
        except RuntypeApiError as err:
            if err.status_code in (401, 403):
                return False, (
                    f"Runtype rejected the API key (HTTP {err.status_code}"
                    f"{': ' + err.error if err.error else ''}). Check the key and its schedule permissions."
                )
            return False, str(err)
        except RuntypeError as err:
            return False, str(err)
        except Exception as err:
            return False, f"Runtype connection test failed: {type(err).__name__}"
        return True, f"Connected to Runtype at {settings.base_url}: the API key is valid."

    if not AIRFLOW_V_3_2_PLUS:  # Airflow < 3.2 reads the form from the hook; 3.2+ from get_provider_info.

        @classmethod
        def get_ui_field_behaviour(cls) -> dict[str, Any]:
            from runtype_provider.get_provider_info import UI_FIELD_BEHAVIOUR

            return {
                "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
                "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
                "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
            }

        @classmethod
        def get_connection_form_widgets(cls) -> dict[str, Any]:
            from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
            from flask_babel import lazy_gettext
            from wtforms import StringField

            from runtype_provider.get_provider_info import CONN_FIELDS

            return {
                name: StringField(
                    lazy_gettext(spec["label"]),
                    widget=BS3TextFieldWidget(),
                    description=spec["description"],
                    default=None if spec["schema"].get("default") is None else str(spec["schema"]["default"]),
                )
                for name, spec in CONN_FIELDS.items()
            }


def _progress(
    run: RunReference, *, batch: BatchStatus | None = None, runs: list[ScheduleRun] | None = None
) -> RunProgress:
    """Shared by the sync and async paths: turn a batch status or a run list into progress."""
    if batch is not None:
        progress = RunProgress.from_batch(batch)
        progress.run_id = run.run_id
        progress.batch_execution_id = progress.batch_execution_id or run.batch_execution_id
        return progress
    found = find_run(runs or [], run.run_id or "")
    if found is None:  # not visible yet: keep waiting
        return RunProgress(run_id=run.run_id, status=None)
    return RunProgress.from_run(found)


def build_run_url(dashboard_url: str, run: RunReference) -> str:
    """Dashboard link: the surface schedule for product-surface runs, else the schedule's run."""
    base = dashboard_url.rstrip("/")

    def q(value: str) -> str:
        return quote(value, safe="")

    if run.product_id and run.surface_id and run.schedule_id:
        return f"{base}/products/{q(run.product_id)}/surfaces/{q(run.surface_id)}/schedules/{q(run.schedule_id)}"
    if run.schedule_id:
        url = f"{base}/schedules/{q(run.schedule_id)}"
        return f"{url}/runs/{q(run.run_id)}" if run.run_id else url
    if run.batch_execution_id:
        return f"{base}/batches/{q(run.batch_execution_id)}"
    return base


__all__ = [
    "ApiCall",
    "ConnectionSettings",
    "RetryPolicy",
    "RuntypeHook",
    "build_run_url",
    "parse_retry_after",
    "read_response",
    "settings_from_connection",
]
