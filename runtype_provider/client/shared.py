"""Many deferred waits for the price of few: per event loop and connection, one connection read, capped HTTP
clients, shared reads. Generic: it knows requests and answers, not runs (the hook decides what a wait reads).

A triggerer runs all its triggers in one event loop. The waits there on the same Runtype connection id share one
:class:`ConnectionShare` (:class:`shared_connection`: created by the first wait, closed by the last to leave, and
kept per event loop, so another loop, e.g. pytest's per-test loops or ``dag.test()``'s ``asyncio.run``, never sees
its client; :func:`join_share` and :func:`leave_share` are the same as plain calls):

* one connection read (by the reader the caller injects) for the waits that start within
  :data:`CONNECTION_READ_TTL` of it (a rotated key reaches waits that start later);
* HTTP clients: at most :data:`MAX_CONCURRENT_REQUESTS` requests (and sockets) at a time per API key
  (:class:`~runtype_provider.client.async_pool.ClientLanes`); the others wait their turn, which also keeps a
  thousand waits that start together from stalling the loop;
* reads: waits that need the same read (same request, same client options) while their polls overlap get one
  request. A wait takes the newest answer whose request started after the one it saw last (never one older than
  what it already had), else joins the request in flight, else sends it. A wait whose answer was already some
  seconds old when it asked sleeps that much less, so waits on one read fall into step: one request per interval
  answers all of them, and none sees a change later than its own poll would have.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import TYPE_CHECKING, Any

from runtype_provider.client.async_pool import ClientLanes
from runtype_provider.client.request import ApiRequest
from runtype_provider.client.settings import ConnectionSettings, settings_from_connection
from runtype_provider.client.transport import AsyncTransport
from runtype_provider.exceptions import RuntypeDeadlineError

if TYPE_CHECKING:
    import httpx

    from runtype_provider.client.http11 import Http11Client

STARTS_PER_LOOP_STEP = 64
"""Waits that start their first poll in one step of the event loop; the others start in the next steps."""
CONNECTION_READ_TTL = 60.0
"""Seconds one connection read serves the waits that start after it."""
MAX_CONCURRENT_REQUESTS = 16
"""Requests in flight (and sockets) per shared client."""
ReadConnection = Callable[[str], Awaitable[Any]]
"""Reads the Airflow connection of an id without blocking the loop (the hook's ``aread_connection``)."""

_SHARES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, ConnectionShare]] = weakref.WeakKeyDictionary()


def join_share(conn_id: str, read_connection: ReadConnection) -> ConnectionShare:
    """The running loop's share of connection ``conn_id``, created by its first user; the caller counts as a user
    until :func:`leave_share`. Plain calls, not a context manager object, so a wait holds nothing for them."""
    loop = asyncio.get_running_loop()
    shares = _SHARES.get(loop)
    if shares is None:
        shares = _SHARES[loop] = {}
    share = shares.get(conn_id)
    if share is None:
        share = shares[conn_id] = ConnectionShare(conn_id, read_connection)
        share.registry = shares
    share.users += 1
    return share


async def leave_share(share: ConnectionShare) -> None:
    """One user of ``share`` leaves; the last one closes it (its clients and reads in flight)."""
    share.users -= 1
    if share.users == 0:
        if share.registry.get(share.conn_id) is share:
            del share.registry[share.conn_id]
        await share.aclose()


class shared_connection:
    """The running loop's share of connection ``conn_id`` for the ``async with`` block; the last user closes it."""

    share: ConnectionShare

    def __init__(self, conn_id: str, read_connection: ReadConnection) -> None:
        self.conn_id = conn_id
        self.read_connection = read_connection

    async def __aenter__(self) -> ConnectionShare:
        self.share = join_share(self.conn_id, self.read_connection)
        return self.share

    async def __aexit__(self, *exc_info: object) -> None:
        await leave_share(self.share)


def open_shares(loop: asyncio.AbstractEventLoop) -> dict[str, ConnectionShare]:
    """The shares open in ``loop``, by connection id (for tests and the benchmark)."""
    return dict(_SHARES.get(loop, {}))


def _earlier(a: float | None, b: float | None) -> bool:
    """Deadline ``a`` comes before ``b`` (None: no deadline)."""
    return a is not None and (b is None or a < b)


class _Flight:
    """One read in flight: its order among this share's reads, when it started, the deadline it runs under."""

    __slots__ = ("deadline", "seq", "started_at", "task", "waiters")

    def __init__(self, seq: int, started_at: float, deadline: float | None, task: asyncio.Future[Any]) -> None:
        self.seq, self.started_at, self.deadline, self.task = seq, started_at, deadline, task
        self.waiters = 0


