"""Many deferred waits for the price of few: per event loop and connection, one connection read, one HTTP client,
shared reads.

A triggerer runs all its triggers in one event loop. The waits there on the same Runtype connection id share one
:class:`ConnectionShare` (:func:`shared_connection`: created by the first wait, closed by the last to leave, and
kept per event loop, so another loop, e.g. pytest's per-test loops or ``dag.test()``'s ``asyncio.run``, never sees
its client):

* one connection read for the waits that start within :data:`CONNECTION_READ_TTL` of it (a rotated key reaches
  waits that start later);
* HTTP clients: at most :data:`MAX_CONCURRENT_REQUESTS` requests (and sockets) at a time per API key
  (:class:`ClientLanes`); the others wait their turn, which also keeps a thousand waits that start together from
  stalling the loop;
* reads: waits that need the same read (same request, same hook parameters) while their polls overlap get one
  request. A wait takes the newest answer whose request started after the one it saw last (never one older than
  what it already had), else joins the request in flight, else sends it. A wait whose answer was already some
  seconds old when it asked sleeps that much less, so waits on one read fall into step: one request per interval
  answers all of them, and none sees a change later than its own poll would have. This is exact: it is the very
  request each wait would have sent (runs without a batch id, polled through their schedule's run list, share it);
* optionally (connection extra ``shared_run_list_polls``, or :class:`SharedRunReader` ``run_list_polls``; off by
  default): waits on runs with a batch id read their schedule's run list, one request per schedule and interval,
  while it lists their run as queued or running, and their batch status (the per-run read) otherwise: when the
  list shows a final or unknown status, or does not list the run. The final status and counts always come from
  the batch status, as with per-run polling; what can differ is when a finish is seen, should Runtype's run list
  lag behind its batch status. Used while at least two waits read the same list.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import weakref
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from runtype_provider.async_clients import ClientLanes
from runtype_provider.endpoints import ENDPOINTS
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeDeadlineError
from runtype_provider.models.runs import RunProgress, RunReference
from runtype_provider.models.status import RunOutcome, classify_run_status

if TYPE_CHECKING:
    import httpx

    from runtype_provider.models.schemas import ScheduleRun
    from runtype_provider.transport import ApiRequest, AsyncTransport

STARTS_PER_LOOP_STEP = 64
"""Waits that start their first poll in one step of the event loop; the others start in the next steps."""
CONNECTION_READ_TTL = 60.0
"""Seconds one connection read serves the waits that start after it."""
MAX_CONCURRENT_REQUESTS = 16
"""Requests in flight (and sockets) per shared client."""
RUN_LIST_EXTRA = "shared_run_list_polls"

_SHARES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, ConnectionShare]] = weakref.WeakKeyDictionary()


class shared_connection:
    """The running loop's share of connection ``conn_id`` for the ``async with`` block; the last user closes it."""

    share: ConnectionShare
    shares: dict[str, ConnectionShare]

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id

    async def __aenter__(self) -> ConnectionShare:
        loop = asyncio.get_running_loop()
        shares = _SHARES.get(loop)
        if shares is None:
            shares = _SHARES[loop] = {}
        share = shares.get(self.conn_id)
        if share is None:
            share = shares[self.conn_id] = ConnectionShare(self.conn_id)
        share.users += 1
        self.share, self.shares = share, shares
        return share

    async def __aexit__(self, *exc_info: object) -> None:
        share, shares = self.share, self.shares
        share.users -= 1
        if share.users == 0:
            if shares.get(self.conn_id) is share:
                del shares[self.conn_id]
            await share.aclose()


def open_shares(loop: asyncio.AbstractEventLoop) -> dict[str, ConnectionShare]:
    """The shares open in ``loop``, by connection id (for tests and the benchmark)."""
    return dict(_SHARES.get(loop, {}))


def _earlier(a: float | None, b: float | None) -> bool:
    """Deadline ``a`` comes before ``b`` (None: no deadline)."""
    return a is not None and (b is None or a < b)


def run_list_polls_extra(conn: Any) -> bool:
    """The connection extra ``shared_run_list_polls`` (true/false, default false); anything else is refused."""
    extra = conn.extra_dejson
    for name in (RUN_LIST_EXTRA, f"extra__runtype__{RUN_LIST_EXTRA}"):
        value = extra.get(name) if isinstance(extra, dict) else None
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        shown = repr(value)[:40]
        raise RuntypeConfigurationError(
            f"Runtype connection {conn.conn_id!r}: {RUN_LIST_EXTRA!r} must be true or false, got {shown}"
        )
    return False


class _Flight:
    """One read in flight: its order among this share's reads, when it started, the deadline it runs under."""

    __slots__ = ("deadline", "seq", "started_at", "task", "waiters")

    def __init__(self, seq: int, started_at: float, deadline: float | None, task: asyncio.Future[Any]) -> None:
        self.seq, self.started_at, self.deadline, self.task = seq, started_at, deadline, task
        self.waiters = 0


class _Reads:
    """How waits with one set of hook parameters read, from one connection read."""

    __slots__ = ("conn", "run_list_polls", "transport")

    def __init__(self, conn: Any, transport: AsyncTransport, run_list_polls: bool) -> None:
        self.conn, self.transport, self.run_list_polls = conn, transport, run_list_polls


