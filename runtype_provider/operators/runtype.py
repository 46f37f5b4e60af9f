"""Operators for Runtype schedules: run one and wait, collect per-record results, manage schedules."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeError, RuntypeRunError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.models import (
    FailedRecordsPolicy,
    RecordResult,
    RunOutcome,
    RunProgress,
    RunReference,
    classify_run_status,
    conclude_run,
    is_failed_record_status,
    is_succeeded_record_status,
)
from runtype_provider.triggers.runtype import TRANSIENT_ERRORS, RuntypeScheduleRunTrigger
from runtype_provider.version_compat import BaseOperator, BaseOperatorLink, Context, conf

RUN_REFERENCE_KEY = "run_reference"
RUN_URL_KEY = "run_url"
SUMMARY_KEY = "summary"


class RuntypeRunLink(BaseOperatorLink):
    """ "Runtype run": opens the run in the Runtype dashboard (base URL from the connection)."""

    name = "Runtype run"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        url = getattr(operator, "run_url", None)
        if url:
            return str(url)
        try:
            from airflow.sdk.bases.xcom import BaseXCom

            return str(BaseXCom.get_value(ti_key=ti_key, key=RUN_URL_KEY) or "")
        except Exception:
            return ""


def _default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def _positive(value: Any, argument: str, *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise RuntypeConfigurationError(f"{argument!r} must be a positive number of seconds, got {value!r}")
    return value


def _count(value: Any, argument: str) -> int:
    """An integer >= 0 (bools refused: ``True`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuntypeConfigurationError(f"{argument!r} must be an integer >= 0, got {value!r}")
    return value


def _check_surface(product_id: Any, surface_id: Any) -> None:
    if bool(product_id) != bool(surface_id):
        raise RuntypeConfigurationError(
            "'product_id' and 'surface_id' go together: give both for a product-surface schedule, or neither"
        )


def _require(value: Any, argument: str) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RuntypeConfigurationError(f"{argument!r} is required")


def _push(context: Context, key: str, value: Any) -> None:
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is not None:
        ti.xcom_push(key=key, value=value)


class _RuntypeBaseOperator(BaseOperator):
    """Connection handling shared by every Runtype operator."""

    def __init__(
        self,
        *,
        runtype_conn_id: str = RuntypeHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runtype_conn_id = runtype_conn_id
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> RuntypeHook:
        return RuntypeHook(self.runtype_conn_id, **self.hook_params)


class _RunWaiter:
    """The wait loop and event handling shared by the run operator and the sensor, sync and deferred."""

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

    def _policy(self) -> FailedRecordsPolicy:
        return FailedRecordsPolicy.parse(self.allowed_failed_records)

    def _deferred_wait_limit(self) -> float | None:
        """Seconds a deferred wait may last: the earlier of ``timeout`` and the task's ``execution_timeout``.

        Airflow does not enforce ``execution_timeout`` while a task is deferred, so the trigger's deadline
        carries it: the run operator then cancels the run, the sensor times out.
        """
        limits = [float(self.timeout)] if self.timeout else []
        if self.execution_timeout is not None:
            limits.append(self.execution_timeout.total_seconds())
        return min(limits) if limits else None

    def _trigger(self, run: RunReference, end_time: float | None) -> RuntypeScheduleRunTrigger:
        return RuntypeScheduleRunTrigger(
            run=run.to_xcom(),
            runtype_conn_id=self.runtype_conn_id,
            poll_interval=self.poll_interval,
            end_time=end_time,
            max_poll_errors=self.max_poll_errors,
            cancel_on_kill=self.cancel_on_kill,
            hook_params=self.hook_params,
        )

    def _poll(self, run: RunReference, errors: list[int], unknown: set[str | None]) -> RunProgress | None:
        """One poll: progress, or None after a tolerated transient error."""
        try:
            progress = self.hook.get_run_progress(run)
        except TRANSIENT_ERRORS as err:
            errors[0] += 1
            if errors[0] > self.max_poll_errors:
                raise RuntypeRunError(
                    f"Gave up polling Runtype run {run.run_id or run.batch_execution_id} after "
                    f"{errors[0]} failed polls in a row: {err}",
                    run=run.to_xcom(),
                ) from err
            self.log.warning("Poll %d of the run failed (%s); will retry", errors[0], err)
            return None
        errors[0] = 0
        self.log.info("Runtype run %s: %s", run.run_id or run.batch_execution_id, progress.describe())
        if progress.outcome is RunOutcome.UNKNOWN and progress.status not in unknown:
            unknown.add(progress.status)
            self.log.warning("Unknown Runtype run status %r; still waiting", progress.status)
        return progress

    def _cancel(self, run: RunReference, why: str) -> bool:
        """Best-effort remote cancel; logs, never raises. True when the batch was cancelled."""
        if not self.cancel_on_kill or not run.batch_execution_id:
            return False
        try:
            answer = self.hook.cancel_batch(run.batch_execution_id)
            self.log.info("Cancelled Runtype batch %s (%s): %s", run.batch_execution_id, why, answer.message)
            return True
        except Exception as err:
            self.log.warning("Could not cancel Runtype batch %s (%s): %s", run.batch_execution_id, why, err)
            return False

    @staticmethod
    def _cancel_note(cancelled: bool) -> str:
        return "the run was cancelled" if cancelled else "the run was NOT cancelled and may still be running"

    def _event_progress(self, event: dict[str, Any] | None) -> tuple[RunReference, RunProgress]:
        if not isinstance(event, dict) or event.get("event") not in ("finished", "timeout", "error"):
            raise RuntypeError(f"Unexpected event from the Runtype trigger: {event!r}")
        run = RunReference.coerce(event.get("run") or {}, argument="event.run")
        if event["event"] == "error":
            raise RuntypeRunError(f"Waiting for the Runtype run failed: {event.get('message')}", run=run.to_xcom())
        try:
            progress = RunProgress.model_validate(event.get("progress") or {})
        except ValidationError as err:
            raise RuntypeError(f"Unexpected event from the Runtype trigger: {event!r}") from err
        if event["event"] == "finished" and not progress.outcome.is_terminal:
            # Never let a malformed "finished" event pass as a success.
            raise RuntypeError(f"The Runtype trigger reported a run as finished without a final status: {event!r}")
        return run, progress


class RuntypeRunScheduleOperator(_RunWaiter, _RuntypeBaseOperator):
    """Run a Runtype schedule now and (by default) wait for the run to finish.

    Works for a global schedule (``schedule_id``) or a product-surface schedule (``product_id``,
    ``surface_id``, ``schedule_id``). The run reference (schedule id, run id, batch execution id, surface
    ids, run URL) is pushed to XCom under ``run_reference`` as soon as the run starts, before any waiting;
    the return value is that reference, plus ``status``, ``outcome`` and record counts when it waited.
    Pass ``run=<this task>.output`` to :class:`~runtype_provider.sensors.runtype.RuntypeScheduleRunSensor`
    or :class:`RuntypeScheduleRunResultsOperator`.

    :param schedule_id: the schedule to run (templated).
    :param product_id: product of a product-surface schedule (templated; with ``surface_id``).
    :param surface_id: surface of a product-surface schedule (templated; with ``product_id``).
    :param wait_for_completion: wait until the run is terminal (default True).
    :param poll_interval: seconds between status polls.
    :param timeout: seconds to wait at most; the run is then cancelled and the task fails. None: no limit
        beyond the task's ``execution_timeout`` (which also cancels the run, deferred or not).
    :param deferrable: wait in the triggerer instead of a worker slot (default ``[operators] default_deferrable``).
    :param allowed_failed_records: failed records a completed run may have: None (any, default; logged),
        an integer N (fail when more than N; 0 = any failure fails), or ``"X%"``.
    :param reuse_running_run: attach to the schedule's queued/running run, if any, instead of starting another
        (makes task retries safe).
    :param cancel_on_kill: cancel the remote batch when the task is killed or its wait times out (default True).
    :param max_poll_errors: consecutive failed polls tolerated while waiting (each poll retries itself too).
    :param runtype_conn_id: the Runtype connection.
    :param hook_params: extra RuntypeHook arguments (``timeout``, ``retry_limit``, ``retry_delay``, ...).
    """

    template_fields: Sequence[str] = ("schedule_id", "product_id", "surface_id")
    operator_extra_links = (RuntypeRunLink(),)
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        schedule_id: str,
        product_id: str | None = None,
        surface_id: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        deferrable: bool | None = None,
        allowed_failed_records: int | str | None = None,
        reuse_running_run: bool = False,
        cancel_on_kill: bool = True,
        max_poll_errors: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _require(schedule_id, "schedule_id")
        _check_surface(product_id, surface_id)
        self.schedule_id = schedule_id
        self.product_id = product_id
        self.surface_id = surface_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = _positive(poll_interval, "poll_interval")
        self.timeout = _positive(timeout, "timeout", allow_none=True)
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self.allowed_failed_records = allowed_failed_records
        FailedRecordsPolicy.parse(allowed_failed_records)
        self.reuse_running_run = reuse_running_run
        self.cancel_on_kill = cancel_on_kill
        self.max_poll_errors = _count(max_poll_errors, "max_poll_errors")
        self.run_url: str | None = None
        self._run: RunReference | None = None

    @property
    def is_surface(self) -> bool:
        return bool(self.product_id and self.surface_id)

    def _attach_to_active_run(self) -> RunReference | None:
        if self.is_surface:
            schedule = self.hook.get_surface_schedule(self.product_id or "", self.surface_id or "", self.schedule_id)
            active = [r for r in schedule.recent_runs if not self._is_done(r.status)]
            if not active:
                return None
            newest = max(active, key=lambda r: r.created_at or "")
            return RunReference(
                schedule_id=self.schedule_id,
                run_id=newest.id,
                batch_execution_id=newest.batch_execution_id,
                product_id=self.product_id,
                surface_id=self.surface_id,
            )
        found = self.hook.find_active_run(self.schedule_id)
        if found is None:
            return None
        return RunReference(schedule_id=self.schedule_id, run_id=found.id, batch_execution_id=found.batch_execution_id)

    @staticmethod
    def _is_done(status: str | None) -> bool:
        return classify_run_status(status) is not RunOutcome.RUNNING

    def _start_run(self) -> tuple[RunReference, str | None, str | None]:
        """Start a run: (reference, immediate status, immediate error)."""
        if self.is_surface:
            answer = self.hook.run_surface_schedule_now(self.product_id or "", self.surface_id or "", self.schedule_id)
            run = RunReference(
                schedule_id=self.schedule_id,
                batch_execution_id=answer.batch_execution_id,
                product_id=self.product_id,
                surface_id=self.surface_id,
            )
            return run, answer.status, None
        started = self.hook.run_schedule_now(self.schedule_id)
        run = RunReference(
            schedule_id=self.schedule_id, run_id=started.run_id, batch_execution_id=started.batch_execution_id
        )
        return run, started.status, started.error

    def execute(self, context: Context) -> dict[str, Any]:
        run = self._attach_to_active_run() if self.reuse_running_run else None
        status = error = None
        if run is not None:
            self.log.info("Attaching to the schedule's active run %s", run.run_id or run.batch_execution_id)
        else:
            run, status, error = self._start_run()
        run.run_url = self.hook.run_url(run)
        self._run, self.run_url = run, run.run_url
        _push(context, RUN_REFERENCE_KEY, run.to_xcom())
        _push(context, RUN_URL_KEY, run.run_url)
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
            return run.to_xcom()
        if not run.batch_execution_id and not run.run_id:
            raise RuntypeRunError(
                f"Runtype started schedule {self.schedule_id} but returned neither a run id nor a batch id, so "
                "the run cannot be tracked; set wait_for_completion=False for such schedules",
                run=run.to_xcom(),
            )
        return self._wait(run)

    def _wait(self, run: RunReference) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout if self.timeout else None
        errors, unknown = [0], set[str | None]()
        progress = self._poll(run, errors, unknown)  # check once before waiting or deferring
        if progress is not None and progress.outcome.is_terminal:
            return conclude_run(progress, run, self._policy(), self.log)
        if self.deferrable:
            limit = self._deferred_wait_limit()
            self.defer(
                trigger=self._trigger(run, time.time() + limit if limit else None),
                method_name="execute_complete",
                # A backstop only: the trigger's own deadline fires first so the run can be cancelled.
                timeout=timedelta(seconds=limit + max(60.0, 2 * self.poll_interval)) if limit else None,
            )
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                cancelled = self._cancel(run, "wait timed out")
                raise RuntypeRunError(
                    f"Timed out after {self.timeout} s waiting for Runtype run "
                    f"{run.run_id or run.batch_execution_id}; {self._cancel_note(cancelled)}. "
                    f"{run.run_url or ''}".strip(),
                    run=run.to_xcom(),
                )
            pause = self.poll_interval if deadline is None else min(self.poll_interval, deadline - time.monotonic())
            time.sleep(max(0.0, pause))
            progress = self._poll(run, errors, unknown)
            if progress is not None and progress.outcome.is_terminal:
                return conclude_run(progress, run, self._policy(), self.log)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: same judgement as the sync path."""
        run, progress = self._event_progress(event)
        self._run, self.run_url = run, run.run_url
        if event and event.get("event") == "timeout":
            cancelled = self._cancel(run, "wait timed out")
            limit = self._deferred_wait_limit()
            raise RuntypeRunError(
                f"Timed out after {limit or 0:g} s waiting for Runtype run "
                f"{run.run_id or run.batch_execution_id}; "
                f"{self._cancel_note(cancelled)}.",
                run=run.to_xcom(),
            )
        return conclude_run(progress, run, self._policy(), self.log)

    def on_kill(self) -> None:
        """Cancel the remote batch when the task is killed or hits ``execution_timeout`` (best effort)."""
        if self._run is not None:
            self._cancel(self._run, "task killed")


# --------------------------------------------------------------------------------------------------
# Results


def record_outcome(row: RecordResult, include_result: bool) -> dict[str, Any]:
    """The XCom-friendly view of one per-record result."""
    outcome = {
        "record_id": row.record_id,
        "record_name": row.record.name if row.record else None,
        "status": row.status,
        "error": row.error,
        "executed_at": row.executed_at,
        "failed_at": row.failed_at,
        "result_id": row.record_result_id,
    }
    if include_result:
        outcome["result"] = row.result
    return outcome


class ResultSummary:
    """Running counts over result rows: total, failed, succeeded, per status.

    A status that is neither a known success nor a known failure (``skipped``, a new value) counts in
    ``total`` and ``by_status`` only, so ``succeeded`` never claims records that did not succeed.
    """

    def __init__(self) -> None:
        self.total = 0
        self.failed = 0
        self.succeeded = 0
        self.by_status: Counter[str] = Counter()

    def add(self, row: dict[str, Any]) -> None:
        self.total += 1
        self.by_status[str(row["status"])] += 1
        self.failed += is_failed_record_status(row["status"])
        self.succeeded += is_succeeded_record_status(row["status"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "failed": self.failed,
            "succeeded": self.succeeded,
            "by_status": dict(sorted(self.by_status.items())),
        }


_WRITE_CHUNK_ROWS = 500


def _write_lines(handle: Any, lines: list[str]) -> int:
    """Write ``lines`` as JSON Lines in one call and empty the list; how many were written."""
    if not lines:
        return 0
    handle.write("\n".join(lines) + "\n")
    written = len(lines)
    lines.clear()
    return written


class RuntypeScheduleRunResultsOperator(_RuntypeBaseOperator):
    """Page through a run's per-record results and hand them to downstream tasks.

    Returns the per-record outcomes (``record_id``, ``record_name``, ``status``, ``error``, ``executed_at``,
    ``failed_at``, ``result_id``, and ``result`` when ``include_result_payload``) and pushes a summary
    (``total``, ``failed``, ``succeeded``, ``by_status``) under the XCom key ``summary``. When there are more
    than ``max_xcom_rows`` rows, or ``output_path`` is given, rows are streamed to a JSON Lines file at that
    :class:`~airflow.sdk.ObjectStoragePath` (local, ``s3://``, ``gs://`` …) and the return value is
    ``{"path", "row_count", "summary"}`` instead; memory stays flat however many records the run has.

    :param run: the run reference from :class:`RuntypeRunScheduleOperator` (``run=run_task.output``).
    :param run_id: alternatively, the run id (results by run).
    :param batch_execution_id: alternatively, the batch execution id (results by batch; preferred).
    :param status_filter: only rows with this status (e.g. ``failed``).
    :param include_result_payload: include each record's full ``result`` (can be large).
    :param max_xcom_rows: above this many rows, write a file instead of returning rows.
    :param output_path: always write rows here (templated). Without it, overflow goes to
        ``{AIRFLOW_HOME}/runtype_results/<dag>/<run>/<task>.jsonl`` — set it to shared storage when workers
        do not share a disk.
    :param page_size: rows per API request (1-100).
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if run is None and not (run_id or batch_execution_id):
            raise RuntypeConfigurationError("give 'run' (a run reference) or 'run_id' / 'batch_execution_id'")
        if run is not None and (run_id or batch_execution_id):
            raise RuntypeConfigurationError("give either 'run' or 'run_id' / 'batch_execution_id', not both")
        _count(max_xcom_rows, "max_xcom_rows")
        if not isinstance(page_size, int) or not 1 <= page_size <= 100:
            raise RuntypeConfigurationError(f"'page_size' must be an integer from 1 to 100, got {page_size!r}")
        self.run = run
        self.run_id = run_id
        self.batch_execution_id = batch_execution_id
        self.status_filter = status_filter
        self.include_result_payload = include_result_payload
        self.max_xcom_rows = max_xcom_rows
        self.output_path = output_path
        self.page_size = page_size

    def _reference(self) -> RunReference:
        if self.run is not None:
            return RunReference.coerce(self.run)
        return RunReference(run_id=self.run_id, batch_execution_id=self.batch_execution_id)

    def _default_path(self, context: Context) -> str:
        import os

        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        ti = context.get("ti")
        parts = [
            getattr(ti, "dag_id", None),
            getattr(ti, "run_id", None),
            getattr(ti, "task_id", None) or self.task_id,
        ]
        safe = ["".join(c if c.isalnum() or c in "-_." else "_" for c in str(p)) for p in parts if p]
        map_index = getattr(ti, "map_index", -1)
        name = "/".join(safe) + (f"_{map_index}" if isinstance(map_index, int) and map_index >= 0 else "")
        return f"file://{home}/runtype_results/{name}.jsonl"

    def execute(self, context: Context) -> Any:
        run = self._reference()
        rows: Iterable[dict[str, Any]] = (
            record_outcome(r, self.include_result_payload)
            for r in self.hook.iter_run_results(run, page_size=self.page_size, status=self.status_filter)
        )
        summary = ResultSummary()
        buffered: list[dict[str, Any]] = []
        iterator = iter(rows)
        if not self.output_path:
            for row in iterator:
                summary.add(row)
                buffered.append(row)
                if len(buffered) > self.max_xcom_rows:
                    break
            else:
                self.log.info("Collected %d Runtype record results: %s", summary.total, summary.to_dict())
                _push(context, SUMMARY_KEY, summary.to_dict())
                return buffered
        path = self.output_path or self._default_path(context)
        count = self._write_jsonl(path, buffered, iterator, summary)
        self.log.info("Wrote %d Runtype record results to %s: %s", count, path, summary.to_dict())
        _push(context, SUMMARY_KEY, summary.to_dict())
        return {"path": path, "row_count": count, "summary": summary.to_dict()}

    @staticmethod
    def _write_jsonl(
        path: str, head: list[dict[str, Any]], rest: Iterable[dict[str, Any]], summary: ResultSummary
    ) -> int:
        from airflow.sdk import ObjectStoragePath

        target = ObjectStoragePath(path)
        if target.protocol in ("file", "local", ""):
            target.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        lines: list[str] = []
        with target.open("w") as handle:
            # Written in bounded chunks: each write through ObjectStoragePath's handle has a fixed cost
            # (about 15 us, lineage bookkeeping), and a chunk keeps memory flat however many rows there are.
            for row in head:
                lines.append(json.dumps(row, default=str))
            for row in rest:
                summary.add(row)
                lines.append(json.dumps(row, default=str))
                if len(lines) >= _WRITE_CHUNK_ROWS:
                    count += _write_lines(handle, lines)
            count += _write_lines(handle, lines)
        return count


# --------------------------------------------------------------------------------------------------
# Schedule management: one small operator per action, for global and product-surface schedules.


class _ScheduleOperator(_RuntypeBaseOperator):
    """Base of the schedule operators: optional surface ids, JSON-serializable results."""

    template_fields: Sequence[str] = ("schedule_id", "product_id", "surface_id")
    ui_color = "#eef2ff"
    needs_schedule_id = True

    def __init__(
        self,
        *,
        schedule_id: str | None = None,
        product_id: str | None = None,
        surface_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if self.needs_schedule_id:
            _require(schedule_id, "schedule_id")
        _check_surface(product_id, surface_id)
        self.schedule_id = schedule_id
        self.product_id = product_id
        self.surface_id = surface_id

    @property
    def surface(self) -> tuple[str, str] | None:
        return (self.product_id, self.surface_id) if self.product_id and self.surface_id else None

    def execute(self, context: Context) -> Any:
        result = self.call(self.hook)
        if isinstance(result, list):
            return [item.to_api() for item in result]
        return result.to_api()

    def call(self, hook: RuntypeHook) -> Any:
        raise NotImplementedError


class RuntypeGetScheduleOperator(_ScheduleOperator):
    """Fetch a schedule (global, or product-surface with its ``recentRuns``); returns it as the API spells it."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.get_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.get_schedule(self.schedule_id or "")


class RuntypeListSchedulesOperator(_ScheduleOperator):
    """List schedules (all pages, up to ``max_items``), or a product surface's schedules.

    :param search: name filter (global only). :param status: ``active`` or ``paused`` (global only).
    :param max_items: stop after this many schedules (None: all).
    """

    template_fields: Sequence[str] = ("product_id", "surface_id", "search", "status")
    needs_schedule_id = False

    def __init__(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        max_items: int | None = None,
        page_size: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if status is not None and status not in ("active", "paused") and "{{" not in str(status):
            raise RuntypeConfigurationError(f"'status' must be 'active' or 'paused', got {status!r}")
        if self.surface and (search or status):
            raise RuntypeConfigurationError("'search' and 'status' filter global schedules only")
        if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1):
            # 0 or a negative number used to return one schedule (global) or drop the last ones (surface slice).
            raise RuntypeConfigurationError(f"'max_items' must be a positive integer or None, got {max_items!r}")
        self.search = search
        self.status = status
        self.max_items = max_items
        self.page_size = page_size

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.list_surface_schedules(*self.surface)[: self.max_items]
        items = []
        for schedule in hook.list_schedules(page_size=self.page_size, search=self.search, status=self.status):
            items.append(schedule)
            if self.max_items is not None and len(items) >= self.max_items:
                break
        return items


class RuntypeListScheduleRunsOperator(_ScheduleOperator):
    """A schedule's run history (global: all runs; product-surface: its ``recentRuns``)."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.get_surface_schedule(*self.surface, self.schedule_id or "").recent_runs
        return hook.list_schedule_runs(self.schedule_id or "")


_GLOBAL_FIELDS = (
    "flow_id",
    "agent_id",
    "record_type",
    "record_ids",
    "record_filter",
    "trigger_type",
    "cron",
    "timezone",
    "run_at",
    "execution_options",
    "name",
    "inputs",
    "messages",
)
_SURFACE_FIELDS = (
    "flow_id",
    "trigger_type",
    "cron",
    "run_at",
    "timezone",
    "enabled",
    "execution_options",
    "record_filter",
    "record_ids",
    "record_type",
)
_JSON_RENDERERS = {"execution_options": "json", "record_filter": "json", "inputs": "json", "messages": "json"}


class _ScheduleSpecOperator(_ScheduleOperator):
    """Create/update: the schedule's fields as keyword arguments, validated against its API family."""

    template_fields: Sequence[str] = ("schedule_id", "product_id", "surface_id", *_GLOBAL_FIELDS, "enabled")
    template_fields_renderers = _JSON_RENDERERS

    def __init__(
        self,
        *,
        flow_id: str | None = None,
        agent_id: str | None = None,
        record_type: str | None = None,
        record_ids: list[str] | None = None,
        record_filter: dict[str, Any] | None = None,
        trigger_type: str | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        run_at: str | None = None,
        execution_options: dict[str, Any] | None = None,
        name: str | None = None,
        inputs: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        enabled: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id, self.agent_id, self.record_type = flow_id, agent_id, record_type
        self.record_ids, self.record_filter, self.trigger_type = record_ids, record_filter, trigger_type
        self.cron, self.timezone, self.run_at = cron, timezone, run_at
        self.execution_options, self.name, self.inputs, self.messages = (
            execution_options,
            name,
            inputs,
            messages,
        )
        self.enabled = enabled
        allowed = _SURFACE_FIELDS if self.surface else (*_GLOBAL_FIELDS,)
        given = {f for f in (*_GLOBAL_FIELDS, "enabled") if getattr(self, f) is not None}
        wrong = sorted(given - set(allowed))
        if wrong:
            family = "product-surface" if self.surface else "global"
            raise RuntypeConfigurationError(f"{', '.join(map(repr, wrong))} not accepted by {family} schedules")
        if flow_id and agent_id:
            raise RuntypeConfigurationError("give exactly one of 'flow_id' or 'agent_id', not both")
        if cron is not None and run_at is not None:
            raise RuntypeConfigurationError("give either 'cron' (recurring) or 'run_at' (one_time), not both")

    def spec(self) -> dict[str, Any]:
        fields = _SURFACE_FIELDS if self.surface else _GLOBAL_FIELDS
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not None}


class RuntypeCreateScheduleOperator(_ScheduleSpecOperator):
    """Create a schedule. Global: returns ``{"id", "status"}``; product-surface: the created schedule.

    Global: exactly one of ``flow_id`` / ``agent_id``; ``cron`` (recurring) or ``run_at`` (one_time);
    optional ``record_type``, ``record_ids``, ``record_filter``, ``timezone``, ``execution_options``, ``name``,
    ``inputs``, ``messages``. Product-surface (``product_id`` + ``surface_id``): ``flow_id``, ``cron`` or
    ``run_at``, ``timezone``, ``enabled``, ``execution_options``, ``record_filter``, ``record_ids``,
    ``record_type``. Every field is templated.
    """

    needs_schedule_id = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (self.flow_id or self.agent_id):
            raise RuntypeConfigurationError(
                "'flow_id' is required" if self.surface else "give exactly one of 'flow_id' or 'agent_id'"
            )
        if self.cron is None and self.run_at is None:
            raise RuntypeConfigurationError("a schedule needs 'cron' (recurring) or 'run_at' (one_time)")

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.create_surface_schedule(*self.surface, **self.spec())
        return hook.create_schedule(**self.spec())


class RuntypeUpdateScheduleOperator(_ScheduleSpecOperator):
    """Partially update a schedule: only the fields given are sent (same fields as create)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.spec():
            raise RuntypeConfigurationError("give at least one field to change")

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.update_surface_schedule(*self.surface, self.schedule_id or "", **self.spec())
        return hook.update_schedule(self.schedule_id or "", **self.spec())


class RuntypePauseScheduleOperator(_ScheduleOperator):
    """Pause a schedule (no future runs until resumed); returns ``{"status": "paused"}``."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.pause_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.pause_schedule(self.schedule_id or "")


class RuntypeResumeScheduleOperator(_ScheduleOperator):
    """Resume a paused schedule; returns ``{"status": "resumed"}``."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.resume_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.resume_schedule(self.schedule_id or "")


class RuntypeDeleteScheduleOperator(_ScheduleOperator):
    """Delete a schedule permanently; returns ``{"success": true}``."""

    def call(self, hook: RuntypeHook) -> Any:
        if self.surface:
            return hook.delete_surface_schedule(*self.surface, self.schedule_id or "")
        return hook.delete_schedule(self.schedule_id or "")
