"""Operators that run a Runtype schedule and wait for it, and that collect a run's per-record results.

The schedule-management operators are in :mod:`runtype_provider.operators.schedules`; the wait itself
(shared with the sensor and the trigger) is in :mod:`runtype_provider.runs.watch`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import timedelta
from itertools import chain
from typing import Any, NoReturn

from runtype_provider import DEFAULT_CONN_ID
from runtype_provider.api.ids import check_page_size
from runtype_provider.assets import schedule_id_from_uri
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.links import RUN_URL_KEY, RuntypeRunLink
from runtype_provider.runs.reference import RunProgress, RunReference, run_event_payload
from runtype_provider.runs.status import RunOutcome, classify_run_status
from runtype_provider.runs.verdict import FailedRecordsPolicy
from runtype_provider.runs.watch import cancel_run, wait_until_terminal
from runtype_provider.tasks.arguments import (
    ScheduleTarget,
    check_schedule_choice,
    check_surface,
    count,
    default_deferrable,
    option_argument,
    positive_seconds,
    push_xcom,
)
from runtype_provider.tasks.base import HookMixin, run_lineage
from runtype_provider.tasks.outlets import (
    attach_run_event,
    check_no_watcher,
    check_outlet_schedules,
    runtype_outlets,
)
from runtype_provider.tasks.results_export import (
    ResultSummary,
    outcome_lines,
    record_outcome,
    results_base,
    results_file,
    selected_pages,
    write_jsonl,
)
from runtype_provider.tasks.waiting import RunWaiter
from runtype_provider.version_compat import BaseOperator, Context, conf

RUN_REFERENCE_KEY = "run_reference"
RUN_STATE_KEY = "runtype_run_reference"
"""Task state store key (Airflow 3.3+) of the run this task started; renaming it breaks in-flight retries."""
ON_ACTIVE_RUN = ("start", "attach", "cancel")
SUMMARY_KEY = "summary"


class RuntypeBaseOperator(HookMixin, BaseOperator):
    """Connection handling shared by every Runtype operator."""

    def __init__(
        self,
        *,
        runtype_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runtype_conn_id = runtype_conn_id
        self.hook_params = dict(hook_params or {})


class RuntypeRunScheduleOperator(ScheduleTarget, RunWaiter, RuntypeBaseOperator):
    """Run a Runtype schedule now and (by default) wait for the run to finish.

    Works for a global schedule (``schedule_id``) or a product-surface schedule (``product_id``,
    ``surface_id``, ``schedule_id``). The run reference (schedule id, run id, batch execution id, surface
    ids, run URL) is pushed to XCom under ``run_reference`` as soon as the run starts, before any waiting;
    the return value is that reference, plus ``status``, ``outcome`` and record counts when it waited.
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

    def _wait(self, run: RunReference) -> dict[str, Any]:
        limit = self._wait_limit()
        deadline = time.monotonic() + limit if limit else None
        watch = self._watch(run)
        if self.deferrable:
            # Check once first: a run that already ended needs no triggerer.
            progress = wait_until_terminal(self.hook, watch, self.poll_interval, deadline, polls=1)
            if progress is None or not progress.outcome.is_terminal:
                # The task timeout is a backstop: the trigger's own deadline fires first so the run can be cancelled.
                backstop = timedelta(seconds=limit + max(60.0, 2 * self.poll_interval)) if limit else None
                self._defer_wait(run, limit, backstop)
        else:
            progress = wait_until_terminal(self.hook, watch, self.poll_interval, deadline)
        if progress is None or not progress.outcome.is_terminal:
            self._timed_out(run, limit, watch.last_progress)
        return self._conclude(progress, run)

    def _timed_out(self, run: RunReference, limit: float | None, progress: RunProgress | None) -> NoReturn:
        cancelled = self._cancel(run, "wait timed out")
        raise RuntypeRunError(self._timeout_message(run, limit, progress, cancelled), run=run.to_xcom())

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
        """The run ended: whatever the verdict, this try is done with it (a retry or a clear starts a new run)."""
        self._run, self._progress = run, progress
        self._forget_run()
        return super()._conclude(progress, run)

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
        )


