"""The operator that runs a Runtype schedule and waits for it; the results operator is importable from here too.

The results operator lives in :mod:`runtype_provider.operators.results`, the schedule-management operators in
:mod:`runtype_provider.operators.schedules`; the wait itself (shared with the sensor and the trigger) is in
:mod:`runtype_provider.runs.watch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.links import RUN_URL_KEY, RuntypeRunLink
from runtype_provider.operators.base import RUN_REFERENCE_KEY as RUN_REFERENCE_KEY
from runtype_provider.operators.base import SUMMARY_KEY as SUMMARY_KEY
from runtype_provider.operators.base import RuntypeBaseOperator as RuntypeBaseOperator
from runtype_provider.operators.results import RuntypeScheduleRunResultsOperator as RuntypeScheduleRunResultsOperator
from runtype_provider.runs.reference import RunCost, RunProgress, RunReference, run_event_payload
from runtype_provider.runs.status import RunOutcome, classify_run_status
from runtype_provider.runs.verdict import FailedRecordsPolicy
from runtype_provider.runs.watch import cancel_run
from runtype_provider.tasks.arguments import (
    ScheduleTarget,
    check_schedule_choice,
    check_surface,
    count,
    default_deferrable,
    positive_seconds,
    push_xcom,
)
from runtype_provider.tasks.base import run_lineage
from runtype_provider.tasks.outlets import (
    attach_run_event,
    check_no_watcher,
    check_outlet_schedules,
    runtype_outlets,
)
from runtype_provider.tasks.waiting import RunWaiter
from runtype_provider.version_compat import Context

RUN_STATE_KEY = "runtype_run_reference"
"""Task state store key (Airflow 3.3+) of the run this task started; renaming it breaks in-flight retries."""
ON_ACTIVE_RUN = ("start", "attach", "cancel")


class RuntypeRunScheduleOperator(ScheduleTarget, RunWaiter, RuntypeBaseOperator):
    """Run a Runtype schedule now and (by default) wait for the run to finish.

    Works for a global schedule (``schedule_id``) or a product-surface schedule (``product_id``,
    ``surface_id``, ``schedule_id``). The run reference (schedule id, run id, batch execution id, surface
    ids, run URL) is pushed to XCom under ``run_reference`` as soon as the run starts, before any waiting;
    the return value is that reference, plus ``status``, ``outcome`` and record counts when it waited, and the run's
    cost (``total_cost_usd``, ``billed_cost_usd``; ``GET /v1/batch/:id/cost``) when it has a batch id.
    Pass ``run=<this task>.output`` to :class:`~runtype_provider.sensors.runtype.RuntypeScheduleRunSensor`
    or :class:`RuntypeScheduleRunResultsOperator`.

    :param schedule_id: the schedule to run (templated).
    :param schedule_name: alternatively, the schedule's exact name (templated; case-sensitive, outer spaces
        ignored), looked up when the task runs; exactly one of ``schedule_id`` and ``schedule_name``. The id it
        names is used from then on (run reference, link, outlets, lineage).
    :param product_id: product of a product-surface schedule (templated; with ``surface_id``).
    :param surface_id: surface of a product-surface schedule (templated; with ``product_id``).
    :param wait_for_completion: wait until the run is terminal (default True).
    :param poll_interval: seconds between status polls.
    :param timeout: seconds to wait at most; the run is then cancelled and the task fails. None: no limit
        beyond the task's ``execution_timeout`` (which also cancels the run, deferred or not).
    :param deferrable: wait in the triggerer instead of a worker slot (default ``[operators] default_deferrable``).
    :param allowed_failed_records: failed records a completed run may have: None (any, default; logged),
        an integer N (fail when more than N; 0 = any failure fails), or ``"X%"``.
    :param on_active_run: what to do when the schedule already has an active run (queued, running or of an
        unknown status), on the first try and on retries alike: ``"start"`` another beside it (default),
        ``"attach"`` to it (the newest), or ``"cancel"`` it and start a fresh run. On Airflow 3.3+ a retry of
        a try that did not see its run to the end (a crash, a kill, a timeout) first re-attaches to that run (kept
        in the task state store) whatever this says, and returns its result if that run already succeeded; only a
        run of the same schedule (and product surface) is re-attached. A try that saw its run end drops it, so a
        retry after a failed verdict, or a clear after success, starts a new run.
    :param cancel_on_kill: cancel the remote batch when the task is killed or its wait times out (default True).
    :param max_poll_errors: consecutive failed polls tolerated while waiting (each poll retries itself too).
    :param runtype_conn_id: the Runtype connection.
    :param hook_params: extra RuntypeHook arguments (``timeout``, ``retry_limit``, ``retry_delay``, ...).

    ``outlets`` may hold the schedule's Runtype asset (``create_asset(schedule_id=...)``): when the run finished
    and the task succeeds, its event carries the run's payload as ``extra["payload"]`` (the keys of
    :data:`~runtype_provider.assets.PAYLOAD_KEYS`, the same a watcher's events carry). A Runtype outlet must
    name the schedule this task runs (checked when the DAG is parsed for a literal ``schedule_id``, else before
    the run starts) and needs ``wait_for_completion=True``. With the OpenLineage provider installed, the run is
    reported as lineage (:mod:`runtype_provider.lineage`).
    """

    template_fields: Sequence[str] = ("schedule_id", "schedule_name", "product_id", "surface_id")
    operator_extra_links = (RuntypeRunLink(),)
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        schedule_id: str | None = None,
        schedule_name: str | None = None,
        product_id: str | None = None,
        surface_id: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        deferrable: bool | None = None,
        allowed_failed_records: int | str | None = None,
        on_active_run: str = "start",
        cancel_on_kill: bool = True,
        max_poll_errors: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_schedule_choice(schedule_id, schedule_name)
        check_surface(product_id, surface_id)
        if runtype_outlets(self.outlets):
            check_no_watcher(self.outlets, self.task_id)
            if not wait_for_completion:
                raise RuntypeConfigurationError(
                    "Runtype assets in 'outlets' need wait_for_completion=True: their events mean the run finished"
                )
            if schedule_id and "{{" not in str(schedule_id):
                check_outlet_schedules(self.outlets, schedule_id, self.task_id)
        self.schedule_id = schedule_id
        self.schedule_name = schedule_name
        self.product_id = product_id
        self.surface_id = surface_id
        self.given_schedule()
        self.wait_for_completion = wait_for_completion
        self.poll_interval = positive_seconds(poll_interval, "poll_interval")
        self.timeout = positive_seconds(timeout, "timeout", allow_none=True)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.allowed_failed_records = allowed_failed_records
        FailedRecordsPolicy.parse(allowed_failed_records)
        self.on_active_run = on_active_run
        if on_active_run not in ON_ACTIVE_RUN:
            raise RuntypeConfigurationError(
                f"'on_active_run' must be one of {', '.join(map(repr, ON_ACTIVE_RUN))}, got {on_active_run!r}"
            )
        self.cancel_on_kill = cancel_on_kill
        self.max_poll_errors = count(max_poll_errors, "max_poll_errors")
        self.run_url: str | None = None
        self._run: RunReference | None = None
        self._progress: RunProgress | None = None
        self._error: str | None = None
        self._cost: RunCost | None = None
        self._store: Any = None

    @property
    def is_surface(self) -> bool:
        return bool(self.product_id and self.surface_id)

    def _start_run(self) -> tuple[RunReference, str | None, str | None]:
        """Start a run: (reference, immediate status, immediate error)."""
        if self.is_surface:
            answer = self.hook.run_surface_schedule_now(
                self.product_id or "", self.surface_id or "", self.schedule_id or ""
            )
            run = self.hook.run_reference(
                schedule_id=self.schedule_id,
                batch_execution_id=answer.batch_execution_id,
                product_id=self.product_id,
                surface_id=self.surface_id,
            )
            return run, answer.status, None
        started = self.hook.run_schedule_now(self.schedule_id or "")
        run = self.hook.run_reference(
            schedule_id=self.schedule_id, run_id=started.run_id, batch_execution_id=started.batch_execution_id
        )
        return run, started.status, started.error

    def _earlier_tries_run(self, store: Any) -> RunReference | None:
        """Airflow 3.3+: the run an earlier try of this task started and did not see to its end, if that run is of
        this task's target (schedule, product, surface) and still active or succeeded.

        The reference is kept from run-now until a try reaches the run's end (then deleted), so a retry after a
        crash or a kill re-attaches, while a clear after the task finished starts a new run, as a user who clears
        a task means. A run of another target (the DAG now names another schedule, or the name resolves to a
        recreated schedule) is never taken for this task's own."""
        saved = store.get(RUN_STATE_KEY) if store is not None else None
        if not saved:
            return None
        run = RunReference.coerce(saved, argument="task state " + RUN_STATE_KEY)
        mine = (self.schedule_id, self.product_id or None, self.surface_id or None)
        if (run.schedule_id, run.product_id or None, run.surface_id or None) != mine:
            self.log.info(
                "The run of an earlier try, %s, is of schedule %s, not %s: not re-attaching; starting a new run",
                run.name,
                run.schedule_id if not run.product_id else f"{run.product_id}/{run.surface_id}/{run.schedule_id}",
                self.schedule_id if not self.is_surface else f"{self.product_id}/{self.surface_id}/{self.schedule_id}",
            )
            return None
        progress = self.hook.get_run_progress(run)
        if progress.outcome.is_active or progress.outcome is RunOutcome.SUCCESS:
            self.log.info("Re-attaching to run %s, started by an earlier try (%s)", run.name, progress.describe())
            return run
        self.log.info("The run of an earlier try, %s, ended %s; starting a new run", run.name, progress.status)
        return None

    def _forget_run(self) -> None:
        """This try saw its run to the end (or started it without waiting): a later try of this task instance, a
        clear included, starts afresh instead of re-attaching."""
        if self._store is None:
            return
        try:
            self._store.delete(RUN_STATE_KEY)
        except Exception as err:
            self.log.warning("Could not drop the finished run from the task state store (%s)", err)

    def _active_run(self) -> RunReference | None:
        """Apply ``on_active_run``: the run to attach to, or None to start one (after cancelling, for "cancel")."""
        if self.on_active_run == "start":
            return None
        active = self.hook.find_active_run(
            self.schedule_id or "", product_id=self.product_id, surface_id=self.surface_id
        )
        if active is None or self.on_active_run == "attach":
            return active
        if not cancel_run(self.hook, active, "on_active_run='cancel'", self.log):
            raise RuntypeRunError(
                f"Could not cancel the schedule's active run {active.name} (on_active_run='cancel'); "
                "no second run was started",
                run=active.to_xcom(),
            )
        return None

    def _resolve_schedule(self) -> None:
        """Look ``schedule_name`` up (once per task process) and check the outlets against the schedule's id."""
        check_outlet_schedules(self.outlets, self.resolve_schedule(), self.task_id)

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            return self._run_and_wait(context)
        except Exception as err:  # kept for the OpenLineage failure event; a deferral is not an Exception
            self._error = str(err)
            raise

    def _run_and_wait(self, context: Context) -> dict[str, Any]:
        self._resolve_schedule()
        store = self._store = context.get("task_state_store") if hasattr(context, "get") else None
        run = self._earlier_tries_run(store)
        if run is None:
            run = self._active_run()
            if run is not None:
                self.log.info("Attaching to the schedule's active run %s", run.name)
        status = error = None
        if run is None:
            run, status, error = self._start_run()
            if store is not None:  # before anything else can fail: a retry re-attaches instead of starting another
                try:
                    store.set(RUN_STATE_KEY, run.to_xcom())
                except Exception as err:
                    self.log.warning(
                        "Could not keep run %s in the task state store (%s): a retry may start another", run.name, err
                    )
        self._run, self.run_url = run, run.run_url
        push_xcom(context, RUN_REFERENCE_KEY, run.to_xcom())
        push_xcom(context, RUN_URL_KEY, run.run_url)
        self.log.info(
            "Runtype run started: schedule %s, run %s, batch %s (%s)",
            run.schedule_id,
            run.run_id,
            run.batch_execution_id,
            run.run_url,
        )
        if classify_run_status(status) is RunOutcome.FAILED:
            raise RuntypeRunError(
                f"Runtype refused to run schedule {self.schedule_id}: status {status!r}"
                + (f": {error}" if error else ""),
                run=run.to_xcom(),
            )
        if not self.wait_for_completion:
            self._forget_run()
            return run.to_xcom()
        if not run.batch_execution_id and not run.run_id:
            raise RuntypeRunError(
                f"Runtype started schedule {self.schedule_id} but returned neither a run id nor a batch id, so "
                "the run cannot be tracked; set wait_for_completion=False for such schedules",
                run=run.to_xcom(),
            )
        return self._finish(context, self._wait(run))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: same judgement as the sync path."""
        self._store = context.get("task_state_store") if hasattr(context, "get") else None
        try:
            wait = self._resume(event)
            if wait.event == "timeout" or wait.progress is None:
                self._timed_out(wait.run, self._wait_limit(), wait.progress)
            return self._finish(context, self._conclude(wait.progress, wait.run))
        except Exception as err:
            self._error = str(err)
            raise

    def _conclude(self, progress: RunProgress, run: RunReference) -> dict[str, Any]:
        """The run ended: whatever the verdict, this try is done with it (a retry or a clear starts a new run). A run
        that has a batch id gets its cost (``total_cost_usd``, ``billed_cost_usd``) in the return value too."""
        self._run, self._progress = run, progress
        self._forget_run()
        result = super()._conclude(progress, run)
        if run.batch_execution_id:
            try:
                self._cost = self.hook.get_run_cost(run)
            except Exception as err:  # the cost is a report: a run that succeeded stays a success
                self.log.warning("Could not read the cost of Runtype run %s (%s)", run.name, err)
            else:
                result.update(self._cost.to_xcom())
        return result

    def _finish(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """The run succeeded: put its payload on the Runtype outlets' events (Airflow emits them on success)."""
        if self._run is not None and self._progress is not None:
            attached = attach_run_event(context, self.outlets, run_event_payload(self._run, self._progress))
            if attached:
                self.log.info("Run %s reported on %d Runtype asset event(s)", self._run.name, attached)
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (when its provider is installed): the schedule, the run and the schedule's dataset."""
        return self._lineage(error=None)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Like :meth:`get_openlineage_facets_on_complete`, plus the error that failed the task."""
        return self._lineage(error=self._error or "The Runtype run task failed")

    def _lineage(self, error: str | None) -> Any:
        return run_lineage(
            schedule_id=self.schedule_id,
            schedule_name=self.schedule_name,
            product_id=self.product_id,
            surface_id=self.surface_id,
            run=self._run,
            progress=self._progress,
            error=error,
            cost=self._cost,
        )
