"""Sending requests to the Runtype API: one retry policy, one answer reader, a sync and an async executor.

* :class:`ApiRequest` is one request and how to parse its answer; :mod:`runtype_provider.endpoints` builds them.
* :class:`RetryPolicy` decides, for both executors, what is retried and how long to wait (``tenacity``):
  connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``), exponential backoff with jitter,
  bounded. Non-idempotent requests (run-now, create) are retried only when they provably never reached
  the server, or on 429 (the server refused them), so a retry never starts a second run. A server asking
  for a longer wait than :data:`MAX_RETRY_AFTER`, a TLS failure and a redirect end the call at once; an
  optional absolute deadline (``time.monotonic()``) bounds every sleep and attempt.
* :func:`~runtype_provider.answers.read_response` (:mod:`runtype_provider.answers`) turns status, headers
  and bytes into the decoded, redacted body or a typed error, for both executors.
* :class:`SyncTransport` (``requests``, one pooled session) and :class:`AsyncTransport` (``httpx``, for
  triggers; its clients are built by :mod:`runtype_provider.async_clients`, and lent per request when triggers
  share them) differ only in the I/O. Each attempt has a total time budget (connect plus the whole body) and
  each body a decompressed size cap (:mod:`runtype_provider.limits`); redirects are never followed.
* The API key only goes into the ``Authorization`` header; every decoded body (2xx included) and every
  error text from the server or the HTTP library is redacted (:mod:`runtype_provider.redaction`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError

from runtype_provider import __version__
from runtype_provider.answers import MAX_ERROR_TEXT, parse_retry_after, read_response, redirect_error
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeConfigurationError,
    RuntypeConnectionError,
    RuntypeDeadlineError,
    RuntypeRateLimitError,
    RuntypeResponseError,
    RuntypeServerError,
    RuntypeTimeoutError,
    RuntypeTlsError,
)
from runtype_provider.limits import ACCEPT_ENCODING, CHUNK_SIZE, AttemptTimer, BodyReader, watched_adapter
from runtype_provider.redaction import redact

if TYPE_CHECKING:
    import httpx
    import requests

    from runtype_provider.async_clients import ClientLender
    from runtype_provider.connection import ConnectionSettings

DEFAULT_RETRY_LIMIT = 3
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_RETRY_MAX_DELAY = 60.0
MAX_RETRY_AFTER = 300.0
"""Longest server-requested wait (``Retry-After``) honoured; a longer one ends the call at once."""

log = logging.getLogger(__name__)
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+
M = TypeVar("M")
__all__ = [
    "MAX_RETRY_AFTER",
    "ApiRequest",
    "AsyncTransport",
    "RetryPolicy",
    "SyncTransport",
    "parse_retry_after",
    "read_response",
    "redact",
]


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


def _error_of(state: Any) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


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
        hint = getattr(error, "retry_after", None)
        if (
            isinstance(error, (RuntypeRateLimitError, RuntypeServerError))
            and hint is not None
            and hint > MAX_RETRY_AFTER
        ):
            return False  # the server asks us to come back later than we are willing to wait
        if isinstance(error, RuntypeRateLimitError):
            return True  # the server refused the request: nothing was started, so even run-now may be retried
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

    def tenacity_kwargs(
        self,
        request: ApiRequest[Any],
        sleep: Callable[[float], Any],
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying``.

        ``deadline`` (a ``clock()`` value, by default ``time.monotonic()``) ends the retries: a sleep that
        would reach it is not taken and :class:`~runtype_provider.exceptions.RuntypeDeadlineError` is
        raised instead (naming the last failure).
        """
        import tenacity

        waits: dict[int, float] = {}  # computed once per attempt, whether tenacity asks stop or wait first
        stopped_by_deadline: list[bool] = []

        def upcoming(state: tenacity.RetryCallState) -> float:
            if state.attempt_number not in waits:
                waits[state.attempt_number] = self.wait_seconds(state.attempt_number, _error_of(state))
            return waits[state.attempt_number]

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number > self.retry_limit:
                return True
            if deadline is not None and clock() + upcoming(state) >= deadline:
                stopped_by_deadline.append(True)
                return True
            return False

        def give_up(state: tenacity.RetryCallState) -> Any:
            error = _error_of(state)
            if error is None:  # pragma: no cover - tenacity only stops after a failure here
                return state.outcome.result() if state.outcome else None
            if stopped_by_deadline:
                raise RuntypeDeadlineError(method=request.method, path=request.path, last_error=str(error)) from error
            raise error

        def before_sleep(state: tenacity.RetryCallState) -> None:
            log.warning(
                "%s; retry %d/%d in %.1f s",
                _error_of(state),
                state.attempt_number,
                self.retry_limit,
                state.next_action.sleep if state.next_action else 0.0,
            )

        return {
            "stop": stop,
            "wait": upcoming,
            "retry": tenacity.retry_if_exception(lambda e: self.should_retry(e, request.idempotent)),
            "sleep": sleep,
            "before_sleep": before_sleep,
            "retry_error_callback": give_up,
        }