class RuntypeScheduleRunResultsOperator(RuntypeBaseOperator):
    """Page through a run's per-record results and hand them to downstream tasks.

    Returns the per-record outcomes (``record_id``, ``record_name``, ``status``, ``error``, ``executed_at``,
    ``failed_at``, ``result_id``, and ``result`` when ``include_result_payload``) and pushes a summary
    (``total``, ``failed``, ``succeeded``, ``by_status``) under the XCom key ``summary``. When there are more
    than ``max_xcom_rows`` rows, or ``output_path`` is given, rows are streamed to a JSON Lines file at that
    :class:`~airflow.sdk.ObjectStoragePath` (local, ``s3://``, ``gs://`` …) and the return value is
    ``{"path", "row_count", "summary"}`` instead; memory stays flat however many records the run has. ``path`` is a
    plain absolute path for local files, else the object store's URI. The file is written atomically: the path
    never holds a partial file, and a failed task leaves an existing file untouched.

    :param run: the run reference from :class:`RuntypeRunScheduleOperator` (``run=run_task.output``).
    :param run_id: alternatively, the run id (results by run).
    :param batch_execution_id: alternatively, the batch execution id (results by batch; preferred).
    :param status_filter: only rows with this status (e.g. ``failed``). Applied on the client too, in case the
        server ignores it; ``success`` and ``completed`` (and the other synonyms of success, likewise of failure)
        match each other, since the API spells them differently by endpoint.
    :param include_result_payload: include each record's full ``result`` (can be large).
    :param max_xcom_rows: above this many rows, write a file instead of returning rows.
    :param output_path: always write rows here (templated). Without it, overflow goes to
        ``<base>/<dag_id>/<run_id>/<task_id>[@<map_index>].jsonl`` (each id percent-encoded), where ``<base>`` is
        ``[runtype] results_path``, else ``[common.io] xcom_objectstorage_path``/``runtype_results``, else (only
        when every executor runs tasks on one host, e.g. LocalExecutor) ``{AIRFLOW_HOME}/runtype_results``. On a
        multi-host executor (Celery, Kubernetes, Edge) with neither option set, a result too large for XCom fails
        the task saying what to set, instead of handing on a path other workers cannot open.
    :param page_size: rows per API request (1-100).
    :param max_concurrent_pages: pages fetched at the same time (1-32; 1 = one by one). Default: the connection
        extra ``max_concurrent_pages`` (8). Fewer while the API answers 429; rows keep their order.

    ``outlets`` may hold the run's schedule asset: the task then reads the run's status once more after the
    results (one request) and puts the same payload on the event as the run operator does.
    """

    template_fields: Sequence[str] = ("run", "run_id", "batch_execution_id", "status_filter", "output_path")
    template_fields_renderers = {"run": "json"}
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        run: Any = None,
        run_id: str | None = None,
        batch_execution_id: str | None = None,
        status_filter: str | None = None,
        include_result_payload: bool = False,
        max_xcom_rows: int = 1000,
        output_path: str | None = None,
        page_size: int = 100,
        max_concurrent_pages: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if run is None and not (run_id or batch_execution_id):
            raise RuntypeConfigurationError("give 'run' (a run reference) or 'run_id' / 'batch_execution_id'")
        if run is not None and (run_id or batch_execution_id):
            raise RuntypeConfigurationError("give either 'run' or 'run_id' / 'batch_execution_id', not both")
        count(max_xcom_rows, "max_xcom_rows")
        check_page_size(page_size)
        if max_concurrent_pages is not None:
            option_argument("max_concurrent_pages", max_concurrent_pages)
        self.run = run
        self.run_id = run_id
        self.batch_execution_id = batch_execution_id
        self.status_filter = status_filter
        self.include_result_payload = include_result_payload
        self.max_xcom_rows = max_xcom_rows
        self.output_path = output_path
        self.page_size = page_size
        self.max_concurrent_pages = max_concurrent_pages
        check_no_watcher(self.outlets, self.task_id)

    def _reference(self) -> RunReference:
        if self.run is not None:
            return RunReference.coerce(self.run)
        return RunReference(run_id=self.run_id, batch_execution_id=self.batch_execution_id)

    def _default_path(self, context: Context) -> str:
        """Where rows go without ``output_path``: a location every worker can read (see :func:`results_base`)."""
        base = results_base(
            conf.get("runtype", "results_path", fallback=None),
            conf.get("common.io", "xcom_objectstorage_path", fallback=None),
            conf.get("core", "executor", fallback=None),
            os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"),
        )
        ti = context.get("ti")
        task_id = getattr(ti, "task_id", None) or self.task_id
        return results_file(
            base, getattr(ti, "dag_id", None), getattr(ti, "run_id", None), task_id, getattr(ti, "map_index", -1)
        )

    def execute(self, context: Context) -> Any:
        reported = self._outlet_run()  # checked before any result is read
        progress = self._finished_run(reported or self._reference())
        result = self._collect(context)
        if reported is not None and progress is not None:
            attach_run_event(context, self.outlets, run_event_payload(reported, progress))
        return result

    def _finished_run(self, run: RunReference) -> RunProgress | None:
        """The run's final progress (one status read, before any result): results of a run that is still going
        (or of an unknown status, which counts as going) are incomplete, so the task refuses to collect or report
        them. None when the reference cannot be polled (a run id without its schedule id): then the results are
        collected as they are, with a warning."""
        try:
            run.require_pollable()
        except RuntypeConfigurationError:
            self.log.warning(
                "Cannot check that run %s has finished (give its schedule_id, or its batch_execution_id): its results "
                "may be incomplete",
                run.name,
            )
            return None
        progress = self.hook.get_run_progress(run)
        if not progress.outcome.is_terminal:
            raise RuntypeRunError(
                f"Runtype run {run.name} has not finished (status {progress.status!r}): its results are incomplete. "
                "Wait for it first (the run operator with wait_for_completion=True, or RuntypeScheduleRunSensor), "
                "then collect them",
                run=run.to_xcom(),
            )
        return progress

    def _outlet_run(self) -> RunReference | None:
        """The run as its Runtype outlets report it (schedule id from the run, else from the outlets), or None."""
        assets = runtype_outlets(self.outlets)
        if not assets:
            return None
        run = self._reference()
        schedule_id = run.schedule_id or schedule_id_from_uri(assets[0].uri)
        check_outlet_schedules(self.outlets, schedule_id, self.task_id)
        run = run.model_copy(update={"schedule_id": schedule_id})
        return run if run.run_url else self.hook.run_reference(**run.model_dump(exclude={"run_url"}))

    def _collect(self, context: Context) -> Any:
        pages = self.hook.iter_run_result_pages(
            self._reference(),
            page_size=self.page_size,
            status=self.status_filter,
            max_concurrent_pages=self.max_concurrent_pages,
            fast=True,
        )
        summary = ResultSummary()
        selected = selected_pages(pages, self.status_filter, summary)
        head: list[Any] = []  # rows read, not yet handed on
        if not self.output_path:
            for rows in selected:
                head += rows
                if len(head) > self.max_xcom_rows:
                    break
            else:
                self.log.info("Collected %d Runtype record results: %s", summary.total, summary.to_dict())
                push_xcom(context, SUMMARY_KEY, summary.to_dict())
                return [record_outcome(row, self.include_result_payload) for row in head]
        lines = (outcome_lines(rows, self.include_result_payload) for rows in chain([head], selected))
        path = write_jsonl(self.output_path or self._default_path(context), lines)
        self.log.info("Wrote %d Runtype record results to %s: %s", summary.total, path, summary.to_dict())
        push_xcom(context, SUMMARY_KEY, summary.to_dict())
        return {"path": path, "row_count": summary.total, "summary": summary.to_dict()}
