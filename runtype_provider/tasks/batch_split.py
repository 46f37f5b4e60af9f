"""Submitting a batch task's records as one run of one or more batches (``records_per_batch``), each batch at most
once per task instance on Airflow 3.3+ (:mod:`~runtype_provider.tasks.submission`): a retry re-attaches to the
batches an earlier try submitted and submits only the rest.

A batch surely not created (refused before sending, or answered with a 4xx) after others were: the others are
cancelled and the task fails naming them all. An unknown outcome (5xx, network) keeps the store, so the retry
continues where this try stopped. The hook arrives as an argument: nothing here sends a request on import.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from runtype_provider.exceptions import RuntypeApiError, RuntypeConfigurationError, RuntypeRunError, RuntypeTlsError
from runtype_provider.runs.reference import RunReference
from runtype_provider.runs.status import RunOutcome, classify_run_status
from runtype_provider.runs.watch import cancel_run
from runtype_provider.tasks.batch_input import Chunk
from runtype_provider.tasks.submission import (
    MAX_RECONCILE_CHECKS,
    RunSubmission,
    Submission,
    SubmissionStore,
    reconcile_candidates,
)


def no_batch_created(error: Exception) -> bool:
    """The POST surely created no batch: refused before sending (body checks, TLS) or answered with a 4xx."""
    if isinstance(error, (RuntypeConfigurationError, RuntypeTlsError)):
        return True
    return isinstance(error, RuntypeApiError) and error.status_code < 500


class RunSubmitter:
    """Submits one task instance's run (see the module docstring).

    :param hook: the task's RuntypeHook. :param store: the task state store's view. :param log: the task's log.
    :param on_unknown_submission: ``"fail"`` or ``"resubmit"`` (the batch operator's argument).
    :param count_spent: adds an ended batch's cost to what the task instance spent (a budget across tries).
    :param publish: called with the run reference once its batches are known (or before failing, with those
        submitted), to push it to XCom.
    """

    def __init__(
        self,
        hook: Any,
        store: SubmissionStore,
        log: Any,
        *,
        on_unknown_submission: str,
        count_spent: Callable[[RunReference], Any],
        publish: Callable[[RunReference], Any],
    ) -> None:
        self.hook = hook
        self.store = store
        self.log = log
        self.on_unknown_submission = on_unknown_submission
        self.count_spent = count_spent
        self.publish = publish

    def submit(self, work: RunSubmission, chunks: list[Chunk], spec: dict[str, Any]) -> RunReference:
        """Submit (or re-attach to) one batch per chunk, in order, each with ``spec`` (target, inputs, options);
        publish and return the run's reference."""
        state, ids, ended = self._earlier(work)
        for index, chunk in enumerate(chunks):
            if ids[index]:
                continue
            if index in ended:  # counted as it is replaced: once, even if this try stops before
                self.count_spent(ended[index])
            state = state.with_intent(index, time.time())
            self.store.record(state)  # the intent, before the POST
            try:
                answer = self.hook.submit_batch(
                    **spec, record_ids=chunk.record_ids or None, records=chunk.records or None
                )
            except Exception as err:
                if no_batch_created(err):
                    self._abandon(ids, index, f"batch {index + 1} of {len(chunks)} was refused ({err})", err)
                raise  # unknown: the store keeps the intent, a retry continues here
            ids[index] = answer.batch_execution_id
            state = state.with_batch(index, answer.batch_execution_id)
            self.store.record(state)
            if classify_run_status(answer.status) is RunOutcome.FAILED:
                what = f" ({index + 1} of {len(chunks)})" if len(chunks) > 1 else ""
                self._abandon(ids, index, f"Runtype refused batch {ids[index]}{what}: status {answer.status!r}")
        run = self.hook.run_reference(batch_execution_ids=ids)
        self.publish(run)
        return run

    def _abandon(self, ids: list[str | None], index: int, why: str, error: Exception | None = None) -> None:
        """Batch ``index`` was not created or was refused: cancel the run's other batches, forget the run, fail."""
        self.store.forget()
        others = [batch for n, batch in enumerate(ids) if batch and n != index]
        mine = ids[index]
        if mine or others:
            self.publish(self.hook.run_reference(batch_execution_ids=[b for b in ids if b]))
        if not others:
            if error is not None:
                raise error
            raise RuntypeRunError(why, run=self.hook.run_reference(batch_execution_id=mine).to_xcom())
        run = self.hook.run_reference(batch_execution_ids=others)
        cancelled = cancel_run(self.hook, run, "another batch of the run was refused", self.log)
        state = "cancelled" if cancelled else "NOT all cancelled (some may still be running)"
        raise RuntypeRunError(
            f"{why}; the {len(others)} other batches this task submitted ({', '.join(others)}) were {state}",
            run=run.to_xcom(),
        ) from error

    def _earlier(self, work: RunSubmission) -> tuple[RunSubmission, list[str | None], dict[int, RunReference]]:
        """Airflow 3.3+: the state to go on from; per chunk, the batch of an earlier try to re-attach to (None:
        submit it); and the earlier batches that ended failed or cancelled, by chunk (their records are submitted
        again). See ``on_unknown_submission``."""
        ids: list[str | None] = [None] * len(work.sizes)
        ended: dict[int, RunReference] = {}
        saved = self.store.earlier()
        if saved is None:
            return work, ids, ended
        if not saved.same_work(work):
            self.log.info("An earlier try submitted other work (%s, other input): submitting this one", saved.target)
            self.store.forget()
            return work, ids, ended
        known = saved.known_ids()
        for index, begun in enumerate(saved.batches):
            if begun.batch_execution_id:
                run = self.hook.run_reference(batch_execution_id=begun.batch_execution_id)
                if self._still_good(run, index, len(work.sizes)):
                    ids[index] = begun.batch_execution_id
                else:
                    ended[index] = run
                continue
            adopted = self._reconcile(saved.batch(index), known)
            if adopted is not None:
                self.log.info("Adopting batch %s: the one an earlier try's interrupted submission created", adopted)
                saved = saved.with_batch(index, adopted)
                self.store.record(saved)
                ids[index] = adopted
            elif self.on_unknown_submission == "resubmit":
                self.log.warning("An earlier try may have submitted this batch (unknown): resubmitting as asked")
            else:
                raise RuntypeRunError(self._unknown_message(saved, index, ids))
        return saved, ids, ended

    def _still_good(self, run: RunReference, index: int, count: int) -> bool:
        """An earlier try's batch is re-attached while active or succeeded; else (it failed or was cancelled) its
        records are submitted again."""
        progress = self.hook.get_run_progress(run)
        which = f" ({index + 1} of {count})" if count > 1 else ""
        if progress.outcome.is_active or progress.outcome is RunOutcome.SUCCESS:
            self.log.info(
                "Re-attaching to batch %s%s, submitted by an earlier try (%s)", run.name, which, progress.describe()
            )
            return True
        self.log.info("The batch of an earlier try, %s%s, ended %s; submitting again", run.name, which, progress.status)
        return False

    @staticmethod
    def _unknown_message(saved: RunSubmission, index: int, ids: list[str | None]) -> str:
        begun = saved.batch(index)
        at = datetime.fromtimestamp(begun.intent_at, timezone.utc)
        which = f" (batch {index + 1} of {len(saved.sizes)})" if len(saved.sizes) > 1 else ""
        kept = [batch for batch in ids if batch]
        others = f"; the run's other batches ({', '.join(kept)}) are kept for the next try" if kept else ""
        return (
            f"An earlier try of this task began submitting a batch of {begun.total_records} records{which} to "
            f"{saved.target} at {at:%Y-%m-%d %H:%M:%S} UTC and did not learn whether Runtype created it, and no "
            f"single matching batch is in Runtype's batch summary{others}. Check the Runtype dashboard; to submit "
            "anyway set on_unknown_submission='resubmit'"
        )

    def _reconcile(self, saved: Submission, known: list[str]) -> str | None:
        """The one batch of ``GET /v1/batch/summary`` that matches the intent (flow checked by batch status)."""
        try:
            candidates = reconcile_candidates(self.hook.get_batch_summary(), saved, known)
            if not candidates or len(candidates) > MAX_RECONCILE_CHECKS:
                return None
            wanted = saved.target.split(":", 1)[1]
            matching = [c for c in candidates if self.hook.get_batch_status(c).flow_id == wanted]
        except Exception as err:  # reconciling is best effort: on_unknown_submission decides
            self.log.warning("Could not reconcile with Runtype's batch summary (%s)", err)
            return None
        return matching[0] if len(matching) == 1 else None