def parse_answer(request: ApiRequest[M], data: Any) -> M:
    """The decoded body parsed into the request's model; a body of the wrong shape is a typed error."""
    try:
        return request.parse(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        message = f"returned an unexpected body: {where}: {first['msg']}"
    except RecursionError:
        message = "returned a body nested too deeply to read"
    raise RuntypeResponseError(
        f"Runtype API {request.method} {request.path} {message}", method=request.method, path=request.path
    )


def request_headers(api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
        "User-Agent": f"airflow-provider-runtype/{__version__}",
        "X-Runtype-Client": "airflow",
    }


# ---- classifying failures --------------------------------------------------------------------------------


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


def _tls_failure(error: BaseException) -> str | None:
    """The TLS error behind ``error`` (causes, contexts, urllib3 reasons and args searched), if any.

    An EOF during the handshake (a dropped connection) is not counted: it is a transient network error.
    """
    pending: list[Any] = [error]
    seen: set[int] = set()
    wrapped = False
    while pending and len(seen) < 32:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return None
        if isinstance(current, ssl.SSLError):
            return str(current)
        wrapped = wrapped or type(current).__name__ == "SSLError"  # requests' / urllib3's wrappers
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    return str(error) if wrapped else None


class _Transport:
    """What both executors share: settings, per-attempt budget and error mapping."""

    def __init__(self, settings: ConnectionSettings, sleep: Callable[[float], Any], clock: Callable[[], float]) -> None:
        self.settings = settings
        self.sleep = sleep
        self.clock = clock

    def _retrying(self, request: ApiRequest[Any], deadline: float | None) -> dict[str, Any]:
        if deadline is not None and self.clock() >= deadline:
            raise RuntypeDeadlineError(method=request.method, path=request.path)
        return self.settings.retry.tenacity_kwargs(request, self.sleep, deadline=deadline, clock=self.clock)

    def _budget(self, request: ApiRequest[Any], deadline: float | None) -> tuple[float, bool]:
        """Seconds this attempt may take (connect plus the whole body), and whether the deadline set it."""
        timeout = self.settings.timeout
        if deadline is None:
            return timeout, False
        left = deadline - self.clock()
        if left <= 0:
            raise RuntypeDeadlineError(method=request.method, path=request.path)
        return (left, True) if left < timeout else (timeout, False)

    def _url(self, request: ApiRequest[Any]) -> str:
        return self.settings.base_url + request.path

    def _reader(self, request: ApiRequest[Any], url: str, status: int, headers: Any) -> BodyReader:
        if 300 <= status < 400:  # refused before reading a byte of the body
            raise redirect_error(
                request.method, request.path, status, headers.get("Location"), url, self.settings.api_key
            )
        reader = BodyReader(
            method=request.method,
            path=request.path,
            limit=self.settings.max_response_bytes,
            content_encoding=headers.get("Content-Encoding"),
        )
        reader.check_length(headers.get("Content-Length"))
        return reader

    def _answer(self, request: ApiRequest[M], url: str, status: int, headers: Any, content: bytes) -> M:
        key = self.settings.api_key
        return parse_answer(
            request, read_response(request.method, request.path, status, headers, content, key, url=url)
        )

    def _failure(self, request: ApiRequest[Any], error: Exception, sent: bool) -> Exception:
        key = self.settings.api_key
        tls = _tls_failure(error)
        if tls is not None:
            from runtype_provider.connection import is_loopback

            parts = urlsplit(self.settings.base_url)
            host = parts.netloc
            hint = "check the host name, the server's certificate and the trusted CA bundle"
            if parts.scheme == "https" and is_loopback(parts.hostname or ""):
                hint += f"; for a local server without TLS write http://{host} as the host"
            return RuntypeTlsError(
                method=request.method, path=request.path, host=host, reason=redact(tls, key)[:500], hint=hint
            )
        return RuntypeConnectionError(
            method=request.method,
            path=request.path,
            reason=f"{type(error).__name__}: {redact(str(error), key)[:MAX_ERROR_TEXT]}",
            sent=sent,
        )

    def _unsendable(self, request: ApiRequest[Any], error: Exception) -> RuntypeConfigurationError:
        """A request the HTTP library refused to build (e.g. a header value it cannot encode)."""
        text = redact(str(error), self.settings.api_key)[:MAX_ERROR_TEXT]
        return RuntypeConfigurationError(
            f"Runtype API {request.method} {request.path} could not be sent: {type(error).__name__}: {text}"
        )


class SyncTransport(_Transport):
    """Sends requests with ``requests`` (one pooled session), retrying by the connection's policy."""

    def __init__(
        self,
        settings: ConnectionSettings,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, sleep, clock)
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            session = requests.Session()
            session.headers.update(request_headers(self.settings.api_key))
            adapter = watched_adapter()
            session.mount("https://", adapter())
            session.mount("http://", adapter())
            self._session = session
        return self._session

    def send(self, request: ApiRequest[M], *, deadline: float | None = None) -> M:
        """Send ``request`` with retries and return its parsed answer; ``deadline`` bounds it (monotonic)."""
        import tenacity

        for attempt in tenacity.Retrying(**self._retrying(request, deadline)):
            with attempt:
                return self._send_once(request, deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, request: ApiRequest[M], deadline: float | None) -> M:
        import requests
        from urllib3.exceptions import HTTPError as Urllib3Error

        budget, by_deadline = self._budget(request, deadline)
        url = self._url(request)
        timed_out = RuntypeTimeoutError(
            method=request.method, path=request.path, timeout=budget, by_deadline=by_deadline
        )
        with AttemptTimer(budget) as timer:
            try:
                response = self.session.request(
                    request.method,
                    url,
                    params=request.query,
                    json=request.body,
                    timeout=budget,
                    stream=True,
                    allow_redirects=False,
                )
            except ValueError as err:  # requests' InvalidHeader / InvalidURL, or a header http.client cannot encode
                raise self._unsendable(request, err) from None
            except requests.exceptions.RequestException as err:
                failure = timed_out if timer.expired else self._failure(request, err, not _requests_never_sent(err))
                raise failure from None
            try:
                reader = self._reader(request, url, response.status_code, response.headers)
                for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
                    reader.feed(chunk)
                    if timer.expired:
                        raise timed_out
                content = reader.finish()
                if timer.fired:  # the shutdown may end a head or body early without an error: never use it
                    raise timed_out
            except (requests.exceptions.RequestException, Urllib3Error, OSError) as err:
                raise (timed_out if timer.expired else self._failure(request, err, True)) from None
            finally:
                response.close()
        return self._answer(request, url, response.status_code, response.headers, content)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class AsyncTransport(_Transport):
    """Async twin of :class:`SyncTransport` (``httpx``), with the same retry policy, limits and error mapping.

    It creates its own client on first use, or borrows one from ``clients`` for each attempt (triggers sharing
    clients per event loop and connection: :class:`runtype_provider.async_clients.ClientLanes`).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        sleep: Callable[[float], Any],
        clock: Callable[[], float] = time.monotonic,
        *,
        clients: ClientLender | None = None,
    ) -> None:
        super().__init__(settings, sleep, clock)
        self._client: httpx.AsyncClient | None = None
        self._clients = clients

    async def send(self, request: ApiRequest[M], *, deadline: float | None = None) -> M:
        import tenacity

        async for attempt in tenacity.AsyncRetrying(**self._retrying(request, deadline)):
            with attempt:
                return await self._send_once(request, deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    def _client_for(self, request: ApiRequest[Any]) -> httpx.AsyncClient:
        from runtype_provider.async_clients import new_async_client

        if self._client is None:
            try:
                self._client = new_async_client(self.settings)
            except ValueError as err:
                raise self._unsendable(request, err) from None
        return self._client

    async def _send_once(self, request: ApiRequest[M], deadline: float | None) -> M:
        if self._clients is None:
            return await self._attempt(self._client_for(request), request, deadline)
        client = await self._clients.acquire()
        try:
            return await self._attempt(client, request, deadline)
        finally:
            self._clients.release(client)

    async def _attempt(self, client: httpx.AsyncClient, request: ApiRequest[M], deadline: float | None) -> M:
        budget, by_deadline = self._budget(request, deadline)
        try:
            if _timeout is None:  # pragma: no cover - Python 3.10
                return await asyncio.wait_for(self._exchange(client, request, budget), budget)
            async with _timeout(budget):  # no extra task per attempt, unlike wait_for before Python 3.12
                return await self._exchange(client, request, budget)
        except asyncio.TimeoutError:
            raise RuntypeTimeoutError(
                method=request.method, path=request.path, timeout=budget, by_deadline=by_deadline
            ) from None

    async def _exchange(self, client: httpx.AsyncClient, request: ApiRequest[M], budget: float) -> M:
        import httpx

        url = self._url(request)
        try:
            built = client.build_request(
                request.method, url, params=request.query or None, json=request.body, timeout=budget
            )
            response = await client.send(built, stream=True, follow_redirects=False)
        except httpx.HTTPError as err:
            raise self._failure(request, err, not _httpx_never_sent(err)) from None
        except ValueError as err:
            raise self._unsendable(request, err) from None
        try:
            reader = self._reader(request, url, response.status_code, response.headers)
            async for chunk in response.aiter_raw(CHUNK_SIZE):
                reader.feed(chunk)
            content = reader.finish()
        except httpx.HTTPError as err:
            raise self._failure(request, err, True) from None
        finally:
            await response.aclose()
        return self._answer(request, url, response.status_code, response.headers, content)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
