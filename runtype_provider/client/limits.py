"""Bounds on one answer: its decompressed size and the total time of an attempt.

* :class:`BodyReader` decodes ``Content-Encoding`` (gzip, deflate) itself, chunk by chunk, with zlib's
  ``max_length``, and counts the *decompressed* bytes against the cap: a gzip bomb or an endless chunked
  body stops at the cap with memory bounded by it. Both executors feed it raw bytes (``requests``:
  ``raw.stream(decode_content=False)``; ``httpx``: ``aiter_raw``) and ask only for what it decodes
  (``Accept-Encoding: gzip, deflate``).
* :class:`AttemptTimer` is the sync attempt's total deadline (connect, headers and the whole body): a
  server trickling one byte at a time never trips a per-read timeout, so at the deadline one shared
  watchdog thread shuts the attempt's socket down, which wakes the blocked read. The async executor gets the same bound
  from ``asyncio.wait_for``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from runtype_provider.exceptions import RuntypeResponseError, RuntypeResponseTooLargeError

MIB = 1024 * 1024
DEFAULT_MAX_RESPONSE_MB = 64
CHUNK_SIZE = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"
_MAX_PIECE = MIB  # largest piece one zlib call may produce, whatever the cap


class _Inflater:
    """One ``Content-Encoding`` layer (gzip, with concatenated members, or deflate, zlib-wrapped or raw)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._start(zlib.MAX_WBITS | 16 if kind == "gzip" else zlib.MAX_WBITS)

    def _start(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflater = zlib.decompressobj(wbits)
        self._fed = False

    def pipe(self, pieces: Iterable[bytes], room: Any) -> Iterator[bytes]:
        for piece in pieces:
            yield from self._run(piece, room)

    def _run(self, data: bytes, room: Any) -> Iterator[bytes]:
        while data:
            try:
                out = self._inflater.decompress(data, max(1, min(room(), _MAX_PIECE)))
            except zlib.error:
                if self.kind == "deflate" and not self._fed and self._wbits > 0:
                    self._start(-zlib.MAX_WBITS)  # some servers send raw deflate without the zlib header
                    continue
                raise
            self._fed = True
            rest = self._inflater.unconsumed_tail
            if self._inflater.eof:
                tail = self._inflater.unused_data
                # Another gzip member follows; anything else after the end of the stream is ignored.
                if self.kind == "gzip" and tail.startswith(b"\x1f\x8b"):
                    self._start(self._wbits)
                    rest = tail
                else:
                    rest = b""
            if out:
                yield out
            elif rest == data:  # no progress: cannot happen with room >= 1, but never spin
                return
            data = rest

    def flush(self) -> bytes:
        return self._inflater.flush()


class BodyReader:
    """Accumulates a response body, decoded, refusing it once it exceeds ``limit`` bytes."""

    def __init__(self, *, method: str, path: str, limit: int, content_encoding: str | None) -> None:
        self.method = method
        self.path = path
        self.limit = limit
        self.size = 0
        self._parts: list[bytes] = []
        layers = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        unknown = [c for c in layers if c not in ("gzip", "x-gzip", "deflate", "identity")]
        if unknown:
            raise RuntypeResponseError(
                f"Runtype API {method} {path} answered with Content-Encoding {', '.join(unknown)!s}, "
                f"which was not asked for (only {ACCEPT_ENCODING})",
                method=method,
                path=path,
            )
        kinds = ["gzip" if c == "x-gzip" else c for c in reversed(layers) if c != "identity"]
        self._layers = [_Inflater(kind) for kind in kinds]

    def check_length(self, content_length: str | None) -> None:
        """Refuse at once an unencoded body whose declared length is over the cap."""
        declared = content_length.strip() if content_length else ""
        if not self._layers and declared.isdigit() and int(declared) > self.limit:
            raise RuntypeResponseTooLargeError(method=self.method, path=self.path, limit_bytes=self.limit)

    def _room(self) -> int:
        return self.limit - self.size + 1

    def _take(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self.size += len(piece)
            if self.size > self.limit:
                self._parts.clear()
                raise RuntypeResponseTooLargeError(method=self.method, path=self.path, limit_bytes=self.limit)
            self._parts.append(piece)

    def _decoded(self, raw: bytes) -> Iterator[bytes]:
        pieces: Iterable[bytes] = (raw,)
        for layer in self._layers:
            pieces = layer.pipe(pieces, self._room)
        return iter(pieces)

    def feed(self, raw: bytes) -> None:
        """Add raw (still encoded) bytes from the wire."""
        if not raw:
            return
        try:
            self._take(self._decoded(raw))
        except zlib.error as err:
            raise self._corrupt(err) from None

    def finish(self) -> bytes:
        """The decoded body (what is left in the decoders included)."""
        try:
            for index, layer in enumerate(self._layers):
                pieces: Iterable[bytes] = (layer.flush(),)
                for later in self._layers[index + 1 :]:
                    pieces = later.pipe(pieces, self._room)
                self._take(p for p in pieces if p)
        except zlib.error as err:
            raise self._corrupt(err) from None
        return b"".join(self._parts)

    def _corrupt(self, error: Exception) -> RuntypeResponseError:
        return RuntypeResponseError(
            f"Runtype API {self.method} {self.path} returned a body that could not be decompressed: {error}",
            method=self.method,
            path=self.path,
        )


# ---- the sync attempt's total deadline --------------------------------------------------------------

_current = threading.local()


def _shutdown(sock: Any) -> bool:
    """Shut a (TLS) socket down from another thread: the blocked read returns at once. True if done."""
    raw = sock if isinstance(sock, socket.socket) else getattr(sock, "socket", None)
    if not isinstance(raw, socket.socket):
        return False
    with contextlib.suppress(OSError):
        socket.socket.shutdown(raw, socket.SHUT_RDWR)
    return True


class _Watchdog:
    """One daemon thread that fires every :class:`AttemptTimer` at its deadline (a thread per attempt
    cost about 2 ms to start). Timers that finish in time are dropped lazily; reset in a forked child."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, AttemptTimer]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._compact_above = self.COMPACT_MIN

    COMPACT_MIN = 64
    """Finished timers are dropped once the heap holds this many entries, or twice what the last compaction kept
    (amortised constant cost, and a heap that never grows with the number of attempts that ended in time)."""

    def schedule(self, when: float, timer: AttemptTimer) -> None:
        with self._condition:
            if len(self._heap) > self._compact_above:  # attempts that ended in time: forget them now
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._compact_above = max(self.COMPACT_MIN, 2 * len(self._heap))
            heapq.heappush(self._heap, (when, next(self._order), timer))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="runtype-attempt-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is timer:
                self._condition.notify()

    def _next_due(self) -> AttemptTimer:
        with self._condition:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._condition.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay <= 0:
                    return heapq.heappop(self._heap)[2]
                self._condition.wait(delay)

    def _run(self) -> None:
        while True:
            self._next_due().fire()


_watchdog = _Watchdog()


def _reset_watchdog() -> None:  # pragma: no cover - runs in forked children (Airflow's task processes)
    global _watchdog
    _watchdog = _Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_watchdog)


class AttemptTimer:
    """The total deadline of one sync attempt: after ``seconds`` its connections are shut down.

    Used as a context manager around the whole attempt (request and body); connections handed out by
    the pools of :func:`watched_adapter` inside it are registered here. ``expired`` tells a read that
    failed because of it from a genuine network error.
    """

    RETRY_SECONDS = 0.05  # the connection may not have its socket yet when the timer fires

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = 0.0
        self.fired = False
        self.done = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._previous: AttemptTimer | None = None

    def __enter__(self) -> AttemptTimer:
        self.end = time.monotonic() + self.seconds
        self._previous = getattr(_current, "timer", None)
        _current.timer = self
        _watchdog.schedule(self.end, self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.done = True
        _current.timer = self._previous

    @property
    def expired(self) -> bool:
        return self.fired or time.monotonic() >= self.end

    def register(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)
            fired = self.fired
        if fired:
            _shutdown(getattr(connection, "sock", None))

    def fire(self) -> None:
        """Called by the watchdog at the deadline: shut down this attempt's sockets."""
        with self._lock:
            if self.done:
                return
            self.fired = True
            connections = list(self._connections)
        pending = [c for c in connections if not _shutdown(getattr(c, "sock", None))]
        if pending or not connections:  # still connecting: try again shortly
            _watchdog.schedule(time.monotonic() + self.RETRY_SECONDS, self)


def _register(connection: Any) -> Any:
    timer = getattr(_current, "timer", None)
    if timer is not None:
        timer.register(connection)
    return connection


@lru_cache(maxsize=1)
def watched_adapter() -> type[Any]:
    """A ``requests`` adapter whose pools register each connection they hand out with the current
    :class:`AttemptTimer` (urllib3's ``_get_conn``, present in 1.26 and 2.x)."""
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class WatchedHTTPConnectionPool(HTTPConnectionPool):
        def _get_conn(self, timeout: float | None = None) -> Any:
            return _register(super()._get_conn(timeout))

    class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
        def _get_conn(self, timeout: float | None = None) -> Any:
            return _register(super()._get_conn(timeout))

    pools = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}

    class WatchedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(*args, **kwargs)
            if hasattr(manager, "pool_classes_by_scheme"):
                manager.pool_classes_by_scheme = pools
            return manager

    return WatchedAdapter
