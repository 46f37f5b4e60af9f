"""The task side of a wait, shared by the run operator and the sensor: failure policy, deadlines, deferral, and
how an event or a timeout ends the task. The wait itself is :mod:`runtype_provider.runs.watch`."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, NoReturn

from runtype_provider.exceptions import RuntypeRunError
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.verdict import FailedRecordsPolicy, conclude_run
from runtype_provider.runs.watch import RunWaitEvent, RunWatch, cancel_run, wait_until_terminal
from runtype_provider.tasks.base import HookMixin, run_wait_trigger


class RunWaiter(HookMixin):
    """The task side of a wait, shared by the run operator and the sensor (sync, poke and deferred)."""

    allowed_failed_records: Any
    poll_interval: float
    timeout: Any
    execution_timeout: timedelta | None
    max_poll_errors: int
    cancel_on_kill: bool
    deferrable: bool
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

    def _wait(self, run: RunReference) -> dict[str, Any]:
        """Wait for a run the task started (sync, or deferred after one check) and judge it (:meth:`_conclude`)."""
        limit = self._wait_limit()
        deadline = time.monotonic() + limit if limit else None
        watch = self._watch(run)
        if self.deferrable:
            # Check once first: a run that already ended needs no triggerer.
            progress = wait_until_terminal(self.hook, watch, self.poll_interval, deadline, polls=1)
            if progress is None or not progress.outcome.is_terminal:
                # The task timeout is a backstop: the trigger's own deadline fires first so the run can be cancelled.
                self._defer_wait(run, limit, self._backstop(limit))
        else:
            progress = self._sync_wait(watch, deadline)
        if progress is None or not progress.outcome.is_terminal:
            self._timed_out(run, limit, watch.last_progress)
        return self._conclude(progress, run)

    def _sync_wait(self, watch: RunWatch, deadline: float | None) -> RunProgress | None:
        """The sync wait's loop (a subclass may interleave its own checks)."""
        return wait_until_terminal(self.hook, watch, self.poll_interval, deadline)

    def _backstop(self, limit: float | None) -> timedelta | None:
        """The deferral's task timeout: past the trigger's own deadline, so the trigger ends the wait first."""
        return timedelta(seconds=limit + max(60.0, 2 * self.poll_interval)) if limit else None

    def _timed_out(self, run: RunReference, limit: float | None, progress: RunProgress | None) -> NoReturn:
        cancelled = self._cancel(run, "wait timed out")
        raise RuntypeRunError(self._timeout_message(run, limit, progress, cancelled), run=run.to_xcom())

    def _defer_wait(
        self,
        run: RunReference,
        limit: float | None,
        task_timeout: timedelta | None,
        *,
        end_time: float | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Hand the wait to the triggerer; ``limit`` (or an explicit wall-clock ``end_time``) becomes the trigger's
        deadline; ``kwargs`` reach ``execute_complete``."""
        trigger = run_wait_trigger(
            run=run.to_xcom(),
            runtype_conn_id=self.runtype_conn_id,
            poll_interval=self.poll_interval,
            end_time=end_time if end_time is not None else time.time() + limit if limit else None,
            max_poll_errors=self.max_poll_errors,
            cancel_on_kill=self.cancel_on_kill,
            hook_params=self.hook_params,
        )
        self.defer(  # type: ignore[attr-defined]
            trigger=trigger, method_name="execute_complete", kwargs=kwargs, timeout=task_timeout
        )

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
