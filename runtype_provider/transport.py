"""Sending requests to the Runtype API: one retry policy, one answer reader, a sync and an async executor.

* :class:`ApiRequest` is one request and how to parse its answer; :mod:`runtype_provider.endpoints` builds them.
* :class:`RetryPolicy` decides, for both executors, what is retried and how long to wait (``tenacity``):
  connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``), exponential backoff with jitter,
  bounded. Non-idempotent requests (run-now, create) are retried only when they provably never reached
  the server, or on 429 (the server refused them), so a retry never starts a second run.
* :func:`read_response` turns status, headers and bytes into the decoded body or a typed error, for both.
* :class:`SyncTransport` (``requests``, one pooled session) and :class:`AsyncTransport` (``httpx``, for
  triggers) differ only in the I/O.
* The API key only goes into the ``Authorization`` header; error text from the server or the HTTP library
  is redacted in case it echoes the key.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import ValidationError

from runtype_provider import __version__
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeConnectionError,
    RuntypeRateLimitError,
    RuntypeResponseError,
    RuntypeServerError,
    api_error_class,
)

if TYPE_CHECKING:
    import httpx
    import requests

    from runtype_provider.connection import ConnectionSettings

DEFAULT_RETRY_LIMIT = 3
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_RETRY_MAX_DELAY = 60.0
MAX_RETRY_AFTER = 300.0

log = logging.getLogger(__name__)
M = TypeVar("M")


@dataclass(frozen=True)
class ApiRequest(Generic[M]):
    """One request to the API and how to read its answer; sent by either executor."""

    method: str
    path: str
    parse: Callable[[Any], M]
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    idempotent: bool = True

    @property
    def query(self) -> dict[str, Any]:
        """The query parameters that are set (None means "not sent")."""
        return {k: v for k, v in (self.params or {}).items() if v is not None}


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and how long to wait; shared by the sync and async executors.

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

    def tenacity_kwargs(self, request: ApiRequest[Any], sleep: Callable[[float], Any]) -> dict[str, Any]:
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
            "retry": tenacity.retry_if_exception(lambda e: self.should_retry(e, request.idempotent)),
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


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret and text else text


def _redact_json(value: Any, secret: str | None) -> Any:
    """Decoded JSON with the secret replaced in every string (keys included)."""
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {_redact_json(k, secret): _redact_json(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_json(v, secret) for v in value]
    return value


def read_response(method: str, path: str, status: int, headers: Any, content: bytes, secret: str | None = None) -> Any:
    """The JSON body of a 2xx answer, or the typed error for any other status."""
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
        error = redact(str(raw_error), secret) if raw_error else None
        raw_details = payload.get("details")
        if isinstance(raw_details, list):
            details = [
                {k: redact(str(v), secret) for k, v in d.items()} if isinstance(d, dict) else redact(str(d), secret)
                for d in raw_details
            ]
    elif content:
        # Redact before truncating, so a key cut at the boundary cannot leave a prefix behind.
        error = redact(content.decode("utf-8", "replace"), secret)[:200].strip() or None
    raise api_error_class(status)(
        method=method,
        path=path,
        status_code=status,
        error=error,
        details=details,
        body=payload if isinstance(payload, dict) else None,
        retry_after=parse_retry_after(headers) if status in (429, 503) else None,
    )


def parse_answer(request: ApiRequest[M], data: Any) -> M:
    """The decoded body parsed into the request's model; a body of the wrong shape is a typed error."""
    try:
        return request.parse(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise RuntypeResponseError(
            f"Runtype API {request.method} {request.path} returned an unexpected body: {where}: {first['msg']}",
            method=request.method,
            path=request.path,
        ) from None


def request_headers(api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": f"airflow-provider-runtype/{__version__}",
        "X-Runtype-Client": "airflow",
    }


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


def _connection_error(request: ApiRequest[Any], error: Exception, secret: str, sent: bool) -> RuntypeConnectionError:
    return RuntypeConnectionError(
        method=request.method,
        path=request.path,
        reason=f"{type(error).__name__}: {redact(str(error), secret)}",
        sent=sent,
    )


class SyncTransport:
    """Sends requests with ``requests`` (one pooled session), retrying by the connection's policy."""

    def __init__(self, settings: ConnectionSettings, sleep: Callable[[float], Any] = time.sleep) -> None:
        self.settings = settings
        self.sleep = sleep
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers.update(request_headers(self.settings.api_key))
        return self._session

    def send(self, request: ApiRequest[M]) -> M:
        """Send ``request`` with retries and return its parsed answer."""
        import tenacity

        for attempt in tenacity.Retrying(**self.settings.retry.tenacity_kwargs(request, self.sleep)):
            with attempt:
                return self._send_once(request)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, request: ApiRequest[M]) -> M:
        import requests

        settings = self.settings
        try:
            response = self.session.request(
                request.method,
                settings.base_url + request.path,
                params=request.query,
                json=request.body,
                timeout=settings.timeout,
            )
        except requests.exceptions.RequestException as err:
            raise _connection_error(request, err, settings.api_key, not _requests_never_sent(err)) from None
        data = read_response(
            request.method, request.path, response.status_code, response.headers, response.content, settings.api_key
        )
        return parse_answer(request, data)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class AsyncTransport:
    """Async twin of :class:`SyncTransport` (``httpx``), with the same retry policy and error mapping."""

    def __init__(self, settings: ConnectionSettings, sleep: Callable[[float], Any]) -> None:
        self.settings = settings
        self.sleep = sleep
        self._client: httpx.AsyncClient | None = None

    async def send(self, request: ApiRequest[M]) -> M:
        import tenacity

        async for attempt in tenacity.AsyncRetrying(**self.settings.retry.tenacity_kwargs(request, self.sleep)):
            with attempt:
                return await self._send_once(request)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, request: ApiRequest[M]) -> M:
        import httpx

        settings = self.settings
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers=request_headers(settings.api_key), timeout=settings.timeout, verify=_shared_ssl_context()
            )
        try:
            response = await self._client.request(
                request.method, settings.base_url + request.path, params=request.query, json=request.body
            )
        except httpx.HTTPError as err:
            raise _connection_error(request, err, settings.api_key, not _httpx_never_sent(err)) from None
        data = read_response(
            request.method, request.path, response.status_code, response.headers, response.content, settings.api_key
        )
        return parse_answer(request, data)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
