"""One wait engine for a run, driven three ways: the sync wait, the sensor's poke, the trigger.

* :class:`RunWatch` is one wait's state (failed polls in a row, unknown statuses already logged, since
  when the run has been missing from its schedule's run list, the last progress seen and logged) and the
  decision after each poll: progress, a tolerated transient error, or giving up.
* :func:`wait_until_terminal` (sync) and :func:`watch_until_terminal` (the trigger's) are the two loops. They
  poll through a :class:`ProgressSource` / :class:`AsyncProgressSource` (the hook, or a deferred wait's shared
  reads), so the engine imports neither the client nor the trigger.
* :func:`cancel_run` / :func:`acancel_run` are the one best-effort remote cancel (every batch of the run still
  going).
* :class:`RunWaitEvent` is the trigger's one event, parsed back by ``execute_complete``.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from runtype_provider.exceptions import (
    TRANSIENT_ERRORS,
    RuntypeApiError,
    RuntypeDeadlineError,
    RuntypeException,
    RuntypeRunError,
    api_error_class,
)
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.status import RunOutcome, classify_run_status


class ProgressSource(Protocol):
    """What the sync loop polls (the hook): progress within a deadline on ``clock``."""

    clock: Callable[[], float]

    def get_run_progress(self, run: RunReference) -> RunProgress: ...

    def bounded_by(self, deadline: float | None) -> AbstractContextManager[Any]: ...


class AsyncProgressSource(Protocol):
    """What the trigger's loop polls (a deferred wait's shared reads); ``data_age``: how old the last answer was;
    ``deadline``: a ``clock()`` value bounding its reads, set by the loop (an attribute rather than a context
    manager: a wait held for hours in a triggerer keeps fewer objects for the garbage collector to visit)."""

    clock: Callable[[], float]
    data_age: float
    deadline: float | None

    async def get_run_progress_async(self, run: RunReference) -> RunProgress: ...


class BatchCanceller(Protocol):
    """What cancels a run's batches (the hook): the answer has ``success`` and ``message``; a batch status has
    ``status`` (read first for a run of several batches, to cancel only those still going)."""

    def cancel_batch(self, batch_id: str) -> Any: ...

    def get_batch_status(self, batch_id: str) -> Any: ...


class AsyncBatchCanceller(Protocol):
    async def cancel_batch_async(self, batch_id: str) -> Any: ...

    async def get_batch_status_async(self, batch_id: str) -> Any: ...


PROGRESS_LOG_EVERY = 60.0
"""Seconds between two log lines of a wait whose status stays the same while its counts move."""
UNLISTED_RUN_GRACE = 300.0
"""Seconds a run polled through its schedule's run list may be missing from that list before the wait fails."""


@dataclass
class RunWatch:
    """The state of one wait for ``run`` and what each poll means."""

    run: RunReference
    max_poll_errors: int
    log: Any
    failed_polls: int = 0
    unknown_statuses_logged: frozenset[str | None] = frozenset()
    unlisted_since: float | None = None
    unlisted_said: bool = False
    last_progress: RunProgress | None = None
    logged: tuple[str | None, str, float] | None = None
    """Status, progress line and (monotonic) time of the progress logged last; see :meth:`_log_progress`."""
    first_seen: tuple[str | None, float] | None = None
    """The status this wait saw first, and when (monotonic)."""
    quiet_start: bool = True
    """Hold the first status back until it lasts (see :meth:`_log_progress`); False for a wait of one poll (a
    ``reschedule`` sensor's poke), which logs what it sees."""

    def poll(self, hook: ProgressSource) -> RunProgress | None:
        """One sync poll: the progress, or None after a tolerated transient error or at the caller's deadline."""
        try:
            progress = hook.get_run_progress(self.run)
        except RuntypeDeadlineError:
            return None  # the caller's own deadline check ends the wait
        except TRANSIENT_ERRORS as err:
            self._poll_failed(err)
            return None
        return self._observed(progress)

    async def apoll(self, hook: AsyncProgressSource) -> RunProgress | None:
        """One async poll (the trigger's, through its shared reads), with the decisions of :meth:`poll`."""
        try:
            progress = await hook.get_run_progress_async(self.run)
        except RuntypeDeadlineError:
            return None
        except TRANSIENT_ERRORS as err:
            self._poll_failed(err)
            return None
        return self._observed(progress)

    def _poll_failed(self, error: Exception) -> None:
        self.failed_polls += 1
        if self.failed_polls > self.max_poll_errors:
            raise RuntypeRunError(
                f"Gave up polling Runtype run {self.run.name} after {self.failed_polls} failed polls in a row: {error}",
                run=self.run.to_xcom(),
            ) from error
        self.log.warning("Poll %d of the run failed (%s); will retry", self.failed_polls, error)

    def _observed(self, progress: RunProgress) -> RunProgress:
        self.failed_polls = 0
        if not progress.listed:
            self._not_listed()
            return progress
        self.unlisted_since = None
        self.last_progress = progress
        if not progress.outcome.is_terminal:  # the final status is logged once, by the verdict (conclude_run)
            self._log_progress(progress)
        if progress.outcome is RunOutcome.UNKNOWN and progress.status not in self.unknown_statuses_logged:
            self.unknown_statuses_logged |= {progress.status}
            self.log.warning("Unknown Runtype run status %r; still waiting", progress.status)
        return progress

    def _log_progress(self, progress: RunProgress) -> None:
        """Log progress when it changes, not at every poll: a new status at once, new counts at most every
        :data:`PROGRESS_LOG_EVERY` seconds (a thousand waits in one triggerer would otherwise log each poll).

        What the wait sees first is what the task has just started (and logged): its status is logged only once
        it has lasted :data:`PROGRESS_LOG_EVERY` seconds, and any change from it at once (unless
        :attr:`quiet_start` is off). A run that keeps one status for under a minute logs no progress line, only its
        verdict."""
        now = time.monotonic()
        if self.logged is None and self.quiet_start:
            if self.first_seen is None:
                self.first_seen = (progress.status, now)
            status, since = self.first_seen
            if progress.status == status and now - since < PROGRESS_LOG_EVERY:
                return
        described = progress.describe()
        if self.logged is not None:
            status, line, at = self.logged
            if line == described or (status == progress.status and now - at < PROGRESS_LOG_EVERY):
                return
        self.logged = (progress.status, described, now)
        self.log.info("Runtype run %s: %s", self.run.name, described)

    def _not_listed(self) -> None:
        """A run just started is often missing from the first list read: said once, only when it is still missing
        at the next poll (a line per wait would cost more than the poll itself)."""
        now = time.monotonic()
        if self.unlisted_since is None:
            self.unlisted_since = now
        elif not self.unlisted_said:
            self.unlisted_said = True
            self.log.info(
                "Runtype run %s is not in schedule %s's run list yet; still waiting",
                self.run.name,
                self.run.schedule_id,
            )
        if now - self.unlisted_since > UNLISTED_RUN_GRACE:
            raise RuntypeRunError(
                f"Runtype run {self.run.name} did not appear in schedule {self.run.schedule_id}'s run list within "
                f"{UNLISTED_RUN_GRACE:g} s; it cannot be tracked (was it started by another schedule?)",
                run=self.run.to_xcom(),
            )


