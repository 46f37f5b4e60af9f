"""runtype_provider.client.concurrent_paging.

Result pages fetched concurrently: order, exactly once, bounds, back-pressure, errors and early stops.

The first part drives :func:`iter_offset_pages_concurrently` (rows flattened) with fake listings (no I/O;
completion order forced with gates); the second drives the hook and the results operator against the local
Runtype, which answers after ``latency_seconds`` and counts the requests it is handling at once.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtype_provider.api.paging import flatten
from runtype_provider.client.concurrent_paging import (
    DEFAULT_MAX_CONCURRENT_PAGES,
    PagingStats,
    Throttle,
    Unread,
    _Abandoned,
    iter_offset_pages_concurrently,
    opening_window,
)
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeNotFoundError, RuntypeResponseError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator
from runtype_provider.runs.reference import RunReference
from runtype_provider.testing import LocalRuntype

PATH = "/v1/schedules/batch/b1/results"
MIB = 1024 * 1024
WORKER_PREFIX = "runtype-pages"


def worker_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(WORKER_PREFIX)]


def page(offset: int, rows: list[int], total: int | None, has_more: bool) -> SimpleNamespace:
    return SimpleNamespace(data=rows, pagination=SimpleNamespace(offset=offset, total=total, has_more=has_more))


class Listing:
    """A fake offset-paged listing of the integers ``0..size-1``; records every fetch (thread-safe).

    ``total`` is what the pages report (default ``size``; None: no total); ``answer(offset, rows)`` may
    replace a page; ``before(offset, throttle)`` runs before a page is answered (gates, failures, retry waits).
    """

    def __init__(
        self,
        size: int,
        *,
        page_size: int = 10,
        total: Any = "size",
        answer: Callable[[int, list[int]], Any] | None = None,
        before: Callable[[int, Throttle | None], None] | None = None,
    ) -> None:
        self.size = size
        self.page_size = page_size
        self.total = size if total == "size" else total
        self.answer = answer
        self.before = before
        self.lock = threading.Condition()
        self.started: list[int] = []
        self.completed: list[int] = []
        self.threads: list[str] = []
        self.running: set[int] = set()
        self.peak = 0
        self.opened = 0
        self.closed = 0

    def fetch(self, offset: int, throttle: Throttle | None = None) -> Any:
        with self.lock:
            self.started.append(offset)
            self.threads.append(threading.current_thread().name)
            self.running.add(offset)
            self.peak = max(self.peak, len(self.running))
            self.lock.notify_all()
        try:
            if self.before is not None:
                self.before(offset, throttle)
            rows = list(range(offset, min(offset + self.page_size, self.size)))
            if self.answer is not None:
                return self.answer(offset, rows)
            total = self.total if isinstance(self.total, int) or self.total is None else self.total(offset)
            return page(offset, rows, total, offset + len(rows) < self.size)
        finally:
            with self.lock:
                self.running.discard(offset)
                self.completed.append(offset)
                self.lock.notify_all()

    def open(self, throttle: Throttle) -> Callable[[int], Any]:
        listing = self

        class Fetch:
            def __call__(self, offset: int) -> Any:
                return listing.fetch(offset, throttle)

            def close(self) -> None:
                with listing.lock:
                    listing.closed += 1

        with self.lock:
            self.opened += 1
        return Fetch()

    def rows(self, bound: int = 4, stats: PagingStats | None = None, **kwargs: Any) -> Iterator[int]:
        return flatten(iter_offset_pages_concurrently(
            self.fetch, self.open, PATH, page_size=self.page_size, max_concurrent_pages=bound, stats=stats, **kwargs
        ))  # fmt: skip

    def offsets(self, end: int | None = None, step: int | None = None) -> list[int]:
        return list(range(0, self.size if end is None else end, step or self.page_size))


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    yield
    assert worker_threads() == []


# ---- order, exactly once, and what is requested ------------------------------------------------------------------


def test_rows_come_in_page_order_each_once_although_pages_complete_out_of_order():
    def highest_first(offset: int, throttle: Throttle | None) -> None:
        # A page completes once it is the latest of two or more being fetched (or, alone, after a while):
        # while several are in flight, later pages complete first.
        with listing.lock:
            listing.lock.wait_for(lambda: offset == max(listing.running) and len(listing.running) > 1, timeout=0.05)

    listing = Listing(300, before=highest_first)
    stats = PagingStats()

    assert list(listing.rows(bound=4, stats=stats)) == list(range(300))
    assert sorted(listing.started) == listing.offsets()  # each page requested once
    assert listing.completed != sorted(listing.completed)  # and they did complete out of order
    assert stats.concurrent and stats.peak_in_flight > 1


def test_requests_never_exceed_the_bound_and_the_window_reaches_it():
    listing = Listing(400, before=lambda offset, throttle: time.sleep(0.002))
    stats = PagingStats()

    assert list(listing.rows(bound=3, stats=stats)) == list(range(400))
    assert listing.peak <= 3 and stats.peak_in_flight <= 3
    assert stats.peak_window == 3
    assert stats.windows == [2, 3]  # slow start: one more per page received, never above the bound


def test_no_page_is_requested_at_or_past_the_total():
    # The server keeps saying hasMore (it has rows past its total): only the pages that start before the
    # total are asked for (the last one's rows are all yielded, as sequential paging does).
    listing = Listing(200, total=95)

    assert list(listing.rows()) == list(range(100))
    assert sorted(listing.started) == listing.offsets(95)


def test_a_total_that_grows_while_paging_is_followed_and_never_overtaken():
    listing = Listing(80, total=lambda offset: 50 if offset < 30 else 80)

    assert list(listing.rows()) == list(range(80))
    assert sorted(listing.started) == listing.offsets(80)


def test_the_first_page_is_fetched_in_the_consumers_thread_the_rest_by_workers_with_their_own_fetch():
    listing = Listing(100)

    assert list(listing.rows(bound=2)) == list(range(100))
    assert listing.threads[0] == threading.current_thread().name
    assert all(name.startswith(WORKER_PREFIX) for name in listing.threads[1:])
    assert 1 <= listing.opened <= 2 and listing.closed == listing.opened  # one fetch per worker, all closed


def test_nothing_is_fetched_before_the_first_row_is_asked_for_nor_a_second_page_before_the_first_pages_rows():
    listing = Listing(100)
    rows = listing.rows(bound=4)
    try:
        assert listing.started == []
        assert [next(rows) for _ in range(10)] == list(range(10))
        assert listing.started == [0]
    finally:
        rows.close()


def short_page_at(where: int, size: int) -> Callable[[int, list[int]], Any]:
    """Answers like the listing, except the page at ``where`` holds only ``size`` rows."""

    def answer(offset: int, rows: list[int]) -> Any:
        rows = rows[:size] if offset == where else rows
        return page(offset, rows, 100, True)

    return answer


@pytest.mark.parametrize(
    ("listing", "bound", "offsets"),
    [
        (Listing(100, total=None), 4, list(range(0, 100, 10))),
        (Listing(100, answer=lambda offset, rows: page(offset, rows[:5], 100, offset < 95)), 4, list(range(0, 100, 5))),
        (Listing(100), 1, list(range(0, 100, 10))),
    ],
    ids=["no-total", "server-pages-smaller", "one-at-a-time"],
)
def test_paging_is_sequential_in_the_consumers_thread_when_the_plan_cannot_be_made(listing, bound, offsets):
    stats = PagingStats()

    assert list(listing.rows(bound=bound, stats=stats)) == list(range(100))
    assert listing.started == offsets
    assert set(listing.threads) == {threading.current_thread().name}
    assert listing.opened == 0 and not stats.concurrent


def test_a_later_page_of_another_size_sends_the_rest_sequential_from_where_it_ended():
    listing = Listing(100, answer=short_page_at(20, 5))
    stats = PagingStats()

    assert list(listing.rows(bound=2, stats=stats)) == list(range(100))
    assert stats.fallback == "no planned page at offset=25"
    tail = listing.started[listing.started.index(25) :]
    assert tail == [25, 35, 45, 55, 65, 75, 85, 95]  # sequential from offset 25, in the consumer's thread
    assert set(listing.threads[listing.started.index(25) :]) == {threading.current_thread().name}


# ---- the guarantees of runtype_provider.api.paging ------------------------------------------------------------------


def test_a_server_that_ignores_the_offset_is_refused_after_the_first_pages_rows():
    listing = Listing(100, answer=lambda offset, rows: page(0, list(range(10)), 100, True))
    seen: list[int] = []

    with pytest.raises(RuntypeResponseError, match=rf"^Runtype API GET {PATH} ignored offset=10 \(answered offset=0\)"):
        for row in listing.rows():
            seen.append(row)
    assert seen == list(range(10))
    assert len(listing.started) <= 1 + 2 * 4  # the first page and at most the read-ahead, not all 10 pages


def test_has_more_without_rows_is_refused_after_the_rows_before_it():
    listing = Listing(100, answer=lambda offset, rows: page(offset, [] if offset == 30 else rows, 100, True))
    seen: list[int] = []

    with pytest.raises(RuntypeResponseError, match="answered hasMore: true with no rows at offset=30 of total=100"):
        for row in listing.rows():
            seen.append(row)
    assert seen == list(range(30))


def test_has_more_false_ends_the_listing_before_the_total():
    listing = Listing(100, answer=lambda offset, rows: page(offset, rows, 100, offset < 20))

    assert list(listing.rows()) == list(range(30))


def test_the_page_cap_ends_the_listing_with_its_error_after_exactly_that_many_pages():
    listing = Listing(1000)
    seen: list[int] = []

    with pytest.raises(RuntypeResponseError, match=r"still had more rows after 4 pages \(40 rows\)"):
        for row in listing.rows(max_pages=4):
            seen.append(row)
    assert seen == list(range(40))
    assert sorted(listing.started) == listing.offsets(40)


@pytest.mark.parametrize("bound", [0, 33, True, 2.5, "4", None])
def test_a_bad_bound_is_refused_by_name_before_any_fetch(bound):
    listing = Listing(100)

    with pytest.raises(RuntypeConfigurationError, match=r"^'max_concurrent_pages' must be an integer from 1 to 32"):
        listing.rows(bound=bound)
    assert listing.started == []


# ---- bounded memory, errors and early stops -------------------------------------------------------------------------


def test_pages_held_never_exceed_twice_the_window_and_nothing_runs_ahead_of_that():
    bound, straggler = 3, 60  # the page at offset 60 (the 7th) is slow: pages after it pile up, but only so far
    waiting_at_release: list[int] = []

    def slow_straggler(offset: int, throttle: Throttle | None) -> None:
        if offset == straggler:
            with listing.lock:
                listing.lock.wait_for(lambda: len(listing.started) - 1 >= 6 + 2 * bound - 1, timeout=10)
                waiting_at_release.append(len(listing.started) - 1)

    listing = Listing(400, before=slow_straggler)
    stats = PagingStats()

    assert list(listing.rows(bound=bound, stats=stats)) == list(range(400))
    # Pages 1-5 were consumed; the straggler and the 2 * bound - 1 pages after it were all that was held.
    assert waiting_at_release == [6 + 2 * bound - 1]
    assert stats.peak_held == 2 * bound


@pytest.mark.parametrize(("page_bytes", "most_held"), [(30 * MIB, 2), (0, 2 * 4)])
def test_the_bytes_held_are_bounded_too_so_huge_pages_are_not_fetched_eight_at_a_time(page_bytes, most_held):
    """Pages of 30 MB under a 64 MiB budget: at most two are held (landed or in flight), however large the window;
    pages of no known size are bounded by count only."""
    straggler = 20  # held back (bounded wait) until more pages started than the byte budget allows

    def worker_page(offset: int, rows: list[int]) -> Any:
        answer = page(offset, rows, 400, offset + len(rows) < 400)
        if threading.current_thread().name.startswith(WORKER_PREFIX):
            return Unread(lambda: answer, page_bytes)
        return answer

    def hold_straggler(offset: int, throttle: Throttle | None) -> None:
        if offset == straggler:
            with listing.lock:
                listing.lock.wait_for(lambda: len(listing.started) >= 10, timeout=1.0)

    listing = Listing(400, answer=worker_page, before=hold_straggler)
    stats = PagingStats()

    assert list(listing.rows(bound=4, stats=stats, max_held_bytes=64 * MIB)) == list(range(400))
    assert stats.peak_held == most_held
    assert stats.peak_held_bytes <= 64 * MIB


def test_nothing_is_fetched_while_the_consumer_is_not_asking_for_rows():
    listing = Listing(1000)
    rows = listing.rows(bound=4)
    try:
        assert [next(rows) for _ in range(15)] == list(range(15))
        time.sleep(0.2)  # the consumer pauses: whatever was started finishes, nothing new starts

        assert len(listing.started) <= 2 + 2 * 4  # the first page, the consumer's page, and the read-ahead
        assert sorted(listing.completed) == sorted(listing.started)
    finally:
        rows.close()


def test_an_error_on_a_page_is_raised_after_every_row_before_it_and_stops_the_workers():
    failing = 50

    def fail(offset: int, throttle: Throttle | None) -> None:
        if offset == failing:
            raise RuntypeNotFoundError(method="GET", path=PATH, status_code=404, error="Batch not found")

    listing = Listing(1000, before=fail)
    seen: list[int] = []

    with pytest.raises(RuntypeNotFoundError, match="Batch not found"):
        for row in listing.rows(bound=4):
            seen.append(row)
    assert seen == list(range(failing))
    assert worker_threads() == []  # every worker ended before the error reached the consumer
    assert max(listing.started) <= failing + 2 * 4 * 10  # at most the read-ahead past the failing page


def test_an_early_stop_ends_a_retry_wait_at_once_and_closes_every_workers_session():
    waits: list[tuple[float, type[BaseException] | None]] = []
    in_wait = threading.Event()

    def retry_wait(offset: int, throttle: Throttle | None) -> None:
        if offset != 20:
            time.sleep(0.005)  # the consumer is waiting when a page completes, so the window grows to 2
        elif throttle is not None:
            in_wait.set()
            start = time.monotonic()
            try:
                throttle.sleep(30)  # what the transport does between two attempts
            except _Abandoned:
                waits.append((time.monotonic() - start, _Abandoned))
                raise
            waits.append((time.monotonic() - start, None))

    listing = Listing(1000, before=retry_wait)
    rows = listing.rows(bound=2)
    assert [next(rows) for _ in range(15)] == list(range(15))
    assert in_wait.wait(10)

    rows.close()

    assert worker_threads() == []
    assert len(waits) == 1 and waits[0][1] is _Abandoned and waits[0][0] < 30  # the wait was cut short
    assert listing.closed == listing.opened >= 1


def test_dropping_the_iterator_stops_its_workers_too():
    listing = Listing(1000)
    rows = listing.rows(bound=4)
    assert next(rows) == 0
    assert [next(rows) for _ in range(20)] == list(range(1, 21))

    del rows
    gc.collect()

    assert worker_threads() == []
    assert listing.closed == listing.opened


# ---- the window: AIMD ------------------------------------------------------------------------------------------------


def succeed(throttle: Throttle, times: int) -> None:
    for _ in range(times):
        throttle.run(0, lambda offset: None)


def test_the_window_starts_at_one_grows_to_the_bound_halves_once_per_round_on_429_then_grows_additively():
    throttle = Throttle(8)

    succeed(throttle, 10)
    assert throttle.window == 8  # slow start: one more per page, never above the bound

    throttle.before_attempt()
    throttle.rate_limited(None)
    assert throttle.window == 4
    throttle.rate_limited(None)  # another 429 to a request sent before the window was halved
    assert throttle.window == 4
    throttle.before_attempt()
    throttle.rate_limited(None)  # a 429 to a request sent after it
    assert throttle.window == 2

    succeed(throttle, 1)
    assert throttle.window == 2  # additive increase: one more per window of pages received
    succeed(throttle, 1)
    assert throttle.window == 3
    succeed(throttle, 3)
    assert throttle.window == 4
    assert throttle.stats.windows == [2, 3, 4, 5, 6, 7, 8, 4, 2, 3, 4]
    assert (throttle.stats.rate_limited, throttle.stats.peak_window) == (3, 8)


def test_the_window_never_drops_below_one_and_grows_only_while_the_consumer_waits():
    throttle = Throttle(4)
    for _ in range(3):
        throttle.before_attempt()
        throttle.rate_limited(None)
    assert throttle.window == 1

    throttle.starved = False
    succeed(throttle, 5)
    assert throttle.window == 1
    throttle.starved = True
    succeed(throttle, 1)
    assert throttle.window == 2


def test_a_retry_after_holds_every_new_attempt_but_never_past_the_deadline():
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    throttle = Throttle(4, sleep=sleep, clock=lambda: now[0])
    throttle.before_attempt()
    throttle.rate_limited(2)
    throttle.before_attempt()
    assert waits == [2.0]

    throttle.rate_limited(5)
    throttle.before_attempt(deadline=now[0] + 0.5)
    assert waits == [2.0, 0.5]  # the transport then refuses the attempt with its deadline error


def test_a_stopped_throttle_refuses_new_attempts_and_ends_waits():
    throttle = Throttle(4)
    throttle.stop()

    with pytest.raises(_Abandoned):
        throttle.before_attempt()
    with pytest.raises(_Abandoned):
        throttle.sleep(30)


# ---- through the hook and the operator, against the local Runtype -------------------------------------------------


class InFlight:
    """ASGI wrapper counting the ``/v1`` requests the server is handling at the same time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        counted = scope["type"] == "http" and scope["path"].startswith("/v1/")
        if counted:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            if counted:
                with self.lock:
                    self.now -= 1


