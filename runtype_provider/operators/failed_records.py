"""Retry only what failed: the operator that reads the record ids of a finished run's failed records, and
:func:`failed_record_ids`, which hands them to a batch::

    first = RuntypeRunBatchOperator(task_id="first", flow_id="flow_1", record_ids=[...])
    retry = RuntypeRunBatchOperator(task_id="retry", flow_id="flow_1", record_ids=failed_record_ids(first.output))

Works for a schedule run and for a batch (of one or several batches) alike; no schedule is changed. An empty list
(nothing failed) makes the batch task skip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtype_provider.api.ids import check_page_size
from runtype_provider.api.spec import MAX_BATCH_RECORDS
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.operators.base import SUMMARY_KEY, RuntypeBaseOperator
from runtype_provider.runs.reference import RunReference
from runtype_provider.runs.status import is_failed_record_status
from runtype_provider.tasks.arguments import option_argument, push_xcom
from runtype_provider.version_compat import Context

DEFAULT_MAX_RECORDS = MAX_BATCH_RECORDS
"""Most failed record ids a task hands on by default: one batch's worth (the XCom stays about 1-2 MB)."""


def _record_id(row: Any) -> str:
    """The id a failed row's record can be submitted again by: ``recordId``, else ``record.id``; "" when neither."""
    text = getattr(row, "record_id", None)
    if isinstance(text, str) and text.strip():
        return text.strip()
    record = getattr(row, "record", None)
    text = getattr(record, "id", None)
    return text.strip() if isinstance(text, str) else ""


class RuntypeFailedRecordIdsOperator(RuntypeBaseOperator):
    """Return the record ids of a finished run's failed records (deduplicated, in the order the results list them),
    for ``record_ids=`` of :class:`~runtype_provider.operators.batches.RuntypeRunBatchOperator`.

    Reads the run's results with ``status="failed"`` (every batch of a run split over several; the status is checked
    on each row too, as the results operator does). Refuses a run that has not finished: its failures are not all
    known yet. A failed row that names no record (empty ``recordId`` and no ``record.id``) cannot be submitted
    again: it is left out, counted and logged as a warning. Records a failed or cancelled run never reached have no
    result row and are not included. Pushes a summary under the XCom key ``summary``: ``failed_rows``,
    ``record_ids``, ``duplicates``, ``without_record_id``.

    :param run: the run reference (templated): ``run=<run or batch task>.output``.
    :param max_records: most ids handed on (default 50,000, one batch); a run with more failed records fails the
        task, saying so, instead of handing on a partial list. Raise it for a run of several batches (the batch
        operator splits a longer list).
    :param page_size: rows per API request (1-100).
    :param max_concurrent_pages: pages fetched at the same time (default: the connection extra).
    """

    template_fields: Sequence[str] = ("run",)
    template_fields_renderers = {"run": "json"}
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        run: Any,
        max_records: int = DEFAULT_MAX_RECORDS,
        page_size: int = 100,
        max_concurrent_pages: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if run is None:
            raise RuntypeConfigurationError("'run' is required: the run reference, e.g. run=run_task.output")
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise RuntypeConfigurationError(f"'max_records' must be a positive integer, got {max_records!r}")
        check_page_size(page_size)
        if max_concurrent_pages is not None:
            option_argument("max_concurrent_pages", max_concurrent_pages)
        self.run = run
        self.max_records = max_records
        self.page_size = page_size
        self.max_concurrent_pages = max_concurrent_pages

    def execute(self, context: Context) -> list[str]:
        run = RunReference.coerce(self.run)
        run.require_pollable()
        progress = self.hook.get_run_progress(run)
        if not progress.outcome.is_terminal:
            raise RuntypeRunError(
                f"Runtype run {run.name} has not finished (status {progress.status!r}): its failed records are not "
                "all known. Wait for it first, then read them",
                run=run.to_xcom(),
            )
        rows = self.hook.iter_run_results(
            run, status="failed", page_size=self.page_size, max_concurrent_pages=self.max_concurrent_pages
        )
        ids: dict[str, None] = {}  # insertion-ordered set
        failed = without = 0
        for row in rows:
            if not is_failed_record_status(getattr(row, "status", None)):
                continue  # the server may ignore the filter
            failed += 1
            record_id = _record_id(row)
            if not record_id:
                without += 1
            elif record_id not in ids:
                if len(ids) >= self.max_records:
                    raise RuntypeRunError(
                        f"Runtype run {run.name} has more than max_records={self.max_records} failed records; raise "
                        "max_records to hand them all on (the batch operator splits a list longer than one batch)",
                        run=run.to_xcom(),
                    )
                ids[record_id] = None
        if without:
            self.log.warning(
                "%d failed record result(s) of run %s name no record id: they cannot be submitted again and are left "
                "out",
                without,
                run.name,
            )
        summary = {"failed_rows": failed, "record_ids": len(ids), "duplicates": failed - without - len(ids),
                   "without_record_id": without}  # fmt: skip
        push_xcom(context, SUMMARY_KEY, summary)
        self.log.info("Run %s: %d failed record(s) to submit again (%s)", run.name, len(ids), summary)
        return list(ids)


def failed_record_ids(run: Any, *, task_id: str = "failed_record_ids", **kwargs: Any) -> Any:
    """The record ids of ``run``'s failed records, as an XComArg for ``record_ids=`` of a batch task: adds a
    :class:`RuntypeFailedRecordIdsOperator` (``task_id``, other ``kwargs`` passed on) to the DAG being defined,
    downstream of the task ``run`` comes from. Its task is ``failed_record_ids(...).operator``."""
    return RuntypeFailedRecordIdsOperator(task_id=task_id, run=run, **kwargs).output
