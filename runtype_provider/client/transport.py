"""Sending requests to the Runtype API: a sync and an async transport that differ only in the I/O.

* :class:`SyncTransport` (``requests``, one pooled session) and :class:`AsyncTransport` (``httpx``, for
  triggers; clients from :mod:`~runtype_provider.client.async_pool`, lent per request when triggers share them;
  a GET on a lent :class:`~runtype_provider.client.http11.Http11Client` goes through it instead)
  send an :class:`~runtype_provider.client.request.ApiRequest` with the connection's
  :class:`~runtype_provider.client.retry.RetryPolicy`.
* Each attempt has a total time budget (connect plus the whole body) and each body a decompressed size cap
  (:mod:`~runtype_provider.client.limits`); redirects are never followed; a TLS failure ends the call at once.
* :func:`~runtype_provider.client.decoding.read_response` turns status, headers and bytes into the decoded,
  redacted body or a typed error, for both transports. The API key only goes into the ``Authorization``
  header; every error text from the server or the HTTP library is redacted.
* The seam: :meth:`SyncTransport.send` takes ``read``, how a 2xx body's bytes become the answer (default: decode
  JSON and parse it with the request's model). The results reader passes its own (pages read straight from bytes).
* ``pooled`` (the results reader's transports): a GET without a body goes straight to the urllib3 pool that the
  session's adapter would use (same adapter, TLS settings, headers, timeouts and error mapping), skipping
  ``requests``' per-call work (merging settings, preparing the request, hooks, cookies): about a third of the
  client's CPU per results page on loopback. A proxied URL, a client certificate, a ``requests`` without
  ``get_connection_with_tls_context`` (before 2.32) or a patched ``Session.send`` (``requests-mock``) goes through
  the session as every other request does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

from runtype_provider.client.async_pool import ClientLender, new_async_client
from runtype_provider.client.decoding import MAX_ERROR_TEXT, read_response, redirect_error
from runtype_provider.client.failures import (
    as_requests_error,
    httpx_never_sent,
    lean_never_sent,
    requests_never_sent,
    tls_failure,
)
from runtype_provider.client.http11 import Headers, Http11Client, HttpProtocolError
from runtype_provider.client.limits import CHUNK_SIZE, AttemptTimer, BodyReader, watched_adapter
from runtype_provider.client.redaction import redact
from runtype_provider.client.request import ApiRequest, M, request_headers
from runtype_provider.client.settings import ConnectionSettings, is_loopback
from runtype_provider.exceptions import (
    RuntypeConfigurationError,
    RuntypeConnectionError,
    RuntypeDeadlineError,
    RuntypeRateLimitError,
    RuntypeTimeoutError,
    RuntypeTlsError,
)

if TYPE_CHECKING:
    import httpx
    import requests

log = logging.getLogger(__name__)
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

ReadBody = Callable[[bytes, "str | None", Callable[[], Any]], Any]
"""The transport's seam for reading a 2xx body: given its bytes, the API key (a reader that cannot rule out the
key in the text must fall back) and the normal reading (decode, redact, parse with the request's model)."""


class AttemptObserver(Protocol):
    """Told of each attempt a sync transport makes and of each 429 (the concurrent pager's throttle)."""

    def before_attempt(self, deadline: float | None) -> None: ...

    def rate_limited(self, retry_after: float | None) -> None: ...


class _Transport:
    """What both executors share: settings, per-attempt budget and error mapping."""

    def __init__(
        self,
        settings: ConnectionSettings,
        sleep: Callable[[float], Any],
        clock: Callable[[], float],
        read: ReadBody | None = None,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.read = read

    def _retrying(self, request: ApiRequest[Any], deadline: float | None) -> Callable[[], dict[str, Any]]:
        """Refuse a request past its deadline; else what builds the retry loop, only after a failed first attempt
        (replayed as the loop's first, so the one policy decides): most requests succeed at once, and the loop
        costs CPU and leaves about 30 objects in reference cycles per request for the garbage collector."""
        if deadline is not None and self.clock() >= deadline:
            raise RuntypeDeadlineError(method=request.method, path=request.path)
        return partial(self.settings.retry.tenacity_kwargs, request, self.sleep, deadline=deadline, clock=self.clock)

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

        def normal() -> M:
            return request.parse(read_response(request.method, request.path, status, headers, content, key, url=url))

        if self.read is not None and 200 <= status < 300:
            return cast(M, self.read(content, key, normal))
        return normal()

    def _failure(self, request: ApiRequest[Any], error: Exception, sent: bool) -> Exception:
        key = self.settings.api_key
        tls = tls_failure(error)
        if tls is not None:
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
    """Sends requests with ``requests`` (one pooled session), retrying by the connection's policy.

    ``read``: the 2xx seam (:data:`ReadBody`); ``session``: send through this session (another transport's) and
    leave it open on :meth:`close`; ``observer``: told of every attempt and 429; ``pooled``: GETs go to the
    session's urllib3 pool directly (see the module).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        *,
        read: ReadBody | None = None,
        session: requests.Session | None = None,
        observer: AttemptObserver | None = None,
        pooled: bool = False,
    ) -> None:
        super().__init__(settings, sleep, clock, read)
        self._session = session
        self._borrowed = session is not None
        self.observer = observer
        self.pooled = pooled
        self._pool: Any = None
        self._pool_headers: dict[str, str] = {}
        self._pool_retries: Any = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            session = requests.Session()
            session.headers.update(request_headers(self.settings.api_key))
            adapter = watched_adapter()
            session.mount("https://", adapter())
            session.mount("http://", adapter())
            # The environment (HTTPS_PROXY/NO_PROXY, REQUESTS_CA_BUNDLE, ...) is read once, for this session's one
            # host, instead of on every request (requests re-reads it per call: about 6% of a results page's CPU).
            found = session.merge_environment_settings(self.settings.base_url, {}, None, None, None)
            session.proxies.update(found["proxies"])
            session.verify = found["verify"]
            session.trust_env = False
            self._session = session
        return self._session

    def send(self, request: ApiRequest[M], *, deadline: float | None = None) -> M:
        """Send ``request`` with retries and return its parsed answer; ``deadline`` bounds it (monotonic)."""
        retrying = self._retrying(request, deadline)
        try:
            return self._send_once(request, deadline)
        except Exception as err:
            failed: list[Exception] = [err]
        import tenacity

        for attempt in tenacity.Retrying(**retrying()):
            with attempt:
                if failed:
                    raise failed.pop()  # the first attempt's failure, judged by the one retry policy
                return self._send_once(request, deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, request: ApiRequest[M], deadline: float | None) -> M:
        if self.observer is None:
            return self._exchange(request, deadline)
        self.observer.before_attempt(deadline)
        try:
            return self._exchange(request, deadline)
        except RuntypeRateLimitError as err:
            self.observer.rate_limited(err.retry_after)
            raise

    def _exchange(self, request: ApiRequest[M], deadline: float | None) -> M:
        import requests
        from urllib3.exceptions import HTTPError as Urllib3Error

        budget, by_deadline = self._budget(request, deadline)
        url = self._url(request)
        timed_out = RuntypeTimeoutError(
            method=request.method, path=request.path, timeout=budget, by_deadline=by_deadline
        )
        with AttemptTimer(budget) as timer:
            try:
                response = self._open(request, url, budget)
            except ValueError as err:  # requests' InvalidHeader / InvalidURL, or a header http.client cannot encode
                raise self._unsendable(request, err) from None
            except requests.exceptions.RequestException as err:
                failure = timed_out if timer.expired else self._failure(request, err, not requests_never_sent(err))
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

    def _open(self, request: ApiRequest[Any], url: str, budget: float) -> Any:
        """The answer's head, its body unread: through the session, or (``pooled`` GETs) its urllib3 pool."""
        direct = self.pooled and request.body is None and request.method == "GET" and _sends_itself(self.session)
        pool = self._pool_for(url) if direct else None
        if pool is None:
            return self.session.request(
                request.method,
                url,
                params=request.query,
                json=request.body,
                timeout=budget,
                stream=True,
                allow_redirects=False,
            )
        from urllib.parse import urlencode

        from urllib3.exceptions import HTTPError as Urllib3Error
        from urllib3.util import Timeout

        query = request.query
        target = request.path + ("?" + urlencode(query) if query else "")
        try:
            raw = pool.urlopen(
                "GET",
                target,
                headers=self._pool_headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=self._pool_retries,
                timeout=Timeout(connect=budget, read=budget),
            )
        except (Urllib3Error, OSError) as err:
            raise as_requests_error(err) from err
        return _PooledAnswer(raw)

    def _pool_for(self, url: str) -> Any:
        """The urllib3 pool the session's adapter would send ``url`` through; None when a proxy applies or the
        adapter cannot say (``requests`` before 2.32): the caller goes through the session then."""
        if self._pool is None:
            import requests
            from requests.adapters import HTTPAdapter
            from requests.utils import select_proxy

            session = self.session
            adapter = session.get_adapter(url)
            find = getattr(adapter, "get_connection_with_tls_context", None)
            proxied = select_proxy(url, session.proxies)
            if not isinstance(adapter, HTTPAdapter) or find is None or proxied or session.cert:
                self.pooled = False
                return None
            probe = requests.PreparedRequest()
            probe.prepare(method="GET", url=url, headers=session.headers)
            self._pool = find(probe, session.verify, session.proxies, session.cert)
            self._pool_headers = dict(probe.headers)
            self._pool_retries = adapter.max_retries
        return self._pool

    def close(self) -> None:
        if self._session is not None and not self._borrowed:
            self._session.close()
        self._session = None
        self._pool = None


def _sends_itself(session: Any) -> bool:
    """Whether ``session.send`` is ``requests``' own: a test double patching it (``requests-mock``) must see every
    request, so the pool is used only then."""
    return getattr(getattr(session.send, "__func__", None), "__module__", None) == "requests.sessions"


class _PooledAnswer:
    """A urllib3 answer with the three things :meth:`SyncTransport._exchange` reads of a ``requests`` response."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @property
    def status_code(self) -> int:
        return int(self.raw.status)

    @property
    def headers(self) -> Any:
        return self.raw.headers

    def close(self) -> None:
        self.raw.close()
        self.raw.release_conn()


class AsyncTransport(_Transport):
    """Async twin of :class:`SyncTransport` (``httpx``), with the same retry policy, limits and error mapping.

    It creates its own client on first use, or borrows one from ``clients`` for each attempt (triggers sharing
    clients per event loop and connection: :class:`runtype_provider.client.async_pool.ClientLanes`).
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
        retrying = self._retrying(request, deadline)
        try:
            return await self._send_once(request, deadline)
        except Exception as err:
            failed: list[Exception] = [err]
        import tenacity

        async for attempt in tenacity.AsyncRetrying(**retrying()):
            with attempt:
                if failed:
                    raise failed.pop()  # the first attempt's failure, judged by the one retry policy
                return await self._send_once(request, deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    def _client_for(self, request: ApiRequest[Any]) -> httpx.AsyncClient:
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

    async def _attempt(
        self, client: httpx.AsyncClient | Http11Client, request: ApiRequest[M], deadline: float | None
    ) -> M:
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

    async def _exchange(self, client: httpx.AsyncClient | Http11Client, request: ApiRequest[M], budget: float) -> M:
        import httpx

        url = self._url(request)
        if isinstance(client, Http11Client):
            if request.method == "GET" and request.body is None:
                return await self._exchange_lean(client, request, url)
            client = self._client_for(request)  # the lean client sends GETs only: this transport's own httpx
        try:
            built = client.build_request(
                request.method, url, params=request.query or None, json=request.body, timeout=budget
            )
            response = await client.send(built, stream=True, follow_redirects=False)
        except httpx.HTTPError as err:
            raise self._failure(request, err, not httpx_never_sent(err)) from None
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

    async def _exchange_lean(self, client: Http11Client, request: ApiRequest[M], url: str) -> M:
        readers: list[BodyReader] = []

        def on_head(status: int, headers: Headers) -> Callable[[bytes], None]:
            readers.append(self._reader(request, url, status, headers))
            return readers[0].feed

        try:
            status, headers = await client.request("GET", request.target, on_head)
        except (OSError, HttpProtocolError) as err:
            raise self._failure(request, err, not lean_never_sent(err)) from None
        return self._answer(request, url, status, headers, readers[0].finish())

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
