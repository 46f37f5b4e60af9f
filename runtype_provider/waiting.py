"""One wait engine for a schedule run, driven three ways: the sync wait, the sensor's poke, the trigger.

* :class:`RunWatch` is one wait's state (failed polls in a row, unknown statuses already logged, since
  when the run has been missing from its schedule's run list, the last progress seen and logged) and the
  decision after each poll: progress, a tolerated transient error, or giving up.
* :func:`wait_until_terminal` (sync) and :func:`watch_until_terminal` (the trigger's, through the reads it
  shares with the other waits in its event loop: :mod:`runtype_provider.shared_reads`) are the two loops.
* :func:`cancel_run` / :func:`acancel_run` are the one best-effort remote cancel.
* :class:`RunWaitEvent` is the trigger's one event, parsed back by ``execute_complete``.
* :class:`RunWaiter` is the task side shared by the run operator and the sensor: failure policy,
  deadlines, deferral and how an event or a timeout ends the task.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from runtype_provider.exceptions import (
    TRANSIENT_ERRORS,
    RuntypeApiError,
    RuntypeDeadlineError,
    RuntypeException,
    RuntypeRunError,
    api_error_class,
)
from runtype_provider.models.conclusion import FailedRecordsPolicy, conclude_run
from runtype_provider.models.runs import RunProgress, RunReference
from runtype_provider.models.status import RunOutcome

if TYPE_CHECKING:
    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.shared_reads import SharedRunReader
    from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger


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
    unknown_statuses_logged: set[str | None] = field(default_factory=set)
    unlisted_since: float | None = None
    last_progress: RunProgress | None = None
    logged: tuple[str | None, str, float] | None = None
    """Status, progress line and (monotonic) time of the progress logged last; see :meth:`_log_progress`."""

    def poll(self, hook: RuntypeHook) -> RunProgress | None:
        """One sync poll: the progress, or None after a tolerated transient error or at the caller's deadline."""
        try:
            progress = hook.get_run_progress(self.run)
        except RuntypeDeadlineError:
            return None  # the caller's own deadline check ends the wait
        except TRANSIENT_ERRORS as err:
            self._poll_failed(err)
            return None
        return self._observed(progress)

    async def apoll(self, hook: RuntypeHook | SharedRunReader) -> RunProgress | None:
        """One async poll (the trigger's, through a hook or its shared reads), with the decisions of :meth:`poll`."""
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
        self._log_progress(progress)
        if progress.outcome is RunOutcome.UNKNOWN and progress.status not in self.unknown_statuses_logged:
            self.unknown_statuses_logged.add(progress.status)
            self.log.warning("Unknown Runtype run status %r; still waiting", progress.status)
        return progress

    def _log_progress(self, progress: RunProgress) -> None:
        """Log progress when it changes, not at every poll: a new status at once, new counts at most every
        :data:`PROGRESS_LOG_EVERY` seconds (a thousand waits in one triggerer would otherwise log each poll)."""
        described, now = progress.describe(), time.monotonic()
        if self.logged is not None:
            status, line, at = self.logged
            if line == described or (status == progress.status and now - at < PROGRESS_LOG_EVERY):
                return
        self.logged = (progress.status, described, now)
        self.log.info("Runtype run %s: %s", self.run.name, described)

    def _not_listed(self) -> None:
        now = time.monotonic()
        if self.unlisted_since is None:
            self.unlisted_since = now
            self.log.info(
                "Runtype run %s is not in schedule %s's run list yet; still waiting",
                self.run.name,
                self.run.schedule_id,
            )
        elif now - self.unlisted_since > UNLISTED_RUN_GRACE:
            raise RuntypeRunError(
                f"Runtype run {self.run.name} did not appear in schedule {self.run.schedule_id}'s run list within "
                f"{UNLISTED_RUN_GRACE:g} s; it cannot be tracked (was it started by another schedule?)",
                run=self.run.to_xcom(),
            )


