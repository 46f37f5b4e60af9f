"""A raw HTTP/1.1 server on 127.0.0.1 for tests that need real sockets: trickling, endless or compressed
bodies, redirects, TLS. Each connection's request head is read, counted, then answered by a behaviour.

Behaviours that could run forever stop on their own after a safety limit, so even a client without the
provider's limits ends (and fails its assertions) instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

Behaviour = Callable[[socket.socket, "LoopbackServer"], None]


class LoopbackServer:
    """Serve ``behaviour`` on a free loopback port (optionally over TLS) until the ``with`` block ends."""

    def __init__(self, behaviour: Behaviour, *, tls: ssl.SSLContext | None = None, read_head: bool = True) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.read_head = read_head  # False: answer at once, whatever the client sends (e.g. a TLS hello)
        self.requests: list[str] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._listener = socket.socket()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError), conn:
            conn.settimeout(5)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            if not self.read_head:
                self.behaviour(conn, self)
                return
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            head, _, body = head.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (int(v) for k, _, v in (ln.partition(":") for ln in lines) if k.lower() == "content-length"), 0
            )
            while len(body) < length:
                body += conn.recv(4096)
            self.requests.append(lines[0])
            self.behaviour(conn, self)


def answer(status: int = 200, body: bytes = b"{}", headers: dict[str, str] | None = None) -> Behaviour:
    """A complete answer with a Content-Length."""

    def behave(conn: socket.socket, server: LoopbackServer) -> None:
        fields = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "close",  # the server closes after one answer: say so, as HTTP/1.1 requires
            **(headers or {}),
        }
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        conn.sendall(head.encode("latin-1") + body)

    return behave


def trickle_body(interval: float, *, give_up_after: float = 4.0) -> Behaviour:
    """Headers at once, then one byte of the (long) body every ``interval`` seconds."""

    def behave(conn: socket.socket, server: LoopbackServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        end = time.monotonic() + give_up_after
        while not server.stopping.is_set() and time.monotonic() < end:
            conn.sendall(b" ")
            time.sleep(interval)

    return behave


def trickle_head(interval: float, *, give_up_after: float = 4.0) -> Behaviour:
    """The status line, then header bytes one at a time, never finishing the head."""

    def behave(conn: socket.socket, server: LoopbackServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        end = time.monotonic() + give_up_after
        while not server.stopping.is_set() and time.monotonic() < end:
            conn.sendall(b"a")
            time.sleep(interval)

    return behave


def endless_chunks(*, safety_limit: int = 256 * 2**20) -> Behaviour:
    """A chunked body that never ends (until ``safety_limit`` bytes or the client goes away)."""

    def behave(conn: socket.socket, server: LoopbackServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
        sent = 0
        while not server.stopping.is_set() and sent < safety_limit:
            conn.sendall(chunk)
            sent += 0x10000
        conn.sendall(b"0\r\n\r\n")

    return behave


@lru_cache(maxsize=4)
def bomb(kind: str, size: int) -> bytes:
    """``size`` bytes of JSON-ish whitespace compressed with gzip or deflate (a few hundred kB for 256 MiB)."""
    data = b" " * size
    return gzip.compress(data, 9) if kind == "gzip" else zlib.compress(data, 9)


def compressed(kind: str, body: bytes) -> Behaviour:
    encoded = gzip.compress(body) if kind == "gzip" else zlib.compress(body)
    return answer(200, encoded, {"Content-Encoding": kind})


def tls_context(cert_dir: Any) -> tuple[ssl.SSLContext, str]:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (path of the cert returned)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runtype-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = cert_dir / "cert.pem", cert_dir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)


def send_through_lanes(
    settings: Any, operation: str, *, sleep: Any = None, lean: bool = True, deadline: float | None = None, **ids: Any
) -> Any:
    """Send ``operation`` the way shared trigger reads do: an async transport borrowing from client lanes, which
    must be lean (the http11 client) or not as ``lean`` says; returns the parsed answer or raises its error."""
    from runtype_provider.client.async_pool import ClientLanes
    from runtype_provider.client.request import build_request
    from runtype_provider.client.transport import AsyncTransport

    async def no_sleep(seconds: float) -> None:
        return None

    async def main() -> Any:
        lanes = ClientLanes("runtype_default", settings, size=2)
        assert lanes.lean is lean, f"expected lean={lean}, the lanes chose {lanes.lean}"
        transport = AsyncTransport(settings, sleep or no_sleep, clients=lanes)
        try:
            return await transport.send(build_request(operation, **ids), deadline=deadline)
        finally:
            await lanes.aclose()
            await transport.aclose()

    return asyncio.run(main())
