"""The task side of a wait, shared by the run operator and the sensor: failure policy, deadlines, deferral, and
how an event or a timeout ends the task. The wait itself is :mod:`runtype_provider.runs.watch`."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.verdict import FailedRecordsPolicy, conclude_run
from runtype_provider.runs.watch import RunWaitEvent, RunWatch, cancel_run
from runtype_provider.tasks.base import HookMixin, run_wait_trigger


class RunWaiter(HookMixin):
    """The task side of a wait, shared by the run operator and the sensor (sync, poke and deferred)."""

    allowed_failed_records: Any
    poll_interval: float
    timeout: Any
    execution_timeout: timedelta | None
    max_poll_errors: int
    cancel_on_kill: bool
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
        trigger = run_wait_trigger(
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