def wait_until_terminal(
    hook: RuntypeHook, watch: RunWatch, poll_interval: float, deadline: float | None, polls: int | None = None
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


def _cancel_logged(log: Any, run: RunReference, why: str, answer: Any = None, error: Exception | None = None) -> bool:
    if error is not None:
        log.warning("Could not cancel Runtype batch %s (%s): %s", run.batch_execution_id, why, error)
        return False
    if answer.success is False:
        log.warning("Runtype did not cancel batch %s (%s): %s", run.batch_execution_id, why, answer.message)
        return False
    log.info("Cancelled Runtype batch %s (%s): %s", run.batch_execution_id, why, answer.message or answer.success)
    return True


def cancel_run(hook: RuntypeHook, run: RunReference, why: str, log: Any) -> bool:
    """Best-effort remote cancel of the run's batch; logs, never raises. True when it was cancelled."""
    if not run.batch_execution_id:
        return False
    try:
        answer = hook.cancel_batch(run.batch_execution_id)
    except Exception as err:
        return _cancel_logged(log, run, why, error=err)
    return _cancel_logged(log, run, why, answer)


async def acancel_run(hook: RuntypeHook, run: RunReference, why: str, log: Any) -> bool:
    """Async twin of :func:`cancel_run` (a trigger's ``on_kill``)."""
    if not run.batch_execution_id:
        return False
    try:
        answer = await hook.cancel_batch_async(run.batch_execution_id)
    except Exception as err:
        return _cancel_logged(log, run, why, error=err)
    return _cancel_logged(log, run, why, answer)


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


async def watch_until_terminal(
    hook: RuntypeHook | SharedRunReader, watch: RunWatch, poll_interval: float, end_time: float | None
) -> RunWaitEvent:
    """The trigger's loop: poll until the run is terminal, the wall-clock ``end_time`` passes, or polling fails.

    Every request is bounded by ``end_time`` too, so no retry of a poll sleeps past it. An answer that was already
    ``data_age`` seconds old (a read shared with other waits) shortens the next sleep by that much: the data a wait
    sees is never further apart than its poll interval (plus a request), as with its own polls.
    """
    bound = None if end_time is None else hook.clock() + max(0.0, end_time - time.time())
    with hook.bounded_by(bound):
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
            delay = max(0.0, poll_interval - getattr(hook, "data_age", 0.0))
            if end_time is not None:
                delay = max(0.0, min(delay, end_time - time.time()))
            await asyncio.sleep(delay)


class RunWaiter:
    """The task side of a wait, shared by the run operator and the sensor (sync, poke and deferred)."""

    allowed_failed_records: Any
    poll_interval: float
    timeout: Any
    execution_timeout: timedelta | None
    max_poll_errors: int
    cancel_on_kill: bool
    runtype_conn_id: str
    hook_params: dict[str, Any]
    hook: RuntypeHook
    log: Any
    run_url: str | None
    _run: RunReference | None

    def _policy(self) -> FailedRecordsPolicy:
        return FailedRecordsPolicy.parse(self.allowed_failed_records)

    def _watch(self, run: RunReference) -> RunWatch:
        return RunWatch(run=run, max_poll_errors=self.max_poll_errors, log=self.log)

    def _conclude(self, progress: RunProgress, run: RunReference) -> dict[str, Any]:
        return conclude_run(progress, run, self._policy(), self.log)

    def _wait_limit(self) -> float | None:
        """Seconds a wait may last: the earlier of ``timeout`` and the task's ``execution_timeout`` (None: no limit).

        Airflow does not enforce ``execution_timeout`` while a task is deferred, so the trigger's deadline
        carries it; on the sync path it bounds every poll's retries too.
        """
        limits = [float(self.timeout)] if self.timeout else []
        if self.execution_timeout is not None:
            limits.append(self.execution_timeout.total_seconds())
        return min(limits) if limits else None

    def _defer_wait(self, run: RunReference, limit: float | None, task_timeout: timedelta | None) -> None:
        """Hand the wait to the triggerer; ``limit`` becomes the trigger's wall-clock deadline."""
        from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

        trigger: RuntypeScheduleRunTrigger = RuntypeScheduleRunTrigger(
            run=run.to_xcom(),
            runtype_conn_id=self.runtype_conn_id,
            poll_interval=self.poll_interval,
            end_time=time.time() + limit if limit else None,
            max_poll_errors=self.max_poll_errors,
            cancel_on_kill=self.cancel_on_kill,
            hook_params=self.hook_params,
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=task_timeout)  # type: ignore[attr-defined]

    def _cancel(self, run: RunReference, why: str) -> bool:
        return self.cancel_on_kill and cancel_run(self.hook, run, why, self.log)

    @staticmethod
    def _timeout_message(run: RunReference, limit: float | None, progress: RunProgress | None, cancelled: bool) -> str:
        """Says how long was waited, where the run stood, and whether it was cancelled or may still be running."""
        within = f" within {limit:g} s" if limit else ""
        where = f" (last seen {progress.describe()})" if progress is not None else " (no status was seen)"
        state = "the run was cancelled" if cancelled else "the run was NOT cancelled and may still be running"
        link = f" {run.run_url}" if run.run_url else ""
        return f"Runtype run {run.name} did not finish{within}{where}; {state}.{link}"

    def _resume(self, payload: Any) -> RunWaitEvent:
        """Parse the trigger's event and remember its run (for the link and ``on_kill``)."""
        event = RunWaitEvent.from_payload(payload)
        self._run, self.run_url = event.run, event.run.run_url
        if event.event == "error":
            event.raise_error()
        return event

    def on_kill(self) -> None:
        """Cancel the remote batch when the task is killed or hits ``execution_timeout`` (best effort)."""
        if self._run is not None:
            self._cancel(self._run, "task killed")