class ConnectionShare:
    """What the waits on one connection in one event loop share: see the module docstring."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self.users = 0
        self.seq = 0
        """Reads started so far; a wait that starts now takes only answers of later reads."""
        self.requests_started = 0
        self._free = MAX_CONCURRENT_REQUESTS
        self._queued: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())
        self._starts = 0
        self._start_queue: deque[asyncio.Future[None]] = deque()
        self._conn_read: asyncio.Future[Any] | None = None
        self._conn_read_at = 0.0
        self._reads: dict[str, _Reads] = {}
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
    def clients(self) -> list[httpx.AsyncClient]:
        """The HTTP clients open (of one socket each)."""
        return [client for lanes in self._lanes.values() for client in lanes.clients]

    async def _connection(self) -> Any:
        from runtype_provider.hooks.runtype import RuntypeHook

        read, now = self._conn_read, time.monotonic()
        stale = read is not None and read.done() and (now - self._conn_read_at > CONNECTION_READ_TTL)
        if read is None or stale or (read.done() and (read.cancelled() or read.exception() is not None)):
            read = self._conn_read = asyncio.ensure_future(RuntypeHook.aread_connection(self.conn_id))
            self._conn_read_at = now
        return await asyncio.shield(read)

    async def reads(self, hook_params: dict[str, Any], params_key: str) -> _Reads:
        """The transport (shared clients) and options for ``hook_params``, from the current connection read."""
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
            from runtype_provider.connection import settings_from_connection
            from runtype_provider.hooks.runtype import RuntypeHook
            from runtype_provider.transport import AsyncTransport

            hook = RuntypeHook(self.conn_id, **hook_params)  # for its parameters, sleep and clock
            settings = settings_from_connection(conn, hook.overrides)
            lanes_key = hashlib.sha256(settings.api_key.encode()).hexdigest()  # one set of clients per API key
            lanes = self._lanes.get(lanes_key)
            if lanes is None:
                lanes = self._lanes[lanes_key] = ClientLanes(self.conn_id, settings, MAX_CONCURRENT_REQUESTS)
            transport = AsyncTransport(settings, hook.async_sleep, hook.clock, clients=lanes)
            reads = self._reads[params_key] = _Reads(conn, transport, run_list_polls_extra(conn))
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


class SharedRunReader:
    """One wait's reads through its :class:`ConnectionShare`, with the interface the wait engine polls
    (``get_run_progress_async``, ``bounded_by``, ``clock``) plus ``data_age``: how many seconds old the last answer
    already was when the poll began (0 when this wait's own request answered it).

    Like :meth:`RuntypeHook.get_run_progress_async`: a run with a batch id is read by batch status, one without by
    its schedule's run list; with ``run_list_polls`` (None: the connection extra) see the module docstring.
    """

    def __init__(
        self, share: ConnectionShare, hook_params: dict[str, Any] | None = None, run_list_polls: bool | None = None
    ) -> None:
        self.share = share
        self.hook_params = dict(hook_params or {})
        self.params_key = json.dumps(self.hook_params, sort_keys=True, default=repr)
        self.run_list_polls = run_list_polls
        self.deadline: float | None = None
        self.clock = time.monotonic
        self.data_age = 0.0
        self._born = share.seq
        self._seen: dict[Hashable, int] = {}
        self._requests: dict[tuple[str, ...], tuple[Hashable, ApiRequest[Any]]] = {}

    @contextmanager
    def bounded_by(self, deadline: float | None) -> Iterator[SharedRunReader]:
        """Bound this wait's reads by ``deadline`` (``clock()`` value), as ``RuntypeHook.bounded_by`` does."""
        previous = self.deadline
        if deadline is not None:
            self.deadline = deadline if previous is None else min(previous, deadline)
        try:
            yield self
        finally:
            self.deadline = previous

    async def get_run_progress_async(self, run: RunReference) -> RunProgress:
        run.require_pollable()
        self.data_age = 0.0
        reads = await self.share.reads(self.hook_params, self.params_key)
        if not run.batch_execution_id:
            runs = self._request("list_schedule_runs", schedule_id=run.schedule_id or "")
            return RunProgress.from_run_list(await self._read(reads, runs), run)
        by_list = self.run_list_polls if self.run_list_polls is not None else reads.run_list_polls
        if by_list and run.schedule_id and not run.product_id:
            runs = self._request("list_schedule_runs", schedule_id=run.schedule_id)
            if self.share.readers(runs[0]) >= 2:  # counting this wait: one list for two or more waits
                row = _listed(await self._read(reads, runs), run)
                if row is not None and classify_run_status(row.status) is RunOutcome.RUNNING:
                    return RunProgress.from_run(row)
        status = self._request("get_batch_status", batch_id=run.batch_execution_id)
        return RunProgress.from_batch(await self._read(reads, status), run)

    def _request(self, operation: str, **ids: Any) -> tuple[Hashable, ApiRequest[Any]]:
        """The request (built once per wait) and what makes two reads the same: hook parameters, method, path and
        query. The first time, this wait starts counting as a reader of it."""
        made = self._requests.get((operation, *ids.values()))
        if made is None:
            request = ENDPOINTS[operation].request(**ids)
            key = (self.params_key, request.method, request.path, tuple(sorted(request.query.items())))
            made = self._requests[(operation, *ids.values())] = (key, request)
            self.share.interest(key, +1)
            self._seen[key] = self._born
        return made

    async def _read(self, reads: _Reads, made: tuple[Hashable, ApiRequest[Any]]) -> Any:
        key, request = made
        answer, seq, age = await self.share.read(
            key, reads.transport, request, after=self._seen[key], deadline=self.deadline
        )
        self._seen[key], self.data_age = seq, age
        return answer

    def close(self) -> None:
        """Stop counting as a reader of the reads this wait made."""
        for key in self._seen:
            self.share.interest(key, -1)
        self._seen.clear()
        self._requests.clear()


def _listed(runs: list[ScheduleRun], run: RunReference) -> ScheduleRun | None:
    """The run list's row for ``run``: same batch id, and same run id when the reference has one."""
    for row in runs:
        if row.batch_execution_id == run.batch_execution_id and (run.run_id is None or row.id == run.run_id):
            return row
    return None
