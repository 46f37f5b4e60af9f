"""Deferrable wait for a Runtype schedule run (runs in the triggerer's event loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from runtype_provider.exceptions import (
    RuntypeConnectionError,
    RuntypeError,
    RuntypeRateLimitError,
    RuntypeResponseError,
    RuntypeServerError,
)
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.models import RunOutcome, RunReference

TRANSIENT_ERRORS = (RuntypeConnectionError, RuntypeServerError, RuntypeRateLimitError, RuntypeResponseError)
"""Poll failures that are tolerated (up to ``max_poll_errors`` in a row) while waiting for a run."""


class RuntypeScheduleRunTrigger(BaseTrigger):
    """Poll a run until it is terminal, the deadline passes, or polling keeps failing; yield one event.

    The event payload is ``{"event": "finished" | "timeout" | "error", "run": <run reference>,
    "progress": <RunProgress as JSON>, "message": str}``; the operator or sensor judges it.

    :param run: the run reference (dict) to watch.
    :param runtype_conn_id: Runtype connection id (read with the async getter).
    :param poll_interval: seconds between polls.
    :param end_time: wall-clock deadline (epoch seconds), or None to wait without one.
    :param max_poll_errors: consecutive transient poll errors tolerated (each poll also retries itself).
    :param cancel_on_kill: cancel the remote batch when a user kills the task (Airflow 3.3+ ``on_kill``).
    :param hook_params: extra RuntypeHook arguments (timeout, retry_limit, ...).
    """

    def __init__(
        self,
        *,
        run: dict[str, Any],
        runtype_conn_id: str = RuntypeHook.default_conn_name,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        max_poll_errors: int = 5,
        cancel_on_kill: bool = True,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.run_reference = RunReference.coerce(run).to_xcom()
        self.runtype_conn_id = runtype_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = end_time
        self.max_poll_errors = int(max_poll_errors)
        self.cancel_on_kill = cancel_on_kill
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run": self.run_reference,
                "runtype_conn_id": self.runtype_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "max_poll_errors": self.max_poll_errors,
                "cancel_on_kill": self.cancel_on_kill,
                "hook_params": self.hook_params,
            },
        )

    def _hook(self) -> RuntypeHook:
        return RuntypeHook(self.runtype_conn_id, **self.hook_params)

    def _event(self, event: str, message: str, progress: Any = None) -> TriggerEvent:
        return TriggerEvent(
            {
                "event": event,
                "run": self.run_reference,
                "progress": progress.model_dump(mode="json") if progress is not None else None,
                "message": message,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The wait (and the HTTP client's cleanup) finishes before the one event is yielded: a runner that
        # takes the first event and drops the generator (``dag.test()``: ``asyncio.run(anext(...))``) must
        # not leave the cleanup to garbage collection outside the event loop.
        yield await self._wait()

    async def _wait(self) -> TriggerEvent:
        run = RunReference.coerce(self.run_reference)
        hook = self._hook()
        errors = 0
        progress = None
        unknown_logged: set[str | None] = set()
        try:
            while True:
                try:
                    progress = await hook.get_run_progress_async(run)
                    errors = 0
                except TRANSIENT_ERRORS as err:
                    errors += 1
                    if errors > self.max_poll_errors:
                        return self._event("error", f"Gave up polling after {errors} failed polls in a row: {err}")
                    self.log.warning("Poll %d of the run failed (%s); will retry", errors, err)
                except RuntypeError as err:
                    return self._event("error", str(err))
                else:
                    self.log.info("Runtype run %s: %s", run.run_id or run.batch_execution_id, progress.describe())
                    if progress.outcome.is_terminal:
                        return self._event("finished", progress.describe(), progress)
                    if progress.outcome is RunOutcome.UNKNOWN and progress.status not in unknown_logged:
                        unknown_logged.add(progress.status)
                        self.log.warning("Unknown Runtype run status %r; still waiting", progress.status)
                if self.end_time is not None and time.time() >= self.end_time:
                    return self._event("timeout", "The wait for the Runtype run timed out", progress)
                delay = self.poll_interval
                if self.end_time is not None:
                    delay = max(0.0, min(delay, self.end_time - time.time()))
                await asyncio.sleep(delay)
        finally:
            await hook.aclose()

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user killed the task (mark failed/success, clear): cancel the remote batch."""
        batch_id = self.run_reference.get("batch_execution_id")
        if not self.cancel_on_kill or not batch_id:
            return
        hook = self._hook()
        try:
            answer = await hook.cancel_batch_async(batch_id)
            self.log.info("Cancelled Runtype batch %s on kill: %s", batch_id, answer.message or answer.success)
        except Exception as err:
            self.log.warning("Could not cancel Runtype batch %s on kill: %s", batch_id, err)
        finally:
            await hook.aclose()
