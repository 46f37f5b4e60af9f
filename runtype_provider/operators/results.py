"""The operator that collects a run's per-record results and hands them to downstream tasks (XCom or a file).

Importable from :mod:`runtype_provider.operators.runtype` too, its documented path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import chain
from typing import Any

from runtype_provider.api.ids import check_page_size
from runtype_provider.assets import schedule_id_from_uri
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.operators.base import SUMMARY_KEY, RuntypeBaseOperator
from runtype_provider.runs.reference import RunProgress, RunReference, run_event_payload
from runtype_provider.tasks.arguments import count, option_argument, push_xcom
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
from runtype_provider.version_compat import Context, conf


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

    :param run: the run reference from :class:`RuntypeRunScheduleOperator` (``run=run_task.output``) or the batch
        operator; a run of several batches (``batch_execution_ids``) is read batch after batch, in order.
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
        extra ``max_concurrent_pages`` (16). Fewer while the API answers 429; rows keep their order.

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
