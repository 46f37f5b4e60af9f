"""RuntypeHook: typed access to the Runtype schedules API (global and product-surface), batch status and cancel.

One method per endpoint of :data:`runtype_provider.api.spec.ENDPOINTS`, named after its operation and
returning typed models; paginated endpoints also get iterators that fetch page by page. Requests go
through :mod:`runtype_provider.client` (retries, error mapping, redaction), sync with ``requests`` and async
with ``httpx`` for triggers; deferred waits read through :meth:`RuntypeHook.shared`. Nothing touches the
network until a method is called.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from itertools import chain, islice
from typing import Any

from runtype_provider import DEFAULT_CONN_ID
from runtype_provider.api.paging import DEFAULT_ITERATOR_PAGE_SIZE, DEFAULT_MAX_PAGES, flatten
from runtype_provider.api.responses import (
    RecordResult,
    Schedule,
)
from runtype_provider.client.request import ApiRequest, M, build_request
from runtype_provider.client.results import iter_result_pages, read_result_page
from runtype_provider.client.retry import RetryPolicy
from runtype_provider.client.settings import ConnectionSettings, describe_host, settings_from_connection
from runtype_provider.client.transport import AsyncTransport, SyncTransport
from runtype_provider.exceptions import RuntypeApiError, RuntypeConfigurationError, RuntypeException
from runtype_provider.get_provider_info import legacy_form_widgets, legacy_ui_field_behaviour
from runtype_provider.hooks.endpoints import RuntypeEndpoints
from runtype_provider.hooks.lookups import (
    MAX_NAME_CANDIDATES,
    newest_active_run,
    pick_schedule_by_name,
    schedule_name_text,
)
from runtype_provider.hooks.progress import SharedRunReader, progress_of, progress_read
from runtype_provider.runs.reference import RunCost, RunProgress, RunReference, build_run_url
from runtype_provider.runs.status import server_record_status_filter
from runtype_provider.version_compat import AIRFLOW_V_3_2_PLUS, BaseHook


class RuntypeHook(RuntypeEndpoints, BaseHook):
    """Interact with the Runtype schedules API.

    :param runtype_conn_id: Airflow connection of type ``runtype``: password = API key, host = API base URL
        (default ``https://api.runtype.com``), extras ``timeout``, ``retry_limit``, ``retry_delay``,
        ``max_response_mb``, ``max_concurrent_pages``, ``dashboard_url``.
    :param timeout: seconds per attempt, connect plus the whole answer (overrides the connection's ``timeout``).
    :param retry_limit: retries after the first attempt for retryable failures (0 to 20).
    :param retry_delay: first backoff delay in seconds; doubles each retry, with jitter.
    :param retry_max_delay: cap of the backoff delay in seconds.
    :param max_response_mb: largest decompressed answer accepted, in MiB (default 64).
    :param deadline: a ``time.monotonic()`` value bounding every call (None: unbounded): no attempt starts after
        it and no retry sleeps past it (:class:`~runtype_provider.exceptions.RuntypeDeadlineError`); an attempt
        in flight gets only the time left. :meth:`bounded_by` sets one for a block of calls.
    """

    conn_name_attr = "runtype_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "runtype"
    hook_name = "Runtype"

    def __init__(
        self,
        runtype_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int | None = None,
        retry_delay: float | None = None,
        retry_max_delay: float | None = None,
        max_response_mb: float | None = None,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runtype_conn_id = runtype_conn_id
        self.overrides = {
            "timeout": timeout,
            "retry_limit": retry_limit,
            "retry_delay": retry_delay,
            "retry_max_delay": retry_max_delay,
            "max_response_mb": max_response_mb,
        }
        self.deadline = deadline
        # Injectable for tests (a fake clock); production uses the real sleeps and time.monotonic.
        self.sleep: Callable[[float], Any] = time.sleep
        self.async_sleep: Callable[[float], Any] = asyncio.sleep
        self.clock: Callable[[], float] = time.monotonic
        self._settings: ConnectionSettings | None = None
        self._transport: SyncTransport | None = None
        self._async_transport: AsyncTransport | None = None
        self._ended_batches: dict[str, RunProgress] = {}
        """Final progress of the batches of runs of several batches seen ended (an ended batch never changes)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(runtype_conn_id={self.runtype_conn_id!r})"

    # ---- connection and transport -----------------------------------------------------------------

    @property
    def settings(self) -> ConnectionSettings:
        if self._settings is None:
            self._settings = settings_from_connection(self.get_connection(self.runtype_conn_id), self.overrides)
        return self._settings

    async def asettings(self) -> ConnectionSettings:
        """Connection settings read without blocking the event loop (for triggers)."""
        if self._settings is None:
            self._settings = settings_from_connection(await self.aread_connection(self.runtype_conn_id), self.overrides)
        return self._settings

    @classmethod
    async def aread_connection(cls, conn_id: str) -> Any:
        """The Airflow connection, read with the async getter (triggers read it once per event loop and id)."""
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            return await aget(conn_id)
        from asgiref.sync import sync_to_async  # pragma: no cover - Airflow versions without the async getter

        return await sync_to_async(cls.get_connection)(conn_id)  # pragma: no cover

    def get_conn(self) -> Any:
        """The pooled ``requests`` session of this hook."""
        return self._sync_transport().session

    def _sync_transport(self) -> SyncTransport:
        if self._transport is None:
            self._transport = SyncTransport(self.settings, self.sleep, self.clock)
        return self._transport

    @contextmanager
    def bounded_by(self, deadline: float | None) -> Iterator[RuntypeHook]:
        """Bound the calls of the ``with`` block by ``deadline`` (see the ``deadline`` argument); the nearer bound
        applies and the previous one is restored on exit. The bound is hook state: one hook per concurrent task."""
        previous = self.deadline
        if deadline is not None:
            self.deadline = deadline if previous is None else min(previous, deadline)
        try:
            yield self
        finally:
            self.deadline = previous

    def send(self, request: ApiRequest[M]) -> M:
        """Send one request (with retries, within :attr:`deadline`) and return its parsed answer."""
        return self._sync_transport().send(request, deadline=self.deadline)

    async def asend(self, request: ApiRequest[M]) -> M:
        """Async twin of :meth:`send`, for triggers."""
        if self._async_transport is None:
            self._async_transport = AsyncTransport(await self.asettings(), self.async_sleep, self.clock)
        return await self._async_transport.send(request, deadline=self.deadline)

    def _call(self, operation: str, **arguments: Any) -> Any:
        return self.send(build_request(operation, **arguments))

    async def _acall(self, operation: str, **arguments: Any) -> Any:
        return await self.asend(build_request(operation, **arguments))

    @classmethod
    def shared(cls, runtype_conn_id: str = DEFAULT_CONN_ID, **hook_params: Any) -> SharedRunReader:
        """A deferred wait's reads of run progress, for ``async with``: shared with the other waits on this
        connection in the running event loop (one connection read, capped clients, one request for identical reads:
        see :mod:`runtype_provider.client.shared`). Entering waits for this wait's turn to start (a triggerer
        picking up a thousand waits starts them a few at a time); the last wait to leave closes the shared clients.
        ``hook_params`` are this class's client options (``timeout``, ``retry_limit``, ...)."""
        hook = cls(runtype_conn_id, **hook_params)  # checks the options; the reader keeps only what it needs
        return SharedRunReader.joining(
            runtype_conn_id, cls.aread_connection, hook.overrides, sleep=hook.async_sleep, clock=hook.clock
        )

    async def aclose(self) -> None:
        """Close the async client (triggers call this when they finish)."""
        if self._async_transport is not None:
            await self._async_transport.aclose()
            self._async_transport = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ---- runs, as operators and triggers see them ---------------------------------------------------

    def get_run_progress(self, run: RunReference) -> RunProgress:
        """Status and counts of a run: batch status when the batch id is known, else the schedule's run list
        (:func:`~runtype_provider.hooks.progress.progress_read`; deferred waits read the same through
        :meth:`shared`). A run of several batches: one status read per batch not yet seen ended, combined
        (:meth:`RunProgress.combine <runtype_provider.runs.reference.RunProgress.combine>`)."""
        parts = run.batches()
        if len(parts) > 1:
            return RunProgress.combine([self._batch_progress(part) for part in parts], run)
        operation, ids = progress_read(run)
        return progress_of(run, operation, self._call(operation, **ids))

    def _batch_progress(self, part: RunReference) -> RunProgress:
        batch = part.batch_execution_id or ""
        if batch not in self._ended_batches:
            progress = RunProgress.from_batch(self.get_batch_status(batch), part)
            if not progress.outcome.is_terminal:
                return progress
            self._ended_batches[batch] = progress
        return self._ended_batches[batch]

    def get_run_cost(self, run: RunReference) -> RunCost:
        """What a run's batches cost so far (``GET /v1/batch/:id/cost`` of each, :meth:`RunCost.sum
        <runtype_provider.runs.reference.RunCost.sum>`); final once they ended."""
        if not run.batch_ids:
            raise RuntypeConfigurationError("'run' needs 'batch_execution_id' to read what it cost")
        return RunCost.sum([RunCost.from_answer(self.get_batch_cost(batch)) for batch in run.batch_ids])

    def iter_run_results(
        self,
        run: RunReference,
        *,
        page_size: int = DEFAULT_ITERATOR_PAGE_SIZE,
        status: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_concurrent_pages: int | None = None,
    ) -> Iterator[RecordResult]:
        """Per-record results of a run: by batch id when known (documented paging), else by run id; a run of several
        batches: each batch's, in order."""
        return flatten(self.iter_run_result_pages(
            run, page_size=page_size, status=status, max_pages=max_pages, max_concurrent_pages=max_concurrent_pages
        ))  # fmt: skip

    def iter_run_result_pages(
        self, run: RunReference, *, page_size: int = DEFAULT_ITERATOR_PAGE_SIZE, status: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES, max_concurrent_pages: int | None = None, fast: bool = False,
    ) -> Iterator[list[Any]]:  # fmt: skip
        """:meth:`iter_run_results` a page at a time (each page's rows as a list). ``fast``: rows are
        :class:`~runtype_provider.client.results.ResultRow` structs read straight from the answer's bytes where the
        answer allows (else models; same attributes), as the results operator writes them. A run of several batches
        reads each batch's pages in order, one batch after the other (``max_pages`` bounds each)."""
        parts = run.batches()
        if len(parts) > 1:
            return chain.from_iterable(
                self.iter_run_result_pages(part, page_size=page_size, status=status, max_pages=max_pages,
                                           max_concurrent_pages=max_concurrent_pages, fast=fast)
                for part in parts
            )  # fmt: skip
        status = server_record_status_filter(status, batch_results=bool(run.batch_execution_id))
        if run.batch_execution_id:
            operation, ids = "get_batch_results", {"batch_id": run.batch_execution_id}
        elif run.run_id:
            operation, ids = "get_run_results", {"run_id": run.run_id}
        else:
            raise RuntypeConfigurationError("'run' needs 'batch_execution_id' or 'run_id' to fetch results")
        return self._result_pages(
            operation, ids, page_size=page_size, status=status, max_pages=max_pages,
            max_concurrent_pages=max_concurrent_pages, read=read_result_page if fast else None,
        )  # fmt: skip

    def _result_pages(self, operation: str, ids: dict[str, Any], **options: Any) -> Iterator[list[Any]]:
        """Results pages through this hook's transport, each request within :attr:`deadline` as it is then."""
        return iter_result_pages(self._sync_transport, operation, ids, deadline=lambda: self.deadline, **options)

    def find_active_run(
        self, schedule_id: str, *, product_id: str | None = None, surface_id: str | None = None
    ) -> RunReference | None:
        """The schedule's newest active run (queued, running or of unknown status), to attach to."""
        if product_id and surface_id:
            runs: list[Any] = self.get_surface_schedule(product_id, surface_id, schedule_id).recent_runs
        else:
            runs = self.list_schedule_runs(schedule_id)
        newest = newest_active_run(runs)
        if newest is None:
            return None
        return self.run_reference(
            schedule_id=schedule_id,
            run_id=newest.id,
            batch_execution_id=newest.batch_execution_id,
            product_id=product_id,
            surface_id=surface_id,
        )

    def find_schedule_by_name(
        self, name: str, *, product_id: str | None = None, surface_id: str | None = None
    ) -> Schedule:
        """The one schedule named exactly ``name`` (case-sensitive, outer spaces ignored), among global schedules
        (``GET /v1/schedules?search=``, at most 11 pages) or a product surface's. Raises
        ``RuntypeScheduleNotFoundError`` or ``RuntypeAmbiguousScheduleError`` (see ``schedule_names``)."""
        wanted = schedule_name_text(name)
        if product_id and surface_id:
            listed = self.list_surface_schedules(product_id, surface_id)
            return pick_schedule_by_name(wanted, listed, where=f"of product {product_id} surface {surface_id}")
        return pick_schedule_by_name(wanted, islice(self.list_schedules(search=wanted), MAX_NAME_CANDIDATES + 1))

    def run_reference(self, **ids: Any) -> RunReference:
        """A run reference with its dashboard URL (base from the connection's ``dashboard_url``)."""
        run = RunReference(**ids)
        if not run.run_url:
            run.run_url = build_run_url(self.settings.dashboard_url, run)
        return run

    # ---- connection test ----------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (``GET /v1/schedules?limit=1``), no retries; never raises.

        Messages name the host, never the connection id: the Airflow UI and REST API test a temporary
        connection whose id is random.
        """
        settings = self._settings
        try:
            if settings is None:
                conn = self.get_connection(self.runtype_conn_id)
                label = f"Runtype connection to {describe_host(conn)}"
                settings = settings_from_connection(conn, self.overrides, label=label)
            transport = SyncTransport(replace(settings, retry=RetryPolicy(retry_limit=0)), clock=self.clock)
            try:
                transport.send(build_request("list_schedules", query={"limit": "1"}), deadline=self.deadline)
            finally:
                transport.close()
        except RuntypeApiError as err:
            if err.status_code in (401, 403):
                return False, (
                    f"Runtype rejected the API key (HTTP {err.status_code}"
                    f"{': ' + err.error if err.error else ''}). Check the key and its schedule permissions."
                )
            return False, f"{err} (Runtype at {settings.base_url if settings else '?'})"
        except RuntypeException as err:
            return False, f"{err} (Runtype at {settings.base_url})" if settings else str(err)
        except Exception as err:
            return False, f"Runtype connection test failed: {type(err).__name__}"
        return True, f"Connected to Runtype at {settings.base_url}: the API key is valid."

    if not AIRFLOW_V_3_2_PLUS:  # Airflow < 3.2 reads the form from the hook; 3.2+ from get_provider_info.

        @classmethod
        def get_ui_field_behaviour(cls) -> dict[str, Any]:
            return legacy_ui_field_behaviour()

        @classmethod
        def get_connection_form_widgets(cls) -> dict[str, Any]:
            return legacy_form_widgets()
