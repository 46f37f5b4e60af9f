"""The operator that submits records to a Runtype flow (or agent) as one batch and waits for it
(``POST /v1/batch/flow``), with the run operator's wait, verdicts and XCom shape, at most one batch per task
instance on Airflow 3.3+ (:mod:`runtype_provider.tasks.submission`) and an optional cost budget."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from runtype_provider.exceptions import RuntypeApiError, RuntypeConfigurationError, RuntypeRunError, RuntypeTlsError
from runtype_provider.links import RUN_URL_KEY, RuntypeRunLink
from runtype_provider.operators.base import RUN_REFERENCE_KEY, RuntypeBaseOperator
from runtype_provider.runs.reference import RunCost, RunProgress, RunReference
from runtype_provider.runs.status import RunOutcome, classify_run_status
from runtype_provider.runs.verdict import FailedRecordsPolicy
from runtype_provider.runs.watch import RunWatch, cancel_run, wait_until_terminal
from runtype_provider.tasks.arguments import count, default_deferrable, positive_seconds, push_xcom
from runtype_provider.tasks.batch_input import (
    check_parse_time_input,
    check_record_count,
    check_target,
    input_fingerprint,
    record_ids_argument,
    records_argument,
    target_key,
)
from runtype_provider.tasks.submission import (
    MAX_RECONCILE_CHECKS,
    ON_UNKNOWN_SUBMISSION,
    Submission,
    SubmissionStore,
    reconcile_candidates,
)
from runtype_provider.tasks.waiting import RunWaiter
from runtype_provider.version_compat import AirflowSkipException, Context


def _no_batch_created(error: Exception) -> bool:
    """The POST surely created no batch: refused before sending (body checks, TLS) or answered with a 4xx."""
    if isinstance(error, (RuntypeConfigurationError, RuntypeTlsError)):
        return True
    return isinstance(error, RuntypeApiError) and error.status_code < 500


class RuntypeRunBatchOperator(RunWaiter, RuntypeBaseOperator):
    """Submit records to a Runtype flow (or agent) as one batch, and wait for the batch to finish.

    The run reference (batch id and link) is pushed to XCom under ``run_reference`` and ``run_url`` before any
    waiting; the return value has the run operator's shape (reference, ``status``, ``outcome``, record counts)
    plus ``total_cost_usd`` (and ``billed_cost_usd`` when Runtype gives it), so ``run=<this task>.output`` works
    with :class:`~runtype_provider.operators.runtype.RuntypeScheduleRunResultsOperator` and
    :class:`~runtype_provider.sensors.runtype.RuntypeScheduleRunSensor`. Rendered ``record_ids`` and ``records``
    that are both empty (an upstream task found nothing to do) skip the task (``AirflowSkipException``).

    :param flow_id: the flow that runs the batch (templated); exactly one of ``flow_id``, ``agent_id`` and
        ``flow_definition``.
    :param agent_id: alternatively, the agent (templated).
    :param flow_definition: alternatively, an inline flow definition (templated; a pinned snapshot names its flow
        in its own ``id``).
    :param record_ids: record ids (templated): a list of strings, e.g. ``upstream.output``, or a JSON array.
    :param records: inline records (templated): a list of dicts. ``record_ids`` and/or ``records``; together at
        most 50,000 records.
    :param inputs: flow inputs (templated). :param options: batch ``options`` (templated), e.g.
        ``{"recordConcurrency": 10}``.
    :param poll_interval: seconds between status polls. :param timeout: seconds to wait at most (then the batch
        is cancelled and the task fails); the task's ``execution_timeout`` bounds the wait too.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param allowed_failed_records: as the run operator's: None (any), N, or ``"X%"``.
    :param cancel_on_kill: cancel the batch when the task is killed or its wait times out (default True).
    :param max_poll_errors: consecutive failed polls tolerated while waiting.
    :param on_unknown_submission: Airflow 3.3+: a retry that finds the earlier try's intent to submit but no batch
        id (its worker died inside the POST) first looks for that batch in ``GET /v1/batch/summary``: exactly one
        batch of the same flow, started since the intent with the same record count, is adopted. This is only a
        heuristic (the summary has no input fingerprint: another submission of the same flow and size at the same
        time looks alike, and an unlisted batch is missed), so otherwise ``"fail"`` (default) fails the task,
        keeping the intent, for a human to check Runtype, and ``"resubmit"`` submits again (possibly a second
        batch). A stored batch id is re-attached only when the flow/agent and the input fingerprint are the same.
    :param max_cost_usd: cost budget in US dollars for this task instance, earlier tries' finished batches
        included (3.3+). Checked before submitting, every ``cost_check_interval`` seconds while waiting (sync:
        every ``ceil(cost_check_interval / poll_interval)`` polls; deferred: the trigger waits in slices of
        ``cost_check_interval``, the resumed task checks and defers again), and once the batch ended. When
        exceeded while waiting, the batch is cancelled and the task fails with the figures; when exceeded by the
        final cost, the task fails with them.
    :param cost_check_interval: seconds between two cost checks while waiting (default 300; only with a budget).

    Without Airflow 3.3's task state store (3.1/3.2), a worker that dies after the POST and before the batch
    ends makes the retry submit the same records again (a second batch, billed twice), and the budget counts
    only the current try's batch.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target(flow_id, agent_id, flow_definition)
        check_parse_time_input(record_ids, records)
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
        record_ids, records = record_ids_argument(self.record_ids), records_argument(self.records)
        total = check_record_count(record_ids, records)
        if not total:
            raise AirflowSkipException("Nothing to submit: 'record_ids' and 'records' are empty once rendered")
        self._open_store(context)
        self._check_budget_left()
        target = target_key(self.flow_id, self.agent_id, self.flow_definition)
        fingerprint = input_fingerprint(
            target, flow_definition=self.flow_definition, record_ids=record_ids, records=records,
            inputs=self.inputs, options=self.options,
        )  # fmt: skip
        submission = Submission(target, fingerprint, total, intent_at=time.time())
        status = None
        run = self._earlier_batch(submission)
        if run is None:
            self._submissions.record(submission)  # the intent, before the POST
            try:
                answer = self.hook.submit_batch(
                    flow_id=self.flow_id or None, agent_id=self.agent_id or None,
                    flow_definition=self.flow_definition or None, record_ids=record_ids or None,
                    records=records or None, inputs=self.inputs or None, options=self.options or None,
                )  # fmt: skip
            except Exception as err:
                if _no_batch_created(err):
                    self._submissions.forget()
                raise
            self._submissions.record(
                Submission(**{**submission.to_state(), "batch_execution_id": answer.batch_execution_id})
            )
            run, status = self.hook.run_reference(batch_execution_id=answer.batch_execution_id), answer.status
        self._run, self.run_url = run, run.run_url
        push_xcom(context, RUN_REFERENCE_KEY, run.to_xcom())
        push_xcom(context, RUN_URL_KEY, run.run_url)
        self.log.info("Runtype batch %s of %s: %d records (%s)", run.name, target, total, run.run_url)
        if classify_run_status(status) is RunOutcome.FAILED:
            self._submissions.forget()
            raise RuntypeRunError(f"Runtype refused batch {run.name}: status {status!r}", run=run.to_xcom())
        return self._wait(run)

    def _earlier_batch(self, submission: Submission) -> RunReference | None:
        """Airflow 3.3+: the batch an earlier try submitted for the same work and did not see end, if any (see
        ``on_unknown_submission``); None to submit."""
        saved = self._submissions.earlier()
        if saved is None:
            return None
        if not saved.same_work(submission):
            self.log.info("An earlier try submitted other work (%s, other input): submitting this one", saved.target)
            self._submissions.forget()
            return None
        if saved.batch_execution_id:
            run = self.hook.run_reference(batch_execution_id=saved.batch_execution_id)
            progress = self.hook.get_run_progress(run)
            if progress.outcome.is_active or progress.outcome is RunOutcome.SUCCESS:
                self.log.info(
                    "Re-attaching to batch %s, submitted by an earlier try (%s)", run.name, progress.describe()
                )
                return run
            self.log.info("The batch of an earlier try, %s, ended %s; submitting again", run.name, progress.status)
            self._count_spent(run)
            self._submissions.forget()
            return None
        adopted = self._reconcile(saved)
        if adopted is not None:
            self.log.info("Adopting batch %s: the one an earlier try's interrupted submission created", adopted)
            self._submissions.record(Submission(**{**saved.to_state(), "batch_execution_id": adopted}))
            return self.hook.run_reference(batch_execution_id=adopted)
        if self.on_unknown_submission == "resubmit":
            self.log.warning("An earlier try may have submitted this batch (unknown): resubmitting as asked")
            return None
        raise RuntypeRunError(
            f"An earlier try of this task began submitting a batch of {saved.total_records} records to "
            f"{saved.target} at {datetime.fromtimestamp(saved.intent_at, timezone.utc):%Y-%m-%d %H:%M:%S} UTC and "
            "did not learn whether Runtype created it, and no single matching batch is in Runtype's batch summary. "
            "Check the Runtype dashboard; to submit anyway set on_unknown_submission='resubmit'"
        )

    def _reconcile(self, saved: Submission) -> str | None:
        """The one batch of ``GET /v1/batch/summary`` that matches the intent (flow checked by batch status)."""
        try:
            candidates = reconcile_candidates(self.hook.get_batch_summary(), saved)
            if not candidates or len(candidates) > MAX_RECONCILE_CHECKS:
                return None
            wanted = saved.target.split(":", 1)[1]
            matching = [c for c in candidates if self.hook.get_batch_status(c).flow_id == wanted]
        except Exception as err:  # reconciling is best effort: on_unknown_submission decides
            self.log.warning("Could not reconcile with Runtype's batch summary (%s)", err)
            return None
        return matching[0] if len(matching) == 1 else None

    # ---- cost and budget -----------------------------------------------------------------------------

    def _cost(self, run: RunReference) -> RunCost | None:
        """The batch's cost so far (None when it cannot be read: logged)."""
        try:
            return RunCost.from_answer(self.hook.get_batch_cost(run.batch_execution_id or ""))
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
        state = "the batch was cancelled" if cancelled else "the batch was NOT cancelled and may still be running"
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
        return self._conclude(wait.progress, wait.run)

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
