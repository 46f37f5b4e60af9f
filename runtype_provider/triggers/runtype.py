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
"""Seconds ``on_kill`` waits for each answer to "what state is the task in?"."""
STATE_QUESTION_TRIES = 2
KILLED_STATES = frozenset({"failed", "success", "skipped", "upstream_failed", "removed", "up_for_retry", None})
"""Task states a user's action (mark failed or success, clear: no state) or the task's end leaves a deferred task in;
only these cancel the run. Deferred, scheduled, queued and running mean its wait goes on (moved or resumed)."""
_UNKNOWN = object()


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
                run=RunReference.coerce(self.run_reference), max_poll_errors=self.max_poll_errors, log=self._wait_log()
            )
            event = await watch_until_terminal(reads, watch, self.poll_interval, self.end_time)
        yield TriggerEvent(event.to_payload())

    def _wait_log(self) -> Any:
        """The logger of this trigger's class, shared by its waits (same name as ``self.log``; one set by hand on the
        instance wins). A logger of its own per wait is about eight objects that the garbage collector visits at
        every full collection, for thousands of waits in a triggerer; the triggerer routes each line to its task's
        log by context variables, not by logger."""
        cls = type(self)
        if cls.__dict__.get("_log") is None:
            cls._log = None  # a subclass gets a logger of its own name, not its parent's
            cls.logger()
        return self.log

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user killed the task (mark failed/success, clear): cancel the remote batch.

        Airflow 3.3.2 also calls this when a stalled triggerer wakes up and drops a trigger that another
        triggerer has taken over (apache/airflow#73454); the task is then still deferred and the run must go on.
        So the run is cancelled only on a definite answer that a user's action ended the deferral
        (:data:`KILLED_STATES`); a question that fails or gets no answer in time leaves the run going (logged with
        its link): cancelling a healthy run is the worse mistake. The triggerer may cancel this coroutine again
        while it waits for an answer, so the work runs shielded: once started, the check and the cancel finish.
        """
        if self.cancel_on_kill:
            await asyncio.shield(asyncio.ensure_future(self._cancel_if_killed()))

    async def _cancel_if_killed(self) -> None:
        run = RunReference.coerce(self.run_reference)
        state = await self._task_state()
        if state is _UNKNOWN:
            self.log.warning(
                "Could not learn whether the task was killed or its wait moved to another triggerer: not cancelling "
                "Runtype run %s, which may still be running. Cancel it in Runtype if the task was killed: %s",
                run.name,
                run.run_url or "(no link)",
            )
            return
        if state not in KILLED_STATES:
            self.log.info("The task is %s: its wait goes on elsewhere; not cancelling the run", state)
            return
        hook = self._hook()
        try:
            await acancel_run(hook, run, "task killed", self.log)
        finally:
            await hook.aclose()

    @staticmethod
    def _supervisor() -> Any:
        """The triggerer's channel to its supervisor (set by Airflow in the trigger runner process)."""
        from airflow.sdk.execution_time import task_runner

        return task_runner.SUPERVISOR_COMMS

    async def _task_state(self) -> str | object | None:
        """The task instance's state, asked through the triggerer's supervisor (:data:`STATE_QUESTION_TRIES`
        tries of :data:`STATE_QUESTION_TIMEOUT` seconds each); ``_UNKNOWN`` when no answer came. Without a task
        instance (not run by a triggerer) there is nothing to ask: the kill is taken as meant ("failed")."""
        ti = self.task_instance
        if ti is None:
            return "failed"
        from airflow.sdk.execution_time.comms import GetTaskStates

        map_index = getattr(ti, "map_index", -1)
        mapped = isinstance(map_index, int) and map_index >= 0
        question = GetTaskStates(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=map_index if mapped else None
        )
        for attempt in range(1, STATE_QUESTION_TRIES + 1):
            try:
                answer: Any = await asyncio.wait_for(self._supervisor().asend(question), STATE_QUESTION_TIMEOUT)
                state = answer.task_states[ti.run_id][f"{ti.task_id}_{map_index}" if mapped else ti.task_id]
            except Exception as err:
                self.log.warning("Asking whether the task is still deferred failed (try %d: %r)", attempt, err)
                continue
            return None if state is None else str(getattr(state, "value", state))
        return _UNKNOWN