@pytest.fixture
def local_runtype(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[LocalRuntype, InFlight]]]:
    """``local_runtype(latency, **extra)``: a started local Runtype answering after ``latency`` seconds, with
    an in-flight counter, and ``runtype_default`` pointing at it with the given connection extras."""
    servers: list[LocalRuntype] = []

    def start(latency: float, **extra: Any) -> tuple[LocalRuntype, InFlight]:
        server = LocalRuntype(queued_seconds=0, running_seconds=0, latency_seconds=latency)
        counter = InFlight(server.app)
        server.app = counter  # type: ignore[assignment]
        servers.append(server.start())
        conn = {"conn_type": "runtype", "host": server.url, "password": server.api_key, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
        return server, counter

    yield start
    for server in servers:
        server.stop()


def finished_run(server: LocalRuntype, records: int) -> tuple[RunReference, list[str]]:
    ids = [f"rec_{i:05d}" for i in range(records)]
    server.seed_schedule(schedule_id="sch_many", record_ids=ids)
    started = RuntypeHook().run_schedule_now("sch_many")
    server.clear_requests()
    return RunReference(schedule_id="sch_many", batch_execution_id=started.batch_execution_id), ids


def result_offsets(server: LocalRuntype, status: int = 200) -> list[int]:
    return [
        int(parse_qs(r["query"])["offset"][0])
        for r in server.requests
        if r["operation"] == "get_batch_results" and r["status"] == status
    ]


def test_the_hook_collects_every_row_in_order_with_at_most_the_connections_bound_in_flight(local_runtype):
    server, counter = local_runtype(0.05, max_concurrent_pages=3)
    run, ids = finished_run(server, 2_950)

    assert [row.record_id for row in RuntypeHook().iter_run_results(run)] == ids
    assert sorted(result_offsets(server)) == list(range(0, 2_950, 100))  # each page once, none past the total
    assert 1 < counter.peak <= 3


def test_the_default_bound_is_the_documented_one(local_runtype):
    local_runtype(0)
    assert RuntypeHook().settings.max_concurrent_pages == DEFAULT_MAX_CONCURRENT_PAGES == 16


def test_429s_halve_the_window_and_every_row_still_comes_once(local_runtype, sleeps, caplog):
    caplog.set_level(logging.INFO, logger="runtype_provider.client.concurrent_paging")
    server, _ = local_runtype(0.02)
    run, ids = finished_run(server, 3_000)
    rows = RuntypeHook().iter_run_results(run)
    collected = [next(rows).record_id]
    server.inject_fault("get_batch_results", "rate_limit", times=3, retry_after=0)

    collected += [row.record_id for row in rows]

    assert collected == ids
    assert len(result_offsets(server, 429)) == 3  # each refused page was asked again and answered once
    assert sorted(result_offsets(server)) == list(range(0, 3_000, 100))
    halvings = [r.getMessage() for r in caplog.records if "answered 429 (rate limited)" in r.getMessage()]
    assert halvings and all(
        int(m.split(": ")[-1].split(" -> ")[1].split()[0]) == max(1, int(m.split(": ")[-1].split(" -> ")[0]) // 2)
        for m in halvings
    )


def test_an_error_answer_mid_way_raises_the_typed_error_after_the_rows_before_it(local_runtype, sleeps):
    server, _ = local_runtype(0.01)
    run, ids = finished_run(server, 1_000)
    rows = RuntypeHook().iter_run_results(run)
    collected = [next(rows).record_id]
    server.inject_fault("get_batch_results", "server_error", status=404)  # the next request: the page at 100

    with pytest.raises(RuntypeNotFoundError, match="HTTP 404"):
        for row in rows:
            collected.append(row.record_id)

    assert collected == ids[:100]
    assert worker_threads() == []


def test_the_operators_argument_overrides_the_connection_extra(local_runtype, tmp_path):
    server, counter = local_runtype(0.05, max_concurrent_pages=6)
    run, ids = finished_run(server, 2_000)
    target = tmp_path / "rows.jsonl"
    op = RuntypeScheduleRunResultsOperator(
        task_id="results", run=run.to_xcom(), output_path=str(target), max_concurrent_pages=2
    )

    out = op.execute({"ti": MagicMock()})

    with target.open() as handle:
        assert [json.loads(line)["record_id"] for line in handle] == ids
    assert out["row_count"] == 2_000
    assert 1 < counter.peak <= 2


# ---- adaptive paging: in the consumer's thread while the server answers fast, concurrent once waiting dominates


@given(
    waited=st.floats(0, 10, allow_nan=False),
    work=st.floats(0, 10, allow_nan=False),
    bound=st.integers(1, 32),
)
def test_the_opening_window_covers_one_wait_with_the_consumers_work_within_the_bound(waited, work, bound):
    window = opening_window(waited, work, bound)

    assert 1 <= window <= bound
    assert window == bound or window * max(work, 1e-4) >= waited  # enough pages to cover the wait, unless capped
    assert opening_window(waited * 2, work, bound) >= window  # a longer wait never opens fewer


def test_adaptive_paging_stays_in_the_consumers_thread_while_pages_come_fast():
    listing = Listing(100)
    stats = PagingStats()

    assert list(listing.rows(bound=4, stats=stats, adaptive=True, inline_wait=math.inf)) == list(range(100))
    assert listing.started == listing.offsets()
    assert set(listing.threads) == {threading.current_thread().name}
    assert listing.opened == 0 and not stats.concurrent and stats.inline_pages == 9


def test_adaptive_paging_opens_the_window_at_once_when_waiting_dominates():
    listing = Listing(200, before=lambda offset, throttle: time.sleep(0.02))  # every page waits 20 ms
    stats = PagingStats()

    assert list(listing.rows(bound=4, stats=stats, adaptive=True, inline_wait=0.0004)) == list(range(200))
    assert sorted(listing.started) == listing.offsets()
    assert stats.concurrent and stats.inline_pages == 0
    assert stats.windows[0] == 4  # opened at the bound (a 20 ms wait against microseconds of work), not at 1
    assert all(name.startswith(WORKER_PREFIX) for name in listing.threads[1:])


def test_adaptive_paging_goes_concurrent_after_three_slow_pages_in_a_row_not_after_one():
    slow = {20, 40, 50, 60}  # one slow page alone, then three in a row
    listing = Listing(200, before=lambda offset, throttle: time.sleep(0.008 if offset in slow else 0))
    stats = PagingStats()

    assert list(listing.rows(bound=4, stats=stats, adaptive=True, inline_wait=0.002)) == list(range(200))
    consumer = threading.current_thread().name
    inline = [offset for offset, thread in zip(listing.started, listing.threads, strict=True) if thread == consumer]
    assert inline == listing.offsets(70)  # through the third slow page in a row (60), then workers
    assert stats.concurrent and stats.inline_pages == 6


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(1, 120),
    page_size=st.integers(1, 15),
    bound=st.integers(2, 6),
    slow_page=st.integers(0, 12),
)
def test_adaptive_paging_yields_every_row_once_in_order_whenever_it_switches(size, page_size, bound, slow_page):
    slow_offset = slow_page * page_size
    listing = Listing(
        size, page_size=page_size, before=lambda offset, throttle: time.sleep(0.012 if offset == slow_offset else 0)
    )
    stats = PagingStats()

    assert list(listing.rows(bound=bound, stats=stats, adaptive=True, inline_wait=0.0002)) == list(range(size))
    assert sorted(listing.started) == listing.offsets()  # each page requested once
    consumer = threading.current_thread().name
    # once the slow page was seen (waited 12 ms >= 40 x 0.2 ms), no later page is fetched in the consumer's thread
    assert all(
        thread != consumer
        for offset, thread in zip(listing.started, listing.threads, strict=True)
        if offset > slow_offset
    )
    assert worker_threads() == []
