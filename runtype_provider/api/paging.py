"""Paging through the API's list endpoints: what to ask for next and when to stop, with no I/O.

Two styles (``runtype-api.md`` section 1.3):

* **cursor** (``GET /v1/schedules``, ``GET /v1/schedules/runs/all``): ask with ``?cursor=`` from the
  previous page's ``pagination.nextCursor`` while ``pagination.hasMore`` is true;
* **offset** (per-record results): ask with ``?offset=`` advanced by the rows received, while
  ``pagination.hasMore`` is true and, when the page gives a ``total``, while ``offset < total``.

:class:`CursorPaging` and :class:`OffsetPaging` hold one listing's state and judge each page; they never
fetch. :func:`iter_cursor` and :func:`iter_offset` drive them with a sync fetch function (the hook's
iterators); an async caller drives the same classes with ``await`` in its own loop::

    paging = OffsetPaging(path)
    while not paging.done:
        page = await fetch(paging.next_offset())
        for row in paging.receive(page):
            ...

Every listing ends. It stops when the server says there is nothing more (``hasMore`` false, or
``offset >= total``), and raises :class:`~runtype_provider.exceptions.RuntypeResponseError` (naming the
path and the page) instead of running on or silently dropping rows, when:

* a page says ``hasMore: true`` but has no rows (or, cursor style, no ``nextCursor``);
* a cursor comes back a second time (the server would loop), or the server ignored the requested offset;
* more than ``max_pages`` pages would be needed (an endless stream of fresh cursors or of
  ``hasMore: true``). The cap is the ``max_pages`` argument of the hook's iterator methods, default
  :data:`DEFAULT_MAX_PAGES`; the state kept per listing is bounded by it (one 16-byte digest per cursor).

Errors are raised when the caller asks for the next page, so the rows of every page received are
yielded first, in order, each once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from runtype_provider.api.spec import MAX_PAGE_SIZE
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeResponseError

DEFAULT_MAX_PAGES = 10_000
"""Most pages one listing may take (1,000,000 rows at 100 per page) before it is refused as endless."""

DEFAULT_ITERATOR_PAGE_SIZE = MAX_PAGE_SIZE
"""Rows per request of the hook's iterators: the largest page the API allows, so the fewest requests."""


def check_max_pages(max_pages: Any) -> int:
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 1:
        raise RuntypeConfigurationError(f"'max_pages' must be a positive integer, got {max_pages!r}")
    return max_pages


class _Paging:
    """State shared by both styles: the pages received, the cap, a deferred error and ``done``."""

    def __init__(self, path: str, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.path = path
        self.max_pages = check_max_pages(max_pages)
        self.pages = 0
        self.rows = 0
        self.done = False
        self._problem: str | None = None

    def _error(self, message: str) -> RuntypeResponseError:
        return RuntypeResponseError(f"Runtype API GET {self.path} {message}", method="GET", path=self.path)

    def _before_next_page(self) -> None:
        """Raise what the last page got wrong, or the cap, before another page is requested."""
        if self.done:
            raise RuntimeError(f"paging of {self.path} is done; there is no next page")
        if self._problem is not None:
            raise self._error(self._problem)
        if self.pages >= self.max_pages:
            raise self._error(
                f"still had more rows after {self.pages} pages ({self.rows} rows); stopping at the page cap. "
                "If the listing really is that long, raise 'max_pages' (an argument of the hook's iterator "
                "methods; default runtype_provider.api.paging.DEFAULT_MAX_PAGES)."
            )

    def _rows_of(self, page: Any) -> list[Any]:
        if self.done or self._problem is not None:
            raise RuntimeError(f"paging of {self.path}: a page was received that was not requested")
        rows = list(page.data)
        self.pages += 1
        self.rows += len(rows)
        return rows


class CursorPaging(_Paging):
    """Cursor-style paging: :meth:`next_cursor` is what to send, :meth:`receive` judges the answer."""

    def __init__(self, path: str, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        super().__init__(path, max_pages=max_pages)
        self._cursor: str | None = None
        self._seen: set[bytes] = set()

    def next_cursor(self) -> str | None:
        """The cursor for the next request (None for the first page); raises if there must be no next page."""
        self._before_next_page()
        return self._cursor

    def receive(self, page: Any) -> list[Any]:
        """The rows of the page answering the last :meth:`next_cursor`; decides what comes next."""
        rows = self._rows_of(page)
        pagination = page.pagination
        cursor = pagination.next_cursor
        if not pagination.has_more:
            self.done = True
        elif not rows:
            self._problem = f"answered hasMore: true with no rows on page {self.pages}; refusing to stop silently"
        elif not cursor:
            self._problem = (
                f"answered hasMore: true without a nextCursor on page {self.pages}; the rest cannot be fetched"
            )
        else:
            digest = hashlib.blake2b(cursor.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            if digest in self._seen:
                self._problem = f"returned the cursor {cursor[:100]!r} twice; stopping to avoid a loop"
            self._seen.add(digest)
            self._cursor = cursor
        return rows


class OffsetPaging(_Paging):
    """Offset-style paging: :meth:`next_offset` is what to send, :meth:`receive` judges the answer."""

    def __init__(self, path: str, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        super().__init__(path, max_pages=max_pages)
        self._offset = 0

    def next_offset(self) -> int:
        """The offset for the next request; raises if there must be no next page."""
        self._before_next_page()
        return self._offset

    def receive(self, page: Any) -> list[Any]:
        """The rows of the page answering the last :meth:`next_offset`; decides what comes next.

        A page for another offset is refused at once (its rows are not the ones asked for).
        """
        pagination = page.pagination
        if pagination.offset != self._offset:
            raise self._error(f"ignored offset={self._offset} (answered offset={pagination.offset})")
        rows = self._rows_of(page)
        self._offset += len(rows)
        total = pagination.total
        if not pagination.has_more or (total is not None and self._offset >= total):
            self.done = True
        elif not rows:
            self._problem = (
                f"answered hasMore: true with no rows at offset={self._offset}"
                f"{'' if total is None else f' of total={total}'}; refusing to stop silently"
            )
        return rows


def iter_cursor(fetch: Callable[[str | None], Any], path: str, *, max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Any]:
    """Every row of a cursor-paged listing, fetched lazily page by page with ``fetch(cursor)``."""
    paging = CursorPaging(path, max_pages=max_pages)  # arguments checked now, before the first next()

    def rows() -> Iterator[Any]:
        while not paging.done:
            yield from paging.receive(fetch(paging.next_cursor()))

    return rows()


def iter_offset(fetch: Callable[[int], Any], path: str, *, max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Any]:
    """Every row of an offset-paged listing, fetched lazily page by page with ``fetch(offset)``."""
    return flatten(iter_offset_pages(fetch, path, max_pages=max_pages))


def iter_offset_pages(
    fetch: Callable[[int], Any], path: str, *, max_pages: int = DEFAULT_MAX_PAGES
) -> Iterator[list[Any]]:
    """:func:`iter_offset` a page at a time: the rows of each page, as a list."""
    paging = OffsetPaging(path, max_pages=max_pages)

    def pages() -> Iterator[list[Any]]:
        while not paging.done:
            yield paging.receive(fetch(paging.next_offset()))

    return pages()


def flatten(pages: Iterator[list[Any]]) -> Iterator[Any]:
    """The rows of ``pages``, in order; closing this iterator closes ``pages`` (no request starts after)."""

    def rows() -> Iterator[Any]:
        try:
            for page in pages:
                yield from page
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    return rows()
