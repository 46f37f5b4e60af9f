"""runtype_provider.client.http11: the lean keep-alive client of shared GETs. Its parser is fed hostile and split
answers directly; the client talks to real loopback sockets (plain and TLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback_server import tls_context

from runtype_provider.client import http11
from runtype_provider.client.http11 import (
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    MAX_INTERIM,
    ConnectFailedError,
    Headers,
    Http11Client,
    HttpProtocolError,
    parse_head,
    usable_for,
)

PROPERTIES = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


class FakeSocket:
    """The transport side of one protocol: what was written, whether it was closed."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


def exchange(pieces: list[bytes], *, eof: bool = False) -> dict[str, Any]:
    """Feed ``pieces`` to a fresh protocol for one request: its outcome, the body fed, whether it closed."""

    async def main() -> dict[str, Any]:
        protocol = http11._Exchange()
        sock = FakeSocket()
        protocol.connection_made(sock)  # type: ignore[arg-type]
        body: list[bytes] = []
        heads: list[tuple[int, Headers]] = []

        def on_head(status: int, headers: Headers) -> Callable[[bytes], None]:
            heads.append((status, headers))
            return body.append

        task = asyncio.ensure_future(protocol.exchange(b"GET / HTTP/1.1\r\n\r\n", on_head, reused=False))
        await asyncio.sleep(0)
        for piece in pieces:
            protocol.data_received(piece)
        if eof:
            protocol.eof_received()
            protocol.connection_lost(None)
        await asyncio.sleep(0)
        outcome: Any = "pending"
        if task.done():
            outcome = task.exception() or task.result()
        else:
            task.cancel()
        return {
            "outcome": outcome,
            "body": b"".join(body),
            "closed": sock.closed,
            "reusable": protocol.reusable,
            "heads": heads,
        }

    return asyncio.run(main())


# ---- parsing what a server may send --------------------------------------------------------------------------------


def test_a_content_length_answer_is_read_and_the_connection_kept():
    got = exchange([OK])

    status, headers = got["outcome"]
    assert status == 200 and headers.get("content-type") == "application/json" and got["body"] == b"{}"
    assert got["reusable"] and not got["closed"]


def test_headers_are_read_case_insensitively_and_repeats_joined():
    status, headers, http10 = parse_head(b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nX-A: 1\r\nx-a: 2")

    assert (status, http10) == (429, False)
    assert headers.get("retry-after") == headers.get("RETRY-AFTER") == "3" and headers.get("X-A") == "1, 2"
    assert "Retry-After" in headers and "Location" not in headers and headers.get("Location", "-") == "-"


def test_a_chunked_answer_with_extensions_and_trailers_is_read_whole():
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'3;name=value\r\n{"a\r\n4\r\n": 1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n'
    )
    got = exchange([answer])

    assert got["outcome"][0] == 200 and got["body"] == b'{"a": 1}' and got["reusable"]


def test_an_answer_without_length_is_read_to_the_end_of_the_connection_and_not_reused():
    got = exchange([b'HTTP/1.1 200 OK\r\n\r\n{"a":', b" 1}"], eof=True)

    assert got["outcome"][0] == 200 and got["body"] == b'{"a": 1}' and not got["reusable"] and got["closed"]


@pytest.mark.parametrize("answer", [b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\n\r\n"])
def test_answers_without_a_body_end_at_their_head(answer):
    got = exchange([answer])

    assert got["outcome"][0] in (204, 304) and got["body"] == b"" and got["reusable"]


def test_interim_answers_are_skipped():
    got = exchange([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK])

    assert got["outcome"][0] == 200 and [status for status, _ in got["heads"]] == [200]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["http-1.0", "connection-close"],
)
def test_a_connection_the_server_closes_after_the_answer_is_not_reused(answer):
    got = exchange([answer])

    assert got["outcome"][0] == 200 and got["body"] == b"{}" and not got["reusable"] and got["closed"]


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "status line"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "hexadecimal"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000, "chunk-size line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX", "CRLF"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "is not chunked"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM + 1), "interim"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * MAX_HEAD_BYTES, "head is over"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", "more than"),
    ],
)
def test_a_hostile_answer_fails_naming_what_is_wrong_and_closes_the_connection(answer, named):
    got = exchange([answer])

    assert isinstance(got["outcome"], HttpProtocolError) and named in str(got["outcome"])
    assert got["closed"] and not got["reusable"]


