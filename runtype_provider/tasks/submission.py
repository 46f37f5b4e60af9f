"""Exactly one batch per task instance without an idempotency key (Airflow 3.3+ task state store).

``POST /v1/batch/flow`` takes no idempotency key, so a worker that dies inside the POST leaves a retry not knowing
whether a batch exists. The batch operator therefore keeps, in ``context["task_state_store"]``:

1. the *intent* (:class:`Submission`: target, input fingerprint, record count, wall-clock time) before the POST;
2. the batch id right after it;
3. what finished batches of earlier tries cost (:data:`SPENT_KEY`), for a budget that holds across retries.

A retry finding (2) with the same fingerprint re-attaches; finding (1) alone it tries :func:`reconcile` and else
follows ``on_unknown_submission``. On Airflow 3.1/3.2 there is no store: :class:`SubmissionStore` does nothing, and
a worker that dies after the POST (before the batch ends) makes the retry submit the batch again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

SUBMISSION_KEY = "runtype_batch_submission"
"""Task state store key of the intent and batch id; renaming it breaks in-flight retries."""
SPENT_KEY = "runtype_batch_spent_usd"
"""Task state store key of the cost of earlier tries' finished batches (a budget holds across retries)."""
ON_UNKNOWN_SUBMISSION = ("fail", "resubmit")
RECONCILE_CLOCK_SKEW = 60.0
"""Seconds a candidate batch may have started before the intent's time (worker and server clocks differ)."""
MAX_RECONCILE_CHECKS = 5
"""Candidates whose flow is checked (one batch-status request each); more candidates than this: ambiguous."""


@dataclass(frozen=True)
class Submission:
    """One batch submission as the task state store keeps it."""

    target: str
    fingerprint: str
    total_records: int
    intent_at: float
    """Wall-clock (epoch) seconds, taken just before the POST."""
    batch_execution_id: str | None = None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, value: Any) -> Submission | None:
        """The stored submission; None for anything malformed (then nothing is re-attached or reconciled)."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                target=str(value["target"]),
                fingerprint=str(value["fingerprint"]),
                total_records=int(value["total_records"]),
                intent_at=float(value["intent_at"]),
                batch_execution_id=value.get("batch_execution_id") or None,
            )
        except (KeyError, TypeError, ValueError):
            return None

    def same_work(self, other: Submission) -> bool:
        return (self.target, self.fingerprint) == (other.target, other.fingerprint)


class SubmissionStore:
    """The task state store's view for one batch task; every method is a no-op without a store (Airflow < 3.3).
    A store that fails is logged, never fatal: the batch itself matters more than its bookkeeping."""

    def __init__(self, store: Any, log: Any) -> None:
        self.store = store
        self.log = log

    @property
    def available(self) -> bool:
        return self.store is not None

    def earlier(self) -> Submission | None:
        """The submission an earlier try recorded and did not see to its end."""
        return Submission.from_state(self._get(SUBMISSION_KEY))

    def record(self, submission: Submission) -> None:
        """Keep the intent (before the POST) or the batch id (right after it)."""
        self._set(SUBMISSION_KEY, submission.to_state(), "a retry may submit the batch again")

    def forget(self) -> None:
        """The batch ended (or none will be waited for): a later try, a clear included, submits afresh."""
        self._delete(SUBMISSION_KEY)

    def spent(self) -> float:
        value = self._get(SPENT_KEY)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

    def set_spent(self, usd: float) -> None:
        self._set(SPENT_KEY, usd, "the cost budget of later tries will not count it")

    def clear_spent(self) -> None:
        self._delete(SPENT_KEY)

    def _get(self, key: str) -> Any:
        if self.store is None:
            return None
        try:
            return self.store.get(key)
        except Exception as err:
            self.log.warning("Could not read %s from the task state store (%s)", key, err)
            return None

    def _set(self, key: str, value: Any, consequence: str) -> None:
        if self.store is None:
            return
        try:
            self.store.set(key, value)
        except Exception as err:
            self.log.warning("Could not keep %s in the task state store (%s): %s", key, err, consequence)

    def _delete(self, key: str) -> None:
        if self.store is None:
            return
        try:
            self.store.delete(key)
        except Exception as err:
            self.log.warning("Could not drop %s from the task state store (%s)", key, err)


def _started_at(text: Any) -> float | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def reconcile_candidates(summary: Any, submission: Submission) -> list[str]:
    """Ids of the batches in ``GET /v1/batch/summary`` (active and recent) that could be the one the intent's POST
    created: started no earlier than the intent's time (less :data:`RECONCILE_CLOCK_SKEW`) with the same total
    record count. The summary names a batch's flow only by name, so the caller checks each candidate's flow id."""
    found: dict[str, None] = {}
    for item in (*(getattr(summary, "batches", None) or ()), *(getattr(summary, "recent", None) or ())):
        started = _started_at(getattr(item, "started_at", None))
        if (
            getattr(item, "id", None)
            and started is not None
            and started >= submission.intent_at - RECONCILE_CLOCK_SKEW
            and getattr(item, "total_records", None) == submission.total_records
        ):
            found[item.id] = None
    return list(found)
