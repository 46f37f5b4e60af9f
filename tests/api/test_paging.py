"""runtype_provider.api.paging: paging without I/O: when a listing continues, when it stops, and that it always ends
(examples, then properties over arbitrary page sequences with hypothesis)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from typing import Any

import hypothesis.configuration
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtype_provider.api.paging import (
    DEFAULT_ITERATOR_PAGE_SIZE,
    DEFAULT_MAX_PAGES,
    CursorPaging,
    OffsetPaging,
    iter_cursor,
    iter_offset,
)
from runtype_provider.api.responses import RecordResultPage, SchedulePage
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeResponseError

# Hypothesis keeps caches on disk; keep them out of the checkout.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

PATH = "/v1/schedules"
RESULTS = "/v1/schedules/batch/b1/results"


def cursor_page(ids: list[str], next_cursor: str | None = None, has_more: bool = False) -> SchedulePage:
    return SchedulePage.model_validate(
        {"data": [{"id": i} for i in ids], "pagination": {"hasMore": has_more, "nextCursor": next_cursor}}
    )


def offset_page(ids: list[str], offset: int, has_more: bool = False, total: int | None = None) -> RecordResultPage:
    return RecordResultPage.model_validate(
        {
            "data": [{"recordId": i} for i in ids],
            "pagination": {"hasMore": has_more, "offset": offset, "total": total},
        }
    )


class Server:
    """Answers page requests from a list of pages and records what was asked."""

    def __init__(self, pages: list[Any]) -> None:
        self.pages = iter(pages)
        self.asked: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.asked.append(request)
        return next(self.pages)


def test_defaults():
    assert DEFAULT_MAX_PAGES == 10_000
    assert DEFAULT_ITERATOR_PAGE_SIZE == 100


# ---- cursor style ------------------------------------------------------------------------------------------


def test_cursor_follows_next_cursor_until_has_more_is_false():
    server = Server([cursor_page(["a", "b"], "c1", True), cursor_page(["c"], "c2", True), cursor_page(["d"])])
    assert [s.id for s in iter_cursor(server, PATH)] == ["a", "b", "c", "d"]
    assert server.asked == [None, "c1", "c2"]


def test_cursor_stops_when_has_more_is_false_even_with_a_cursor():
    server = Server([cursor_page(["a"], "dangling", False)])
    assert [s.id for s in iter_cursor(server, PATH)] == ["a"]
    assert server.asked == [None]


NO_CURSOR = "answered hasMore: true without a nextCursor on page 2; the rest cannot be fetched"


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        (cursor_page([], "c2", True), "answered hasMore: true with no rows on page 2; refusing to stop silently"),
        (cursor_page(["b"], None, True), NO_CURSOR),
        (cursor_page(["b"], "", True), NO_CURSOR),
        (cursor_page(["b"], "c1", True), "returned the cursor 'c1' twice; stopping to avoid a loop"),
    ],
)
def test_cursor_errors_come_after_the_rows_received(second, problem):
    server = Server([cursor_page(["a"], "c1", True), second, cursor_page(["never"])])
    rows = iter_cursor(server, PATH)
    received: list[str] = []
    with pytest.raises(RuntypeResponseError) as caught:
        for schedule in rows:
            received.append(schedule.id)
    assert received == ["a", *[s.id for s in second.data]]
    assert str(caught.value) == f"Runtype API GET {PATH} {problem}"
    assert (caught.value.method, caught.value.path) == ("GET", PATH)
    assert len(server.asked) == 2


def fresh_cursors() -> Iterator[SchedulePage]:
    n = 0
    while True:
        n += 1
        yield cursor_page([f"s{n}"], f"cursor-{n}", True)


def test_an_endless_stream_of_fresh_cursors_ends_at_the_default_cap():
    server = Server(list_of(fresh_cursors(), DEFAULT_MAX_PAGES + 5))
    rows = iter_cursor(server, PATH)
    count = 0
    with pytest.raises(RuntypeResponseError, match="still had more rows after 10000 pages \\(10000 rows\\)"):
        for _ in rows:
            count += 1
    assert (count, len(server.asked)) == (DEFAULT_MAX_PAGES, DEFAULT_MAX_PAGES)


def list_of(pages: Iterator[Any], n: int) -> list[Any]:
    return [next(pages) for _ in range(n)]


def test_the_cap_message_says_where_it_is_configured():
    server = Server(list_of(fresh_cursors(), 3))
    with pytest.raises(RuntypeResponseError) as caught:
        list(iter_cursor(server, PATH, max_pages=2))
    assert "raise 'max_pages' (an argument of the hook's iterator methods; default " in str(caught.value)
    assert "runtype_provider.api.paging.DEFAULT_MAX_PAGES)" in str(caught.value)


def test_a_listing_of_exactly_max_pages_pages_is_complete():
    server = Server([cursor_page(["a"], "c1", True), cursor_page(["b"])])
    assert [s.id for s in iter_cursor(server, PATH, max_pages=2)] == ["a", "b"]
    server = Server([offset_page(["r1"], 0, True), offset_page(["r2"], 1)])
    assert [r.record_id for r in iter_offset(server, RESULTS, max_pages=2)] == ["r1", "r2"]


def test_cursors_are_remembered_as_small_digests():
    paging = CursorPaging(PATH)
    paging.next_cursor()
    paging.receive(cursor_page(["a"], "x" * 1_000_000, True))
    assert paging.next_cursor() == "x" * 1_000_000
    assert [len(d) for d in paging._seen] == [16]


# ---- offset style ------------------------------------------------------------------------------------------


def test_offset_advances_by_the_rows_received():
    server = Server([offset_page(["r1", "r2"], 0, True), offset_page(["r3"], 2, True), offset_page(["r4"], 3)])
    assert [r.record_id for r in iter_offset(server, RESULTS)] == ["r1", "r2", "r3", "r4"]
    assert server.asked == [0, 2, 3]


@pytest.mark.parametrize("total", [3, 2])
def test_offset_stops_at_the_total_even_while_has_more(total):
    server = Server([offset_page(["r1", "r2"], 0, True, total), offset_page(["r3"], 2, True, total)])
    rows = [r.record_id for r in iter_offset(server, RESULTS)]
    assert rows == ["r1", "r2", "r3"][: max(total, 2)]
    assert len(server.asked) == (2 if total == 3 else 1)


def test_offset_with_has_more_and_no_rows_is_an_error():
    server = Server([offset_page(["r1"], 0, True, 10), offset_page([], 1, True, 10)])
    rows = iter_offset(server, RESULTS)
    assert next(rows).record_id == "r1"
    with pytest.raises(
        RuntypeResponseError,
        match=f"^Runtype API GET {RESULTS} answered hasMore: true with no rows at offset=1 of total=10;",
    ):
        next(rows)


def test_offset_with_has_more_and_no_rows_and_no_total_is_an_error():
    server = Server([offset_page([], 0, True)])
    with pytest.raises(RuntypeResponseError, match="with no rows at offset=0; refusing to stop silently"):
        list(iter_offset(server, RESULTS))


def test_offset_ignored_by_the_server_is_refused_before_its_rows():
    server = Server([offset_page(["r1", "r2"], 0, True), offset_page(["r1", "r2"], 0, True)])
    rows = iter_offset(server, RESULTS)
    assert [next(rows).record_id, next(rows).record_id] == ["r1", "r2"]
    with pytest.raises(RuntypeResponseError, match=f"GET {RESULTS} ignored offset=2 \\(answered offset=0\\)"):
        next(rows)


def test_an_endless_stream_of_has_more_ends_at_the_cap():
    pages = (offset_page([f"r{n}"], n, True) for n in range(10**9))
    server = Server(pages)  # type: ignore[arg-type]
    with pytest.raises(RuntypeResponseError, match="still had more rows after 50 pages \\(50 rows\\)"):
        list(iter_offset(server, RESULTS, max_pages=50))
    assert server.asked == list(range(50))


def test_a_huge_total_does_not_lift_the_cap():
    pages = (offset_page([f"r{n}"], n, True, 10**12) for n in range(10**9))
    server = Server(pages)  # type: ignore[arg-type]
    with pytest.raises(RuntypeResponseError, match="after 3 pages"):
        list(iter_offset(server, RESULTS, max_pages=3))


# ---- arguments, laziness, misuse, async reuse --------------------------------------------------------------


@pytest.mark.parametrize("max_pages", [0, -1, True, 1.0, 2.5, "5", "10", None])
@pytest.mark.parametrize("driver", [iter_cursor, iter_offset])
def test_the_cap_is_checked_before_the_first_page(driver, max_pages):
    server = Server([])
    with pytest.raises(RuntypeConfigurationError, match=r"^'max_pages' must be a positive integer"):
        driver(server, PATH, max_pages=max_pages)
    assert server.asked == []


def test_iteration_is_lazy():
    server = Server([cursor_page(["a"], "c1", True), cursor_page(["b"])])
    rows = iter_cursor(server, PATH)
    assert server.asked == []
    assert next(rows).id == "a"
    assert server.asked == [None]


def test_a_finished_listing_has_no_next_page():
    paging = OffsetPaging(RESULTS)
    paging.receive(offset_page(["r1"], paging.next_offset()))
    assert paging.done
    with pytest.raises(RuntimeError, match="done"):
        paging.next_offset()
    with pytest.raises(RuntimeError, match="not requested"):
        paging.receive(offset_page(["r2"], 1))


def test_the_same_state_machines_drive_an_async_listing():
    pages = {0: offset_page(["r1", "r2"], 0, True, 3), 2: offset_page(["r3"], 2, True, 3)}

    async def fetch(offset: int) -> RecordResultPage:
        await asyncio.sleep(0)
        return pages[offset]

    async def collect() -> list[str]:
        paging = OffsetPaging(RESULTS)
        rows = []
        while not paging.done:
            rows += [r.record_id for r in paging.receive(await fetch(paging.next_offset()))]
        return rows

    assert asyncio.run(collect()) == ["r1", "r2", "r3"]


# ---- properties: arbitrary page sequences always end within the page cap, rows in order, each exactly once --------

cursors = st.none() | st.sampled_from(["", "c1", "c2", "c3"]) | st.text(min_size=1, max_size=6)
cursor_specs = st.lists(st.tuples(st.integers(0, 3), st.booleans(), cursors), max_size=15)
offset_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # rows on the page
        st.booleans(),  # hasMore
        st.none() | st.integers(0, 40),  # total
        st.sampled_from([0, 0, 0, 0, 1, -1]),  # how far the answered offset is off the requested one
    ),
    max_size=15,
)


@FAST
@given(specs=cursor_specs, max_pages=st.integers(1, 12), endless=st.booleans())
def test_cursor_paging_always_ends_with_every_row_once_in_order(specs, max_pages, endless):
    fetched: list[Any] = []
    asked: list[str | None] = []

    def fetch(cursor: str | None) -> Any:
        assert len(fetched) < max_pages, "fetched past the page cap"
        n = len(fetched)
        rows, has_more, next_cursor = specs[n] if n < len(specs) else (1, endless, f"fresh-{n}")
        page = SchedulePage.model_validate(
            {
                "data": [{"id": f"p{n}r{i}"} for i in range(rows)],
                "pagination": {"hasMore": has_more, "nextCursor": next_cursor},
            }
        )
        asked.append(cursor)
        fetched.append(page)
        return page

    received, failed = [], False
    try:
        for row in iter_cursor(fetch, "/v1/schedules", max_pages=max_pages):
            received.append(row.id)
    except RuntypeResponseError:
        failed = True
    assert 1 <= len(fetched) <= max_pages
    assert received == [row.id for page in fetched for row in page.data]
    assert len(set(received)) == len(received)
    assert asked == [None] + [page.pagination.next_cursor for page in fetched[:-1]]
    assert failed is fetched[-1].pagination.has_more  # ends quietly only when the server says so


@FAST
@given(specs=offset_specs, max_pages=st.integers(1, 12), endless=st.booleans())
def test_offset_paging_always_ends_with_every_row_once_in_order(specs, max_pages, endless):
    fetched: list[tuple[int, Any]] = []

    def fetch(offset: int) -> Any:
        assert len(fetched) < max_pages, "fetched past the page cap"
        n = len(fetched)
        rows, has_more, total, skew = specs[n] if n < len(specs) else (1, endless, None, 0)
        page = RecordResultPage.model_validate(
            {
                "data": [{"recordId": f"p{n}r{i}"} for i in range(rows)],
                "pagination": {"hasMore": has_more, "offset": max(0, offset + skew), "total": total},
            }
        )
        fetched.append((offset, page))
        return page

    received, failed = [], False
    try:
        for row in iter_offset(fetch, "/v1/schedules/batch/b1/results", max_pages=max_pages):
            received.append(row.record_id)
    except RuntypeResponseError:
        failed = True
    assert 1 <= len(fetched) <= max_pages
    accepted = [page for offset, page in fetched if page.pagination.offset == offset]
    assert accepted == [page for _, page in fetched][: len(accepted)]  # nothing after a refused page
    assert received == [row.record_id for page in accepted for row in page.data]
    assert len(set(received)) == len(received)
    assert [offset for offset, _ in fetched] == [sum(len(p.data) for p in accepted[:i]) for i in range(len(fetched))]
    last_offset, last = fetched[-1]
    ended_by_total = last.pagination.total is not None and len(received) >= last.pagination.total
    if not failed:
        assert last.pagination.offset == last_offset and (not last.pagination.has_more or ended_by_total)
