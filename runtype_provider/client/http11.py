"""A lean HTTP/1.1 keep-alive client for the GETs deferred waits share: one socket, one request at a time.

Why it exists: a shared wait's poll is a small GET, and httpx spent about half of the triggerer's CPU per request
in its layers (client, httpcore pool, h11, anyio). This client writes the request head in one ``write`` and parses
the answer in an :class:`asyncio.Protocol` as it arrives; everything else (budget, limits, decoding, errors,
retries) stays in :mod:`~runtype_provider.client.transport`, the same as for httpx.

:func:`usable_for` decides when it may be used: ``http``/``https`` base URLs with no proxy in the environment
(httpx honours proxies; this client does not speak to them) and httpx not patched by a test double (``respx``
must see every request). Otherwise the lanes lend httpx clients as before.

What it accepts from a server, and the bounds (an answer outside them fails the attempt with
:class:`HttpProtocolError`, which the transport reports as a connection error after sending):

* a status line ``HTTP/1.x NNN reason``; interim ``1xx`` answers are skipped (at most :data:`MAX_INTERIM`);
* a head of at most :data:`MAX_HEAD_BYTES` and :data:`MAX_HEADERS` header lines;
* a body framed by ``Transfer-Encoding: chunked`` (no other transfer coding; chunk-size lines of at most
  :data:`MAX_LINE_BYTES`, trailers within the head bound), else ``Content-Length`` (digits only; two different
  values are refused), else read to the end of the connection; ``204`` and ``304`` have none.

A connection is reused only after an answer read to its end that neither side asked to close. A reused connection
that closes before any byte of the answer (the server dropped it while idle) is reopened once for the request.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit
from urllib.request import getproxies

MAX_HEAD_BYTES = 64 * 1024
"""Bytes of a status line plus headers (and of a chunked body's trailers)."""
MAX_HEADERS = 100
MAX_LINE_BYTES = 1024
"""Bytes of a chunk-size line."""
MAX_INTERIM = 8
"""Interim (1xx) answers skipped before the final one."""

Feed = Callable[[bytes], None]
OnHead = Callable[[int, "Headers"], Feed]
"""Told the final answer's status and headers; returns what the body's raw bytes are fed to (it may raise)."""


class HttpProtocolError(Exception):
    """The server's answer is not HTTP/1.1 this client reads (named, without the answer's bytes)."""


class ConnectFailedError(ConnectionError):
    """The connection (TCP or TLS) could not be opened: the request was not sent."""


class StaleConnectionError(ConnectionError):
    """A reused connection closed before any byte of the answer."""


class Headers:
    """An answer's headers, read case-insensitively; a repeated header's values are joined with ``", "``."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


def parse_head(head: bytes) -> tuple[int, Headers, bool]:
    """Status, headers and whether the server speaks HTTP/1.0, from the bytes before the blank line."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise HttpProtocolError("the answer does not start with an HTTP/1.1 status line")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpProtocolError(f"the answer has more than {MAX_HEADERS} headers")
    items: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name or b"\t" in name:
            raise HttpProtocolError("the answer has a malformed header line")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")
        items[key] = f"{items[key]}, {text}" if key in items else text
    return int(parts[1]), Headers(items), parts[0] == b"HTTP/1.0"


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise HttpProtocolError("the answer's Content-Length is not one number")
    return int(values.pop())


def _wants_close(headers: Headers) -> bool:
    return "close" in {t.strip().lower() for t in (headers.get("connection") or "").split(",")}


class _Exchange(asyncio.Protocol):
    """One socket's protocol: parses the answer to the request in flight and resolves ``waiter`` with
    ``(status, headers)`` once its body has been fed to the end."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.closed = False
        self.waiter: asyncio.Future[tuple[int, Headers]] | None = None
        self._buffer = bytearray()
        self._on_head: OnHead | None = None
        self._received = False
        self._stale_ok = False
        self._reset()

    def _reset(self) -> None:
        self._state = "head"
        self._interim = 0
        self._status = 0
        self._headers = Headers({})
        self._feed: Feed | None = None
        self._left = 0
        self._close_after = False

    # ---- asyncio.Protocol ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self._fail(HttpProtocolError("the server sent bytes while no request was in flight"))
            return
        self._received = True
        self._buffer += data
        try:
            self._parse()
        except BaseException as err:  # a parse error, or what the head or body callback raised
            self._fail(err)

    def eof_received(self) -> bool:
        if self._state == "until-close" and self.waiter is not None and not self.waiter.done():
            self._state = "done"
            self._close_after = True
            self._finish()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            if not self._received and self._stale_ok:
                self.waiter.set_exception(StaleConnectionError("the connection closed before the answer"))
            else:
                reason = f": {exc}" if exc else ""
                self.waiter.set_exception(ConnectionError(f"the server closed the connection mid-answer{reason}"))

    # ---- one exchange ----------------------------------------------------------------------------------------
    async def exchange(self, head: bytes, on_head: OnHead, *, reused: bool) -> tuple[int, Headers]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self._on_head, self._stale_ok, self._received = on_head, reused, False
        self.reusable = False
        self.transport.write(head)
        try:
            return await self.waiter
        except BaseException:
            self.close()  # cancelled (the attempt's budget) or failed mid-answer: the socket's state is unknown
            raise
        finally:
            self.waiter = None

    def close(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, err: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(err)
        self.close()

    def _finish(self) -> None:
        waiter = self.waiter
        assert waiter is not None
        self.reusable = not self._close_after and not self._buffer and not self.closed
        result = (self._status, self._headers)
        self._reset()
        if not waiter.done():
            waiter.set_result(result)
        if not self.reusable:
            self.close()

    def _parse(self) -> None:
        while self._state != "done":
            state = self._state
            if state == "head":
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEAD_BYTES:
                        raise HttpProtocolError(f"the answer's head is over {MAX_HEAD_BYTES} bytes")
                    return
                if end > MAX_HEAD_BYTES:
                    raise HttpProtocolError(f"the answer's head is over {MAX_HEAD_BYTES} bytes")
                head = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                self._start_body(head)
            elif state in ("length", "chunk-data"):
                if not self._take_body():
                    return
                self._state = "done" if state == "length" else "chunk-end"
            elif state == "chunk-size":
                end = self._buffer.find(b"\r\n")
                if end < 0 or end > MAX_LINE_BYTES:
                    if end > MAX_LINE_BYTES or len(self._buffer) > MAX_LINE_BYTES:
                        raise HttpProtocolError(f"a chunk-size line is over {MAX_LINE_BYTES} bytes")
                    return
                size = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
                del self._buffer[: end + 2]
                if not size or any(c not in b"0123456789abcdefABCDEF" for c in size) or len(size) > 16:
                    raise HttpProtocolError("a chunk size is not a hexadecimal number")
                self._left = int(size, 16)
                self._state = "chunk-data" if self._left else "trailers"
            elif state == "chunk-end":
                if len(self._buffer) < 2:
                    return
                if self._buffer[:2] != b"\r\n":
                    raise HttpProtocolError("a chunk does not end with CRLF")
                del self._buffer[:2]
                self._state = "chunk-size"
            elif state == "trailers":
                if self._buffer[:2] == b"\r\n":
                    del self._buffer[:2]
                    self._state = "done"
                    continue
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEAD_BYTES:
                        raise HttpProtocolError(f"the answer's trailers are over {MAX_HEAD_BYTES} bytes")
                    return
                del self._buffer[: end + 4]
                self._state = "done"
            else:  # until-close
                if self._buffer:
                    self._give(bytes(self._buffer))
                    self._buffer.clear()
                return
        self._finish()

    def _start_body(self, head: bytes) -> None:
        status, headers, http10 = parse_head(head)
        if 100 <= status < 200:
            if status == 101:
                raise HttpProtocolError("the server switched protocols (101)")
            self._interim += 1
            if self._interim > MAX_INTERIM:
                raise HttpProtocolError(f"the server sent more than {MAX_INTERIM} interim (1xx) answers")
            return  # still "head": the final answer follows
        self._status, self._headers = status, headers
        self._close_after = http10 or _wants_close(headers)
        assert self._on_head is not None
        self._feed = self._on_head(status, headers)
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            raise HttpProtocolError(f"the answer's Transfer-Encoding {coding[:40]!r} is not chunked")
        chunked = coding is not None
        length = None if chunked else _content_length(headers)
        if status in (204, 304):
            self._state = "done"
        elif chunked:
            self._state = "chunk-size"
        elif length is not None:
            self._left, self._state = length, ("length" if length else "done")
        else:
            self._state, self._close_after = "until-close", True

    def _take_body(self) -> bool:
        """Feed the buffered body bytes, up to the ``_left`` still due; True once all of them came."""
        take = min(self._left, len(self._buffer))
        if take:
            self._give(bytes(self._buffer[:take]))
            del self._buffer[:take]
            self._left -= take
        return not self._left

    def _give(self, raw: bytes) -> None:
        assert self._feed is not None
        self._feed(raw)


class Http11Client:
    """One keep-alive connection to ``base_url``'s host, opened on first use and reopened when closed; sends one
    request at a time (the lanes lend it to one borrower)."""

    def __init__(self, base_url: str, headers: dict[str, str], ssl_context: ssl.SSLContext | None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl_context if parts.scheme == "https" else None
        self.base_path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")
        """A base URL's path (e.g. behind a gateway), before every request's own path, percent-encoded as httpx does."""
        default_port = (parts.scheme == "https" and self.port == 443) or (parts.scheme == "http" and self.port == 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if default_port else f"{host}:{self.port}"
        lines = [f"Host: {authority}", *(f"{name}: {value}" for name, value in headers.items())]
        self._header_block = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._conn: _Exchange | None = None
        self._closed = False
        self.connections_opened = 0

    async def _open(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(
                _Exchange, self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None
            )
        except OSError as err:  # refused, unreachable, unresolvable, or the TLS handshake (ssl.SSLError)
            raise ConnectFailedError(f"{type(err).__name__}: {err}") from err
        self.connections_opened += 1
        self._conn = protocol
        return protocol

    async def request(self, method: str, target: str, on_head: OnHead) -> tuple[int, Headers]:
        """Send ``method target`` (an idempotent method without a body: a stale connection's request is sent again;
        ``target`` after the base URL's path) and read the answer: ``on_head`` gets the head and feeds the body."""
        head = f"{method} {self.base_path}{target} HTTP/1.1\r\n".encode("ascii") + self._header_block
        conn = self._conn
        reused = conn is not None and conn.reusable
        if not reused:
            if conn is not None:
                conn.close()
            conn = await self._open()
        assert conn is not None
        try:
            return await conn.exchange(head, on_head, reused=reused)
        except StaleConnectionError:
            conn = await self._open()
            return await conn.exchange(head, on_head, reused=False)

    @property
    def is_closed(self) -> bool:
        """Closed by :meth:`aclose` (as httpx's clients say)."""
        return self._closed

    async def aclose(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def usable_for(base_url: str) -> bool:
    """Whether :class:`Http11Client` may send to ``base_url``: http(s), no proxy in the environment for its scheme,
    and httpx's transport not patched by a test double (read at each call; the environment once per lanes)."""
    scheme = urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        return False
    proxies = getproxies()
    if proxies.get(scheme) or proxies.get("all"):
        return False
    return not httpx_patched()


def httpx_patched() -> bool:
    """Whether a test double (``respx``) replaced httpx's or httpcore's request handling."""
    import httpcore
    import httpx

    handlers = (httpx.AsyncHTTPTransport.handle_async_request, httpcore.AsyncConnectionPool.handle_async_request)
    return any(not getattr(h, "__module__", "").startswith(("httpx.", "httpcore.")) for h in handlers)