def wait_until_terminal(
    hook: ProgressSource, watch: RunWatch, poll_interval: float, deadline: float | None, polls: int | None = None
) -> RunProgress | None:
    """The sync loop: poll until the run is terminal, the monotonic ``deadline`` passes or ``polls`` were made.

    Returns the terminal progress; else the last poll's progress, or None when the deadline passed. Every
    request is bounded by the deadline too, so no retry of a poll sleeps past it.
    """
    remaining = None if deadline is None else deadline - time.monotonic()
    with hook.bounded_by(None if remaining is None else hook.clock() + max(0.0, remaining)):
        progress = watch.poll(hook)
        made = 1
        while progress is None or not progress.outcome.is_terminal:
            if polls is not None and made >= polls:
                return progress
            if deadline is not None and time.monotonic() >= deadline:
                return None
            pause = poll_interval if deadline is None else min(poll_interval, deadline - time.monotonic())
            time.sleep(max(0.0, pause))
            progress = watch.poll(hook)
            made += 1
    return progress


def _cancel_logged(log: Any, batch: str, why: str, answer: Any = None, error: Exception | None = None) -> bool:
    if error is not None:
        log.warning("Could not cancel Runtype batch %s (%s): %s", batch, why, error)
        return False
    if answer.success is False:
        log.warning("Runtype did not cancel batch %s (%s): %s", batch, why, answer.message)
        return False
    log.info("Cancelled Runtype batch %s (%s): %s", batch, why, answer.message or answer.success)
    return True


def _ended(status: Any) -> bool:
    return classify_run_status(getattr(status, "status", None)).is_terminal


def _cancelled_all(log: Any, run: RunReference, why: str, outcomes: list[bool | None]) -> bool:
    """Log what cancelling a run of several batches did (``None``: the batch had ended); True when every batch
    still going was cancelled."""
    if len(outcomes) > 1:
        log.info(
            "Runtype run %s (%s): %d batches cancelled, %d could not be, %d had ended",
            run.name, why, outcomes.count(True), outcomes.count(False), outcomes.count(None),
        )  # fmt: skip
    return False not in outcomes


def cancel_run(hook: BatchCanceller, run: RunReference, why: str, log: Any) -> bool:
    """Best-effort remote cancel of the run's batches; logs, never raises. True when every batch still going was
    cancelled. A run of several batches reads each batch's status first and cancels those not ended (one whose
    status cannot be read is cancelled anyway)."""
    ids, outcomes = run.batch_ids, list[bool | None]()
    if not ids:
        return False
    for batch in ids:
        try:
            if len(ids) > 1 and _ended(hook.get_batch_status(batch)):
                outcomes.append(None)
                continue
        except Exception as err:
            log.warning("Could not read the status of Runtype batch %s before cancelling it (%s)", batch, err)
        try:
            answer = hook.cancel_batch(batch)
        except Exception as err:
            outcomes.append(_cancel_logged(log, batch, why, error=err))
        else:
            outcomes.append(_cancel_logged(log, batch, why, answer))
    return _cancelled_all(log, run, why, outcomes)


