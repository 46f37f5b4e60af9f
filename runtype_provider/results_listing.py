"""Listing a run's per-record results for the hook, a page at a time, pages fetched concurrently.

The request for each offset, the transports that read each page (the hook's session in the task's thread; one
session per worker thread, each attempt and 429 told to the :class:`~runtype_provider.concurrent_paging.Throttle`),
and which endpoint lists a run. A page is parsed into models, or, for the results operator, read straight from its
bytes by :func:`runtype_provider.result_pages.read_result_page`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from runtype_provider.concurrent_paging import (
    Throttle,
    Unread,
    check_max_concurrent_pages,
    iter_offset_pages_concurrently,
)
from runtype_provider.endpoints import ENDPOINTS, check_page_size
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRateLimitError
from runtype_provider.pagination import check_max_pages
from runtype_provider.transport import ApiRequest, M, SyncTransport

if TYPE_CHECKING:
    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.models.runs import RunReference


ReadPage = Callable[[bytes, "str | None", Callable[[], Any]], Any]
"""Reads a 2xx page from its bytes (given the API key, and the normal reading to fall back to)."""


class _PageTransport(SyncTransport):
    """A transport whose 2xx answers are read by ``read`` when given (else parsed into the request's model); with
    ``session``, it sends through that session (the hook's) and leaves it open on :meth:`close`."""

    def __init__(self, hook: RuntypeHook, read: ReadPage | None, session: Any = None) -> None:
        super().__init__(hook.settings, hook.sleep, hook.clock)
        self.read = read
        self._session, self._borrowed = session, session is not None

    def _reading(self, request: ApiRequest[M], url: str, status: int, headers: Any, content: bytes) -> Any:
        normal = partial(super()._answer, request, url, status, headers, content)
        return normal if self.read is None else partial(self.read, content, self.settings.api_key, normal)

    def _answer(self, request: ApiRequest[M], url: str, status: int, headers: Any, content: bytes) -> M:
        if 200 <= status < 300:
            return cast(M, self._reading(request, url, status, headers, content)())
        return super()._answer(request, url, status, headers, content)

    def close(self) -> None:
        if not self._borrowed:
            super().close()


class _WorkerTransport(_PageTransport):
    """A worker thread's own transport: the hook's settings, with the throttle told of every attempt and 429,
    and 2xx answers handed back :class:`Unread`."""

    def __init__(self, hook: RuntypeHook, throttle: Throttle, read: ReadPage | None = None) -> None:
        super().__init__(hook, read)
        self.sleep = throttle.sleep
        self.throttle = throttle

    def _send_once(self, request: ApiRequest[M], deadline: float | None) -> M:
        self.throttle.before_attempt(deadline)
        try:
            return super()._send_once(request, deadline)
        except RuntypeRateLimitError as err:
            self.throttle.rate_limited(err.retry_after)
            raise

    def _answer(self, request: ApiRequest[M], url: str, status: int, headers: Any, content: bytes) -> M:
        if 200 <= status < 300:
            return cast(M, Unread(self._reading(request, url, status, headers, content)))
        return super()._answer(request, url, status, headers, content)


class _WorkerFetch:
    def __init__(
        self, hook: RuntypeHook, throttle: Throttle, request: Callable[[int], ApiRequest[Any]], read: ReadPage | None
    ) -> None:
        self.hook = hook
        self.request = request
        self.transport = _WorkerTransport(hook, throttle, read)

    def __call__(self, offset: int) -> Any:
        return self.transport.send(self.request(offset), deadline=self.hook.deadline)

    def close(self) -> None:
        self.transport.close()


def results_operation(run: RunReference) -> tuple[str, dict[str, Any]]:
    """The operation and ids that list a run's results: by batch id when known (documented paging), else by run id."""
    if run.batch_execution_id:
        return "get_batch_results", {"batch_id": run.batch_execution_id}
    if run.run_id:
        return "get_run_results", {"run_id": run.run_id}
    raise RuntypeConfigurationError("'run' needs 'batch_execution_id' or 'run_id' to fetch results")


def iter_record_results(
    hook: RuntypeHook,
    operation: str,
    ids: dict[str, Any],
    *,
    page_size: int,
    status: str | None,
    max_pages: int,
    max_concurrent_pages: int | None,
    read: ReadPage | None = None,
) -> Iterator[list[Any]]:
    """The per-record results of ``operation`` (``get_run_results`` or ``get_batch_results``) for ``ids``, a page
    at a time (the rows of each page, as a list; :func:`~runtype_provider.pagination.flatten` gives the rows).

    Each row is a :class:`~runtype_provider.models.schemas.RecordResult`, or, with ``read`` (such as
    :func:`runtype_provider.result_pages.read_result_page`), whatever ``read`` makes of the page's bytes; the first
    page and sequential paging then go through the hook's session with their own reader. ``max_concurrent_pages``
    None means the connection's extra (read when the first page is asked for). Arguments are checked now, before
    any request.
    """
    endpoint = ENDPOINTS[operation]
    path = endpoint.request(**ids).path
    check_page_size(page_size)
    check_max_pages(max_pages)
    if max_concurrent_pages is not None:
        check_max_concurrent_pages(max_concurrent_pages)

    def request(offset: int) -> ApiRequest[Any]:
        return endpoint.request(**ids, query={"limit": str(page_size), "offset": str(offset), "status": status})

    def pages() -> Iterator[list[Any]]:
        bound = hook.settings.max_concurrent_pages if max_concurrent_pages is None else max_concurrent_pages
        fetch: Callable[[int], Any] = lambda offset: hook.send(request(offset))  # noqa: E731
        if read is not None:
            consumer = _PageTransport(hook, read, session=hook.get_conn())
            fetch = lambda offset: consumer.send(request(offset), deadline=hook.deadline)  # noqa: E731
        yield from iter_offset_pages_concurrently(
            fetch,
            lambda throttle: _WorkerFetch(hook, throttle, request, read),
            path,
            page_size=page_size,
            max_concurrent_pages=bound,
            max_pages=max_pages,
            sleep=hook.sleep,
            clock=hook.clock,
        )

    return pages()
