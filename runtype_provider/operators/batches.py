"""The operator that submits records to a Runtype flow (or agent) as one batch, or as one run of several batches
(``records_per_batch``), and waits for it (``POST /v1/batch/flow``), with the run operator's wait, verdicts and XCom
shape, each batch at most once per task instance on Airflow 3.3+ (:mod:`runtype_provider.tasks.batch_split`) and
an optional cost budget."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from runtype_provider.api.spec import MAX_BATCH_RECORDS
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.links import RUN_URL_KEY, RuntypeRunLink
from runtype_provider.operators.base import RUN_REFERENCE_KEY, RuntypeBaseOperator
from runtype_provider.runs.reference import RunCost, RunProgress, RunReference
from runtype_provider.runs.verdict import FailedRecordsPolicy
from runtype_provider.runs.watch import RunWatch, cancel_run, wait_until_terminal
from runtype_provider.tasks.arguments import count, default_deferrable, positive_seconds, push_xcom
from runtype_provider.tasks.batch_input import (
    DEFAULT_MAX_BATCHES,
    check_parse_time_input,
    check_record_count,
    check_target,
    input_fingerprint,
    record_ids_argument,
    records_argument,
    split_arguments,
    split_records,
    target_key,
)
from runtype_provider.tasks.batch_split import RunSubmitter
from runtype_provider.tasks.outlets import BatchReporting, check_batch_outlets
from runtype_provider.tasks.submission import ON_UNKNOWN_SUBMISSION, RunSubmission, SubmissionStore
from runtype_provider.tasks.waiting import RunWaiter
from runtype_provider.version_compat import AirflowSkipException, Context


class RuntypeRunBatchOperator(BatchReporting, RunWaiter, RuntypeBaseOperator):
    """Submit records to a Runtype flow (or agent) as one batch (or several: ``records_per_batch``), and wait for
    the run to finish.

    The run reference (batch id and link) is pushed to XCom under ``run_reference`` and ``run_url`` before any
    waiting; the return value has the run operator's shape (reference, ``status``, ``outcome``, record counts)
    plus ``total_cost_usd`` (and ``billed_cost_usd`` when Runtype gives it), so ``run=<this task>.output`` works
    with :class:`~runtype_provider.operators.runtype.RuntypeScheduleRunResultsOperator` and
    :class:`~runtype_provider.sensors.runtype.RuntypeScheduleRunSensor`. Rendered ``record_ids`` and ``records``
    that are both empty (an upstream task found nothing to do) skip the task (``AirflowSkipException``): nothing
    is submitted and nothing fails.

    More records than ``records_per_batch`` are split, in order (``record_ids`` first, then ``records``), into
    consecutive batches of ``records_per_batch`` (the last may hold fewer), each one ``POST /v1/batch/flow`` with
    the same target, ``inputs`` and ``options``, submitted one after the other and waited on as one run: one
    reference listing every batch id (``batch_execution_ids``, in order; ``batch_execution_id`` is the first), one
    status (any batch still going: running; then a failed batch fails the run, else a cancelled one cancels it),
    record counts and cost summed over the batches, one verdict (``allowed_failed_records`` against the summed
    counts), and results read batch after batch, in order, by the results operator and the sensor. A timeout, a
    kill or the budget cancels every batch still going. A batch refused (4xx) after others were submitted cancels
    those and fails the task naming them; an unknown outcome (5xx, network) leaves the retry to go on from there.

    :param flow_id: the flow that runs the batch (templated); exactly one of ``flow_id``, ``agent_id`` and
        ``flow_definition``.
    :param agent_id: alternatively, the agent (templated).
    :param flow_definition: alternatively, an inline flow definition (templated; a pinned snapshot names its flow
        in its own ``id``).
    :param record_ids: record ids (templated): a list of strings, e.g. ``upstream.output``, or a JSON array.
    :param records: inline records (templated): a list of dicts. ``record_ids`` and/or ``records``; together at
        most ``max_batches * records_per_batch`` records (checked at parse for literal lists, else at execute).
    :param records_per_batch: records in one batch, 1 to 50,000 (Runtype's cap, the default).
    :param max_batches: batches one task instance submits at most, 1 to 100 (default 20).
    :param inputs: flow inputs (templated). :param options: batch ``options`` (templated), e.g.
        ``{"recordConcurrency": 10}``.
    :param poll_interval: seconds between status polls. :param timeout: seconds to wait at most (then the batch
        is cancelled and the task fails); the task's ``execution_timeout`` bounds the wait too.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param allowed_failed_records: as the run operator's: None (any), N, or ``"X%"``.
    :param cancel_on_kill: cancel the run's batches when the task is killed or its wait times out (default True).
    :param max_poll_errors: consecutive failed polls tolerated while waiting.
    :param on_unknown_submission: Airflow 3.3+: a retry that finds the earlier try's intent to submit a batch but
        no batch id (its worker died inside the POST) first looks for that batch in ``GET /v1/batch/summary``:
        exactly one batch of the same flow, started since the intent with the same record count, is adopted. This
        is only a heuristic (the summary has no input fingerprint: another submission of the same flow and size at
        the same time looks alike, and an unlisted batch is missed), so otherwise ``"fail"`` (default) fails the task,
        keeping the intent, for a human to check Runtype, and ``"resubmit"`` submits again (possibly a second
        batch). Stored batch ids are re-attached only when the flow/agent, the input fingerprint and the split are
        the same: a retry re-attaches to the batches an earlier try submitted (those still going or succeeded;
        one that failed or was cancelled is submitted again) and submits the rest.
    :param max_cost_usd: cost budget in US dollars for this task instance (all its batches), earlier tries'
        finished batches included (3.3+). Checked before submitting, every ``cost_check_interval`` seconds while
        waiting (sync: every ``ceil(cost_check_interval / poll_interval)`` polls; deferred: the trigger waits in
        slices of ``cost_check_interval``, the resumed task checks and defers again), and once the run ended. When
        exceeded while waiting, the run's batches are cancelled and the task fails with the figures; when exceeded
        by the final cost, the task fails with them.
    :param cost_check_interval: seconds between two cost checks while waiting (default 300; only with a budget).

    ``outlets`` may hold the flow's (or agent's) asset, ``create_asset(flow_id=...)``: when the run succeeds, its
    event carries ``extra["payload"]`` with the keys of :data:`~runtype_provider.assets.BATCH_PAYLOAD_KEYS` (the run
    payload plus flow/agent id, batch ids and cost). A Runtype outlet must name the task's own flow or agent
    (checked at parse for a literal id, else before submitting). With the OpenLineage provider installed, the batch
    is reported as lineage (its flow or agent is the input dataset).

    Without Airflow 3.3's task state store (3.1/3.2), a worker that dies after a POST and before the run ends
    makes the retry submit the same records again (billed twice), and the budget counts only the current try's
    batches.
    """

    template_fields: Sequence[str] = (
        "flow_id",
        "agent_id",
        "flow_definition",
        "record_ids",
        "records",
        "inputs",
        "options",
    )
    template_fields_renderers = {"records": "json", "inputs": "json", "options": "json", "flow_definition": "json"}
    operator_extra_links = (RuntypeRunLink(),)
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        flow_id: str | None = None,
        agent_id: str | None = None,
        flow_definition: Any = None,
        record_ids: Any = None,
        records: Any = None,
        inputs: Any = None,
        options: Any = None,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        deferrable: bool | None = None,
        allowed_failed_records: int | str | None = None,
        cancel_on_kill: bool = True,
        max_poll_errors: int = 5,
        on_unknown_submission: str = "fail",
        max_cost_usd: float | None = None,
        cost_check_interval: float = 300.0,
        records_per_batch: int = MAX_BATCH_RECORDS,
        max_batches: int = DEFAULT_MAX_BATCHES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target(flow_id, agent_id, flow_definition)
        self.records_per_batch, self.max_batches = split_arguments(records_per_batch, max_batches)
        check_parse_time_input(record_ids, records, self.records_per_batch, self.max_batches)
        check_batch_outlets(self.outlets, flow_id, agent_id, flow_definition, self.task_id)
        if on_unknown_submission not in ON_UNKNOWN_SUBMISSION:
            raise RuntypeConfigurationError(
                f"'on_unknown_submission' must be one of {', '.join(map(repr, ON_UNKNOWN_SUBMISSION))}, "
                f"got {on_unknown_submission!r}"
            )
        if max_cost_usd is not None and (
            isinstance(max_cost_usd, bool) or not isinstance(max_cost_usd, (int, float)) or not max_cost_usd > 0
        ):
            raise RuntypeConfigurationError(
                f"'max_cost_usd' must be a positive number of dollars, got {max_cost_usd!r}"
            )
        self.flow_id = flow_id
        self.agent_id = agent_id
        self.flow_definition = flow_definition
        self.record_ids = record_ids
        self.records = records
        self.inputs = inputs
        self.options = options
        self.poll_interval = positive_seconds(poll_interval, "poll_interval")
        self.timeout = positive_seconds(timeout, "timeout", allow_none=True)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.allowed_failed_records = allowed_failed_records
        FailedRecordsPolicy.parse(allowed_failed_records)
        self.cancel_on_kill = cancel_on_kill
        self.max_poll_errors = count(max_poll_errors, "max_poll_errors")
        self.on_unknown_submission = on_unknown_submission
        self.max_cost_usd = max_cost_usd
        self.cost_check_interval = positive_seconds(cost_check_interval, "cost_check_interval")
        self.run_url: str | None = None
        self._run: RunReference | None = None
        self._submissions = SubmissionStore(None, self.log)
        self._spent_before = 0.0

    # ---- submitting, at most once --------------------------------------------------------------------

    def _open_store(self, context: Context) -> None:
        store = context.get("task_state_store") if hasattr(context, "get") else None
        self._submissions = SubmissionStore(store, self.log)
        self._spent_before = self._submissions.spent()

    def execute(self, context: Context) -> dict[str, Any]:
        check_target(self.flow_id, self.agent_id, self.flow_definition)
        check_batch_outlets(self.outlets, self.flow_id, self.agent_id, self.flow_definition, self.task_id)
        record_ids, records = record_ids_argument(self.record_ids), records_argument(self.records)
        total = check_record_count(record_ids, records, self.records_per_batch, self.max_batches)
        if not total:
            raise AirflowSkipException("Nothing to submit: 'record_ids' and 'records' are empty once rendered")
        self._open_store(context)
        self._check_budget_left()
        target = target_key(self.flow_id, self.agent_id, self.flow_definition)
        fingerprint = input_fingerprint(
            target, flow_definition=self.flow_definition, record_ids=record_ids, records=records,
            inputs=self.inputs, options=self.options,
        )  # fmt: skip
        chunks = split_records(record_ids, records, self.records_per_batch)
        work = RunSubmission(target, fingerprint, tuple(chunk.size for chunk in chunks))

        def publish(run: RunReference) -> None:
            self._run, self.run_url = run, run.run_url
            push_xcom(context, RUN_REFERENCE_KEY, run.to_xcom())
            push_xcom(context, RUN_URL_KEY, run.run_url)

        submitter = RunSubmitter(
            self.hook, self._submissions, self.log, on_unknown_submission=self.on_unknown_submission,
            count_spent=self._count_spent, publish=publish,
        )  # fmt: skip
        run = submitter.submit(work, chunks, {
            "flow_id": self.flow_id or None, "agent_id": self.agent_id or None,
            "flow_definition": self.flow_definition or None, "inputs": self.inputs or None,
            "options": self.options or None,
        })  # fmt: skip
        split = f" in {len(chunks)} batches of at most {self.records_per_batch}" if len(chunks) > 1 else ""
        self.log.info("Runtype batch %s of %s: %d records%s (%s)", run.name, target, total, split, run.run_url)
        return self._report_batch(context, self._wait(run))

    # ---- cost and budget -----------------------------------------------------------------------------

    def _cost(self, run: RunReference) -> RunCost | None:
        """The run's cost so far, all its batches (None when it cannot be read: logged)."""
        try:
            return self.hook.get_run_cost(run)
        except Exception as err:
            self.log.warning("Could not read the cost of Runtype batch %s (%s)", run.name, err)
            return None

    def _check_budget_left(self) -> None:
        if self.max_cost_usd is not None and self._spent_before >= self.max_cost_usd:
            raise RuntypeRunError(
                f"Cost budget of ${self.max_cost_usd:g} already spent by earlier tries (${self._spent_before:.4f}); "
                "no batch was submitted"
            )

    def _count_spent(self, run: RunReference, cost: RunCost | None = None) -> float:
        """Add a finished batch's cost to what this task instance spent (kept for later tries, with a budget)."""
        if self.max_cost_usd is None:
            return self._spent_before
        cost = cost if cost is not None else self._cost(run)
        spent = self._spent_before + ((cost.total_cost_usd or 0.0) if cost else 0.0)
        self._submissions.set_spent(spent)
        return spent

    def _over_budget(self, cost: RunCost | None) -> bool:
        total = cost.total_cost_usd if cost is not None else None
        return self.max_cost_usd is not None and total is not None and self._spent_before + total > self.max_cost_usd

    def _budget_message(self, run: RunReference, cost: RunCost, state: str) -> str:
        earlier = f" plus ${self._spent_before:.4f} of earlier tries" if self._spent_before else ""
        link = f" {run.run_url}" if run.run_url else ""
        return (
            f"Runtype batch {run.name} cost {cost.describe()}{earlier}, over the budget max_cost_usd="
            f"{self.max_cost_usd:g}; {state}.{link}"
        )

    def _check_budget(self, run: RunReference) -> None:
        """While waiting: over budget cancels the batch and fails the task with the figures."""
        if self.max_cost_usd is None:
            return
        cost = self._cost(run)
        if cost is None or not self._over_budget(cost):
            return
        cancelled = cancel_run(self.hook, run, "cost budget exceeded", self.log)
        self._count_spent(run, cost)
        self._submissions.forget()
        what = "batches were" if len(run.batch_ids) > 1 else "batch was"
        state = f"the {what} cancelled" if cancelled else f"the {what} NOT cancelled and may still be running"
        raise RuntypeRunError(self._budget_message(run, cost, state), run={**run.to_xcom(), **cost.to_xcom()})

    def _sync_wait(self, watch: RunWatch, deadline: float | None) -> RunProgress | None:
        if self.max_cost_usd is None:
            return super()._sync_wait(watch, deadline)
        every = max(1, math.ceil(self.cost_check_interval / self.poll_interval))
        while True:
            progress = wait_until_terminal(self.hook, watch, self.poll_interval, deadline, polls=every)
            if progress is not None and progress.outcome.is_terminal:
                return progress
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self._check_budget(watch.run)
            time.sleep(
                self.poll_interval
                if deadline is None
                else max(0.0, min(self.poll_interval, deadline - time.monotonic()))
            )

    def _defer_wait(self, run: RunReference, limit: float | None, task_timeout: Any, **_: Any) -> None:
        """With a budget: check it, then wait in the triggerer for at most ``cost_check_interval``."""
        if self.max_cost_usd is None:
            super()._defer_wait(run, limit, task_timeout)
            return
        self._defer_slice(run, time.time() + limit if limit else None)

    def _defer_slice(self, run: RunReference, wait_end: float | None) -> None:
        self._check_budget(run)
        now = time.time()
        slice_end = (
            now + self.cost_check_interval if wait_end is None else min(wait_end, now + self.cost_check_interval)
        )
        super()._defer_wait(
            run, None, self._backstop(slice_end - now), end_time=slice_end, kwargs={"wait_end": wait_end}
        )

    # ---- the end ---------------------------------------------------------------------------------------

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, wait_end: float | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: a budget slice that ended defers again; else the sync path's judgement."""
        self._open_store(context)
        wait = self._resume(event)
        if wait.event == "timeout" and self.max_cost_usd is not None and (wait_end is None or time.time() < wait_end):
            self._defer_slice(wait.run, wait_end)
        if wait.event == "timeout" or wait.progress is None:
            self._timed_out(wait.run, self._wait_limit(), wait.progress)
        return self._report_batch(context, self._conclude(wait.progress, wait.run))

    def _conclude(self, progress: RunProgress, run: RunReference) -> dict[str, Any]:
        """The batch ended: read its cost, check the budget, judge it; a later try or a clear submits afresh."""
        self._run = run
        cost = self._cost(run)
        self._submissions.forget()
        try:
            if self._over_budget(cost):
                assert cost is not None
                raise RuntypeRunError(
                    self._budget_message(run, cost, f"the batch ended {progress.status}"),
                    run={**run.to_xcom(), **cost.to_xcom()},
                )
            result = super()._conclude(progress, run)
        except RuntypeRunError:
            self._count_spent(run, cost)
            raise
        self._submissions.clear_spent()
        return {**result, **(cost or RunCost()).to_xcom()}
