"""How a wait reads a run's progress: which read answers it (decided once, here), and the deferred waits' reads
through the per-event-loop share of :mod:`runtype_provider.client.shared`.

A run with a batch id is read by its batch status; one without, through its schedule's run list. With the
connection extra ``shared_run_list_polls`` (off by default), deferred waits on runs with a batch id read their
schedule's run list instead, one request per schedule and interval, while it lists their run as queued or running,
and their batch status otherwise (when the list shows a final or unknown status, or does not list the run): the
final status and counts always come from the batch status. Used while at least two waits read the same list.

A run of several batches (the batch operator's ``records_per_batch``) is read by each batch's status, at most one
request per batch and poll (none for a batch already seen ended), combined by
:meth:`RunProgress.combine <runtype_provider.runs.reference.RunProgress.combine>`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from runtype_provider.client.request import build_request
from runtype_provider.client.shared import ReadConnection, join_share, leave_share
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.status import RunOutcome, classify_run_status

if TYPE_CHECKING:
    from runtype_provider.api.responses import ScheduleRun
    from runtype_provider.client.shared import ConnectionShare, Reads


def progress_read(run: RunReference) -> tuple[str, dict[str, Any]]:
    """The operation and ids that answer "how far is ``run``": batch status when its batch id is known, else the
    schedule's run list (checked: the run must be pollable)."""
    run.require_pollable()
    if run.batch_execution_id:
        return "get_batch_status", {"batch_id": run.batch_execution_id}
    return "list_schedule_runs", {"schedule_id": run.schedule_id or ""}


def progress_of(run: RunReference, operation: str, answer: Any) -> RunProgress:
    """The run's progress from the answer of :func:`progress_read`'s operation."""
    if operation == "get_batch_status":
        return RunProgress.from_batch(answer, run)
    return RunProgress.from_run_list(answer, run)


def listed_run(runs: list[ScheduleRun], run: RunReference) -> ScheduleRun | None:
    """The run list's row for ``run``: same batch id, and same run id when the reference has one."""
    for row in runs:
        if row.batch_execution_id == run.batch_execution_id and (run.run_id is None or row.id == run.run_id):
            return row
    return None


