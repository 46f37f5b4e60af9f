"""The one place a run's per-record results are fetched: a page at a time, pages in flight concurrently, each
page read straight from its bytes where that gives exactly the models' answer.

**Listing.** :func:`iter_result_pages` sends each page's request through a transport (the hook's for the first
page and sequential paging; one per worker thread otherwise, each attempt and 429 told to the
:class:`~runtype_provider.client.concurrent_paging.Throttle`), over the transport's declared seam for reading a 2xx
body (``read``): no transport method is overridden. Its transports are ``pooled`` (GETs go to ``requests``' urllib3
pool directly: a third less client CPU per page) and paging is ``adaptive`` (pages are fetched in the consumer's
thread while the server answers fast next to the consumer's own work; see
:mod:`~runtype_provider.client.concurrent_paging`).

**Reading from bytes.**

The results operator writes each row's outcome (record id and name, status, error, times, result id, optionally
the result) and nothing else. Decoding the page with ``json.loads`` and validating every row into a
:class:`~runtype_provider.api.responses.RecordResult` cost about 7 us a row, more than fetching it on loopback;
:func:`read_result_page` decodes the page with ``msgspec`` (a dependency of Airflow itself) into
:class:`ResultRow` structs in one C call, about 0.5 us a row, keeping each row's ``result`` as a raw JSON fragment
that is only decoded when it is written. The structs hold no reference cycles, so they are not tracked by the
garbage collector (``gc=False``): a page of them adds nothing to the allocations that trigger collections.

**Exactly the model's answer, or the model's path.** The structs accept a strict subset of what the pydantic
models accept, with the same values: the same fields and types (strings are strings, counts are non-negative
integers, ``hasMore`` a JSON boolean), unknown fields ignored as the models keep them aside. Anything else falls
back to the normal path (``json.loads``, key redaction, :class:`~runtype_provider.api.responses.RecordResultPage`),
which parses it or raises its usual typed error: invalid UTF-8, a byte-order mark, an empty body, a lone
surrogate, JSON the strict types refuse (``"5"`` for a count, ``1.0`` for an integer, ``NaN``), nesting deeper
than the recursion limit, a snake_case spelling of a field (the models accept ``record_id`` for ``recordId``), and
any body whose text could hold the API key (the normal path redacts it). One difference is left: ``msgspec``
accepts a ``result`` nested a few levels deeper than ``json.loads`` does (both stop near Python's recursion limit,
about 990 levels); such a row is written when its result is not (``include_result_payload=False``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Annotated, Any

import msgspec

from runtype_provider.api.ids import check_page_size
from runtype_provider.api.paging import check_max_pages
from runtype_provider.client.concurrent_paging import (
    Throttle,
    Unread,
    check_max_concurrent_pages,
    iter_offset_pages_concurrently,
)
from runtype_provider.client.redaction import may_contain
from runtype_provider.client.request import ApiRequest, build_request
from runtype_provider.client.transport import ReadBody, SyncTransport
from runtype_provider.exceptions import RuntypeResponseError

_Count = Annotated[int, msgspec.Meta(ge=0)]


class _SnakeCase:
    """The type of a snake_case field name: never decodable, so a body spelling a field that way takes the
    normal path (the models accept both spellings; these structs read only the API's camelCase)."""


def _refuse(kind: type, value: Any) -> Any:
    raise ValueError(f"{kind.__name__}: not read here")


def _snake(name: str) -> Any:
    return msgspec.field(name=name, default=None)


class RecordName(msgspec.Struct, gc=False):
    id: str | None = None
    name: str | None = None
    type: str | None = None


class ResultRow(msgspec.Struct, rename="camel", gc=False):
    """One row of a results page: the fields of :class:`~runtype_provider.api.responses.RecordResult`, with
    ``result`` kept as its raw JSON (read with :meth:`result_value`, as the model's own)."""

    record_id: str
    status: str | None = None
    record: RecordName | None = None
    record_result_id: str | None = None
    error: str | None = None
    result: msgspec.Raw = msgspec.Raw(b"null")
    executed_at: str | None = None
    failed_at: str | None = None
    created_at: str | None = None
    duration_ms: int | None = None
    step_count: int | None = None
    failed_step_count: int | None = None
    flow_id: str | None = None
    flow_name: str | None = None
    agent_execution_id: str | None = None
    execution_engine: str | None = None
    snake_record_id: _SnakeCase = _snake("record_id")
    snake_record_result_id: _SnakeCase = _snake("record_result_id")
    snake_executed_at: _SnakeCase = _snake("executed_at")
    snake_failed_at: _SnakeCase = _snake("failed_at")
    snake_created_at: _SnakeCase = _snake("created_at")
    snake_duration_ms: _SnakeCase = _snake("duration_ms")
    snake_step_count: _SnakeCase = _snake("step_count")
    snake_failed_step_count: _SnakeCase = _snake("failed_step_count")
    snake_flow_id: _SnakeCase = _snake("flow_id")
    snake_flow_name: _SnakeCase = _snake("flow_name")
    snake_agent_execution_id: _SnakeCase = _snake("agent_execution_id")
    snake_execution_engine: _SnakeCase = _snake("execution_engine")

    def result_value(self) -> Any:
        """The row's ``result`` as the models give it (decoded with ``json.loads``, as the normal path decodes it).

        Both decoders stop at Python's recursion limit, at depths that differ by a few levels (and with the caller's
        stack depth): a result nested just too deeply for ``json.loads`` is the normal path's typed error here too.
        """
        try:
            return json.loads(bytes(self.result))
        except RecursionError:
            raise RuntypeResponseError(
                f"Runtype API results: the result of record {self.record_id!r} is nested too deeply to read",
                method="GET",
                path="results",
            ) from None


class PageOffsets(msgspec.Struct, rename="camel", gc=False):
    has_more: bool = False
    limit: _Count | None = None
    offset: _Count = 0
    total: _Count | None = None
    snake_has_more: _SnakeCase = _snake("has_more")


class _PageSummary(msgspec.Struct, rename="camel", gc=False):
    records_with_failed_steps: int | None = None
    snake_records_with_failed_steps: _SnakeCase = _snake("records_with_failed_steps")


class ResultRowPage(msgspec.Struct):
    """A results page as :class:`~runtype_provider.api.paging.OffsetPaging` reads it: ``data`` and ``pagination``."""

    data: list[ResultRow] = msgspec.field(default_factory=list)
    pagination: PageOffsets = msgspec.field(default_factory=PageOffsets)
    summary: _PageSummary | None = None


_DECODER = msgspec.json.Decoder(ResultRowPage, dec_hook=_refuse)


def read_result_page(content: bytes, secret: str | None, normal: Callable[[], Any]) -> Any:
    """The 2xx answer ``content`` as a :class:`ResultRowPage`, or ``normal()`` (the model path) when the fast
    reading cannot promise the same answer (see the module)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return normal()
    if text.startswith("\ufeff") or may_contain(text, secret):
        return normal()
    try:
        return _DECODER.decode(content)  # the bytes checked above: rows keep no second copy of a page
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return normal()


# ---- listing ------------------------------------------------------------------------------------------------


def _unread(read: ReadBody | None) -> ReadBody:
    """A worker thread's reading: the page handed back :class:`Unread`, read by the consumer in order."""

    def later(content: bytes, secret: str | None, normal: Callable[[], Any]) -> Unread:
        return Unread(normal if read is None else partial(read, content, secret, normal), len(content))

    return later


class _WorkerFetch:
    """One worker thread's fetch: its own transport (the hook's settings, the throttle's sleep) that tells the
    throttle of every attempt and 429."""

    def __init__(
        self,
        base: SyncTransport,
        throttle: Throttle,
        request: Callable[[int], ApiRequest[Any]],
        deadline: Callable[[], float | None],
        read: ReadBody | None,
    ) -> None:
        self.request, self.deadline = request, deadline
        self.transport = SyncTransport(
            base.settings, throttle.sleep, base.clock, read=_unread(read), observer=throttle, pooled=True
        )

    def __call__(self, offset: int) -> Any:
        return self.transport.send(self.request(offset), deadline=self.deadline())

    def close(self) -> None:
        self.transport.close()


def iter_result_pages(
    transport: Callable[[], SyncTransport],
    operation: str,
    ids: dict[str, Any],
    *,
    page_size: int,
    status: str | None,
    max_pages: int,
    max_concurrent_pages: int | None,
    deadline: Callable[[], float | None] = lambda: None,
    read: ReadBody | None = None,
) -> Iterator[list[Any]]:
    """The per-record results of ``operation`` (``get_run_results`` or ``get_batch_results``) for ``ids``, a page
    at a time (the rows of each page, as a list; :func:`~runtype_provider.api.paging.flatten` gives the rows).

    ``transport`` gives the caller's transport when the first page is asked for (its settings, sleep and clock;
    its session sends the first page and sequential paging); ``deadline`` the bound of each request then. Each row
    is a :class:`~runtype_provider.api.responses.RecordResult`, or, with ``read`` (such as :func:`read_result_page`),
    whatever ``read`` makes of the page's bytes. ``max_concurrent_pages`` None means the connection's option.
    Arguments are checked now, before any request.
    """
    path = build_request(operation, **ids).path
    check_page_size(page_size)
    check_max_pages(max_pages)
    if max_concurrent_pages is not None:
        check_max_concurrent_pages(max_concurrent_pages)

    def request(offset: int) -> ApiRequest[Any]:
        return build_request(operation, **ids, query={"limit": str(page_size), "offset": str(offset), "status": status})

    def pages() -> Iterator[list[Any]]:
        base = transport()
        bound = base.settings.max_concurrent_pages if max_concurrent_pages is None else max_concurrent_pages
        consumer = SyncTransport(base.settings, base.sleep, base.clock, read=read, session=base.session, pooled=True)
        yield from iter_offset_pages_concurrently(
            lambda offset: consumer.send(request(offset), deadline=deadline()),
            lambda throttle: _WorkerFetch(base, throttle, request, deadline, read),
            path,
            page_size=page_size,
            max_concurrent_pages=bound,
            max_pages=max_pages,
            sleep=base.sleep,
            clock=base.clock,
            adaptive=True,
        )

    return pages()