def test_a_connection_closed_mid_answer_is_a_connection_error():
    got = exchange([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}"], eof=True)

    assert isinstance(got["outcome"], ConnectionError) and "mid-answer" in str(got["outcome"])


def test_what_the_head_callback_raises_fails_the_exchange_before_the_body_is_read():
    async def main() -> tuple[BaseException | None, bool]:
        protocol = http11._Exchange()
        sock = FakeSocket()
        protocol.connection_made(sock)  # type: ignore[arg-type]

        def refuse(status: int, headers: Headers) -> Callable[[bytes], None]:
            raise ValueError(f"refused {status}")

        task = asyncio.ensure_future(protocol.exchange(b"GET /", refuse, reused=False))
        await asyncio.sleep(0)
        protocol.data_received(b"HTTP/1.1 307 X\r\nLocation: /elsewhere\r\nContent-Length: 5\r\n\r\n")
        await asyncio.sleep(0)
        return task.exception(), sock.closed

    error, closed = asyncio.run(main())

    assert isinstance(error, ValueError) and str(error) == "refused 307" and closed


def test_bytes_while_no_request_is_in_flight_close_the_connection():
    async def main() -> tuple[bool, bool]:
        protocol = http11._Exchange()
        sock = FakeSocket()
        protocol.connection_made(sock)  # type: ignore[arg-type]
        protocol.data_received(OK)
        return sock.closed, protocol.reusable

    assert asyncio.run(main()) == (True, False)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if b > a]


@PROPERTIES
@given(
    body=st.binary(max_size=300),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    chunked=st.booleans(),
)
def test_an_answer_split_anywhere_reads_the_same(body, chunk_sizes, cuts, chunked):
    if chunked:
        framed, rest, i = b"", body, 0
        while rest:
            piece = rest[: chunk_sizes[i % len(chunk_sizes)]]
            framed += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            rest, i = rest[len(piece) :], i + 1
        answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"
    else:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body

    got = exchange(split(answer, cuts))

    assert got["outcome"][0] == 200 and got["body"] == body and got["reusable"]


@PROPERTIES
@given(noise=st.binary(max_size=400), cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=6))
def test_any_bytes_end_in_an_answer_a_protocol_error_or_a_wait_for_more(noise, cuts):
    got = exchange(split(b"HTTP/1.1 200 OK\r\n" + noise, cuts))

    outcome = got["outcome"]
    assert outcome == "pending" or isinstance(outcome, (tuple, HttpProtocolError))
    if isinstance(outcome, HttpProtocolError):
        assert got["closed"]


# ---- the client over real loopback sockets -------------------------------------------------------------------------


class ScriptedServer:
    """An asyncio server on 127.0.0.1 that answers each request head with the next answer of its connection's
    script (a list per connection; ``None`` closes the connection instead of answering)."""

    def __init__(self, scripts: list[list[bytes | None]], tls: ssl.SSLContext | None = None) -> None:
        self.scripts, self.tls = list(scripts), tls
        self.heads: list[bytes] = []
        self.connections = 0

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        script = self.scripts.pop(0) if self.scripts else []
        try:
            for answer in script:
                self.heads.append(await reader.readuntil(b"\r\n\r\n"))
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
            else:
                await reader.read()  # keep the connection open until the client closes it
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ignore_body(status: int, headers: Headers) -> Callable[[bytes], None]:
    return lambda raw: None


def headers_sent() -> dict[str, str]:
    return {"Authorization": "Bearer rt_test_lean_0123456789", "Accept": "application/json"}


