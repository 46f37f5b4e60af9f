"""Offset paging with several pages in flight: a run's per-record results at real-world latency.

Results come at most 100 rows a page; fetched one after another, N records cost N/100 round trips. The first
page gives the record total (``pagination.total``), so the offset of every other page is known in advance:
:func:`iter_offset_pages_concurrently` fetches them on a few worker threads and yields the pages' rows in page
order, each once, as soon as the next page in order is complete.

**Adaptive** (``adaptive=True``, the results reader): handing a page to a worker thread costs the client CPU
(about 0.25 ms a page: the future, the wake-up, the GIL changing hands), more than a fast server on loopback
makes it wait. So pages are fetched in the consumer's thread, one at a time, while a page's wait for the server
(wall time minus this thread's CPU time) stays under :data:`INLINE_WAIT`; once waiting dominates (one wait of
:data:`SWITCH_WAITS` times that, or three in a row above it: a loaded machine's single hiccup does not count) the
rest is fetched concurrently, the window opening at the pages it takes to cover one wait with the consumer's own
work per page (wait / work, at most the bound) instead of at one.

**Same guarantees as** :mod:`runtype_provider.api.paging`: every page is judged, in order, by its
:class:`~runtype_provider.api.paging.OffsetPaging`, so an ignored offset, ``hasMore: true`` with no rows and the
page cap (``max_pages``) raise the same typed errors, after the rows of every earlier page, and ``hasMore:
false`` ends the listing. No page at or past the latest total is requested. Paging stays sequential (exactly
:func:`~runtype_provider.api.paging.iter_offset`) when the first page gives no total, when it holds fewer or more
rows than asked for (the server pages differently), or with ``max_concurrent_pages=1``; when a later page holds
another number of rows than planned, the rest is fetched sequentially from where that page ended.

**Bounded**:

* *concurrency*: at most ``max_concurrent_pages`` requests in flight (connection extra, default
  :data:`DEFAULT_MAX_CONCURRENT_PAGES`, at most :data:`MAX_CONCURRENT_PAGES`; the results operator's argument
  overrides it). After the first page the window starts at one request and grows by one per page received
  (slow start) up to the bound, but only while the consumer is waiting for its next page (pages that are ready
  before they are wanted need no more requests). A 429 halves it (once per round of requests) and holds every
  new attempt for the server's ``Retry-After``; from then on it grows by one per window of pages received
  (additive increase). The 429 itself is retried by the transport as usual (retry limit, ``Retry-After``,
  deadline).
* *memory*: at most twice the window (so at most ``2 x max_concurrent_pages``) pages are held, in flight or
  complete and waiting for their turn, whatever the number of records; a page waiting for its turn holds its
  bytes, parsed when its turn comes (:class:`Unread`). The bytes are bounded too: a page is started only while
  the bytes of the pages held plus, for each page in flight and the new one, the largest page seen so far stay
  within ``max_held_bytes`` (default :data:`MAX_HELD_BYTES`); one page is always allowed, so huge pages are
  fetched one at a time rather than eight. No page is started while the consumer is not asking for rows (the
  iterator is a generator: it runs only inside ``next()``; requests in flight still finish).
* *threads*: the first page (and any sequential paging) is fetched in the caller's thread with the hook's own
  session; each worker thread has its own ``requests`` session (sessions are not thread-safe). On an error, or
  when the consumer stops early (``close()`` or garbage collection of the iterator), no new request or retry
  starts, queued pages are dropped, and the call returns once the attempts in flight end (each bounded by the
  request timeout and the hook's deadline); the sessions are then closed.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from runtype_provider.api.ids import check_page_size
from runtype_provider.api.paging import DEFAULT_MAX_PAGES, OffsetPaging, iter_offset_pages
from runtype_provider.client.options import OPTIONS, OptionError
from runtype_provider.client.retry import MAX_RETRY_AFTER
from runtype_provider.exceptions import RuntypeConfigurationError

_PAGES_OPTION = OPTIONS["max_concurrent_pages"]
DEFAULT_MAX_CONCURRENT_PAGES: int = _PAGES_OPTION.default
"""Default of the connection extra ``max_concurrent_pages``: result pages fetched at once."""
MAX_CONCURRENT_PAGES = int(cast(float, _PAGES_OPTION.maximum))
"""Largest ``max_concurrent_pages`` accepted."""
HELD_PAGES_PER_REQUEST = 2
"""Pages held (in flight, or complete and waiting for their turn) per request the window allows."""
MAX_HELD_BYTES = 64 * 1024 * 1024
"""Bytes of result pages held at once (landed and waiting, or expected for those in flight) when fetching
concurrently: eight 30 MB pages would otherwise hold about half a gigabyte."""
INLINE_WAIT = 0.0005
"""Seconds a page may wait for the server and still be fetched in the consumer's thread (adaptive paging): about
twice the CPU of handing a page to a worker thread and back."""
SWITCH_WAITS = 40
"""A single wait this many times :data:`INLINE_WAIT` (20 ms: a distant server) sends adaptive paging concurrent
at once; shorter waits must come three pages in a row."""
_MAX_TRACE = 1000

log = logging.getLogger(__name__)


def check_max_concurrent_pages(value: Any) -> int:
    """A ``max_concurrent_pages`` argument: an int (no text) in the connection option's range."""
    try:
        return int(_PAGES_OPTION.check(value, strict=True))
    except OptionError as err:
        raise RuntypeConfigurationError(str(err)) from None


