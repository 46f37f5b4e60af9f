"""Deferrable wait for a Runtype schedule run (runs in the triggerer's event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.runs.reference import RunReference
from runtype_provider.runs.watch import RunWatch, acancel_run, watch_until_terminal

STATE_QUESTION_TIMEOUT = 5.0
"""Seconds ``on_kill`` waits to learn whether the task is still deferred before cancelling anyway."""


class RuntypeScheduleRunTrigger(BaseTrigger):
    """Poll a run until it is terminal, the deadline passes, or polling keeps failing; yield one event.

    The event payload is a :class:`~runtype_provider.runs.watch.RunWaitEvent`: ``{"event": "finished" |
    "timeout" | "error", "run": <run reference>, "progress": <RunProgress as JSON>, "message": str}``;
    the operator or sensor judges it.

    :param run: the run reference (dict) to watch.
    :param runtype_conn_id: Runtype connection id (read with the async getter).
    :param poll_interval: seconds between polls.
    :param end_time: wall-clock deadline (epoch seconds), or None to wait without one.
    :param max_poll_errors: consecutive transient poll errors tolerated (each poll also retries itself).
    :param cancel_on_kill: cancel the remote batch when a user kills the task (Airflow 3.3+ ``on_kill``).
    :param hook_params: extra RuntypeHook arguments (timeout, retry_limit, ...).

    Triggers in one event loop share the connection read, the HTTP clients and identical reads per connection
    (:meth:`RuntypeHook.shared <runtype_provider.hooks.runtype.RuntypeHook.shared>`); the connection extra
    ``shared_run_list_polls`` (default off) also answers waits from one schedule run list per interval.
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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The wait (and the shared HTTP client's cleanup, by the last wait to leave) finishes before the one event
        # is yielded: a runner that takes the first event and drops the generator (``dag.test()``:
        # ``asyncio.run(anext(...))``) must not leave the cleanup to garbage collection outside the event loop.
        async with RuntypeHook.shared(self.runtype_conn_id, **self.hook_params) as reads:
            watch = RunWatch(
                run=RunReference.coerce(self.run_reference), max_poll_errors=self.max_poll_errors, log=self.log
            )
            event = await watch_until_terminal(reads, watch, self.poll_interval, self.end_time)
        yield TriggerEvent(event.to_payload())

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user killed the task (mark failed/success, clear): cancel the remote batch.

        Airflow 3.3.2 also calls this when a stalled triggerer wakes up and drops a trigger that another
        triggerer has taken over (apache/airflow#73454); the task is then still deferred and the run must go on.
        The triggerer may cancel this coroutine again while it waits for an answer, so the work runs shielded:
        once started, the check and the cancel finish.
        """
        if self.cancel_on_kill:
            await asyncio.shield(asyncio.ensure_future(self._cancel_unless_still_deferred()))

    async def _cancel_unless_still_deferred(self) -> None:
        if await self._task_still_deferred():
            self.log.info("The task is still deferred: its wait moved to another triggerer; not cancelling the run")
            return
        hook = self._hook()
        try:
            await acancel_run(hook, RunReference.coerce(self.run_reference), "task killed", self.log)
        finally:
            await hook.aclose()

    @staticmethod
    def _supervisor() -> Any:
        """The triggerer's channel to its supervisor (set by Airflow in the trigger runner process)."""
        from airflow.sdk.execution_time import task_runner

        return task_runner.SUPERVISOR_COMMS

    async def _task_still_deferred(self) -> bool:
        """Whether the task instance is still DEFERRED (asked through the triggerer's supervisor).

        Unknown (no task instance, or the question fails) counts as not deferred: a user's kill then cancels
        the run as documented, rather than leave it running.
        """
        ti = self.task_instance
        if ti is None:
            return False
        try:
            from airflow.sdk.execution_time.comms import GetTaskStates

            map_index = getattr(ti, "map_index", -1)
            mapped = isinstance(map_index, int) and map_index >= 0
            question = GetTaskStates(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=map_index if mapped else None
            )
            answer: Any = await asyncio.wait_for(self._supervisor().asend(question), STATE_QUESTION_TIMEOUT)
            state = answer.task_states[ti.run_id][f"{ti.task_id}_{map_index}" if mapped else ti.task_id]
        except Exception as err:
            self.log.warning("Could not ask whether the task is still deferred (%s); cancelling as asked", err)
            return False
        return str(getattr(state, "value", state)) == "deferred"