def test_requests_share_one_kept_alive_connection_and_carry_the_headers():
    async def main() -> tuple[list[int], ScriptedServer, int]:
        async with ScriptedServer([[OK, OK, OK]]) as server:
            client = Http11Client(server.url, headers_sent(), None)
            statuses = [(await client.request("GET", f"/v1/x?n={i}", lambda s, h: lambda b: None))[0] for i in range(3)]
            opened = client.connections_opened
            await client.aclose()
        return statuses, server, opened

    statuses, server, opened = asyncio.run(main())

    assert statuses == [200, 200, 200] and opened == 1 and server.connections == 1
    first = server.heads[0].decode()
    assert first.startswith("GET /v1/x?n=0 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "Authorization: Bearer rt_test_lean_0123456789\r\n" in first and first.endswith("\r\n\r\n")


def test_a_kept_connection_the_server_dropped_is_reopened_once_for_the_next_request():
    async def main() -> tuple[int, int]:
        async with ScriptedServer([[OK, None], [OK]]) as server:
            client = Http11Client(server.url, headers_sent(), None)
            await client.request("GET", "/a", lambda s, h: lambda b: None)
            status, _ = await client.request("GET", "/b", lambda s, h: lambda b: None)
            await client.aclose()
        return status, client.connections_opened

    assert asyncio.run(main()) == (200, 2)


def test_a_new_connection_closed_before_the_answer_is_a_connection_error_not_a_retry():
    async def main() -> BaseException:
        async with ScriptedServer([[None], [OK]]) as server:
            client = Http11Client(server.url, headers_sent(), None)
            with pytest.raises(ConnectionError) as caught:
                await client.request("GET", "/a", lambda s, h: lambda b: None)
            await client.aclose()
            assert client.connections_opened == 1 and client.is_closed
        return caught.value

    error = asyncio.run(main())

    assert not isinstance(error, (http11.StaleConnectionError, ConnectFailedError))


def test_a_cancelled_request_closes_its_connection_and_the_next_opens_another():
    async def main() -> tuple[int, int]:
        slow = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"
        async with ScriptedServer([[slow], [OK]]) as server:
            client = Http11Client(server.url, headers_sent(), None)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.request("GET", "/a", lambda s, h: lambda b: None), 0.2)
            status, _ = await client.request("GET", "/b", lambda s, h: lambda b: None)
            await client.aclose()
        return status, client.connections_opened

    assert asyncio.run(main()) == (200, 2)


def test_a_closed_port_fails_to_connect_known_never_sent():
    async def main() -> None:
        async with ScriptedServer([]) as server:
            url = server.url
        client = Http11Client(url, headers_sent(), None)
        with pytest.raises(ConnectFailedError, match="ConnectionRefusedError"):
            await client.request("GET", "/a", lambda s, h: lambda b: None)

    asyncio.run(main())


def test_tls_with_a_trusted_certificate_works_and_an_untrusted_one_fails_the_handshake(tmp_path):
    server_context, cert_path = tls_context(tmp_path)
    trusting = ssl.create_default_context(cafile=cert_path)

    async def main() -> tuple[int, BaseException]:
        async with ScriptedServer([[OK], [OK]], tls=server_context) as server:
            client = Http11Client(server.url, headers_sent(), trusting)
            status, _ = await client.request("GET", "/a", lambda s, h: lambda b: None)
            await client.aclose()
            stranger = Http11Client(server.url, headers_sent(), ssl.create_default_context())
            with pytest.raises(ConnectFailedError) as caught:
                await stranger.request("GET", "/a", lambda s, h: lambda b: None)
        return status, caught.value

    status, error = asyncio.run(main())

    assert status == 200
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


@pytest.mark.parametrize(
    ("url", "authority"),
    [
        ("http://127.0.0.1:8765", "127.0.0.1:8765"),
        ("https://api.runtype.com", "api.runtype.com"),
        ("http://[::1]:9000", "[::1]:9000"),
        ("http://example.com:80", "example.com"),
    ],
)
def test_the_host_header_names_the_port_only_when_it_is_not_the_schemes(url, authority):
    client = Http11Client(url, {}, None)

    assert client._header_block.startswith(f"Host: {authority}\r\n".encode())


# ---- when the lean client may be used ------------------------------------------------------------------------------


def test_it_is_used_without_a_proxy_and_not_with_one(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert usable_for("https://api.runtype.com") and usable_for("http://127.0.0.1:8765")
    assert not usable_for("ftp://api.runtype.com")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert not usable_for("https://api.runtype.com") and usable_for("http://127.0.0.1:8765")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example:3128")
    assert not usable_for("http://127.0.0.1:8765")


def test_it_is_not_used_while_respx_patches_httpx(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with respx.mock(base_url="https://api.runtype.com"):
        assert not usable_for("https://api.runtype.com")
    assert usable_for("https://api.runtype.com")
    assert httpx.AsyncHTTPTransport.handle_async_request.__module__.startswith("httpx")