@dataclass
class PagingStats:
    """What one listing did, for tests and benchmarks (pass ``stats=`` to :func:`iter_offset_pages_concurrently`)."""

    concurrent: bool = False
    """Whether pages after the first were fetched concurrently."""
    peak_in_flight: int = 0
    """Most pages being fetched at the same time (worker side)."""
    peak_held: int = 0
    """Most pages held at once: in flight, or complete and waiting for their turn."""
    peak_held_bytes: int = 0
    """Most bytes held at once by pages complete and waiting for their turn (:class:`Unread` sizes)."""
    peak_window: int = 0
    rate_limited: int = 0
    """429 answers seen by the workers (each was retried by the transport)."""
    windows: list[int] = field(default_factory=list)
    """The window after each change, in order (the first 1,000 changes)."""
    fallback: str | None = None
    """Why the listing went sequential part-way, if it did."""
    inline_pages: int = 0
    """Pages after the first fetched in the consumer's thread before going concurrent (adaptive paging)."""


class _Abandoned(Exception):
    """Raised in a worker whose page is no longer wanted: the listing ended, failed before it, or was closed."""


class Throttle:
    """The window of requests in flight (AIMD between 1 and ``bound``), shared by the workers of one listing.

    Workers call :meth:`before_attempt` before every attempt (it waits out a server-requested pause and records
    the window's epoch), :meth:`rate_limited` on a 429 and :meth:`sleep` for retry waits (it returns early, with
    :class:`_Abandoned`, once their page is no longer wanted).
    """

    def __init__(
        self,
        bound: int,
        *,
        path: str = "",
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        stats: PagingStats | None = None,
        window: int = 1,
    ) -> None:
        self.bound = bound
        self.path = path
        self.window = max(1, min(window, bound))
        self.stopped = threading.Event()
        self.cutoff = math.inf
        """Pages at or past this offset are abandoned: this page failed, so they would never be yielded."""
        self.stats = stats if stats is not None else PagingStats()
        self.stats.peak_window = max(self.stats.peak_window, self.window)
        if self.window > 1:
            self.stats.windows.append(self.window)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._local = threading.local()
        self._slow_start = True
        self._credit = 0
        self._epoch = 0
        self._paused_until = -math.inf
        self._active = 0
        self.starved = True
        """Whether the consumer had to wait for its next page when it last asked: the window grows only then
        (pages that are ready before they are wanted need no more requests in flight)."""

    # ---- the coordinator's side

    def stop(self) -> None:
        self.stopped.set()

    def cut(self, offset: int) -> None:
        with self._lock:
            self.cutoff = min(self.cutoff, offset)

    # ---- the workers' side

    def check(self) -> None:
        """Raise :class:`_Abandoned` if this worker's page is no longer wanted."""
        if self.stopped.is_set() or getattr(self._local, "offset", -1) >= self.cutoff:
            raise _Abandoned

    def sleep(self, seconds: float) -> None:
        """A retry wait that ends early once the page is abandoned (the injected sleep when there is one)."""
        if self._sleep is time.sleep:
            self.stopped.wait(seconds)
        else:
            self._sleep(seconds)
        self.check()

    def before_attempt(self, deadline: float | None = None) -> None:
        """Wait out a pause the server asked for (never past ``deadline``), then note the window's epoch."""
        with self._lock:
            until = self._paused_until
        now = self._clock()
        pause = min(until, deadline) - now if deadline is not None else until - now
        if pause > 0:
            self.sleep(pause)
        self.check()
        with self._lock:
            self._local.epoch = self._epoch

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429: halve the window, unless it was already halved since this attempt started; pause new attempts."""
        with self._lock:
            self.stats.rate_limited += 1
            if retry_after:
                self._paused_until = max(self._paused_until, self._clock() + min(float(retry_after), MAX_RETRY_AFTER))
            if getattr(self._local, "epoch", self._epoch) != self._epoch:
                return
            before, self.window = self.window, max(1, self.window // 2)
            self._epoch += 1
            self._slow_start = False
            self._credit = 0
            self._trace()
        log.info(
            "Runtype API GET %s answered 429 (rate limited): %d -> %d pages at a time", self.path, before, self.window
        )

    def _grow(self) -> None:
        with self._lock:
            if not self.starved:
                return
            if self._slow_start:
                self._credit = self.window
            else:
                self._credit += 1
            if self._credit >= self.window and self.window < self.bound:
                self.window += 1
                self._credit = 0
                self._trace()

    def _trace(self) -> None:
        self.stats.peak_window = max(self.stats.peak_window, self.window)
        if len(self.stats.windows) < _MAX_TRACE:
            self.stats.windows.append(self.window)

    def run(self, offset: int, fetch: Callable[[int], Any]) -> Any:
        """Fetch the page at ``offset`` in this worker thread, keeping the window and the counters."""
        self._local.offset = offset
        self.check()
        with self._lock:
            self._active += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._active)
        try:
            page = fetch(offset)
        except _Abandoned:
            raise
        except BaseException:
            self.cut(offset)  # later pages are of no use: this error is raised when the consumer reaches it
            raise
        finally:
            with self._lock:
                self._active -= 1
        self._grow()
        return page


WorkerFetch = Callable[[int], Any]
"""Fetches the page at an offset; made once per worker thread, used only there (``close()`` called if present)."""


class _Concurrent:
    """Fetches the pages after the first one on worker threads; yields their rows in order."""

    def __init__(
        self,
        paging: OffsetPaging,
        open_worker_fetch: Callable[[Throttle], WorkerFetch],
        throttle: Throttle,
        *,
        page_size: int,
        total: int,
        max_held_bytes: int = MAX_HELD_BYTES,
    ) -> None:
        self.paging = paging
        self.max_held_bytes = max_held_bytes
        self.page_bytes = 0
        """The largest page seen so far (its bytes): what a page in flight is expected to hold."""
        self.open_worker_fetch = open_worker_fetch
        self.throttle = throttle
        self.page_size = page_size
        self.horizon = total
        self.next_offset = paging.next_offset()
        self.planned = paging.pages
        self.held: dict[int, Future[Any]] = {}
        self.landed: queue.SimpleQueue[None] = queue.SimpleQueue()
        """One entry per page that finished (the consumer's wake-up: cheaper than ``wait()`` on every future)."""
        self._local = threading.local()
        self._fetchers: list[WorkerFetch] = []
        self._fetchers_lock = threading.Lock()

    def _task(self, offset: int) -> Any:
        fetch = getattr(self._local, "fetch", None)
        if fetch is None:
            self.throttle.check()
            fetch = self._local.fetch = self.open_worker_fetch(self.throttle)
            with self._fetchers_lock:
                self._fetchers.append(fetch)
        return self.throttle.run(offset, fetch)

    def _held_bytes(self) -> tuple[int, int]:
        """Bytes of the pages landed and waiting (learning the largest page size), and the pages in flight."""
        landed = flying = 0
        for future in self.held.values():
            if not future.done():
                flying += 1
            elif not future.cancelled() and future.exception() is None:
                size = getattr(future.result(), "size", 0)
                landed += size
                self.page_bytes = max(self.page_bytes, size)
        self.throttle.stats.peak_held_bytes = max(self.throttle.stats.peak_held_bytes, landed)
        return landed, flying

    def _top_up(self, executor: ThreadPoolExecutor) -> None:
        """Start pages, in order, while the window, the held pages and bytes, the total and the page cap allow."""
        throttle = self.throttle
        window = throttle.window  # as it is now: workers may change it meanwhile
        landed, flying = self._held_bytes()
        while (
            throttle.cutoff == math.inf
            and self.next_offset < self.horizon
            and self.planned < self.paging.max_pages
            and len(self.held) < HELD_PAGES_PER_REQUEST * window
            and flying < window
            and (not self.held or landed + (flying + 1) * self.page_bytes <= self.max_held_bytes)
        ):
            future = self.held[self.next_offset] = executor.submit(self._task, self.next_offset)
            future.add_done_callback(self._landed)
            self.next_offset += self.page_size
            self.planned += 1
            flying += 1
        throttle.stats.peak_held = max(throttle.stats.peak_held, len(self.held))

    def _page_at(self, offset: int, executor: ThreadPoolExecutor) -> Future[Any] | None:
        """The finished future of the page at ``offset``; None if that page is not one of the planned pages.

        While it waits, the consumer is starved (the window may grow) and pages are started as slots free up.
        """
        if offset not in self.held:
            self._top_up(executor)
        future = self.held.get(offset)
        self.throttle.starved = future is not None and not future.done()
        while future is not None and not future.done():
            self.landed.get()  # a page finished (maybe an earlier one: then the loop looks again)
            if not future.done():
                self._top_up(executor)
        return future

    def _landed(self, future: Future[Any]) -> None:
        self.landed.put(None)

    def pages(self) -> Iterator[list[Any]]:
        """Rows of the planned pages in order, a page at a time; returns early (paging not done) to let the caller
        go sequential."""
        paging, throttle = self.paging, self.throttle
        executor = ThreadPoolExecutor(max_workers=throttle.bound, thread_name_prefix="runtype-pages")
        try:
            while not paging.done:
                offset = paging.next_offset()
                future = self._page_at(offset, executor)
                if future is None:
                    throttle.stats.fallback = f"no planned page at offset={offset}"
                    log.debug(
                        "Runtype API GET %s: fetching the rest from offset=%d one page at a time", paging.path, offset
                    )
                    return
                page = self.held.pop(offset).result()
                if isinstance(page, Unread):
                    page = page()
                rows = paging.receive(page)  # judged before anything more is asked for
                if page.pagination.total is not None:
                    self.horizon = page.pagination.total
                del page, future
                if not paging.done and len(rows) == self.page_size:  # the plan holds: keep the window full
                    self._top_up(executor)  # while the consumer reads these rows
                yield rows
                del rows
        finally:
            throttle.stop()
            for future in self.held.values():
                future.cancel()
            self.held.clear()
            executor.shutdown(wait=True, cancel_futures=True)
            for fetch in self._fetchers:
                close = getattr(fetch, "close", None)
                if close is not None:
                    close()


def opening_window(waited: float, work: float, bound: int) -> int:
    """Pages to have in flight when adaptive paging goes concurrent: enough to cover one page's wait for the
    server (``waited`` seconds) with the consumer's own work per page (``work`` seconds), at most ``bound``."""
    return max(1, min(bound, math.ceil(waited / max(work, 1e-4))))


def _waited(fetch: Callable[[int], Any], offset: int) -> tuple[Any, float]:
    """The page at ``offset`` and the seconds this thread waited for it (wall time minus its CPU time)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    page = fetch(offset)
    return page, (time.perf_counter() - wall) - (time.thread_time() - cpu)


def iter_offset_pages_concurrently(
    fetch: Callable[[int], Any],
    open_worker_fetch: Callable[[Throttle], WorkerFetch],
    path: str,
    *,
    page_size: int,
    max_concurrent_pages: int,
    max_pages: int = DEFAULT_MAX_PAGES,
    sleep: Callable[[float], Any] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stats: PagingStats | None = None,
    max_held_bytes: int = MAX_HELD_BYTES,
    adaptive: bool = False,
    inline_wait: float = INLINE_WAIT,
) -> Iterator[list[Any]]:
    """Every page of an offset-paged listing (the rows of each, as a list), pages after the first fetched
    concurrently (see the module; ``adaptive``: in the consumer's thread while each page waits for the server
    less than ``inline_wait`` seconds).

    ``fetch(offset)`` runs in the consumer's thread (the first page, and sequential paging);
    ``open_worker_fetch(throttle)`` is called once in each worker thread and returns that thread's fetch, which
    reports 429s and waits with ``throttle``. ``sleep`` and ``clock`` are those of the caller (retry waits).
    :func:`~runtype_provider.api.paging.flatten` gives the rows.
    """
    check_page_size(page_size)
    check_max_concurrent_pages(max_concurrent_pages)
    if max_concurrent_pages == 1:
        return iter_offset_pages(fetch, path, max_pages=max_pages)
    paging = OffsetPaging(path, max_pages=max_pages)
    stats = stats if stats is not None else PagingStats()

    def pages() -> Iterator[list[Any]]:
        page, waited = _waited(fetch, paging.next_offset())
        total: int | None = None
        slow = 0  # pages in a row that waited more than inline_wait
        while True:
            rows = paging.receive(page)
            total = page.pagination.total if page.pagination.total is not None else total
            planned = not paging.done and total is not None and len(rows) == page_size
            del page
            asked = time.perf_counter()
            yield rows
            work = time.perf_counter() - asked  # the consumer's own time on these rows
            del rows
            slow = slow + 1 if waited > inline_wait else 0
            if not planned or not adaptive or waited >= SWITCH_WAITS * inline_wait or slow >= 3:
                break
            page, waited = _waited(fetch, paging.next_offset())
            stats.inline_pages += 1
        if planned and total is not None:
            window = opening_window(waited, work, max_concurrent_pages) if adaptive else 1
            throttle = Throttle(
                max_concurrent_pages, path=path, sleep=sleep, clock=clock, stats=stats, window=window
            )  # fmt: skip
            throttle.stats.concurrent = True
            log.debug("Runtype API GET %s: %d rows, up to %d pages at a time", path, total, max_concurrent_pages)
            concurrent_pages = _Concurrent(
                paging, open_worker_fetch, throttle, page_size=page_size, total=total, max_held_bytes=max_held_bytes
            )
            yield from concurrent_pages.pages()
        while not paging.done:
            yield paging.receive(fetch(paging.next_offset()))

    return pages()


class Unread:
    """A 2xx answer a worker read off the wire (its bytes, size-checked), decoded and parsed when its turn comes,
    in the consumer's thread: a page waiting for its turn holds its bytes (about 50 kB for 100 rows), not its
    models (about 350 kB). Decoding errors are not retried by the transport, so deferring them changes nothing.
    ``size`` is the bytes it holds (what the held-bytes bound counts)."""

    __slots__ = ("_read", "size")

    def __init__(self, read: Callable[[], Any], size: int = 0) -> None:
        self._read = read
        self.size = size

    def __call__(self) -> Any:
        return self._read()
