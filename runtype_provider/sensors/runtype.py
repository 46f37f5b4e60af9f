"""Sensor that waits for a Runtype schedule run to finish."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from runtype_provider import DEFAULT_CONN_ID
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.links import RuntypeRunLink
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.verdict import FailedRecordsPolicy
from runtype_provider.runs.watch import RunWatch, cancel_run, wait_until_terminal
from runtype_provider.tasks.arguments import (
    ScheduleTarget,
    check_schedule_choice,
    count,
    default_deferrable,
    positive_seconds,
)
from runtype_provider.tasks.waiting import RunWaiter
from runtype_provider.version_compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    Context,
)

try:
    from airflow.sdk import PokeReturnValue
except ImportError:  # pragma: no cover
    from airflow.sensors.base import PokeReturnValue  # type: ignore[no-redef,unused-ignore]


class RuntypeScheduleRunSensor(ScheduleTarget, RunWaiter, BaseSensorOperator):
    """Wait for a Runtype schedule run: succeeds when it completes, fails when it fails or is cancelled.

    Give the run reference from :class:`~runtype_provider.operators.runtype.RuntypeRunScheduleOperator`
    (``run=run_task.output``), or explicit ids: ``batch_execution_id``, or ``schedule_id`` + ``run_id``
    (``schedule_name`` may stand for ``schedule_id``: the schedule's exact name, looked up when the task runs).
    Works in ``poke``, ``reschedule`` and deferrable mode; ``timeout`` gives ``AirflowSensorTimeout`` (and
    ``soft_fail`` skips). The return value (XCom) is the run reference plus ``status``, ``outcome`` and record
    counts, so it can feed :class:`~runtype_provider.operators.runtype.RuntypeScheduleRunResultsOperator`.

    :param allowed_failed_records: see ``RuntypeRunScheduleOperator``: None (default), N, or ``"X%"``.
    :param cancel_on_kill: cancel the remote batch when the task is killed (default True).
    :param cancel_on_timeout: cancel the remote batch when the sensor times out (default False: the sensor
        watches a run it did not start; the timeout message says whether the run is still going).
    :param max_poll_errors: consecutive failed polls tolerated. In ``reschedule`` mode every poke runs in a
        fresh task process, so the count (and the once-per-status warning for unknown statuses) restarts with
        each poke; there ``timeout`` alone bounds a run that stays unreachable.
    :param deferrable: defer to the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "run",
        "schedule_id",
        "schedule_name",
        "run_id",
        "batch_execution_id",
        "product_id",
        "surface_id",
    )
    template_fields_renderers = {"run": "json"}
    operator_extra_links = (RuntypeRunLink(),)
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        run: Any = None,
        schedule_id: str | None = None,
        schedule_name: str | None = None,
        run_id: str | None = None,
        batch_execution_id: str | None = None,
        product_id: str | None = None,
        surface_id: str | None = None,
        runtype_conn_id: str = DEFAULT_CONN_ID,
        allowed_failed_records: int | str | None = None,
        deferrable: bool | None = None,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = False,
        max_poll_errors: int = 5,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        explicit = batch_execution_id or run_id
        if run is None and not explicit:
            raise RuntypeConfigurationError(
                "give 'run' (the run operator's output) or 'batch_execution_id', or 'schedule_id' with 'run_id'"
            )
        if run is not None and (explicit or schedule_name):
            raise RuntypeConfigurationError("give either 'run' or explicit ids, not both")
        if schedule_id and schedule_name:
            check_schedule_choice(schedule_id, schedule_name)  # raises: not both
        if run_id and not batch_execution_id and not (schedule_id or schedule_name):
            raise RuntypeConfigurationError(
                "'run_id' needs 'schedule_id' or 'schedule_name' (or give 'batch_execution_id')"
            )
        self.run = run
        self.schedule_id = schedule_id
        self.schedule_name = schedule_name
        self.run_id = run_id
        self.batch_execution_id = batch_execution_id
        self.product_id = product_id
        self.surface_id = surface_id
        self.given_schedule()
        self.runtype_conn_id = runtype_conn_id
        self.hook_params = dict(hook_params or {})
        self.allowed_failed_records = allowed_failed_records
        FailedRecordsPolicy.parse(allowed_failed_records)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.max_poll_errors = count(max_poll_errors, "max_poll_errors")
        positive_seconds(self.poke_interval, "poke_interval")
        self.run_url: str | None = None
        self._run: RunReference | None = None
        self._run_watch: RunWatch | None = None
        self._first_poke_at: float | None = None

    @property
    def poll_interval(self) -> float:  # type: ignore[override]
        return float(self.poke_interval)

    def _reference(self) -> RunReference:
        if self._run is None:
            if self.run is not None:
                run = RunReference.coerce(self.run)
                if not run.run_url:
                    run = self.hook.run_reference(**run.model_dump(exclude={"run_url"}))
            else:
                if self.schedule_name is not None:
                    self.resolve_schedule()
                run = self.hook.run_reference(
                    schedule_id=self.schedule_id,
                    run_id=self.run_id,
                    batch_execution_id=self.batch_execution_id,
                    product_id=self.product_id,
                    surface_id=self.surface_id,
                )
            run.require_pollable()
            self._run, self.run_url = run, run.run_url
        return self._run

    def poke(self, context: Context) -> bool | PokeReturnValue:
        run = self._reference()
        if self._run_watch is None:
            self._run_watch = self._watch(run)
            self._run_watch.quiet_start = self.mode != "reschedule"  # each poke of one is a new process: say it
            self._first_poke_at = time.monotonic()
        limit = self._wait_limit()
        deadline = None if limit is None or self._first_poke_at is None else self._first_poke_at + limit
        progress = wait_until_terminal(self.hook, self._run_watch, self.poll_interval, deadline, polls=1)
        if progress is None or not progress.outcome.is_terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._conclude(progress, run))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except (AirflowSensorTimeout, AirflowSkipException) as err:
                # BaseSensorOperator's own timeout (a skip with soft_fail) carries this text; other skips pass.
                if not str(err).startswith("Sensor has timed out") or self._run is None:
                    raise
                watch = self._run_watch
                raise type(err)(self._on_timeout(self._run, watch.last_progress if watch else None)) from err
        answer = self.poke(context)  # finish at once if the run is already terminal
        if isinstance(answer, PokeReturnValue) and answer.is_done:
            return answer.xcom_value
        limit = self._wait_limit() or float(self.timeout)
        # The task timeout is a backstop: the trigger's own deadline fires first, so the timeout can cancel.
        self._defer_wait(self._reference(), limit, timedelta(seconds=limit + max(60.0, 2 * self.poll_interval)))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        wait = self._resume(event)
        if wait.event == "timeout" or wait.progress is None:
            message = self._on_timeout(wait.run, wait.progress)
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        return self._conclude(wait.progress, wait.run)

    def _on_timeout(self, run: RunReference, progress: RunProgress | None) -> str:
        """Cancel the run if asked to; the message says where it stood and whether it may still be running."""
        cancelled = self.cancel_on_timeout and cancel_run(self.hook, run, "sensor timed out", self.log)
        return self._timeout_message(run, self._wait_limit() or float(self.timeout), progress, cancelled)
