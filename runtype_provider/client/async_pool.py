"""Async HTTP clients for the Runtype API: how one is built, and :class:`ClientLanes`, the capped set of one-socket
clients that triggers in one event loop borrow per request (:mod:`runtype_provider.client.shared`).

Every client gets the API key header, one process-wide TLS context, no redirects and no cookie jar. The lanes lend
:class:`~runtype_provider.client.http11.Http11Client` clients where :func:`~runtype_provider.client.http11.usable_for`
allows (no proxy, httpx not patched), else httpx clients.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from runtype_provider.client.http11 import Http11Client, usable_for
from runtype_provider.client.request import request_headers
from runtype_provider.exceptions import RuntypeConfigurationError

if TYPE_CHECKING:
    import httpx

    from runtype_provider.client.settings import ConnectionSettings


class ClientLender(Protocol):
    """Lends an async client for one attempt (the lender owns and closes its clients)."""

    async def acquire(self) -> httpx.AsyncClient | Http11Client: ...

    def release(self, client: httpx.AsyncClient | Http11Client) -> None: ...


DEFAULT_MAX_CONNECTIONS = 100
"""Sockets an async client of its own (not lent by :class:`ClientLanes`) holds at most: httpx's own default, which
its ``Limits()`` without arguments does not apply (no limit)."""


def new_async_client(settings: ConnectionSettings, *, max_connections: int | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``settings`` (key header, shared TLS context, no redirects, no cookies), holding
    at most ``max_connections`` sockets (default :data:`DEFAULT_MAX_CONNECTIONS`); clients shared by many triggers
    pass their own cap.

    The API authenticates by header and sets no cookies; not keeping them saves httpx's per-answer cookie-jar work
    (about a tenth of a request's CPU)."""
    import httpx

    limits = httpx.Limits(max_connections=max_connections or DEFAULT_MAX_CONNECTIONS)
    return _cookieless_client_class()(
        headers=request_headers(settings.api_key),
        timeout=settings.timeout,
        verify=_shared_ssl_context(),
        follow_redirects=False,
        limits=limits,
    )


@lru_cache(maxsize=1)
def _cookieless_client_class() -> type[httpx.AsyncClient]:
    import httpx

    class NoCookies(httpx.Cookies):
        def extract_cookies(self, response: httpx.Response) -> None:
            """Keep no cookie from an answer."""

    no_cookies = NoCookies()

    class CookielessAsyncClient(httpx.AsyncClient):
        @property
        def cookies(self) -> httpx.Cookies:
            return no_cookies

        @cookies.setter
        def cookies(self, cookies: Any) -> None:
            """Cookies are not kept."""

    return CookielessAsyncClient


@lru_cache(maxsize=1)
def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every async client in the process.

    Building one loads the CA bundle (about 25 ms of blocking work); when every trigger built its own client,
    200 triggers starting together stalled the event loop for about 5 s before this.
    """
    import httpx

    return httpx.create_ssl_context()


class ClientLanes:
    """Up to ``size`` clients of one socket each, lent for one request at a time (the most recently returned first,
    so a light load keeps few sockets busy); a borrower past ``size`` waits for one to come back.

    One socket per client because httpx's pool looks at every one of its connections on each request: one client
    of 32 sockets cost about ten times the CPU per request of a client of one. ``lean`` (decided once, when the
    lanes are built): lend :class:`~runtype_provider.client.http11.Http11Client` clients, which cost about half the CPU
    per request of httpx's.
    """

    def __init__(self, conn_id: str, settings: Any, size: int) -> None:
        self.conn_id, self.settings, self.size = conn_id, settings, size
        self.lean = usable_for(settings.base_url)
        self.clients: list[httpx.AsyncClient | Http11Client] = []
        self._idle: list[httpx.AsyncClient | Http11Client] = []
        self._waiting: deque[asyncio.Future[httpx.AsyncClient | Http11Client]] = deque()

    def _new_client(self) -> httpx.AsyncClient | Http11Client:
        try:
            if self.lean:
                return Http11Client(
                    self.settings.base_url, request_headers(self.settings.api_key), _shared_ssl_context()
                )
            return new_async_client(self.settings, max_connections=1)
        except ValueError as err:
            raise RuntypeConfigurationError(
                f"Runtype connection {self.conn_id!r}: cannot build an HTTP client: {type(err).__name__}"
            ) from None

    async def acquire(self) -> httpx.AsyncClient | Http11Client:
        if self._idle:
            return self._idle.pop()
        if len(self.clients) < self.size:
            client = self._new_client()
            self.clients.append(client)
            return client
        turn: asyncio.Future[httpx.AsyncClient | Http11Client] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            return await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release(turn.result())  # handed over just as this borrower was cancelled: pass it on
            raise

    def release(self, client: httpx.AsyncClient | Http11Client) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(client)
                return
        self._idle.append(client)

    async def aclose(self) -> None:
        clients, self.clients, self._idle = self.clients, [], []
        for client in clients:
            await client.aclose()