class Reads:
    """How waits with one set of client options read, from one connection read: its settings and transport."""

    __slots__ = ("conn", "settings", "transport")

    def __init__(self, conn: Any, settings: ConnectionSettings, transport: AsyncTransport) -> None:
        self.conn, self.settings, self.transport = conn, settings, transport


class ConnectionShare:
    """What the waits on one connection in one event loop share: see the module docstring."""

    def __init__(self, conn_id: str, read_connection: ReadConnection) -> None:
        self.conn_id = conn_id
        self.read_connection = read_connection
        self.users = 0
        self.registry: dict[str, ConnectionShare] = {}
        """The loop's shares this one is registered in (by :func:`join_share`)."""
        self.seq = 0
        """Reads started so far; a wait that starts now takes only answers of later reads."""
        self.requests_started = 0
        self._free = MAX_CONCURRENT_REQUESTS
        self._queued: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())
        self._starts = 0
        self._start_queue: deque[asyncio.Future[None]] = deque()
        self._conn_read: asyncio.Future[Any] | None = None
        self._conn_read_at = 0.0
        self._reads: dict[str, Reads] = {}
        self._lanes: dict[str, ClientLanes] = {}
        self._flights: dict[Hashable, _Flight] = {}
        self._latest: dict[Hashable, _Flight] = {}
        self._interest: dict[Hashable, int] = {}

    async def start_turn(self) -> None:
        """Wait for this wait's turn to start polling: :data:`STARTS_PER_LOOP_STEP` per step of the event loop, so a
        thousand triggers created together (a triggerer picking up a backlog) do not start in one long step."""
        if self._starts < STARTS_PER_LOOP_STEP and not self._start_queue:
            self._starts += 1
            if self._starts == 1:
                asyncio.get_running_loop().call_soon(self._next_starts)
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._start_queue.append(turn)
        await turn

    def _next_starts(self) -> None:
        self._starts = 0
        while self._start_queue and self._starts < STARTS_PER_LOOP_STEP:
            turn = self._start_queue.popleft()
            if not turn.done():
                turn.set_result(None)
                self._starts += 1
        if self._starts:
            asyncio.get_running_loop().call_soon(self._next_starts)

    @property
    def clients(self) -> list[httpx.AsyncClient | Http11Client]:
        """The HTTP clients open (of one socket each)."""
        return [client for lanes in self._lanes.values() for client in lanes.clients]

    async def _connection(self) -> Any:
        read, now = self._conn_read, time.monotonic()
        stale = read is not None and read.done() and (now - self._conn_read_at > CONNECTION_READ_TTL)
        if read is None or stale or (read.done() and (read.cancelled() or read.exception() is not None)):
            read = self._conn_read = asyncio.ensure_future(self.read_connection(self.conn_id))
            self._conn_read_at = now
        return await asyncio.shield(read)

    async def reads(
        self, overrides: dict[str, Any], params_key: str, sleep: Callable[[float], Any], clock: Callable[[], float]
    ) -> Reads:
        """The settings and transport (shared clients) for the client options ``overrides`` (``params_key`` names
        them), from the current connection read; ``sleep`` and ``clock`` are the transport's."""
        reads = self._reads.get(params_key)
        read = self._conn_read
        if (
            reads is not None
            and read is not None
            and read.done()
            and not read.cancelled()
            and read.exception() is None
            and reads.conn is read.result()
            and time.monotonic() - self._conn_read_at <= CONNECTION_READ_TTL
        ):
            return reads  # the common case, without a suspension
        conn = await self._connection()
        reads = self._reads.get(params_key)
        if reads is None or reads.conn is not conn:
            settings = settings_from_connection(conn, overrides)
            lanes_key = hashlib.sha256(settings.api_key.encode()).hexdigest()  # one set of clients per API key
            lanes = self._lanes.get(lanes_key)
            if lanes is None:
                lanes = self._lanes[lanes_key] = ClientLanes(self.conn_id, settings, MAX_CONCURRENT_REQUESTS)
            transport = AsyncTransport(settings, sleep, clock, clients=lanes)
            reads = self._reads[params_key] = Reads(conn, settings, transport)
        return reads

    def interest(self, key: Hashable, change: int) -> None:
        """Count the waits that read ``key``; an answer is kept for reuse only while two or more do."""
        count = self._interest.get(key, 0) + change
        if count > 0:
            self._interest[key] = count
        else:
            self._interest.pop(key, None)
        if count < 2:
            self._latest.pop(key, None)

    def readers(self, key: Hashable) -> int:
        return self._interest.get(key, 0)

    def answered(self, key: Hashable, after: int) -> tuple[Any, int, float] | None:
        """What :meth:`read` returns at once when a read of ``key`` newer than ``after`` has landed, else None (the
        caller then builds its request for :meth:`read`)."""
        latest = self._latest.get(key)
        if latest is not None and latest.seq > after:
            return latest.task.result(), latest.seq, time.monotonic() - latest.started_at
        return None

    async def read(
        self, key: Hashable, transport: AsyncTransport, request: ApiRequest[Any], *, after: int, deadline: float | None
    ) -> tuple[Any, int, float]:
        """The answer to ``request`` from a read started after read number ``after``: (answer, its number, how many
        seconds before this call it started). ``deadline`` (monotonic) bounds this caller's wait and reads it starts."""
        now = time.monotonic()
        latest = self._latest.get(key)
        if latest is not None and latest.seq > after:
            return latest.task.result(), latest.seq, now - latest.started_at
        flight = self._flights.get(key)
        mine = flight is None or flight.seq <= after
        if mine:
            await self._admit(request, deadline, self.readers(key) >= 2)
            latest, flight = self._latest.get(key), self._flights.get(key)  # read by another while we waited?
            if latest is not None and latest.seq > after:
                self._release()
                return latest.task.result(), latest.seq, max(0.0, now - latest.started_at)
            mine = flight is None or flight.seq <= after
            if mine:
                flight = self._start(key, transport, request, deadline, now)
            else:
                self._release()
        while True:
            assert flight is not None
            try:
                answer = await self._await(key, flight, request, deadline)
            except RuntypeDeadlineError:
                if mine or not _earlier(flight.deadline, deadline):
                    raise
                # The read ran under an earlier deadline than ours and stopped at it: read under our own.
                await self._admit(request, deadline, self.readers(key) >= 2)
                flight, mine = self._start(key, transport, request, deadline, time.monotonic()), True
                continue
            return answer, flight.seq, max(0.0, now - flight.started_at)

    async def _admit(self, request: ApiRequest[Any], deadline: float | None, shared: bool) -> None:
        """Take one of the :data:`MAX_CONCURRENT_REQUESTS` slots for reads in flight, waiting (within ``deadline``)
        when all are taken: a thousand waits that poll together start their reads a few at a time. Reads that
        answer several waits (``shared``) go before reads for one, so a burst of per-run reads (runs finishing
        together) does not hold back the reads that the other waits depend on."""
        if self._free > 0 and not self._queued[0] and not self._queued[1]:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued[0 if shared else 1].append(turn)
        try:
            if deadline is None:
                await turn
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError
            await asyncio.wait_for(turn, left)
        except (asyncio.CancelledError, asyncio.TimeoutError) as err:
            if turn.done() and not turn.cancelled():
                self._release()  # the slot came just as this caller left: pass it on
            turn.cancel()
            if isinstance(err, asyncio.TimeoutError):
                raise RuntypeDeadlineError(method=request.method, path=request.path) from None
            raise

    def _release(self) -> None:
        for queue in self._queued:
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._free += 1

    def _start(
        self, key: Hashable, transport: AsyncTransport, request: ApiRequest[Any], deadline: float | None, now: float
    ) -> _Flight:
        """Send the read (holding the admission slot taken for it until it lands)."""
        self.seq += 1
        self.requests_started += 1
        flight = _Flight(self.seq, now, deadline, asyncio.ensure_future(transport.send(request, deadline=deadline)))
        self._flights[key] = flight
        flight.task.add_done_callback(partial(self._landed, key, flight))
        return flight

    def _landed(self, key: Hashable, flight: _Flight, task: asyncio.Future[Any]) -> None:
        self._release()
        if self._flights.get(key) is flight:
            del self._flights[key]
        if task.cancelled() or task.exception() is not None:
            return
        latest = self._latest.get(key)
        if self._interest.get(key, 0) >= 2 and (latest is None or latest.seq < flight.seq):
            self._latest[key] = flight

    async def _await(self, key: Hashable, flight: _Flight, request: ApiRequest[Any], deadline: float | None) -> Any:
        flight.waiters += 1
        try:
            if deadline is None or not _earlier(deadline, flight.deadline):
                return await asyncio.shield(flight.task)
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                return await asyncio.wait_for(asyncio.shield(flight.task), left)
            except asyncio.TimeoutError:
                raise RuntypeDeadlineError(method=request.method, path=request.path) from None
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()  # nobody waits for it any more
                if self._flights.get(key) is flight:
                    del self._flights[key]

    async def aclose(self) -> None:
        for flight in list(self._flights.values()):
            flight.task.cancel()
        self._flights.clear()
        self._latest.clear()
        lanes, self._lanes = list(self._lanes.values()), {}
        for one in lanes:
            await one.aclose()
        reads, self._reads = list(self._reads.values()), {}
        for read in reads:
            await read.transport.aclose()  # a client of its own, if a request other than a GET needed one