async def acancel_run(hook: AsyncBatchCanceller, run: RunReference, why: str, log: Any) -> bool:
    """Async twin of :func:`cancel_run` (a trigger's ``on_kill``)."""
    ids, outcomes = run.batch_ids, list[bool | None]()
    if not ids:
        return False
    for batch in ids:
        try:
            if len(ids) > 1 and _ended(await hook.get_batch_status_async(batch)):
                outcomes.append(None)
                continue
        except Exception as err:
            log.warning("Could not read the status of Runtype batch %s before cancelling it (%s)", batch, err)
        try:
            answer = await hook.cancel_batch_async(batch)
        except Exception as err:
            outcomes.append(_cancel_logged(log, batch, why, error=err))
        else:
            outcomes.append(_cancel_logged(log, batch, why, answer))
    return _cancelled_all(log, run, why, outcomes)


class RunWaitEvent(BaseModel):
    """The trigger's one event: the run finished, the wait timed out, or waiting failed."""

    model_config = ConfigDict(defer_build=True)

    event: Literal["finished", "timeout", "error"]
    run: RunReference
    progress: RunProgress | None = None
    message: str = ""
    api_error: dict[str, Any] | None = None
    """For an error the API answered (e.g. 404): method, path, status_code, error, details, to raise it again."""

    @classmethod
    def failed(cls, run: RunReference, error: RuntypeException) -> RunWaitEvent:
        api_error = None
        if isinstance(error, RuntypeApiError):
            api_error = {
                "method": error.method,
                "path": error.path,
                "status_code": error.status_code,
                "error": error.error,
                "details": error.details,
            }
        return cls(event="error", run=run, message=str(error), api_error=api_error)

    def raise_error(self) -> None:
        """Raise what the trigger saw: the same typed API error as the sync path would, else a run error."""
        if self.api_error:
            try:
                error = api_error_class(int(self.api_error["status_code"]))(
                    method=str(self.api_error["method"]),
                    path=str(self.api_error["path"]),
                    status_code=int(self.api_error["status_code"]),
                    error=self.api_error.get("error"),
                    details=self.api_error.get("details") if isinstance(self.api_error.get("details"), list) else None,
                )
            except (KeyError, TypeError, ValueError):
                error = None
            if error is not None:
                raise error
        raise RuntypeRunError(f"Waiting for the Runtype run failed: {self.message}", run=self.run.to_xcom())

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: Any) -> RunWaitEvent:
        """Parse an event; anything malformed (or "finished" without a final status) is an error."""
        try:
            event = cls.model_validate(payload)
        except ValidationError:
            raise RuntypeException(f"Unexpected event from the Runtype trigger: {payload!r}") from None
        if event.event == "finished" and (event.progress is None or not event.progress.outcome.is_terminal):
            # Never let a malformed "finished" event pass as a success.
            raise RuntypeException(
                f"The Runtype trigger reported a run as finished without a final status: {payload!r}"
            )
        return event


_QUIET = contextvars.Context()
"""The context the wake-up of :func:`pause` runs in: it only sets a future's result (the waiting task resumes in
its own context)."""


def pause(seconds: float) -> asyncio.Future[None]:
    """What the trigger's loop awaits between polls: ``asyncio.sleep`` without its coroutine and its copy of the
    context, two objects fewer per waiting trigger for the garbage collector to visit with thousands of waits."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    loop.call_later(seconds, _wake, waiter, context=_QUIET)
    return waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # a cancelled wait leaves its timer to fire into nothing
        waiter.set_result(None)


async def watch_until_terminal(
    hook: AsyncProgressSource, watch: RunWatch, poll_interval: float, end_time: float | None
) -> RunWaitEvent:
    """The trigger's loop: poll until the run is terminal, the wall-clock ``end_time`` passes, or polling fails.

    Every request is bounded by ``end_time`` too, so no retry of a poll sleeps past it. An answer that was already
    ``data_age`` seconds old (a read shared with other waits) shortens the next sleep by that much: the data a wait
    sees is never further apart than its poll interval (plus a request), as with its own polls.
    """
    previous = hook.deadline
    if end_time is not None:
        bound = hook.clock() + max(0.0, end_time - time.time())
        hook.deadline = bound if previous is None else min(previous, bound)
    try:
        while True:
            try:
                progress = await watch.apoll(hook)
            except RuntypeException as err:
                return RunWaitEvent.failed(watch.run, err)
            if progress is not None and progress.outcome.is_terminal:
                return RunWaitEvent(event="finished", run=watch.run, progress=progress, message=progress.describe())
            if end_time is not None and time.time() >= end_time:
                return RunWaitEvent(
                    event="timeout",
                    run=watch.run,
                    progress=watch.last_progress,
                    message="The wait for the Runtype run timed out",
                )
            delay = max(0.0, poll_interval - hook.data_age)
            if end_time is not None:
                delay = max(0.0, min(delay, end_time - time.time()))
            await pause(delay)
    finally:
        hook.deadline = previous