class SharedRunReader:
    """One deferred wait's reads through its :class:`~runtype_provider.client.shared.ConnectionShare`, with what
    the wait engine polls (``get_run_progress_async``, ``deadline``, ``clock``) plus ``data_age``: how many
    seconds old the last answer already was when the poll began (0 when this wait's own request answered it).

    Made by :meth:`RuntypeHook.shared <runtype_provider.hooks.runtype.RuntypeHook.shared>`, which returns one that
    joins the share in ``async with`` (and waits for its turn to start); one made on a share already joined reads
    without it. ``run_list_polls`` None means the connection extra ``shared_run_list_polls``.

    A triggerer holds one per wait for the whole wait, so it holds as few objects as it can: the garbage collector
    visits each of them at every full collection, which is what a triggerer's event loop stalls on with thousands
    of waits. A request is built when this wait sends it (a few microseconds) rather than kept; what is kept per
    read is its key.
    """

    def __init__(
        self,
        share: ConnectionShare | None,
        overrides: dict[str, Any],
        *,
        sleep: Callable[[float], Any],
        clock: Callable[[], float] = time.monotonic,
        run_list_polls: bool | None = None,
    ) -> None:
        self.share: ConnectionShare = share  # type: ignore[assignment]  # set by ``__aenter__`` when None
        self.overrides = dict(overrides)
        self.params_key = json.dumps({k: v for k, v in self.overrides.items() if v is not None}, sort_keys=True,
                                     default=repr)  # fmt: skip
        self.sleep = sleep
        self.run_list_polls = run_list_polls
        self.deadline: float | None = None
        """A ``clock()`` value bounding this wait's reads (the wait engine sets it), or None."""
        self.clock = clock
        self.data_age = 0.0
        self._born = 0 if share is None else share.seq
        self._join: tuple[str, ReadConnection] | None = None
        self._seen: dict[Hashable, int] = {}
        self._keys: dict[tuple[str, ...], Hashable] = {}
        self._ended: dict[str, RunProgress] = {}

    @classmethod
    def joining(
        cls, conn_id: str, read_connection: ReadConnection, overrides: dict[str, Any], **options: Any
    ) -> SharedRunReader:
        """A reader that joins the running loop's share of ``conn_id`` in ``async with`` and leaves it after."""
        reader = cls(None, overrides, **options)
        reader._join = (conn_id, read_connection)
        return reader

    async def __aenter__(self) -> SharedRunReader:
        if self._join is not None:
            self.share, self._join = join_share(*self._join), None
            try:
                await self.share.start_turn()
            except BaseException:
                await leave_share(self.share)
                raise
            self._born = self.share.seq
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await leave_share(self.share)

    async def get_run_progress_async(self, run: RunReference) -> RunProgress:
        parts = run.batches()
        self.data_age = 0.0
        reads = await self.share.reads(self.overrides, self.params_key, self.sleep, self.clock)
        if len(parts) > 1:  # the batches' reads go out together (the share caps requests in flight)
            read = await asyncio.gather(*(self._batch_progress(reads, part) for part in parts))
            self.data_age = max(age for _, age in read)  # the oldest answer: the next poll comes that much sooner
            return RunProgress.combine([progress for progress, _ in read], run)
        operation, ids = progress_read(run)
        by_list = self.run_list_polls if self.run_list_polls is not None else reads.settings.shared_run_list_polls
        if operation == "get_batch_status" and by_list and run.schedule_id and not run.product_id:
            runs = self._key("list_schedule_runs", schedule_id=run.schedule_id)
            if self.share.readers(runs) >= 2:  # counting this wait: one list for two or more waits
                row = listed_run(
                    await self._read(reads, runs, "list_schedule_runs", {"schedule_id": run.schedule_id}), run
                )
                if row is not None and classify_run_status(row.status) is RunOutcome.RUNNING:
                    return RunProgress.from_run(row)
        return progress_of(run, operation, await self._read(reads, self._key(operation, **ids), operation, ids))

    async def _batch_progress(self, reads: Reads, part: RunReference) -> tuple[RunProgress, float]:
        """One batch of a run of several: its progress and how old the answer was (0 for a batch seen ended)."""
        batch = part.batch_execution_id or ""
        if batch in self._ended:
            return self._ended[batch], 0.0
        ids = {"batch_id": batch}
        answer = await self._read(reads, self._key("get_batch_status", **ids), "get_batch_status", ids)
        progress = RunProgress.from_batch(answer, part)
        if progress.outcome.is_terminal:
            self._ended[batch] = progress
        return progress, self.data_age

    def _key(self, operation: str, **ids: Any) -> Hashable:
        """What makes two reads the same: client options, method, path and query (worked out once per wait and read,
        and kept as plain strings, which the garbage collector does not track). The first time, this wait starts
        counting as a reader of it."""
        memo = (operation, *ids.values())
        key = self._keys.get(memo)
        if key is None:
            request = build_request(operation, **ids)
            key = self._keys[memo] = (
                self.params_key,
                request.method,
                request.path,
                tuple(sorted(request.query.items())),
            )
            self.share.interest(key, +1)
            self._seen[key] = self._born
        return key

    async def _read(self, reads: Reads, key: Hashable, operation: str, ids: dict[str, Any]) -> Any:
        """The answer to the read ``key`` (of ``operation`` for ``ids``): one the share already has that is newer
        than this wait's last, else by a request (built only then)."""
        after = self._seen[key]
        done = self.share.answered(key, after)
        if done is None:
            request = build_request(operation, **ids)
            done = await self.share.read(key, reads.transport, request, after=after, deadline=self.deadline)
        answer, self._seen[key], self.data_age = done
        return answer

    def close(self) -> None:
        """Stop counting as a reader of the reads this wait made."""
        for key in self._seen:
            self.share.interest(key, -1)
        self._seen.clear()
        self._keys.clear()
